"""``visionblocks report RUN_DIR`` and ``visionblocks compare RUN_DIR...``."""

from __future__ import annotations


def add_parser(sub) -> None:
    """Adds the ``report`` and ``compare`` commands."""
    p = sub.add_parser("report", help="plots and a self-contained report.html for a run")
    p.add_argument("run_dir")
    p.add_argument(
        "--no-eval",
        dest="evaluate",
        action="store_false",
        help="skip the plots that need the data set and the best checkpoint",
    )
    p.add_argument("--smooth", type=float, default=None, help="loss smoothing weight in [0, 1)")
    p.add_argument("--tensorboard", action="store_true", help="also write RUN/tensorboard")
    p.set_defaults(func=_cmd_report)

    c = sub.add_parser("compare", help="table of several runs and their overlaid curves")
    c.add_argument("run_dirs", nargs="+")
    c.add_argument("--out", default="compare.png", help="PNG of the curves (compare.png)")
    c.set_defaults(func=_cmd_compare)


def _require_matplotlib() -> None:
    import importlib.util

    from visionblocks.errors import ConfigError

    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("reports need matplotlib: pip install 'visionblocks[plots]'")


def report_run(run_dir, evaluate=True, smooth=None) -> None:
    """Writes a run's report and prints what was written or skipped."""
    _require_matplotlib()
    from visionblocks.report.build import make_report

    report = make_report(run_dir, evaluate=evaluate, weight=smooth)
    for key, reason in report.skipped.items():
        print(f"skipped {key}: {reason}")
    print(f"plots: {len(report.plots)} PNGs in {report.html_path.parent / 'plots'}")
    print(f"report: {report.html_path}")


def tensorboard_run(run_dir) -> None:
    """Writes a run's scalars for TensorBoard and prints where."""
    from visionblocks.report.tensorboard import export_tensorboard

    log_dir = export_tensorboard(run_dir)
    print(f"tensorboard: {log_dir} (view with: tensorboard --logdir {log_dir})")


def after_training(run_dir, report=False, tensorboard=False) -> None:
    """What ``train --report`` / ``--tensorboard`` do once the run directory is complete."""
    if report:
        report_run(run_dir)
    if tensorboard:
        tensorboard_run(run_dir)


def _cmd_report(args) -> int:
    report_run(args.run_dir, args.evaluate, args.smooth)
    if args.tensorboard:
        tensorboard_run(args.run_dir)
    return 0


def _cmd_compare(args) -> int:
    _require_matplotlib()
    from visionblocks.report.compare import compare_runs

    table, path = compare_runs(args.run_dirs, args.out)
    print(table)
    print(f"curves: {path}")
    return 0
