"""``visionblocks analyze``: per-layer shapes, params, MACs, activations, RF and memory.

Register with ``add_parser(subparsers)`` (alias ``add_analyze_parser``); it sets
``func=run_analyze``, which returns the exit status.
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
from visionblocks.errors import ConfigError

#: Top-level training-config keys that carry over to the ConvNet spec (TOML name -> spec key).
TRAIN_TO_CONVNET = {
    "hidden_dims": "hidden_dims",
    "normalization": "normalization",
    "dropout_keep": "dropout_keep_ratio",
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
        required=True,
        help=f"one of {', '.join(sorted(ARCHITECTURES))}, or convnet (needs --config)",
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


def load_convnet_config(path: str) -> dict:
    """Reads a ConvNet config from TOML or JSON.

    A file with an ``arch`` table is a training config: the ConvNet keys are its ``arch``
    table plus ``hidden_dims``, ``normalization`` and ``dropout_keep`` from the top level.
    Any other file is the ConvNet config itself.
    """
    file = Path(path)
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
    if "arch" not in data:
        return data
    config = {TRAIN_TO_CONVNET[k]: v for k, v in data.items() if k in TRAIN_TO_CONVNET}
    config.update(data["arch"])
    return config


def run_analyze(args) -> int:
    """Runs ``visionblocks analyze`` for parsed arguments; prints the report, returns 0."""
    if args.arch.lower() == "convnet":
        if not args.config:
            raise ConfigError("--arch convnet needs --config FILE with the ConvNet options")
        config = load_convnet_config(args.config)
        if args.num_classes is not None:
            config["num_classes"] = args.num_classes
        if args.input is not None:
            config["input_dim"] = args.input
        layers, shape = spec_from_convnet_config(config)
    else:
        if args.config:
            raise ConfigError("--config is only used with --arch convnet")
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
        title = f"{args.arch} on {'x'.join(map(str, shape))}"
        print(title + "\n" + "=" * len(title))
        print(format_profile(profile, args.batch_size, args.optimizer), end="")
    return 0
