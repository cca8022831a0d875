"""The scalars of a run directory as TensorBoard event files (optional: torch + tensorboard).

Tags: ``loss/iteration`` (step = iteration) or ``loss/epoch``, ``accuracy/train``,
``accuracy/val``, ``lr``, ``update_ratio/<layer>`` (step = epoch) and ``summary/<figure>``
for the numbers in ``summary.json``. View them with ``tensorboard --logdir RUN/tensorboard``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from visionblocks.errors import ConfigError
from visionblocks.report.rundata import RunRecord, layer_order, read_run

INSTALL = "pip install 'visionblocks[torch,tensorboard]'"


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch missing, or torch without the tensorboard package
        raise ConfigError(f"--tensorboard needs PyTorch and TensorBoard ({e}): {INSTALL}") from None
    return SummaryWriter


def scalars(run: RunRecord) -> list[tuple[str, float, int]]:
    """Every (tag, value, step) the run's records hold."""
    out = []
    if run.loss is not None:
        out += [(f"loss/{run.loss_per}", float(v), i + 1) for i, v in enumerate(run.loss)]
    for tag, values in (("accuracy/train", run.train_acc), ("accuracy/val", run.val_acc)):
        if values is not None:
            out += [(tag, float(v), e + 1) for e, v in enumerate(values)]
    if run.lr is not None:
        out += [("lr", float(v), e + 1) for e, v in enumerate(run.lr)]
    for e, ratios in enumerate(run.update_ratio or []):
        out += [
            (f"update_ratio/{k}", float(ratios[k]), e + 1) for k in sorted(ratios, key=layer_order)
        ]
    step = max(run.num_epochs, 1)
    for key, value in sorted(run.summary.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append((f"summary/{key}", float(value), step))
    return out


def export_tensorboard(run_dir, log_dir=None) -> Path:
    """Writes the run's scalars as a fresh TensorBoard log.

    Args:
        run_dir: a run directory.
        log_dir: output folder (default ``RUN/tensorboard``); its old contents are replaced.

    Returns:
        the log folder.

    Raises:
        ConfigError: PyTorch or TensorBoard is not installed.
    """
    writer_cls = _summary_writer()
    run = read_run(run_dir)
    log_dir = Path(log_dir) if log_dir is not None else run.run_dir / "tensorboard"
    if log_dir.exists():
        shutil.rmtree(log_dir)  # re-exporting must not double every curve
    writer = writer_cls(log_dir=str(log_dir))
    try:
        for tag, value, step in scalars(run):
            writer.add_scalar(tag, value, step)
    finally:
        writer.close()
    return log_dir
