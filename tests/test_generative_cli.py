"""`visionblocks train --model vae|ae|pixelcnn --engine torch`, `sample` and `interpolate`."""

import json

import pytest

from helpers import torch

pytestmark = pytest.mark.torch

from visionblocks import cli  # noqa: E402
from visionblocks.model_registry import MODELS  # noqa: E402
from visionblocks.training import MetricsLog  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one torch thread (two threads spin-wait on a shared, loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(out, *flags):
    return cli.main(["train", "--engine", "torch", "--data", "digits", "--num-train", "200",
                     "--num-val", "50", "--print-every", "0", "--out", str(out),
                     *flags])  # fmt: skip


def test_vae_trains_resumes_samples_and_interpolates_from_the_cli(tmp_path, capsys):
    run = tmp_path / "vae"
    flags = ["--model", "vae", "--hidden", "32", "--latent-dim", "2", "--test-iwae-k", "5",
             "--num-samples", "9"]  # fmt: skip
    assert _train(run, *flags, "--epochs", "1") == 0
    assert _train(run, *flags, "--epochs", "2", "--resume") == 0
    out = capsys.readouterr().out
    assert "resuming from epoch 1 of 2" in out and "test_neg_iwae5:" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_neg_iwae5"] <= summary["test_neg_elbo"] + 0.5
    assert summary["epochs"] == 2 and summary["model"] == "vae"
    assert [r["epoch"] for r in MetricsLog(run / "metrics.jsonl").read()] == [1, 2]
    assert (run / "samples" / "epoch_002.png").exists()
    assert cli.main(["sample", str(run), "--n", "16"]) == 0
    assert (run / "samples" / "sample_n16_seed0.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        cli.main(["sample", str(run), "--latent-map", "5", "--out", str(tmp_path / "m.png")]) == 0
    )
    assert (tmp_path / "m.png").exists()
    assert cli.main(["interpolate", str(run), "--pairs", "2", "--steps", "4"]) == 0
    assert (run / "samples" / "interpolate_2x4_seed0.png").exists()
    assert cli.main(["evaluate", str(run)]) == 2
    assert "no test accuracy" in capsys.readouterr().err
    from visionblocks.report.rundata import try_load_predictions

    assert "makes no class predictions" in try_load_predictions(run)[1]


def test_pixelcnn_and_ae_train_from_the_cli(tmp_path, capsys):
    assert _train(tmp_path / "pix", "--model", "pixelcnn", "--channels", "4", "--num-layers",
                  "1", "--epochs", "1", "--num-samples", "2") == 0  # fmt: skip
    assert "test_bits_per_dim:" in capsys.readouterr().out
    assert cli.main(["sample", str(tmp_path / "pix"), "--n", "2"]) == 0
    assert _train(tmp_path / "ae", "--model", "ae", "--arch", "conv", "--hidden", "4,8",
                  "--latent-dim", "2", "--epochs", "1") == 0  # fmt: skip
    assert "test_recon:" in capsys.readouterr().out
    assert cli.main(["sample", str(tmp_path / "ae")]) == 2
    assert "no prior" in capsys.readouterr().err
    assert cli.main(["interpolate", str(tmp_path / "ae"), "--pairs", "1"]) == 0


@pytest.mark.parametrize("flags,message", [
    (["--model", "vae", "--engine", "numpy"], "runs on the torch engine only"),
    (["--model", "vae", "--engine", "torch", "--update-rule", "sgd"], "update_rule is not used"),
    (["--model", "vae", "--engine", "torch", "--preprocess", "mean"], "preprocess is not used"),
])  # fmt: skip
def test_bad_generative_options_are_one_line_errors(tmp_path, capsys, flags, message):
    argv = ["train", "--data", "digits", "--out", str(tmp_path / "x"), *flags]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_three_models_are_registered():
    for name in ("vae", "ae", "pixelcnn"):
        spec = MODELS[name]
        assert spec.engines == ("torch",) and spec.runner.resumable
        assert "training" in spec.uses  # lr, epochs, batch_size, print_every
