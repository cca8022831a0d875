"""Training runs: build the data and the model from a config, train, and keep ``runs/NAME/``.

A run directory holds ``config.json``, ``metrics.jsonl`` (one line per epoch), checkpoints
``last`` and ``best`` (``.npz`` + ``.json``), and ``summary.json`` with ``test_accuracy``.

Models come from ``visionblocks.model_registry.MODELS``: Solver-trained networks have a NumPy
class built by keyword from their description; kNN and the linear classifiers have a
``Runner``. Every option is checked (``visionblocks.config``) and the model is built before the
run directory is created, so a bad option leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from visionblocks.checkpoint import load_checkpoint
from visionblocks.config import TrainConfig, config_from_dict, flatten, saved_options
from visionblocks.data.augment import make_augment
from visionblocks.errors import ConfigError
from visionblocks.model_registry import MODELS, Runner
from visionblocks.optim import make_schedule
from visionblocks.run_inputs import check_fits_data, default_run_dir, fit_set, load_run_data
from visionblocks.solver import Solver, predict
from visionblocks.training import check_resume_options, open_run_dir, saved_config, write_summary

__all__ = [
    "MODELS",
    "Runner",
    "build_model",
    "default_run_dir",
    "evaluate_run",
    "fit_set",
    "load_best_model",
    "load_run_data",
    "model_names",
    "read_run_config",
    "train_run",
]


def model_names(engine: str | None = None) -> list[str]:
    """Every model name ``train --model`` accepts (on ``engine``, when given)."""
    return [n for n, s in MODELS.items() if engine is None or engine in s.engines]


def build_model(cfg: TrainConfig, data: dict):
    """Builds the Solver-trained model named by ``cfg.model`` for the data's shapes."""
    spec = cfg.spec
    num_classes = len(data["class_names"])
    return spec.build_numpy(cfg.model_options, data["X_train"].shape[1:], num_classes, cfg.seed)


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
    augment = make_augment(cfg.augment) if cfg.augment else None
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
    saved = saved_options(saved_config(cfg.out))  # flat options, either config.json layout
    check_resume_options(saved, flatten(cfg.to_dict()))


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
    if resume:
        check_resume(cfg)
    if cfg.engine == "torch" and cfg.spec.runner is None:
        return _torch_runner().train_run(cfg, resume)
    spec = cfg.spec
    if spec.runner and spec.runner.whole_run:  # loads its own data (captioning)
        return spec.runner.train(cfg, resume)
    if resume and spec.runner and not spec.runner.resumable:
        raise ConfigError(f"--resume: model {cfg.model!r} trains in one pass; it has no "
                          "checkpoint to continue from")  # fmt: skip
    data = load_run_data(cfg)
    check_fits_data(cfg, data)
    model = None if spec.runner else build_model(cfg, data)  # a bad architecture stops here
    run_dir = prepare_run_dir(cfg, resume)
    start = time.perf_counter()
    if spec.runner:
        resumable = {"resume": resume} if spec.runner.resumable else {}
        summary = spec.runner.train(cfg, data, run_dir, **resumable)
    else:
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
    return config_from_dict(saved_options(json.loads(path.read_text())))


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
    if cfg.engine == "torch" and cfg.spec.runner is None:
        return float(_torch_runner().evaluate_run(run_dir, cfg))
    if cfg.spec.runner and cfg.spec.runner.whole_run:
        return float(cfg.spec.runner.evaluate(cfg, None, Path(run_dir)))
    data = load_run_data(cfg)
    if cfg.spec.runner:
        return float(cfg.spec.runner.evaluate(cfg, data, Path(run_dir)))
    model = load_best_model(run_dir, cfg, data)
    return float(np.mean(predict(model, data["X_test"]) == data["y_test"]))
