"""``visionblocks data download NAME`` and ``visionblocks data info NAME``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionblocks.captioning.data_cli import add_parsers as add_captioning_parsers
from visionblocks.data.cifar import ARCHIVE_FOLDER, CIFAR10_FILES
from visionblocks.data.datasets import DEFAULT_NUM_VAL, IDX_STEMS, LOADERS
from visionblocks.data.download import REMOTE, download_dataset, url_env_var
from visionblocks.data.sources import INSTALL_HINTS, candidate_dirs
from visionblocks.errors import ConfigError, DataFormatError, DataNotFoundError


def add_parser(sub) -> None:
    """Adds the ``data`` command with its ``download`` and ``info`` subcommands."""
    p = sub.add_parser("data", help="download real data sets and show where they are")
    data_sub = p.add_subparsers(dest="data_command", required=True)

    d = data_sub.add_parser("download", help="download a data set into the cache (checksummed)")
    d.add_argument("name", choices=sorted(REMOTE))
    d.add_argument("--dir", help="target folder (default ~/.cache/visionblocks/NAME)")
    d.add_argument("--base-url", help="mirror to download from (or $VISIONBLOCKS_<NAME>_URL)")
    d.add_argument("--retries", type=int, default=3, help="resumed attempts after a cut-off")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_download)

    i = data_sub.add_parser("info", help="where a data set was looked for, found, class counts")
    i.add_argument("name", choices=sorted(LOADERS))
    i.add_argument("--data-dir", help="folder to look in first, as train --data-dir")
    i.set_defaults(func=_cmd_info)
    add_captioning_parsers(data_sub)  # make captions, download-coco


def _cmd_download(args) -> int:
    progress = False if args.no_progress else None
    folder = download_dataset(
        args.name, dest=args.dir, base_url=args.base_url, progress=progress, retries=args.retries
    )
    for fname, md5 in REMOTE[args.name].files:
        print(f"verified {folder / fname} (md5 {md5})")
    print(f"{args.name} is in {folder}")
    if args.dir is not None:
        print(f"load it with --data {args.name} --data-dir {folder}")
    return 0


def expected_files(name: str) -> tuple[list[str], list[str]]:
    """The files a data set needs and the subfolders (relative) they may sit in."""
    if name == "cifar10":
        return list(CIFAR10_FILES), ["", ARCHIVE_FOLDER]
    if name in ("mnist", "fashion-mnist"):
        return list(IDX_STEMS), [""]
    return [], []


def _present(folder: Path, stems: list[str]) -> list[str]:
    return [s for s in stems if (folder / s).is_file() or (folder / f"{s}.gz").is_file()]


def search_report(name: str, data_dir=None) -> list[tuple[Path, list[str]]]:
    """Each folder searched for ``name``, in order, with the needed files found in it."""
    stems, subdirs = expected_files(name)
    rows = []
    for d in candidate_dirs(name, data_dir):
        for sub in subdirs:
            folder = d / sub if sub else d
            rows.append((folder, _present(folder, stems) if folder.is_dir() else []))
    return rows


def _cmd_info(args) -> int:
    name = args.name
    stems, _ = expected_files(name)
    print(f"data set: {name}")
    if stems:
        print(f"needs: {', '.join(stems)}")
        print("searched, in order:")
        for folder, found in search_report(name, args.data_dir):
            if not folder.is_dir():
                state = "no such folder"
            elif len(found) == len(stems):
                state = "complete"
            else:
                state = f"{len(found)} of {len(stems)} files" + (
                    f" ({', '.join(found)})" if found else ""
                )
            print(f"  {folder}: {state}")
    else:
        print("embedded: no files needed")
    try:
        X, y, X_test, y_test, names = LOADERS[name](args.data_dir)
    except (DataNotFoundError, ConfigError) as e:
        print(f"not found: {INSTALL_HINTS.get(name, e)}")
        if name in REMOTE:
            print(f"(downloads from {REMOTE[name].base_url}; override with ${url_env_var(name)})")
        return 1
    except DataFormatError as e:
        print(f"found but unreadable: {e}")
        return 1
    print(f"train: {len(y)} images {tuple(X.shape[1:])}, test: {len(y_test)} images")
    print(f"validation: {DEFAULT_NUM_VAL.get(name, len(y) // 10)} drawn from train by default")
    train_counts = np.bincount(y, minlength=len(names))
    test_counts = np.bincount(y_test, minlength=len(names))
    width = max(len(n) for n in names)
    print(f"{'class':<{width + 5}} {'train':>7} {'test':>7}")
    for k, cname in enumerate(names):
        print(f"{k:>2}  {cname:<{width}} {train_counts[k]:>8} {test_counts[k]:>7}")
    return 0
