"""CIFAR-10 from its official Python pickle batches, read without ever running pickled code.

The official ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/`` with ``data_batch_1`` to
``data_batch_5``, ``test_batch`` and ``batches.meta``: Python 2 pickles (protocol 2) of dicts
whose ``data`` is a NumPy uint8 array (N, 3072) of R, G and B planes and whose ``labels`` is a
list of ints. Our rule is "never unpickle user files", so a batch is read by a restricted
unpickler: every opcode must be one of the plain-data ones listed in ``ALLOWED_OPCODES``, and
the only globals it resolves are the three NumPy ones an array needs (``ALLOWED_GLOBALS``).
Anything else -- ``os.system``, ``builtins.eval``, an unknown class -- stops the read with
``UnsafePickleError`` before it can run.

``write_cifar10`` writes the same format (byte for byte the Python 2 opcodes), for tests and
for small fixture data sets.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
from pathlib import Path

import numpy as np

from visionblocks.data.sources import INSTALL_HINTS, candidate_dirs
from visionblocks.errors import DataFormatError, DataNotFoundError

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = (*TRAIN_BATCHES, "test_batch", "batches.meta")
#: The folder the official archive unpacks to.
ARCHIVE_FOLDER = "cifar-10-batches-py"
IMAGE_SHAPE = (3, 32, 32)


class UnsafePickleError(DataFormatError):
    """A pickle asks for something other than plain data and NumPy arrays."""


#: The plain-data opcodes a CIFAR batch may use (protocols 0-4 spellings of the same things).
ALLOWED_OPCODES = frozenset(
    """PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE
    INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    BINBYTES SHORT_BINBYTES BINBYTES8
    EMPTY_DICT DICT SETITEM SETITEMS EMPTY_LIST LIST APPEND APPENDS
    EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
    GLOBAL STACK_GLOBAL REDUCE BUILD""".split()
)

_RECONSTRUCT = np.zeros(0, np.uint8).__reduce__()[0]  # numpy's ndarray._reconstruct
#: (module, name) -> the object; the Python 2 files name numpy.core, NumPy 2 numpy._core.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only ``ALLOWED_GLOBALS`` and no persistent ids."""

    def __init__(self, file, source):
        super().__init__(file, encoding="latin1")  # Python 2 str -> str, as NumPy expects
        self.source = source

    def find_class(self, module, name):
        obj = ALLOWED_GLOBALS.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"{self.source}: refusing to load {module}.{name}: a CIFAR batch holds only "
                "plain data and NumPy arrays, and visionblocks never runs code from data files"
            )
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: refusing a pickle persistent id ({pid!r})")


def restricted_unpickle(data: bytes, source="pickle"):
    """Loads plain data and NumPy arrays from pickle bytes, refusing anything else.

    Args:
        data: the pickle's bytes.
        source: name used in error messages (a path).

    Raises:
        UnsafePickleError: an opcode outside ``ALLOWED_OPCODES`` or a global outside
            ``ALLOWED_GLOBALS``; nothing from the pickle has run.
        DataFormatError: the bytes are not a complete, valid pickle.
    """
    try:
        for op, _, pos in pickletools.genops(data):
            if op.name not in ALLOWED_OPCODES:
                raise UnsafePickleError(
                    f"{source}: refusing pickle opcode {op.name} at byte {pos}: a CIFAR batch "
                    "holds only plain data and NumPy arrays"
                )
    except UnsafePickleError:
        raise
    except Exception as e:  # genops raises ValueError and friends on any malformed byte
        raise DataFormatError(f"{source}: not a valid pickle ({e})") from None
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # numpy/pickle raise many types on crafted input; never let one out
        raise DataFormatError(
            f"{source}: not a valid CIFAR pickle ({type(e).__name__}: {e})"
        ) from None


def _load_dict(path) -> dict:
    path = Path(path)
    obj = restricted_unpickle(path.read_bytes(), path)
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path, num_classes=10) -> tuple[np.ndarray, np.ndarray]:
    """Reads one CIFAR batch file (``data_batch_i`` or ``test_batch``), validating it.

    Returns:
        X: (N, 3, 32, 32) uint8 images.
        y: (N,) int64 labels in [0, num_classes).
    """
    d = _load_dict(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataFormatError(f"{path}: a CIFAR batch needs {key!r}, found {sorted(d)}")
    data, labels = d["data"], d["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise DataFormatError(f"{path}: 'data' must be a uint8 array (N, 3072), got {what}")
    if data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise DataFormatError(f"{path}: 'data' rows must hold 3072 values, got {data.shape}")
    if not isinstance(labels, list | np.ndarray) or len(labels) != data.shape[0]:
        raise DataFormatError(f"{path}: {len(data)} images but labels are not a matching list")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: labels must be integers") from None
    if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= num_classes)):
        raise DataFormatError(f"{path}: labels must lie in [0, {num_classes})")
    X = data.reshape(-1, *IMAGE_SHAPE)  # (N, 3072) -> (N, 3, 32, 32): R, G, B planes
    return X, y


def read_cifar_meta(path) -> list[str]:
    """Reads ``batches.meta`` and returns its class names (``label_names``)."""
    d = _load_dict(path)
    names = d.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, str | bytes) for n in names):
        raise DataFormatError(f"{path}: 'label_names' must be a list of names")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def find_cifar10_dir(data_dir=None) -> Path:
    """The first searched folder (or its ``cifar-10-batches-py``) holding every CIFAR-10 file.

    Raises:
        DataNotFoundError: naming every folder searched and how to get the data.
    """
    searched = []
    for d in candidate_dirs("cifar10", data_dir):
        for folder in (d, d / ARCHIVE_FOLDER):
            searched.append(folder)
            if all((folder / f).is_file() for f in CIFAR10_FILES):
                return folder
    raise DataNotFoundError(
        f"data set 'cifar10' not found: looked for {', '.join(CIFAR10_FILES)} in "
        f"{', '.join(str(s) for s in searched)}; {INSTALL_HINTS.get('cifar10', '')}"
    )


def load_cifar10(data_dir=None):
    """Loads CIFAR-10's 50,000 training and 10,000 test images.

    Returns:
        X_train: (50000, 3, 32, 32) float32 in [0, 1].
        y_train: (50000,) int64.
        X_test: (10000, 3, 32, 32) float32 in [0, 1].
        y_test: (10000,) int64.
        class_names: tuple of 10 names from ``batches.meta``.
    """
    folder = find_cifar10_dir(data_dir)
    names = read_cifar_meta(folder / "batches.meta")
    parts = [read_cifar_batch(folder / b, len(names)) for b in TRAIN_BATCHES]
    X_test, y_test = read_cifar_batch(folder / "test_batch", len(names))
    X_train = np.concatenate([p[0] for p in parts])  # (50000, 3, 32, 32)
    y_train = np.concatenate([p[1] for p in parts])
    as_x = lambda a: a.astype(np.float32) / np.float32(255.0)  # noqa: E731
    return as_x(X_train), y_train, as_x(X_test), y_test, tuple(names)


# ------------------------------------------------------------------------------ writing
class _Global:
    """A module-level name, pickled with the GLOBAL opcode."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class _Reduce:
    """``func(*args)``, then ``__setstate__(state)``: the REDUCE and BUILD opcodes."""

    def __init__(self, func, args, state):
        self.func, self.args, self.state = func, args, state


def _py2_reduce(obj):
    """The reduction Python 2's NumPy wrote for an array or a dtype."""
    if isinstance(obj, np.dtype):
        order = "|" if obj.itemsize == 1 else "<"
        return _Reduce(
            _Global("numpy", "dtype"),
            (obj.str[1:], False, True),
            (3, order, None, None, None, -1, -1, 0),
        )
    a = np.ascontiguousarray(obj.astype(obj.dtype.newbyteorder("<")))
    return _Reduce(
        _Global("numpy.core.multiarray", "_reconstruct"),
        (_Global("numpy", "ndarray"), (0,), "b"),
        (1, tuple(a.shape), a.dtype, False, a.tobytes()),
    )


def _emit(out: io.BytesIO, obj) -> None:
    """Writes ``obj`` with the opcodes Python 2's cPickle (protocol 2) used for the batches."""
    if isinstance(obj, np.ndarray | np.dtype):
        obj = _py2_reduce(obj)
    if isinstance(obj, _Global):
        out.write(b"c" + f"{obj.module}\n{obj.name}\n".encode())  # GLOBAL
    elif isinstance(obj, _Reduce):
        _emit(out, obj.func)
        _emit(out, obj.args)
        out.write(b"R")  # REDUCE
        _emit(out, obj.state)
        out.write(b"b")  # BUILD
    elif obj is None:
        out.write(b"N")  # NONE
    elif isinstance(obj, bool):
        out.write(b"\x88" if obj else b"\x89")  # NEWTRUE / NEWFALSE
    elif isinstance(obj, int):
        if 0 <= obj < 256:
            out.write(b"K" + bytes([obj]))  # BININT1
        elif 0 <= obj < 65536:
            out.write(b"M" + struct.pack("<H", obj))  # BININT2
        else:
            out.write(b"J" + struct.pack("<i", obj))  # BININT
    elif isinstance(obj, str | bytes):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj  # a Python 2 str
        if len(raw) < 256:
            out.write(b"U" + bytes([len(raw)]) + raw)  # SHORT_BINSTRING
        else:
            out.write(b"T" + struct.pack("<I", len(raw)) + raw)  # BINSTRING
    elif isinstance(obj, tuple):
        out.write(b"(")  # MARK
        for item in obj:
            _emit(out, item)
        out.write(b"t")  # TUPLE
    elif isinstance(obj, list):
        out.write(b"](")  # EMPTY_LIST, MARK
        for item in obj:
            _emit(out, item)
        out.write(b"e")  # APPENDS
    elif isinstance(obj, dict):
        out.write(b"}(")  # EMPTY_DICT, MARK
        for key, value in obj.items():
            _emit(out, key)
            _emit(out, value)
        out.write(b"u")  # SETITEMS
    else:
        raise TypeError(f"cannot write {type(obj).__name__} into a CIFAR pickle")


def py2_pickle(obj) -> bytes:
    """Pickles dicts, lists, tuples, ints, str/bytes and uint8 arrays as Python 2 did (protocol 2).

    Python 3's own pickler would write NumPy 2 module names and ``_codecs.encode`` calls for
    bytes, which the official files never contain; this writes what they do contain.
    """
    out = io.BytesIO()
    out.write(b"\x80\x02")  # PROTO 2
    _emit(out, obj)
    out.write(b".")  # STOP
    return out.getvalue()


def write_cifar10(folder, X_train, y_train, X_test, y_test, class_names=CIFAR10_CLASSES) -> Path:
    """Writes a data set in the official CIFAR-10 layout: five train batches, test, meta.

    Args:
        folder: output folder (created).
        X_train: (N, 3, 32, 32) uint8 images, split into five batches as evenly as possible.
        y_train: (N,) labels.
        X_test: (M, 3, 32, 32) uint8 images.
        y_test: (M,) labels.
        class_names: the names written to ``batches.meta``.

    Returns:
        the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for X in (X_train, X_test):
        if X.dtype != np.uint8 or X.shape[1:] != IMAGE_SHAPE:
            raise DataFormatError(
                f"CIFAR images must be uint8 (N, 3, 32, 32), got {X.dtype} {X.shape}"
            )
    chunks = np.array_split(np.arange(len(y_train)), len(TRAIN_BATCHES))
    batches = [
        (f"training batch {i + 1} of 5", X_train[c], y_train[c]) for i, c in enumerate(chunks)
    ]
    batches.append(("testing batch 1 of 1", X_test, y_test))
    for fname, (label, X, y) in zip((*TRAIN_BATCHES, "test_batch"), batches):
        record = {
            "batch_label": label,
            "labels": [int(v) for v in y],
            "data": X.reshape(len(X), -1),  # (N, 3, 32, 32) -> (N, 3072)
            "filenames": [f"image_{i:05d}.png" for i in range(len(X))],
        }
        (folder / fname).write_bytes(py2_pickle(record))
    meta = {
        "num_cases_per_batch": len(chunks[0]),
        "label_names": list(class_names),
        "num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder
