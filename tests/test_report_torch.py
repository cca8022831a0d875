"""Reports of PyTorch-engine runs: the same plots, from the torch trainer's records."""

from __future__ import annotations

import numpy as np
import pytest

from visionblocks.config import config_from_dict
from visionblocks.report import make_report
from visionblocks.report.rundata import load_predictions
from visionblocks.runs import train_run

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_report_of_a_torch_run(tmp_path):
    out = tmp_path / "torch-run"
    cfg = {"data": "digits", "engine": "torch", "hidden_dims": [16], "epochs": 2}
    summary = train_run(config_from_dict({**cfg, "print_every": 0, "out": str(out)}))
    preds = load_predictions(out)
    assert np.mean(preds.y_true == preds.y_pred) == pytest.approx(summary["test_accuracy"])
    assert preds.first_layer.shape == (64, 16)  # torch's (out, in) shown as (in, out)
    report = make_report(out, dpi=40)
    # Everything but the update/weight ratios, which the torch trainer may not record.
    assert set(report.skipped) <= {"update_ratio"}
    if report.skipped:
        assert "no update/weight ratios" in report.html_path.read_text()
