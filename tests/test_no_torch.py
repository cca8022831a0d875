"""The NumPy engine imports, trains, evaluates and gradient-checks with torch unavailable."""

import subprocess
import sys

# Runs in a fresh interpreter where any import of torch fails, as on a machine without it.
BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTorch())
from visionblocks.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(*args):
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_numpy_engine_trains_and_evaluates_without_torch(tmp_path):
    out = tmp_path / "run"
    args = ["--hidden-dims", "16", "--activation", "elu", "--epochs", "2", "--num-val", "100"]
    proc = _run("train", "--data", "digits", "--model", "fc", *args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("test accuracy: 0.")
    proc = _run("evaluate", str(out))
    assert proc.returncode == 0, proc.stderr


def test_gradcheck_without_torch_checks_every_layer_numerically():
    proc = _run("gradcheck")
    assert proc.returncode == 0, proc.stderr
    assert "torch is not installed" in proc.stdout
    assert "elu" in proc.stdout and " 0 failed" in proc.stdout


def test_torch_engine_without_torch_is_a_one_line_error(tmp_path):
    proc = _run("train", "--engine", "torch", "--data", "digits", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "torch" in proc.stderr
    assert not (tmp_path / "t").exists()
