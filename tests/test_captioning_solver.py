"""The captioning solver on the training core, with the rnn branch's CaptioningRNN: it overfits
a small set (teacher forcing) until greedy captions reproduce it, measures validation BLEU
free-running, resumes after a crash exactly as an uninterrupted run, clips gradients and stops
on divergence."""

from __future__ import annotations

import numpy as np
import pytest

from visionblocks.captioning.bleu import corpus_bleu_scores
from visionblocks.captioning.rnn import CaptioningRNN
from visionblocks.captioning.solver import CaptioningSolver, clip_grad_norm, references_by_image
from visionblocks.captioning.synthetic import make_caption_dataset, to_captioning_data
from visionblocks.captioning.vocab import caption_words
from visionblocks.checkpoint import load_checkpoint
from visionblocks.errors import TrainingDivergedError
from visionblocks.training import MetricsLog


@pytest.fixture(scope="module")
def data():
    ds = make_caption_dataset(seed=0, n_train=40, n_val=8, n_test=4, n_test_combo=4,
                              captions_per_image=2)  # fmt: skip
    return to_captioning_data(ds, pool=8)  # 48-d features


def _model(data, cell="lstm", seed=0):
    return CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                         wordvec_dim=16, hidden_dim=32, cell_type=cell, seed=seed)  # fmt: skip


def _solver(model, data, **kw):
    opts = dict(update_rule="adam", optim_config={"learning_rate": 1e-2}, batch_size=20,
                num_epochs=3, verbose=False, max_length=16, num_val_samples=None)  # fmt: skip
    return CaptioningSolver(model, data, **{**opts, **kw})


def _small(data, n):
    """The first reference of n training images, as a train and a val split."""
    caps, idxs = data["train_captions"][: 2 * n : 2], data["train_image_idxs"][: 2 * n : 2]
    return {**data, "train_captions": caps, "train_image_idxs": idxs, "val_captions": caps,
            "val_image_idxs": idxs, "val_features": data["train_features"]}  # fmt: skip


@pytest.mark.parametrize("cell", ["rnn", pytest.param("lstm", marks=pytest.mark.slow)])
def test_overfits_a_small_set_and_reproduces_it_free_running(data, cell):
    small = _small(data, 10)  # 10 images, one caption each
    s = _solver(_model(small, cell), small, batch_size=10, num_epochs=80,
                optim_config={"learning_rate": 2e-2})  # fmt: skip
    s.train()
    assert len(s.loss_history) == 80  # one step per epoch: 10 captions // 10
    assert s.loss_history[-1] < 0.5  # from about 27 (13 words, 36 in the vocabulary)
    assert s.history("val_bleu4")[-1] > 0.95  # greedy captions reproduce the references
    assert s.best_score == max(s.history("val_bleu4"))


def test_validation_bleu_is_corpus_bleu_of_greedy_captions(data):
    s = _solver(_model(data), data, num_epochs=1)
    s.train()
    refs = references_by_image(data["val_captions"], data["val_image_idxs"], data["idx_to_word"])
    images = sorted(refs)
    sampled = s.model.sample(data["val_features"][images], max_length=16)
    hyps = [caption_words(c, data["idx_to_word"]) for c in sampled]
    want = corpus_bleu_scores([refs[i] for i in images], hyps)
    want["exact"] = np.mean([h in refs[i] for h, i in zip(hyps, images)])
    assert s.check_bleu("val") == want
    assert s.history("val_bleu1") == [want["bleu1"]]  # the kept (only) epoch's parameters
    assert 0 < want["bleu1"] <= 1
    subset = s.check_bleu("test_combo", num_samples=2)
    assert set(subset) == {"bleu1", "bleu2", "bleu3", "bleu4", "exact"}


class _Crash(Exception):
    pass


def test_resume_after_a_crash_equals_the_uninterrupted_run(data, tmp_path):
    full = _solver(_model(data), data, out_dir=tmp_path / "full", grad_clip=1.0).train()
    run = _solver(_model(data), data, out_dir=tmp_path / "run", grad_clip=1.0)
    step = run.step

    def crash(batch, iteration):
        if iteration == 2 * 4 + 1:  # in epoch 3, after two saved epochs of 4 steps
            raise _Crash
        return step(batch, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = _solver(_model(data, seed=99), data, out_dir=tmp_path / "run", grad_clip=1.0,
                      resume=True)  # fmt: skip
    assert resumed.epoch == 2
    resumed.train()
    assert resumed.loss_history == full.loss_history
    for k, v in full.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[k], v, err_msg=k)
    a, _ = load_checkpoint(tmp_path / "full" / "last")
    b, _ = load_checkpoint(tmp_path / "run" / "last")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    logs = [MetricsLog(tmp_path / d / "metrics.jsonl").read() for d in ("full", "run")]
    assert [r["epoch"] for r in logs[1]] == [1, 2, 3]
    assert [r["val_bleu4"] for r in logs[0]] == [r["val_bleu4"] for r in logs[1]]
    assert all(r["grad_norm"] > 0 for r in logs[0])


def test_divergence_stops_and_restores_the_epochs_start(data):
    model = _model(data)
    start = {k: v.copy() for k, v in model.params.items()}
    s = _solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e4},
                explode_factor=3.0)  # fmt: skip
    with pytest.raises(TrainingDivergedError, match="exploded|NaN"):
        s.train()
    for k, v in start.items():
        np.testing.assert_array_equal(model.params[k], v)


def test_gradient_norm_clipping():
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    before = {k: v.copy() for k, v in grads.items()}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(norm)
    after = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    assert after == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"] * norm, before["a"], rtol=1e-9)  # same direction
    assert clip_grad_norm(grads, 10.0) == pytest.approx(1.0)  # under the limit: untouched
    np.testing.assert_allclose(np.sqrt(sum(np.sum(g**2) for g in grads.values())), 1.0)


def test_no_validation_keeps_the_last_epoch_and_options_are_checked(data):
    train_only = {k: v for k, v in data.items() if not k.startswith("val_")}
    s = _solver(_model(data), train_only, num_epochs=2)
    s.train()
    assert "val_bleu4" not in s.epoch_history and s.best_epoch == 2
    with pytest.raises(TypeError, match="unrecognised CaptioningSolver arguments: colour"):
        _solver(_model(data), data, colour=1)
    with pytest.raises(KeyError, match="train_features"):
        CaptioningSolver(_model(data), {"train_captions": data["train_captions"],
                                        "train_image_idxs": data["train_image_idxs"]})  # fmt: skip
    with pytest.raises(ValueError, match="val_decode"):
        _solver(_model(data), data, val_decode="sampling")
    with pytest.raises(ValueError, match="grad_clip"):
        _solver(_model(data), data, grad_clip=0)
