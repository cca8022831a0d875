"""The offline captioning set: deterministic by seed, the held-out combinations really held
out, captions that describe the pictures (checked on the pixels), shapes, dtypes, save/load
and the ``visionblocks data make captions`` command."""

from __future__ import annotations

import numpy as np
import pytest

from visionblocks import cli
from visionblocks.captioning.synthetic import (
    COLOURS,
    HELD_OUT,
    SHAPES,
    SIZES,
    SPLITS,
    load_caption_dataset,
    make_caption_dataset,
    pixel_features,
    to_captioning_data,
)
from visionblocks.errors import DataFormatError, DataNotFoundError

SMALL = {"n_train": 60, "n_val": 10, "n_test": 10, "n_test_combo": 30}


@pytest.fixture(scope="module")
def ds():
    return make_caption_dataset(seed=0, **SMALL)


def test_same_seed_same_set_other_seed_other_set(ds):
    again = make_caption_dataset(seed=0, **SMALL)
    other = make_caption_dataset(seed=1, **SMALL)
    for s in SPLITS:
        np.testing.assert_array_equal(again.images[s], ds.images[s])
        np.testing.assert_array_equal(again.captions[s], ds.captions[s])
    assert again.vocab == ds.vocab
    assert not np.array_equal(other.images["train"], ds.images["train"])
    # a split's size does not change the other splits' images
    bigger = make_caption_dataset(seed=0, **{**SMALL, "n_train": 80})
    np.testing.assert_array_equal(bigger.images["test_combo"], ds.images["test_combo"])


def test_shapes_dtypes_and_course_layout(ds):
    for s, n in zip(SPLITS, SMALL.values()):
        assert ds.images[s].shape == (n, 3, 32, 32) and ds.images[s].dtype == np.uint8
        caps = ds.captions[s]
        assert caps.dtype == np.int32 and caps.shape[:2] == (n, 5)
        assert (caps[:, :, 0] == ds.vocab.start).all()  # every caption opens with <START>
        assert ((caps == ds.vocab.end).sum(axis=2) == 1).all()  # and closes with one <END>
        assert (caps != ds.vocab.unk).all()
        for refs in caps:  # the references of an image are distinct
            assert len({tuple(r) for r in refs}) == 5
    data = to_captioning_data(ds)
    assert data["train_captions"].shape == (300, ds.captions["train"].shape[2])
    assert data["train_features"].shape == (60, 3 * 8 * 8)
    assert data["train_features"].dtype == np.float32
    np.testing.assert_array_equal(data["val_image_idxs"][:6], [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(data["val_captions"][5], ds.captions["val"][1, 0])
    blind = to_captioning_data(ds, features="none")
    assert not blind["test_features"].any()


def test_held_out_combinations_only_in_test_combo(ds):
    held = {(SHAPES.index(s), list(COLOURS).index(c)) for c, s in HELD_OUT}
    for s in SPLITS:
        obj = ds.objects[s]
        combos = [{(int(o[1]), int(o[2])) for o in row if o[0]} for row in obj]
        has_held = np.array([bool(c & held) for c in combos])
        if s == "test_combo":
            assert has_held.all()
        else:
            assert not has_held.any(), s
    # ... and every colour and every shape still occurs in training, with both sizes
    train = ds.objects["train"][ds.objects["train"][:, :, 0] == 1]
    assert set(train[:, 1]) == set(range(len(SHAPES)))
    assert set(train[:, 2]) == set(range(len(COLOURS)))
    assert set(train[:, 3]) == {0, 1}
    # the words of the held-out pairs never follow each other in a training caption
    words = [" ".join(ds.vocab.words(c)) for caps in ds.captions["train"] for c in caps]
    for colour, shape in HELD_OUT:
        assert not any(f"{colour} {shape}" in w for w in words)
    combo = [" ".join(ds.vocab.words(c)) for caps in ds.captions["test_combo"] for c in caps]
    assert any(any(f"{c} {s}" in w for c, s in HELD_OUT) for w in combo)


def _colour_mask(image, colour):
    """Pixels near the named colour (the drawing adds +-15 per channel, noise ~6)."""
    diff = image.astype(int) - np.asarray(COLOURS[colour])[:, None, None]
    return (np.abs(diff) <= 40).all(axis=0)  # (S, S)


def _parse(words):
    """``a [size] colour shape RELATION a [size] colour shape`` -> objects and relation."""
    objs, rel, i = [], None, 0
    while i < len(words):
        w = words[i]
        if w in SHAPES:
            j = i - 1
            colour = words[j]
            size = words[j - 1] if words[j - 1] in SIZES else None
            objs.append((size, colour, w))
        i += 1
    text = " ".join(words)
    for phrase, r in (("left of", "left"), ("right of", "right"), ("above", "above"),
                      ("over", "above"), ("below", "below"), ("under", "below")):  # fmt: skip
        if f" {phrase} " in f" {text} ":
            rel = r
    return objs, rel


def test_captions_describe_the_pictures(ds):
    """Every reference is checked on the pixels: each named object is there in its colour,
    large ones cover more pixels than small ones, and a relation matches the centroids."""
    checked = 0
    for s in ("train", "test_combo"):
        for img, caps in zip(ds.images[s], ds.captions[s]):
            for cap in caps:
                objs, rel = _parse(ds.vocab.words(cap))
                assert 1 <= len(objs) <= 2
                masks = [_colour_mask(img, c) for _, c, _ in objs]
                for m in masks:
                    assert m.sum() >= 9  # the named colour is drawn
                if len(objs) == 2 and objs[0][1] != objs[1][1]:
                    (ya, xa), (yb, xb) = (np.argwhere(m).mean(axis=0) for m in masks)
                    want = {"left": xa < xb, "right": xa > xb, "above": ya < yb,
                            "below": ya > yb, None: True}  # fmt: skip
                    assert want[rel], (s, ds.vocab.words(cap))
                    sizes = [z for z, _, _ in objs]
                    if sizes == ["small", "large"]:
                        assert masks[0].sum() < masks[1].sum()
                    checked += 1
                if len(objs) == 1:
                    assert rel is None
    assert checked > 100


def test_shapes_are_drawn_as_named(ds):
    """Fill ratio of the bounding box tells the four shapes apart."""
    ratio = {"square": (0.95, 1.01), "circle": (0.7, 0.9), "triangle": (0.4, 0.62),
             "cross": (0.3, 0.65)}  # fmt: skip
    for img, obj in zip(ds.images["train"], ds.objects["train"]):
        objs = [o for o in obj if o[0]]
        if len(objs) == 2 and objs[0][2] == objs[1][2]:
            continue  # two objects of one colour: the mask holds both
        for o in objs:
            m = _colour_mask(img, list(COLOURS)[o[2]])
            ys, xs = np.nonzero(m)
            box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
            lo, hi = ratio[SHAPES[o[1]]]
            assert lo <= m.sum() / box <= hi, SHAPES[o[1]]
            if SHAPES[o[1]] == "cross":  # corners of the box are empty, the centre is full
                assert not m[ys.min(), xs.min()] and m[int(o[5]), int(o[4])]
            if SHAPES[o[1]] == "triangle":  # the base is wider than the apex
                assert m[ys.max()].sum() > m[ys.min()].sum()


def test_save_load_round_trip_and_bad_files(ds, tmp_path):
    path = ds.save(tmp_path / "set")
    assert path.name == "captions.npz"
    back = load_caption_dataset(tmp_path / "set")
    assert back.vocab == ds.vocab and back.meta["held_out"] == [list(p) for p in HELD_OUT]
    for s in SPLITS:
        np.testing.assert_array_equal(back.captions[s], ds.captions[s])
        np.testing.assert_array_equal(back.objects[s], ds.objects[s])
    assert back.references("val")[0][0] == ds.vocab.words(ds.captions["val"][0, 0])
    with pytest.raises(DataNotFoundError, match="data make captions"):
        load_caption_dataset(tmp_path / "nothing")
    arrays = dict(np.load(path))
    del arrays["val_objects"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFormatError, match="split 'val' lacks val_objects"):
        load_caption_dataset(tmp_path / "bad.npz")
    arrays = dict(np.load(path))
    arrays["test_images"] = arrays["test_images"].astype(np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFormatError, match="test_images must be"):
        load_caption_dataset(tmp_path / "bad.npz")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_train"):
        make_caption_dataset(n_train=-1)
    with pytest.raises(ValueError, match="image_size"):
        make_caption_dataset(image_size=16)
    with pytest.raises(ValueError, match="held_out: unknown"):
        make_caption_dataset(held_out=(("pink", "circle"),))
    with pytest.raises(ValueError, match="every combination with 'red' is held out"):
        make_caption_dataset(held_out=tuple(("red", s) for s in SHAPES))
    with pytest.raises(ValueError, match="pool=5"):
        pixel_features(np.zeros((1, 3, 32, 32), np.uint8), pool=5)


def test_data_make_captions_command(tmp_path, capsys):
    argv = ["data", "make", "captions", "--seed", "3", "--out", str(tmp_path / "d"),
            "--n-train", "20", "--n-val", "4", "--n-test", "4", "--n-test-combo", "6",
            "--captions-per-image", "3", "--image-size", "48"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "train 20, val 4, test 4, test_combo 6 images, 3 captions each" in out
    assert "red circle" in out and f"--data captions:{tmp_path / 'd'}" in out
    got = load_caption_dataset(tmp_path / "d")
    want = make_caption_dataset(seed=3, n_train=20, n_val=4, n_test=4, n_test_combo=6,
                                captions_per_image=3, image_size=48)  # fmt: skip
    np.testing.assert_array_equal(got.images["test_combo"], want.images["test_combo"])
    assert got.images["train"].shape == (20, 3, 48, 48) and got.captions["train"].shape[1] == 3


def test_grid_features_are_the_cells_of_the_image(ds):
    from visionblocks.captioning.synthetic import grid_features

    img = ds.images["train"][:2]
    g = grid_features(img, pool=4)
    assert g.shape == (2, 48, 8, 8) and g.dtype == np.float32
    cell = img[1, :, 8:12, 20:24].reshape(-1) / 255.0 - 0.5  # row 2, column 5 of the grid
    np.testing.assert_allclose(g[1, :, 2, 5], cell, atol=1e-6)
    data = to_captioning_data(ds, features="grid")
    f = data["train_features"]
    np.testing.assert_allclose(f.mean(axis=(0, 2, 3)), 0, atol=1e-4)  # standardised per channel
    assert data["feature_mean"].shape == (48, 1, 1)
