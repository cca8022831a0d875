"""read_idx on malformed files: every one raises IDXFormatError naming the file (and a fuzz)."""

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionblocks.data import read_idx, write_idx
from visionblocks.data.idx import IDX_DTYPES, IDXFormatError
from visionblocks.errors import DataFormatError


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "payload, message",
    [
        (_header(0x08, (65536, 65536, 65536, 65536)), "truncated"),  # product 2**64 wraps to 0
        (_header(0x08, (2**32 - 1,) * 3), "truncated"),
        (_header(0x08, (1,) * 65), "65 dimensions"),
        (_header(0x08, (2, 3)) + bytes(7), "trailing bytes"),
        (b"\x1f\x8b" + bytes(10), "gzip"),
    ],
    ids=["product-wraps-to-0", "product-2**96", "65-dims", "trailing-bytes", "bad-gzip"],
)
def test_malformed_headers_raise_the_idx_error_naming_the_file(tmp_path, payload, message):
    path = tmp_path / "bad-images.idx"
    path.write_bytes(payload)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_a_header_with_a_zero_dimension_reads_as_an_empty_array(tmp_path):
    path = tmp_path / "empty.idx"
    path.write_bytes(_header(0x0D, (0, 65536, 65536, 65536)))
    assert read_idx(path).shape == (0, 65536, 65536, 65536)


def _idx_like():
    """Bytes that are often nearly IDX: a real header with odd dims, codes and lengths."""
    dims = st.lists(
        st.one_of(st.integers(0, 4), st.sampled_from([255, 65536, 2**31, 2**32 - 1])),
        min_size=0,
        max_size=6,
    )
    code = st.one_of(st.sampled_from(sorted(IDX_DTYPES)), st.integers(0, 255))
    structured = st.builds(
        lambda c, d, body, ndim: (
            bytes([0, 0, c, ndim if ndim is not None else len(d)])
            + struct.pack(f">{len(d)}I", *d)
            + body
        ),
        code,
        dims,
        st.binary(max_size=48),
        st.one_of(st.none(), st.integers(0, 255)),
    )
    return st.one_of(st.binary(max_size=64), structured)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_idx_like(), compress=st.sampled_from(["no", "gzip", "cut gzip"]))
def test_fuzz_read_idx_returns_an_array_or_raises_the_idx_error(payload, compress):
    if compress == "gzip":
        payload = gzip.compress(payload, mtime=0)
    elif compress == "cut gzip":
        payload = gzip.compress(payload, mtime=0)[:-5]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.idx"
        path.write_bytes(payload)
        try:
            arr = read_idx(path)
        except DataFormatError as e:
            assert isinstance(e, IDXFormatError) and str(path) in str(e)
            return
    assert isinstance(arr, np.ndarray) and arr.dtype.isnative
    raw = gzip.decompress(payload) if compress == "gzip" else payload
    assert raw[:2] == b"\0\0" and arr.ndim == raw[3]


def test_round_trip_still_works(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx.gz", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), a)
