"""Training-curve figures of a run: loss, accuracy, learning rate and update/weight ratios.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no GUI backend, no
global state), with one labelled ``Line2D`` per curve so tests can count and read them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from visionblocks.report.rundata import layer_order

FIGSIZE = (6.4, 3.8)
#: The rule of thumb: updates about a thousandth of the weights mean a healthy learning rate.
RATIO_RULE = 1e-3


def new_axes(figsize=FIGSIZE):
    """A fresh figure with one axes, laid out to fit its labels."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def integer_x(ax) -> None:
    """Ticks only at whole numbers on the x axis (epochs)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def auto_weight(n: int) -> float:
    """Smoothing weight that averages over roughly the last tenth of ``n`` points (max 0.98)."""
    return float(min(0.98, max(0.0, 1.0 - 10.0 / max(n, 1))))


def smooth(values, weight=None) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing).

    Args:
        values: (T,) a curve.
        weight: in [0, 1); the share of the running average kept at each step
            (None: ``auto_weight(T)``).

    Returns:
        (T,) the smoothed curve; ``weight=0`` returns the values unchanged.
    """
    values = np.asarray(values, dtype=np.float64)
    weight = auto_weight(len(values)) if weight is None else float(weight)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight must be in [0, 1), got {weight}")
    out = np.empty_like(values)
    avg = 0.0
    for t, v in enumerate(values):
        avg = weight * avg + (1.0 - weight) * v
        out[t] = avg / (1.0 - weight ** (t + 1))  # undo the bias towards the zero start
    return out


def plot_loss(loss, per="iteration", weight=None) -> Figure:
    """Training loss with its smoothed line.

    Args:
        loss: (T,) loss per iteration (or per epoch when ``per='epoch'``).
        per: 'iteration' or 'epoch'.
        weight: smoothing weight (None: ``auto_weight``).
    """
    loss = np.asarray(loss, dtype=np.float64)
    fig, ax = new_axes()
    x = np.arange(1, len(loss) + 1)
    if per == "iteration" and len(loss) > 1:
        w = auto_weight(len(loss)) if weight is None else weight
        ax.plot(x, loss, color="tab:blue", alpha=0.3, lw=0.8, label="loss per iteration")
        ax.plot(x, smooth(loss, w), color="tab:blue", lw=2, label=f"smoothed (EMA {w:.2f})")
    else:
        ax.plot(x, loss, color="tab:blue", marker="o", label=f"loss per {per}")
    ax.set(title="Training loss", xlabel=per, ylabel="loss")
    integer_x(ax)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_accuracy(train_acc=None, val_acc=None) -> Figure:
    """Train and validation accuracy per epoch, with the best validation epoch marked.

    Args:
        train_acc: (E,) or None.
        val_acc: (E,) or None.
    """
    fig, ax = new_axes()
    for values, label, color in ((train_acc, "train", "tab:blue"), (val_acc, "val", "tab:orange")):
        if values is not None:
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", color=color, label=label)
    if val_acc is not None and len(val_acc):
        best = int(np.argmax(val_acc))
        right_half = best + 1 > (len(val_acc) + 1) / 2
        ax.annotate(
            f"best val {val_acc[best]:.4f} (epoch {best + 1})",
            (best + 1, val_acc[best]),
            xytext=(-8 if right_half else 8, -30),
            textcoords="offset points",
            ha="right" if right_half else "left",
            arrowprops={"arrowstyle": "->", "color": "0.3"},
        )
    ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    integer_x(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_lr(lr) -> Figure:
    """Learning rate used in each epoch (log scale when positive).

    Args:
        lr: (E,) the learning rate at the end of each epoch.
    """
    lr = np.asarray(lr, dtype=np.float64)
    fig, ax = new_axes()
    ax.plot(np.arange(1, len(lr) + 1), lr, marker="o", color="tab:green", label="learning rate")
    if np.all(lr > 0):
        ax.set_yscale("log")
    ax.set(title="Learning rate", xlabel="epoch", ylabel="learning rate")
    integer_x(ax)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_update_ratio(update_ratio: list[dict]) -> Figure:
    """Ratio of update size to weight size, ||dW|| / ||W||, per layer and epoch.

    Args:
        update_ratio: per epoch, {layer name: ratio} (measured on the epoch's last step).
    """
    layers = sorted({k for r in update_ratio for k in r}, key=layer_order)
    fig, ax = new_axes()
    x = np.arange(1, len(update_ratio) + 1)
    for name in layers:
        y = np.array([r.get(name, np.nan) for r in update_ratio], dtype=np.float64)
        y[~(y > 0)] = np.nan  # log scale: zero or missing shows as a gap
        ax.plot(x, y, marker="o", ms=3, label=name)
    ax.axhline(RATIO_RULE, color="0.4", ls="--", label="1e-3 rule of thumb")
    ax.set_yscale("log")
    integer_x(ax)
    ax.set(
        title="Update / weight ratio per layer",
        xlabel="epoch (last step)",
        ylabel="||update|| / ||W||",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncols=2 if len(layers) > 4 else 1)
    return fig


def plot_compare(runs, labels) -> Figure:
    """Overlaid curves of several runs: smoothed loss, train and validation accuracy by epoch.

    Args:
        runs: RunRecords.
        labels: one legend label per run.
    """
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax_loss, ax_train, ax_val = fig.subplots(1, 3)
    for run, label in zip(runs, labels):
        if run.loss is not None and len(run.loss):
            epochs = max(run.num_epochs, 1)
            y = smooth(run.loss) if run.loss_per == "iteration" else run.loss
            x = np.arange(1, len(y) + 1) * (epochs / len(y))  # iterations as fractions of epochs
            ax_loss.plot(x, y, label=label)
        for ax, values in ((ax_train, run.train_acc), (ax_val, run.val_acc)):
            if values is not None:
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=label)
    ax_loss.set(title="Training loss (smoothed)", xlabel="epoch", ylabel="loss")
    ax_train.set(title="Train accuracy", xlabel="epoch", ylabel="accuracy")
    ax_val.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_train, ax_val):
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize="small")
    return fig
