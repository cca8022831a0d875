"""The ``visionblocks`` command line: train, evaluate, gradcheck and the analysis tools."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from visionblocks.errors import VisionBlocksError


def _int_list(text):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _str_list(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def _bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _none_or(kind):
    def parse(text):
        return None if text.lower() in ("none", "") else kind(text)

    parse.__name__ = kind.__name__
    return parse


# (flag, type, help) for each TrainConfig field that has a flag; arch only comes from --config.
TRAIN_FLAGS = [
    ("data", str, "data set: digits, fashion-mnist, mnist, cifar10"),
    ("data-dir", str, "folder holding the data set files"),
    ("num-val", int, "validation examples drawn from the training set"),
    ("num-train", int, "train on a seeded subsample of this many examples"),
    ("preprocess", _none_or(str), "none, mean (subtract the mean image) or standardize"),
    ("model", str, "model name (fc, twolayer, ...)"),
    ("hidden-dims", _int_list, "hidden layer sizes, e.g. 512,256"),
    ("normalization", _none_or(str), "none, batchnorm or layernorm"),
    ("dropout-keep", float, "dropout keep probability (1 = no dropout)"),
    ("weight-scale", float, "std of the Gaussian init when --init is none"),
    ("init", _none_or(str), "he, xavier or none (Gaussian with --weight-scale)"),
    ("reg", float, "L2 regularisation strength"),
    ("update-rule", str, "sgd, sgd_momentum, nesterov, adagrad, rmsprop, adam (torch: adamw)"),
    ("lr", float, "learning rate"),
    ("momentum", float, "momentum of sgd_momentum / nesterov"),
    ("lr-decay", float, "multiply the learning rate by this each epoch"),
    ("schedule", _none_or(str), "constant, step, exponential, cosine (torch: onecycle)"),
    ("warmup-epochs", float, "linear learning-rate warm-up, in epochs"),
    ("epochs", int, "training epochs"),
    ("batch-size", int, "minibatch size"),
    ("augment", _str_list, "minibatch augmentation, e.g. crop,flip"),
    ("features", _str_list, "hand-made features for classic models, e.g. hog,color"),
    ("search", _none_or(str), "hyperparameter search: grid or random"),
    ("trials", int, "number of search trials"),
    ("seed", int, "random seed"),
    ("out", str, "run directory (default runs/DATA-MODEL-TIME)"),
    ("print-every", int, "print the loss every N iterations"),
    ("engine", str, "numpy (default) or torch (the PyTorch engine; also under torchrun)"),
    ("weight-decay", float, "torch engine: weight decay (decoupled for adamw)"),
    ("label-smoothing", float, "torch engine: label smoothing of the cross-entropy"),
    ("grad-clip", _none_or(float), "torch engine: clip the gradient norm to this"),
    ("bf16", _bool, "torch engine: bfloat16 autocast (true/false)"),
    ("channels-last", _bool, "torch engine: channels-last memory format (true/false)"),
    ("tta-flip", _bool, "torch engine: evaluate on each image and its mirror (true/false)"),
    ("device", _none_or(str), "torch engine: cuda, mps or cpu (default: the best available)"),
]

#: Extra subcommands: module exposing ``add_parser(subparsers)``; each sets ``func``.
PLUGINS = [
    "visionblocks.analysis.cli",
    "visionblocks.analysis.embed_cli",
    "visionblocks.report.cli",
    "visionblocks.data.cli",
]


def _add_train(sub):
    p = sub.add_parser("train", help="train a model and write a run directory")
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
    for flag, kind, text in TRAIN_FLAGS:
        p.add_argument(f"--{flag}", type=kind, default=argparse.SUPPRESS, help=text)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from visionblocks.config import config_from_dict, load_toml
    from visionblocks.runs import train_run
    from visionblocks.training import saved_config

    names = [flag.replace("-", "_") for flag, _, _ in TRAIN_FLAGS] + ["test"]
    flags = {k: getattr(args, k) for k in names if hasattr(args, k)}  # only flags given
    values = {}
    if args.resume:
        out = flags.get("out") or (load_toml(args.config).get("out") if args.config else None)
        if not out:
            raise SystemExit("error: --resume needs --out RUN_DIR (or out in --config)")
        values.update(saved_config(out))  # a directory holding no run is an error
    if args.config:
        values.update(load_toml(args.config))
    values.update(flags)
    cfg = config_from_dict(values)
    summary = train_run(cfg, resume=args.resume)
    if args.report or args.tensorboard:
        from visionblocks.report.cli import after_training

        after_training(cfg.out, report=args.report, tensorboard=args.tensorboard)
    print(f"run directory: {cfg.out}")
    if summary.get("best_val_accuracy") is not None:
        print(f"best validation accuracy: {summary['best_val_accuracy']:.4f}")
    if summary["test_accuracy"] is None:
        print("test accuracy: not evaluated (--no-test)")
    else:
        print(f"test accuracy: {summary['test_accuracy']:.4f}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionblocks",
        description="Deep learning for computer vision from its blocks (NumPy and PyTorch).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
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
    parser = build_parser()
    args = parser.parse_args(argv)
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
