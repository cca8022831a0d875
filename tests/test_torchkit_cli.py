"""``visionblocks train --engine torch``: the run directory, evaluate, and one-line errors."""

import json

import pytest

torch = pytest.importorskip("torch")

from visionblocks.cli import main  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend


def _train(tmp_path, *extra, name="run"):
    out = tmp_path / name
    model = [] if "--model" in extra else ["--model", "fc", "--hidden-dims", "32"]
    args = ["train", "--engine", "torch", "--data", "digits", "--num-train", "300", *model,
            "--epochs", "2", "--batch-size", "50", "--out", str(out), *extra]  # fmt: skip
    return main(args), out


def test_torch_engine_writes_the_run_directory_and_evaluate_agrees(tmp_path, capsys):
    code, out = _train(tmp_path, "--update-rule", "adamw", "--weight-decay", "0.01",
                       "--schedule", "onecycle", "--label-smoothing", "0.1", "--grad-clip", "2",
                       "--normalization", "batchnorm", "--augment", "flip,erase")  # fmt: skip
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and printed[0].startswith("device: cpu")
    assert printed[-1].startswith("test accuracy: 0.")
    summary = json.loads((out / "summary.json").read_text())
    assert printed[-1] == f"test accuracy: {summary['test_accuracy']:.4f}"
    assert summary["engine"] == "torch" and summary["epochs"] == 2
    config = json.loads((out / "config.json").read_text())
    assert config["engine"] == "torch" and config["update_rule"] == "adamw"
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").open()] == [1, 2]
    assert main(["evaluate", str(out)]) == 0
    assert capsys.readouterr().out.strip() == printed[-1]
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").open()] == [1, 2, 3]


def test_resnet_from_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('engine = "torch"\ndata = "digits"\nnum_train = 100\nmodel = "resnet"\n'
                   'epochs = 1\nbatch_size = 50\nupdate_rule = "sgd_momentum"\nlr = 0.05\n'
                   f'out = "{tmp_path / "r"}"\n'
                   "[arch]\nwidths = [8, 16]\nblocks = [1, 1]\n")  # fmt: skip
    assert main(["train", "--config", str(cfg), "--channels-last", "true"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test accuracy: ")


def test_fit_on_train_val_refits_on_every_labelled_image(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[arch]\nfit_on = "train+val"\n')
    code, out = _train(tmp_path, "--config", str(cfg), "--num-val", "60")
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and printed[-1].startswith("test accuracy: 0.")
    assert not any(line.startswith("best validation accuracy") for line in printed)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fit_on"] == "train+val" and summary["best_val_accuracy"] is None
    assert summary["num_train"] == 300 + 60 and summary["num_val"] == 60
    assert main(["evaluate", str(out)]) == 0  # the kept (last) weights reload
    assert capsys.readouterr().out.strip() == printed[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--update-rule", "adamax"],
            "option update_rule: expected one of 'sgd', "
            "'sgd_momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw', got 'adamax'",
        ),
        (["--lr", "-1"], "option lr: expected a number > 0, got '-1'"),
        (["--batch-size", "5000"], "batch_size 5000 is larger than the 300 training examples"),
        (["--model", "resnet1000"], "unknown model 'resnet1000' for the torch engine"),
        (
            ["--schedule", "linear"],
            "option schedule: expected one of 'constant', 'step', "
            "'exponential', 'cosine', 'onecycle' or none, got 'linear'",
        ),
        (["--engine", "jax"], "option engine: expected one of 'numpy', 'torch', got 'jax'"),
        (
            ["--engine", "numpy", "--weight-decay", "0.1"],
            "option 'weight_decay' is not an "
            "option of model 'fc' on the NumPy engine; it is taken by: --engine torch",
        ),
        (
            ["--engine", "numpy", "--schedule", "onecycle"],
            "option schedule: 'onecycle' needs --engine torch",
        ),
        (
            ["--label-smoothing", "1.5"],
            "option label_smoothing: expected a number in [0, 1), got '1.5'",
        ),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (
            ["--config", "FIT_ON"],
            "option fit_on: expected one of 'train', 'train+val' or none, got 'all' (a string)",
        ),
        (
            ["--model", "resnet", "--hidden-dims", "8"],
            "option 'hidden_dims' is not an option "
            "of model 'resnet'; it is taken by: twolayer, fc, convnet",
        ),
        (["--model", "resnet"], None),
    ],
)
def test_bad_config_ends_with_one_line_error(tmp_path, capsys, args, message):
    if "FIT_ON" in args:
        (tmp_path / "f.toml").write_text('[arch]\nfit_on = "all"\n')
        args = ["--config", str(tmp_path / "f.toml")]
    if message is None:  # resnet with an [arch] typo
        (tmp_path / "c.toml").write_text("[arch]\nwidth = [8]\n")
        args, message = [*args, "--config", str(tmp_path / "c.toml")], "unknown option(s) width"
    code, out = _train(tmp_path, *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # every option is checked before the run directory is made


def _numpy_model_names():
    from visionblocks.model_registry import MODELS

    return sorted(n for n, s in MODELS.items() if s.numpy_class and "torch" in s.engines)


@pytest.mark.parametrize("model", _numpy_model_names())
def test_every_numpy_model_trains_on_the_torch_engine(tmp_path, capsys, model):
    extra = ["--hidden-dims", "16"] if model in ("fc", "twolayer") else []
    code, out = _train(tmp_path, "--model", model, "--epochs", "1", "--update-rule", "sgd",
                       "--lr", "0.01", *extra)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["engine"] == "torch"
