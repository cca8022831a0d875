"""Options of ``visionblocks train``: typed, ranged, owned by a model or an engine, checked
before the run directory exists; both TOML layouts; ``visionblocks models``."""

import json

import numpy as np
import pytest

from visionblocks.cli import main, peek_model
from visionblocks.config import config_from_dict, saved_options, takers

# Issue 13's "Config values": each a one-line error naming the option and what it accepts.
BAD_VALUES = [
    ("lr", '"0.1"', None, "option lr: expected a number > 0, got '0.1'"),
    ("epochs", '"three"', "three", "option epochs: expected an integer >= 1, got 'three'"),
    ("lr", "true", None, "option lr: expected a number > 0, got true (a boolean)"),
    ("epochs", "1.5", "1.5", "option epochs: expected an integer >= 1, got"),
    ("lr", "0", "0", "option lr: expected a number > 0, got"),
    ("momentum", "2", "2", "option momentum: expected a number in [0, 1) or none, got"),
    ("lr_decay", "0", "0", "option lr_decay: expected a number in (0, 1], got"),
    ("hidden_dims", "[]", ",", "option hidden_dims: expected a non-empty list of integers >= 1"),
    ("epochs", "0", "0", "option epochs: expected an integer >= 1, got"),
]


def _fails_cleanly(argv, tmp_path, capsys, message):
    out = tmp_path / "run"
    code = main(["train", "--data", "digits", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing was written
    return err


@pytest.mark.parametrize("key, toml, flag, message", BAD_VALUES)
def test_bad_values_in_toml_are_one_line_errors_before_any_file(
    tmp_path, capsys, key, toml, flag, message
):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"{key} = {toml}\n")
    _fails_cleanly(["--config", str(cfg)], tmp_path, capsys, message)


@pytest.mark.parametrize("key, toml, flag, message", [b for b in BAD_VALUES if b[2]])
def test_bad_values_as_flags_are_one_line_errors_before_any_file(
    tmp_path, capsys, key, toml, flag, message
):
    _fails_cleanly([f"--{key.replace('_', '-')}", flag], tmp_path, capsys, message)


def test_unknown_arch_option_is_an_error_in_both_layouts(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "convnet"\n[arch]\nbogus = 3\n')
    _fails_cleanly(["--config", str(cfg)], tmp_path, capsys, "unknown option(s) bogus")
    cfg.write_text('[model]\nname = "convnet"\nbogus = 3\n')
    _fails_cleanly(["--config", str(cfg)], tmp_path, capsys, "unknown option(s) bogus")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "convnet", "--normalization", "foo"], "option normalization: expected one "
         "of 'batchnorm', 'groupnorm' or none, got 'foo'"),
        (["--model", "fc", "--augment", "rotate"], "option augment: unknown augmentation "
         "'rotate'"),
        (["--model", "convnet", "--filter-size", "4"], "option filter_size: must be odd"),
        (["--model", "convnet", "--num-filters", "8", "--normalization", "groupnorm",
          "--groups", "3"], "option groups: 3 must divide every num_filters [8]"),
        (["--model", "convnet", "--num-filters", "4,4,4,4"], "ConvNet: input 8x8 does not "
         "halve evenly through 4 2x2 max pools"),
        (["--model", "convnet", "--k", "3"], "option 'k' is not an option of model 'convnet'; "
         "it is taken by: knn"),
        (["--model", "knn", "--num-filters", "8"], "option 'num_filters' is not an option of "
         "model 'knn'; it is taken by: threelayer, convnet"),
        (["--model", "threelayer", "--hidden-dims", "8"], "option 'hidden_dims' is not an "
         "option of model 'threelayer'; it is taken by: twolayer, fc, convnet"),
        (["--tta-flip", "true"], "option 'tta_flip' is not an option of model 'fc' on the "
         "NumPy engine; it is taken by: --engine torch"),
        (["--fit-on", "train+val"], "option 'fit_on' is not an option of model 'fc' on the "
         "NumPy engine; it is taken by: --engine torch, knn, svm, softmax"),
        (["--update-rule", "adamw"], "option update_rule: 'adamw' needs --engine torch"),
        (["--model", "resnet", "--engine", "numpy"], "model 'resnet' runs on the torch engine "
         "only, not on --engine numpy"),
        (["--model", "knn", "--engine", "torch"], "model 'knn' runs on the numpy engine only"),
        (["--learning-rate", "0.1"], "unknown option(s) --learning-rate"),
        (["--model", "knn", "--activation", "elu"], "option 'activation' is not an option of "
         "model 'knn'; it is taken by: fc, convnet"),
        (["--model", "twolayer", "--activation", "elu"], "option 'activation' is not an option "
         "of model 'twolayer'; it is taken by: fc, convnet"),
        (["--activation", "swish"], "option activation: expected one of 'relu', "),
        (["--model", "convnet", "--residual", "true", "--activation", "elu"], "option "
         "activation: residual stages use relu, got 'elu'"),
    ],
)  # fmt: skip
def test_options_a_model_or_engine_does_not_take_are_errors(tmp_path, capsys, argv, message):
    _fails_cleanly(argv, tmp_path, capsys, message)


def test_the_numpy_engine_refuses_erase_no_more_and_a_bad_model_option_leaves_no_directory(
    tmp_path, capsys
):
    # The retry after a bad option is not refused with "already holds a run".
    _fails_cleanly(["--normalization", "foo"], tmp_path, capsys, "option normalization")
    argv = ["train", "--data", "digits", "--num-train", "100", "--hidden-dims", "8",
            "--epochs", "1", "--batch-size", "50", "--augment", "crop:2,flip:0.3,erase",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["augment"] == [
        "crop:2",
        "flip:0.3",
        "erase",
    ]


def test_activation_reaches_the_model_from_flags_and_toml():
    from visionblocks.runs import build_model

    data = {"X_train": np.zeros((2, 1, 8, 8), np.float32), "class_names": list("abcdefghij")}
    cfg = config_from_dict({}, cli={"model": "convnet", "num_filters": "4", "activation": "elu"})
    assert build_model(cfg, data).activation == "elu"
    cfg = config_from_dict({"model": {"name": "fc", "activation": "prelu"}})
    assert "alpha1" in build_model(cfg, data).params
    assert build_model(config_from_dict({}), data).activation == "relu"  # the default


def test_config_json_records_the_validated_typed_options(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'data = "digits"\nnum_train = 100\nepochs = 1\nbatch_size = 50\nlr_decay = 1\n'
        f'out = "{tmp_path / "run"}"\n[model]\nname = "fc"\nhidden_dims = [8]\n'
        'normalization = "none"\n'
    )
    assert main(["train", "--config", str(cfg), "--reg", "0"]) == 0
    capsys.readouterr()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["lr_decay"] == 1.0 and isinstance(saved["lr_decay"], float)  # an int is a number
    assert saved["model"] == {"name": "fc", "hidden_dims": [8], "normalization": None,
                              "dropout_keep": 1.0, "weight_scale": 0.01, "init": "he",
                              "activation": "relu", "reg": 0.0}  # fmt: skip
    assert "label_smoothing" not in saved and "k" not in saved  # only what this run takes
    assert config_from_dict(saved).to_dict() == saved  # and it reads back unchanged


def test_the_two_layouts_and_flags_give_one_config():
    legacy = {"model": "convnet", "dropout_keep": 0.5, "arch": {"num_filters": [8]}}
    table = {"model": {"name": "convnet", "dropout_keep": 0.5, "num_filters": [8]}}
    flags = {"model": "convnet", "dropout_keep": "0.5", "num_filters": "8"}
    a = config_from_dict(legacy).to_dict()
    assert a == config_from_dict(table).to_dict() == config_from_dict({}, cli=flags).to_dict()
    assert a["model"]["num_filters"] == [8] and a["model"]["normalization"] == "batchnorm"
    with pytest.raises(Exception, match="option dropout_keep is given twice"):
        config_from_dict({"dropout_keep": 0.5, "model": {"name": "fc", "dropout_keep": 0.5}})
    with pytest.raises(Exception, match="the \\[model\\] table needs name"):
        config_from_dict({"model": {"hidden_dims": [8]}})
    # a flag overrides the file
    assert config_from_dict(table, cli={"num_filters": "4,8"}).model_options["num_filters"] == [
        4,
        8,
    ]


def test_an_old_config_json_drops_the_options_its_model_did_not_take():
    old = {"model": "knn", "engine": "numpy", "hidden_dims": [100], "label_smoothing": 0.0,
           "lr": 1e-3, "arch": {"k": 3}, "data": "digits"}  # fmt: skip
    cfg = config_from_dict(saved_options(old))
    assert cfg.model_options["k"] == 3 and "hidden_dims" not in cfg.to_dict()
    old_convnet = {"model": "convnet", "normalization": None, "arch": {"num_filters": [4]}}
    assert config_from_dict(saved_options(old_convnet)).model_options["normalization"] == (
        "batchnorm"  # the [arch] default the old convnet used
    )


def test_two_phase_parse_finds_the_model_and_adds_its_flags(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "convnet"\n')
    assert peek_model(["train", "--config", str(cfg)]) == "convnet"
    assert peek_model(["train", "--model=knn"]) == "knn" and peek_model(["train"]) == "fc"
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(cfg), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "options of model 'convnet'" in out and "--num-filters" in out
    assert "--k " not in out  # another model's options are not listed
    with pytest.raises(SystemExit):
        main(["train", "--model", "knn", "--help"])
    out = capsys.readouterr().out
    assert "options of model 'knn'" in out and "--k-choices" in out and "--num-filters" not in out


def test_models_command_lists_models_and_their_options(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("twolayer", "fc", "threelayer", "convnet", "resnet", "knn", "svm", "softmax"):
        assert f"\n{name} " in out
    assert "numpy,torch" in out
    assert main(["models", "convnet"]) == 0
    out = capsys.readouterr().out
    assert "num_filters        int_list   32,64" in out and "training-loop options" in out
    assert main(["models", "convnets"]) == 2
    assert "unknown model 'convnets'; known: twolayer" in capsys.readouterr().err


def test_takers_name_models_and_the_torch_engine():
    assert takers("widths") == ["resnet"]
    assert takers("grad_clip") == ["--engine torch"]
    assert takers("nothing") == []


def test_resume_names_a_changed_model_option(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--data", "digits", "--num-train", "100", "--epochs", "1", "--batch-size",
            "50", "--out", str(out)]  # fmt: skip
    assert main([*base, "--hidden-dims", "8"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--hidden-dims", "16"]) == 2
    err = capsys.readouterr().err
    assert "--resume cannot change hidden_dims ([8] -> [16])" in err  # the option, not the table
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 0


@pytest.mark.parametrize("model, engine", [("resnet", "torch"), ("vae", "torch"), ("vit", "torch"),
                                           ("knn", "numpy"), ("convnet", "numpy")])  # fmt: skip
def test_a_model_of_one_engine_takes_it_without_engine_and_records_it(model, engine):
    cfg = config_from_dict({"model": model})
    assert cfg.engine == engine
    assert cfg.to_dict()["engine"] == engine  # the saved run config names its engine
    assert config_from_dict(cfg.to_dict()).engine == engine
    assert ("engine" in cfg.given) == (model != "convnet")  # one engine: as if given
