"""Training runs: build the data and the model from a config, train, and keep ``runs/NAME/``.

A run directory holds ``config.json``, ``metrics.jsonl`` (one line per epoch), checkpoints
``last`` and ``best`` (``.npz`` + ``.json``), and ``summary.json`` with ``test_accuracy``.

Models trained by the ``Solver`` register a builder in ``MODEL_BUILDERS``; models with their
own training procedure (kNN, linear classifiers) register a ``Runner`` in ``RUNNERS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import load_checkpoint
from visionblocks.config import TrainConfig, config_from_dict
from visionblocks.data import load_dataset
from visionblocks.errors import ConfigError
from visionblocks.models import FullyConnectedNet, TwoLayerNet
from visionblocks.optim import make_schedule
from visionblocks.solver import Solver, predict
from visionblocks.training import check_resume_options, open_run_dir, saved_config, write_summary

#: name -> builder(cfg, input_shape (C, H, W), num_classes) -> model trained by the Solver.
MODEL_BUILDERS: dict[str, Callable] = {}


@dataclass
class Runner:
    """A model with its own training: ``train(cfg, data, run_dir) -> summary`` (with
    ``test_accuracy``) and ``evaluate(cfg, data, run_dir) -> test accuracy``."""

    train: Callable
    evaluate: Callable


RUNNERS: dict[str, Runner] = {}


def _fc(cfg, input_shape, num_classes):
    return FullyConnectedNet(
        cfg.hidden_dims,
        input_dim=int(np.prod(input_shape)),
        num_classes=num_classes,
        dropout_keep_ratio=cfg.dropout_keep,
        normalization=cfg.normalization,
        reg=cfg.reg,
        weight_scale=cfg.weight_scale,
        seed=cfg.seed,
        init=cfg.init,
        dropout_masks="fresh",  # training draws new masks from model.rng on every pass
    )


def _twolayer(cfg, input_shape, num_classes):
    if len(cfg.hidden_dims) != 1:
        raise ConfigError(f"twolayer takes one hidden size, got hidden_dims={cfg.hidden_dims}")
    return TwoLayerNet(
        int(np.prod(input_shape)),
        cfg.hidden_dims[0],
        num_classes,
        weight_scale=cfg.weight_scale,
        reg=cfg.reg,
        dtype=np.float32,  # TwoLayerNet defaults to the course's float64; the CLI trains in float32
        seed=cfg.seed,
        init=cfg.init,
    )


MODEL_BUILDERS.update(fc=_fc, twolayer=_twolayer)


def model_names() -> list[str]:
    """Every model name ``train --model`` accepts."""
    _register_plugins()
    return sorted(set(MODEL_BUILDERS) | set(RUNNERS))


def _register_plugins():
    """Imports the optional model families so they can register themselves."""
    import importlib

    for module in ("visionblocks.models.cnn_registry", "visionblocks.classic.runner"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if not (module == e.name or module.startswith(f"{e.name}.")):
                raise


def load_run_data(cfg: TrainConfig) -> dict:
    """Loads the data set a config names, with its split, subsample and preprocessing."""
    data = load_dataset(
        cfg.data,
        data_dir=cfg.data_dir,
        num_val=cfg.num_val,
        seed=cfg.seed,
        num_train=cfg.num_train,
        preprocess=cfg.preprocess,
    )
    if cfg.features:  # hand-made features (standardised on X_train) replace the pixels
        from visionblocks.classic.features import apply_features

        data = apply_features(data, cfg.features, cfg.arch)
    return data


def fit_set(fit_on: str, X: dict, data: dict):
    """(X_fit, y_fit) for ``[arch] fit_on``: the training split, or train + val stacked.

    ``X`` holds the inputs (``data`` itself, or features computed from it); ``data`` the labels.
    """
    if fit_on == "train":
        return X["X_train"], data["y_train"]
    return np.concatenate([X["X_train"], X["X_val"]]), np.concatenate(
        [data["y_train"], data["y_val"]]
    )


def build_model(cfg: TrainConfig, data: dict):
    """Builds the Solver-trained model named by ``cfg.model`` for the data's shapes."""
    _register_plugins()
    if cfg.model not in MODEL_BUILDERS:
        raise ConfigError(f"unknown model {cfg.model!r}; choose from {model_names()}")
    num_classes = len(data["class_names"])
    return MODEL_BUILDERS[cfg.model](cfg, data["X_train"].shape[1:], num_classes)


def make_solver(cfg: TrainConfig, model, data: dict, run_dir: Path, resume: bool) -> Solver:
    """The Solver a config describes (update rule, schedule, augmentation, checkpoints)."""
    optim_config = {"learning_rate": cfg.lr}
    if cfg.momentum is not None:
        optim_config["momentum"] = cfg.momentum
    per_epoch = max(data["X_train"].shape[0] // cfg.batch_size, 1)
    schedule = None
    if cfg.schedule is not None:
        schedule = make_schedule(
            cfg.schedule,
            cfg.lr,
            total_steps=cfg.epochs * per_epoch,
            warmup_steps=int(cfg.warmup_epochs * per_epoch),
        )
    augment = None
    if cfg.augment:
        from visionblocks.data.augment import make_augment

        augment = make_augment(cfg.augment)
    return Solver(
        model,
        data,
        update_rule=cfg.update_rule,
        optim_config=optim_config,
        lr_decay=cfg.lr_decay,
        lr_schedule=schedule,
        batch_size=cfg.batch_size,
        num_epochs=cfg.epochs,
        print_every=cfg.print_every,
        verbose=True,
        seed=cfg.seed,
        out_dir=run_dir,
        resume=resume,
        augment=augment,
    )


def default_run_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{cfg.data}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(cfg: TrainConfig, resume: bool) -> Path:
    """Creates the run directory; refuses to train over an existing run unless resuming."""
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
    cfg.out = str(run_dir)
    return open_run_dir(run_dir, cfg.to_dict(), resume)


def check_resume(cfg: TrainConfig) -> None:
    """A resume continues the run in ``cfg.out`` with its own options (both engines): the
    directory must hold a run, and only ``training.RESUMABLE_OPTIONS`` may differ."""
    if not cfg.out:
        raise ConfigError("--resume needs --out RUN_DIR (or out in --config)")
    check_resume_options(saved_config(cfg.out), cfg.to_dict())


def _torch_runner():
    """The PyTorch engine's runner, imported only when a config asks for it."""
    try:
        from visionblocks.torchkit import runner
    except ImportError as e:
        raise ConfigError(f"engine 'torch' needs PyTorch: {e}") from None
    return runner


def train_run(cfg: TrainConfig, resume: bool = False) -> dict:
    """Trains the configured model and writes the run directory.

    Returns:
        the summary dict (also written to ``summary.json``) with ``test_accuracy``.
    """
    cfg.validate()
    if resume:
        check_resume(cfg)
    if cfg.engine == "torch":
        return _torch_runner().train_run(cfg, resume)
    _register_plugins()
    if cfg.model not in MODEL_BUILDERS and cfg.model not in RUNNERS:
        raise ConfigError(f"unknown model {cfg.model!r}; choose from {model_names()}")
    if resume and cfg.model in RUNNERS:
        raise ConfigError(f"--resume: model {cfg.model!r} trains in one pass; it has no "
                          "checkpoint to continue from")  # fmt: skip
    data = load_run_data(cfg)
    run_dir = prepare_run_dir(cfg, resume)
    start = time.perf_counter()
    if cfg.model in RUNNERS:
        summary = RUNNERS[cfg.model].train(cfg, data, run_dir)
    else:
        model = build_model(cfg, data)
        solver = make_solver(cfg, model, data, run_dir, resume)
        solver.train()
        test_acc = None
        if cfg.test:
            test_acc = float(np.mean(predict(model, data["X_test"]) == data["y_test"]))
        summary = {
            "test_accuracy": test_acc,
            "best_val_accuracy": solver.best_val_acc,
            "epochs": solver.epoch,
            "kept_epoch": solver.best_epoch,
            "kept": "best validation epoch"
            if data["X_val"].shape[0]
            else "last epoch (no validation examples)",
            "final_train_accuracy": solver.train_acc_history[-1] if solver.epoch else None,
            "num_params": int(sum(v.size for v in model.params.values())),
        }
    summary.update(
        data=cfg.data,
        model=cfg.model,
        num_train=int(data["X_train"].shape[0]),
        num_val=int(data["X_val"].shape[0]),
        num_test=int(data["X_test"].shape[0]),
        train_seconds=round(time.perf_counter() - start, 2),
    )
    write_summary(run_dir, summary)
    return summary


def read_run_config(run_dir) -> TrainConfig:
    """The TrainConfig saved in ``run_dir/config.json``."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {path} does not exist")
    return config_from_dict(json.loads(path.read_text()))


def load_best_model(run_dir, cfg: TrainConfig, data: dict):
    """Rebuilds a Solver-trained model and loads the run's best checkpoint into it."""
    model = build_model(cfg, data)
    arrays, _ = load_checkpoint(Path(run_dir) / "best")
    params = {k[len("params/") :]: v for k, v in arrays.items() if k.startswith("params/")}
    if set(params) != set(model.params):
        raise ConfigError(f"checkpoint params {sorted(params)} do not fit model {cfg.model!r}")
    for k, v in params.items():
        if v.shape != model.params[k].shape:
            raise ConfigError(
                f"checkpoint {k} has shape {v.shape}, model wants {model.params[k].shape}"
            )
    model.params = params
    model.load_buffers(
        {k[len("buffers/") :]: v for k, v in arrays.items() if k.startswith("buffers/")}
    )
    return model


def evaluate_run(run_dir) -> float:
    """Reloads a run's best checkpoint and returns its test accuracy."""
    cfg = read_run_config(run_dir)
    if cfg.engine == "torch":
        return float(_torch_runner().evaluate_run(run_dir, cfg))
    data = load_run_data(cfg)
    _register_plugins()
    if cfg.model in RUNNERS:
        return float(RUNNERS[cfg.model].evaluate(cfg, data, Path(run_dir)))
    model = load_best_model(run_dir, cfg, data)
    return float(np.mean(predict(model, data["X_test"]) == data["y_test"]))
