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

The epoch loop, the run directory and resume are the training core's
(``visionblocks.training.EpochLoop``): this module holds the torch step and what it logs. Every
process saves its own random generators (NumPy batch order, augmentation, torch CPU and, on
CUDA, the device generator), so a resumed run -- data-parallel included -- continues exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit import distributed as D
from visionblocks.torchkit.augment import make_augment
from visionblocks.torchkit.loop_state import TorchGenerators, TorchLoopState
from visionblocks.torchkit.optim import make_lr_schedule, make_optimizer
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

_OPTIONS = dict(
    update_rule="sgd_momentum", lr=1e-2, momentum=None, weight_decay=0.0, schedule=None,
    lr_decay=1.0, warmup_epochs=0.0, epochs=10, batch_size=100, label_smoothing=0.0,
    grad_clip=None, augment=(), bf16=False, channels_last=False, tta_flip=False, device=None,
    seed=0, keep="best",
    out_dir=None, resume=False, explode_factor=3.0, verbose=True, print_every=100,
    num_train_samples=1000, num_val_samples=None, eval_batch_size=1000, ctx=None, hooks=(),
)  # fmt: skip


class Trainer(TorchGenerators, TorchLoopState, EpochLoop):
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
            hooks: callables ``hook(trainer, record)`` run after each epoch (report hooks).
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
        # dropout's generators: this process's own (seed + rank), checkpointed per rank
        self.seed_torch_generators(self.seed + self.ctx.rank)
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
        self.rank_spread, self._lr = 0.0, self.lr
        self.setup_loop(
            num_epochs=self.epochs, out_dir=self.out_dir, resume=self.resume,
            explode_factor=self.explode_factor, verbose=self.verbose,
            print_every=self.print_every, keep=self.keep, processes=self.ctx, hooks=self.hooks,
        )  # fmt: skip
        if self.verbose and self.ctx.is_main:
            where = f"{self.device}" + (
                f" x {self.ctx.world_size} processes" if self.ctx.enabled else ""
            )
            print(f"device: {where} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
            if len(self.y_val) == 0:
                print("no validation examples: the last epoch's weights are kept")
        self.start_loop()

    checkpoint_meta = {"engine": "torch"}

    def checkpoint_exists(self) -> bool:
        """Whether ``out_dir/last`` exists, checked to be seen alike by every process."""
        found = (self.out_dir / "last.json").exists()
        seen = D.all_reduce_sum([float(found)], self.device, self.ctx)[0]
        if 0 < seen < self.ctx.world_size:
            raise ConfigError(f"only {seen:.0f} of {self.ctx.world_size} processes see "
                              f"{self.out_dir}/last.json: resuming a multi-machine run needs the "
                              "run directory on a shared file system")  # fmt: skip
        return found

    # ------------------------------------------------------------- the classic names
    best_val_acc = property(lambda self: self.best_score)
    train_acc_history = property(lambda self: self.history("train_acc"))
    val_acc_history = property(lambda self: self.history("val_acc"))
    lr_history = property(lambda self: self.history("lr"))
    images_per_sec_history = property(lambda self: self.history("images_per_sec"))

    # -------------------------------------------------------------- the core's hooks
    def rank_state(self):
        """This process's generators; inside ``train()`` the torch ones are our fork's."""
        return {"batches": S.generator_state(self.rng),
                "augment": ckpt.to_array(self.aug_gen.get_state()),
                **self.torch_generator_state()}  # fmt: skip

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["batches"])
        self.aug_gen.set_state(torch.from_numpy(np.ascontiguousarray(state["augment"])))
        self.load_torch_generator_state(state)

    def steps_per_epoch(self):
        return len(self.sampler)

    def batches(self):
        return self.sampler.epoch()

    def begin_epoch(self):
        self.model.train()

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

    def train(self):
        """Runs the optimisation; at the end the model holds the best-validation weights (the
        last epoch's with ``keep='last'`` or without validation examples).

        Raises:
            TrainingDivergedError: the loss became NaN/inf or exploded; the model is restored
                to the end of the last good epoch (whose checkpoint stays on disk).
        """
        super().train()
        self.rank_spread = D.max_param_spread(self.model, self.ctx)
        return self

    def step(self, batch, step):
        """One update on a global batch (this rank's rows of it); returns the mean loss."""
        gidx, mine = batch
        self._lr = lr = float(self.schedule_fn(step))
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
        self.check_loss(value, step)  # before the update: a NaN gradient never lands
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return value

    def end_epoch(self, losses, train_seconds):
        """Measures the accuracies (on every rank, reduced); returns the epoch's record."""
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
        val_acc = self.check_accuracy(Xv, yv) if len(yv) else None
        ips = len(losses) * self.batch_size / max(train_seconds, 1e-9)
        return {"loss": float(np.mean(losses)), "train_acc": train_acc, "val_acc": val_acc,
                "lr": self._lr, "images_per_sec": round(ips, 1)}  # fmt: skip

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
        if total == 0:
            raise ValueError("check_accuracy needs at least one example, got 0")
        return correct / total
