"""``GANLoop``: the course's alternating GAN updates (one discriminator step, one generator
step) on the training core, for the GAN, LSGAN and WGAN-GP losses and conditional GANs.

The core gives the run directory, ``metrics.jsonl`` (the D and G losses apart, per epoch),
checkpoints of both networks, both optimizers and every generator (exact resume) and the
divergence stop; the loop adds sample grids of a fixed noise batch every ``sample_every``
iterations and after each epoch (``runs/NAME/samples/*.png``) and, given a ``quality``
function, sample-quality measures per epoch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.generative import gan as G
from visionblocks.generative import wgan as W
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

__all__ = ["LOSSES", "GANLoop", "grid_image", "save_grid"]

#: loss name -> (discriminator loss of (real scores, fake scores), generator loss of fake scores)
LOSSES = {
    "gan": (G.discriminator_loss, G.generator_loss),
    "lsgan": (G.ls_discriminator_loss, G.ls_generator_loss),
    "wgan-gp": (W.wasserstein_critic_loss, W.wasserstein_generator_loss),
}


def grid_image(images, ncols=8, pad=1) -> np.ndarray:
    """Tiles (N, 784) or (N, 1, 28, 28) images in [-1, 1] into one grey image in [0, 1].

    Returns:
        (rows * (28 + pad) - pad, ncols * (28 + pad) - pad) float64, the padding white.
    """
    images = np.asarray(images, dtype=np.float64)
    n = images.shape[0]
    images = images.reshape(n, 28, 28)  # (N, 784) -> (N, 28, 28)
    images = np.clip((images + 1) / 2, 0, 1)
    ncols = min(ncols, n)
    rows = -(-n // ncols)
    grid = np.ones((rows * (28 + pad) - pad, ncols * (28 + pad) - pad))
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (28 + pad) : r * (28 + pad) + 28, c * (28 + pad) : c * (28 + pad) + 28] = images[i]
    return grid


def save_grid(images, path, ncols=8) -> Path:
    """Writes ``grid_image(images)`` as a PNG at ``path`` (its folder is created)."""
    from matplotlib.image import imsave

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, grid_image(images, ncols), cmap="gray", vmin=0.0, vmax=1.0)
    return path


class GANLoop(EpochLoop):
    """Trains a discriminator (critic) ``D`` and a generator ``G`` by alternating updates.

    Each iteration takes one minibatch of real images: one D step on it against a fresh
    batch of generated images, then (every ``n_critic``-th iteration) one G step on another
    fresh noise batch; the course's ``run_a_gan`` with ``n_critic=1``. Images are given in
    [0, 1] and shown to the networks in [-1, 1] (``2 * (x - 0.5)``, as in the course); the
    partial last batch of an epoch is dropped, as in the course.

    The loss the core watches for divergence (``loss`` in the log) is ``|D loss| + |G loss|``;
    ``d_loss`` and ``g_loss`` are logged apart (WGAN-GP also logs the critic's Wasserstein
    estimate and the penalty). With ``quality`` the record also holds ``quality(samples)``.
    """

    # No validation score: the last epoch is kept; with ``quality`` the epoch of the lowest
    # validation FD is (set per instance in __init__).
    monitor, higher_is_better = None, False
    checkpoint_meta = {"engine": "torch"}

    def __init__(self, D, G_net, X, y=None, *, loss="gan", noise_dim=96, batch_size=128,
                 epochs=10, seed=0, lr=None, n_critic=1, lambda_gp=W.LAMBDA_GP,
                 sample_every=250, num_samples=64, quality=None, quality_samples=1000,
                 device="cpu", explode_factor=20.0, **loop):  # fmt: skip
        """Args:
        D: the discriminator (critic), images (B, 784) [and labels (B,)] -> (B, 1) scores.
        G_net: the generator, noise (B, noise_dim) [and labels (B,)] -> (B, 784) images.
        X: (N, 784) or (N, 1, 28, 28) training images in [0, 1].
        y: (N,) labels in [0, K) for a conditional GAN (D and G then take labels), or None.
        loss: 'gan' (non-saturating), 'lsgan' or 'wgan-gp'.
        noise_dim: the generator's noise dimension.
        batch_size, epochs, seed: the minibatch size, epochs in all, the seed of the batch
            order, the noise and the fixed sample noise.
        lr: the Adam learning rate (None: 1e-3 with betas (0.5, 0.999) for gan/lsgan, the
            course's; 1e-4 with betas (0, 0.9) for wgan-gp, the paper's).
        n_critic: D steps per G step (the WGAN-GP paper uses 5).
        lambda_gp: the gradient-penalty weight (wgan-gp only).
        sample_every: write a sample grid every this many iterations (0: only per epoch).
        num_samples: images in each grid (a fixed noise batch, so grids compare over time).
        quality: None or ``quality(samples) -> dict`` of floats (with ``fd``), called after
            each epoch on ``quality_samples`` generated images (M, 784) in [0, 1]; added to
            the record, and the epoch of the lowest ``fd`` is the one kept (``best``).
        device: where to train ('cpu', 'cuda', ...).
        explode_factor: the divergence stop (a GAN's losses swing more than a classifier's).
        **loop: the core's options (out_dir, resume, verbose, print_every, keep, hooks).
        """
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        for name, value in (("noise_dim", noise_dim), ("batch_size", batch_size),
                            ("n_critic", n_critic), ("num_samples", num_samples),
                            ("quality_samples", quality_samples)):  # fmt: skip
            G._positive_int(name, value)
        if sample_every < 0 or epochs < 0:
            raise ConfigError(f"sample_every and epochs must be >= 0, got {sample_every}, {epochs}")
        self.loss_name, self.noise_dim, self.batch_size = loss, int(noise_dim), int(batch_size)
        self.n_critic, self.lambda_gp, self.sample_every = int(n_critic), lambda_gp, sample_every
        self.quality, self.quality_samples, self.seed = quality, int(quality_samples), seed
        if quality is not None:
            self.monitor = "fd"  # the kept generator: lowest FD of samples vs validation images
        self.device = torch.device(device)
        self.X, self.y = self._check_data(X, y)
        if len(self.X) < self.batch_size:
            raise ConfigError(f"batch_size {batch_size} is more than the {len(self.X)} images")
        self.D, self.G = D.to(self.device), G_net.to(self.device)
        if loss == "wgan-gp":
            self.opt_d = W.get_wgan_optimizer(self.D, 1e-4 if lr is None else lr)
            self.opt_g = W.get_wgan_optimizer(self.G, 1e-4 if lr is None else lr)
        else:
            self.opt_d, self.opt_g = G.get_optimizer(self.D), G.get_optimizer(self.G)
            if lr is not None:
                for group in (*self.opt_d.param_groups, *self.opt_g.param_groups):
                    group["lr"] = float(lr)
        self.rng = np.random.default_rng(seed)  # the batch order
        self.noise_gen = torch.Generator().manual_seed(int(seed))  # training noise, GP mixing
        fixed = torch.Generator().manual_seed(int(seed) + 1)
        self.fixed_noise = G.sample_noise(num_samples, noise_dim, generator=fixed)
        self.fixed_labels = (torch.arange(num_samples) % self.num_classes
                             if self.y is not None else None)  # fmt: skip
        self.d_history: list[float] = []
        self.g_history: list[float] = []
        self._g_last = 0.0
        self.setup_loop(num_epochs=epochs, explode_factor=explode_factor, **loop)
        self.start_loop()

    def _check_data(self, X, y):
        X = np.asarray(X)
        if X.ndim not in (2, 4) or int(np.prod(X.shape[1:])) != 784:
            raise ShapeError(f"X must be (N, 784) or (N, 1, 28, 28) images, got {X.shape}")
        if X.size and (X.min() < 0 or X.max() > 1):
            raise ConfigError(f"X must hold images in [0, 1], got values in "
                              f"[{X.min():.3g}, {X.max():.3g}]")  # fmt: skip
        real = torch.as_tensor(2 * (X.reshape(len(X), 784) - 0.5), dtype=torch.float32)
        if y is None:
            self.num_classes = None
            return real.to(self.device), None
        y = np.asarray(y)
        if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ShapeError(f"y must be ({len(X)},) labels >= 0, got {y.shape} {y.dtype}")
        self.num_classes = int(y.max()) + 1
        return real.to(self.device), torch.as_tensor(y, dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ the networks
    def _d(self, x, labels):
        return self.D(x) if labels is None else self.D(x, labels)

    def _g(self, z, labels):
        return self.G(z) if labels is None else self.G(z, labels)

    def _noise(self, n):
        z = G.sample_noise(n, self.noise_dim, generator=self.noise_gen).to(self.device)
        labels = None
        if self.y is not None:
            labels = torch.randint(self.num_classes, (n,), generator=self.noise_gen)
            labels = labels.to(self.device)
        return z, labels

    def generate(self, noise, labels=None) -> np.ndarray:
        """Images of the generator in eval mode: (N, noise_dim) noise -> (N, 784) in [-1, 1]."""
        was = self.G.training
        self.G.eval()
        with torch.no_grad():
            out = self._g(noise.to(self.device), None if labels is None else labels.to(self.device))
        self.G.train(was)
        return out.reshape(len(noise), 784).float().cpu().numpy()

    def sample(self, n, seed=0) -> np.ndarray:
        """``n`` generated images in [0, 1], (n, 784), from noise seeded by ``seed``."""
        gen = torch.Generator().manual_seed(int(seed))
        z = G.sample_noise(n, self.noise_dim, generator=gen)
        labels = None if self.y is None else torch.randint(self.num_classes, (n,), generator=gen)
        return (self.generate(z, labels) + 1) / 2

    # ------------------------------------------------------------- the core's hooks
    def steps_per_epoch(self):
        return len(self.X) // self.batch_size

    def batches(self):
        order = self.rng.permutation(len(self.X))  # (N,)
        n = self.steps_per_epoch() * self.batch_size  # the partial last batch is dropped
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

    def begin_epoch(self):
        self.D.train()
        self.G.train()
        self._epoch_d, self._epoch_g, self._epoch_w, self._epoch_gp = [], [], [], []

    def step(self, idx, iteration):
        """One D step on the minibatch ``idx``; then, every ``n_critic``-th iteration, one G
        step. Returns ``|D loss| + |G loss|`` (the last G loss), what the core watches."""
        d_loss_fn, g_loss_fn = LOSSES[self.loss_name]
        idx_t = torch.as_tensor(idx, device=self.device)
        real = self.X[idx_t]
        real_labels = None if self.y is None else self.y[idx_t]
        b = len(idx)
        z, _ = self._noise(b)
        fake = self._g(z, real_labels).detach()  # fakes of the batch's classes
        if self.loss_name == "wgan-gp":
            critic = self.D if self.y is None else (lambda x: self.D(x, real_labels))
            d_loss, w_est, gp = W.wgan_gp_critic_loss(critic, real, fake, self.lambda_gp,
                                                      generator=self.noise_gen)  # fmt: skip
            self._epoch_w.append(float(w_est))
            self._epoch_gp.append(float(gp))
        else:
            d_loss = d_loss_fn(self._d(real, real_labels), self._d(fake, real_labels))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        d_value = float(d_loss.detach())
        if (iteration + 1) % self.n_critic == 0:
            z, labels = self._noise(b)
            g_loss = g_loss_fn(self._d(self._g(z, labels), labels))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self._g_last = float(g_loss.detach())
            self._epoch_g.append(self._g_last)
            self.g_history.append(self._g_last)
        self._epoch_d.append(d_value)
        self.d_history.append(d_value)
        if self.out_dir is not None and self.sample_every and iteration % self.sample_every == 0:
            self.save_samples(f"iter_{iteration:07d}.png")
        return abs(d_value) + abs(self._g_last)

    def save_samples(self, name) -> Path | None:
        """Writes the fixed noise batch's images to ``out_dir/samples/name`` (main process)."""
        if self.out_dir is None or not self.processes.is_main:
            return None
        return save_grid(self.generate(self.fixed_noise, self.fixed_labels),
                         self.out_dir / "samples" / name)  # fmt: skip

    def end_epoch(self, losses, train_seconds):
        record = {"loss": float(np.mean(losses)), "d_loss": float(np.mean(self._epoch_d)),
                  "g_loss": float(np.mean(self._epoch_g)) if self._epoch_g else None}  # fmt: skip
        if self.loss_name == "wgan-gp":
            record["wasserstein"] = float(np.mean(self._epoch_w))
            record["gradient_penalty"] = float(np.mean(self._epoch_gp))
        record["images_per_sec"] = round(len(losses) * self.batch_size / max(train_seconds, 1e-9))
        if self.quality is not None:
            start = time.perf_counter()
            measures = self.quality(self.sample(self.quality_samples, seed=self.seed + 2))
            record.update({k: float(v) for k, v in measures.items()})
            record["quality_seconds"] = round(time.perf_counter() - start, 3)
        self.save_samples(f"epoch_{self.epoch:03d}.png")
        return record

    def model_state(self):
        return {**ckpt.state_arrays(self.D.state_dict(), "D/"),
                **ckpt.state_arrays(self.G.state_dict(), "G/")}  # fmt: skip

    def load_model_state(self, arrays):
        ckpt.load_state(self.D, S.group(arrays, "D/"), self.device)
        ckpt.load_state(self.G, S.group(arrays, "G/"), self.device)

    def train_state(self):
        return {"optim_d": _optimizer_tree(self.opt_d), "optim_g": _optimizer_tree(self.opt_g),
                "d_history": list(self.d_history), "g_history": list(self.g_history),
                "g_last": self._g_last}  # fmt: skip

    def load_train_state(self, state):
        _load_optimizer_tree(self.opt_d, state["optim_d"], self.device)
        _load_optimizer_tree(self.opt_g, state["optim_g"], self.device)
        self.d_history, self.g_history = list(state["d_history"]), list(state["g_history"])
        self._g_last = float(state["g_last"])

    def rank_state(self):
        return {"batches": S.generator_state(self.rng),
                "noise": ckpt.to_array(self.noise_gen.get_state())}  # fmt: skip

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["batches"])
        self.noise_gen.set_state(torch.from_numpy(np.ascontiguousarray(state["noise"])))


def _optimizer_tree(opt) -> dict:
    arrays, meta = ckpt.optimizer_state(opt)  # arrays named optim/<param>/<name>
    return S.unflatten(arrays, {"optim": meta})["optim"]


def _load_optimizer_tree(opt, tree, device) -> None:
    arrays, meta = S.flatten({"optim": tree})
    ckpt.load_optimizer_state(opt, arrays, meta["optim"], device)
