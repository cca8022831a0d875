"""``visionblocks data info``: where it looked, what it found, and the class counts."""

from __future__ import annotations

import numpy as np
import pytest

from visionblocks import cli
from visionblocks.data import write_idx
from visionblocks.data.cifar import ARCHIVE_FOLDER, write_cifar10


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    """No cache or $VISIONBLOCKS_DATA from the machine leaks into what is reported."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONBLOCKS_DATA", raising=False)


def test_info_on_cifar10_lists_folders_and_class_counts(tmp_path, rng, capsys):
    y = np.repeat(np.arange(10), 3)  # 3 training images per class
    yt = np.array([0, 0, 1, 9])
    X = rng.integers(0, 256, (30, 3, 32, 32), dtype=np.uint8)
    Xt = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    write_cifar10(tmp_path / "d" / ARCHIVE_FOLDER, X, y, Xt, yt)
    assert cli.main(["data", "info", "cifar10", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'd'}: 0 of 7 files" in out
    assert f"{tmp_path / 'd' / ARCHIVE_FOLDER}: complete" in out
    assert "train: 30 images (3, 32, 32), test: 4 images" in out
    rows = {line.split()[1]: line.split()[2:] for line in out.splitlines() if line[:2].strip()
            .isdigit()}  # fmt: skip
    assert rows["airplane"] == ["3", "2"] and rows["truck"] == ["3", "1"]
    assert rows["bird"] == ["3", "0"]


def test_info_on_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path, capsys):
    assert cli.main(["data", "info", "mnist"]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'home' / '.cache' / 'visionblocks' / 'mnist'}: no such folder" in out
    assert "visionblocks data download mnist" in out
    assert "VISIONBLOCKS_MNIST_URL" in out


def test_info_on_partial_idx_folder_names_what_is_there(tmp_path, rng, capsys):
    folder = tmp_path / "home" / ".cache" / "visionblocks" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    cli.main(["data", "info", "fashion-mnist"])
    out = capsys.readouterr().out
    assert f"{folder}: 1 of 4 files (train-images-idx3-ubyte)" in out


def test_info_on_embedded_digits(capsys):
    assert cli.main(["data", "info", "digits"]) == 0
    out = capsys.readouterr().out
    assert "embedded" in out and "train: 1438 images (1, 8, 8), test: 359 images" in out
