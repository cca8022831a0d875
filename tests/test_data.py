"""IDX reading, data set search, splits and preprocessing, on files the tests write."""

import gzip

import numpy as np
import pytest

from visionblocks.data import load_dataset, read_idx, write_idx
from visionblocks.data.datasets import IDX_STEMS
from visionblocks.data.idx import IDXFormatError
from visionblocks.errors import ConfigError, DataNotFoundError


def _write_fake_mnist(folder, n_train=60, n_test=20, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    for stem, a in zip(IDX_STEMS, arrays):
        write_idx(folder / (stem + (".gz" if gz else "")), a)
    return arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, rng, dtype, suffix):
    a = (100 * rng.standard_normal((3, 4, 5))).astype(dtype)
    write_idx(tmp_path / f"a.idx{suffix}", a)
    b = read_idx(tmp_path / f"a.idx{suffix}")
    assert b.dtype == np.dtype(dtype) and b.shape == (3, 4, 5)
    np.testing.assert_array_equal(a, b)


def test_idx_rejects_truncated_and_corrupt_files(tmp_path, rng):
    a = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "ok.idx", a)
    raw = (tmp_path / "ok.idx").read_bytes()
    cases = {
        "truncated.idx": (raw[:-100], "truncated"),
        "trailing.idx": (raw + b"xx", "trailing bytes"),
        "magic.idx": (b"\x01\x02" + raw[2:], "bad magic number"),
        "dtype.idx": (raw[:2] + b"\x07" + raw[3:], "unknown IDX dtype code 0x07"),
        "short.idx": (raw[:2], "too short"),
        "header.idx": (raw[:9], "truncated header"),
        "gzip.idx.gz": (gzip.compress(raw)[:-40], "corrupt or truncated gzip"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(IDXFormatError, match=message):
            read_idx(tmp_path / name)
    assert issubclass(IDXFormatError, ValueError)


def test_load_idx_dataset_from_data_dir(tmp_path):
    xtr, ytr, xte, yte = _write_fake_mnist(tmp_path / "mnist")
    data = load_dataset("mnist", data_dir=tmp_path, num_val=10, seed=3)
    assert data["X_train"].shape == (50, 1, 28, 28) and data["X_val"].shape == (10, 1, 28, 28)
    assert data["X_train"].dtype == np.float32 and data["y_train"].dtype == np.int64
    np.testing.assert_allclose(data["X_test"][:, 0], xte / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data["y_test"], yte)
    # train and validation together are exactly the training file, without overlap
    both = np.concatenate([data["X_train"], data["X_val"]])[:, 0] * 255
    assert sorted(map(bytes, np.rint(both).astype(np.uint8))) == sorted(map(bytes, xtr))


def test_data_found_through_environment_variable(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path / "mnist", gz=False)
    monkeypatch.setenv("VISIONBLOCKS_DATA", str(tmp_path))
    assert load_dataset("mnist", num_val=5)["X_test"].shape == (20, 1, 28, 28)


def test_missing_data_says_where_it_looked_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VISIONBLOCKS_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert str(tmp_path / ".cache" / "visionblocks" / "mnist") in message
    assert "train-images-idx3-ubyte" in message and "visionblocks data download" in message
    with pytest.raises(DataNotFoundError, match=r"make data.*dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")


def test_digits_split_is_fixed_stratified_and_validation_comes_from_train():
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=1)
    np.testing.assert_array_equal(a["X_test"], b["X_test"])  # the test split never moves
    assert not np.array_equal(a["X_val"], b["X_val"])
    assert len(a["y_train"]) + len(a["y_val"]) + len(a["y_test"]) == 1797
    counts = np.bincount(a["y_test"], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert (
        a["X_train"].shape[1:] == (1, 8, 8) and 0 <= a["X_train"].min() <= a["X_train"].max() <= 1
    )


def test_preprocessing_uses_training_statistics_only():
    raw = load_dataset("digits")
    data = load_dataset("digits", preprocess="standardize")
    stats = data["preprocessing"]
    assert stats["mean"].shape == (1, 1, 1)
    np.testing.assert_allclose(stats["mean"].ravel(), raw["X_train"].mean(), rtol=1e-5)
    np.testing.assert_allclose(data["X_train"].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(
        data["X_val"], (raw["X_val"] - stats["mean"]) / stats["std"], rtol=1e-5
    )
    mean_img = load_dataset("digits", preprocess="mean")
    assert mean_img["preprocessing"]["mean"].shape == (1, 8, 8)
    np.testing.assert_allclose(mean_img["X_train"].mean(axis=0), 0, atol=1e-6)


def test_bad_load_options():
    with pytest.raises(ConfigError, match="unknown data set 'cifar-100'"):
        load_dataset("cifar-100")
    with pytest.raises(ConfigError, match="num_val"):
        load_dataset("digits", num_val=5000)
    with pytest.raises(ConfigError, match="preprocess"):
        load_dataset("digits", preprocess="whiten")
    assert load_dataset("digits", flatten=True)["X_train"].shape[1:] == (64,)
