"""``visionblocks analyze``: per-layer shapes, params, MACs, activations, RF and memory.

``--arch`` names a classic architecture (vgg16, resnet18, ...); ``--config`` a training config,
whose model is profiled from its description (``visionblocks.model_registry``: the same typed
options that build the NumPy model and its torch twin), or a plain ConvNet-family dict (see
``spec_from_convnet_config``). Register with ``add_parser(subparsers)`` (alias
``add_analyze_parser``); it sets ``func=run_analyze``, which returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visionblocks.analysis.convnet import spec_from_convnet_config
from visionblocks.analysis.memory import OPTIMIZER_SLOTS, estimate_memory
from visionblocks.analysis.profile import analyze
from visionblocks.analysis.profile_table import format_profile
from visionblocks.analysis.zoo import ARCHITECTURES, get_architecture
from visionblocks.config import config_from_dict, flatten
from visionblocks.errors import ConfigError

#: (C, H, W) and number of classes of the data sets a training config may name.
DATA_SHAPES = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}


def parse_shape(text: str) -> tuple[int, int, int]:
    """Parses "C,H,W" (or "CxHxW") into three positive ints."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"--input must be C,H,W positive integers, got {text!r}")
    return shape


def add_analyze_parser(subparsers):
    """Adds the ``analyze`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "analyze",
        help="per-layer shapes, parameters, MACs, activations, receptive field and memory",
        description="Analyse a built-in architecture or a ConvNet config without running it.",
    )
    p.add_argument(
        "--arch",
        help=f"one of {', '.join(sorted(ARCHITECTURES))}, or a model of `visionblocks models` "
        "(needs --config, a training config; --config alone profiles the config's model)",
    )
    p.add_argument("--input", type=parse_shape, help="C,H,W of one example (default per arch)")
    p.add_argument("--config", help="convnet: TOML/JSON file (a training config or arch dict)")
    p.add_argument("--num-classes", type=int, help="size of the last layer")
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the memory estimate")
    p.add_argument(
        "--optimizer", default="adam", choices=sorted(OPTIMIZER_SLOTS), help="optimizer state"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=run_analyze)
    return p


add_parser = add_analyze_parser


def read_config_file(path: str) -> dict:
    """The mapping in a TOML or JSON file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = file.read_text()
    if file.suffix == ".json":
        data = json.loads(text)
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        data = tomllib.loads(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    return data


def is_training_config(data: dict) -> bool:
    """A training config names its model (``model = "..."`` or a ``[model]`` table)."""
    return "model" in data or "arch" in data


def load_convnet_config(path: str) -> dict:
    """Reads a plain ConvNet-family dict (``spec_from_convnet_config``) from TOML or JSON."""
    data = read_config_file(path)
    if is_training_config(data):
        raise ConfigError(f"{path} is a training config; analyze it with --config alone")
    return data


def profile_training_config(data: dict, input_shape=None, num_classes=None, arch=None):
    """(layers, input_shape, model name) of a training config's model, from its description.

    The input shape and class count default to the config's data set's (3x32x32 and 10 when
    it names none). Returns layers None
    for a model that is not a network (kNN).
    """
    cfg = config_from_dict(data)
    if arch is not None and arch != cfg.model:
        raise ConfigError(f"--arch {arch} but the config trains model {cfg.model!r}")
    known = DATA_SHAPES.get(cfg.data) if "data" in cfg.given else None
    shape, classes = known or ((3, 32, 32), 10)  # analyze's default input without a data set
    shape = tuple(input_shape or shape)
    if cfg.features and input_shape is None:
        raise ConfigError(f"model {cfg.model!r} reads hand-made features ({', '.join(cfg.features)}"
                          "), not pixels: give their size with --input 1,1,F")  # fmt: skip
    if cfg.spec.profile is None:
        return None, shape, cfg.model
    layers = cfg.spec.profile(cfg.model_options, shape, num_classes or classes)
    return layers, shape, cfg.model


def run_analyze(args) -> int:
    """Runs ``visionblocks analyze`` for parsed arguments; prints the report, returns 0."""
    name = args.arch
    if args.config:
        data = read_config_file(args.config)
        if is_training_config(data):
            layers, shape, name = profile_training_config(
                flatten(data, where=args.config), args.input, args.num_classes, args.arch
            )
            if layers is None:
                print(f"{name}: not a network (no layers to profile); nothing to analyze")
                return 0
        elif (args.arch or "").lower() == "convnet":
            config = dict(data)
            if args.num_classes is not None:
                config["num_classes"] = args.num_classes
            if args.input is not None:
                config["input_dim"] = args.input
            layers, shape = spec_from_convnet_config(config)
        else:
            raise ConfigError(
                f'{args.config} names no model: a training config has model = "..." (or a '
                "[model] table); a ConvNet dict needs --arch convnet"
            )
    elif args.arch is None:
        raise ConfigError("analyze needs --arch NAME or --config FILE")
    elif args.arch.lower() == "convnet":
        raise ConfigError("--arch convnet needs --config FILE with the ConvNet options")
    else:
        layers, shape = get_architecture(args.arch, args.num_classes)
    shape = args.input or shape
    profile = analyze(layers, shape)
    if args.json:
        out = profile.to_dict()
        out["memory"] = {
            d: estimate_memory(profile, args.batch_size, d, args.optimizer).to_dict()
            for d in ("float32", "float16")
        }
        print(json.dumps(out, indent=1))
    else:
        title = f"{name} on {'x'.join(map(str, shape))}"
        print(title + "\n" + "=" * len(title))
        print(format_profile(profile, args.batch_size, args.optimizer), end="")
    return 0
