"""What a run directory holds, read for reports: config, summary, histories and predictions.

Histories come from the ``last.json`` checkpoint's ``history`` (loss per iteration; accuracy,
learning rate and update/weight ratios per epoch) and, where that is missing, from
``metrics.jsonl`` (one line per epoch). Predictions come from the best checkpoint, rebuilt with
``runs.load_best_model`` on the data ``runs.load_run_data`` loads for the run's own config.
Whatever a run lacks is recorded in ``notes`` and left as None, so a report can say so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionblocks.errors import ConfigError, VisionBlocksError


@dataclass
class RunRecord:
    """The records of one run directory.

    Attributes:
        run_dir: the folder.
        config: ``config.json`` as a dict ({} when missing).
        summary: ``summary.json`` as a dict ({} when missing).
        loss: (T,) training loss per iteration (or per epoch, see ``loss_per``), or None.
        loss_per: 'iteration' or 'epoch'.
        train_acc, val_acc, lr: (E,) per-epoch values, or None.
        update_ratio: per epoch, {layer: ||dW|| / ||W||}, or None.
        notes: what was missing or unreadable.
    """

    run_dir: Path
    config: dict
    summary: dict
    loss: np.ndarray | None = None
    loss_per: str = "iteration"
    train_acc: np.ndarray | None = None
    val_acc: np.ndarray | None = None
    lr: np.ndarray | None = None
    update_ratio: list[dict] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run_dir.resolve().name

    @property
    def num_epochs(self) -> int:
        for h in (self.val_acc, self.train_acc, self.lr):
            if h is not None:
                return len(h)
        return 0


def _read_json(path: Path, notes: list[str]):
    if not path.is_file():
        notes.append(f"{path.name} is missing")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        notes.append(f"{path.name} is not valid JSON ({e})")
        return None


def read_metrics(path: Path, notes: list[str]) -> list[dict]:
    """Per-epoch records of ``metrics.jsonl``; a resumed run's repeated epochs keep the last."""
    if not path.is_file():
        notes.append("metrics.jsonl is missing")
        return []
    by_epoch = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            notes.append(f"metrics.jsonl line {i} is not valid JSON (skipped)")
            continue
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int):
            by_epoch[rec["epoch"]] = rec
    return [by_epoch[e] for e in sorted(by_epoch)]


def _array(values):
    if values is None or len(values) == 0 or any(v is None for v in values):
        return None
    arr = np.asarray(values, dtype=np.float64)
    return arr if arr.ndim == 1 else None


def read_run(run_dir) -> RunRecord:
    """Reads a run directory's config, summary and training histories.

    Raises:
        ConfigError: ``run_dir`` is not a folder, or holds none of the files a run writes.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist")
    known = ("config.json", "metrics.jsonl", "last.json", "summary.json")
    if not any((run_dir / f).is_file() for f in known):
        raise ConfigError(f"{run_dir} is not a run directory: it has none of {', '.join(known)}")
    notes: list[str] = []
    config = _read_json(run_dir / "config.json", notes) or {}
    summary = _read_json(run_dir / "summary.json", notes) or {}
    last = _read_json(run_dir / "last.json", notes) or {}
    history = last.get("history") if isinstance(last, dict) else None
    epochs = read_metrics(run_dir / "metrics.jsonl", notes)
    rec = RunRecord(run_dir=run_dir, config=config, summary=summary, notes=notes)
    if not isinstance(history, dict):
        history = {}
        if last:
            notes.append("last.json has no history")
    from_metrics = {k: [e.get(k) for e in epochs] for k in ("loss", "train_acc", "val_acc", "lr")}
    rec.loss = _array(history.get("loss"))
    if rec.loss is None and epochs:
        rec.loss, rec.loss_per = _array(from_metrics["loss"]), "epoch"
    for key in ("train_acc", "val_acc", "lr"):
        values = history.get(key) or from_metrics[key]
        try:
            setattr(rec, key, _array(values))
        except (TypeError, ValueError):
            notes.append(f"the {key} history is not numeric")
    ratios = history.get("update_ratio") or [e.get("update_ratio") for e in epochs]
    if ratios and all(isinstance(r, dict) for r in ratios):
        rec.update_ratio = ratios
    return rec


def layer_order(name: str):
    """Sort key putting W1, W2, ..., W10 in numeric order."""
    m = re.match(r"(\D*)(\d*)(.*)", name)
    return (m.group(1), int(m.group(2)) if m.group(2) else -1, m.group(3))


@dataclass
class Predictions:
    """A model's predictions on one split, with the images to show.

    Attributes:
        split: 'test' or 'val' (a run trained with --no-test is reported on validation).
        y_true, y_pred: (N,) labels.
        class_names: K names.
        images: (N, C, H, W) images in display range [0, 1] (preprocessing undone).
        first_layer: the first layer's weights, (D, H1) or (F, C, HH, WW), or None.
        input_shape: (C, H, W) of one image.
    """

    split: str
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: list[str]
    images: np.ndarray
    first_layer: np.ndarray | None
    input_shape: tuple


def display_images(X, preprocessing) -> np.ndarray:
    """Undoes the run's preprocessing on images (N, C, H, W) and clips them to [0, 1]."""
    if preprocessing is not None:
        X = X * preprocessing["std"] + preprocessing["mean"]
    return np.clip(X, 0.0, 1.0)


def first_layer_weights(params: dict) -> np.ndarray | None:
    """The weights of the first layer: ``W1`` (or ``W`` of a linear classifier)."""
    names = sorted((k for k in params if re.fullmatch(r"W\d*", k)), key=layer_order)
    return params[names[0]] if names else None


def _torch_predict(run_dir, cfg, data, X):
    """Predictions and first-layer weights of a PyTorch-engine run's best checkpoint."""
    from visionblocks.checkpoint import load_checkpoint
    from visionblocks.torchkit import checkpoint as ckpt
    from visionblocks.torchkit.runner import build_model
    from visionblocks.torchkit.trainer import Trainer

    model = build_model(cfg, data)
    params = ckpt.group(load_checkpoint(Path(run_dir) / "best")[0], "params/")
    ckpt.load_state(model, params)
    trainer = Trainer(model, data, batch_size=1, epochs=0, device=cfg.device, verbose=False)
    weights = [w for k, w in params.items() if k.endswith("weight") and w.ndim in (2, 4)]
    first = None
    if weights:  # torch stores a linear layer as (out, in); ours is (in, out)
        first = weights[0].T if weights[0].ndim == 2 else weights[0]
    return trainer.predict(X), first


def load_predictions(run_dir, batch_size=500) -> Predictions:
    """Predicts with the run's best checkpoint on its test split (validation for --no-test).

    Works for runs of the NumPy Solver and of the PyTorch engine (``--engine torch``).

    Raises:
        VisionBlocksError or OSError: the config, data or checkpoint cannot be loaded, or the
            model is not a Solver-trained one (it has no best checkpoint of parameters).
    """
    from visionblocks.runs import load_best_model, load_run_data, read_run_config
    from visionblocks.solver import predict

    cfg = read_run_config(run_dir)
    if getattr(cfg, "engine", "numpy") == "torch" and cfg.spec.twin is None:  # generative
        raise ConfigError(f"model {cfg.model!r} makes no class predictions")
    data = load_run_data(cfg)
    split = "test" if getattr(cfg, "test", True) else "val"
    X, y = data[f"X_{split}"], np.asarray(data[f"y_{split}"])
    if getattr(cfg, "engine", "numpy") == "torch":
        y_pred, first = _torch_predict(run_dir, cfg, data, X)
    else:
        try:
            model = load_best_model(run_dir, cfg, data)
        except ConfigError as e:
            raise ConfigError(f"the best checkpoint cannot be reloaded: {e}") from None
        y_pred, first = predict(model, X, batch_size), first_layer_weights(model.params)
    return Predictions(
        split=split,
        y_true=y,
        y_pred=np.asarray(y_pred),
        class_names=list(data["class_names"]),
        images=display_images(X, data.get("preprocessing")),
        first_layer=first,
        input_shape=tuple(X.shape[1:]),
    )


def try_load_predictions(run_dir) -> tuple[Predictions | None, str | None]:
    """``load_predictions``, or (None, the reason it failed)."""
    try:
        return load_predictions(run_dir), None
    except (VisionBlocksError, OSError, KeyError, ValueError, ImportError, RuntimeError) as e:
        return None, f"{type(e).__name__}: {e}"
