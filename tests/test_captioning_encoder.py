"""The captioners' CNN image encoder: attribute targets in the canonical (left / upper first)
order, deterministic training and features, the feature shapes of ``to_captioning_data``
('cnn' vectors, 'cnn-grid' maps), attribute accuracy well above chance on val, the cache, and
``--image-features cnn`` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import visionblocks.captioning.specs  # noqa: F401  (registers the captioners)
from visionblocks import cli
from visionblocks.captioning.encoder import (
    HEADS,
    CNNEncoder,
    attribute_targets,
    cached_encoder,
    train_encoder,
)
from visionblocks.captioning.synthetic import (
    COLOUR,
    CX,
    CY,
    SHAPE,
    load_caption_dataset,
    make_caption_dataset,
    to_captioning_data,
)

SMALL = dict(n_train=800, n_val=200, n_test=20, n_test_combo=20)
NARROW = (8, 16, 32)


@pytest.fixture(scope="module")
def ds():
    return make_caption_dataset(seed=0, **SMALL)


@pytest.fixture(scope="module")
def trained(ds):
    return train_encoder(ds, epochs=3, batch_size=16, channels=NARROW, seed=0)


def test_targets_name_the_left_or_upper_object_first(ds):
    obj, rel = ds.objects["train"], ds.relations["train"]
    t = attribute_targets(obj, rel)
    assert t.shape == (len(obj), len(HEADS))
    for j, (_, k) in enumerate(HEADS):
        assert 0 <= t[:, j].min() and t[:, j].max() < k
    for i in range(len(obj)):
        if rel[i] < 0:  # one object: the second's heads say "none", layout 0
            assert tuple(t[i, 3:]) == (5, 4, 2, 0)
            assert (t[i, 0], t[i, 1]) == (obj[i, 0, COLOUR], obj[i, 0, SHAPE])
            continue
        axis = CX if rel[i] <= 1 else CY
        first = int(np.argmin(obj[i, :, axis]))  # the left (or upper) object
        assert (t[i, 0], t[i, 1]) == (obj[i, first, COLOUR], obj[i, first, SHAPE])
        assert (t[i, 3], t[i, 4]) == (obj[i, 1 - first, COLOUR], obj[i, 1 - first, SHAPE])
        assert t[i, 6] == (1 if axis == CX else 2)


def test_encoder_beats_chance_on_val_by_far(ds, trained):
    _, record = trained
    acc = record["val_accuracy"]
    assert record["num_train"] == SMALL["n_train"] and len(record["loss"]) == 3
    assert record["loss"][-1] < record["loss"][0]
    t = attribute_targets(ds.objects["val"], ds.relations["val"])

    def majority(col):  # the accuracy of always guessing val's most frequent class
        return np.bincount(col).max() / len(col)

    # 3 short epochs on 800 images (the benchmark's encoder: 12 epochs on 4000, val 0.92-0.99)
    assert acc["colour_a"] > majority(t[:, 0]) + 0.3, acc
    assert acc["colour_b"] > majority(t[:, 3]) + 0.2, acc
    assert acc["layout"] > majority(t[:, 6]) + 0.2, acc
    pairs = t[:, 0] * 10 + t[:, 1]
    assert acc["first_colour_shape"] > 2.5 * majority(pairs), acc


def test_training_and_features_are_deterministic(ds, trained):
    enc, _ = trained
    small = make_caption_dataset(seed=0, n_train=100, n_val=0, n_test=0, n_test_combo=0)
    a, _ = train_encoder(small, epochs=1, channels=NARROW, seed=3)
    b, _ = train_encoder(small, epochs=1, channels=NARROW, seed=3)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    imgs = ds.images["val"][:30]
    np.testing.assert_array_equal(enc.encode(imgs, "cnn"), enc.encode(imgs, "cnn"))
    np.testing.assert_allclose(enc.encode(imgs, "cnn"), enc.encode(imgs, "cnn", batch_size=7),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="kind"):
        enc.encode(imgs, "pixels")
    with pytest.raises(ValueError, match="images must be"):
        enc.encode(imgs[:, :, :16, :16])


def test_cnn_features_in_the_course_dict(ds, trained):
    enc, _ = trained
    vec = to_captioning_data(ds, features="cnn", encoder=enc)
    grid = to_captioning_data(ds, features="cnn-grid", encoder=enc)
    for s in ("train", "val", "test", "test_combo"):
        n = len(ds.images[s])
        assert vec[f"{s}_features"].shape == (n, NARROW[2])
        assert grid[f"{s}_features"].shape == (n, NARROW[2], 8, 8)
        assert vec[f"{s}_features"].dtype == grid[f"{s}_features"].dtype == np.float32
    # standardised with the training statistics; the pooled vector is the map's mean
    live = vec["feature_std"] > 1e-3
    np.testing.assert_allclose(vec["train_features"].mean(0)[live], 0, atol=1e-4)
    raw_map = enc.encode(ds.images["val"], "cnn-grid")
    np.testing.assert_allclose(raw_map.mean(axis=(2, 3)), enc.encode(ds.images["val"], "cnn"),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="needs encoder"):
        to_captioning_data(ds, features="cnn")
    with pytest.raises(ValueError, match="features must be one of"):
        to_captioning_data(ds, features="vgg")


def test_cache_reuses_the_frozen_weights(tmp_path):
    small = make_caption_dataset(seed=1, n_train=60, n_val=10, n_test=0, n_test_combo=0)
    a, rec_a = cached_encoder(small, tmp_path, epochs=1, channels=NARROW)
    assert len(list(tmp_path.glob("encoder-*.npz"))) == 1
    b, rec_b = cached_encoder(small, tmp_path, epochs=1, channels=NARROW)
    assert rec_a == json.loads(json.dumps(rec_b)) and b.channels == NARROW
    np.testing.assert_array_equal(a.encode(small.images["val"]), b.encode(small.images["val"]))
    cached_encoder(small, tmp_path, epochs=2, channels=NARROW)  # other settings, other file
    assert len(list(tmp_path.glob("encoder-*.npz"))) == 2
    with pytest.raises(ValueError, match="channels"):
        CNNEncoder(32, (8, 16))


def test_cli_trains_on_cnn_features_and_captions_files_alike(tmp_path, capsys):
    from matplotlib import image as mpimg

    data = tmp_path / "set"
    assert cli.main(["data", "make", "captions", "--out", str(data), "--n-train", "40",
                     "--n-val", "6", "--n-test", "6", "--n-test-combo", "6",
                     "--captions-per-image", "2"]) == 0  # fmt: skip
    run = tmp_path / "run"
    assert cli.main(["train", "--model", "captioning-lstm", "--data", f"captions:{data}",
                     "--image-features", "cnn", "--cnn-epochs", "1", "--out", str(run),
                     "--hidden-dim", "16", "--wordvec-dim", "8", "--max-length", "16",
                     "--batch-size", "40", "--epochs", "1", "--print-every", "0"]) == 0  # fmt: skip
    assert "CNN encoder" in capsys.readouterr().out
    assert len(list((data / "encoders").glob("encoder-*.npz"))) == 1
    ds = load_caption_dataset(data)
    path = tmp_path / "img.png"
    mpimg.imsave(path, ds.images["test"][0].transpose(1, 2, 0))
    assert cli.main(["caption", str(run), "--split", "test", "--num", "1"]) == 0
    assert cli.main(["caption", str(run), "--images", str(path), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    one = json.loads((tmp_path / "captions-images.json").read_text())[0]["caption"]
    assert one == json.loads((run / "captions-test.json").read_text())[0]["caption"]
    assert cli.main(["train", "--model", "captioning-attention", "--data", f"captions:{data}",
                     "--image-features", "cnn", "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "image_features" in capsys.readouterr().err
