"""The NumPy training loop: minibatches, accuracy checks, checkpoints, resume, safety stops.

The classic use is unchanged::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, batch_size=100, num_epochs=10, print_every=100)
    solver.train()
    solver.best_params, solver.val_acc_history

Beyond it: seeded minibatches (one permutation per epoch), an optional learning-rate schedule
as a function of the iteration, a progress bar, a stop with ``TrainingDivergedError`` when the
loss becomes NaN/inf or exceeds ``explode_factor`` times its first value, and, with ``out_dir``,
checkpoints after every epoch (``last`` and ``best``) from which ``resume=True`` continues to
exactly the parameters an uninterrupted run would have reached. The epoch loop, the files and
resume are the training core's (``visionblocks.training.EpochLoop``); this module holds the
Solver's step and what it logs. With no validation examples the last epoch is kept.
"""

from __future__ import annotations

import numpy as np

from visionblocks.errors import ShapeError
from visionblocks.optim import get_update_rule
from visionblocks.training import EpochLoop, check_divergence
from visionblocks.training import state as S

__all__ = ["Solver", "check_divergence", "predict"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
#: numpy floating-point warnings inside a training step: a NaN/inf they announce is caught by
#: the divergence stop, which says so in one line
_QUIET = dict(over="ignore", invalid="ignore", divide="ignore")


class Solver(EpochLoop):
    """Trains a model whose ``loss(X, y)`` returns ``(loss, grads)`` keyed like ``model.params``."""

    def __init__(self, model, data, **kwargs):
        """Sets up training.

        Args:
            model: a model with ``params`` and ``loss``.
            data: dict with X_train, y_train, X_val, y_val (X_test/y_test are ignored here).
            update_rule: name in ``visionblocks.optim.UPDATE_RULES`` or a callable ('sgd').
            optim_config: hyperparameters of the rule, copied for each parameter.
            lr_decay: multiply the learning rate by this after each epoch (1.0).
            lr_schedule: optional ``schedule(iteration) -> lr``; overrides lr_decay.
            batch_size: minibatch size (100).
            num_epochs: epochs to train (10).
            num_train_samples: training examples used to measure train accuracy (1000).
            num_val_samples: validation examples used, or None for all.
            print_every: print the loss every this many iterations (10).
            verbose: print progress and show a progress bar on a terminal (True).
            seed: seeds the minibatch order and accuracy subsamples (0).
            out_dir: run directory for checkpoints and metrics.jsonl (None: no files).
            resume: continue from ``out_dir/last`` when it exists (False).
            explode_factor: stop when the loss exceeds this times the first loss (3.0).
            augment: optional ``augment(X_batch, rng) -> X_batch`` applied to each minibatch.
            hooks: callables ``hook(solver, record)`` run after each epoch (report hooks).
        """
        self.model = model
        for key in _DATA_KEYS:
            if key not in data:
                raise KeyError(f"data is missing {key!r}; it needs {_DATA_KEYS}")
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        for xs, ys, name in (
            (self.X_train, self.y_train, "train"),
            (self.X_val, self.y_val, "val"),
        ):
            if xs.shape[0] != np.asarray(ys).shape[0]:
                raise ShapeError(f"X_{name} has {xs.shape[0]} rows but y_{name} has {len(ys)}")
        self.update_rule = get_update_rule(kwargs.pop("update_rule", "sgd"))
        self.optim_config = dict(kwargs.pop("optim_config", {}))
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.lr_schedule = kwargs.pop("lr_schedule", None)
        self.batch_size = int(kwargs.pop("batch_size", 100))
        self.num_epochs = int(kwargs.pop("num_epochs", 10))
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        self.seed = kwargs.pop("seed", 0)
        self.out_dir = kwargs.pop("out_dir", None)
        self.resume = kwargs.pop("resume", False)
        self.explode_factor = kwargs.pop("explode_factor", 3.0)
        self.augment = kwargs.pop("augment", None)
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)  # accepted for compatibility
        self.hooks = kwargs.pop("hooks", ())
        if kwargs:
            raise TypeError(f"unrecognised Solver arguments: {', '.join(sorted(kwargs))}")
        self._check_options()
        self.setup_loop(
            num_epochs=self.num_epochs, out_dir=self.out_dir, resume=self.resume,
            explode_factor=self.explode_factor, verbose=self.verbose,
            print_every=self.print_every, keep="best", hooks=self.hooks,
        )  # fmt: skip
        self.rng = np.random.default_rng(self.seed)
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self._ratios = {}
        if self.verbose and self.X_val.shape[0] == 0:
            print("no validation examples: the last epoch's parameters are kept")
        self.start_loop()

    def _check_options(self):
        """The constructor's checks of its options, before anything is set up."""
        if self.batch_size <= 0 or self.num_epochs < 0:
            raise ValueError(
                f"batch_size must be > 0 and num_epochs >= 0, got {self.batch_size}, "
                f"{self.num_epochs}"
            )
        if self.batch_size > self.X_train.shape[0]:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than the {self.X_train.shape[0]} "
                "training examples"
            )
        if self.batch_size < 2 and getattr(self.model, "normalization", None) == "batchnorm":
            raise ValueError(
                f"batch_size must be >= 2 for a model with batch norm (its batch statistics "
                f"need 2 or more examples), got {self.batch_size}"
            )

    # ------------------------------------------------------------- the classic names
    @property
    def best_params(self):
        """The parameters of the best validation epoch (of the last with no validation)."""
        return S.group(self.best_state, "params/")

    @property
    def best_buffers(self):
        return S.group(self.best_state, "buffers/")

    @property
    def best_val_acc(self):
        return self.best_score

    train_acc_history = property(lambda self: self.history("train_acc"))
    val_acc_history = property(lambda self: self.history("val_acc"))
    lr_history = property(lambda self: self.history("lr"))
    update_ratio_history = property(lambda self: self.history("update_ratio"))

    # -------------------------------------------------------------- the core's hooks
    def model_state(self):
        arrays = {f"params/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"buffers/{k}": v for k, v in self.model.buffers().items()})
        return arrays

    def model_layout(self):
        return {f"params/{k}": v for k, v in self.model.params.items()}  # buffers come later

    def load_model_state(self, arrays):
        self.model.params = S.group(arrays, "params/")
        self.model.load_buffers(S.group(arrays, "buffers/"))

    def train_state(self):
        return {"optim": {p: dict(cfg) for p, cfg in self.optim_configs.items()}}

    def load_train_state(self, state):
        self.optim_configs = {p: dict(cfg) for p, cfg in state["optim"].items()}

    def rank_state(self):
        return {"rng": {"batches": S.generator_state(self.rng),
                        "model": S.generator_state(self.model.rng)}}  # fmt: skip

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["rng"]["batches"])
        S.set_generator_state(self.model.rng, state["rng"]["model"])

    def session(self):
        return np.errstate(**_QUIET)

    def steps_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    def batches(self):
        """One seeded permutation per epoch, cut into ``steps_per_epoch`` minibatches."""
        perm = self.rng.permutation(self.X_train.shape[0])
        for i in range(self.steps_per_epoch()):
            yield perm[i * self.batch_size : (i + 1) * self.batch_size]

    # ----------------------------------------------------------------------------- training
    def _learning_rate(self, iteration):
        if self.lr_schedule is not None:
            return float(self.lr_schedule(iteration))
        return float(next(iter(self.optim_configs.values())).get("learning_rate", 0.0) or 0.0)

    def step(self, idx, iteration):
        """One update on the minibatch ``idx`` (N,) of row numbers; returns the loss."""
        loss, self._ratios = self._step(idx, iteration)
        return loss

    def _step(self, idx, iteration):
        """One update on the minibatch ``idx``; returns the loss and the update ratios."""
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        if self.augment is not None:
            X_batch = self.augment(X_batch, self.rng)
        loss, grads = self.model.loss(X_batch, y_batch)
        if self.lr_schedule is not None:
            lr = float(self.lr_schedule(iteration))
            for cfg in self.optim_configs.values():
                cfg["learning_rate"] = lr
        ratios = {}
        if not np.isfinite(loss):
            return loss, ratios
        for p, w in self.model.params.items():
            next_w, self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p])
            if p.startswith("W"):
                w_norm = float(np.linalg.norm(w))
                ratios[p] = float(np.linalg.norm(next_w - w)) / max(w_norm, 1e-12)
            self.model.params[p] = next_w.astype(w.dtype, copy=False)
        return loss, ratios

    def end_epoch(self, losses, train_seconds):
        """Decays the learning rate and measures the accuracies; returns the epoch's record."""
        lr = self._learning_rate((self.epoch - 1) * self.steps_per_epoch() + len(losses) - 1)
        if self.lr_schedule is None:
            for cfg in self.optim_configs.values():
                if "learning_rate" in cfg:
                    cfg["learning_rate"] *= self.lr_decay
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = None
        if self.X_val.shape[0]:
            val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        return {"loss": float(np.mean(losses)), "train_acc": train_acc, "val_acc": val_acc,
                "lr": lr, "update_ratio": self._ratios}  # fmt: skip

    def epoch_line(self, record):
        """The course's epoch line: ``(Epoch 3 / 10) train acc: ...; val_acc: ...``."""
        val = "n/a" if record["val_acc"] is None else f"{record['val_acc']:f}"
        return (f"(Epoch {record['epoch']} / {self.num_epochs}) train acc: "
                f"{record['train_acc']:f}; val_acc: {val}; loss {record['loss']:f}; "
                f"lr {record['lr']:.3g}")  # fmt: skip

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Accuracy of the model on (X, y), on a fixed seeded subsample of ``num_samples``.

        Args:
            X: (N, ...) inputs, N >= 1.
            y: (N,) labels.
            num_samples: subsample size, or None for all of X.
            batch_size: examples per forward pass.

        Returns:
            acc: fraction of correctly classified examples.
        """
        n = X.shape[0]
        if n == 0:
            raise ValueError("check_accuracy needs at least one example, got X with 0 rows")
        if num_samples is not None and n > num_samples:
            sub_seed = None if self.seed is None else self.seed + 1
            idx = np.random.default_rng(sub_seed).choice(n, num_samples, replace=False)
            X, y = X[idx], y[idx]
        y_pred = predict(self.model, X, batch_size)
        return float(np.mean(y_pred == np.asarray(y)))


def predict(model, X, batch_size=100):
    """Predicted labels (N,) of ``model`` for X, in test mode, in batches."""
    preds = [
        np.argmax(model.loss(X[i : i + batch_size]), axis=1)
        for i in range(0, X.shape[0], batch_size)
    ]
    return np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
