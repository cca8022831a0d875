"""``make_report(run_dir)``: the plots of a run as PNGs in ``RUN/plots/`` and ``RUN/report.html``.

Each plot is drawn from what the run directory holds; a plot whose data is missing is skipped,
its stale PNG removed, and the page says why.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from visionblocks.checkpoint import atomic_write_bytes, load_checkpoint
from visionblocks.errors import VisionBlocksError
from visionblocks.report.html import Section, render_html
from visionblocks.report.images import (
    confusion_counts,
    plot_confusion,
    plot_first_layer,
    plot_misclassified,
    plot_per_class_accuracy,
)
from visionblocks.report.plots import (
    RATIO_RULE,
    plot_accuracy,
    plot_loss,
    plot_lr,
    plot_update_ratio,
)
from visionblocks.report.rundata import (
    Predictions,
    RunRecord,
    first_layer_weights,
    read_run,
    try_load_predictions,
)

#: key -> (title, caption, full width); the report shows them in this order.
PLOTS = {
    "loss": (
        "Training loss",
        "Minibatch loss per iteration with a debiased moving average.",
        False,
    ),
    "accuracy": ("Accuracy", "Train (subsample) and validation accuracy after each epoch.", False),
    "lr": ("Learning rate", "Learning rate in use at the end of each epoch.", False),
    "update_ratio": (
        "Update / weight ratio",
        f"||update|| / ||W|| per weight matrix at each epoch's last step; about {RATIO_RULE:g} "
        "suggests a healthy learning rate, far above it too high, far below too low.",
        False,
    ),
    "confusion": ("Confusion matrix", "Rows are true classes, normalised to sum to 1.", False),
    "per_class": ("Per-class accuracy", "Fraction of each true class predicted right.", False),
    "first_layer": (
        "First-layer weights",
        "Each tile is one unit's (or filter's) weights shaped as an input image, scaled to "
        "its own range.",
        False,
    ),
    "misclassified": ("Misclassified images", "The first mistakes of the best checkpoint.", True),
}


@dataclass
class Report:
    """What ``make_report`` wrote: the page, the PNG of each plot, and what was skipped."""

    html_path: Path
    plots: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def guess_input_shape(d: int) -> tuple[int, int, int] | None:
    """(C, H, W) of square gray or RGB images with ``d`` values, or None."""
    for c in (1, 3):
        side = int(round(np.sqrt(d / c)))
        if d % c == 0 and c * side * side == d:
            return (c, side, side)
    return None


def _checkpoint_first_layer(run_dir: Path):
    """(weights, input shape) from the best checkpoint alone, when the data cannot be loaded."""
    arrays, _ = load_checkpoint(run_dir / "best")
    params = {k[len("params/") :]: v for k, v in arrays.items() if k.startswith("params/")}
    w = first_layer_weights(params)
    if w is None:
        raise ValueError("the best checkpoint has no W1")
    shape = tuple(w.shape[1:]) if w.ndim == 4 else guess_input_shape(w.shape[0])
    if shape is None:
        raise ValueError(f"cannot tell the image shape of {w.shape[0]} inputs without the data")
    return w, shape


def build_figures(
    run: RunRecord, preds: Predictions | None, why: str | None, weight=None
) -> dict[str, Figure | str]:
    """Every plot of ``PLOTS`` as a Figure, or a string saying why it is skipped."""
    figs: dict[str, Figure | str] = {}
    figs["loss"] = (
        plot_loss(run.loss, run.loss_per, weight)
        if run.loss is not None
        else "no loss history in last.json or metrics.jsonl"
    )
    figs["accuracy"] = (
        plot_accuracy(run.train_acc, run.val_acc)
        if run.train_acc is not None or run.val_acc is not None
        else "no accuracy history in last.json or metrics.jsonl"
    )
    figs["lr"] = plot_lr(run.lr) if run.lr is not None else "no learning-rate history"
    figs["update_ratio"] = (
        plot_update_ratio(run.update_ratio)
        if run.update_ratio and any(run.update_ratio)
        else "no update/weight ratios recorded (they come from the Solver's history)"
    )
    if preds is None:
        reason = f"no predictions from the best checkpoint ({why})"
        for key in ("confusion", "per_class", "misclassified"):
            figs[key] = reason
    else:
        k = len(preds.class_names)
        cm = confusion_counts(preds.y_true, preds.y_pred, k)
        figs["confusion"] = plot_confusion(cm, preds.class_names)
        figs["per_class"] = plot_per_class_accuracy(cm, preds.class_names)
        try:
            figs["misclassified"] = plot_misclassified(
                preds.images, preds.y_true, preds.y_pred, preds.class_names
            )
        except ValueError as e:
            figs["misclassified"] = str(e)
    try:
        if preds is not None and preds.first_layer is not None:
            w, shape = preds.first_layer, preds.input_shape
        else:
            w, shape = _checkpoint_first_layer(run.run_dir)
        figs["first_layer"] = plot_first_layer(w, shape)
    except (VisionBlocksError, OSError, ValueError) as e:
        figs["first_layer"] = f"first-layer weights unavailable ({e})"
    return {key: figs[key] for key in PLOTS}


def _write(path: Path, data: bytes) -> None:
    """Writes atomically, readable by all (a report is meant to be shared)."""
    atomic_write_bytes(path, data)
    os.chmod(path, 0o644)


def figure_png(fig: Figure, dpi=100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


SUMMARY_KEYS = [
    ("test_accuracy", "test accuracy"),
    ("best_val_accuracy", "best validation accuracy"),
    ("final_train_accuracy", "final train accuracy"),
    ("epochs", "epochs"),
    ("num_params", "parameters"),
    ("train_seconds", "training seconds"),
    ("data", "data set"),
    ("model", "model"),
    ("num_train", "training examples"),
    ("num_val", "validation examples"),
    ("num_test", "test examples"),
]


def summary_rows(run: RunRecord, preds: Predictions | None) -> list[tuple[str, object]]:
    """Key figures: summary.json's, then the report's own accuracy of the best checkpoint."""
    s = run.summary
    rows = [(label, s[key]) for key, label in SUMMARY_KEYS if key in s]
    rows += [(k, v) for k, v in sorted(s.items()) if k not in dict(SUMMARY_KEYS)]
    if run.loss is not None:
        rows.append((f"final loss (last {run.loss_per})", float(run.loss[-1])))
    if preds is not None:
        acc = float(np.mean(preds.y_true == preds.y_pred))
        rows.append((f"best checkpoint accuracy on {preds.split} ({len(preds.y_true)})", acc))
    return rows


def make_report(run_dir, evaluate=True, weight=None, dpi=100) -> Report:
    """Writes ``RUN/plots/*.png`` and the self-contained ``RUN/report.html``.

    Args:
        run_dir: a run directory written by ``visionblocks train``.
        evaluate: predict with the best checkpoint (confusion matrix, per-class accuracy,
            misclassified images); needs the run's data set.
        weight: loss smoothing weight (None: automatic).
        dpi: resolution of the PNGs.

    Returns:
        a Report with the paths written and the reasons for skipped plots.
    """
    run = read_run(run_dir)
    run_dir = run.run_dir
    preds, why = try_load_predictions(run_dir) if evaluate else (None, "--no-eval")
    figs = build_figures(run, preds, why, weight)
    plots_dir = run_dir / "plots"
    report = Report(html_path=run_dir / "report.html", notes=list(run.notes))
    sections = []
    for key, fig in figs.items():
        title, caption, wide = PLOTS[key]
        if key == "loss" and run.loss_per == "epoch":
            caption = "Mean training loss per epoch (metrics.jsonl; no per-iteration history)."
        path = plots_dir / f"{key}.png"
        if isinstance(fig, Figure):
            png = figure_png(fig, dpi)
            _write(path, png)
            report.plots[key] = path
            sections.append(Section(key, title, caption, png=png, wide=wide))
        else:
            path.unlink(missing_ok=True)  # never show a stale plot from an earlier report
            report.skipped[key] = fig
            sections.append(Section(key, title, caption, skipped=fig, wide=wide))
    if preds is not None and preds.split == "val":
        report.notes.append("the run was trained with --no-test: predictions use validation")
    subtitle = f"{run_dir} — report written {time.strftime('%Y-%m-%d %H:%M')}"
    page = render_html(
        run.name, subtitle, summary_rows(run, preds), run.config, sections, report.notes
    )
    _write(report.html_path, page.encode("utf-8"))
    return report
