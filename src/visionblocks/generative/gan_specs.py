"""The GAN models, each described once: ``gan``, ``lsgan``, ``dcgan``, ``wgan-gp`` and ``cgan``
(torch engine), trained by ``generative.gan_runner`` on the ``GANLoop``.

``visionblocks train --engine torch --model dcgan --data fashion-mnist`` trains one; with
``--classifier RUN`` (a torch classifier run on the same data set) every epoch logs the
sample-quality measures. This module imports no torch: the runner is imported when a run
starts.
"""

from __future__ import annotations

from pathlib import Path

from visionblocks.errors import ConfigError
from visionblocks.model_registry import ModelSpec, Runner, register
from visionblocks.options import Option

#: options of a classifier's run that mean nothing to a GAN: refused when set (all default
#: to a false value; a resumed run's saved config holds them at their defaults)
_NOT_FOR_GANS = ("label_smoothing", "tta_flip", "fit_on", "weight_decay", "features",
                 "preprocess", "channels_last", "bf16", "grad_clip")  # fmt: skip


def _train(cfg, data, run_dir, resume=False):
    from visionblocks.generative.gan_runner import train_gan

    return train_gan(cfg, data, run_dir, resume=resume)


def _evaluate(cfg, data, run_dir):
    from visionblocks.generative.gan_runner import evaluate_gan

    return evaluate_gan(cfg, data, run_dir)


def _check_data(cfg, data):
    """Before the run directory exists: options that do not apply, and the image size."""
    bad = [name for name in _NOT_FOR_GANS if getattr(cfg, name)]
    if bad:
        raise ConfigError(f"option {bad[0]} does not apply to the GAN model {cfg.model!r}")
    if cfg.model != "wgan-gp" and cfg.model_options["lambda_gp"] != 10.0:
        raise ConfigError(f"option lambda_gp: only wgan-gp has a gradient penalty, "
                          f"not {cfg.model!r}")  # fmt: skip
    run = cfg.model_options["classifier"]
    if run and not (Path(run) / "config.json").is_file():
        raise ConfigError(f"option classifier: {run} is not a run directory (no config.json)")
    shape = tuple(data["X_train"].shape[1:])
    if shape not in ((1, 28, 28), (1, 8, 8)):
        raise ConfigError(f"the GAN models make 28x28 grey images (mnist, fashion-mnist, "
                          f"digits); data {cfg.data!r} has images of shape {shape}")  # fmt: skip


GAN_OPTIONS = (
    Option("noise_dim", "int", 96, "dimension of the generator's uniform noise", low=1),
    Option("n_critic", "int", None, "discriminator steps per generator step (default 1; 5 for "
           "wgan-gp)", optional=True, low=1),
    Option("lambda_gp", "float", 10.0, "weight of the gradient penalty (wgan-gp)", low=0),
    Option("sample_every", "int", 250, "write a sample grid every N iterations (0: per epoch "
           "only)", low=0),
    Option("num_samples", "int", 64, "images in each sample grid", low=1),
    Option("classifier", "str", None, "a torch classifier run on the same data set: its "
           "features judge the samples every epoch (FD, PRDC, inception score)", optional=True),
    Option("quality_samples", "int", 1000, "samples (and validation images) each measure uses",
           low=10),
)  # fmt: skip

for _name, _summary in (
    ("gan", "the course's MLP GAN (non-saturating loss), 28x28 grey images"),
    ("lsgan", "the course's MLP GAN with the least-squares losses"),
    ("dcgan", "the course's DCGAN (conv discriminator, transposed-conv generator)"),
    ("wgan-gp", "WGAN-GP: the DC networks, Wasserstein loss, gradient penalty, 5 critic steps"),
    ("cgan", "class-conditional MLP GAN (one-hot labels joined to noise and image)"),
):
    register(ModelSpec(
        name=_name, summary=_summary, engines=("torch",), options=GAN_OPTIONS, uses=("gan",),
        runner=Runner(train=_train, evaluate=_evaluate, resumable=True), check_data=_check_data,
    ))  # fmt: skip
