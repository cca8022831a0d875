"""Experiment reports: plots and a self-contained HTML page per run, and run comparisons.

Names are imported on first use, so ``visionblocks --help`` does not pay for matplotlib.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Report": "visionblocks.report.build",
    "make_report": "visionblocks.report.build",
    "compare_runs": "visionblocks.report.compare",
    "export_tensorboard": "visionblocks.report.tensorboard",
    "RunRecord": "visionblocks.report.rundata",
    "read_run": "visionblocks.report.rundata",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'visionblocks.report' has no attribute {name!r}")
