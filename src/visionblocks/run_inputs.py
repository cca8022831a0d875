"""What a run reads before it trains: the data its config names, the examples the final model
is fitted on, and the default run-directory name. Shared by both engines' runners."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visionblocks.classic.features import apply_features
from visionblocks.data import load_dataset
from visionblocks.errors import ConfigError


def load_run_data(cfg) -> dict:
    """Loads the data set a config names, with its split, subsample, preprocessing and, with
    ``features``, the standardised hand-made features in place of the pixels."""
    data = load_dataset(
        cfg.data,
        data_dir=cfg.data_dir,
        num_val=cfg.num_val,
        seed=cfg.seed,
        num_train=cfg.num_train,
        preprocess=cfg.preprocess,
    )
    if cfg.features:
        options = {"hog_orientations": cfg.hog_orientations, "hog_block_norm": cfg.hog_block_norm}
        data = apply_features(data, cfg.features, options)
    return data


def fit_set(fit_on: str, X: dict, data: dict):
    """(X_fit, y_fit) for ``fit_on``: the training split, or train + val stacked.

    ``X`` holds the inputs (``data`` itself, or features computed from it); ``data`` the labels.
    """
    if fit_on == "train":
        return X["X_train"], data["y_train"]
    return np.concatenate([X["X_train"], X["X_val"]]), np.concatenate(
        [data["y_train"], data["y_val"]]
    )


def default_run_dir(cfg) -> Path:
    return Path("runs") / f"{cfg.data}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_fits_data(cfg, data: dict) -> None:
    """The checks that need the data, made before the run directory is created: a minibatch
    of a training loop must fit in the training split, and the model's own (``check_data``)."""
    n = int(data["X_train"].shape[0])
    if cfg.spec.runner is None and cfg.batch_size > n:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {n} training examples")
    if cfg.spec.check_data is not None:
        cfg.spec.check_data(cfg, data)
