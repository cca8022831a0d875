"""``visionblocks train --model captioning-*`` on the offline set, ``--resume``, and
``visionblocks caption RUN`` on a split and on image files; bad options are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import visionblocks.captioning.specs  # noqa: F401  (registers the captioners)
from visionblocks import cli
from visionblocks.captioning.synthetic import load_caption_dataset
from visionblocks.model_registry import MODELS
from visionblocks.training import MetricsLog

TINY = ["--hidden-dim", "16", "--wordvec-dim", "8", "--max-length", "16", "--batch-size", "40",
        "--lr", "0.01", "--print-every", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def caption_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("set")
    argv = ["data", "make", "captions", "--out", str(out), "--n-train", "40", "--n-val", "6",
            "--n-test", "6", "--n-test-combo", "6", "--captions-per-image", "2"]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def _train(caption_set, out, *extra, model="captioning-gru"):
    return cli.main(["train", "--model", model, "--data", f"captions:{caption_set}",
                     "--out", str(out), *TINY, *extra])  # fmt: skip


def test_the_three_captioners_are_registered():
    for cell in ("rnn", "lstm", "gru"):
        spec = MODELS[f"captioning-{cell}"]
        assert spec.runner.whole_run and spec.engines == ("numpy", "torch")
    assert "forget_bias" in MODELS["captioning-lstm"].option_map
    assert "forget_bias" not in MODELS["captioning-gru"].option_map


def test_train_resume_and_caption_a_split(caption_set, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(caption_set, run, "--epochs", "2") == 0
    out = capsys.readouterr().out
    assert "val BLEU-1..4" in out and "test_combo: BLEU-1..4" in out
    assert "test accuracy" not in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "captioning-gru" and summary["epochs"] == 2
    assert set(summary["test_combo"]) == {"bleu1", "bleu2", "bleu3", "bleu4", "exact"}
    assert "fractions in [0, 1]" in summary["bleu"]
    assert [r["epoch"] for r in MetricsLog(run / "metrics.jsonl").read()] == [1, 2]
    gallery = json.loads((run / "captions-test_combo.json").read_text())  # written by train
    assert len(gallery) == 6 and (run / "captions-test.png").is_file()
    # --resume continues the saved run to more epochs with its own options
    assert cli.main(["train", "--resume", "--out", str(run), "--epochs", "3"]) == 0
    assert "resuming from epoch 2 of 3" in capsys.readouterr().out
    assert [r["epoch"] for r in MetricsLog(run / "metrics.jsonl").read()] == [1, 2, 3]
    # caption the held-out combinations: the split's BLEU is printed, images written
    assert cli.main(["caption", str(run), "--num", "3"]) == 0
    out = capsys.readouterr().out
    assert "test_combo (6 images, greedy decoding): BLEU-1..4" in out
    rows = json.loads((run / "captions-test_combo.json").read_text())
    assert len(rows) == 3 and len(rows[0]["references"]) == 2
    assert (run / "captions-test_combo.png").stat().st_size > 1000


def test_caption_image_files_as_the_split_would(caption_set, tmp_path, capsys):
    from matplotlib import image as mpimg

    run = tmp_path / "run"
    assert _train(caption_set, run, "--epochs", "1", model="captioning-rnn") == 0
    ds = load_caption_dataset(caption_set)
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        mpimg.imsave(p, ds.images["test"][i].transpose(1, 2, 0))
        paths.append(str(p))
    assert cli.main(["caption", str(run), "--split", "test", "--num", "2"]) == 0
    assert cli.main(["caption", str(run), "--images", *paths, "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    from_split = json.loads((run / "captions-test.json").read_text())
    from_files = json.loads((tmp_path / "o" / "captions-images.json").read_text())
    assert [r["caption"] for r in from_files] == [r["caption"] for r in from_split]
    assert (tmp_path / "o" / "captions-images.png").is_file()


def test_bad_options_are_one_line_errors(caption_set, tmp_path, capsys):
    assert cli.main(["train", "--model", "captioning-lstm", "--data", "digits",
                     "--out", str(tmp_path / "a")]) == 2  # fmt: skip
    assert "needs --data captions:DIR" in capsys.readouterr().err
    assert _train(caption_set, tmp_path / "b", "--preprocess", "mean") == 2
    assert "option 'preprocess' does not apply" in capsys.readouterr().err
    assert _train(caption_set, tmp_path / "c", "--forget-bias", "1.0") == 2  # not a GRU option
    assert "forget_bias" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    run = tmp_path / "run"
    assert _train(caption_set, run, "--epochs", "1", "--no-test") == 0
    assert "test_combo" not in json.loads((run / "summary.json").read_text())
    capsys.readouterr()
    assert cli.main(["evaluate", str(run)]) == 2
    assert "visionblocks caption" in capsys.readouterr().err
    assert cli.main(["caption", str(run), "--split", "nope"]) == 2
    assert "no such split" in capsys.readouterr().err
    np.testing.assert_equal(len(list(run.glob("captions-*"))), 0)


def test_train_on_the_course_coco_files(tmp_path, capsys):
    pytest.importorskip("h5py")
    from visionblocks.captioning.coco import write_coco_data
    from visionblocks.captioning.vocab import Vocabulary

    rng = np.random.default_rng(0)
    v = Vocabulary.build(["a dog on a mat", "a cat on a bed", "two birds"])
    caps = v.encode([["a", "dog"], ["a", "cat", "on", "a", "bed"], ["two", "birds"]] * 10,
                    max_length=15)  # fmt: skip
    coco = write_coco_data(tmp_path / "coco", {
        "train_captions": caps, "train_image_idxs": np.arange(30) % 6,
        "val_captions": caps[:6], "val_image_idxs": np.arange(6) % 3,
        "train_features": rng.standard_normal((6, 12)),
        "val_features": rng.standard_normal((3, 12)),
        "idx_to_word": v.idx_to_word,
    })  # fmt: skip
    argv = ["train", "--model", "captioning-rnn", "--data", f"coco:{coco}", "--out",
            str(tmp_path / "run"), "--epochs", "2", "--batch-size", "10", "--num-train", "20",
            "--hidden-dim", "8", "--wordvec-dim", "4", "--max-length", "8"]  # fmt: skip
    assert cli.main(argv) == 0
    assert "val: BLEU-1..4" in capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["num_train_captions"] == 20 and "val" in summary
    assert cli.main(["caption", str(tmp_path / "run"), "--num", "2"]) == 0
    rows = json.loads((tmp_path / "run" / "captions-val.json").read_text())
    assert rows[0]["url"] == "image-0" and "val (3 images" in capsys.readouterr().out
    assert cli.main(["caption", str(tmp_path / "run"), "--images", "x.png"]) == 2
    assert "needs a run on the offline set" in capsys.readouterr().err


@pytest.mark.slow  # about 5 s: the attention figure has a panel per generated word
def test_attention_captioner_trains_on_grid_features_and_captions_files(caption_set, tmp_path,
                                                                        capsys):  # fmt: skip
    from matplotlib import image as mpimg

    run = tmp_path / "att"
    assert _train(caption_set, run, "--epochs", "1", "--attention-dim", "8",
                  model="captioning-attention") == 0  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "captioning-attention" and "test_combo" in summary
    assert (run / "attention-test_combo.png").stat().st_size > 1000  # the maps behind words
    ds = load_caption_dataset(caption_set)
    path = tmp_path / "img.png"
    mpimg.imsave(path, ds.images["test"][0].transpose(1, 2, 0))
    assert cli.main(["caption", str(run), "--images", str(path), "--out", str(tmp_path)]) == 0
    assert cli.main(["caption", str(run), "--split", "test", "--num", "1"]) == 0
    capsys.readouterr()
    one = json.loads((tmp_path / "captions-images.json").read_text())[0]["caption"]
    assert one == json.loads((run / "captions-test.json").read_text())[0]["caption"]
    assert cli.main(["train", "--model", "captioning-attention", "--data", "coco:/nowhere",
                     "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "spatial feature maps" in capsys.readouterr().err
