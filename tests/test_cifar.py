"""CIFAR-10 pickle batches: the real format round-trips, and no pickle ever runs code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from visionblocks.data import load_dataset
from visionblocks.data.cifar import (
    ARCHIVE_FOLDER,
    CIFAR10_CLASSES,
    UnsafePickleError,
    load_cifar10,
    py2_pickle,
    read_cifar_batch,
    read_cifar_meta,
    restricted_unpickle,
    write_cifar10,
)
from visionblocks.errors import DataFormatError, DataNotFoundError


def make_cifar(rng, n_train=20, n_test=7):
    """Random uint8 images (N, 3, 32, 32) and labels, as written to the batches."""
    X = rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, n_train)
    Xt = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    yt = rng.integers(0, 10, n_test)
    return X, y, Xt, yt


def test_written_batches_load_back_exactly(tmp_path, rng):
    X, y, Xt, yt = make_cifar(rng)
    write_cifar10(tmp_path, X, y, Xt, yt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    )
    X_train, y_train, X_test, y_test, names = load_cifar10(tmp_path)
    assert X_train.dtype == np.float32 and X_train.shape == (20, 3, 32, 32)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(np.rint(X_train * 255).astype(np.uint8), X)
    np.testing.assert_array_equal(np.rint(X_test * 255).astype(np.uint8), Xt)
    np.testing.assert_array_equal(y_train, y)
    np.testing.assert_array_equal(y_test, yt)
    assert names == CIFAR10_CLASSES


def test_rows_are_red_green_blue_planes(tmp_path):
    """The official layout: 1024 red values, then green, then blue, each row-major 32x32."""
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256])
    record = {"data": row.astype(np.uint8)[None], "labels": [3], "batch_label": "b"}
    (tmp_path / "b").write_bytes(py2_pickle(record))
    X, y = read_cifar_batch(tmp_path / "b")
    assert X.shape == (1, 3, 32, 32) and y.tolist() == [3]
    assert (X[0, 0] == 10).all() and (X[0, 1] == 20).all()
    assert X[0, 2, 0, 5] == 5 and X[0, 2, 1, 0] == 32  # row-major within the plane


def test_writer_emits_python2_pickles_that_plain_pickle_also_reads(tmp_path, rng):
    X, y, Xt, yt = make_cifar(rng, 5, 2)
    write_cifar10(tmp_path, X, y, Xt, yt)
    raw = (tmp_path / "data_batch_1").read_bytes()
    assert raw[:2] == b"\x80\x02" and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    d = pickle.loads(raw, encoding="latin1")  # trusted here: we just wrote it
    assert d["data"].shape == (1, 3072) and d["labels"] == [int(y[0])]
    assert read_cifar_meta(tmp_path / "batches.meta") == list(CIFAR10_CLASSES)


def test_load_dataset_finds_the_unpacked_archive_folder(tmp_path, rng):
    X, y, Xt, yt = make_cifar(rng, 50, 10)
    write_cifar10(tmp_path / ARCHIVE_FOLDER, X, y, Xt, yt)
    data = load_dataset("cifar10", data_dir=tmp_path, num_val=10, preprocess="standardize")
    assert data["X_train"].shape == (40, 3, 32, 32) and data["X_val"].shape == (10, 3, 32, 32)
    assert data["class_names"] == list(CIFAR10_CLASSES)
    assert data["preprocessing"]["mean"].shape == (3, 1, 1)


def test_missing_data_names_every_folder_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONBLOCKS_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="cifar-10-batches-py.*data download cifar10"):
        load_cifar10()


class _RunsShell:
    """Pickles to a call of os.system: what a malicious 'batch' looks like."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_pickle_calling_os_system_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    evil = {"data": _RunsShell(marker), "labels": [0]}
    path.write_bytes(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refusing (to load posix\.system|pickle opcode)"):
        read_cifar_batch(path)
    assert not marker.exists()


def test_refusals_name_the_global_or_opcode():
    # GLOBAL is an allowed opcode; the global itself is what find_class refuses.
    evil_global = b"\x80\x02cbuiltins\neval\nU\x061+1000\x85R."
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        restricted_unpickle(evil_global, "x")
    # INST (protocol 0 object creation) never passes the opcode filter.
    inst = b"(ios\nsystem\nS'true'\ntR."
    with pytest.raises(UnsafePickleError, match="opcode INST"):
        restricted_unpickle(inst, "x")
    # A Python 3 (protocol 5) pickle of an array uses opcodes and globals no batch has.
    with pytest.raises(UnsafePickleError, match="refusing"):
        restricted_unpickle(pickle.dumps(np.zeros(3), protocol=5), "x")


@pytest.mark.parametrize(
    "record, message",
    [
        ({"labels": [0]}, "needs 'data'"),
        ({"data": np.zeros((1, 3072), np.float32), "labels": [0]}, "uint8"),
        ({"data": np.zeros((1, 100), np.uint8), "labels": [0]}, "3072"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "matching"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}, r"\[0, 10\)"),
        ([1, 2, 3], "expected a pickled dict"),
    ],
)
def test_bad_batches_fail_with_a_clear_message(tmp_path, record, message):
    path = tmp_path / "batch"
    path.write_bytes(py2_pickle(record))
    with pytest.raises(DataFormatError, match=message):
        read_cifar_batch(path)


def test_truncated_batch_is_a_format_error(tmp_path, rng):
    X, y, Xt, yt = make_cifar(rng, 5, 2)
    write_cifar10(tmp_path, X, y, Xt, yt)
    raw = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match="not a valid"):
        read_cifar_batch(tmp_path / "test_batch")
