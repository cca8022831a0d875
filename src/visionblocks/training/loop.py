"""``EpochLoop``: the epoch loop every trainer shares, with checkpoints, exact resume and stops.

A subclass supplies its step and what it logs; the loop does the rest (see the package
docstring for a worked example): the per-epoch minibatch loop, the divergence stop, the
progress bar, ``metrics.jsonl``, best/last keeping, the ``last``/``best`` checkpoints with
every random generator of every process, resume, and the report hooks.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from visionblocks.errors import TrainingDivergedError
from visionblocks.training import state as S
from visionblocks.training.rundir import MetricsLog

_NOT_HISTORY = ("epoch", "seconds", "loss")  # the per-step loss history is kept apart
_RANK = re.compile(r"^rank\d+/")


class EpochLoop:
    """Base class of a training loop: implement the hooks below, call ``setup_loop`` and
    ``start_loop`` from ``__init__``, then ``train()``.

    Hooks a loop implements:
        ``batches()``: the iterable of one epoch's minibatches (anything ``step`` takes).
        ``step(batch, iteration) -> float``: one update; returns its loss.
        ``end_epoch(losses, train_seconds) -> dict``: what the epoch logs (``self.epoch`` is
            already the number of the finished epoch); must hold ``self.monitor`` (None
            when there is nothing to select on: the last epoch is kept).
        ``model_state() -> dict[str, ndarray]``: a copy of the weights (what ``best`` keeps).
        ``load_model_state(arrays)``: puts such a copy into the model.
    Optional hooks:
        ``steps_per_epoch()`` (for the progress bar), ``train_state()`` and
        ``load_train_state(state)`` (optimizer state: a nested dict of arrays and JSON values),
        ``rank_state()`` and ``load_rank_state(state)`` (this process's random generators),
        ``session()`` (a context around the whole loop), ``begin_epoch()``, ``model_layout()``
        (what a resumed checkpoint is checked against).
    """

    #: the record key that picks the best epoch, and whether higher is better
    monitor = "val_acc"
    higher_is_better = True
    #: extra JSON written into both checkpoints (e.g. the engine)
    checkpoint_meta: dict = {}

    # ------------------------------------------------------------------------ set-up
    def setup_loop(self, *, num_epochs, out_dir=None, resume=False, explode_factor=3.0,
                   verbose=True, print_every=0, keep="best", processes=None, hooks=()):  # fmt: skip
        """Stores the loop's options (the loop's own constructor checks its own options first).

        Args:
            num_epochs: epochs to train in all (a resumed run continues to this).
            out_dir: run directory for metrics.jsonl and checkpoints (None: no files).
            resume: continue from ``out_dir/last`` when it exists.
            explode_factor: stop when the loss exceeds this times the first loss.
            verbose: print progress (and a progress bar on a terminal).
            print_every: print the loss every this many iterations (0: never).
            keep: 'best' (the epoch with the highest ``monitor``) or 'last'.
            processes: ``SingleProcess()`` or a data-parallel context with the same members.
            hooks: callables ``hook(loop, record)`` run after each epoch is saved.
        """
        if keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
        self.num_epochs = int(num_epochs)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume, self.explode_factor, self.keep = resume, explode_factor, keep
        self.verbose, self.print_every = verbose, print_every
        self.processes = processes if processes is not None else S.SingleProcess()
        self.hooks = list(hooks)

    def start_loop(self):
        """Resets the bookkeeping, then (resuming) restores ``out_dir/last``; trims the log."""
        self.epoch, self.best_epoch, self.best_score = 0, 0, None
        self.initial_loss = None
        self.loss_history: list[float] = []
        self.epoch_history: dict[str, list] = {}
        self.best_state = S.copy_arrays(self.model_state())
        if self.out_dir is None:
            return
        if self.resume and self.checkpoint_exists():
            self.load(self.out_dir / "last")
        elif self.resume:
            self.say(f"resuming: {self.out_dir} holds no checkpoint yet; starting at epoch 1")
        if self.processes.is_main:
            MetricsLog(self.out_dir / "metrics.jsonl").trim(self.epoch)

    def checkpoint_exists(self) -> bool:
        """Whether ``out_dir/last`` exists (a data-parallel loop checks all ranks agree)."""
        return (self.out_dir / "last.json").exists()

    def say(self, text: str) -> None:
        """Prints ``text`` on the main process when verbose."""
        if self.verbose and self.processes.is_main:
            print(text)

    # ------------------------------------------------------------------ default hooks
    def steps_per_epoch(self):
        return None

    def model_layout(self) -> dict:
        """The arrays whose names and shapes a checkpoint must match (default: the whole
        ``model_state``; a model whose buffers appear on the first forward pass narrows it)."""
        return self.model_state()

    def train_state(self) -> dict:
        return {}

    def load_train_state(self, state: dict) -> None:
        pass

    def rank_state(self) -> dict:
        return {}

    def load_rank_state(self, state: dict) -> None:
        pass

    def session(self):
        return contextlib.nullcontext()

    def begin_epoch(self) -> None:
        pass

    def epoch_line(self, record: dict) -> str:
        """The line printed after an epoch (default: every scalar of the record)."""
        return format_record(record, self.num_epochs)

    def history(self, key: str) -> list:
        """The per-epoch values logged under ``key`` (a live list)."""
        return self.epoch_history.setdefault(key, [])

    # ----------------------------------------------------------------------- training
    def check_loss(self, loss: float, iteration: int) -> None:
        """Raises TrainingDivergedError when ``loss`` is NaN/inf or exploded (see
        ``check_divergence``); the first loss checked is the reference."""
        if self.initial_loss is None:
            self.initial_loss = float(loss)
        saved = None
        if self.out_dir is not None:
            saved = self.epoch
        check_divergence(loss, self.initial_loss, self.explode_factor, self.epoch, iteration,
                         saved_epoch=saved)  # fmt: skip

    def train(self):
        """Runs the epochs left; at the end the model holds the kept (best or last) weights.

        Raises:
            TrainingDivergedError: the loss became NaN/inf or exploded; the model is restored
                to the end of the last good epoch.
        """
        per_epoch = self.steps_per_epoch()
        total = None if per_epoch is None else self.num_epochs * per_epoch
        initial = 0 if per_epoch is None else self.epoch * per_epoch
        bar = progress(total, initial, self.verbose and self.processes.is_main)
        try:
            with self.session():
                while self.epoch < self.num_epochs:
                    self._run_epoch(per_epoch, bar)
        finally:
            bar.close()
        self.load_model_state(S.copy_arrays(self.best_state))
        return self

    def _run_epoch(self, per_epoch, bar):
        start = time.perf_counter()
        good = S.copy_arrays(self.model_state())
        self.begin_epoch()
        losses: list[float] = []
        iteration = len(self.loss_history)  # global: one loss per step, restored on resume
        for batch in self.batches():
            try:
                loss = float(self.step(batch, iteration))
                self.check_loss(loss, iteration)
            except TrainingDivergedError:
                self.load_model_state(good)
                raise
            self.loss_history.append(loss)
            losses.append(loss)
            bar.update(1)
            if self.verbose and self.print_every and iteration % self.print_every == 0:
                of = f" / {self.num_epochs * per_epoch}" if per_epoch else ""
                bar.write(f"(Iteration {iteration + 1}{of}) loss: {loss:f}")
            iteration += 1
        train_seconds = time.perf_counter() - start
        self.epoch += 1
        record = self.end_epoch(losses, train_seconds)
        self._finish_epoch(record, start, bar)

    def _finish_epoch(self, record: dict, start: float, bar) -> None:
        score = record.get(self.monitor)
        improved = (self.keep == "last" or score is None or self.epoch == 1
                    or self.best_score is None
                    or (score > self.best_score if self.higher_is_better
                        else score < self.best_score))  # fmt: skip
        if improved:
            self.best_score, self.best_epoch = score, self.epoch
            self.best_state = S.copy_arrays(self.model_state())
        for key, value in record.items():
            if key not in _NOT_HISTORY:
                self.history(key).append(value)
        record = {"epoch": self.epoch, **record, "seconds": round(time.perf_counter() - start, 4)}
        if self.verbose and self.processes.is_main:
            bar.write(self.epoch_line(record))
        if self.out_dir is not None:
            if self.processes.is_main:
                # The metrics line goes first: after a crash before the checkpoint, resuming
                # trims it and trains that epoch again.
                MetricsLog(self.out_dir / "metrics.jsonl").append(record)
            if improved and self.processes.is_main:
                self.save(self.out_dir / "best", best_only=True)
            self.save(self.out_dir / "last")
        for hook in self.hooks:
            hook(self, record)
        self.processes.barrier()

    # ------------------------------------------------------------------- checkpoints
    def _meta(self) -> dict:
        return {"epoch": self.epoch, f"best_{self.monitor}": self.best_score,
                "best_epoch": self.best_epoch, "loop": type(self).__name__,
                **self.checkpoint_meta}  # fmt: skip

    def save(self, stem, best_only=False) -> None:
        """Writes ``stem``: the kept weights (``best_only``) or the whole training state.

        Every process takes part in a full save (their random states are gathered); only the
        main process writes.
        """
        if best_only:
            save_checkpoint(stem, self.best_state, self._meta())
            return
        ranks = self.processes.all_gather(S.flatten(self.rank_state()))
        if not self.processes.is_main:
            return
        model = self.model_state()
        arrays, meta = S.flatten(self.train_state())
        clash = sorted(set(arrays) & set(model))
        if clash:
            raise ValueError(f"train_state arrays {clash} clash with model_state names")
        arrays.update(model)
        arrays.update({f"best/{k}": v for k, v in self.best_state.items()})
        for r, (rank_arrays, _) in enumerate(ranks):
            arrays.update({f"rank{r}/{k}": v for k, v in rank_arrays.items()})
        history = {"loss": self.loss_history, **self.epoch_history}
        meta.update(self._meta(), model_keys=sorted(model), initial_loss=self.initial_loss,
                    history=history, world_size=len(ranks),
                    ranks=[m for _, m in ranks])  # fmt: skip
        save_checkpoint(stem, arrays, meta)

    def load(self, stem) -> None:
        """Restores every piece of training state ``save`` wrote (this process's own RNGs)."""
        arrays, meta = load_checkpoint(stem)
        if meta.get("loop") != type(self).__name__:
            raise CheckpointError(f"checkpoint {stem} was written by {meta.get('loop')!r}, "
                                  f"not {type(self).__name__!r}")  # fmt: skip
        keys = meta["model_keys"]
        model = {k: arrays[k] for k in keys if k in arrays}
        layout = self.model_layout()
        S.check_same_layout(layout, {k: v for k, v in model.items() if k in layout}, stem)
        rank = self.processes.rank
        rank_meta = S.rank_entry(meta, self.processes.world_size, rank, stem)
        self.load_model_state(S.copy_arrays(model))
        self.best_state = S.group(arrays, "best/")
        rest = {k: v for k, v in arrays.items()
                if k not in model and not k.startswith("best/") and not _RANK.match(k)}  # fmt: skip
        self.load_train_state(S.unflatten(rest, meta))
        self.load_rank_state(S.unflatten(S.group(arrays, f"rank{rank}/"), rank_meta))
        self.epoch, self.best_epoch = meta["epoch"], meta["best_epoch"]
        self.best_score = meta[f"best_{self.monitor}"]
        self.initial_loss = meta["initial_loss"]
        history = dict(meta["history"])
        self.loss_history = list(history.pop("loss"))
        self.epoch_history = {k: list(v) for k, v in history.items()}
        self.say(f"resuming from epoch {self.epoch} of {self.num_epochs} ({stem})")


def format_record(record: dict, num_epochs: int) -> str:
    """One printed line for an epoch's record: ``(Epoch 3 / 10) loss 0.41; val_acc 0.93; ...``."""
    parts = []
    for key, value in record.items():
        if key in ("epoch", "seconds") or isinstance(value, dict | list):
            continue
        if value is None:
            parts.append(f"{key} n/a")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.6g}")
        else:
            parts.append(f"{key} {value}")
    return f"(Epoch {record['epoch']} / {num_epochs}) " + "; ".join(parts)


def check_divergence(loss, initial_loss, explode_factor, epoch, iteration, out_dir=None,
                     saved_epoch=None):  # fmt: skip
    """Raises TrainingDivergedError when ``loss`` is NaN/inf or above ``explode_factor`` times
    ``initial_loss`` (the classic babysitting rule).

    Args:
        loss: this iteration's loss.
        initial_loss: the first iteration's loss.
        explode_factor: how many times the initial loss counts as exploded.
        epoch: completed epochs (the message names epoch + 1).
        iteration: the global iteration number.
        out_dir: the run directory, if checkpoints are kept (then ``epoch`` of them exist).
        saved_epoch: the epoch of the last checkpoint on disk, or None when none is kept; 0
            means a run directory whose first epoch has not been saved yet.
    """
    bad = not np.isfinite(loss)
    if not bad and loss <= explode_factor * initial_loss:
        return
    if bad:
        what = "became NaN/inf"
    else:
        what = f"exploded to {loss:.4g} (> {explode_factor:g} x the initial {initial_loss:.4g})"
    if saved_epoch is None and out_dir is not None:
        saved_epoch = epoch
    if saved_epoch is None:
        kept = ""
    elif saved_epoch == 0:
        kept = " No checkpoint was written: the run diverged in its first epoch."
    else:
        kept = f" The last good checkpoint (epoch {saved_epoch}) is kept."
    raise TrainingDivergedError(
        f"training stopped at epoch {epoch + 1}, iteration {iteration}: the loss {what}. "
        f"Lower the learning rate or check the data.{kept}"
    )


class _NoBar:
    def update(self, n):
        pass

    def write(self, s):
        print(s)

    def close(self):
        pass


def progress(total, initial, enabled):
    """A tqdm bar on a terminal, else an object with the same three methods that only prints."""
    if enabled and sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional: print without a bar
            return _NoBar()
        return tqdm(total=total, initial=initial, leave=False, dynamic_ncols=True)
    return _NoBar()
