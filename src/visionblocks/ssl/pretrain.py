"""Self-supervised pretraining on the training core: one ``EpochLoop`` for every method, with
the weighted kNN monitor logged after each epoch.

The core gives the run directory, ``metrics.jsonl``, the ``last``/``best`` checkpoints, exact
resume (weights with MoCo's queue, optimiser, the batch-order and augmentation generators) and
the divergence stop; this module holds the step and what an epoch logs::

    model = build_method("simclr", in_channels=1)
    loop = Pretrainer(model, data, method="simclr", epochs=5, out_dir="runs/simclr")
    loop.train()
    loop.history("knn_acc")
"""

from __future__ import annotations

import time

import numpy as np
import torch

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.ssl import pretext as P
from visionblocks.ssl.augment import SimCLRAugment
from visionblocks.ssl.evaluate import KNN_K, KNN_TAU, encode, knn_accuracy
from visionblocks.ssl.models import Encoder, MoCo, SimCLR, SimSiam
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit import distributed as D
from visionblocks.torchkit.loop_state import TorchLoopState
from visionblocks.torchkit.optim import make_lr_schedule, make_optimizer
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

#: method name -> what it is (``jigsaw`` is the two-patch relative-position form)
METHODS = {
    "simclr": "SimCLR: NT-Xent between two augmented views",
    "moco": "MoCo v2: InfoNCE against a momentum encoder's queue of keys",
    "simsiam": "SimSiam: no negatives, predictor + stop-gradient",
    "rotation": "rotation prediction (4-way)",
    "jigsaw": "relative patch position (Doersch et al.: 8-way place of a neighbour patch)",
    "inpainting": "context encoder: reconstruct a square hole (L2 on the hole)",
}
CONTRASTIVE = ("simclr", "moco", "simsiam")


def build_method(method, in_channels=1, widths=(32, 64, 128), tau=None, proj_dim=None,
                 queue_size=4096, momentum=0.99, seed=0):  # fmt: skip
    """The method's model around a fresh encoder, initialised from ``seed`` (torch's global
    generator is left as it was).

    Args:
        method: a key of ``METHODS``. in_channels: 1 or 3. widths: the encoder's blocks.
        tau: the contrastive temperature (default 0.5 SimCLR, 0.2 MoCo).
        proj_dim: projection size (default 64; SimSiam 128).
        queue_size, momentum: MoCo's K and m.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = Encoder(in_channels, tuple(widths))
        if method == "simclr":
            return SimCLR(enc, proj_dim=proj_dim or 64, tau=0.5 if tau is None else tau)
        if method == "moco":
            return MoCo(enc, proj_dim=proj_dim or 64, queue_size=queue_size, momentum=momentum,
                        tau=0.2 if tau is None else tau, seed=seed)  # fmt: skip
        if method == "simsiam":
            return SimSiam(enc, proj_dim=proj_dim or 128)
        if method == "rotation":
            return P.RotationNet(enc)
        if method == "jigsaw":
            return P.RelativePositionNet(enc)
        return P.ContextEncoder(enc)


def default_augment(method, crop_scale_min=0.2, blur_p=0.5, noise_std=0.0):
    """The SimCLR pipeline for the contrastive methods; a mild crop + flip for pretext tasks
    (their own transformation is the task)."""
    if method in CONTRASTIVE:
        return SimCLRAugment(crop_scale=(crop_scale_min, 1.0), blur_p=blur_p, noise_std=noise_std)
    return SimCLRAugment(crop_scale=(0.6, 1.0), jitter_p=0.0, gray_p=0.0, blur_p=0.0)


_OPTIONS = dict(
    method=None, augment=None, epochs=10, batch_size=256, update_rule="adamw", lr=1e-3,
    weight_decay=1e-4, warmup_epochs=0.0, seed=0, device=None, knn_k=KNN_K, knn_tau=KNN_TAU,
    knn_bank=5000, knn_val=2000, out_dir=None, resume=False, explode_factor=3.0, verbose=True,
    print_every=0, keep="last", hooks=(),
)  # fmt: skip


class Pretrainer(TorchLoopState, EpochLoop):
    """Pretrains ``model`` (a ``build_method`` module) on unlabeled ``data["X_train"]``; labels
    are used only by the kNN monitor (a labelled memory bank scored on the validation split).
    """

    monitor, higher_is_better = "knn_acc", True
    checkpoint_meta = {"engine": "torch"}

    def __init__(self, model, data, **kwargs):
        """Args:
        model: the method's module (``loss(x, gen, augment)``; ``after_step()`` if any).
        data: dict with X_train (N, C, H, W) in [0, 1]; y_train, X_val, y_val for the monitor.
        method: the method's name (recorded; picks the default augmentation).
        augment: ``augment(x, gen)`` (default ``default_augment(method)``).
        epochs, batch_size: the run (the last incomplete batch of an epoch is dropped).
        update_rule, lr, weight_decay, warmup_epochs: the optimiser, with a per-step cosine
            schedule after the linear warm-up.
        seed: the batch order and the augmentation generator.
        knn_k, knn_tau: the monitor's k and temperature. knn_bank: labelled training images
            in its memory bank (a fixed seeded draw). knn_val: validation images it scores.
        out_dir, resume, explode_factor, verbose, print_every, keep, hooks: the core's.
        """
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise TypeError(f"unrecognised Pretrainer arguments: {', '.join(unknown)}")
        o = {**_OPTIONS, **kwargs}
        for k, v in o.items():
            setattr(self, k, v)
        X = data.get("X_train")
        if X is None or np.ndim(X) != 4:
            raise ShapeError(f"data['X_train'] must be images (N, C, H, W), got "
                             f"{None if X is None else np.shape(X)}")  # fmt: skip
        if not 2 <= self.batch_size <= len(X):
            raise ConfigError(f"batch_size must be in [2, {len(X)}], got {self.batch_size}")
        if self.lr < 0 or self.epochs < 0:
            raise ConfigError(f"lr and epochs must be >= 0, got {self.lr} and {self.epochs}")
        self.device = D.pick_device(self.device)
        self.model = model.to(self.device)
        self.augment = self.augment or default_augment(self.method)
        self.X_train = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        self._monitor_data(data)
        self.rng = np.random.default_rng(self.seed)
        self.aug_gen = torch.Generator().manual_seed(self.seed)
        params = model.parameters_to_train() if hasattr(model, "parameters_to_train") else [
            p for p in model.parameters() if p.requires_grad]  # fmt: skip
        self.optimizer = make_optimizer(self.update_rule, params, self.lr, None, self.weight_decay)
        per_epoch = len(X) // self.batch_size
        self.schedule_fn = make_lr_schedule("cosine", self.lr, self.epochs * per_epoch,
                                            int(self.warmup_epochs * per_epoch))  # fmt: skip
        self._lr = self.lr
        self.setup_loop(num_epochs=self.epochs, out_dir=self.out_dir, resume=self.resume,
                        explode_factor=self.explode_factor, verbose=self.verbose,
                        print_every=self.print_every, keep=self.keep, hooks=self.hooks)  # fmt: skip
        self.start_loop()

    def _monitor_data(self, data):
        y, Xv, yv = data.get("y_train"), data.get("X_val"), data.get("y_val")
        self.knn_ready = y is not None and Xv is not None and yv is not None and len(yv) > 0
        if not self.knn_ready or self.knn_val == 0:
            self.knn_ready = False
            return
        pick = np.random.default_rng(self.seed + 1)
        bank = np.sort(pick.choice(len(y), min(self.knn_bank, len(y)), replace=False))
        val = np.sort(pick.choice(len(yv), min(self.knn_val, len(yv)), replace=False))
        self.bank_X, self.bank_y = data["X_train"][bank], np.asarray(y)[bank]
        self.val_X, self.val_y = Xv[val], np.asarray(yv)[val]
        self.num_classes = int(max(np.max(y), np.max(yv))) + 1

    @property
    def encoder(self):
        return self.model.encoder

    # -------------------------------------------------------------- the core's hooks
    def rank_state(self):
        return {"batches": S.generator_state(self.rng),
                "augment": ckpt.to_array(self.aug_gen.get_state())}  # fmt: skip

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["batches"])
        self.aug_gen.set_state(torch.from_numpy(np.ascontiguousarray(state["augment"])))

    def steps_per_epoch(self):
        return len(self.X_train) // self.batch_size

    def batches(self):
        order = self.rng.permutation(len(self.X_train))  # (N,)
        n = self.steps_per_epoch() * self.batch_size
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

    def begin_epoch(self):
        self.model.train()

    def step(self, idx, iteration):
        self._lr = lr = float(self.schedule_fn(iteration))
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        xb = self.X_train[torch.as_tensor(idx, device=self.device)]
        loss = self.model.loss(xb, self.aug_gen, self.augment)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        self.check_loss(value, iteration)  # before the update: a NaN gradient never lands
        self.optimizer.step()
        if hasattr(self.model, "after_step"):
            self.model.after_step()
        return value

    def knn_monitor(self):
        """Weighted kNN accuracy (cosine, k, exp(s / tau) votes) of the encoder's features:
        the memory bank's labels voting for the validation images; None without labels."""
        if not self.knn_ready:
            return None
        bank = encode(self.encoder, self.bank_X)
        val = encode(self.encoder, self.val_X)
        return knn_accuracy(bank, self.bank_y, val, self.val_y, self.num_classes,
                            self.knn_k, self.knn_tau)  # fmt: skip

    def end_epoch(self, losses, train_seconds):
        start = time.perf_counter()
        knn = self.knn_monitor()
        ips = len(losses) * self.batch_size / max(train_seconds, 1e-9)
        return {"loss": float(np.mean(losses)), "knn_acc": knn, "lr": self._lr,
                "images_per_sec": round(ips, 1),
                "knn_seconds": round(time.perf_counter() - start, 3)}  # fmt: skip
