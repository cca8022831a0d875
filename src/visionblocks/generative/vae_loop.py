"""``LikelihoodTrainer``: trains an autoencoder, a VAE or a PixelCNN (torch) on the training core.

One Adam step per minibatch; per epoch it logs the training loss and, on the validation split,
the model's own measure: -ELBO in nats per image (VAE; IWAE-k too when ``iwae_k`` > 0), the
reconstruction loss (autoencoder) or bits per dimension (PixelCNN, and a Bernoulli VAE's
-ELBO converted; a Gaussian decoder's is a density, not a probability, so it has none).
Sample grids go to ``out_dir/samples/epoch_NNN.png``. The core gives the run directory,
``metrics.jsonl``, ``last``/``best`` checkpoints, exact resume and the divergence stop::

    trainer = LikelihoodTrainer(VAE((1, 28, 28)), data, lr=1e-3, epochs=10, out_dir="runs/vae")
    trainer.train()            # the model holds the epoch of the lowest validation loss

A VAE with a Bernoulli decoder sees its training images dynamically binarised (a fresh draw
every step, from the trainer's seeded generator); its validation images are binarised once
(``binarize_seed``), so every epoch is scored on the same binary images.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.generative.autoencoder import Autoencoder
from visionblocks.generative.grid import save_grid
from visionblocks.generative.pixelcnn import PixelCNN, quantize
from visionblocks.generative.vae import VAE, binarize, evaluate_bounds
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit.distributed import pick_device
from visionblocks.torchkit.loop_state import TorchLoopState
from visionblocks.torchkit.optim import make_optimizer
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

_OPTIONS = dict(
    lr=1e-3, epochs=10, batch_size=100, seed=0, grad_clip=None, device=None, binarize=True,
    binarize_seed=12345, iwae_k=0, num_samples=64, sample_every=1, eval_batch_size=500,
    out_dir=None, resume=False, explode_factor=3.0, verbose=True, print_every=0, hooks=(),
)  # fmt: skip


def model_kind(model) -> str:
    """'vae', 'ae' or 'pixelcnn'."""
    for cls, kind in ((VAE, "vae"), (Autoencoder, "ae"), (PixelCNN, "pixelcnn")):
        if isinstance(model, cls):
            return kind
    raise TypeError(f"model must be a VAE, an Autoencoder or a PixelCNN, got "
                    f"{type(model).__name__}")  # fmt: skip


class LikelihoodTrainer(TorchLoopState, EpochLoop):
    """Trains a generative model by maximum (approximate) likelihood; keeps the epoch with the
    lowest ``val_loss`` (nats per image for AE/VAE, bits per dimension for PixelCNN)."""

    monitor, higher_is_better = "val_loss", False
    checkpoint_meta = {"engine": "torch"}

    def __init__(self, model, data, **kwargs):
        """Sets up training.

        Args:
            model: a ``VAE``, an ``Autoencoder`` or a ``PixelCNN``.
            data: dict with X_train (N, C, H, W) and X_val (M, C, H, W) intensities in [0, 1]
                (labels are not used).
            lr, epochs, batch_size: Adam's learning rate, the run's length, the minibatch.
            seed: seeds the batch order, the binarisation and the VAE's noise.
            grad_clip: clip the global gradient norm to this (None: no clipping).
            device: 'cuda', 'mps', 'cpu' or None (the best available).
            binarize: dynamically binarise the images of a Bernoulli VAE (else use them as they
                are; an autoencoder and a Gaussian VAE never binarise).
            binarize_seed: the fixed binarisation of the validation images.
            iwae_k: also log -IWAE-k on validation each epoch (0: no; it costs k decoder passes).
            num_samples, sample_every: a grid of this many samples every this many epochs
                (0: none); needs ``out_dir``.
            eval_batch_size: images per evaluation pass.
            out_dir, resume, explode_factor, verbose, print_every, hooks: the core's options.
        """
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise TypeError(f"unrecognised LikelihoodTrainer arguments: {', '.join(unknown)}")
        o = {**_OPTIONS, **kwargs}
        for k, v in o.items():
            setattr(self, k, v)
        self.kind = model_kind(model)
        if self.lr <= 0 or self.epochs < 0 or self.batch_size < 1:
            raise ConfigError(f"need lr > 0, epochs >= 0, batch_size >= 1; got {self.lr}, "
                              f"{self.epochs}, {self.batch_size}")  # fmt: skip
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        self.device = pick_device(self.device, 0)
        self.model = model.to(self.device)
        self.dtype = next(model.parameters()).dtype
        self._check_data(data)
        self.rng = np.random.default_rng(self.seed)  # the batch order
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed)  # binarise, noise
        self.optimizer = make_optimizer("adam", self.model.parameters(), self.lr, None, 0.0)
        self.binary = self.kind == "vae" and model.likelihood == "bernoulli" and self.binarize
        if self.binary:
            val_gen = torch.Generator(device=self.device).manual_seed(self.binarize_seed)
            self.X_val = binarize(self.X_val, val_gen)
        self.setup_loop(
            num_epochs=self.epochs, out_dir=self.out_dir, resume=self.resume,
            explode_factor=self.explode_factor, verbose=self.verbose,
            print_every=self.print_every, hooks=self.hooks,
        )  # fmt: skip
        self.start_loop()

    def _check_data(self, data):
        for key in ("X_train", "X_val"):
            if key not in data:
                raise KeyError(f"data is missing {key!r}")
            x = np.asarray(data[key])
            if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.model.input_shape):
                raise ShapeError(f"{key} must be (N, {', '.join(map(str, self.model.input_shape))})"
                                 f", got {x.shape}")  # fmt: skip
            if x.size and (x.min() < 0 or x.max() > 1):
                raise ConfigError(f"{key} must hold intensities in [0, 1] (no preprocessing), "
                                  f"got [{x.min():g}, {x.max():g}]")  # fmt: skip
        if len(data["X_train"]) == 0 or len(data["X_val"]) == 0:
            raise ShapeError("X_train and X_val must each hold at least one image")
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device)  # noqa: E731
        self.X_train, self.X_val = as_t(data["X_train"]), as_t(data["X_val"])
        if self.kind == "pixelcnn":
            self.X_train, self.X_val = quantize(self.X_train), quantize(self.X_val)

    # -------------------------------------------------------------------- the core's hooks
    def rank_state(self):
        return {"batches": S.generator_state(self.rng), "torch": ckpt.to_array(
            self.gen.get_state())}  # fmt: skip

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["batches"])
        self.gen.set_state(torch.from_numpy(np.ascontiguousarray(state["torch"])))

    def steps_per_epoch(self):
        return math.ceil(len(self.X_train) / self.batch_size)

    def batches(self):
        order = self.rng.permutation(len(self.X_train))  # (N,)
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def begin_epoch(self):
        self.model.train()

    # ----------------------------------------------------------------------------- training
    def _batch_loss(self, xb):
        if self.kind == "vae":
            if self.binary:
                xb = binarize(xb, self.gen)
            return self.model.loss(xb, self.gen)
        return self.model.loss(xb)

    def step(self, idx, iteration):
        """One Adam step on the images ``idx``; returns the batch loss (nats per image for
        AE/VAE, nats per dimension for PixelCNN)."""
        xb = self.X_train[torch.as_tensor(idx, device=self.device)]
        loss = self._batch_loss(xb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        self.check_loss(value, iteration)  # before the update: a NaN gradient never lands
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return value

    @torch.no_grad()
    def evaluate(self, X=None):
        """The model's measures on X (default: the validation images, already binarised or
        quantised): a dict with ``val_loss`` and the named measures."""
        self.model.eval()
        X = self.X_val if X is None else X
        dims = math.prod(self.model.input_shape)
        if self.kind == "vae":
            k = max(int(self.iwae_k), 1)
            b = evaluate_bounds(self.model, X, k=k, batch_size=max(self.eval_batch_size // k, 1),
                                seed=self.seed + 1)  # fmt: skip
            out = {"val_loss": b["neg_elbo"], "val_neg_elbo": b["neg_elbo"]}
            if self.model.likelihood == "bernoulli":  # a probability of discrete pixels
                out["val_bits_per_dim"] = b["neg_elbo"] / (dims * math.log(2))
            if self.iwae_k:
                out[f"val_neg_iwae{k}"] = b["neg_iwae"]
            return out
        total = 0.0
        for i in range(0, len(X), self.eval_batch_size):
            xb = X[i : i + self.eval_batch_size]
            per = self.model.reconstruction_loss(xb) if self.kind == "ae" else self.model.nll(xb)
            total += float(per.sum())
        mean = total / len(X)
        if self.kind == "ae":
            return {"val_loss": mean, "val_recon": mean}
        bpd = mean / (dims * math.log(2))
        return {"val_loss": bpd, "val_bits_per_dim": bpd, "val_nll": mean}

    def end_epoch(self, losses, train_seconds):
        ips = len(losses) * self.batch_size / max(train_seconds, 1e-9)
        record = {
            "loss": float(np.mean(losses)),
            **self.evaluate(),
            "images_per_sec": round(ips, 1),
        }
        if self.out_dir is not None and self.sample_every and self.epoch % self.sample_every == 0:
            self.write_samples(self.out_dir / "samples" / f"epoch_{self.epoch:03d}.png")
        return record

    @torch.no_grad()
    def generate(self, n, seed=0):
        """n images in [0, 1] (n, C, H, W) as a NumPy array: samples (VAE, PixelCNN) or, for an
        autoencoder, reconstructions of the first n validation images."""
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(seed)  # not the training one
        if self.kind == "vae":
            x = self.model.sample(n, gen)
        elif self.kind == "pixelcnn":
            x = self.model.sample(n, gen).to(self.dtype) / (self.model.levels - 1)
        else:
            x = self.model(self.X_val[:n])
        return x.float().cpu().numpy()

    def write_samples(self, path):
        """Writes a grid of ``num_samples`` generated images (the same seed every epoch)."""
        if self.num_samples:
            save_grid(self.generate(int(self.num_samples), seed=self.seed + 2), path)
