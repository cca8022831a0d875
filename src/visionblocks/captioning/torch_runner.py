"""``visionblocks train --model captioning-* --engine torch``: a captioner's run on the PyTorch
engine, from its config to ``runs/NAME/`` (the NumPy run's files: config.json, metrics.jsonl,
``last``/``best`` checkpoints, summary.json with BLEU, the captioned galleries).

Models: ``captioning-rnn``/``-lstm``/``-gru`` and ``captioning-attention`` are the torch twins
of ``torchkit.models_captioning`` (same options and, for the same seed, the same initial
weights as the NumPy models); ``captioning-transformer`` is the course's
``CaptioningTransformer`` (the image as one memory token) and ``captioning-transformer-grid``
the ``GridCaptioningTransformer`` (cross-attention over a spatial feature map, one token per
cell). The data, the scored splits and BLEU are the NumPy run's (``captioning.runner``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from visionblocks.captioning import runner as R
from visionblocks.captioning.gallery import attention_gallery, split_gallery, write_gallery
from visionblocks.captioning.torch_solver import TorchCaptioner, TorchCaptioningSolver
from visionblocks.captioning.transformer import CaptioningTransformer, GridCaptioningTransformer
from visionblocks.checkpoint import load_checkpoint
from visionblocks.errors import ConfigError
from visionblocks.run_inputs import default_run_dir
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.torchkit.distributed import pick_device
from visionblocks.torchkit.models_captioning import AttentionCaptioner, CaptioningRNN
from visionblocks.torchkit.optim import check_optimizer
from visionblocks.training import open_run_dir, write_summary

__all__ = ["build_torch_captioner", "load_best_torch_captioner", "train_run", "TRANSFORMERS"]

#: the Transformer captioners' model names
TRANSFORMERS = ("captioning-transformer", "captioning-transformer-grid")

#: torch-engine options a captioner does not use, with their "not used" values
_NOT_TAKEN = {"label_smoothing": 0.0, "bf16": False, "channels_last": False, "tta_flip": False,
              "fit_on": None}  # fmt: skip


def _check_options(cfg) -> float | None:
    """The checks before anything is read; returns the gradient-norm clip to use."""
    R._check_options(cfg)
    for name, unused in _NOT_TAKEN.items():
        if getattr(cfg, name) != unused:
            raise ConfigError(f"option {name!r} does not apply to model {cfg.model!r} (a "
                              "captioner on the torch engine)")  # fmt: skip
    check_optimizer(cfg.update_rule)
    clip, other = cfg.model_options["clip_norm"], cfg.grad_clip
    if clip is not None and other is not None and clip != other:
        raise ConfigError(f"options clip_norm ({clip}) and grad_clip ({other}) both clip the "
                          "gradient norm; give one")  # fmt: skip
    return clip if clip is not None else other


def _seq_length(data) -> int:
    return int(data["train_captions"].shape[1])


def build_torch_captioner(cfg, data) -> torch.nn.Module:
    """The torch captioner a config describes, for the data's vocabulary and features (float32;
    the initialisation follows ``cfg.seed``)."""
    opts, name = cfg.model_options, cfg.model
    feats = data["train_features"]
    extra = {"forget_bias": opts["forget_bias"]} if "forget_bias" in opts else {}
    try:
        if name in TRANSFORMERS:
            # positions: the teacher-forced inputs (T - 1) and the decoded words
            max_len = max(int(opts["max_length"]), _seq_length(data))
            kw = dict(num_heads=opts["num_heads"], num_layers=opts["num_layers"],
                      max_length=max_len, dim_feedforward=opts["dim_feedforward"],
                      dropout=opts["dropout"])  # fmt: skip
            with torch.random.fork_rng(devices=[]):  # seeded without touching the caller's
                torch.manual_seed(int(cfg.seed))
                if name == "captioning-transformer-grid":
                    if feats.ndim != 4:
                        raise ValueError(f"needs (N, C, H, W) feature maps, got {feats.shape}")
                    return GridCaptioningTransformer(
                        data["word_to_idx"], int(feats.shape[1]), opts["wordvec_dim"],
                        grid_size=tuple(int(s) for s in feats.shape[2:]), **kw,
                    )  # fmt: skip
                if feats.ndim != 2:
                    raise ValueError(f"needs (N, D) feature vectors, got {feats.shape}")
                return CaptioningTransformer(data["word_to_idx"], int(feats.shape[1]),
                                             opts["wordvec_dim"], **kw)  # fmt: skip
        if name == "captioning-attention":
            return AttentionCaptioner(
                data["word_to_idx"], feature_shape=feats.shape[1:],
                wordvec_dim=opts["wordvec_dim"], hidden_dim=opts["hidden_dim"],
                attention_dim=opts["attention_dim"], attention_reg=opts["attention_reg"],
                dtype=np.float32, seed=cfg.seed, **extra,
            )  # fmt: skip
        return CaptioningRNN(data["word_to_idx"], input_dim=int(feats.shape[1]),
                             wordvec_dim=opts["wordvec_dim"], hidden_dim=opts["hidden_dim"],
                             cell_type=name.removeprefix("captioning-"), dtype=np.float32,
                             seed=cfg.seed, **extra)  # fmt: skip
    except (ValueError, KeyError) as e:
        raise ConfigError(f"model {name!r}: {e}") from None


def load_best_torch_captioner(run_dir, cfg, data) -> TorchCaptioner:
    """Rebuilds a torch run's captioner with its kept (best validation BLEU-4) weights, ready
    to decode NumPy features (``TorchCaptioner``)."""
    model = build_torch_captioner(cfg, data)
    arrays, _ = load_checkpoint(Path(run_dir) / "best")
    try:
        ckpt.load_state(model, ckpt.group(arrays, "params/"))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"{run_dir}: the checkpoint does not fit {cfg.model!r} (has the data "
                          f"set changed?): {first}") from None  # fmt: skip
    return TorchCaptioner(model.to(pick_device(cfg.device)).eval())


def make_solver(cfg, model, data, run_dir, resume, grad_clip) -> TorchCaptioningSolver:
    opts = cfg.model_options
    return TorchCaptioningSolver(
        model, data, update_rule=cfg.update_rule, lr=cfg.lr, momentum=cfg.momentum,
        weight_decay=cfg.weight_decay, lr_decay=cfg.lr_decay, batch_size=cfg.batch_size,
        num_epochs=cfg.epochs, grad_clip=grad_clip, num_val_samples=opts["num_val_samples"],
        val_decode=opts["decode"], beam_size=opts["beam_size"], max_length=opts["max_length"],
        seed=cfg.seed, device=cfg.device, out_dir=run_dir, resume=resume, verbose=True,
        print_every=cfg.print_every,
    )  # fmt: skip


def train_run(cfg, resume: bool = False) -> dict:
    """Trains the configured captioner on the torch engine and writes its run directory.

    Returns:
        the summary (also ``summary.json``), as the NumPy run's, with the engine and device.
    """
    grad_clip = _check_options(cfg)
    data, splits = R.load_caption_data(cfg)
    n = len(data["train_captions"])
    if cfg.batch_size > n:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {n} training captions")
    model = build_torch_captioner(cfg, data)  # a bad architecture stops before any file
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
    cfg.out = str(run_dir)
    run_dir = open_run_dir(run_dir, cfg.to_dict(), resume)
    start = time.perf_counter()
    solver = make_solver(cfg, model, data, run_dir, resume, grad_clip)
    solver.train()
    summary = {
        "epochs": solver.epoch, "kept_epoch": solver.best_epoch,
        "kept": "best validation BLEU-4" if solver.monitor else "last epoch (no validation)",
        "best_val_bleu4": solver.best_score, "decode": cfg.model_options["decode"],
        "num_params": int(sum(p.numel() for p in model.parameters())), "bleu": R.BLEU_NOTE,
        "train_seconds": round(time.perf_counter() - start, 2), "engine": "torch",
        "device": str(solver.device),
    }  # fmt: skip
    if cfg.test:
        opts = cfg.model_options
        for split in splits:
            scores, rows, images = split_gallery(solver.captioner, data, split, 16,
                                                 opts["decode"], opts["beam_size"],
                                                 opts["max_length"])  # fmt: skip
            summary[split] = scores
            print(f"{split}: " + R.format_scores(scores))
            write_gallery(run_dir, split, rows, images)  # captions-SPLIT.json/.png
            attention_gallery(run_dir, split, solver.captioner, data, split,
                              max_length=opts["max_length"])  # fmt: skip
    summary.update(data=cfg.data, model=cfg.model, num_train_captions=n, test_accuracy=None)
    write_summary(run_dir, summary)
    return summary
