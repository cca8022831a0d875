"""Explicit, checksummed downloads of the COCO caption data, with safe ZIP extraction.

Two sources: ``course`` (``coco_captioning.zip`` of CS231n: the HDF5 captions, VGG-16
features, vocabulary and URL files that ``coco.load_coco_data`` reads) and ``annotations``
(the official ``annotations_trainval2014.zip``, of which ``captions_train2014.json`` and
``captions_val2014.json`` are extracted). Transfers go through ``data.download.fetch``
(resumable, retried, written as ``.part`` and renamed only once the MD5 matches).

Neither publisher lists an MD5 for these archives, so none is built in: pass the MD5 you
trust (``md5=``, ``--md5``), or ``record_md5=True`` (``--record-md5``) to accept the first
download and write its MD5 to ``ARCHIVE.md5``, which every later call then checks. The base
address can be changed with ``base_url`` or ``$VISIONBLOCKS_COCO_CAPTIONING_URL`` /
``$VISIONBLOCKS_COCO_ANNOTATIONS_URL`` (a mirror, a test server).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from visionblocks.data import download as D
from visionblocks.data.sources import cache_dir
from visionblocks.errors import ConfigError, DataFormatError

__all__ = ["COCO_REMOTE", "CocoRemote", "download_coco", "safe_extract_zip"]


@dataclass(frozen=True)
class CocoRemote:
    """One archive: where it is, its MD5 if known, which members to extract (None: all) and
    the leading folder to strip from their names."""

    base_url: str
    archive: str
    md5: str | None
    members: tuple[str, ...] | None
    strip: str
    env: str


COCO_REMOTE = {
    "course": CocoRemote(
        "http://cs231n.stanford.edu/", "coco_captioning.zip", None, None, "coco_captioning/",
        "VISIONBLOCKS_COCO_CAPTIONING_URL",
    ),
    "annotations": CocoRemote(
        "http://images.cocodataset.org/annotations/", "annotations_trainval2014.zip", None,
        ("annotations/captions_train2014.json", "annotations/captions_val2014.json"),
        "annotations/", "VISIONBLOCKS_COCO_ANNOTATIONS_URL",
    ),
}  # fmt: skip


def _check_zip_member(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise D.UnsafeArchiveError(f"archive member {info.filename!r} has an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise D.UnsafeArchiveError(f"archive member {info.filename!r} climbs out with '..'")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver stored no Unix type
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise D.UnsafeArchiveError(
            f"archive member {info.filename!r} is a link or special file; only plain files and "
            "folders are extracted"
        )


def safe_extract_zip(archive, dest, members=None, strip="") -> list[Path]:
    """Extracts a ZIP archive into ``dest`` after checking every member.

    Args:
        archive: the .zip file.
        dest: target folder (created).
        members: names to extract (None: every file); a missing one is an error.
        strip: a leading folder removed from the names (``"coco_captioning/"``).

    Returns:
        the files written, in archive order.

    Raises:
        UnsafeArchiveError: before anything is written, naming the member.
        DataFormatError: not a ZIP archive, a corrupt member, or a wanted member missing.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            for info in infos:
                _check_zip_member(info)
            if members is not None:
                names = {i.filename for i in infos}
                missing = [m for m in members if m not in names]
                if missing:
                    raise DataFormatError(f"{archive}: no member {', '.join(missing)}")
                infos = [i for i in infos if i.filename in set(members)]
            infos = [i for i in infos if not i.is_dir()]
            tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
            try:
                staged = []
                for k, info in enumerate(infos):
                    part = tmp / str(k)
                    with z.open(info) as src, open(part, "wb") as out:
                        shutil.copyfileobj(src, out, D.CHUNK)  # CRC checked at the end
                    rel = info.filename.replace("\\", "/")
                    staged.append((part, rel[len(strip) :] if strip and rel.startswith(strip)
                                   else rel))  # fmt: skip
                written = []
                for part, rel in staged:
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(part, target)
                    written.append(target)
                return written
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (zipfile.BadZipFile, EOFError) as e:
        raise DataFormatError(f"{archive}: not a readable ZIP archive ({e})") from None


def download_coco(source="course", dest=None, base_url=None, md5=None, record_md5=False,
                  progress=None, retries=3, timeout=60.0, retry_wait=1.0) -> Path:  # fmt: skip
    """Downloads and extracts ``source`` ('course' or 'annotations') into ``dest``.

    Args:
        source: 'course' (the course's HDF5 folder) or 'annotations' (the official JSON).
        dest: target folder (default ``~/.cache/visionblocks/coco_captioning``, where
            ``load_coco_data`` looks).
        base_url: a mirror (else the environment variable, else the official address).
        md5: the archive's expected MD5 (else the built-in one, else ``ARCHIVE.md5`` from a
            previous ``record_md5`` download).
        record_md5: with no MD5 known, accept the download and record its MD5.
        progress, retries, timeout, retry_wait: as for ``data.download.fetch``.

    Returns:
        the folder holding the extracted files.

    Raises:
        ConfigError: no MD5 is known and ``record_md5`` is False.
        ChecksumError, DownloadError, UnsafeArchiveError: as ``fetch`` / ``safe_extract_zip``.
    """
    if source not in COCO_REMOTE:
        raise ConfigError(f"source must be one of {', '.join(COCO_REMOTE)}, got {source!r}")
    remote = COCO_REMOTE[source]
    dest = Path(dest) if dest is not None else cache_dir("coco_captioning")
    url = base_url or os.environ.get(remote.env) or remote.base_url
    url = (url if url.endswith("/") else url + "/") + remote.archive
    path = dest / remote.archive
    recorded = path.with_name(path.name + ".md5")
    want = md5 or remote.md5 or (recorded.read_text().strip() if recorded.is_file() else None)
    if want is None:
        if not record_md5:
            raise ConfigError(
                f"no MD5 is published for {remote.archive}: pass md5=... (--md5) with the "
                "checksum you trust, or record_md5=True (--record-md5) to accept this download "
                f"and check later ones against it ({recorded})"
            )
        _fetch_unverified(url, path, progress, retries, timeout, retry_wait)
        recorded.write_text(D.file_md5(path) + "\n")
    else:
        D.fetch(url, path, want, progress, retries, timeout, retry_wait)
    try:
        safe_extract_zip(path, dest, remote.members, remote.strip)
    except DataFormatError:
        path.unlink()
        recorded.unlink(missing_ok=True)
        raise
    return dest


def _fetch_unverified(url, path: Path, progress, retries, timeout, retry_wait) -> None:
    """``fetch`` without a checksum to compare: the first download of a ``record_md5``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    for attempt in range(retries + 1):
        try:
            D._transfer(url, part, timeout, progress)
            break
        except D.DownloadError:
            raise
        except OSError as e:
            if attempt == retries:
                raise D.DownloadError(
                    f"download of {url} failed after {retries + 1} attempt(s): {e}; the partial "
                    f"file {part} is kept and the next run resumes it"
                ) from None
            time.sleep(retry_wait * 2**attempt)
    os.replace(part, path)
