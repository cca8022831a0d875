"""``visionblocks caption RUN``: a trained captioner captions images and writes them captioned.

``--images a.png b.png ...`` captions image files (for a run on the offline set: resized to its
canvas, encoded like its training images); ``--split test_combo`` (the default for the offline
set; ``val`` for COCO) captions a split's first ``--num`` images and prints the split's BLEU.
Output: ``captions-NAME.png`` (each image with its generated caption and, for a split, its first
reference) and ``captions-NAME.json`` in the run directory or ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionblocks.captioning.gallery import attention_gallery, split_gallery, write_gallery
from visionblocks.captioning.runner import (
    feature_kind,
    format_scores,
    load_best_captioner,
    load_caption_data,
)
from visionblocks.captioning.solver import decode_split
from visionblocks.captioning.synthetic import grid_features, pixel_features
from visionblocks.captioning.vocab import caption_words
from visionblocks.errors import ConfigError, DataFormatError


def add_parser(sub) -> None:
    p = sub.add_parser("caption", help="caption images with a trained captioner run")
    p.add_argument("run_dir", help="the run directory of a captioning-* model")
    p.add_argument("--images", nargs="+", help="image files (PNG/JPEG) to caption")
    p.add_argument("--split", help="caption this split of the run's data (default test_combo "
                   "for the offline set, val for COCO) and print its BLEU")  # fmt: skip
    p.add_argument("--num", type=int, default=16, help="images of the split drawn (16)")
    p.add_argument("--decode", choices=("greedy", "beam"), help="default: the run's decode")
    p.add_argument("--beam-size", type=int, help="default: the run's beam_size")
    p.add_argument("--out", help="folder for captions-*.png/json (default: the run directory)")
    p.set_defaults(func=_cmd_caption)


def read_image(path, size: int) -> np.ndarray:
    """An image file as (3, size, size) uint8 RGB (alpha dropped, nearest-neighbour resize)."""
    from matplotlib import image as mpimg

    try:
        img = np.asarray(mpimg.imread(path))
    except (OSError, ValueError, SyntaxError) as e:
        raise DataFormatError(f"{path}: not a readable image ({e})") from None
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)  # (H, W) -> (H, W, 3)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise DataFormatError(f"{path}: expected an RGB(A) image, got shape {img.shape}")
    img = img[:, :, :3]
    if np.issubdtype(img.dtype, np.floating):
        img = np.rint(np.clip(img, 0, 1) * 255)
    rows = np.arange(size) * img.shape[0] // size  # (size,) nearest source rows
    cols = np.arange(size) * img.shape[1] // size
    return img[rows][:, cols].astype(np.uint8).transpose(2, 0, 1)  # (3, size, size)


def _encode(images, cfg, data) -> np.ndarray:
    opts, kind = cfg.model_options, feature_kind(cfg)
    if kind == "none":
        return np.zeros((len(images), data["train_features"].shape[1]), np.float32)
    if kind in ("cnn", "cnn-grid"):
        feats = data["encoder"].encode(images, kind)
    else:
        encode = grid_features if kind == "grid" else pixel_features
        feats = encode(images, opts["pool"])
    return ((feats - data["feature_mean"]) / data["feature_std"]).astype(np.float32)


def _cmd_caption(args) -> int:
    from visionblocks.runs import read_run_config

    cfg = read_run_config(args.run_dir)
    if not cfg.model.startswith("captioning-"):
        raise ConfigError(f"{args.run_dir} is a {cfg.model!r} run, not a captioner's")
    data, _ = load_caption_data(cfg)
    if cfg.engine == "torch":  # torch is imported only for a torch run
        from visionblocks.captioning.torch_runner import load_best_torch_captioner

        model = load_best_torch_captioner(args.run_dir, cfg, data)
    else:
        model = load_best_captioner(args.run_dir, cfg, data)
    opts = cfg.model_options
    decode = args.decode or opts["decode"]
    beam = args.beam_size or opts["beam_size"]
    words = data["idx_to_word"]
    out = Path(args.out) if args.out else Path(args.run_dir)
    offline = "image_size" in data
    if args.images:
        if not offline:
            raise ConfigError("--images needs a run on the offline set (a COCO run reads VGG-16 "
                              "features, not pixels); use --split val")  # fmt: skip
        images = np.stack([read_image(p, data["image_size"]) for p in args.images])
        sampled = decode_split(model, _encode(images, cfg, data), decode, beam, opts["max_length"])
        rows = [{"image": str(p), "caption": " ".join(caption_words(c, words))}
                for p, c in zip(args.images, sampled)]  # fmt: skip
        name = "images"
    else:
        split = args.split or ("test_combo" if offline else "val")
        if f"{split}_captions" not in data:
            raise ConfigError(f"--split {split}: the run's data has no such split")
        scores, rows, images = split_gallery(model, data, split, args.num, decode, beam,
                                             opts["max_length"])  # fmt: skip
        n = len(set(data[f"{split}_image_idxs"].tolist()))
        print(f"{split} ({n} images, {decode} decoding): {format_scores(scores)}")
        name = split
    for path in write_gallery(out, name, rows, images):
        print(f"wrote {path}")
    if not args.images:
        path = attention_gallery(out, name, model, data, split, max_length=opts["max_length"])
        if path is not None:
            print(f"wrote {path}")
    return 0
