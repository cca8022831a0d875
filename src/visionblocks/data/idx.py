"""The IDX file format of MNIST and Fashion-MNIST: a validating reader and a writer for tests.

Layout: two zero bytes, a dtype code, the number of dimensions, one big-endian uint32 per
dimension, then the values in C order (big-endian). Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from visionblocks.errors import DataFormatError

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


#: The most dimensions a numpy (>= 2) array can have.
_MAX_DIMS = 64


class IDXFormatError(DataFormatError):
    """An IDX file is corrupt, truncated or not an IDX file."""


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise IDXFormatError(f"{path}: corrupt or truncated gzip data ({e})") from None


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (optionally gzipped), validating its header and length.

    Args:
        path: file path.

    Returns:
        array with the file's shape, in native byte order (uint8 for images and labels).

    Raises:
        IDXFormatError: (a DataFormatError naming the file) bad magic number, unknown dtype
            code, corrupt gzip data, more dimensions than numpy holds, or a length that does not
            match the dimensions in the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(f"{path}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path}: bad magic number {data[:4].hex()} (an IDX file starts with 0000)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise IDXFormatError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    if ndim == 0:
        raise IDXFormatError(f"{path}: IDX header declares 0 dimensions")
    if ndim > _MAX_DIMS:
        raise IDXFormatError(f"{path}: IDX header declares {ndim} dimensions (at most {_MAX_DIMS})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(f"{path}: truncated header ({len(data)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize  # exact: np.prod wraps around at 2**63
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXFormatError(
            f"{path}: file {what}: header says shape {dims} ({expected} bytes), found {len(data)}"
        )
    try:
        arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    except ValueError as e:  # e.g. a 0 among dims whose nominal size numpy cannot index
        raise IDXFormatError(f"{path}: numpy cannot hold the header's shape {dims} ({e})") from None
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress=None) -> None:
    """Writes ``array`` as an IDX file (gzipped when the name ends in .gz or compress=True)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    dt = array.dtype.newbyteorder("=")
    if dt not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[dt], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(IDX_DTYPES[codes[dt]]).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
