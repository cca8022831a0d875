"""GANLoop on the training core: exact crash-and-resume, the divergence stop, D and G logged
apart, sample grids in the run directory, the quality hook, WGAN-GP and conditional runs."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from visionblocks.errors import ConfigError, ShapeError, TrainingDivergedError  # noqa: E402
from visionblocks.generative import cgan  # noqa: E402
from visionblocks.generative.gan_loop import GANLoop, grid_image  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


def _images(n=64, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28))


def _nets(seed=0):
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.LeakyReLU(0.01), nn.Linear(16, 1))
    G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 784),
                      nn.Tanh())  # fmt: skip
    return D, G


def _loop(out_dir=None, X=None, **kw):
    D, G = _nets()
    kw = {"noise_dim": 4, "batch_size": 16, "epochs": 3, "seed": 0, "verbose": False,
          "sample_every": 4, "num_samples": 8, **kw}  # fmt: skip
    return GANLoop(D, G, _images() if X is None else X, out_dir=out_dir, **kw)


def _records(path):
    lines = (path / "metrics.jsonl").read_text().splitlines()
    drop = ("seconds", "images_per_sec")
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]


class _Crash(Exception):
    pass


@pytest.mark.slow
def test_crashed_mid_epoch_and_resumed_equals_the_uninterrupted_run(tmp_path):
    full = _loop(tmp_path / "full").train()
    assert full.epoch == 3 and len(full.loss_history) == 3 * 4
    assert len(full.d_history) == len(full.g_history) == 12

    run = _loop(tmp_path / "run")
    step = run.step

    def crash(idx, iteration):
        if iteration == 4 + 2:  # in epoch 2, after one saved epoch
            raise _Crash
        return step(idx, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = _loop(tmp_path / "run", resume=True)
    assert resumed.epoch == 1
    resumed.train()
    a, b = full.model_state(), resumed.model_state()
    assert sorted(a) == sorted(b) and any(k.endswith("running_mean") for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert resumed.d_history == full.d_history and resumed.g_history == full.g_history
    assert _records(tmp_path / "run") == _records(tmp_path / "full")


def test_d_and_g_losses_are_logged_apart_and_grids_are_written(tmp_path):
    loop = _loop(tmp_path, epochs=2, quality=lambda s: {"mean_pixel": s.mean()},
                 quality_samples=10)  # fmt: skip
    loop.train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r, epoch in zip(records, (0, 1), strict=True):
        d = loop.d_history[4 * epoch : 4 * epoch + 4]
        g = loop.g_history[4 * epoch : 4 * epoch + 4]
        assert r["d_loss"] == pytest.approx(np.mean(d)) and r["g_loss"] == pytest.approx(np.mean(g))
        assert r["loss"] == pytest.approx(np.mean(np.abs(d) + np.abs(g)))
        assert 0 <= r["mean_pixel"] <= 1
    # the GAN losses at the start: D about 2 log 2, G about log 2
    assert abs(loop.d_history[0] - 2 * np.log(2)) < 0.3
    names = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert names == ["epoch_001.png", "epoch_002.png", "iter_0000000.png", "iter_0000004.png"]
    from matplotlib.image import imread

    grid = imread(tmp_path / "samples" / "epoch_002.png")
    assert grid.shape[:2] == (28, 8 * 29 - 1)
    samples = loop.sample(5, seed=3)
    assert samples.shape == (5, 784) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, loop.sample(5, seed=3))


def test_divergence_stops_and_restores_the_epoch_start(tmp_path):
    loop = _loop(tmp_path, epochs=3)
    step = loop.step

    def poisoned(idx, iteration):
        if iteration == 4 + 1:
            with torch.no_grad():
                loop.D[1].weight.fill_(float("nan"))
        return step(idx, iteration)

    loop.step = poisoned
    with pytest.raises(TrainingDivergedError, match="NaN"):
        loop.train()
    saved = _loop(tmp_path / "other", epochs=1).train().model_state()  # the first epoch alone
    for key, value in loop.model_state().items():
        np.testing.assert_array_equal(value, saved[key], err_msg=key)


def test_wgan_gp_with_critic_steps_and_lsgan(tmp_path):
    loop = _loop(tmp_path / "w", loss="wgan-gp", n_critic=2, epochs=1).train()
    assert len(loop.d_history) == 4 and len(loop.g_history) == 2
    record = json.loads((tmp_path / "w" / "metrics.jsonl").read_text())
    assert record["gradient_penalty"] > 0 and "wasserstein" in record
    ls = _loop(None, loss="lsgan", epochs=1).train()
    assert len(ls.g_history) == 4 and np.isfinite(ls.d_history).all()


def test_conditional_gan_trains_with_labels():
    D = cgan.ConditionalDiscriminator(num_classes=3, seed=0)
    G = cgan.ConditionalGenerator(noise_dim=4, num_classes=3, seed=0)
    y = np.arange(32) % 3
    loop = GANLoop(D, G, _images(32), y, noise_dim=4, batch_size=16, epochs=1, verbose=False,
                   num_samples=6)  # fmt: skip
    loop.train()
    assert len(loop.d_history) == 2
    assert loop.fixed_labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="loss"):
        _loop(loss="hinge")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        _loop(X=_images() * 2 - 1)
    with pytest.raises(ShapeError):
        _loop(X=np.zeros((64, 100)))
    with pytest.raises(ConfigError, match="batch_size"):
        _loop(batch_size=100)


def test_grid_image_maps_minus_one_one_to_black_white():
    grid = grid_image(np.stack([-np.ones(784), np.ones(784)]), ncols=2)
    assert grid.shape == (28, 57)
    assert grid[0, 0] == 0 and grid[0, 56] == 1 and grid[0, 28] == 1  # the pad is white


def test_smoothing_of_the_loss_plots():
    from visionblocks.generative.gan_plots import plot_gan_losses, smooth

    np.testing.assert_allclose(smooth(np.full(50, 2.0)), 2.0)  # debiased: no ramp from 0
    assert smooth([1.0, 3.0], weight=0.0).tolist() == [1.0, 3.0]
    fig = plot_gan_losses([1.0, 0.9, 0.8, 0.7], [0.5, 0.6], n_critic=2)
    assert [line.get_label() for line in fig.axes[0].get_lines()][1::2] == ["D loss", "G loss"]
