"""The GAN models as ``visionblocks train`` runs: descriptions, data shapes, a digits run with a
classifier run's quality measures, resume, and refusals that leave nothing behind."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionblocks.config import config_from_dict  # noqa: E402
from visionblocks.errors import ConfigError  # noqa: E402
from visionblocks.generative import gan_runner as R  # noqa: E402
from visionblocks.runs import evaluate_run, train_run  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


def test_digits_are_framed_as_28x28_and_back():
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    big = R.to_gan_images(x)
    assert big.shape == (3, 1, 28, 28) and big[:, :, :2].max() == 0 and big[:, :, 26:].max() == 0
    np.testing.assert_allclose(R.from_gan_images(big.reshape(3, 784), (1, 8, 8)), x, atol=1e-6)
    assert R.from_gan_images(big.reshape(3, 784), (1, 28, 28)).shape == (3, 1, 28, 28)
    with pytest.raises(ConfigError, match="28x28"):
        R.to_gan_images(np.zeros((2, 3, 32, 32)))


def test_the_gan_models_are_torch_runs_with_their_networks():
    for name in R.GAN_MODELS:
        cfg = config_from_dict({"engine": "torch", "model": {"name": name}})
        assert cfg.model_options["noise_dim"] == 96
    with pytest.raises(ConfigError, match="torch engine only"):
        config_from_dict({"model": "dcgan", "engine": "numpy"})
    with pytest.raises(ConfigError, match="momentum"):
        config_from_dict({"engine": "torch", "model": "gan", "momentum": 0.9})
    d, g = R.build_networks("dcgan", 4, 8, seed=0)
    assert sum(p.numel() for p in g.parameters()) == 6_580_801
    d, g = R.build_networks("cgan", 4, 8, seed=0, num_classes=10)
    assert g(torch.zeros(2, 4), torch.tensor([1, 2])).shape == (2, 784)


def _cfg(tmp_path, name="gan", **kw):
    values = {"engine": "torch", "data": "digits", "num_train": 128, "num_val": 100,
              "epochs": 1, "batch_size": 32, "print_every": 0, "device": "cpu",
              "out": str(tmp_path / name), "model": {"name": name, "noise_dim": 8,
                                                     "sample_every": 2, **kw}}  # fmt: skip
    return config_from_dict(values)


@pytest.mark.slow
def test_a_digits_gan_run_with_a_classifier_and_resume(tmp_path):
    clf = config_from_dict({"engine": "torch", "data": "digits", "num_train": 300, "epochs": 2,
                            "print_every": 0, "device": "cpu", "out": str(tmp_path / "clf"),
                            "model": {"name": "fc", "hidden_dims": [32]}})  # fmt: skip
    train_run(clf)
    cfg = _cfg(tmp_path, classifier=str(tmp_path / "clf"), quality_samples=50)
    summary = train_run(cfg)
    assert summary["num_params_D"] == 267_009 and summary["classifier"] == str(tmp_path / "clf")
    assert summary["real_vs_real"]["fd"] < summary["final"]["fd"]
    assert any(line.startswith("sample quality (") and "FD" in line
               for line in summary["report_lines"])  # fmt: skip
    run = tmp_path / "gan"
    assert {p.name for p in (run / "plots").iterdir()} == {"gan_losses.png", "gan_quality.png"}
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert names == ["epoch_001.png", "iter_0000000.png", "iter_0000002.png"]
    record = json.loads((run / "metrics.jsonl").read_text())
    assert {"d_loss", "g_loss", "fd", "precision", "recall", "density", "coverage",
            "inception_score"} <= set(record)  # fmt: skip
    cfg.epochs = 2
    summary = train_run(cfg, resume=True)
    assert summary["epochs"] == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    fds = [json.loads(line)["fd"] for line in lines]  # the kept epoch: lowest validation FD
    assert summary["kept_epoch"] == 1 + int(np.argmin(fds))
    assert summary["test"]["fd"] > summary["test_real_vs_real"]["fd"] >= 0  # scored on test
    assert summary["test"]["fd"] != pytest.approx(min(fds))  # other images, other samples
    with pytest.raises(ConfigError, match="no test accuracy"):
        evaluate_run(run)
    from matplotlib.image import imread

    grid = imread(R.sample_gan_run(run, n=10, ncols=5))
    assert grid.shape[:2] == (2 * 29 - 1, 5 * 29 - 1)
    with pytest.raises(ConfigError, match="not a GAN run"):
        R.sample_gan_run(tmp_path / "clf")
    from visionblocks.cli import main

    assert main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert imread(tmp_path / "s.png").shape[:2] == (2 * 29 - 1, 8 * 29 - 1)


def test_options_that_do_not_apply_leave_nothing_behind(tmp_path):
    cfg = _cfg(tmp_path, lambda_gp=3.0)
    with pytest.raises(ConfigError, match="lambda_gp"):
        train_run(cfg)
    cfg = _cfg(tmp_path)
    cfg.label_smoothing = 0.1
    with pytest.raises(ConfigError, match="label_smoothing"):
        train_run(cfg)
    cfg = _cfg(tmp_path, classifier=str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="not a run directory"):
        train_run(cfg)
    assert not (tmp_path / "gan").exists()


def test_gan_report_lines_say_what_the_run_measured():
    summary = {"loss": "wgan-gp", "n_critic": 5, "epochs": 3, "classifier": "runs/clf",
               "samples": "runs/gan/samples", "real_vs_real": {"fd": 0.5},
               "final": {"d_loss": -1.25, "g_loss": 2.0, "wasserstein": 1.5, "fd": 4.25,
                         "precision": 0.75, "recall": 0.5}}  # fmt: skip
    lines = R.gan_report_lines(summary)
    assert lines[0] == "GAN (wgan-gp loss, n_critic 5), 3 epochs"
    assert lines[1] == "last epoch: d_loss -1.2500, g_loss 2.0000, wasserstein 1.5000"
    assert lines[2] == ("sample quality (runs/clf): FD 4.250 (real vs real 0.500), "
                        "precision 0.750, recall 0.500")  # fmt: skip
    summary["final"] = {"d_loss": 0.5, "g_loss": None}
    lines = R.gan_report_lines(summary)
    assert "last epoch: d_loss 0.5000" in lines
    assert "sample quality: not measured (no --classifier run)" in lines
    assert not any("accuracy" in line for line in lines)
