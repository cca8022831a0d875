"""``compare_runs``: a table of several runs' key figures and their overlaid training curves."""

from __future__ import annotations

import os
from pathlib import Path

from visionblocks.checkpoint import atomic_write_bytes
from visionblocks.report.build import figure_png
from visionblocks.report.plots import plot_compare
from visionblocks.report.rundata import RunRecord, read_run

#: (header, function of a RunRecord giving the cell) of the comparison table.
COLUMNS = [
    ("run", lambda r: r.name),
    ("data", lambda r: r.summary.get("data", r.config.get("data"))),
    ("model", lambda r: r.summary.get("model", r.config.get("model"))),
    ("epochs", lambda r: r.num_epochs or r.summary.get("epochs")),
    ("params", lambda r: r.summary.get("num_params")),
    ("final loss", lambda r: None if r.loss is None else float(r.loss[-1])),
    ("train acc", lambda r: None if r.train_acc is None else float(r.train_acc[-1])),
    ("best val acc", lambda r: r.summary.get("best_val_accuracy", _max(r.val_acc))),
    ("test acc", lambda r: r.summary.get("test_accuracy")),
    ("seconds", lambda r: r.summary.get("train_seconds")),
]


def _max(values):
    return None if values is None else float(max(values))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def run_labels(runs: list[RunRecord]) -> list[str]:
    """Short unique names: the folder name, with its parent where two names collide."""
    names = [r.name for r in runs]
    return [
        f"{r.run_dir.resolve().parent.name}/{n}" if names.count(n) > 1 else n
        for r, n in zip(runs, names)
    ]


def format_table(runs: list[RunRecord]) -> str:
    """The key figures of each run, one row per run, as aligned plain text."""
    labels = run_labels(runs)
    rows = [[h for h, _ in COLUMNS]]
    for run, label in zip(runs, labels):
        rows.append([label] + [_cell(f(run)) for _, f in COLUMNS[1:]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for k, row in enumerate(rows):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_runs(run_dirs, out="compare.png") -> tuple[str, Path]:
    """Reads several runs, returns their table and writes their overlaid curves.

    Args:
        run_dirs: run directories.
        out: path of the PNG with loss, train and validation accuracy per epoch.

    Returns:
        (the table text, the PNG path).
    """
    runs = [read_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("compare needs at least one run directory")
    out = Path(out)
    atomic_write_bytes(out, figure_png(plot_compare(runs, run_labels(runs))))
    os.chmod(out, 0o644)
    return format_table(runs), out
