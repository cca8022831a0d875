"""The offline captioning set: coloured shapes on a canvas, grammar captions with relations, and
a held-out combination split, generated deterministically from a seed.

Each image (RGB, ``image_size`` square, black background with a little noise) holds one or two
objects, each a shape (square, circle, triangle, cross) in a colour (red, green, blue, yellow,
purple) and a size (small, large). Two objects stand in a relation (left of, right of, above,
below) that is clear from the picture: they are apart along that axis by more than their sizes
and by more than twice their offset along the other. Every image has ``captions_per_image``
distinct reference captions from a small grammar ("a small red circle left of a large blue
square", "a large blue square to the right of a small red circle", "there is a red circle
above a blue square", ...).

Splits: ``train``, ``val`` and ``test`` never show the held-out (colour, shape) combinations
(default: red circle, green cross, blue triangle, yellow square; every colour and every shape
still occurs in training); every image of ``test_combo`` shows at least one of them, so a model
that only memorises the combinations it saw scores below one that composes colour and shape.

``make_caption_dataset`` returns a ``CaptionDataset``; ``save`` / ``load_caption_dataset`` use
one ``.npz`` (no pickle); ``to_captioning_data`` gives the course's dict (``train_captions``,
``train_image_idxs``, ``train_features``, ..., ``idx_to_word``, ``word_to_idx``), with
features from pooled pixels (vectors), their cells (``grid``: maps for attention) or a frozen
CNN of ours (``cnn`` vectors, ``cnn-grid`` maps; ``captioning.encoder``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionblocks.captioning.vocab import Vocabulary
from visionblocks.errors import DataFormatError, DataNotFoundError

__all__ = [
    "SHAPES",
    "COLOURS",
    "SIZES",
    "RELATIONS",
    "SPLITS",
    "HELD_OUT",
    "CaptionDataset",
    "make_caption_dataset",
    "load_caption_dataset",
    "to_captioning_data",
    "pixel_features",
    "grid_features",
    "FEATURES",
    "describe",
    "DATASET_FILE",
]

SHAPES = ("square", "circle", "triangle", "cross")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 240),
    "yellow": (230, 220, 40),
    "purple": (170, 60, 210),
}
SIZES = ("small", "large")
RELATIONS = ("left of", "right of", "above", "below")
_INVERSE = {0: 1, 1: 0, 2: 3, 3: 2}
_PHRASES = {0: ("left of", "to the left of"), 1: ("right of", "to the right of"),
            2: ("above", "over"), 3: ("below", "under")}  # fmt: skip
SPLITS = ("train", "val", "test", "test_combo")
HELD_OUT = (("red", "circle"), ("green", "cross"), ("blue", "triangle"), ("yellow", "square"))
DATASET_FILE = "captions.npz"
FORMAT_VERSION = 1

# objects: (N, 2, 6) int16 rows [present, shape, colour, size, cx, cy]; relation (N,) int8:
# -1 one object, else the index into RELATIONS of object 0 relative to object 1.
PRESENT, SHAPE, COLOUR, SIZE, CX, CY = range(6)


@dataclass
class CaptionDataset:
    """The generated set.

    Attributes:
        images: split -> (N, 3, S, S) uint8 images.
        captions: split -> (N, R, T) int32 reference captions (the course's padded layout).
        objects: split -> (N, 2, 6) int16 object rows [present, shape, colour, size, cx, cy].
        relations: split -> (N,) int8, index into RELATIONS (-1: one object).
        vocab: the ``Vocabulary``.
        meta: seed, image size, held-out combinations, counts, format version.
    """

    images: dict
    captions: dict
    objects: dict
    relations: dict
    vocab: Vocabulary
    meta: dict = field(default_factory=dict)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self.images)

    def references(self, split: str) -> list[list[list[str]]]:
        """(N,) for each image its R reference captions as word lists (for BLEU)."""
        return [[self.vocab.words(c) for c in caps] for caps in self.captions[split]]

    def save(self, out) -> Path:
        """Writes ``out`` (a folder gets ``captions.npz``) and returns the file's path."""
        path = Path(out)
        if path.suffix != ".npz":
            path.mkdir(parents=True, exist_ok=True)
            path = path / DATASET_FILE
        arrays = {"idx_to_word": np.array(self.vocab.idx_to_word), "meta": np.array(json.dumps(
            self.meta))}  # fmt: skip
        for s in self.splits:
            arrays[f"{s}_images"] = self.images[s]
            arrays[f"{s}_captions"] = self.captions[s]
            arrays[f"{s}_objects"] = self.objects[s]
            arrays[f"{s}_relations"] = self.relations[s]
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path


def describe(obj, with_size=True) -> str:
    """``"small red circle"`` for an object row."""
    words = [SIZES[obj[SIZE]]] if with_size else []
    return " ".join(words + [list(COLOURS)[obj[COLOUR]], SHAPES[obj[SHAPE]]])


def _caption_variants(objs, rel) -> list[str]:
    """Every caption the grammar gives for an image, the plainest first."""
    a = objs[0]
    if rel < 0:
        return [f"a {describe(a)}", f"there is a {describe(a)}", f"a {describe(a, False)}",
                f"a {describe(a)} on a black background", f"one {describe(a)}",
                f"there is one {describe(a, False)}"]  # fmt: skip
    b = objs[1]
    out = []
    for sized in (True, False):
        da, db = describe(a, sized), describe(b, sized)
        for k in range(2):
            out.append(f"a {da} {_PHRASES[rel][k]} a {db}")
            out.append(f"a {db} {_PHRASES[_INVERSE[rel]][k]} a {da}")
    da, db = describe(a), describe(b)
    out += [f"there is a {da} {_PHRASES[rel][0]} a {db}", f"a {da} and a {db}",
            f"a {db} and a {da}"]  # fmt: skip
    return out


def _half_size(size: int, image_size: int) -> int:
    return max(2, round(image_size * (0.11 if size == 0 else 0.2)))


def _draw(canvas, obj, image_size: int, rgb) -> None:
    """Paints one object into ``canvas`` (3, S, S) float."""
    s = _half_size(obj[SIZE], image_size)
    cx, cy = int(obj[CX]), int(obj[CY])
    yy, xx = np.mgrid[-s : s + 1, -s : s + 1]  # (2s+1, 2s+1) offsets from the centre
    shape = SHAPES[obj[SHAPE]]
    if shape == "square":
        mask = np.ones_like(xx, dtype=bool)
    elif shape == "circle":
        mask = xx**2 + yy**2 <= (s + 0.5) ** 2
    elif shape == "triangle":  # apex at the top, base along the bottom row
        mask = np.abs(xx) <= (yy + s) / 2 + 0.5
    else:  # cross: two bars a third of the width thick
        t = max(1, (2 * s + 1) // 6)
        mask = (np.abs(xx) <= t) | (np.abs(yy) <= t)
    ys, xs = yy[mask] + cy, xx[mask] + cx
    canvas[:, ys, xs] = np.asarray(rgb, float)[:, None]


def _place(rng, objs, rel, image_size) -> None:
    """Sets the centres so that the relation is unambiguous and the objects do not touch."""
    sizes = [_half_size(o[SIZE], image_size) for o in objs]
    if rel < 0:
        s = sizes[0]
        objs[0][CX], objs[0][CY] = rng.integers(s, image_size - s, 2)
        return
    axis = CX if rel in (0, 1) else CY
    other = CY if axis == CX else CX
    first_low = rel in (0, 2)  # object 0 is left of / above object 1
    for _ in range(1000):
        main = [rng.integers(s, image_size - s) for s in sizes]
        off = [rng.integers(s, image_size - s) for s in sizes]
        gap = (main[1] - main[0]) if first_low else (main[0] - main[1])
        if gap >= sizes[0] + sizes[1] + 2 and abs(off[0] - off[1]) * 2 < gap:
            for o, m, f in zip(objs, main, off):
                o[axis], o[other] = m, f
            return
    raise RuntimeError("could not place two objects; image_size is too small")  # pragma: no cover


def _sample_object(rng, allowed) -> list[int]:
    shape, colour = allowed[rng.integers(len(allowed))]
    return [1, shape, colour, int(rng.integers(2)), 0, 0]


def _make_split(rng, n, image_size, n_refs, combos_in, combos_out, must_hold_out):
    images = np.zeros((n, 3, image_size, image_size), np.uint8)
    objects = np.zeros((n, 2, 6), np.int16)
    relations = np.full(n, -1, np.int8)
    texts = []
    colours = list(COLOURS.values())
    for i in range(n):
        two = rng.random() < 0.75
        objs = [_sample_object(rng, combos_in)]
        if two:
            objs.append(_sample_object(rng, combos_in))
        if must_hold_out:  # at least one held-out object, in either place
            objs[int(rng.integers(len(objs)))] = _sample_object(rng, combos_out)
        rel = int(rng.integers(4)) if two else -1
        _place(rng, objs, rel, image_size)
        canvas = rng.normal(0.0, 6.0, (3, image_size, image_size)) + 12.0  # dark, noisy
        for o in objs:
            jitter = rng.uniform(-15, 15, 3)
            _draw(canvas, o, image_size, np.asarray(colours[o[COLOUR]]) + jitter)
        images[i] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        objects[i, : len(objs)] = objs
        relations[i] = rel
        variants = _caption_variants(objs, rel)
        pick = rng.permutation(len(variants))[:n_refs]  # distinct references, random order
        texts.append([variants[k] for k in sorted(pick)])
    return images, objects, relations, texts


def make_caption_dataset(seed=0, n_train=4000, n_val=500, n_test=500, n_test_combo=500,
                         image_size=32, captions_per_image=5, held_out=HELD_OUT,
                         max_length=None) -> CaptionDataset:  # fmt: skip
    """Generates the offline captioning set.

    Args:
        seed: everything follows from it (same seed and arguments, same arrays).
        n_train, n_val, n_test, n_test_combo: images per split.
        image_size: the canvas side in pixels (at least 24).
        captions_per_image: reference captions per image (1 to 6).
        held_out: (colour, shape) pairs kept out of train/val/test and put in every
            ``test_combo`` image.
        max_length: words per caption in the arrays (None: the longest caption).

    Returns:
        the ``CaptionDataset``.
    """
    for name, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test),
                    ("n_test_combo", n_test_combo)):  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if not isinstance(image_size, int) or image_size < 24:
        raise ValueError(f"image_size must be an integer >= 24, got {image_size!r}")
    if not isinstance(captions_per_image, int) or not 1 <= captions_per_image <= 6:
        raise ValueError(f"captions_per_image must be in 1..6, got {captions_per_image!r}")
    held = []
    for pair in held_out:
        colour, shape = pair
        if colour not in COLOURS or shape not in SHAPES:
            raise ValueError(f"held_out: unknown (colour, shape) {pair!r}")
        held.append((SHAPES.index(shape), list(COLOURS).index(colour)))
    all_combos = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))]
    combos_in = [p for p in all_combos if p not in held]
    if not held and n_test_combo:
        raise ValueError("held_out is empty but n_test_combo > 0")
    for k, name in enumerate(SHAPES):  # unseen combinations, not unseen words
        if all(p[0] != k for p in combos_in):
            raise ValueError(f"held_out: every combination with {name!r} is held out")
    for k, name in enumerate(COLOURS):
        if all(p[1] != k for p in combos_in):
            raise ValueError(f"held_out: every combination with {name!r} is held out")
    counts = {"train": n_train, "val": n_val, "test": n_test, "test_combo": n_test_combo}
    root = np.random.SeedSequence(seed)
    raw = {}
    for split, child in zip(SPLITS, root.spawn(len(SPLITS))):
        rng = np.random.default_rng(child)  # one stream per split: sizes do not shift others
        raw[split] = _make_split(rng, counts[split], image_size, captions_per_image, combos_in,
                                 held, split == "test_combo")  # fmt: skip
    all_texts = [t for split in SPLITS for caps in raw[split][3] for t in caps]
    vocab = Vocabulary.build(all_texts)  # the grammar's words; none is rare
    length = max_length if max_length is not None else max(len(t.split()) for t in all_texts)
    ds = CaptionDataset({}, {}, {}, {}, vocab)
    for split in SPLITS:
        images, objects, relations, texts = raw[split]
        flat = vocab.encode([t for caps in texts for t in caps], max_length=length)
        ds.images[split] = images
        ds.captions[split] = flat.reshape(len(texts), captions_per_image, length + 2)  # (N,R,T)
        ds.objects[split], ds.relations[split] = objects, relations
    ds.meta = {
        "format": FORMAT_VERSION, "seed": seed, "image_size": image_size,
        "captions_per_image": captions_per_image, "counts": counts,
        "held_out": [list(p) for p in held_out], "shapes": list(SHAPES),
        "colours": list(COLOURS), "sizes": list(SIZES), "relations": list(RELATIONS),
    }  # fmt: skip
    return ds


def load_caption_dataset(path) -> CaptionDataset:
    """Reads a set written by ``CaptionDataset.save`` (a folder or the ``.npz``), checked."""
    path = Path(path)
    if path.is_dir():
        path = path / DATASET_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"{path}: no captioning set; make one with `visionblocks data make captions --out DIR`"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataFormatError(f"{path}: not a readable .npz ({e})") from None
    for k in ("idx_to_word", "meta"):
        if k not in arrays:
            raise DataFormatError(f"{path}: missing key {k!r}")
    meta = json.loads(str(arrays["meta"]))
    vocab = Vocabulary([str(w) for w in arrays["idx_to_word"]])
    ds = CaptionDataset({}, {}, {}, {}, vocab, meta)
    for s in SPLITS:
        keys = [f"{s}_{k}" for k in ("images", "captions", "objects", "relations")]
        present = [k in arrays for k in keys]
        if not any(present):
            continue
        if not all(present):
            missing = [k for k, p in zip(keys, present) if not p]
            raise DataFormatError(f"{path}: split {s!r} lacks {', '.join(missing)}")
        im, cap, obj, rel = (arrays[k] for k in keys)
        n = len(im)
        if im.dtype != np.uint8 or im.ndim != 4 or im.shape[1] != 3:
            raise DataFormatError(f"{path}: {s}_images must be (N, 3, S, S) uint8, got "
                                  f"{im.dtype} {im.shape}")  # fmt: skip
        if cap.ndim != 3 or len(cap) != n or not np.issubdtype(cap.dtype, np.integer):
            raise DataFormatError(f"{path}: {s}_captions must be ({n}, R, T) integers, got "
                                  f"{cap.dtype} {cap.shape}")  # fmt: skip
        if cap.size and (cap.min() < 0 or cap.max() >= len(vocab)):
            raise DataFormatError(f"{path}: {s}_captions holds indices outside the vocabulary")
        if obj.shape != (n, 2, 6) or rel.shape != (n,):
            raise DataFormatError(f"{path}: {s}_objects / {s}_relations do not match {n} images")
        ds.images[s], ds.captions[s], ds.objects[s], ds.relations[s] = im, cap, obj, rel
    if "train" not in ds.images:
        raise DataFormatError(f"{path}: no train split")
    return ds


def pixel_features(images: np.ndarray, pool: int = 4) -> np.ndarray:
    """A fixed image encoder: average-pools ``pool x pool`` blocks and flattens.

    Args:
        images: (N, 3, S, S) uint8 images, S divisible by ``pool``.

    Returns:
        (N, 3 * (S // pool) ** 2) float32 in about [-0.5, 0.5].
    """
    n, c, h, w = images.shape
    if h % pool or w % pool:
        raise ValueError(f"pool={pool} must divide the image size {h}x{w}")
    x = images.reshape(n, c, h // pool, pool, w // pool, pool).mean(axis=(3, 5))  # (N,C,h',w')
    return (x.reshape(n, -1) / 255.0 - 0.5).astype(np.float32)  # (N, C*h'*w')


def grid_features(images: np.ndarray, pool: int = 4) -> np.ndarray:
    """A fixed spatial encoder (for attention): every ``pool x pool`` cell's pixels as one
    feature vector (space to depth).

    Args:
        images: (N, 3, S, S) uint8 images, S divisible by ``pool``.

    Returns:
        (N, 3 * pool * pool, S // pool, S // pool) float32 in [-0.5, 0.5].
    """
    n, c, h, w = images.shape
    if h % pool or w % pool:
        raise ValueError(f"pool={pool} must divide the image size {h}x{w}")
    x = images.reshape(n, c, h // pool, pool, w // pool, pool)  # (N, C, h', p, w', p)
    x = x.transpose(0, 1, 3, 5, 2, 4).reshape(n, c * pool * pool, h // pool, w // pool)
    return (x / 255.0 - 0.5).astype(np.float32)  # (N, C*p*p, h', w')


FEATURES = ("pixels", "grid", "cnn", "cnn-grid", "none")


def to_captioning_data(ds: CaptionDataset, features="pixels", pool=4, standardize=True,
                       encoder=None) -> dict:  # fmt: skip
    """The course's data dict for a captioning solver.

    Args:
        ds: the set.
        features: 'pixels' (``pixel_features``, (N, D)), 'grid' (``grid_features``, (N, D,
            H', W') maps for attention), 'cnn' / 'cnn-grid' (the frozen ``encoder``'s global
            pooled vector (N, C) / last conv map (N, C, S/4, S/4)), 'none' (zeros of the
            'pixels' shape: an image-blind model's input) or a callable of the (N, 3, S, S)
            uint8 images.
        pool: the pooling of 'pixels'.
        encoder: a trained ``captioning.encoder.CNNEncoder`` (needed by 'cnn' / 'cnn-grid';
            ``encoder.train_encoder(ds)`` makes one from the train split).
        standardize: shift and scale every feature to mean 0, standard deviation 1 over the
            training images (the statistics of train applied to every split).

    Returns:
        dict with, per split, ``{split}_captions`` (N * R, T) int32 (every reference a row),
        ``{split}_image_idxs`` (N * R,) int32, ``{split}_features`` (N, D) float32,
        ``{split}_images`` (N, 3, S, S) uint8; ``idx_to_word``, ``word_to_idx``; and with
        ``standardize`` the training statistics ``feature_mean``, ``feature_std`` (D,).
    """
    if not callable(features) and features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES} or a callable, got {features!r}")
    if features in ("cnn", "cnn-grid") and encoder is None:
        raise ValueError(f"features={features!r} needs encoder= (captioning.encoder."
                         "train_encoder(ds) trains one on the train split)")  # fmt: skip
    data = {"idx_to_word": ds.vocab.idx_to_word, "word_to_idx": ds.vocab.word_to_idx}
    for s in ds.splits:
        imgs, caps = ds.images[s], ds.captions[s]
        n, r, t = caps.shape
        if callable(features):
            feats = np.asarray(features(imgs), np.float32)
        elif features == "pixels":
            feats = pixel_features(imgs, pool)
        elif features == "grid":
            feats = grid_features(imgs, pool)
        elif features in ("cnn", "cnn-grid"):
            feats = encoder.encode(imgs, features)
        else:  # none
            feats = np.zeros((n, 3 * (imgs.shape[2] // pool) ** 2), np.float32)
        data[f"{s}_captions"] = caps.reshape(n * r, t).astype(np.int32)  # (N*R, T)
        data[f"{s}_image_idxs"] = np.repeat(np.arange(n, dtype=np.int32), r)  # (N*R,)
        data[f"{s}_features"] = feats
        data[f"{s}_images"] = imgs
    if standardize and features != "none":
        axes = (0, *range(2, data["train_features"].ndim))  # per feature (channel)
        mean = data["train_features"].mean(axis=axes, keepdims=True)[0]  # (D,) or (D, 1, 1)
        std = data["train_features"].std(axis=axes, keepdims=True)[0] + 1e-6
        for s in ds.splits:
            data[f"{s}_features"] = ((data[f"{s}_features"] - mean) / std).astype(np.float32)
        data["feature_mean"], data["feature_std"] = mean, std  # (D,) to encode new images
    return data
