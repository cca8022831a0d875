"""Checkpoints as an ``.npz`` of arrays plus a ``.json`` of everything else, written atomically.

No pickle anywhere: arrays load with ``allow_pickle=False`` and the JSON records the SHA-256 of
its ``.npz``, so a pair torn apart by a crash between the two renames is detected on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from visionblocks.errors import VisionBlocksError


class CheckpointError(VisionBlocksError, ValueError):
    """A checkpoint is missing, incomplete or does not match its metadata."""


def atomic_write_bytes(path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path, obj) -> None:
    """Writes ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_checkpoint(stem, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Writes ``stem.npz`` (arrays) then ``stem.json`` (meta plus the npz's SHA-256).

    Args:
        stem: path without suffix, e.g. ``runs/demo/last``.
        arrays: name -> array; names may contain '/'.
        meta: JSON-serialisable metadata.
    """
    stem = Path(stem)

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(stem.with_suffix(".npz"), data)
    meta = dict(meta, npz_sha256=hashlib.sha256(data).hexdigest())
    atomic_write_json(stem.with_suffix(".json"), meta)


def load_checkpoint(stem) -> tuple[dict[str, np.ndarray], dict]:
    """Loads a checkpoint written by ``save_checkpoint``, verifying the pair belongs together.

    Returns:
        arrays: name -> array.
        meta: the metadata dict.
    """
    stem = Path(stem)
    npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
    for p in (npz, js):
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {p} does not exist")
    data = npz.read_bytes()
    try:
        meta = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint metadata {js} is not valid JSON: {e}") from None
    if meta.get("npz_sha256") != hashlib.sha256(data).hexdigest():
        raise CheckpointError(f"{npz} does not match {js} (torn or edited checkpoint)")

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, meta
