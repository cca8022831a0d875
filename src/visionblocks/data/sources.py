"""Where data sets live on disk: the search order and the error that lists it."""

from __future__ import annotations

import os
from pathlib import Path

from visionblocks.errors import DataNotFoundError

#: How to install each data set, shown when it cannot be found.
INSTALL_HINTS = {
    "fashion-mnist": (
        "install it with `make data` (apt-get install -y dataset-fashion-mnist), run "
        "`visionblocks data download fashion-mnist`, or put the four IDX files in "
        "~/.cache/visionblocks/fashion-mnist"
    ),
    "mnist": (
        "run `visionblocks data download mnist`, or put the four IDX files "
        "(train-images-idx3-ubyte.gz, ...) in ~/.cache/visionblocks/mnist"
    ),
    "cifar10": (
        "run `visionblocks data download cifar10`, or unpack the official "
        "cifar-10-python.tar.gz in ~/.cache/visionblocks/cifar10"
    ),
}

#: Debian's data set packages install here.
SYSTEM_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


def cache_dir(name: str) -> Path:
    """The per-user cache directory of data set ``name``."""
    return Path.home() / ".cache" / "visionblocks" / name


def candidate_dirs(name: str, data_dir=None) -> list[Path]:
    """Folders searched for ``name``, in order.

    ``data_dir`` (and, when given, its ``name`` subfolder) when given; otherwise
    ``$VISIONBLOCKS_DATA`` and ``$VISIONBLOCKS_DATA/<name>``, ``~/.cache/visionblocks/<name>``,
    then the system location of a Debian package.
    """
    if data_dir is not None:
        return [Path(data_dir), Path(data_dir) / name]
    dirs = []
    env = os.environ.get("VISIONBLOCKS_DATA")
    if env:
        dirs += [Path(env), Path(env) / name]
    dirs.append(cache_dir(name))
    if name in SYSTEM_DIRS:
        dirs.append(SYSTEM_DIRS[name])
    return dirs


def find_files(name: str, stems: list[str], data_dir=None, suffixes=("", ".gz")) -> list[Path]:
    """Finds the first folder holding every file in ``stems`` (each with any of ``suffixes``).

    Returns:
        the paths, in the order of ``stems``.

    Raises:
        DataNotFoundError: naming every folder searched and how to install the data.
    """
    searched = candidate_dirs(name, data_dir)
    for d in searched:
        found = []
        for stem in stems:
            hits = [d / (stem + s) for s in suffixes if (d / (stem + s)).is_file()]
            if not hits:
                break
            found.append(hits[0])
        else:
            return found
    where = ", ".join(str(d) for d in searched)
    hint = INSTALL_HINTS.get(name, "see the README's data section")
    raise DataNotFoundError(
        f"data set {name!r} not found: looked for {', '.join(stems)} in {where}; {hint}"
    )
