"""Figures of a GAN run: the D and G losses apart (per iteration, smoothed) and the
sample-quality measures per epoch, written to ``RUN/plots/gan_*.png`` after every epoch.

(Matplotlib only: importing ``visionblocks.report`` here would close an import cycle through
``report.rundata`` -> ``runs`` -> ``config`` -> the GAN descriptions.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["QUALITY_KEYS", "plot_gan_losses", "plot_gan_quality", "smooth", "write_gan_plots"]

QUALITY_KEYS = ("precision", "recall", "density", "coverage")


def _axes():
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    return fig, fig.add_subplot()


def smooth(values, weight=None) -> np.ndarray:
    """Debiased exponential moving average; ``weight`` None: about the last tenth of the
    points."""
    values = np.asarray(values, dtype=np.float64)
    if weight is None:
        weight = min(0.98, max(0.0, 1.0 - 10.0 / max(len(values), 1)))
    out, avg = np.empty_like(values), 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1)) if weight > 0 else v
    return out


def plot_gan_losses(d_history, g_history, n_critic=1) -> Figure:
    """D and G losses per iteration (faint) with their smoothed lines.

    Args:
        d_history: (T,) the discriminator loss of every iteration.
        g_history: (T // n_critic,) the generator loss of every generator step.
        n_critic: D steps per G step (places the G points on the iteration axis).
    """
    fig, ax = _axes()
    for name, values, step in (("D", d_history, 1), ("G", g_history, n_critic)):
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            continue
        x = (np.arange(len(values)) + 1) * step
        (line,) = ax.plot(x, values, alpha=0.25, linewidth=0.8)
        ax.plot(x, smooth(values), color=line.get_color(), label=f"{name} loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.legend()
    return fig


def plot_gan_quality(epoch_history) -> Figure | None:
    """FD (left axis) and precision / recall / density / coverage (right axis) per epoch;
    None when the run logged no quality measures."""
    fd = epoch_history.get("fd")
    if not fd:
        return None
    fig, ax = _axes()
    epochs = np.arange(1, len(fd) + 1)
    ax.plot(epochs, fd, "k-o", label="FD")
    ax.set_xlabel("epoch")
    ax.set_ylabel("Fréchet distance (own classifier)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right = ax.twinx()
    for key in QUALITY_KEYS:
        if epoch_history.get(key):
            right.plot(epochs, epoch_history[key], "--.", label=key)
    right.set_ylabel("PRDC")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="best")
    return fig


def write_gan_plots(loop, record=None) -> list[Path]:
    """A ``GANLoop`` hook: writes ``plots/gan_losses.png`` and (with quality measures)
    ``plots/gan_quality.png`` into the run directory."""
    if loop.out_dir is None or not loop.processes.is_main:
        return []
    folder = Path(loop.out_dir) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    figures = {"gan_losses": plot_gan_losses(loop.d_history, loop.g_history, loop.n_critic),
               "gan_quality": plot_gan_quality(loop.epoch_history)}  # fmt: skip
    for name, fig in figures.items():
        if fig is not None:
            fig.savefig(folder / f"{name}.png", dpi=100)
            written.append(folder / f"{name}.png")
    return written
