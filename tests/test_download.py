"""Downloads from a loopback HTTP server: CIFAR-10 archives and IDX files in the real formats,
checksum failures, interrupted transfers resumed, and unsafe archives refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from visionblocks import cli
from visionblocks.data import download, load_dataset, write_idx
from visionblocks.data.cifar import ARCHIVE_FOLDER, write_cifar10
from visionblocks.data.download import (
    ChecksumError,
    DownloadError,
    RemoteDataset,
    UnsafeArchiveError,
    base_url_for,
    download_dataset,
    fetch,
    safe_extract,
)

FAST = {"progress": False, "timeout": 5, "retry_wait": 0}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; drops the connection after
    ``server.cut[path]`` bytes (once per entry in the list)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        if self.path not in srv.files:
            self.send_error(404)
            return
        body = srv.files[self.path]
        if body is None:
            self.send_error(503)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cuts = srv.cut.get(self.path)
        if cuts:
            self.wfile.write(body[start : start + cuts.pop(0)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.cut, srv.log, srv.ranges = {}, {}, [], True
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def tar_gz(entries) -> bytes:
    """A .tar.gz of (TarInfo, bytes or None) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.fixture
def cifar_archive(tmp_path, rng):
    """A small CIFAR-10 in the official layout, as cifar-10-python.tar.gz bytes."""
    X = rng.integers(0, 256, (15, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, 15)
    Xt = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    yt = rng.integers(0, 10, 4)
    src = write_cifar10(tmp_path / "src" / ARCHIVE_FOLDER, X, y, Xt, yt)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname=ARCHIVE_FOLDER)
    return buf.getvalue(), (X, y, Xt, yt)


@pytest.fixture
def idx_files(tmp_path, rng):
    """Four gzipped IDX files of a tiny MNIST: name -> bytes, and the arrays written."""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 30).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 6).astype(np.uint8),
    }
    files = {}
    for stem, arr in arrays.items():
        path = tmp_path / f"{stem}.gz"
        write_idx(path, arr)
        files[f"{stem}.gz"] = path.read_bytes()
    return files, arrays


def serve_cifar(server, monkeypatch, archive: bytes, published_md5=None):
    server.files["/cifar-10-python.tar.gz"] = archive
    monkeypatch.setitem(
        download.REMOTE,
        "cifar10",
        RemoteDataset("unused", (("cifar-10-python.tar.gz", published_md5 or md5(archive)),), True),
    )
    monkeypatch.setenv("VISIONBLOCKS_CIFAR10_URL", server.url)  # the env-var override


def serve_mnist(server, monkeypatch, files: dict, md5s=None):
    for name, data in files.items():
        server.files[f"/{name}"] = data
    published = tuple((n, (md5s or {}).get(n, md5(d))) for n, d in files.items())
    monkeypatch.setitem(download.REMOTE, "mnist", RemoteDataset("unused", published))


def test_cifar10_download_extracts_and_loads_what_was_written(
    server, monkeypatch, tmp_path, cifar_archive
):
    archive, (X, y, Xt, yt) = cifar_archive
    serve_cifar(server, monkeypatch, archive)
    dest = download_dataset("cifar10", dest=tmp_path / "cache", **FAST)
    assert (dest / "cifar-10-python.tar.gz").read_bytes() == archive
    assert not list(dest.glob("*.part")) and not list(dest.glob(".extract-*"))
    data = load_dataset("cifar10", data_dir=dest, num_val=5)
    X_all = np.concatenate([data["X_train"], data["X_val"]])
    assert X_all.dtype == np.float32 and data["y_train"].dtype == np.int64
    np.testing.assert_array_equal(np.rint(data["X_test"] * 255).astype(np.uint8), Xt)
    np.testing.assert_array_equal(data["y_test"], yt)
    assert sorted(np.rint(X_all * 255).astype(np.uint8).sum(axis=(1, 2, 3)).tolist()) == sorted(
        X.astype(np.int64).sum(axis=(1, 2, 3)).tolist()
    )
    # Downloading again finds the verified archive and does not fetch it twice.
    download_dataset("cifar10", dest=tmp_path / "cache", **FAST)
    assert len(server.log) == 1


def test_idx_download_loads_what_was_written(server, monkeypatch, tmp_path, idx_files):
    files, arrays = idx_files
    serve_mnist(server, monkeypatch, files)
    dest = download_dataset("mnist", dest=tmp_path / "mnist", base_url=server.url, **FAST)
    assert sorted(p.name for p in dest.iterdir()) == sorted(files)
    data = load_dataset("mnist", data_dir=dest, num_val=10)
    np.testing.assert_array_equal(data["y_test"], arrays["t10k-labels-idx1-ubyte"])
    np.testing.assert_allclose(data["X_test"][:, 0] * 255, arrays["t10k-images-idx3-ubyte"])
    assert len(data["y_train"]) + len(data["y_val"]) == 30


@pytest.mark.parametrize("kind", ["cifar10", "mnist"])
def test_checksum_failure_is_clear_and_leaves_no_file(
    server, monkeypatch, tmp_path, kind, cifar_archive, idx_files
):
    if kind == "cifar10":
        serve_cifar(server, monkeypatch, cifar_archive[0], published_md5="0" * 32)
    else:
        serve_mnist(server, monkeypatch, idx_files[0], {"t10k-images-idx3-ubyte.gz": "0" * 32})
    dest = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"expected MD5 0{32}, got [0-9a-f]{32}.*deleted"):
        download_dataset(kind, dest=dest, base_url=server.url, **FAST)
    assert not list(dest.glob("*.part"))
    assert not (dest / "t10k-images-idx3-ubyte.gz").exists()
    assert not (dest / "cifar-10-python.tar.gz").exists() and not (dest / ARCHIVE_FOLDER).exists()


@pytest.mark.parametrize("kind", ["cifar10", "mnist"])
def test_interrupted_download_is_resumed(
    server, monkeypatch, tmp_path, kind, cifar_archive, idx_files
):
    if kind == "cifar10":
        serve_cifar(server, monkeypatch, cifar_archive[0])
        name = "cifar-10-python.tar.gz"
    else:
        serve_mnist(server, monkeypatch, idx_files[0])
        name = "train-images-idx3-ubyte.gz"
    body = server.files[f"/{name}"]
    half = len(body) // 2
    server.cut[f"/{name}"] = [half]
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="resumes"):
        download_dataset(kind, dest=dest, base_url=server.url, retries=0, **FAST)
    assert (dest / f"{name}.part").read_bytes() == body[:half]
    assert not (dest / name).exists()  # never looks complete

    download_dataset(kind, dest=dest, base_url=server.url, retries=0, **FAST)
    assert (dest / name).read_bytes() == body and not (dest / f"{name}.part").exists()
    assert (f"/{name}", f"bytes={half}-") in server.log
    load_dataset(kind, data_dir=dest, num_val=2)


def test_retries_resume_within_one_call_and_restart_when_range_is_ignored(server, tmp_path):
    body = bytes(range(256)) * 400
    server.files["/f.bin"] = body
    server.cut["/f.bin"] = [1000, 5000]
    path = fetch(server.url + "f.bin", tmp_path / "f.bin", md5(body), retries=2, **FAST)
    assert path.read_bytes() == body
    assert [r for _, r in server.log] == [None, "bytes=1000-", "bytes=6000-"]

    server.ranges, server.log[:] = False, []  # a server that always sends the whole file
    server.cut["/f.bin"] = [3000]
    path.unlink()
    fetch(server.url + "f.bin", path, md5(body), retries=1, **FAST)
    assert path.read_bytes() == body


def test_http_errors_and_progress_bar(server, tmp_path, capsys):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url + "missing.gz", tmp_path / "m.gz", "0" * 32, **FAST)
    assert len(server.log) == 1  # a client error is not retried
    server.files["/busy"] = None  # answered 503 below
    with pytest.raises(DownloadError, match="2 attempt.*HTTP 503"):
        fetch(server.url + "busy", tmp_path / "b", "0" * 32, retries=1, **FAST)
    assert len(server.log) == 3  # a server error is retried
    server.files["/a.bin"] = b"x" * 5000
    fetch(server.url + "a.bin", tmp_path / "a.bin", md5(b"x" * 5000), progress=True, timeout=5)
    assert "100%" in capsys.readouterr().err


def test_base_url_argument_beats_environment_beats_official(monkeypatch):
    monkeypatch.delenv("VISIONBLOCKS_FASHION_MNIST_URL", raising=False)
    official = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert base_url_for("fashion-mnist") == official
    monkeypatch.setenv("VISIONBLOCKS_FASHION_MNIST_URL", "http://127.0.0.1:1/m")
    assert base_url_for("fashion-mnist") == "http://127.0.0.1:1/m/"
    assert base_url_for("fashion-mnist", "http://127.0.0.1:2/") == "http://127.0.0.1:2/"
    assert download.REMOTE["cifar10"].files[0][1] == "c58f30108f718f92721af3b95e74349a"


def _member(name, kind=tarfile.REGTYPE, data=b"evil", link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(
    "bad, message",
    [
        (_member("../evil.txt"), "climbs out"),
        (_member("cifar-10-batches-py/../../evil.txt"), "climbs out"),
        (_member("/tmp/evil.txt"), "absolute path"),
        (_member("cifar-10-batches-py/link", tarfile.SYMTYPE, link="/etc/passwd"), "link"),
        (_member("cifar-10-batches-py/hard", tarfile.LNKTYPE, link="../x"), "link"),
        (_member("cifar-10-batches-py/dev", tarfile.CHRTYPE), "special file"),
    ],
)
def test_unsafe_archive_members_are_refused_before_anything_is_written(tmp_path, bad, message):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz([_member("cifar-10-batches-py/ok.txt", data=b"fine"), bad]))
    dest = tmp_path / "out" / "deep"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_download_of_a_malicious_archive_is_refused_and_removed(server, monkeypatch, tmp_path):
    evil = tar_gz([_member("../escaped.txt")])
    serve_cifar(server, monkeypatch, evil)  # even when its checksum matches
    dest = tmp_path / "cache" / "cifar10"
    with pytest.raises(UnsafeArchiveError, match="escaped.txt"):
        download_dataset("cifar10", dest=dest, **FAST)
    assert list(dest.iterdir()) == [] and not (dest.parent / "escaped.txt").exists()


def test_not_a_tar_archive_is_a_format_error(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(download.DataFormatError, match="not a readable tar"):
        safe_extract(path, tmp_path / "out")


def test_data_download_command(server, monkeypatch, tmp_path, idx_files, capsys):
    serve_mnist(server, monkeypatch, idx_files[0])
    argv = ["data", "download", "mnist", "--dir", str(tmp_path / "m"), "--base-url", server.url]
    assert cli.main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("verified") == 4 and "--data mnist --data-dir" in out

    server.files["/t10k-labels-idx1-ubyte.gz"] = b"tampered"
    (tmp_path / "m" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert cli.main([*argv, "--no-progress"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
