"""``visionblocks train --model captioning-{rnn,lstm,gru,attention}``: the run of a captioner,
from its config to ``runs/NAME/`` (config.json, metrics.jsonl, checkpoints, summary.json with BLEU).

Data: ``--data captions:DIR`` (the offline set of ``visionblocks data make captions``; scored
at the end on its ``test`` and ``test_combo`` splits) or ``--data coco`` / ``coco:DIR`` (the
course's HDF5 files; scored on ``val``, the only other split they have). BLEU is corpus
BLEU-1..4 on the vocabulary's words (``<START>``, ``<END>``, ``<NULL>``, ``<UNK>`` left out),
as fractions in [0, 1]; ``exact`` is the fraction of images captioned exactly as one of their
references.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visionblocks.captioning.attention import AttentionCaptioner
from visionblocks.captioning.coco import load_coco_data
from visionblocks.captioning.encoder import cached_encoder
from visionblocks.captioning.gallery import attention_gallery, split_gallery, write_gallery
from visionblocks.captioning.rnn import CaptioningRNN
from visionblocks.captioning.solver import CaptioningSolver
from visionblocks.captioning.synthetic import load_caption_dataset, to_captioning_data
from visionblocks.checkpoint import load_checkpoint
from visionblocks.errors import ConfigError
from visionblocks.run_inputs import default_run_dir
from visionblocks.training import open_run_dir, write_summary

__all__ = ["load_caption_data", "build_captioner", "feature_kind", "load_best_captioner",
           "train_run", "evaluate_run", "BLEU_NOTE"]  # fmt: skip

BLEU_NOTE = (
    "corpus BLEU-1..4 of free-running captions against all references of each image; "
    "words as in the vocabulary, special tokens left out; fractions in [0, 1]"
)

#: shared options that mean nothing to a captioner, with their "not used" values: any other
#: value is an error, not a silent no-op
_NOT_TAKEN = {"num_val": None, "preprocess": None, "features": [], "augment": [],
              "schedule": None, "warmup_epochs": 0.0}  # fmt: skip


def _check_options(cfg) -> None:
    for name, unused in _NOT_TAKEN.items():
        if getattr(cfg, name) != unused:
            raise ConfigError(f"option {name!r} does not apply to model {cfg.model!r} (a "
                              "captioner: its splits come with its data set)")  # fmt: skip


def _source(cfg) -> tuple[str, str | None]:
    kind, _, where = str(cfg.data).partition(":")
    if kind not in ("captions", "coco"):
        raise ConfigError(
            f"option data: model {cfg.model!r} needs --data captions:DIR (the set of "
            "`visionblocks data make captions`) or --data coco[:DIR] (the course's COCO files), "
            f"got {cfg.data!r}"
        )
    where = where or cfg.data_dir
    if kind == "captions" and not where:
        raise ConfigError("option data: captions needs its folder, --data captions:DIR")
    return kind, where


def load_caption_data(cfg) -> tuple[dict, tuple[str, ...]]:
    """The course-style data dict a captioning config names, and the splits scored at the end.

    ``num_train`` keeps that many training captions (a seeded draw).
    """
    kind, where = _source(cfg)
    opts = cfg.model_options
    features = feature_kind(cfg)
    if kind == "captions":
        ds = load_caption_dataset(where)
        encoder = None
        if features in ("cnn", "cnn-grid"):  # trained on train once, kept beside the set
            encoder, record = cached_encoder(ds, Path(where) / "encoders",
                                             epochs=opts["cnn_epochs"], seed=cfg.seed)  # fmt: skip
            acc = record.get("val_accuracy", {})
            print(f"CNN encoder ({record['seconds']} s to train): val accuracy " + ", ".join(
                f"{k} {v:.3f}" for k, v in acc.items()), flush=True)  # fmt: skip
        data = to_captioning_data(ds, features=features, pool=opts["pool"], encoder=encoder)
        data["encoder"] = encoder
        data["image_size"] = int(ds.images["train"].shape[2])
        if cfg.num_train is not None and cfg.num_train < len(data["train_captions"]):
            keep = np.sort(np.random.default_rng(cfg.seed).choice(
                len(data["train_captions"]), cfg.num_train, replace=False))  # fmt: skip
            data["train_captions"] = data["train_captions"][keep]
            data["train_image_idxs"] = data["train_image_idxs"][keep]
        splits = tuple(s for s in ("test", "test_combo") if f"{s}_captions" in data)
        return data, splits
    if features in ("grid", "cnn-grid"):
        raise ConfigError(f"model {cfg.model!r} attends over spatial feature maps; the course's "
                          "COCO files hold fc7 vectors (use captioning-lstm there)")  # fmt: skip
    if features != "pixels":
        raise ConfigError("option image_features: the COCO files hold VGG-16 features; "
                          f"image_features={features} is for the offline set")  # fmt: skip
    data = load_coco_data(where, max_train=cfg.num_train, pca_features=opts["pca_features"],
                          seed=cfg.seed)  # fmt: skip
    return data, ("val",)


def feature_kind(cfg) -> str:
    """What the model reads: 'pixels' / 'cnn' / 'none' vectors, or 'grid' / 'cnn-grid' maps
    (the attention model)."""
    return cfg.model_options["image_features"]


def build_captioner(cfg, data):
    """The ``CaptioningRNN`` (or ``AttentionCaptioner``) a config describes, for the data's
    vocabulary and features."""
    opts = cfg.model_options
    extra = {"forget_bias": opts["forget_bias"]} if "forget_bias" in opts else {}
    if cfg.model == "captioning-attention":
        try:
            return AttentionCaptioner(
                data["word_to_idx"], feature_shape=data["train_features"].shape[1:],
                wordvec_dim=opts["wordvec_dim"], hidden_dim=opts["hidden_dim"],
                attention_dim=opts["attention_dim"], attention_reg=opts["attention_reg"],
                dtype=np.float32, seed=cfg.seed, **extra,
            )  # fmt: skip
        except ValueError as e:
            raise ConfigError(f"AttentionCaptioner: {e}") from None
    try:
        return CaptioningRNN(data["word_to_idx"], input_dim=int(data["train_features"].shape[1]),
                             wordvec_dim=opts["wordvec_dim"], hidden_dim=opts["hidden_dim"],
                             cell_type=cfg.spec.name.removeprefix("captioning-"),
                             dtype=np.float32, seed=cfg.seed, **extra)  # fmt: skip
    except ValueError as e:
        raise ConfigError(f"CaptioningRNN: {e}") from None


def load_best_captioner(run_dir, cfg, data) -> CaptioningRNN:
    """Rebuilds a run's captioner and loads its kept (best validation BLEU-4) weights."""
    model = build_captioner(cfg, data)
    arrays, _ = load_checkpoint(Path(run_dir) / "best")
    if set(arrays) != set(model.params):
        raise ConfigError(f"{run_dir}: checkpoint params {sorted(arrays)} do not fit "
                          f"{cfg.model!r}")  # fmt: skip
    for k, v in arrays.items():
        if v.shape != model.params[k].shape:
            raise ConfigError(
                f"{run_dir}: checkpoint {k} has shape {v.shape}, the model "
                f"wants {model.params[k].shape} (has the data set changed?)"
            )
    model.params = dict(arrays)
    return model


def make_solver(cfg, model, data, run_dir, resume) -> CaptioningSolver:
    opts = cfg.model_options
    optim_config = {"learning_rate": cfg.lr}
    if cfg.momentum is not None:
        optim_config["momentum"] = cfg.momentum
    return CaptioningSolver(
        model, data, update_rule=cfg.update_rule, optim_config=optim_config,
        lr_decay=cfg.lr_decay, batch_size=cfg.batch_size, num_epochs=cfg.epochs,
        print_every=cfg.print_every, verbose=True, grad_clip=opts["clip_norm"],
        num_val_samples=opts["num_val_samples"], val_decode=opts["decode"],
        beam_size=opts["beam_size"], max_length=opts["max_length"], seed=cfg.seed,
        out_dir=run_dir, resume=resume,
    )  # fmt: skip


def train_run(cfg, resume: bool = False) -> dict:
    """Trains the configured captioner and writes its run directory.

    Returns:
        the summary (also ``summary.json``): the kept epoch, its validation BLEU, and with
        ``test`` the BLEU-1..4 and exact rate of each scored split.
    """
    _check_options(cfg)
    data, splits = load_caption_data(cfg)
    n = len(data["train_captions"])
    if cfg.batch_size > n:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {n} training captions")
    model = build_captioner(cfg, data)  # a bad architecture stops before any file is written
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
    cfg.out = str(run_dir)
    run_dir = open_run_dir(run_dir, cfg.to_dict(), resume)
    start = time.perf_counter()
    solver = make_solver(cfg, model, data, run_dir, resume)
    solver.train()
    summary = {
        "epochs": solver.epoch, "kept_epoch": solver.best_epoch,
        "kept": "best validation BLEU-4" if solver.monitor else "last epoch (no validation)",
        "best_val_bleu4": solver.best_score, "decode": cfg.model_options["decode"],
        "num_params": int(sum(v.size for v in model.params.values())), "bleu": BLEU_NOTE,
        "train_seconds": round(time.perf_counter() - start, 2),
    }  # fmt: skip
    if cfg.test:
        opts = cfg.model_options
        for split in splits:
            scores, rows, images = split_gallery(model, data, split, 16, opts["decode"],
                                                 opts["beam_size"], opts["max_length"])  # fmt: skip
            summary[split] = scores
            print(f"{split}: " + format_scores(scores))
            write_gallery(run_dir, split, rows, images)  # captions-SPLIT.json/.png
            attention_gallery(run_dir, split, model, data, split, max_length=opts["max_length"])
    summary.update(data=cfg.data, model=cfg.model, num_train_captions=n, test_accuracy=None)
    write_summary(run_dir, summary)
    return summary


def format_scores(scores: dict) -> str:
    bleu = " ".join(f"{scores[f'bleu{k}']:.4f}" for k in range(1, 5))
    return f"BLEU-1..4 {bleu}; exact captions {scores['exact']:.4f}"


def evaluate_run(cfg, data, run_dir):
    raise ConfigError(
        f"{run_dir}: a captioner is scored with BLEU: `visionblocks caption "
        f"{run_dir} --split test_combo` prints it and writes captioned images"
    )
