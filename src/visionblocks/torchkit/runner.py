"""``visionblocks train --engine torch``: the run of a TrainConfig on the PyTorch engine.

The run directory is the NumPy engine's (``config.json``, ``metrics.jsonl``, ``last``/``best``
checkpoints, ``summary.json``); under torchrun only rank 0 writes it. Models come from their
descriptions (``visionblocks.model_registry.MODELS``): a description's ``twin`` names the torch
class, built with the same keywords as the NumPy model (so the same options give the same
initial weights), or a torch-only model such as the ResNet.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from visionblocks.checkpoint import load_checkpoint
from visionblocks.config import arch_fit_on
from visionblocks.errors import ConfigError
from visionblocks.model_registry import construct
from visionblocks.run_inputs import check_fits_data, default_run_dir, fit_set, load_run_data
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit import distributed as D
from visionblocks.torchkit.augment import make_augment
from visionblocks.torchkit.optim import SCHEDULES, check_optimizer
from visionblocks.torchkit.trainer import Trainer
from visionblocks.training import check_run_dir, open_run_dir, write_summary


def check_config(cfg) -> None:
    """The torch-specific checks, before any data is read or anything is written (the typed
    options were checked when ``cfg`` was made)."""
    check_optimizer(cfg.update_rule)
    if cfg.schedule is not None and cfg.schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose from {list(SCHEDULES)}")
    if "torch" not in cfg.spec.engines or cfg.spec.twin is None:
        raise ConfigError(f"model {cfg.model!r} has no torch model")
    make_augment(cfg.augment)


def model_class(spec):
    """The torch class of a description: ``spec.twin`` is "module:Class"."""
    module, _, name = spec.twin.partition(":")
    return getattr(importlib.import_module(module), name)


def build_model(cfg, data):
    """The twin (or torch-only model) that ``cfg.model`` names, for the data's shapes, built by
    keyword from the model's description."""
    spec = cfg.spec
    shape, num_classes = data["X_train"].shape[1:], len(data["class_names"])
    kwargs = spec.constructor_kwargs(cfg.model_options, shape, num_classes, cfg.seed)
    return construct(model_class(spec), kwargs)


def _run_dir(cfg, resume, ctx) -> Path:
    out = D.broadcast_str(str(cfg.out or default_run_dir(cfg)), ctx)
    run_dir = check_run_dir(out, resume)  # every rank, before rank 0 writes config.json
    D.barrier(ctx)
    cfg.out = str(run_dir)
    if ctx.is_main:  # only rank 0 looks again: the others would see its config.json
        open_run_dir(run_dir, cfg.to_dict(), resume)
    return run_dir


def _refit_options(fit_on) -> dict:
    """Trainer options of a refit: keep the last epoch; the validation images are training
    images now, so 1,000 of them are a cheap sanity check and choose nothing."""
    return {"keep": "last", "num_val_samples": 1000} if fit_on == "train+val" else {}


def train_run(cfg, resume: bool = False) -> dict:
    """Trains ``cfg`` on the torch engine (data-parallel under torchrun).

    With ``fit_on = "train+val"`` the training data includes the validation split, so
    validation cannot pick an epoch: the model kept is the last epoch's.

    Returns:
        the summary (written to ``summary.json`` by rank 0) with ``test_accuracy``.
    """
    check_config(cfg)
    ctx, device = D.setup(cfg.device)
    try:
        data = load_run_data(cfg)
        fit_on = arch_fit_on(cfg, "train")
        X_fit, y_fit = fit_set(fit_on, data, data)  # the validation split joins a refit
        data = {**data, "X_train": X_fit, "y_train": y_fit}
        check_fits_data(cfg, data)
        model = build_model(cfg, data)
        run_dir = _run_dir(cfg, resume, ctx)
        start = time.perf_counter()
        trainer = Trainer(
            model, data, update_rule=cfg.update_rule, lr=cfg.lr, momentum=cfg.momentum,
            weight_decay=cfg.weight_decay, schedule=cfg.schedule, lr_decay=cfg.lr_decay,
            warmup_epochs=cfg.warmup_epochs, epochs=cfg.epochs, batch_size=cfg.batch_size,
            label_smoothing=cfg.label_smoothing, grad_clip=cfg.grad_clip, augment=cfg.augment,
            bf16=cfg.bf16, channels_last=cfg.channels_last, tta_flip=cfg.tta_flip,
            device=str(device), seed=cfg.seed, out_dir=run_dir, resume=resume,
            print_every=cfg.print_every, ctx=ctx, **_refit_options(fit_on),
        )  # fmt: skip
        trainer.train()
        test_acc = None
        if cfg.test:
            test_acc = trainer.check_accuracy(data["X_test"], data["y_test"])
        summary = {
            "test_accuracy": test_acc,
            "best_val_accuracy": trainer.best_val_acc if fit_on == "train" else None,
            "fit_on": fit_on,
            "epochs": trainer.epoch,
            "kept_epoch": trainer.best_epoch,
            "kept": (
                "last epoch (refit)"
                if fit_on != "train"
                else "last epoch (no validation examples)"
                if not len(data["y_val"])
                else "best validation epoch"
            ),
            "final_train_accuracy": trainer.train_acc_history[-1] if trainer.epoch else None,
            "num_params": int(sum(p.numel() for p in model.parameters())),
            "engine": "torch",
            "device": str(device),
            "world_size": ctx.world_size,
            "max_param_diff_across_ranks": trainer.rank_spread,
            "data": cfg.data,
            "model": cfg.model,
            "num_train": int(data["X_train"].shape[0]),
            "num_val": int(data["X_val"].shape[0]),
            "num_test": int(data["X_test"].shape[0]),
            "train_seconds": round(time.perf_counter() - start, 2),
        }
        if ctx.is_main:
            write_summary(run_dir, summary)
        D.barrier(ctx)
        return summary
    finally:
        D.teardown()


def evaluate_run(run_dir, cfg) -> float:
    """Rebuilds a torch run's model, loads its best checkpoint and returns its test accuracy."""
    check_config(cfg)
    data = load_run_data(cfg)
    model = build_model(cfg, data)
    arrays, meta = load_checkpoint(Path(run_dir) / "best")
    try:
        ckpt.load_state(model, ckpt.group(arrays, "params/"))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"checkpoint does not fit model {cfg.model!r}: {first}") from None
    trainer = Trainer(
        model,
        data,
        batch_size=1,
        epochs=0,
        device=cfg.device,
        verbose=False,
        tta_flip=cfg.tta_flip,
        channels_last=cfg.channels_last,
    )
    return trainer.check_accuracy(data["X_test"], data["y_test"])
