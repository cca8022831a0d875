"""The COCO loaders: the course's HDF5 layout and the official JSON,
written by the tests, served from a loopback HTTP server, downloaded, checked and read."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from visionblocks.captioning import coco, coco_download
from visionblocks.captioning.coco import (
    load_coco_captions_json,
    load_coco_data,
    sample_coco_minibatch,
    write_coco_data,
)
from visionblocks.captioning.coco_download import download_coco, safe_extract_zip
from visionblocks.captioning.vocab import Vocabulary
from visionblocks.data.download import ChecksumError, UnsafeArchiveError
from visionblocks.errors import ConfigError, DataFormatError, DataNotFoundError

h5py = pytest.importorskip("h5py")
FAST = {"progress": False, "timeout": 5, "retry_wait": 0}


# ---------------------------------------------------------------- the course's HDF5 layout


def _course_data(rng, n_train=40, n_val=12, m_train=10, m_val=4, d=8):
    words = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(20)]
    v = Vocabulary(words)
    caps = [" ".join(f"w{k}" for k in rng.integers(0, 20, rng.integers(1, 16)))
            for _ in range(n_train + n_val)]  # fmt: skip
    enc = v.encode(caps, max_length=15)
    return {
        "train_captions": enc[:n_train],
        "train_image_idxs": rng.integers(0, m_train, n_train).astype(np.int32),
        "val_captions": enc[n_train:],
        "val_image_idxs": rng.integers(0, m_val, n_val).astype(np.int32),
        "train_features": rng.standard_normal((m_train, d)).astype(np.float32),
        "val_features": rng.standard_normal((m_val, d)).astype(np.float32),
        "idx_to_word": words,
        "train_urls": [f"http://x/train/{i}.jpg" for i in range(m_train)],
        "val_urls": [f"http://x/val/{i}.jpg" for i in range(m_val)],
    }


def test_load_coco_data_reads_the_course_layout(tmp_path, rng):
    src = _course_data(rng)
    write_coco_data(tmp_path / "coco", src)
    data = load_coco_data(base_dir=tmp_path / "coco")
    keys = [f"{s}_{k}" for s in ("train", "val") for k in ("captions", "image_idxs", "features",
                                                           "urls")]  # fmt: skip
    assert sorted(data) == sorted(keys + ["idx_to_word", "word_to_idx"])
    assert data["train_captions"].shape == (40, 17) and data["train_captions"].dtype == np.int32
    for k in ("train_captions", "val_image_idxs", "train_features"):
        np.testing.assert_array_equal(data[k], src[k])
    assert data["word_to_idx"]["w3"] == 7 and data["val_urls"][2] == "http://x/val/2.jpg"
    # the subfolder coco_captioning/ of base_dir is searched too, as the zip unpacks
    write_coco_data(tmp_path / "up" / "coco_captioning", src, pca_features=False)
    full = load_coco_data(base_dir=tmp_path / "up", pca_features=False)
    np.testing.assert_array_equal(full["val_features"], src["val_features"])
    # max_train draws the same captions for the same seed
    a = load_coco_data(base_dir=tmp_path / "coco", max_train=7, seed=3)
    b = load_coco_data(base_dir=tmp_path / "coco", max_train=7, seed=3)
    assert a["train_captions"].shape == (7, 17)
    np.testing.assert_array_equal(a["train_image_idxs"], b["train_image_idxs"])


def test_sample_coco_minibatch_matches_images_to_captions(tmp_path, rng):
    data = load_coco_data(base_dir=write_coco_data(tmp_path, _course_data(rng)))
    caps, feats, urls = sample_coco_minibatch(data, batch_size=25, split="val", rng=0)
    assert caps.shape == (25, 17) and feats.shape == (25, 8) and urls.shape == (25,)
    for c, f, u in zip(caps, feats, urls):
        rows = np.flatnonzero((data["val_captions"] == c).all(axis=1))
        img = data["val_image_idxs"][rows]
        assert any(np.array_equal(data["val_features"][i], f) for i in img)
        assert u in {data["val_urls"][i] for i in img}
    again = sample_coco_minibatch(data, batch_size=25, split="val", rng=0)
    np.testing.assert_array_equal(again[0], caps)
    with pytest.raises(KeyError, match="split 'test'"):
        sample_coco_minibatch(data, split="test")


def _corrupt(folder, fname, key, value):
    with h5py.File(folder / fname, "a") as f:
        del f[key]
        if value is not None:
            f[key] = value


@pytest.mark.parametrize(
    "fname,key,value,match",
    [
        ("coco2014_captions.h5", "val_image_idxs", None, "missing key.*val_image_idxs"),
        ("coco2014_captions.h5", "train_captions", np.zeros((40, 17), np.float32),
         "train_captions: expected a 2-D integer array"),
        ("coco2014_captions.h5", "train_image_idxs", np.full(40, 99, np.int32),
         "points to image 99.*holds 10 images"),
        ("coco2014_captions.h5", "val_captions", np.full((12, 17), 500, np.int32),
         "word indices up to 500.*24 words"),
        ("coco2014_captions.h5", "val_image_idxs", np.zeros(3, np.int32),
         "3 entries for 12 captions"),
        ("train2014_vgg16_fc7_pca.h5", "features", np.zeros((10,), np.float32),
         "train2014_vgg16_fc7_pca.h5: features must be a 2-D float"),
    ],
)  # fmt: skip
def test_bad_course_files_are_named(tmp_path, rng, fname, key, value, match):
    write_coco_data(tmp_path, _course_data(rng))
    _corrupt(tmp_path, fname, key, value)
    with pytest.raises(DataFormatError, match=match):
        load_coco_data(base_dir=tmp_path)


def test_missing_and_unreadable_files_are_named(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONBLOCKS_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="coco2014_captions.h5.*download-coco"):
        load_coco_data()
    write_coco_data(tmp_path / "c", _course_data(rng))
    (tmp_path / "c" / "val2014_urls.txt").write_text("only-one\n")
    with pytest.raises(DataFormatError, match="val2014_urls.txt: 1 addresses for 4 images"):
        load_coco_data(base_dir=tmp_path / "c")
    (tmp_path / "c" / "coco2014_vocab.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="coco2014_vocab.json: not a readable JSON"):
        load_coco_data(base_dir=tmp_path / "c")
    (tmp_path / "c" / "train2014_vgg16_fc7_pca.h5").unlink()
    (tmp_path / "c" / "coco2014_captions.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFormatError, match="coco2014_captions.h5: not a readable HDF5"):
        load_coco_data(base_dir=tmp_path / "c")


# ---------------------------------------------------------------- the official JSON

OFFICIAL = {
    "info": {"year": 2014},
    "images": [{"id": 42, "file_name": "COCO_train2014_000000000042.jpg"},
               {"id": 7, "file_name": "COCO_train2014_000000000007.jpg"}],
    "annotations": [
        {"image_id": 42, "id": 1, "caption": "A man riding a wave on a surfboard."},
        {"image_id": 7, "id": 2, "caption": "A dog on a couch"},
        {"image_id": 42, "id": 3, "caption": "A surfer riding a big wave"},
    ],
}  # fmt: skip


def test_official_json_becomes_the_course_arrays(tmp_path):
    path = tmp_path / "captions_train2014.json"
    path.write_text(json.dumps(OFFICIAL))
    out = load_coco_captions_json(path, min_count=2)
    v = out["vocab"]
    assert v.idx_to_word == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "on", "riding", "wave"]
    assert out["captions"].shape == (3, 17) and out["captions"].dtype == np.int32
    assert v.decode(out["captions"][1]) == "<START> a <UNK> on a <UNK> <END>"
    np.testing.assert_array_equal(out["image_ids"], [7, 42])
    np.testing.assert_array_equal(out["image_idxs"], [1, 0, 1])
    assert out["file_names"][1] == "COCO_train2014_000000000042.jpg"
    assert out["tokens"][0] == ["a", "man", "riding", "a", "wave", "on", "a", "surfboard"]
    # the val file is encoded with the training vocabulary
    val = load_coco_captions_json(path, vocab=v, max_length=3)
    assert val["captions"].shape == (3, 5)


@pytest.mark.parametrize(
    "doc,match",
    [
        ({"images": []}, "'annotations' list"),
        ({"annotations": [{"image_id": "42", "caption": "x"}]}, r"annotations\[0\]"),
        ({"images": [{"id": 1}], "annotations": [{"image_id": 2, "caption": "x"}]},
         "image 2, not in 'images'"),
    ],
)  # fmt: skip
def test_bad_official_json_is_named(tmp_path, doc, match):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=match):
        load_coco_captions_json(path)


# ---------------------------------------------------------------- downloads


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.log.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log = {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _zip(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)  # a name or a ZipInfo
    return buf.getvalue()


def _md5(b: bytes) -> str:
    return hashlib.md5(b, usedforsecurity=False).hexdigest()


def _course_zip(tmp_path, rng) -> bytes:
    folder = write_coco_data(tmp_path / "src", _course_data(rng))
    return _zip((f"coco_captioning/{p.name}", p.read_bytes()) for p in sorted(folder.iterdir()))


def test_course_download_checks_md5_extracts_and_loads(server, tmp_path, rng):
    archive = _course_zip(tmp_path, rng)
    server.files["/coco_captioning.zip"] = archive
    dest = download_coco("course", tmp_path / "cache", base_url=server.url, md5=_md5(archive),
                         **FAST)  # fmt: skip
    data = load_coco_data(base_dir=dest)
    assert data["train_captions"].shape == (40, 17)
    assert not list(dest.glob(".extract-*")) and not list(dest.glob("*.part"))
    download_coco("course", dest, base_url=server.url, md5=_md5(archive), **FAST)
    assert server.log == ["/coco_captioning.zip"]  # the verified archive is not fetched again
    with pytest.raises(ChecksumError, match="expected MD5 0{32}"):
        download_coco("course", tmp_path / "other", base_url=server.url, md5="0" * 32, **FAST)
    assert not (tmp_path / "other" / "coco_captioning.zip").exists()


def test_unpublished_md5_needs_a_choice_and_is_recorded(server, tmp_path, monkeypatch):
    ann = _zip([("annotations/captions_train2014.json", json.dumps(OFFICIAL)),
                ("annotations/captions_val2014.json", json.dumps(OFFICIAL)),
                ("annotations/instances_train2014.json", "{}")])  # fmt: skip
    server.files["/annotations_trainval2014.zip"] = ann
    monkeypatch.setenv("VISIONBLOCKS_COCO_ANNOTATIONS_URL", server.url)
    with pytest.raises(ConfigError, match="no MD5 is published.*--record-md5"):
        download_coco("annotations", tmp_path / "a", **FAST)
    dest = download_coco("annotations", tmp_path / "a", record_md5=True, **FAST)
    assert sorted(p.name for p in dest.glob("*.json")) == ["captions_train2014.json",
                                                           "captions_val2014.json"]  # fmt: skip
    assert (dest / "annotations_trainval2014.zip.md5").read_text().strip() == _md5(ann)
    assert load_coco_captions_json(dest / "captions_train2014.json")["captions"].shape[0] == 3
    # later calls check the recorded MD5: a changed archive on the server is refused
    (dest / "annotations_trainval2014.zip").write_bytes(b"tampered")
    server.files["/annotations_trainval2014.zip"] = ann + b"x"
    with pytest.raises(ChecksumError):
        download_coco("annotations", dest, **FAST)


def test_unsafe_and_broken_zips_are_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip([("ok.txt", "x"), ("../evil.txt", "y")]))
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        safe_extract_zip(bad, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()
    link = zipfile.ZipInfo("link")
    link.external_attr = (0o120777) << 16  # a symbolic link
    bad.write_bytes(_zip([(link, "/etc/passwd")]))
    with pytest.raises(UnsafeArchiveError, match="link or special"):
        safe_extract_zip(bad, tmp_path / "out")
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="not a readable ZIP"):
        safe_extract_zip(bad, tmp_path / "out")
    bad.write_bytes(_zip([("a.txt", "x")]))
    with pytest.raises(DataFormatError, match="no member b.txt"):
        safe_extract_zip(bad, tmp_path / "out", members=["b.txt"])
    with pytest.raises(ConfigError, match="source must be one of"):
        coco_download.download_coco("nope")
    assert coco.COCO_NAME == "coco_captioning"


def test_download_coco_command(server, tmp_path, rng, capsys):
    from visionblocks import cli

    archive = _course_zip(tmp_path, rng)
    server.files["/coco_captioning.zip"] = archive
    argv = ["data", "download-coco", "course", "--dir", str(tmp_path / "d"), "--base-url",
            server.url, "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 2
    assert "no MD5 is published" in capsys.readouterr().err
    assert cli.main([*argv, "--md5", _md5(archive)]) == 0
    assert f"COCO course files are in {tmp_path / 'd'}" in capsys.readouterr().out
    assert load_coco_data(base_dir=tmp_path / "d")["val_captions"].shape == (12, 17)
