"""The command line: train, evaluate, resume, gradcheck, and one-line errors for bad input."""

import json

import pytest

from visionblocks.cli import main


def _train(tmp_path, *extra, name="run"):
    out = tmp_path / name
    args = ["train", "--data", "digits", "--model", "fc", "--hidden-dims", "32",
            "--epochs", "2", "--batch-size", "50", "--out", str(out), *extra]  # fmt: skip
    return main(args), out


def test_train_writes_the_run_directory_and_evaluate_agrees(tmp_path, capsys):
    code, out = _train(tmp_path, "--normalization", "batchnorm", "--dropout-keep", "0.9")
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and printed[-1].startswith("test accuracy: 0.")
    summary = json.loads((out / "summary.json").read_text())
    assert printed[-1] == f"test accuracy: {summary['test_accuracy']:.4f}"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert {"loss", "train_acc", "val_acc", "lr", "seconds"} <= set(lines[0])
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == {"name": "fc", "hidden_dims": [32], "normalization": "batchnorm",
                               "dropout_keep": 0.9, "init": "he", "weight_scale": 0.01,
                               "reg": 0.0, "activation": "relu"}  # fmt: skip
    assert (out / "best.npz").exists() and (out / "last.json").exists()
    assert main(["evaluate", str(out)]) == 0
    assert capsys.readouterr().out.strip() == printed[-1]


def test_config_file_and_flag_override(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('data = "digits"\nmodel = "twolayer"\nhidden_dims = [16]\nepochs = 1\n'
                   f'lr = 1e-3\nout = "{tmp_path / "r"}"\n')  # fmt: skip
    assert main(["train", "--config", str(cfg), "--epochs", "2"]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["epochs"] == 2
    assert "test accuracy" in capsys.readouterr().out


def test_resume_continues_a_run(tmp_path, capsys):
    code, out = _train(tmp_path)
    assert code == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3"]) == 0
    epochs = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    assert _train(tmp_path)[0] == 2  # the same --out without --resume is refused
    assert "already holds a run" in capsys.readouterr().err


def test_no_test_leaves_the_test_split_alone(tmp_path, capsys):
    code, out = _train(tmp_path, "--no-test")
    assert code == 0 and json.loads((out / "summary.json").read_text())["test_accuracy"] is None
    assert capsys.readouterr().out.strip().endswith("not evaluated (--no-test)")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "option lr: expected a number > 0, got '-1'"),
        (["--model", "resnet1000"], "unknown model 'resnet1000'"),
        (
            ["--update-rule", "adamax"],
            "option update_rule: expected one of 'sgd', "
            "'sgd_momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw', got 'adamax'",
        ),
        (["--batch-size", "5000"], "larger than the"),
        (["--data", "cifar-100"], "unknown data set"),
        (
            ["--normalization", "groupnorm"],
            "option normalization: expected one of 'batchnorm', "
            "'layernorm' or none, got 'groupnorm'",
        ),
        (["--data", "mnist", "--data-dir", "/nonexistent"], "not found: looked for"),
        (["--config", "/nonexistent.toml"], "config file /nonexistent.toml does not exist"),
    ],
)
def test_bad_options_end_with_one_line_error(tmp_path, capsys, args, message):
    code, out = _train(tmp_path, *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # checked before the run directory is made


def test_bad_config_file_contents(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = \n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    bad.write_text("learning_rate = 0.1\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown option(s) learning_rate" in capsys.readouterr().err


def test_evaluate_of_a_non_run_directory(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_gradcheck_command_prints_the_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "batchnorm" in out and "softmax_loss" in out and " 0 failed" in out


def test_help_everywhere(capsys):
    for argv in (["--help"], ["train", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--hidden-dims" in capsys.readouterr().out
