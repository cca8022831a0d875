"""The ``visionblocks`` command line: train, evaluate, gradcheck and the analysis tools."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from visionblocks.errors import VisionBlocksError

#: Titles of the shared option groups in ``train --help``.
GROUP_TITLES = {
    "run": "run and data options (every model)",
    "training": "training-loop options",
    "linear": "linear-classifier search options (svm, softmax)",
    "refit": "refit option",
    "torch": "torch engine options (--engine torch)",
}


def _argv_value(argv, flag):
    """The value of ``--flag X`` or ``--flag=X`` in argv, or None."""
    for k, token in enumerate(argv):
        if token == flag and k + 1 < len(argv):
            return argv[k + 1]
        if token.startswith(flag + "="):
            return token[len(flag) + 1 :]
    return None


def peek_model(argv) -> str:
    """The model a ``train`` command line names: ``--model``, else its ``--config`` file's, else
    the resumed run's, else the default. Unreadable files are left for the real parse."""
    from visionblocks.config import SHARED, load_toml, saved_options

    argv = list(argv or [])
    model = _argv_value(argv, "--model")
    if model is None and _argv_value(argv, "--config"):
        try:
            model = load_toml(_argv_value(argv, "--config")).get("model")
        except (VisionBlocksError, OSError):
            model = None
    if model is None and "--resume" in argv and _argv_value(argv, "--out"):
        try:
            saved = Path(_argv_value(argv, "--out")) / "config.json"
            model = saved_options(json.loads(saved.read_text())).get("model")
        except (VisionBlocksError, OSError, ValueError):
            model = None
    return str(model) if model is not None else SHARED["model"].default


#: Extra subcommands: module exposing ``add_parser(subparsers)``; each sets ``func``.
PLUGINS = [
    "visionblocks.analysis.cli",
    "visionblocks.analysis.embed_cli",
    "visionblocks.report.cli",
    "visionblocks.data.cli",
    "visionblocks.autograd.cli",
    "visionblocks.captioning.cli",
    "visionblocks.generative.cli",
    "visionblocks.ssl.cli",
]


def _add_train(sub, argv=None):
    """``train``: the shared options, plus the options of the model the command line names
    (two-phase: ``--model`` or the ``--config`` file's model is found first)."""
    from visionblocks.config import GROUPS, SHARED
    from visionblocks.model_registry import MODELS

    model = peek_model(argv)
    p = sub.add_parser(
        "train", help="train a model and write a run directory", allow_abbrev=False,
        description="Train a model. `visionblocks models NAME` lists a model's options; "
        "`visionblocks train --model NAME --help` shows them here.",
    )  # fmt: skip
    p.add_argument("--config", help="TOML file with the same options as the flags")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--no-test",
        dest="test",
        action="store_false",
        default=argparse.SUPPRESS,
        help="do not touch the test split (for tuning on the validation split)",
    )
    p.add_argument("--report", action="store_true", help="write RUN/report.html and plots")
    p.add_argument("--tensorboard", action="store_true", help="write RUN/tensorboard scalars")
    names = ["test"]
    for group, title in GROUP_TITLES.items():
        g = p.add_argument_group(title)
        for name in GROUPS.get(group, ()) if group != "refit" else ("fit_on",):
            if name in names:
                continue
            opt = SHARED[name]
            names.append(name)
            if name != "test":
                g.add_argument(opt.flag, dest=name, default=argparse.SUPPRESS, help=opt.help,
                               metavar=opt.type.upper())  # fmt: skip
    spec = MODELS.get(model)
    if spec is not None:
        g = p.add_argument_group(f"options of model {model!r}")
        for opt in spec.options:
            names.append(opt.name)
            g.add_argument(opt.flag, dest=opt.name, default=argparse.SUPPRESS,
                           help=f"{opt.help} (default {opt.format(opt.default)})",
                           metavar=opt.type.upper())  # fmt: skip
    for other in MODELS.values():  # other models' options parse, then get a one-line error
        for opt in other.options:
            if opt.name not in names:
                names.append(opt.name)
                p.add_argument(opt.flag, dest=opt.name, default=argparse.SUPPRESS,
                               help=argparse.SUPPRESS)  # fmt: skip
    p.set_defaults(func=_cmd_train, option_names=names)


def _cmd_train(args) -> int:
    from visionblocks.config import config_from_dict, load_toml, saved_options
    from visionblocks.runs import train_run
    from visionblocks.training import saved_config

    flags = {k: getattr(args, k) for k in args.option_names if hasattr(args, k)}  # given only
    values = {}
    if args.resume:
        out = flags.get("out") or (load_toml(args.config).get("out") if args.config else None)
        if not out:
            raise SystemExit("error: --resume needs --out RUN_DIR (or out in --config)")
        values.update(saved_options(saved_config(out)))  # a directory holding no run is an error
    if args.config:
        values.update(load_toml(args.config))
    cfg = config_from_dict(values, cli=flags)
    summary = train_run(cfg, resume=args.resume)
    if args.report or args.tensorboard:
        from visionblocks.report.cli import after_training

        after_training(cfg.out, report=args.report, tensorboard=args.tensorboard)
    print(f"run directory: {cfg.out}")
    if summary.get("best_val_accuracy") is not None:
        print(f"best validation accuracy: {summary['best_val_accuracy']:.4f}")
    if summary.get("report_lines"):  # models measured otherwise (generative: nats, bits/dim)
        print("\n".join(summary["report_lines"]))
    elif summary["test_accuracy"] is None and "bleu" in summary:
        pass  # a captioner: its runner printed BLEU on the test splits
    elif summary["test_accuracy"] is None:
        print("test accuracy: not evaluated (--no-test)")
    else:
        print(f"test accuracy: {summary['test_accuracy']:.4f}")
    return 0


def _add_models(sub):
    p = sub.add_parser("models", help="list the models, or one model's options")
    p.add_argument("name", nargs="?", help="a model name: list its options")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args) -> int:
    from visionblocks.config import GROUPS
    from visionblocks.model_registry import MODELS

    if args.name is None:
        print(f"{'model':<12} {'engines':<14} description")
        for name, spec in MODELS.items():
            print(f"{name:<12} {','.join(spec.engines):<14} {spec.summary}")
        print("visionblocks models NAME lists a model's options")
        return 0
    spec = MODELS[args.name]
    print(f"{spec.name}: {spec.summary}")
    print(f"engines: {', '.join(spec.engines)}")
    print(f"options of {spec.name} (--flag or [model] in TOML):")
    print(f"  {'name':<18} {'type':<10} {'default':<16} help")
    for opt in spec.options:
        print(f"  {opt.describe()}")
    for group in ("run", *spec.uses):
        print(f"{GROUP_TITLES.get(group, group)}: {', '.join(GROUPS[group])}")
    if "torch" in spec.engines:
        print(f"{GROUP_TITLES['torch']}: {', '.join(GROUPS['torch'])}")
    return 0


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="reload a run's best checkpoint and test it")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from visionblocks.runs import evaluate_run

    print(f"test accuracy: {evaluate_run(args.run_dir):.4f}")
    return 0


def _add_gradcheck(sub):
    p = sub.add_parser(
        "gradcheck",
        help="check every registered layer: backward vs central differences (float64), and "
        "forward/backward vs its torch twin and an independent torch reference",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-torch", dest="torch", action="store_false", help="skip the torch table")
    p.set_defaults(func=_cmd_gradcheck)


def _cmd_gradcheck(args) -> int:
    from visionblocks.gradcheck import all_layers, format_table, run_table

    rows = run_table(all_layers(), seed=args.seed)
    print(format_table(rows))
    failed = [r for r in rows if not r[4]]
    checks = len(rows)
    if args.torch:
        try:
            from visionblocks.torchkit.parity import format_parity_table, parity_table
        except ImportError:
            print("\ntorch is not installed: the torch table is skipped (pip install torch)")
        else:
            torch_rows = parity_table(all_layers(), seed=args.seed)
            print("\n" + format_parity_table(torch_rows))
            failed += [r for r in torch_rows if not r[3]]
            checks += len(torch_rows)
    print(f"{checks - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser; ``argv`` (the command line) picks the model whose options ``train`` adds."""
    parser = argparse.ArgumentParser(
        prog="visionblocks",
        description="Deep learning for computer vision from its blocks (NumPy and PyTorch).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub, argv)
    _add_models(sub)
    _add_evaluate(sub)
    _add_gradcheck(sub)
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name or name.startswith(f"{e.name}."):
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit status. Expected errors print one line, not a traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "train":  # one line, like every other bad option
        flags = [a for a in extra if a.startswith("-")] or extra
        print(f"error: unknown option(s) {' '.join(flags)}; visionblocks train --model "
              "NAME --help lists the options", file=sys.stderr)  # fmt: skip
        return 2
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except (VisionBlocksError, OSError, ValueError, KeyError, TypeError) as e:
        if os.environ.get("VISIONBLOCKS_DEBUG"):
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
