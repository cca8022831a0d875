"""Explicit downloads of the real data sets, checksummed, resumable and safely extracted.

Nothing downloads on import or on load: ``download_dataset(name)`` (``visionblocks data
download NAME``) fetches the official files into the cache folder that ``load_dataset`` searches.
Each file is written to ``FILE.part`` first, continued with an HTTP range request when a
previous try was cut off, checked against its official MD5 and only then renamed to ``FILE``;
a file that fails its checksum is deleted, never left looking complete. Archives are extracted
only after every member has been checked: absolute paths, ``..`` components, links and device
files are refused.

The base address of each data set can be changed with the ``base_url`` argument or the
environment variable ``VISIONBLOCKS_<NAME>_URL`` (``VISIONBLOCKS_FASHION_MNIST_URL``, ...),
for a mirror or a test server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from visionblocks.data.sources import cache_dir
from visionblocks.errors import ConfigError, DataFormatError, VisionBlocksError

CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteDataset:
    """Where a data set is published: a base URL, its files with their MD5s, and whether the
    (single) file is a ``.tar.gz`` archive to extract."""

    base_url: str
    files: tuple[tuple[str, str], ...]
    extract: bool = False


_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte")  # fmt: skip
REMOTE = {
    "cifar10": RemoteDataset(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        extract=True,
    ),
    "mnist": RemoteDataset(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        tuple(
            zip(
                (f"{s}.gz" for s in _IDX),
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            )
        ),
    ),
    "fashion-mnist": RemoteDataset(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        tuple(
            zip(
                (f"{s}.gz" for s in _IDX),
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            )
        ),
    ),
}


class DownloadError(VisionBlocksError, OSError):
    """A download failed (HTTP error, connection lost after all retries)."""


class ChecksumError(DataFormatError):
    """A downloaded file does not have its official checksum."""


class UnsafeArchiveError(DataFormatError):
    """An archive member would land outside the target folder or is not a plain file."""


def url_env_var(name: str) -> str:
    """The environment variable that overrides the base URL of ``name``."""
    return "VISIONBLOCKS_" + name.upper().replace("-", "_") + "_URL"


def base_url_for(name: str, base_url: str | None = None) -> str:
    """``base_url`` if given, else ``$VISIONBLOCKS_<NAME>_URL``, else the official address."""
    if name not in REMOTE:
        raise ConfigError(f"cannot download {name!r}; downloadable: {', '.join(sorted(REMOTE))}")
    url = base_url or os.environ.get(url_env_var(name)) or REMOTE[name].base_url
    return url if url.endswith("/") else url + "/"


def file_md5(path) -> str:
    """Hex MD5 of a file (the official checksums are MD5; this checks integrity)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total, initial, desc, enabled):
    from tqdm import tqdm

    disable = None if enabled is None else not enabled  # None: only on a terminal
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, disable=disable)


def _open(url, offset, timeout):
    headers = {"User-Agent": "visionblocks"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _transfer(url, part: Path, timeout, progress) -> None:
    """One attempt: continues ``part`` from its size; raises OSError if cut off."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send: the part is already whole
            return
        if e.code >= 500:  # the server's trouble: worth another try
            raise ConnectionError(f"HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    with resp:
        resumed = offset > 0 and resp.status == 206
        if resumed and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise DownloadError(f"{url}: the server answered a different byte range")
        if not resumed:
            offset = 0  # the server sent the whole file
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None else None
        total = offset + length if length is not None else None
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as f,
            _progress(total, offset, part.name[: -len(".part")], progress) as bar,
        ):
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                received += len(block)
                bar.update(len(block))
        if length is not None and received < length:
            raise ConnectionError(f"connection closed after {offset + received} of {total} bytes")


def fetch(url, path, md5, progress=None, retries=3, timeout=60.0, retry_wait=1.0) -> Path:
    """Downloads ``url`` to ``path`` unless it is already there with checksum ``md5``.

    Args:
        url: the file's address.
        path: where the verified file ends up.
        md5: expected hex MD5 of the whole file.
        progress: True/False for a progress bar, None for one only on a terminal.
        retries: further attempts after a lost connection, each resuming the partial file.
        timeout: seconds to wait for the server on each read.
        retry_wait: seconds to wait before the first retry (doubling after each).

    Returns:
        the path.

    Raises:
        DownloadError: an HTTP error, or the connection was lost ``retries + 1`` times; the
            partial file ``path.part`` is kept and the next call resumes it.
        ChecksumError: the complete file has another checksum; the partial file is deleted.
    """
    path = Path(path)
    if path.is_file() and file_md5(path) == md5:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout, progress)
            break
        except DownloadError:
            raise
        except OSError as e:  # URLError, timeouts, resets and cut-offs are all OSError
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"download of {url} failed after {retries + 1} attempt(s): {e}; {have} bytes "
                    f"are kept in {part} and the next run resumes from there"
                ) from None
            time.sleep(retry_wait * 2**attempt)
    got = file_md5(part)
    if got != md5:
        part.unlink()
        raise ChecksumError(
            f"{url}: checksum mismatch, expected MD5 {md5}, got {got}; the download was "
            "deleted (a wrong mirror, a proxy, or a corrupted transfer). Run it again."
        )
    os.replace(part, path)
    return path


def check_member(member: tarfile.TarInfo) -> None:
    """Raises UnsafeArchiveError unless ``member`` is a plain file or folder with a relative,
    ``..``-free name."""
    name = member.name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {member.name!r} has an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeArchiveError(f"archive member {member.name!r} climbs out with '..'")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"archive member {member.name!r} is a link or special file; only plain files and "
            "folders are extracted"
        )


def safe_extract(archive, dest) -> list[Path]:
    """Extracts a tar archive into ``dest`` after checking every member with ``check_member``.

    Members are unpacked into a temporary folder inside ``dest`` and moved into place only when
    all are out, so an interrupted extraction leaves no half-written data set behind.

    Returns:
        the top-level paths created in ``dest``.

    Raises:
        UnsafeArchiveError: before anything is written, naming the offending member.
        DataFormatError: the archive is not a readable tar file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                check_member(m)
            tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
            try:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: the stdlib checks too
                    tar.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover
                    tar.extractall(tmp, members=members)  # noqa: S202 (members checked above)
                created = []
                for top in sorted(tmp.iterdir()):
                    target = dest / top.name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists() or target.is_symlink():
                        target.unlink()
                    os.replace(top, target)
                    created.append(target)
                return created
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, EOFError) as e:
        raise DataFormatError(f"{archive}: not a readable tar archive ({e})") from None


def download_dataset(
    name, dest=None, base_url=None, progress=None, retries=3, timeout=60.0, retry_wait=1.0
) -> Path:
    """Downloads (and, for archives, extracts) data set ``name`` where ``load_dataset`` looks.

    Args:
        name: 'cifar10', 'mnist' or 'fashion-mnist'.
        dest: target folder (default ``~/.cache/visionblocks/NAME``).
        base_url: overrides the official address (else ``$VISIONBLOCKS_<NAME>_URL``).
        progress, retries, timeout, retry_wait: as for ``fetch``.

    Returns:
        the folder holding the data set.
    """
    base = base_url_for(name, base_url)
    remote = REMOTE[name]
    dest = Path(dest) if dest is not None else cache_dir(name)
    for fname, md5 in remote.files:
        path = fetch(base + fname, dest / fname, md5, progress, retries, timeout, retry_wait)
        if remote.extract:
            try:
                safe_extract(path, dest)
            except DataFormatError:
                path.unlink()
                raise
    return dest
