"""``load_dataset``: real data sets as the classic dict of train/val/test arrays (NCHW float32)."""

from __future__ import annotations

import numpy as np

from visionblocks.data.cifar import load_cifar10
from visionblocks.data.idx import IDXFormatError, read_idx
from visionblocks.data.preprocess import apply_preprocessing
from visionblocks.data.sources import find_files
from visionblocks.errors import ConfigError

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IDX_STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
#: Seed of the fixed digits train/test split; the user's seed only draws the validation split.
DIGITS_SPLIT_SEED = 20240601
DIGITS_TEST_FRACTION = 0.2


def _load_digits(data_dir=None):
    """scikit-learn's embedded 8x8 digits with a fixed, stratified 80/20 train/test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError(
            "the digits data set ships with scikit-learn: pip install 'visionblocks[digits]'"
        ) from None
    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, int(round(DIGITS_TEST_FRACTION * len(idx))), replace=False)] = True
    names = tuple(str(i) for i in range(10))
    return X[~test], y[~test], X[test], y[test], names


def _idx_loader(name, class_names):
    def load(data_dir=None):
        paths = find_files(name, IDX_STEMS, data_dir)
        xtr, ytr, xte, yte = (read_idx(p) for p in paths)
        for xs, ys, split in ((xtr, ytr, "train"), (xte, yte, "t10k")):
            if xs.ndim != 3 or ys.ndim != 1 or xs.shape[0] != ys.shape[0]:
                raise IDXFormatError(
                    f"{name} {split}: images {xs.shape} and labels {ys.shape} do not pair up"
                )
            if ys.max() >= len(class_names):
                raise IDXFormatError(f"{name} {split}: label {ys.max()} out of range")
        as_x = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731  (N,H,W)->(N,1,H,W)
        return as_x(xtr), ytr.astype(np.int64), as_x(xte), yte.astype(np.int64), class_names

    return load


LOADERS = {
    "digits": _load_digits,
    "fashion-mnist": _idx_loader("fashion-mnist", FASHION_CLASSES),
    "mnist": _idx_loader("mnist", tuple(str(i) for i in range(10))),
    "cifar10": load_cifar10,
}
DEFAULT_NUM_VAL = {"digits": 300, "fashion-mnist": 5000, "mnist": 5000, "cifar10": 5000}


def split_validation(X, y, num_val, seed):
    """Draws ``num_val`` random examples from (X, y) as the validation split.

    Returns:
        X_train, y_train, X_val, y_val.
    """
    if not 0 <= num_val < len(y):
        raise ConfigError(f"num_val must be in [0, {len(y)}), got {num_val}")
    perm = np.random.default_rng(seed).permutation(len(y))
    val, train = np.sort(perm[:num_val]), np.sort(perm[num_val:])
    return X[train], y[train], X[val], y[val]


def load_dataset(
    name, data_dir=None, num_val=None, seed=0, num_train=None, preprocess=None, flatten=False
):
    """Loads a data set as the classic dict.

    Args:
        name: 'digits', 'fashion-mnist', 'mnist' or 'cifar10' (and more as loaders are
            registered).
        data_dir: folder to read from; default: $VISIONBLOCKS_DATA, the cache, system dirs.
        num_val: validation examples drawn from the training set (a per-data-set default).
        seed: seeds the validation draw (and the training subsample).
        num_train: keep only this many training examples (a seeded subsample), or all.
        preprocess: None, 'mean' (subtract the training mean image) or 'standardize'
            (per-channel mean and std); statistics come from the training split only.
        flatten: reshape images to (N, C*H*W).

    Returns:
        dict with X_train, y_train, X_val, y_val, X_test, y_test (images (N, C, H, W) float32,
        labels int64), class_names, and ``preprocessing`` (the statistics used, if any).
    """
    if name not in LOADERS:
        raise ConfigError(f"unknown data set {name!r}; choose from {sorted(LOADERS)}")
    X, y, X_test, y_test, class_names = LOADERS[name](data_dir)
    if num_val is None:
        num_val = DEFAULT_NUM_VAL.get(name, len(y) // 10)
    X_train, y_train, X_val, y_val = split_validation(X, y, num_val, seed)
    if num_train is not None:
        if not 0 < num_train <= len(y_train):
            raise ConfigError(f"num_train must be in (0, {len(y_train)}], got {num_train}")
        keep = np.sort(np.random.default_rng(seed + 1).choice(len(y_train), num_train, False))
        X_train, y_train = X_train[keep], y_train[keep]
    data = {
        "X_train": X_train,
        "y_train": y_train,
        "X_val": X_val,
        "y_val": y_val,
        "X_test": X_test,
        "y_test": y_test,
        "class_names": list(class_names),
    }
    data = apply_preprocessing(data, preprocess)
    if flatten:
        for k in ("X_train", "X_val", "X_test"):
            data[k] = data[k].reshape(data[k].shape[0], -1)  # (N, C, H, W) -> (N, C*H*W)
    return data
