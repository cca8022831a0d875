"""COCO captions: the course's HDF5 files and the official ``captions_*2014.json``, checked.

The course's folder (``coco_captioning/``, from ``coco_captioning.zip``) holds
``coco2014_captions.h5`` (``train_captions`` (N, 17) int32, ``train_image_idxs`` (N,), and the
``val_*`` pair), the VGG-16 fc7 features ``train2014_vgg16_fc7.h5`` / ``val2014_...`` (key
``features``, (M, 4096)) and their PCA variants ``..._pca.h5`` ((M, 512)),
``coco2014_vocab.json`` (``idx_to_word``, ``word_to_idx``) and ``train2014_urls.txt`` /
``val2014_urls.txt`` (one image address a line). ``load_coco_data`` reads them into the
course's dict; every array is checked (keys, shapes, dtypes, index ranges) and a bad file is a
``DataFormatError`` naming the file and the key. ``write_coco_data`` writes the same layout.

Nothing downloads here: ``captioning.coco_download`` fetches the files explicitly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from visionblocks.captioning.vocab import Vocabulary, tokenize
from visionblocks.data.sources import candidate_dirs
from visionblocks.errors import DataFormatError, DataNotFoundError

__all__ = [
    "COCO_NAME",
    "CAPTIONS_FILE",
    "VOCAB_FILE",
    "feature_file",
    "url_file",
    "find_coco_dir",
    "load_coco_data",
    "sample_coco_minibatch",
    "write_coco_data",
    "read_captions_json",
    "load_coco_captions_json",
]

COCO_NAME = "coco_captioning"
CAPTIONS_FILE = "coco2014_captions.h5"
VOCAB_FILE = "coco2014_vocab.json"
SPLITS = ("train", "val")


def feature_file(split: str, pca_features: bool = True) -> str:
    """``train2014_vgg16_fc7_pca.h5`` and its siblings."""
    return f"{split}2014_vgg16_fc7{'_pca' if pca_features else ''}.h5"


def url_file(split: str) -> str:
    return f"{split}2014_urls.txt"


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a core dependency of the captioning data
        raise ImportError(
            "reading the course's COCO files needs h5py: pip install 'visionblocks[dev]' or h5py"
        ) from None
    return h5py


def find_coco_dir(base_dir=None) -> Path:
    """The folder holding ``coco2014_captions.h5``: ``base_dir`` (or its ``coco_captioning``
    subfolder), else ``$VISIONBLOCKS_DATA[/coco_captioning]``, then
    ``~/.cache/visionblocks/coco_captioning``."""
    searched = candidate_dirs(COCO_NAME, base_dir)
    for d in searched:
        if (d / CAPTIONS_FILE).is_file():
            return d
    raise DataNotFoundError(
        f"the course's COCO captioning files were not found: looked for {CAPTIONS_FILE} in "
        f"{', '.join(map(str, searched))}; run `visionblocks data download-coco course` or "
        "unzip the course's coco_captioning.zip there"
    )


def _read_h5(path: Path, keys) -> dict:
    h5py = _h5py()
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in keys if k not in f]
            if missing:
                raise DataFormatError(
                    f"{path}: missing key(s) {', '.join(missing)}; it holds {', '.join(f.keys())}"
                )
            return {k: np.asarray(f[k]) for k in f.keys()}
    except OSError as e:
        raise DataFormatError(f"{path}: not a readable HDF5 file ({e})") from None


def _check_int(arr, ndim, where) -> np.ndarray:
    if arr.ndim != ndim or not np.issubdtype(arr.dtype, np.integer):
        raise DataFormatError(f"{where}: expected a {ndim}-D integer array, got {arr.dtype} "
                              f"{arr.shape}")  # fmt: skip
    return arr


def _read_urls(path: Path, count: int) -> np.ndarray:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    urls = np.asarray([line.strip() for line in path.read_text().splitlines()])
    if len(urls) != count:
        raise DataFormatError(
            f"{path}: {len(urls)} addresses for {count} images in the feature file"
        )
    return urls


def load_coco_data(base_dir=None, max_train=None, pca_features=True, seed=0):
    """Loads the course's COCO captioning data (the course's ``load_coco_data``).

    Args:
        base_dir: the ``coco_captioning`` folder; None searches as ``find_coco_dir``.
        max_train: keep this many training captions, drawn with replacement as the course
            does (None: all).
        pca_features: the 512-d PCA features instead of the 4096-d fc7 ones.
        seed: the generator of the ``max_train`` draw (the course used the global one).

    Returns:
        dict with ``train_captions`` (N, T) int32, ``train_image_idxs`` (N,), ``val_captions``,
        ``val_image_idxs``, ``train_features`` (M, D), ``val_features``, ``idx_to_word`` (V,)
        list, ``word_to_idx`` dict, ``train_urls`` (M,) and ``val_urls`` strings.

    Raises:
        DataNotFoundError: a file is missing (named).
        DataFormatError: a file lacks a key or holds an array of the wrong kind (named).
    """
    folder = find_coco_dir(base_dir)
    cap_path = folder / CAPTIONS_FILE
    keys = [f"{s}_{k}" for s in SPLITS for k in ("captions", "image_idxs")]
    data = _read_h5(cap_path, keys)
    vocab = Vocabulary.load(folder / VOCAB_FILE)
    for split in SPLITS:
        caps = _check_int(data[f"{split}_captions"], 2, f"{cap_path}: {split}_captions")
        idxs = _check_int(data[f"{split}_image_idxs"], 1, f"{cap_path}: {split}_image_idxs")
        if len(idxs) != len(caps):
            raise DataFormatError(
                f"{cap_path}: {split}_image_idxs has {len(idxs)} entries for {len(caps)} captions"
            )
        if caps.shape[1] < 2:
            raise DataFormatError(f"{cap_path}: {split}_captions must hold <START> and <END>")
        if caps.size and (caps.min() < 0 or caps.max() >= len(vocab)):
            raise DataFormatError(
                f"{cap_path}: {split}_captions holds word indices up to {caps.max()} (min "
                f"{caps.min()}) but {VOCAB_FILE} has {len(vocab)} words"
            )
        feat_path = folder / feature_file(split, pca_features)
        feats = _read_h5(feat_path, ["features"])["features"]
        if feats.ndim != 2 or not np.issubdtype(feats.dtype, np.floating):
            raise DataFormatError(
                f"{feat_path}: features must be a 2-D float array, got {feats.dtype} {feats.shape}"
            )
        if idxs.size and (idxs.min() < 0 or idxs.max() >= len(feats)):
            raise DataFormatError(
                f"{cap_path}: {split}_image_idxs points to image {idxs.max()} (min {idxs.min()}) "
                f"but {feat_path.name} holds {len(feats)} images"
            )
        data[f"{split}_features"] = feats
        data[f"{split}_urls"] = _read_urls(folder / url_file(split), len(feats))
    data["idx_to_word"] = vocab.idx_to_word
    data["word_to_idx"] = vocab.word_to_idx
    if max_train is not None:
        if isinstance(max_train, bool) or not isinstance(max_train, int) or max_train < 1:
            raise ValueError(f"max_train must be None or a positive integer, got {max_train!r}")
        mask = np.random.default_rng(seed).integers(len(data["train_captions"]), size=max_train)
        data["train_captions"] = data["train_captions"][mask]
        data["train_image_idxs"] = data["train_image_idxs"][mask]
    return data


def sample_coco_minibatch(data, batch_size=100, split="train", rng=None):
    """The course's ``sample_coco_minibatch``: a random batch of captions with their images.

    Args:
        data: the dict of ``load_coco_data`` (or any with ``{split}_captions``,
            ``{split}_image_idxs``, ``{split}_features`` and optionally ``{split}_urls``).
        batch_size: captions drawn (with replacement, as the course).
        split: 'train', 'val' or any split the dict holds.
        rng: a ``np.random.Generator`` or seed (None: a fresh unseeded generator).

    Returns:
        captions (B, T) int32, image_features (B, D), urls (B,) (None without urls).
    """
    need = [f"{split}_{k}" for k in ("captions", "image_idxs", "features")]
    missing = [k for k in need if k not in data]
    if missing:
        raise KeyError(f"split {split!r}: the data has no {', '.join(missing)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    mask = rng.choice(data[f"{split}_captions"].shape[0], batch_size)  # (B,)
    captions = data[f"{split}_captions"][mask]
    image_idxs = data[f"{split}_image_idxs"][mask]
    features = data[f"{split}_features"][image_idxs]
    urls = data[f"{split}_urls"][image_idxs] if f"{split}_urls" in data else None
    return captions, features, urls


def write_coco_data(base_dir, data, pca_features=True) -> Path:
    """Writes a dict like ``load_coco_data``'s in the course's file layout (for tests, or to
    hand a data set of ours to course code).

    Args:
        base_dir: the target folder (created).
        data: ``{split}_captions``, ``{split}_image_idxs``, ``{split}_features`` for train and
            val, ``idx_to_word`` (and optionally ``{split}_urls``; default ``image-{i}``).
        pca_features: name the feature files ``..._pca.h5``.
    """
    h5py = _h5py()
    folder = Path(base_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / CAPTIONS_FILE, "w") as f:
        for split in SPLITS:
            f[f"{split}_captions"] = np.asarray(data[f"{split}_captions"], np.int32)
            f[f"{split}_image_idxs"] = np.asarray(data[f"{split}_image_idxs"], np.int32)
    for split in SPLITS:
        feats = np.asarray(data[f"{split}_features"], np.float32)
        with h5py.File(folder / feature_file(split, pca_features), "w") as f:
            f["features"] = feats
        urls = data.get(f"{split}_urls", [f"image-{i}" for i in range(len(feats))])
        (folder / url_file(split)).write_text("".join(f"{u}\n" for u in urls))
    Vocabulary(data["idx_to_word"]).save(folder / VOCAB_FILE)
    return folder


def read_captions_json(path) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """Reads the official ``captions_train2014.json`` (or ``_val2014``).

    Returns:
        the (image_id, caption) pairs of ``annotations`` in file order, and image_id ->
        file_name from ``images``.

    Raises:
        DataFormatError: not JSON, or ``annotations`` / ``images`` missing or malformed (the
            first bad entry is named).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise DataFormatError(f"{path}: expected an object with an 'annotations' list")
    pairs = []
    for i, a in enumerate(doc["annotations"]):
        if not (isinstance(a, dict) and isinstance(a.get("image_id"), int)
                and isinstance(a.get("caption"), str)):  # fmt: skip
            raise DataFormatError(
                f"{path}: annotations[{i}] must have an integer 'image_id' and a string 'caption'"
            )
        pairs.append((a["image_id"], a["caption"]))
    names = {}
    for i, im in enumerate(doc.get("images", [])):
        if not (isinstance(im, dict) and isinstance(im.get("id"), int)):
            raise DataFormatError(f"{path}: images[{i}] must have an integer 'id'")
        names[im["id"]] = str(im.get("file_name", ""))
    unknown = [iid for iid, _ in pairs if names and iid not in names]
    if unknown:
        raise DataFormatError(f"{path}: annotations refer to image {unknown[0]}, not in 'images'")
    return pairs, names


def load_coco_captions_json(path, vocab=None, min_count=5, max_length=15):
    """The official caption annotations as the course's arrays.

    Args:
        path: ``captions_train2014.json`` or ``captions_val2014.json``.
        vocab: a ``Vocabulary`` to encode with (e.g. the training file's for the val file);
            None builds one from these captions with ``min_count``.
        min_count: words seen fewer times become ``<UNK>`` (when building the vocabulary).
        max_length: words kept per caption (15 gives the course's 17 columns).

    Returns:
        dict with ``captions`` (N, max_length + 2) int32, ``image_idxs`` (N,) int32 rows of
        ``image_ids``, ``image_ids`` (M,) int64 (sorted), ``file_names`` (M,) str,
        ``tokens`` (N,) word lists, and ``vocab``.
    """
    pairs, names = read_captions_json(path)
    tokens = [tokenize(c) for _, c in pairs]
    if vocab is None:
        vocab = Vocabulary.build(tokens, min_count=min_count)
    image_ids = np.array(sorted({iid for iid, _ in pairs} | set(names)), dtype=np.int64)  # (M,)
    row = {iid: k for k, iid in enumerate(image_ids.tolist())}
    return {
        "captions": vocab.encode(tokens, max_length=max_length),
        "image_idxs": np.array([row[iid] for iid, _ in pairs], dtype=np.int32),
        "image_ids": image_ids,
        "file_names": np.array([names.get(i, "") for i in image_ids.tolist()], dtype=str),
        "tokens": tokens,
        "vocab": vocab,
    }
