"""Every shipped config file parses, validates, names a model its engine can build, reads the
same in today's ``[arch]`` layout, and can be profiled by ``visionblocks analyze --config``."""

import argparse
import json
from pathlib import Path

import pytest

from visionblocks.analysis.cli import add_parser
from visionblocks.config import config_from_dict, load_toml, read_toml
from visionblocks.model_registry import MODELS

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.toml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_file_is_valid(path):
    cfg = config_from_dict(load_toml(path)).validate()
    assert cfg.model in MODELS and cfg.engine in MODELS[cfg.model].engines
    if cfg.engine == "torch":
        pytest.importorskip("torch")
        from visionblocks.torchkit.runner import check_config

        check_config(cfg)
    assert cfg.out and cfg.out.startswith("runs/")
    assert f"--config configs/{path.name}" in path.read_text()  # says how to reproduce it


def _legacy_layout(raw: dict) -> dict:
    """The same config in the layout before ``[model]``: ``model = NAME`` plus ``[arch]``."""
    table = dict(raw["model"])
    return {**{k: v for k, v in raw.items() if k != "model"}, "model": table.pop("name"),
            "arch": table}  # fmt: skip


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_use_the_model_table_and_read_the_same_in_the_old_layout(path):
    raw = read_toml(path)
    assert isinstance(raw["model"], dict) and "arch" not in raw
    new = config_from_dict(load_toml(path)).to_dict()
    assert config_from_dict(_legacy_layout(raw)).to_dict() == new
    assert config_from_dict(json.loads(json.dumps(new))).to_dict() == new  # config.json reads back


def _analyze(argv, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_analyze_profiles_every_shipped_config(path, capsys):
    cfg = config_from_dict(load_toml(path))
    out = _analyze(["analyze", "--config", str(path), "--json"], capsys)
    if cfg.model == "knn":  # memorises the training set: no layers
        assert out.strip() == "knn: not a network (no layers to profile); nothing to analyze"
        return
    profile = json.loads(out)
    assert profile["params"] > 0 and profile["layers"][-1]["output_shape"] == [10]
    assert profile["input_shape"] == [1, 28, 28] if "fashion" in path.name else [1, 8, 8]
