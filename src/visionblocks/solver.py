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
exactly the parameters an uninterrupted run would have reached.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from visionblocks.errors import ShapeError, TrainingDivergedError
from visionblocks.optim import get_update_rule

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


class Solver:
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
        if kwargs:
            raise TypeError(f"unrecognised Solver arguments: {', '.join(sorted(kwargs))}")
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
        if self.batch_size < 2 and getattr(model, "normalization", None) == "batchnorm":
            raise ValueError(
                f"batch_size must be >= 2 for a model with batch norm (its batch statistics "
                f"need 2 or more examples), got {self.batch_size}"
            )
        self._reset()
        if self.out_dir is not None:
            self.out_dir = Path(self.out_dir)
            if self.resume and (self.out_dir / "last.json").exists():
                self._load(self.out_dir / "last")
            self._trim_metrics()

    def _reset(self):
        """Sets up the book-keeping variables for a fresh run."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self.best_buffers = {k: v.copy() for k, v in self.model.buffers().items()}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.lr_history = []
        self.update_ratio_history = []
        self.initial_loss = None
        self.rng = np.random.default_rng(self.seed)
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    # ----------------------------------------------------------------------------- training
    def _learning_rate(self, iteration):
        if self.lr_schedule is not None:
            return float(self.lr_schedule(iteration))
        return float(next(iter(self.optim_configs.values())).get("learning_rate", 0.0) or 0.0)

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

    def _check_divergence(self, loss, iteration):
        if self.initial_loss is None:
            self.initial_loss = float(loss)
        check_divergence(
            loss, self.initial_loss, self.explode_factor, self.epoch, iteration, self.out_dir
        )

    def train(self):
        """Runs the optimisation; at the end, ``model.params`` holds the best-validation params.

        Raises:
            TrainingDivergedError: the loss became NaN/inf or exploded; the model is restored to
                the end of the last good epoch (and that checkpoint stays on disk).
        """
        num_train = self.X_train.shape[0]
        per_epoch = max(num_train // self.batch_size, 1)
        bar = _progress(
            total=self.num_epochs * per_epoch,
            initial=self.epoch * per_epoch,
            enabled=self.verbose,
        )
        try:
            while self.epoch < self.num_epochs:
                start = time.perf_counter()
                good = self._snapshot()
                perm = self.rng.permutation(num_train)
                epoch_losses = []
                for i in range(per_epoch):
                    it = self.epoch * per_epoch + i
                    loss, ratios = self._step(
                        perm[i * self.batch_size : (i + 1) * self.batch_size], it
                    )
                    try:
                        self._check_divergence(loss, it)
                    except TrainingDivergedError:
                        self._restore(good)
                        raise
                    self.loss_history.append(float(loss))
                    epoch_losses.append(float(loss))
                    bar.update(1)
                    if self.verbose and self.print_every and it % self.print_every == 0:
                        bar.write(
                            f"(Iteration {it + 1} / {self.num_epochs * per_epoch}) loss: {loss:f}"
                        )
                lr = self._learning_rate(self.epoch * per_epoch + per_epoch - 1)
                self.update_ratio_history.append(ratios)
                self._end_epoch(epoch_losses, lr, time.perf_counter() - start, bar)
        finally:
            bar.close()
        self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        self.model.load_buffers({k: v.copy() for k, v in self.best_buffers.items()})
        return self

    def _end_epoch(self, epoch_losses, lr, seconds, bar):
        self.epoch += 1
        if self.lr_schedule is None:
            for cfg in self.optim_configs.values():
                if "learning_rate" in cfg:
                    cfg["learning_rate"] *= self.lr_decay
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(lr)
        if val_acc > self.best_val_acc or self.epoch == 1:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self.best_buffers = {k: v.copy() for k, v in self.model.buffers().items()}
            improved = True
        else:
            improved = False
        if self.verbose:
            bar.write(
                f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                f"val_acc: {val_acc:f}; loss {np.mean(epoch_losses):f}; lr {lr:.3g}"
            )
        if self.out_dir is not None:
            record = {
                "epoch": self.epoch,
                "loss": float(np.mean(epoch_losses)),
                "train_acc": train_acc,
                "val_acc": val_acc,
                "lr": lr,
                "seconds": round(seconds, 4),
                "update_ratio": self.update_ratio_history[-1],
            }
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # The metrics line goes first: after a crash before the checkpoint, resuming
            # trims it and trains that epoch again.
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if improved:
                self._save(self.out_dir / "best", best_only=True)
            self._save(self.out_dir / "last")

    def _trim_metrics(self):
        """Keeps only the metrics.jsonl lines of epochs the checkpoint covers (none if fresh)."""
        path = self.out_dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["epoch"] <= self.epoch]
        if len(kept) != len(lines):
            atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Accuracy of the model on (X, y), on a fixed seeded subsample of ``num_samples``.

        Args:
            X: (N, ...) inputs.
            y: (N,) labels.
            num_samples: subsample size, or None for all of X.
            batch_size: examples per forward pass.

        Returns:
            acc: fraction of correctly classified examples.
        """
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            sub_seed = None if self.seed is None else self.seed + 1
            idx = np.random.default_rng(sub_seed).choice(n, num_samples, replace=False)
            X, y = X[idx], y[idx]
        y_pred = predict(self.model, X, batch_size)
        return float(np.mean(y_pred == np.asarray(y)))

    # --------------------------------------------------------------------- checkpoint state
    def _snapshot(self):
        return (
            {k: v.copy() for k, v in self.model.params.items()},
            {k: v.copy() for k, v in self.model.buffers().items()},
        )

    def _restore(self, snap):
        params, buffers = snap
        self.model.params = params
        self.model.load_buffers(buffers)

    def _save(self, stem, best_only=False):
        arrays = {f"params/{k}": v for k, v in self.best_params.items()}
        arrays.update({f"buffers/{k}": v for k, v in self.best_buffers.items()})
        meta = {"epoch": self.epoch, "best_val_acc": self.best_val_acc}
        if not best_only:
            arrays = {f"best/{k}": v for k, v in arrays.items()}
            arrays.update({f"params/{k}": v for k, v in self.model.params.items()})
            arrays.update({f"buffers/{k}": v for k, v in self.model.buffers().items()})
            optim_scalars = {}
            for p, cfg in self.optim_configs.items():
                optim_scalars[p] = {}
                for key, value in cfg.items():
                    if isinstance(value, np.ndarray):
                        arrays[f"optim/{p}/{key}"] = value
                    else:
                        optim_scalars[p][key] = value
            meta.update(
                optim=optim_scalars,
                rng=self.rng.bit_generator.state,
                model_rng=self.model.rng.bit_generator.state,
                initial_loss=self.initial_loss,
                history={
                    "loss": self.loss_history,
                    "train_acc": self.train_acc_history,
                    "val_acc": self.val_acc_history,
                    "lr": self.lr_history,
                    "update_ratio": self.update_ratio_history,
                },
            )
        save_checkpoint(stem, arrays, meta)

    def _load(self, stem):
        """Restores every piece of training state saved by ``_save``."""
        arrays, meta = load_checkpoint(stem)

        def group(prefix):
            n = len(prefix)
            return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.model.params = group("params/")
        self.model.load_buffers(group("buffers/"))
        self.best_params = group("best/params/")
        self.best_buffers = group("best/buffers/")
        self.epoch = meta["epoch"]
        self.best_val_acc = meta["best_val_acc"]
        self.initial_loss = meta["initial_loss"]
        self.optim_configs = {p: dict(s) for p, s in meta["optim"].items()}
        for key, value in group("optim/").items():
            p, name = key.split("/", 1)
            self.optim_configs[p][name] = value
        self.rng.bit_generator.state = meta["rng"]
        self.model.rng.bit_generator.state = meta["model_rng"]
        h = meta["history"]
        self.loss_history, self.train_acc_history = h["loss"], h["train_acc"]
        self.val_acc_history, self.lr_history = h["val_acc"], h["lr"]
        self.update_ratio_history = h["update_ratio"]


def check_divergence(loss, initial_loss, explode_factor, epoch, iteration, out_dir=None):
    """Raises TrainingDivergedError when ``loss`` is NaN/inf or above ``explode_factor`` times
    ``initial_loss`` (the classic babysitting rule); shared by the Solver and the torch Trainer.

    Args:
        loss: this iteration's loss.
        initial_loss: the first iteration's loss.
        explode_factor: how many times the initial loss counts as exploded.
        epoch: completed epochs (the message names epoch + 1).
        iteration: the global iteration number.
        out_dir: the run directory, if checkpoints are kept (the message says so).
    """
    bad = not np.isfinite(loss)
    if not bad and loss <= explode_factor * initial_loss:
        return
    if bad:
        what = "became NaN/inf"
    else:
        what = f"exploded to {loss:.4g} (> {explode_factor:g} x the initial {initial_loss:.4g})"
    kept = " The last good checkpoint is kept." if out_dir is not None else ""
    raise TrainingDivergedError(
        f"training stopped at epoch {epoch + 1}, iteration {iteration}: the loss {what}. "
        f"Lower the learning rate or check the data.{kept}"
    )


def predict(model, X, batch_size=100):
    """Predicted labels (N,) of ``model`` for X, in test mode, in batches."""
    preds = [
        np.argmax(model.loss(X[i : i + batch_size]), axis=1)
        for i in range(0, X.shape[0], batch_size)
    ]
    return np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)


class _NoBar:
    def update(self, n):
        pass

    def write(self, s):
        print(s)

    def close(self):
        pass


def _progress(total, initial, enabled):
    """A tqdm bar on a terminal, else an object with the same three methods that only prints."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, leave=False, dynamic_ncols=True)
    return _NoBar()
