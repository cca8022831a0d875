"""The torch training loop, with the NumPy Solver's contract: run directory, ``metrics.jsonl``,
``last``/``best`` checkpoints (``.npz`` + ``.json``, atomic, no pickle), exact resume, and a
``TrainingDivergedError`` stop when the loss becomes NaN/inf or explodes.

On top: torch optimizers (SGD with momentum/Nesterov, Adam, AdamW, weight decay), per-step
schedules (step, cosine, one-cycle, warm-up), label smoothing, gradient clipping, torch batch
augmentation, bf16 autocast, channels-last, the device picked automatically, and
data-parallel training under torchrun (see ``torchkit.distributed``)::

    trainer = Trainer(model, data, update_rule="adamw", lr=2e-3, weight_decay=5e-4,
                      schedule="onecycle", epochs=10, batch_size=128, augment=["crop", "flip"])
    trainer.train()
    trainer.best_val_acc, trainer.check_accuracy(data["X_test"], data["y_test"])
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from visionblocks.errors import ConfigError, ShapeError, TrainingDivergedError
from visionblocks.solver import check_divergence
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit import distributed as D
from visionblocks.torchkit.augment import make_augment
from visionblocks.torchkit.optim import make_lr_schedule, make_optimizer

_OPTIONS = dict(
    update_rule="sgd_momentum", lr=1e-2, momentum=None, weight_decay=0.0, schedule=None,
    lr_decay=1.0, warmup_epochs=0.0, epochs=10, batch_size=100, label_smoothing=0.0,
    grad_clip=None, augment=(), bf16=False, channels_last=False, tta_flip=False, device=None,
    seed=0, keep="best",
    out_dir=None, resume=False, explode_factor=3.0, verbose=True, print_every=100,
    num_train_samples=1000, num_val_samples=None, eval_batch_size=1000, ctx=None,
)  # fmt: skip


class Trainer:
    """Trains an ``nn.Module`` returning scores (N, C) on a data dict of NumPy arrays."""

    def __init__(self, model, data, **kwargs):
        """Sets up training.

        Args:
            model: an ``nn.Module``; an ``l2_penalty()`` method, when present, is added to the
                loss (the classic ``reg``).
            data: dict with X_train (N, C, H, W) or (N, D) floats, y_train (N,), X_val, y_val.
            update_rule: sgd, sgd_momentum, nesterov, adagrad, rmsprop, adam or adamw.
            lr, momentum, weight_decay: optimizer settings (weight decay decoupled for adamw).
            schedule: None (per-epoch ``lr_decay``), constant, step, exponential, cosine or
                onecycle, evaluated at every step; ``warmup_epochs`` of linear warm-up.
            epochs, batch_size: the run's length and the (global) minibatch size.
            label_smoothing: of the softmax cross-entropy targets.
            grad_clip: clip the global gradient norm to this (None: no clipping).
            augment: names from ``torchkit.augment`` (crop, flip, erase).
            bf16: autocast the forward pass to bfloat16. channels_last: NHWC memory format.
            tta_flip: test-time augmentation: every evaluation (train/val accuracies, test)
                averages the softmax of each image and of its mirror image.
            device: 'cuda', 'mps', 'cpu' or None (the best available).
            seed: seeds the batch order, the augmentation and dropout.
            keep: 'best' (the weights of the best validation epoch) or 'last' (those of the
                last epoch: for a refit whose validation images are in the training data).
            out_dir, resume: run directory for checkpoints and metrics; continue from ``last``.
            explode_factor: stop when the loss exceeds this times the first loss.
            verbose, print_every: progress printing.
            num_train_samples, num_val_samples: examples used for the accuracies (None: all).
            eval_batch_size: batch size of evaluation.
            ctx: a ``DistContext`` (from ``distributed.setup``); None for one process.
        """
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise TypeError(f"unrecognised Trainer arguments: {', '.join(unknown)}")
        o = {**_OPTIONS, **kwargs}
        for k, v in o.items():
            setattr(self, k, v)
        self.ctx = o["ctx"] or D.DistContext()
        self.device = D.pick_device(self.device, self.ctx.local_rank)
        self.dtype = next(model.parameters()).dtype  # the inputs follow the model's float type
        self._check_data(data)
        if self.lr < 0 or self.epochs < 0:
            raise ConfigError(f"lr must be >= 0 and epochs >= 0, got {self.lr}, {self.epochs}")
        if self.label_smoothing < 0 or self.label_smoothing >= 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.keep not in ("best", "last"):
            raise ConfigError(f"keep must be 'best' or 'last', got {self.keep!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        self.rng = np.random.default_rng(self.seed)
        self.sampler = D.DistributedBatchSampler(
            len(self.y_train), int(self.batch_size), self.rng, self.ctx
        )
        self.augment_fn = make_augment(list(self.augment)) if self.augment else None
        self.aug_gen = torch.Generator().manual_seed(self.seed)
        self.torch_rng = torch.Generator().manual_seed(self.seed + self.ctx.rank).get_state()
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = make_optimizer(
            self.update_rule, self.model.parameters(), self.lr, self.momentum, self.weight_decay
        )
        per_epoch = len(self.sampler)
        self.schedule_fn = make_lr_schedule(
            self.schedule, self.lr, self.epochs * per_epoch,
            int(self.warmup_epochs * per_epoch), self.lr_decay, per_epoch,
        )  # fmt: skip
        self._reset()
        self.out_dir = Path(self.out_dir) if self.out_dir is not None else None
        if self.out_dir is not None and self.resume and self._resumable():
            self._load(self.out_dir / "last")
        if self.out_dir is not None and self.ctx.is_main:
            self._trim_metrics()
        if self.verbose and self.ctx.is_main:
            where = f"{self.device}" + (
                f" x {self.ctx.world_size} processes" if self.ctx.enabled else ""
            )
            print(f"device: {where} (torch {torch.__version__}, {torch.get_num_threads()} threads)")

    def _resumable(self) -> bool:
        """Whether ``out_dir/last`` exists, checked to be seen alike by every process."""
        found = (self.out_dir / "last.json").exists()
        seen = D.all_reduce_sum([float(found)], self.device, self.ctx)[0]
        if 0 < seen < self.ctx.world_size:
            raise ConfigError(f"only {seen:.0f} of {self.ctx.world_size} processes see "
                              f"{self.out_dir}/last.json: resuming a multi-machine run needs the "
                              "run directory on a shared file system")  # fmt: skip
        return found

    def _check_data(self, data):
        for key in ("X_train", "y_train", "X_val", "y_val"):
            if key not in data:
                raise KeyError(f"data is missing {key!r}")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], np.asarray(data[f"y_{split}"])
            if X.shape[0] != y.shape[0]:
                raise ShapeError(f"X_{split} has {X.shape[0]} rows but y_{split} has {len(y)}")
        if self.tta_flip and np.ndim(data["X_train"]) != 4:
            raise ConfigError(f"tta_flip mirrors images (N, C, H, W); the inputs have shape "
                              f"{np.shape(data['X_train'])}")  # fmt: skip
        self.X_train = torch.as_tensor(data["X_train"], dtype=self.dtype, device=self.device)
        self.y_train = torch.as_tensor(data["y_train"], dtype=torch.long, device=self.device)
        self.X_val, self.y_val = data["X_val"], np.asarray(data["y_val"])

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_state = self._state_copy()
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.lr_history, self.images_per_sec_history = [], []
        self.initial_loss = None
        self.rank_spread = 0.0

    def _state_copy(self):
        return {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()}

    # ----------------------------------------------------------------------------- training
    def _layout(self, x):
        """x in the channels-last memory format when asked (images only)."""
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _forward_loss(self, xb, yb):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(self.bf16)):
            scores = self.net(self._layout(xb))
        loss = F.cross_entropy(scores.float(), yb, label_smoothing=self.label_smoothing)
        if hasattr(self.model, "l2_penalty"):
            loss = loss + self.model.l2_penalty()
        return loss

    def _check_divergence(self, loss, step):
        if self.initial_loss is None:
            self.initial_loss = loss
        check_divergence(
            loss, self.initial_loss, self.explode_factor, self.epoch, step, self.out_dir
        )

    def train(self):
        """Runs the optimisation; at the end the model holds the best-validation weights (the
        last epoch's with ``keep='last'``).

        Raises:
            TrainingDivergedError: the loss became NaN/inf or exploded; the model is restored
                to the end of the last good epoch (whose checkpoint stays on disk).
        """
        per_epoch = len(self.sampler)
        # Dropout draws from torch's global generator: run on a fork of it, seeded from ours
        # (and checkpointed), so the caller's random state is left as it was.
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.torch_rng)
            if devices:
                torch.cuda.manual_seed(self.seed + self.ctx.rank + 1000 * self.epoch)
            while self.epoch < self.epochs:
                self._train_epoch(per_epoch)
            self.torch_rng = torch.get_rng_state()
        self.rank_spread = D.max_param_spread(self.model, self.ctx)
        self.model.load_state_dict(self.best_state)
        return self

    def _train_epoch(self, per_epoch):
        start = time.perf_counter()
        good = self._state_copy()
        self.model.train()
        losses, lr = [], self.lr
        for i, (gidx, mine) in enumerate(self.sampler.epoch()):
            step = self.epoch * per_epoch + i
            lr = float(self.schedule_fn(step))
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            gidx = torch.as_tensor(gidx, device=self.device)
            xb, yb = self.X_train[gidx], self.y_train[gidx]
            if self.augment_fn is not None:
                xb = self.augment_fn(xb, self.aug_gen)  # the whole global batch, on every rank
            if self.ctx.enabled:
                mine_t = torch.as_tensor(mine, device=self.device)
                xb, yb = xb[mine_t], yb[mine_t]  # this rank's rows
            loss = self._forward_loss(xb, yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            value = D.all_reduce_mean(float(loss.detach()), self.device, self.ctx)
            try:
                self._check_divergence(value, step)
            except TrainingDivergedError:
                self.model.load_state_dict(good)
                raise
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
            self.loss_history.append(value)
            losses.append(value)
            if self.verbose and self.print_every and step % self.print_every == 0:
                print(f"(Iteration {step + 1} / {self.epochs * per_epoch}) loss: {value:f}")
        self._end_epoch(losses, lr, time.perf_counter() - start, start, per_epoch)

    def _end_epoch(self, losses, lr, train_seconds, start, per_epoch):
        self.epoch += 1
        n_train = len(self.y_train)
        sub = None
        if self.num_train_samples is not None and n_train > self.num_train_samples:
            sub = np.random.default_rng(self.seed + 1).choice(
                n_train, self.num_train_samples, replace=False
            )
        Xtr = self.X_train if sub is None else self.X_train[torch.as_tensor(sub)]
        ytr = self.y_train if sub is None else self.y_train[torch.as_tensor(sub)]
        train_acc = self.check_accuracy(Xtr, ytr)
        Xv, yv = self.X_val, self.y_val
        if self.num_val_samples is not None and len(yv) > self.num_val_samples:
            vs = np.random.default_rng(self.seed + 1).choice(len(yv), self.num_val_samples, False)
            Xv, yv = Xv[vs], yv[vs]
        val_acc = self.check_accuracy(Xv, yv)
        ips = per_epoch * self.batch_size / max(train_seconds, 1e-9)
        for hist, v in ((self.train_acc_history, train_acc), (self.val_acc_history, val_acc),
                        (self.lr_history, lr), (self.images_per_sec_history, ips)):  # fmt: skip
            hist.append(v)
        improved = val_acc > self.best_val_acc or self.epoch == 1 or self.keep == "last"
        if improved:
            self.best_val_acc, self.best_state = val_acc, self._state_copy()
        mean_loss = float(np.mean(losses)) if losses else float("nan")
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.epochs}) train acc: {train_acc:f}; "
                  f"val_acc: {val_acc:f}; loss {mean_loss:f}; lr {lr:.3g}; "
                  f"{ips:.0f} images/s")  # fmt: skip
        if self.out_dir is not None and self.ctx.is_main:
            record = {"epoch": self.epoch, "loss": mean_loss, "train_acc": train_acc,
                      "val_acc": val_acc, "lr": lr,
                      "seconds": round(time.perf_counter() - start, 4),
                      "images_per_sec": round(ips, 1)}  # fmt: skip
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # As in the Solver: the metrics line first; resuming trims lines past the checkpoint.
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if improved:
                self._save(self.out_dir / "best", best_only=True)
            self._save(self.out_dir / "last")
        D.barrier(self.ctx)

    def _trim_metrics(self):
        """Keeps only the metrics.jsonl lines of epochs the checkpoint covers (none if fresh)."""
        path = self.out_dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["epoch"] <= self.epoch]
        if len(kept) != len(lines):
            atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())

    # --------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, X) -> np.ndarray:
        """Predicted labels (N,) in eval mode (on this process's share of X when distributed,
        so prefer ``check_accuracy`` there)."""
        self.model.eval()
        X = torch.as_tensor(X, dtype=self.dtype)
        preds = []
        for i in range(0, X.shape[0], self.eval_batch_size):
            xb = X[i : i + self.eval_batch_size].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(self.bf16)):
                scores = self.model(self._layout(xb)).float()
                if self.tta_flip:  # mean of the class probabilities of x and of x mirrored
                    mirrored = self.model(self._layout(xb.flip(-1))).float()
                    scores = scores.softmax(1) + mirrored.softmax(1)
            preds.append(scores.argmax(1).cpu())
        return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)

    def check_accuracy(self, X, y) -> float:
        """Accuracy on (X, y), each rank scoring its share and the counts summed over ranks."""
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).cpu()
        rows = slice(self.ctx.rank, None, self.ctx.world_size)
        pred = torch.from_numpy(self.predict(X[rows]))
        correct = float((pred == y[rows]).sum())
        correct, total = D.all_reduce_sum([correct, float(len(y[rows]))], self.device, self.ctx)
        return correct / max(total, 1.0)

    # --------------------------------------------------------------------- checkpoint state
    def _save(self, stem, best_only=False):
        arrays = ckpt.state_arrays(self.best_state, "params/")
        meta = {"epoch": self.epoch, "best_val_acc": self.best_val_acc, "engine": "torch"}
        if not best_only:
            arrays = {f"best/{k}": v for k, v in arrays.items()}
            arrays.update(ckpt.state_arrays(self.model.state_dict(), "params/"))
            opt_arrays, opt_meta = ckpt.optimizer_state(self.optimizer)
            arrays.update(opt_arrays)
            arrays["rng/torch"] = torch.get_rng_state().numpy()  # inside train(): our fork
            arrays["rng/augment"] = self.aug_gen.get_state().numpy()
            meta.update(
                optim=opt_meta, rng=self.rng.bit_generator.state, initial_loss=self.initial_loss,
                history={"loss": self.loss_history, "train_acc": self.train_acc_history,
                         "val_acc": self.val_acc_history, "lr": self.lr_history,
                         "images_per_sec": self.images_per_sec_history},
            )  # fmt: skip
        save_checkpoint(stem, arrays, meta)

    def _load(self, stem):
        arrays, meta = load_checkpoint(stem)
        if meta.get("engine") != "torch":
            raise ConfigError(f"{stem}.json is not a checkpoint of the torch engine")
        ckpt.load_state(self.model, ckpt.group(arrays, "params/"))
        self.best_state = {
            k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in ckpt.group(arrays, "best/params/").items()
        }
        ckpt.load_optimizer_state(self.optimizer, arrays, meta["optim"], self.device)
        self.torch_rng = torch.from_numpy(arrays["rng/torch"])
        self.aug_gen.set_state(torch.from_numpy(arrays["rng/augment"]))
        self.rng.bit_generator.state = meta["rng"]
        self.epoch, self.best_val_acc = meta["epoch"], meta["best_val_acc"]
        self.initial_loss = meta["initial_loss"]
        h = meta["history"]
        self.loss_history, self.train_acc_history = h["loss"], h["train_acc"]
        self.val_acc_history, self.lr_history = h["val_acc"], h["lr"]
        self.images_per_sec_history = h["images_per_sec"]
