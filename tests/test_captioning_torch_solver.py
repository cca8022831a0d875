"""The torch captioning solver on the training core: it lowers the loss and overfits a few
captions (a twin and a Transformer), takes the NumPy solver's steps on the same batches, resumes
exactly (dropout included), stops on divergence, and decodes Transformers greedily with the
key/value cache and by beam search as ``captioning.beam`` does."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.captioning.beam import beam_search  # noqa: E402
from visionblocks.captioning.rnn import CaptioningRNN as NumpyCaptioningRNN  # noqa: E402
from visionblocks.captioning.solver import CaptioningSolver  # noqa: E402
from visionblocks.captioning.synthetic import make_caption_dataset, to_captioning_data  # noqa: E402
from visionblocks.captioning.torch_solver import TorchCaptioner, TorchCaptioningSolver  # noqa: E402
from visionblocks.captioning.transformer import (  # noqa: E402
    CaptioningTransformer,
    GridCaptioningTransformer,
)
from visionblocks.checkpoint import load_checkpoint  # noqa: E402
from visionblocks.errors import ConfigError, TrainingDivergedError  # noqa: E402
from visionblocks.torchkit.models_captioning import CaptioningRNN  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend


@pytest.fixture(scope="module")
def data():
    ds = make_caption_dataset(seed=0, n_train=40, n_val=8, n_test=4, n_test_combo=4,
                              captions_per_image=2)  # fmt: skip
    return to_captioning_data(ds, pool=8)  # 48-d features, captions (80, 14)


def _transformer(data, seed=0, dropout=0.0, grid=False):
    torch.manual_seed(seed)
    feats = data["train_features"]
    kw = dict(num_heads=2, num_layers=1, max_length=20, dim_feedforward=64, dropout=dropout)
    if grid:
        return GridCaptioningTransformer(data["word_to_idx"], feats.shape[1], 32,
                                         grid_size=feats.shape[2:], **kw)  # fmt: skip
    return CaptioningTransformer(data["word_to_idx"], feats.shape[1], 32, **kw)


def _twin(data, cell="rnn", seed=0):
    return CaptioningRNN(data["word_to_idx"], data["train_features"].shape[1], 16, 32, cell,
                         seed=seed)  # fmt: skip


def _solver(model, data, **kw):
    opts = dict(lr=1e-2, batch_size=20, num_epochs=3, verbose=False, max_length=16,
                num_val_samples=None, device="cpu")  # fmt: skip
    return TorchCaptioningSolver(model, data, **{**opts, **kw})


def _small(data, n):
    """The first reference of n training images, as a train and a val split."""
    caps, idxs = data["train_captions"][: 2 * n : 2], data["train_image_idxs"][: 2 * n : 2]
    return {**data, "train_captions": caps, "train_image_idxs": idxs, "val_captions": caps,
            "val_image_idxs": idxs, "val_features": data["train_features"]}  # fmt: skip


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
def test_overfits_a_few_captions_and_reproduces_them_free_running(data, kind):
    small = _small(data, 8)  # 8 images, one caption each
    model = _twin(small) if kind == "rnn" else _transformer(small)
    s = _solver(model, small, batch_size=8, num_epochs=60, lr=2e-2 if kind == "rnn" else 1e-2,
                grad_clip=5.0)  # fmt: skip
    s.train()
    losses = s.loss_history
    assert len(losses) == 60  # one step per epoch
    assert losses[-1] < 0.1 * losses[0]  # teacher forcing drives the loss down ...
    assert s.history("val_bleu4")[-1] > 0.95  # ... and greedy decoding reproduces the captions
    assert s.best_score == max(s.history("val_bleu4")) and s.best_epoch >= 1
    assert all(g > 0 for g in s.history("grad_norm"))


def test_takes_the_numpy_solvers_steps_on_the_same_batches(data):
    np_model = NumpyCaptioningRNN(data["word_to_idx"], data["train_features"].shape[1], 16, 32,
                                  "lstm", seed=4)  # fmt: skip
    twin = CaptioningRNN(data["word_to_idx"], data["train_features"].shape[1], 16, 32, "lstm",
                         seed=4)  # fmt: skip
    common = dict(batch_size=20, num_epochs=2, verbose=False, max_length=16, seed=7,
                  num_val_samples=None, lr_decay=0.5)  # fmt: skip
    ref = CaptioningSolver(np_model, data, update_rule="sgd", optim_config={"learning_rate": 0.5},
                           **common).train()  # fmt: skip
    mine = TorchCaptioningSolver(twin, data, update_rule="sgd", lr=0.5, device="cpu",
                                 **common).train()  # fmt: skip
    np.testing.assert_allclose(mine.loss_history, ref.loss_history, rtol=1e-4)
    assert mine.history("lr") == [0.5, 0.25] == ref.history("lr")
    for name, w in ref.model.params.items():
        np.testing.assert_allclose(getattr(twin, name).detach().numpy(), w, atol=1e-4, err_msg=name)


class _Crash(Exception):
    pass


def test_resume_after_a_crash_equals_the_uninterrupted_run(data, tmp_path):
    opts = dict(grad_clip=1.0, lr=3e-3, lr_decay=0.9, val_decode="beam", beam_size=2)
    full = _solver(_transformer(data, dropout=0.2), data, out_dir=tmp_path / "full", **opts)
    full.train()
    run = _solver(_transformer(data, dropout=0.2), data, out_dir=tmp_path / "run", **opts)
    step = run.step

    def crash(batch, iteration):
        if iteration == 2 * 4 + 1:  # in epoch 3, after two saved epochs of 4 steps
            raise _Crash
        return step(batch, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = _solver(_transformer(data, seed=99, dropout=0.2), data,
                      out_dir=tmp_path / "run", resume=True, **opts)  # fmt: skip
    assert resumed.epoch == 2
    resumed.train()
    assert resumed.loss_history == full.loss_history
    a, _ = load_checkpoint(tmp_path / "full" / "last")
    b, _ = load_checkpoint(tmp_path / "run" / "last")
    assert set(a) == set(b) and any(k.startswith("optim/") for k in a)
    for k in a:  # the weights, Adam's moments and every generator, bit for bit
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k, v in full.model.state_dict().items():  # the kept (best) weights too
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=0, atol=0)
    logs = [MetricsLog(tmp_path / d / "metrics.jsonl").read() for d in ("full", "run")]
    assert [r["epoch"] for r in logs[1]] == [1, 2, 3]
    assert [r["val_bleu4"] for r in logs[0]] == [r["val_bleu4"] for r in logs[1]]
    assert [r["lr"] for r in logs[1]] == pytest.approx([3e-3, 2.7e-3, 2.43e-3])


def test_divergence_stops_and_restores_the_epochs_start(data):
    model = _twin(data)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    s = _solver(model, data, update_rule="sgd", lr=1e4, explode_factor=3.0)
    with pytest.raises(TrainingDivergedError, match="exploded|NaN"):
        s.train()
    for k, v in start.items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)


def test_options_are_checked(data):
    with pytest.raises(TypeError, match="unrecognised TorchCaptioningSolver arguments: colour"):
        _solver(_twin(data), data, colour=1)
    with pytest.raises(ConfigError, match="val_decode"):
        _solver(_twin(data), data, val_decode="sampling")
    with pytest.raises(ConfigError, match="grad_clip"):
        _solver(_twin(data), data, grad_clip=0)
    with pytest.raises(KeyError, match="train_features"):
        _solver(_twin(data), {k: data[k] for k in ("train_captions", "train_image_idxs")})


@pytest.mark.parametrize("grid", [False, True], ids=["one-token", "grid"])
def test_transformer_decoding_cached_greedy_and_beam_as_captioning_beam(data, grid):
    feature_data = data
    if grid:  # a (N, 3, 2, 2) map of 4 cells
        feature_data = {**data, "train_features": data["train_features"].reshape(-1, 12, 2, 2)}
    model = _transformer(feature_data, seed=3, grid=grid).eval()
    for p in model.parameters():  # away from the N(0, 0.02) start: distinct, confident words
        p.data.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    feats = feature_data["train_features"][:5]
    captioner = TorchCaptioner(model)
    greedy = captioner.sample(feats, max_length=12)  # with the key/value cache
    x = torch.as_tensor(feats)
    np.testing.assert_array_equal(greedy, model.sample(x, max_length=12, use_cache=False))
    memory = model.encode(x).detach().numpy()

    def step(words, state):  # no cache: the whole prefix again at every step
        mem, prefix = state
        prefix = np.concatenate([prefix, words[:, None]], axis=1)  # (B, t + 1)
        with torch.no_grad():
            h = model.positional_encoding(model.embedding(torch.as_tensor(prefix)))
            t = prefix.shape[1]
            out = model.transformer(h, torch.as_tensor(mem), tgt_mask=torch.tril(torch.ones(t, t)))
            scores = model.output(out)[:, -1]  # (B, V)
        return scores.double().numpy(), (mem, prefix)

    i2w = model._start, model._end, model._null
    want, _ = beam_search(step, (memory, np.zeros((len(feats), 0), np.int64)), i2w[0], i2w[1],
                          beam_size=3, max_length=12, null=i2w[2])  # fmt: skip
    np.testing.assert_array_equal(captioner.sample_beam(feats, beam_size=3, max_length=12), want)
    one = captioner.sample_beam(feats, beam_size=1, max_length=12)  # greedy up to <END>
    ends = (greedy == model._end).argmax(axis=1)
    for row, g, e in zip(one, greedy, ends):
        np.testing.assert_array_equal(row[: e + 1], g[: e + 1])
