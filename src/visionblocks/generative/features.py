"""The feature space of our own classifier, for the sample-quality measures: a torch
classifier run (``visionblocks train --engine torch --model convnet --data fashion-mnist``)
reloaded from its run directory, its penultimate activations as features and its softmax as
class probabilities.

The features are the input of the classifier's last ``nn.Linear`` (its penultimate layer), the
offline stand-in for FID's Inception pool features. The run is rebuilt from its ``config.json``
and ``best`` checkpoint through the model registry (the networks' descriptions must be
registered: ``import visionblocks.config`` does it).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import torch

from visionblocks.checkpoint import load_checkpoint
from visionblocks.errors import ConfigError
from visionblocks.model_registry import MODELS
from visionblocks.torchkit import checkpoint as ckpt

__all__ = ["DATA_SHAPES", "Classifier", "load_classifier_run"]

#: the input shape of each data set a classifier run can be trained on
DATA_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28),
               "cifar10": (3, 32, 32)}  # fmt: skip


class Classifier:
    """A trained torch classifier as two NumPy functions: ``features`` and ``probabilities``.

    Args:
        model: the nn.Module (its last ``nn.Linear`` gives the scores).
        input_shape: (C, H, W) it takes.
        name: where it came from (the run directory), for reports.
        device: where it runs.
    """

    def __init__(self, model, input_shape, name="", device="cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.input_shape, self.name = tuple(input_shape), str(name)
        linears = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ConfigError(f"classifier {name}: no nn.Linear layer to take features before")
        self._last = linears[-1]

    def _run(self, images):
        x = np.asarray(images, dtype=np.float32).reshape(len(images), *self.input_shape)
        seen = {}
        hook = self._last.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
        try:
            with torch.no_grad():
                scores = self.model(torch.from_numpy(x).to(self.device))
        finally:
            hook.remove()
        return seen["x"].flatten(1).float().cpu().numpy(), scores.float()

    def features(self, images) -> np.ndarray:
        """(B, C*H*W) or (B, C, H, W) images -> (B, d) penultimate activations."""
        return self._run(images)[0]

    def probabilities(self, images) -> np.ndarray:
        """(B, ...) images -> (B, K) softmax class probabilities (float64)."""
        scores = self._run(images)[1].double()
        return torch.softmax(scores, dim=1).cpu().numpy()


def load_classifier_run(run_dir, device="cpu") -> Classifier:
    """Reloads a torch classifier run (its best checkpoint) as a :class:`Classifier`.

    Raises:
        ConfigError: not a torch classifier run, or one trained on preprocessed or hand-made
            features (its inputs would not be images in [0, 1]).
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise ConfigError(f"classifier {run_dir} is not a run directory: {path} does not exist")
    config = json.loads(path.read_text())
    table = config.get("model")
    name = table.get("name") if isinstance(table, dict) else table
    if config.get("engine") != "torch" or name not in MODELS or MODELS[name].twin is None:
        raise ConfigError(f"classifier {run_dir}: need a torch classifier run (--engine "
                          f"torch), got model {name!r} on {config.get('engine')!r}")  # fmt: skip
    if config.get("preprocess") or config.get("features"):
        raise ConfigError(f"classifier {run_dir} was trained on preprocessed inputs; train one "
                          "on the raw images (no --preprocess, no --features)")  # fmt: skip
    data = config.get("data")
    if data not in DATA_SHAPES:
        raise ConfigError(f"classifier {run_dir}: unknown data set {data!r}")
    spec = MODELS[name]
    options = {**spec.defaults(), **{k: v for k, v in table.items() if k != "name"}}
    kwargs = spec.constructor_kwargs(options, DATA_SHAPES[data], 10, config.get("seed", 0))
    module, _, cls = spec.twin.partition(":")
    model = getattr(importlib.import_module(module), cls)(**kwargs)
    arrays, _ = load_checkpoint(run_dir / "best")
    ckpt.load_state(model, ckpt.group(arrays, "params/"))
    return Classifier(model, DATA_SHAPES[data], name=str(run_dir), device=device)
