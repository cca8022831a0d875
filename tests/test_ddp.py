"""Data-parallel training: 2 processes under torchrun equal one process over the same batches."""

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.cli import main  # noqa: E402

pytestmark = pytest.mark.torch

# No batch norm here: DDP normalises each rank's half batch with its own statistics, so a BN
# net under DDP differs from one process over the whole batch (SyncBatchNorm would fix that).
ARGS = ["train", "--engine", "torch", "--data", "digits", "--num-train", "240", "--model", "fc",
        "--hidden-dims", "32", "--dropout-keep", "1", "--update-rule", "sgd_momentum",
        "--lr", "0.1", "--weight-decay", "1e-3", "--epochs", "2", "--batch-size", "40",
        "--augment", "crop,flip", "--print-every", "1000", "--seed", "3",
        "--device", "cpu"]  # fmt: skip


@contextlib.contextmanager
def _one_launch_at_a_time():
    """Serialises the torchrun launches of this machine's test runs (pytest -n 2, or another
    checkout's suite): --standalone picks a free port and binds it later, so two launches at
    once may race for it; on 2 cores they would only contend anyway."""
    with open(os.path.join(tempfile.gettempdir(), "visionblocks-torchrun.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def test_two_processes_end_identical_and_equal_to_one_process(tmp_path, capsys):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "visionblocks", *ARGS, "--out", str(tmp_path / "ddp")]  # fmt: skip
    with _one_launch_at_a_time():
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("test accuracy: 0.")
    assert sum(line.startswith("test accuracy") for line in lines) == 1  # only rank 0 prints
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["max_param_diff_across_ranks"] == 0.0  # both replicas hold the same weights

    torch.set_num_threads(1)
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test accuracy: 0.")
    ddp = np.load(tmp_path / "ddp" / "last.npz")
    one = np.load(tmp_path / "one" / "last.npz")
    keys = [k for k in one.files if k.startswith("params/")]
    assert keys
    for k in keys:  # the same global batches and mean gradients: equal up to float rounding
        np.testing.assert_allclose(ddp[k], one[k], rtol=1e-4, atol=1e-5, err_msg=k)
    m_ddp = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").open()]
    m_one = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").open()]
    for a, b in zip(m_ddp, m_one):  # metrics reduced over the ranks equal the single process's
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]


# Dropout draws differ per rank (each seeds seed + rank), so a resume is exact only when every
# rank gets back its own generator; loading rank 0's state on both ranks changes epoch 2.
DROPOUT = ["train", "--engine", "torch", "--data", "digits", "--num-train", "240", "--model", "fc",
           "--hidden-dims", "32", "--dropout-keep", "0.6", "--update-rule", "adamw",
           "--lr", "3e-3", "--lr-decay", "0.9", "--batch-size", "40", "--augment", "crop,flip",
           "--print-every", "1000", "--seed", "5", "--device", "cpu"]  # fmt: skip


def _torchrun(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "visionblocks", *args]  # fmt: skip
    with _one_launch_at_a_time():
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    errors = [x for x in proc.stderr.splitlines() if "error" in x.lower()]
    assert proc.returncode == 0, "\n".join(errors[:20]) + proc.stderr[-2000:]
    return proc.stdout


def test_two_process_resume_with_dropout_equals_the_uninterrupted_two_process_run(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    _torchrun(*DROPOUT, "--epochs", "2", "--out", str(full))
    _torchrun(*DROPOUT, "--epochs", "1", "--out", str(part))
    out = _torchrun(*DROPOUT, "--epochs", "2", "--out", str(part), "--resume")
    assert "resuming from epoch 1 of 2" in out
    a, b = np.load(full / "last.npz"), np.load(part / "last.npz")
    assert sorted(a.files) == sorted(b.files)
    assert {"rank0/torch", "rank1/torch"} <= set(a.files)  # each rank's own dropout generator
    assert not np.array_equal(a["rank0/torch"], a["rank1/torch"])
    assert any(k.startswith("params/") for k in a.files)
    for k in a.files:  # weights, optimizer moments, best, every rank's generators: exactly equal
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    m_full = [json.loads(x) for x in (full / "metrics.jsonl").open()]
    m_part = [json.loads(x) for x in (part / "metrics.jsonl").open()]
    assert [m["epoch"] for m in m_part] == [1, 2]
    for x, y in zip(m_full, m_part):
        assert (x["loss"], x["train_acc"], x["val_acc"]) == (
            y["loss"],
            y["train_acc"],
            y["val_acc"],
        )
