"""The one training core: run directory, metrics log, checkpoints, exact resume, the epoch loop.

NumPy only (it imports without torch). The NumPy ``Solver``, the torch ``Trainer`` and the
classic runners are built on it, and so is any new loop (a captioning solver, a GAN's
alternating updates, SSL pretraining, an RL agent's episodes): subclass ``EpochLoop`` and
write only the step and what an epoch logs. ``visionblocks.training.example.LineFit`` is the
worked example (docs/training_core.md explains it line by line)::

    class LineFit(EpochLoop):
        monitor, higher_is_better = "val_mse", False       # what picks the best epoch

        def __init__(self, x, y, x_val, y_val, lr=0.1, epochs=5, seed=0, **loop):
            ...                                             # data, weights, generators
            self.setup_loop(num_epochs=epochs, **loop)      # out_dir=, resume=, hooks=, ...
            self.start_loop()                               # resumes from out_dir/last

        def batches(self):                                  # one epoch's minibatches
            ...
        def step(self, idx, iteration):                     # one update -> its loss
            ...
        def end_epoch(self, losses, train_seconds):         # what the epoch logs
            return {"loss": float(np.mean(losses)), "val_mse": ...}

        def model_state(self): return {"w": self.w.copy()}  # the weights best/last keep
        def load_model_state(self, arrays): self.w = arrays["w"].copy()
        def rank_state(self): return {"rng": state.generator_state(self.rng)}
        def load_rank_state(self, s): state.set_generator_state(self.rng, s["rng"])

    fit = LineFit(x, y, x_val, y_val, out_dir="runs/line").train()
    # runs/line: metrics.jsonl (one line per epoch), last.npz/.json, best.npz/.json

The loop then gives: the divergence stop (NaN/inf or exploding loss restores the epoch's
starting weights and raises ``TrainingDivergedError``), the progress bar, ``metrics.jsonl``
(trimmed to the checkpoint on resume), best/last keeping (``keep=``), atomic checkpoints with
every process's random generators (``rank_state``; under data parallelism each rank's own),
exact resume, and report hooks ``hook(loop, record)`` after every epoch.

Pieces usable on their own: ``open_run_dir`` / ``check_run_dir`` / ``saved_config`` /
``check_resume_options`` / ``write_summary`` (the run directory), ``MetricsLog``,
``state.flatten`` / ``state.unflatten`` (nested training state as checkpoint arrays + JSON)
and ``check_divergence``.
"""

from visionblocks.training.loop import EpochLoop, check_divergence, format_record, progress
from visionblocks.training.rundir import (
    RESUMABLE_OPTIONS,
    MetricsLog,
    check_resume_options,
    check_run_dir,
    open_run_dir,
    saved_config,
    write_summary,
)
from visionblocks.training.state import SingleProcess

__all__ = [
    "RESUMABLE_OPTIONS",
    "EpochLoop",
    "MetricsLog",
    "SingleProcess",
    "check_divergence",
    "check_resume_options",
    "check_run_dir",
    "format_record",
    "open_run_dir",
    "progress",
    "saved_config",
    "write_summary",
]
