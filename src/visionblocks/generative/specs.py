"""The generative models, each described once: ``vae``, ``ae`` and ``pixelcnn`` with their typed
options and the runner that trains them (``LikelihoodTrainer``) on the torch engine::

    visionblocks train --model vae --engine torch --data fashion-mnist --epochs 10
    visionblocks sample RUN --n 64          # a grid of samples (generative/cli.py)
    visionblocks interpolate RUN            # decoded paths between pairs of validation images

The runner writes the usual run directory (config.json, metrics.jsonl, last/best checkpoints,
summary.json, samples/epoch_NNN.png); ``--resume`` continues it exactly. The test split is
scored once at the end (``--no-test``: not): -ELBO and -IWAE-k in nats for the VAE, the
reconstruction loss for the autoencoder, bits per dimension for PixelCNN.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from visionblocks.errors import ConfigError
from visionblocks.model_registry import ModelSpec, Runner, register
from visionblocks.options import Option

#: Shared options a generative run does not use, with their defaults: another value would be
#: ignored, so it is an error (a saved config.json records the defaults, which pass). These
#: models train with Adam (lr, epochs, batch_size, print_every of the "training" group).
_UNUSED = {"update_rule": "adam", "momentum": None, "lr_decay": 1.0, "schedule": None,
           "warmup_epochs": 0.0, "augment": [], "weight_decay": 0.0, "label_smoothing": 0.0,
           "bf16": False, "channels_last": False, "tta_flip": False, "fit_on": None,
           "features": [], "preprocess": None}  # fmt: skip

_VAE_ONLY = (
    Option("iwae_k", "int", 0, "also log -IWAE-k on validation each epoch (0: no)", low=0),
    Option("test_iwae_k", "int", 100, "importance samples of the test -IWAE-k", low=1),
    Option("binarize", "bool", True, "bernoulli: dynamically binarise the images"),
)


def _num_samples(default):
    return Option("num_samples", "int", default, "samples in each epoch's grid (0: none)", low=0)


def _check_unused(cfg):
    for name, default in _UNUSED.items():
        value = getattr(cfg, name, default)
        if value != default and not (isinstance(default, list) and not value):
            raise ConfigError(f"option {name} is not used by the generative models (they "
                              "train with Adam on the raw intensities in [0, 1])")  # fmt: skip


def _check_data(cfg, data):
    _check_unused(cfg)
    x = data["X_train"]
    if x.ndim != 4:
        raise ConfigError(f"model {cfg.model!r} needs images (N, C, H, W), got {x.shape}")
    if cfg.model == "pixelcnn" and x.shape[1] != 1:
        raise ConfigError(f"model pixelcnn is grayscale; data {cfg.data!r} has {x.shape[1]} "
                          "channels")  # fmt: skip
    if cfg.model_options.get("arch") == "conv" and (x.shape[2] % 4 or x.shape[3] % 4):
        raise ConfigError(f"option arch: conv needs H and W divisible by 4, got {x.shape[2:]}")


def _vae_kwargs(o, shape, num_classes, seed):
    return dict(input_shape=shape, hidden=list(o["hidden"]), latent_dim=o["latent_dim"],
                arch=o["arch"], likelihood=o["likelihood"],
                decoder_std=o["decoder_std"])  # fmt: skip


def _ae_kwargs(o, shape, num_classes, seed):
    return dict(input_shape=shape, hidden=list(o["hidden"]), latent_dim=o["latent_dim"],
                arch=o["arch"], reconstruction=o["reconstruction"])  # fmt: skip


def _pixelcnn_kwargs(o, shape, num_classes, seed):
    return dict(input_shape=shape, channels=o["channels"], num_layers=o["num_layers"])


def _model_class(name):
    from visionblocks.generative import autoencoder, pixelcnn, vae

    return {"vae": vae.VAE, "ae": autoencoder.Autoencoder, "pixelcnn": pixelcnn.PixelCNN}[name]


def build_model(cfg, input_shape):
    """The torch model a generative config names, seeded by ``cfg.seed``."""
    import torch

    from visionblocks.model_registry import construct

    torch.manual_seed(cfg.seed)
    kwargs = cfg.spec.constructor_kwargs(cfg.model_options, input_shape, 0, cfg.seed)
    return construct(_model_class(cfg.model), kwargs)


def _trainer(cfg, data, run_dir, resume, epochs=None):
    from visionblocks.generative.vae_loop import LikelihoodTrainer

    o = cfg.model_options
    model = build_model(cfg, data["X_train"].shape[1:])
    return LikelihoodTrainer(
        model, data, lr=cfg.lr, epochs=cfg.epochs if epochs is None else epochs,
        batch_size=cfg.batch_size, seed=cfg.seed, grad_clip=cfg.grad_clip, device=cfg.device,
        binarize=o.get("binarize", True), iwae_k=o.get("iwae_k", 0), num_samples=o["num_samples"],
        out_dir=run_dir, resume=resume, print_every=cfg.print_every,
    )  # fmt: skip


def _test_measures(cfg, trainer, data) -> dict:
    import torch

    from visionblocks.generative.pixelcnn import quantize
    from visionblocks.generative.vae import binarize, evaluate_bounds

    x = torch.as_tensor(np.asarray(data["X_test"]), dtype=trainer.dtype, device=trainer.device)
    dims = math.prod(x.shape[1:])
    if trainer.kind == "vae":
        k = cfg.model_options["test_iwae_k"]
        if trainer.binary:  # the fixed binarisation of the test split
            gen = torch.Generator(device=trainer.device).manual_seed(trainer.binarize_seed + 1)
            x = binarize(x, gen)
        b = evaluate_bounds(trainer.model, x, k=k, batch_size=max(500 // k, 1), seed=cfg.seed)
        out = {"test_neg_elbo": b["neg_elbo"], f"test_neg_iwae{k}": b["neg_iwae"]}
        if trainer.model.likelihood == "bernoulli":  # discrete pixels: bits/dim of IWAE-k
            out["test_bits_per_dim"] = b["neg_iwae"] / (dims * math.log(2))
        return out
    if trainer.kind == "pixelcnn":
        m = trainer.evaluate(quantize(x))
        return {"test_bits_per_dim": m["val_bits_per_dim"], "test_nll": m["val_nll"]}
    return {"test_recon": trainer.evaluate(x)["val_recon"]}


def train_generative(cfg, data, run_dir, resume=False):
    """The runner's ``train``: trains (or, with ``resume``, continues the run directory's
    checkpoint, checked by ``--resume``), scores the test split once, returns the summary."""
    run_dir = Path(run_dir)
    resume = resume and (run_dir / "last.json").exists()
    trainer = _trainer(cfg, data, run_dir, resume).train()
    test = _test_measures(cfg, trainer, data) if cfg.test else {}
    lines = [f"best validation {trainer.monitor} ({_UNITS[trainer.kind]}): "
             f"{trainer.best_score:.4f} (epoch {trainer.best_epoch})"]  # fmt: skip
    lines += [f"{k}: {v:.4f}" for k, v in test.items()] or ["test: not evaluated (--no-test)"]
    return {
        "test_accuracy": None, **test, "best_val_loss": trainer.best_score,
        "monitor": f"val_loss ({_UNITS[trainer.kind]})", "epochs": trainer.epoch,
        "kept_epoch": trainer.best_epoch, "kept": "best validation epoch",
        "num_params": int(sum(p.numel() for p in trainer.model.parameters())),
        "engine": "torch", "device": str(trainer.device),
        "input_shape": list(data["X_train"].shape[1:]), "report_lines": lines,
    }  # fmt: skip


_UNITS = {"vae": "-ELBO, nats per image", "ae": "reconstruction loss per image",
          "pixelcnn": "bits per dimension"}  # fmt: skip


def evaluate_generative(cfg, data, run_dir):
    """The runner's ``evaluate``: a generative run has no test accuracy."""
    raise ConfigError(f"model {cfg.model!r} has no test accuracy: its test measures (nats, "
                      f"bits/dim) are in {Path(run_dir) / 'summary.json'}; "
                      "`visionblocks sample RUN` draws from it")  # fmt: skip


RUNNER = Runner(train=train_generative, evaluate=evaluate_generative, resumable=True)
_ARCH = Option("arch", "str", "mlp", "encoder/decoder: mlp or conv (two stride-2 convs)",
               choices=("mlp", "conv"))  # fmt: skip
_HIDDEN_HELP = "mlp: hidden widths (the decoder mirrors them); conv: the two channel counts"

VAE_SPEC = register(ModelSpec(
    name="vae",
    summary="variational autoencoder: Gaussian encoder, Bernoulli/Gaussian decoder, ELBO, IWAE",
    engines=("torch",),
    options=(
        Option("hidden", "int_list", [400], _HIDDEN_HELP, low=1, nonempty=True),
        Option("latent_dim", "int", 20, "size of z (2: a latent map)", low=1),
        _ARCH,
        Option("likelihood", "str", "bernoulli", "decoder: bernoulli (binarised images) or "
               "gaussian", choices=("bernoulli", "gaussian")),
        Option("decoder_std", "float", None, "gaussian: fixed std (none: learned per pixel)",
               optional=True, low=0, low_open=True),
        *_VAE_ONLY,
        _num_samples(64),
    ),
    uses=("training",),
    kwargs=_vae_kwargs,
    runner=RUNNER,
    check_data=_check_data,
))  # fmt: skip

AE_SPEC = register(ModelSpec(
    name="ae",
    summary="autoencoder (MLP or convolutional), BCE or MSE reconstruction",
    engines=("torch",),
    options=(
        Option("hidden", "int_list", [256], _HIDDEN_HELP, low=1, nonempty=True),
        Option("latent_dim", "int", 16, "size of the code", low=1),
        _ARCH,
        Option("reconstruction", "str", "bce", "bce or mse", choices=("bce", "mse")),
        _num_samples(64),
    ),
    uses=("training",),
    kwargs=_ae_kwargs,
    runner=RUNNER,
    check_data=_check_data,
))  # fmt: skip

PIXELCNN_SPEC = register(ModelSpec(
    name="pixelcnn",
    summary="PixelCNN: masked convolutions (A then B), 256-way softmax per pixel, bits/dim",
    engines=("torch",),
    options=(
        Option("channels", "int", 32, "channels of every hidden layer", low=1),
        Option("num_layers", "int", 5, "residual type-B 3x3 layers after the 7x7 type-A", low=0),
        _num_samples(16),
    ),
    uses=("training",),
    kwargs=_pixelcnn_kwargs,
    runner=RUNNER,
    check_data=_check_data,
))  # fmt: skip
