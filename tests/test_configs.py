"""Every shipped config file parses, validates and names a model its engine can build."""

from pathlib import Path

import pytest

from visionblocks.config import config_from_dict, load_toml
from visionblocks.runs import MODEL_BUILDERS, RUNNERS, _register_plugins

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.toml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_file_is_valid(path):
    cfg = config_from_dict(load_toml(path)).validate()
    _register_plugins()
    if cfg.engine == "torch":
        pytest.importorskip("torch")
        from visionblocks.torchkit.runner import check_config

        check_config(cfg)
    else:
        assert cfg.model in MODEL_BUILDERS or cfg.model in RUNNERS
    assert cfg.out and cfg.out.startswith("runs/")
    assert f"--config configs/{path.name}" in path.read_text()  # says how to reproduce it
