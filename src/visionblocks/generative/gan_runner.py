"""``visionblocks train --engine torch --model gan|lsgan|dcgan|wgan-gp|cgan``: a GAN run in a
run directory, on the ``GANLoop`` (resume, divergence stop, sample grids, D and G losses).

The networks are the course's, for 28x28 grey images: MNIST and Fashion-MNIST as they are;
the 8x8 digits scaled up 3x (nearest) into the middle of a 28x28 frame. With ``classifier``
(a torch classifier run on the same data set) every epoch logs the Fréchet distance, PRDC and
the inception-score analogue of 1,000 samples against the validation images in the
classifier's feature space, and the summary gives the same measures for real training images
against the validation images (real vs real: the floor any model is read against).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from visionblocks.checkpoint import load_checkpoint
from visionblocks.errors import ConfigError
from visionblocks.generative import cgan
from visionblocks.generative import gan as G
from visionblocks.generative.features import load_classifier_run
from visionblocks.generative.gan_loop import GANLoop, save_grid
from visionblocks.generative.gan_plots import write_gan_plots
from visionblocks.generative.quality import sample_quality
from visionblocks.torchkit import checkpoint as ckpt

__all__ = ["GAN_MODELS", "build_networks", "evaluate_gan", "from_gan_images", "sample_gan_run",
           "to_gan_images", "train_gan"]  # fmt: skip

#: model name -> (loss, networks)
GAN_MODELS = {"gan": ("gan", "mlp"), "lsgan": ("lsgan", "mlp"), "dcgan": ("gan", "dc"),
              "wgan-gp": ("wgan-gp", "dc"), "cgan": ("gan", "conditional")}  # fmt: skip


def to_gan_images(X) -> np.ndarray:
    """(N, 1, 28, 28) images in [0, 1] as they are; (N, 1, 8, 8) digits scaled up 3x into the
    middle of a 28x28 frame (2 pixels of border)."""
    X = np.asarray(X, dtype=np.float32)
    if X.shape[1:] == (1, 28, 28):
        return X
    if X.shape[1:] == (1, 8, 8):
        big = X.repeat(3, axis=2).repeat(3, axis=3)  # (N, 1, 24, 24)
        return np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))
    raise ConfigError(f"the GAN models make 28x28 grey images (mnist, fashion-mnist, digits); "
                      f"the data has shape {X.shape[1:]}")  # fmt: skip


def from_gan_images(samples, shape) -> np.ndarray:
    """Generated (M, 784) images in [0, 1] in a classifier's input ``shape``: (M, 1, 28, 28),
    or for digits (M, 1, 8, 8) by undoing ``to_gan_images`` (crop, 3x3 mean)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1, 1, 28, 28)
    if tuple(shape) == (1, 28, 28):
        return x
    if tuple(shape) == (1, 8, 8):
        core = x[:, :, 2:26, 2:26].reshape(-1, 1, 8, 3, 8, 3)  # (M, 1, 8, 3, 8, 3)
        return core.mean(axis=(3, 5))
    raise ConfigError(f"a classifier on {tuple(shape)} images cannot judge 28x28 samples")


def build_networks(name, noise_dim, batch_size, seed, num_classes=10):
    """(D, G) of a GAN model name, seeded."""
    kind = GAN_MODELS[name][1]
    if kind == "mlp":
        return G.discriminator(seed=seed), G.generator(noise_dim, seed=seed)
    if kind == "conditional":
        return (cgan.ConditionalDiscriminator(num_classes, seed=seed),
                cgan.ConditionalGenerator(noise_dim, num_classes, seed=seed))  # fmt: skip
    with G._seeded(seed):
        return G.build_dc_classifier(batch_size), G.build_dc_generator(noise_dim)


def _quality(classifier, X_real, n, seed):
    """The per-epoch quality function and the real-vs-real reference of a classifier run."""
    rng = np.random.default_rng(seed)
    ref = X_real[rng.permutation(len(X_real))[:n]]  # the validation images judged against

    def quality(samples):
        fake = from_gan_images(samples, classifier.input_shape)
        return sample_quality(classifier.features, ref, fake, classify=classifier.probabilities)

    return quality, ref


def train_gan(cfg, data, run_dir, resume=False) -> dict:
    """Trains the GAN ``cfg.model`` names on ``data``'s training images; returns the summary."""
    o = cfg.model_options
    loss, kind = GAN_MODELS[cfg.model]
    X = to_gan_images(data["X_train"])
    y = data["y_train"] if kind == "conditional" else None
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    quality, classifier, real_vs_real = None, None, None
    if o["classifier"]:
        classifier = load_classifier_run(o["classifier"], device=device)
        if len(data["X_val"]) < 10:
            raise ConfigError("option classifier: the quality measures need validation images "
                              "(--num-val)")  # fmt: skip
        quality, ref = _quality(classifier, data["X_val"], o["quality_samples"], cfg.seed)
        train_ref = data["X_train"][np.random.default_rng(cfg.seed + 1).permutation(
            len(data["X_train"]))[: len(ref)]]  # fmt: skip
        real_vs_real = sample_quality(classifier.features, ref, train_ref,
                                      classify=classifier.probabilities)  # fmt: skip
        print(f"classifier {classifier.name}; real train vs real val: "
              f"FD {real_vs_real['fd']:.3f}, recall {real_vs_real['recall']:.3f}")  # fmt: skip
    n_critic = o["n_critic"] or (5 if loss == "wgan-gp" else 1)
    lr = cfg.lr if "lr" in cfg.given else None  # else each loss's own default
    D, Gen = build_networks(cfg.model, o["noise_dim"], cfg.batch_size, cfg.seed,
                            len(data["class_names"]))  # fmt: skip
    start = time.perf_counter()
    loop = GANLoop(D, Gen, X, y, loss=loss, noise_dim=o["noise_dim"], batch_size=cfg.batch_size,
                   epochs=cfg.epochs, seed=cfg.seed, lr=lr, n_critic=n_critic,
                   lambda_gp=o["lambda_gp"], sample_every=o["sample_every"],
                   num_samples=o["num_samples"], quality=quality,
                   quality_samples=o["quality_samples"], device=device, out_dir=run_dir,
                   resume=resume, print_every=cfg.print_every,
                   hooks=(write_gan_plots,))  # fmt: skip
    loop.train()
    last = {k: v[-1] for k, v in loop.epoch_history.items() if v}
    test = _test_quality(loop, classifier, data, o["quality_samples"], cfg.seed)
    summary = {"test_accuracy": None, "epochs": loop.epoch, "engine": "torch",
               "device": str(device), "loss": loss, "n_critic": n_critic,
               "num_params_D": int(sum(p.numel() for p in D.parameters())),
               "num_params_G": int(sum(p.numel() for p in Gen.parameters())),
               "final": last, "classifier": classifier.name if classifier else None,
               "real_vs_real": real_vs_real, "kept_epoch": loop.best_epoch, **test,
               "samples": str(run_dir / "samples"),
               "gan_seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
    summary["report_lines"] = gan_report_lines(summary)
    return summary


def _test_quality(loop, classifier, data, n, seed) -> dict:
    """The kept generator judged once against ``n`` test images (fresh samples: another noise
    seed than the per-epoch ones), beside real training images vs the same test images: the
    figures to report, as the epoch was chosen on validation FD. {} without a classifier."""
    X_test = data.get("X_test")
    if classifier is None or X_test is None or len(X_test) < 10:
        return {}
    # loop.train() ends with the kept (best) epoch's weights loaded
    fake = from_gan_images(loop.sample(n, seed=seed + 3), classifier.input_shape)
    rng = np.random.default_rng(seed + 4)
    ref = X_test[rng.permutation(len(X_test))[:n]]
    train_ref = data["X_train"][rng.permutation(len(data["X_train"]))[: len(ref)]]
    judge = dict(classify=classifier.probabilities)
    return {"test": sample_quality(classifier.features, ref, fake, **judge),
            "test_real_vs_real": sample_quality(classifier.features, ref, train_ref,
                                                **judge)}  # fmt: skip


def gan_report_lines(summary) -> list[str]:
    """What a GAN run measured, one line each: last epoch's losses and, with a classifier,
    its sample quality beside real-vs-real (a GAN has no test accuracy)."""
    last = summary.get("final") or {}
    lines = [f"GAN ({summary['loss']} loss, n_critic {summary['n_critic']}), "
             f"{summary['epochs']} epochs"]  # fmt: skip
    losses = [f"{k} {last[k]:.4f}" for k in ("d_loss", "g_loss", "wasserstein")
              if last.get(k) is not None]  # fmt: skip
    if losses:
        lines.append("last epoch: " + ", ".join(losses))
    if "fd" in last:
        rvr = summary.get("real_vs_real") or {}
        ref = f" (real vs real {rvr['fd']:.3f})" if "fd" in rvr else ""
        lines.append(f"sample quality ({summary['classifier']}): FD {last['fd']:.3f}{ref}, "
                     f"precision {last['precision']:.3f}, recall {last['recall']:.3f}")  # fmt: skip
    else:
        lines.append("sample quality: not measured (no --classifier run)")
    if summary.get("test"):
        t, r = summary["test"], summary["test_real_vs_real"]
        lines.append(f"kept generator (epoch {summary['kept_epoch']}, lowest validation FD) on "
                     f"the test split: FD {t['fd']:.3f} (real vs real {r['fd']:.3f}), precision "
                     f"{t['precision']:.3f}, recall {t['recall']:.3f}")  # fmt: skip
    lines.append(f"sample grids: {summary['samples']}")
    return lines


def evaluate_gan(cfg, data, run_dir):
    """A GAN has no test accuracy: its measures are in summary.json and metrics.jsonl."""
    raise ConfigError(f"{run_dir} is a GAN run: it has no test accuracy; its sample-quality "
                      "measures are in summary.json and metrics.jsonl, its grids in "
                      "samples/")  # fmt: skip


def sample_gan_run(run_dir, n=64, seed=0, out=None, ncols=8) -> Path:
    """Writes a grid of ``n`` samples of a GAN run's kept generator (its ``best`` checkpoint:
    the epoch of the lowest validation FD with a classifier, else the last) to ``out``
    (default ``RUN/samples/sample.png``).

    Returns:
        the PNG's path.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {path} does not exist")
    config = json.loads(path.read_text())
    table = config.get("model") if isinstance(config.get("model"), dict) else {}
    name = table.get("name")
    if name not in GAN_MODELS:
        raise ConfigError(f"{run_dir} is not a GAN run (model {name!r})")
    noise_dim = int(table.get("noise_dim", 96))
    D, Gen = build_networks(name, noise_dim, int(config.get("batch_size", 100)), 0)
    arrays, _ = load_checkpoint(run_dir / "best")
    ckpt.load_state(Gen, {k[2:]: v for k, v in arrays.items() if k.startswith("G/")})
    Gen.eval()
    gen = torch.Generator().manual_seed(int(seed))
    z = G.sample_noise(n, noise_dim, generator=gen)
    with torch.no_grad():
        if GAN_MODELS[name][1] == "conditional":
            images = Gen(z, torch.arange(n) % Gen.num_classes)
        else:
            images = Gen(z)
    target = Path(out) if out is not None else run_dir / "samples" / "sample.png"
    return save_grid(images.reshape(n, 784).numpy(), target, ncols)
