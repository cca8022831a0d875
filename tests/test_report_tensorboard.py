"""``report --tensorboard`` writes the run's scalars where TensorBoard reads them back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visionblocks.config import config_from_dict
from visionblocks.report.tensorboard import export_tensorboard
from visionblocks.runs import train_run

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
pytest.importorskip("torch.utils.tensorboard", reason="PyTorch is not installed")
pytestmark = pytest.mark.torch


def test_tensorboard_log_holds_the_same_scalars_as_the_run(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    cfg = {"data": "digits", "hidden_dims": [16], "epochs": 2, "print_every": 0, "out": str(out)}
    train_run(config_from_dict(cfg))
    export_tensorboard(out)
    log_dir = export_tensorboard(out)  # a second export replaces, never doubles, the curves
    assert log_dir == out / "tensorboard"
    events = EventAccumulator(str(log_dir))
    events.Reload()
    history = json.loads((out / "last.json").read_text())["history"]
    tags = set(events.Tags()["scalars"])
    assert {"loss/iteration", "accuracy/train", "accuracy/val", "lr", "update_ratio/W1"} <= tags
    assert "summary/test_accuracy" in tags
    loss = events.Scalars("loss/iteration")
    assert [e.step for e in loss] == list(range(1, len(history["loss"]) + 1))
    np.testing.assert_allclose([e.value for e in loss], history["loss"], rtol=1e-6)
    np.testing.assert_allclose(
        [e.value for e in events.Scalars("accuracy/val")], history["val_acc"], rtol=1e-6
    )
    ratios = [e.value for e in events.Scalars("update_ratio/W2")]
    np.testing.assert_allclose(ratios, [r["W2"] for r in history["update_ratio"]], rtol=1e-6)
