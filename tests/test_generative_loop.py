"""The generative training loop on the core: VAE/AE/PixelCNN train and log their measures,
crash-and-resume equals the uninterrupted run, the divergence stop, sample grids."""

import functools
import json
import zlib

import numpy as np
import pytest

from helpers import torch

pytestmark = pytest.mark.torch

from visionblocks.checkpoint import load_checkpoint  # noqa: E402
from visionblocks.errors import ConfigError, ShapeError, TrainingDivergedError  # noqa: E402
from visionblocks.generative.autoencoder import Autoencoder  # noqa: E402
from visionblocks.generative.grid import grid_image, png_bytes  # noqa: E402
from visionblocks.generative.pixelcnn import PixelCNN  # noqa: E402
from visionblocks.generative.vae import VAE  # noqa: E402
from visionblocks.generative.vae_loop import LikelihoodTrainer  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one torch thread (two threads spin-wait on a shared, loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def _digits():
    from sklearn.datasets import load_digits

    return (load_digits().images / 16.0).astype(np.float32)[:, None]


def _data(n_train=120, n_val=40):
    x = _digits()[: n_train + n_val]
    return {"X_train": x[:n_train], "X_val": x[n_train:]}


def _vae_trainer(out_dir=None, **kw):
    torch.manual_seed(0)
    model = VAE((1, 8, 8), hidden=(32,), latent_dim=2)
    opts = dict(lr=3e-3, epochs=4, batch_size=20, seed=0, verbose=False, num_samples=16)
    return LikelihoodTrainer(model, _data(), out_dir=out_dir, **{**opts, **kw})


class _Crash(Exception):
    pass


def test_vae_crashed_mid_epoch_and_resumed_equals_the_uninterrupted_run(tmp_path):
    full = _vae_trainer(tmp_path / "full").train()
    neg_elbo = full.history("val_neg_elbo")
    assert len(neg_elbo) == 4 and neg_elbo[-1] < neg_elbo[0]
    run = _vae_trainer(tmp_path / "run")
    step = run.step

    def crash(idx, iteration):
        if iteration == 2 * 6 + 3:  # in epoch 3, after two saved epochs
            raise _Crash
        return step(idx, iteration)

    run.step = crash
    with pytest.raises(_Crash):
        run.train()
    resumed = _vae_trainer(tmp_path / "run", resume=True)
    assert resumed.epoch == 2
    resumed.train()
    assert resumed.loss_history == full.loss_history
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    a, _ = load_checkpoint(tmp_path / "full" / "last")
    b, _ = load_checkpoint(tmp_path / "run" / "last")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    logs = [MetricsLog(tmp_path / d / "metrics.jsonl").read() for d in ("full", "run")]
    assert [r["epoch"] for r in logs[1]] == [1, 2, 3, 4]
    assert [r["val_neg_elbo"] for r in logs[0]] == [r["val_neg_elbo"] for r in logs[1]]
    grids = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert grids == [f"epoch_{e:03d}.png" for e in (1, 2, 3, 4)]
    assert (tmp_path / "run" / "samples" / "epoch_004.png").read_bytes() == (
        tmp_path / "full" / "samples" / "epoch_004.png"
    ).read_bytes()


def test_vae_logs_iwae_and_bits_per_dim_and_keeps_the_best_epoch(tmp_path):
    t = _vae_trainer(tmp_path, epochs=2, iwae_k=8).train()
    rec = MetricsLog(tmp_path / "metrics.jsonl").read()[-1]
    assert rec["val_neg_iwae8"] <= rec["val_neg_elbo"] + 0.5
    assert rec["val_bits_per_dim"] == pytest.approx(rec["val_neg_elbo"] / (64 * np.log(2)))
    assert t.best_score == min(t.history("val_loss"))
    assert set(torch.unique(t.X_val).tolist()) <= {0.0, 1.0}  # the fixed binarisation


def test_pixelcnn_and_autoencoder_train_and_log_their_measures(tmp_path):
    torch.manual_seed(0)
    pix = PixelCNN((1, 8, 8), channels=8, num_layers=1)
    t = LikelihoodTrainer(pix, _data(60, 20), lr=1e-2, epochs=2, batch_size=30, verbose=False,
                          num_samples=4, out_dir=tmp_path / "pix").train()  # fmt: skip
    bpd = t.history("val_bits_per_dim")
    assert bpd[-1] < 8.0 and bpd[-1] < bpd[0]
    assert (tmp_path / "pix" / "samples" / "epoch_002.png").exists()
    ae = Autoencoder((1, 8, 8), hidden=(16,), latent_dim=4)
    t = LikelihoodTrainer(ae, _data(), lr=1e-2, epochs=2, batch_size=20, verbose=False).train()
    assert t.history("val_recon")[-1] < t.history("val_recon")[0]
    assert t.generate(3).shape == (3, 1, 8, 8)


def test_a_diverging_run_stops_and_restores_the_epochs_start(tmp_path):
    torch.manual_seed(0)
    pix = PixelCNN((1, 8, 8), channels=8, num_layers=1)
    start = {k: v.clone() for k, v in pix.state_dict().items()}
    t = LikelihoodTrainer(pix, _data(60, 20), lr=50.0, epochs=2, batch_size=10, verbose=False,
                          out_dir=tmp_path)  # fmt: skip
    with pytest.raises(TrainingDivergedError, match="No checkpoint was written"):
        t.train()
    for k, v in pix.state_dict().items():
        assert torch.equal(v, start[k]), k


def test_bad_data_and_options_are_named():
    vae = VAE((1, 8, 8), hidden=(8,), latent_dim=2)
    with pytest.raises(ConfigError, match=r"intensities in \[0, 1\]"):
        LikelihoodTrainer(
            vae, {"X_train": np.full((4, 1, 8, 8), 2.0), "X_val": np.zeros((2, 1, 8, 8))}
        )
    with pytest.raises(ShapeError, match="X_train must be"):
        LikelihoodTrainer(vae, {"X_train": np.zeros((4, 64)), "X_val": np.zeros((2, 1, 8, 8))})
    with pytest.raises(TypeError, match="unrecognised"):
        LikelihoodTrainer(vae, _data(), momentum=0.9)
    with pytest.raises(TypeError, match="VAE, an Autoencoder or a PixelCNN"):
        LikelihoodTrainer(torch.nn.Linear(2, 2), _data())


def test_grid_png_is_a_valid_png_of_the_tiled_images():
    imgs = np.zeros((5, 1, 2, 3))
    imgs[1] = 1.0
    grid = grid_image(imgs, ncols=3, pad=1)
    assert grid.shape == (2 * 3 - 1, 3 * 4 - 1, 1)
    assert grid[0, 4:7, 0].tolist() == [1.0, 1.0, 1.0] and grid[0, 0, 0] == 0.0
    data = png_bytes(grid)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    raw = zlib.decompress(data[idat + 4 : idat + 4 + length])
    assert len(raw) == 5 * (1 + 11)  # one filter byte per row
    assert json.dumps(list(raw[1:12])) == json.dumps([round(v * 255) for v in grid[0, :, 0]])
