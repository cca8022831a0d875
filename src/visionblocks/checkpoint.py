"""Checkpoints as an ``.npz`` of arrays plus a ``.json`` of everything else, written atomically.

No pickle anywhere: arrays load with ``allow_pickle=False`` and the JSON records the SHA-256 of
its ``.npz``, so a pair torn apart by a crash between the two renames is detected on load.
Files are created with the permissions of an ordinary ``open`` (0666 less the umask), JSON is
strict (no bare ``NaN``), and a checkpoint holding NaN/inf weights is refused on load.
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


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode ``open`` would give it (0666 less the umask), not mkstemp's 0600, so
    a run directory on a shared file system is readable like the plots beside it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def strict_json(obj, path="JSON", **kwargs) -> str:
    """``json.dumps`` that refuses NaN/inf (not JSON) with an error naming ``path``."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as e:
        raise ValueError(f"refusing to write NaN/inf into {path}: {e}") from None


def atomic_write_json(path, obj) -> None:
    """Writes ``obj`` as indented strict JSON (NaN/inf refused), atomically."""
    text = strict_json(obj, path, indent=2, sort_keys=True)
    atomic_write_bytes(path, (text + "\n").encode())


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


def load_checkpoint(stem, allow_nonfinite=False) -> tuple[dict[str, np.ndarray], dict]:
    """Loads a checkpoint written by ``save_checkpoint``, verifying the pair belongs together.

    Args:
        stem: path without suffix.
        allow_nonfinite: accept float arrays holding NaN/inf (refused by default: evaluating or
            resuming such weights gives a meaningless number).

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
    if not allow_nonfinite:
        for k, v in arrays.items():
            if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
                raise CheckpointError(
                    f"checkpoint {npz} holds NaN/inf in {k!r}: it is not a trained model "
                    "(the run diverged or the file was damaged)"
                )
    return arrays, meta
