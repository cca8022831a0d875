"""The make-test hook: a skip for a missing oracle fails when VISIONBLOCKS_REQUIRE_ORACLES=1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracles import REQUIRE_ORACLES

TESTS = Path(__file__).resolve().parent

CASES = """
import pytest

def test_runtime_importorskip():
    pytest.importorskip("visionblocks_no_such_oracle")

def test_skip_not_installed():
    pytest.skip("torch not installed")

@pytest.mark.skipif(True, reason="Debian chromium not installed (make test installs it)")
def test_skipif_marker():
    pass

def test_other_skip():
    pytest.skip("needs a CUDA device")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_passes():
    pass
"""
MODULE_SKIP = 'import pytest\npytest.importorskip("visionblocks_no_such_oracle")\n\n' \
              "def test_never_runs():\n    pass\n"  # fmt: skip


def _pytest(tmp_path, require):
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {**os.environ, REQUIRE_ORACLES: "1" if require else "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-p", "oracles", "-p", "no:cacheprovider", "-rA",
           "-q", "--continue-on-collection-errors", str(tmp_path)]  # fmt: skip
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("require", [True, False], ids=["make-test", "bare-machine"])
def test_missing_oracle_skips_fail_only_when_required(tmp_path, require):
    run = _pytest(tmp_path, require)
    out = run.stdout
    oracle_tests = ["test_runtime_importorskip", "test_skip_not_installed", "test_skipif_marker"]
    if require:
        assert run.returncode == 1, out
        for name in oracle_tests:  # a skipif marker acts at setup, so it reports an ERROR
            assert f"FAILED test_cases.py::{name}" in out or f"ERROR test_cases.py::{name}" in out
        assert "ERROR test_module_skip.py" in out, out  # a failed collection
        assert "would have been skipped" in out
    else:
        assert run.returncode == 0, out
        assert "FAILED" not in out and "ERROR" not in out, out
    assert "SKIPPED [1] test_cases.py" in out and "needs a CUDA device" in out  # left alone
    assert "XFAIL test_cases.py::test_xfail" in out and "PASSED test_cases.py::test_passes" in out
