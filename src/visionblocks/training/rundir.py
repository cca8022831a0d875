"""The run directory: created once, refused when it already holds a run, reopened to resume.

A run directory holds ``config.json`` (the options used), ``metrics.jsonl`` (one strict-JSON
line per epoch, see ``MetricsLog``), the ``last``/``best`` checkpoints and ``summary.json``.
Every file is written atomically with the umask's permissions (``visionblocks.checkpoint``).
"""

from __future__ import annotations

import json
from pathlib import Path

from visionblocks.checkpoint import atomic_write_bytes, atomic_write_json, strict_json
from visionblocks.errors import ConfigError

#: Options that may change when a run is resumed, and why they cannot change its numbers.
RESUMABLE_OPTIONS = {
    "epochs": "extends (or ends) the run; the epochs already trained stay as they were",
    "print_every": "only how often the loss is printed",
    "test": "only whether the test split is scored after training",
    "data_dir": "only where the data set files are read from (the loader checks them)",
    "out": "the run directory itself",
}


def saved_config(run_dir) -> dict:
    """The options ``run_dir/config.json`` records; a ConfigError when it holds no run.

    Args:
        run_dir: the directory given to ``--resume`` (``--out``).
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(
            f"--resume: {run_dir} holds no run ({path} does not exist); check --out, or drop "
            "--resume to start a new run"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"--resume: {path} is not valid JSON: {e}") from None


def check_resume_options(saved: dict, requested: dict) -> None:
    """Refuses a resume whose options differ from the run's, except ``RESUMABLE_OPTIONS``.

    Changing the learning rate, the model or the data under a checkpoint would either be
    ignored (a state restored over it) or give a run that no single configuration describes,
    so both engines refuse it and ``config.json`` keeps recording what was used.

    Args:
        saved: the run's ``config.json``.
        requested: the options of the resume (saved ones overlaid with the flags given).

    Raises:
        ConfigError: naming every changed option with its saved and requested value.
    """
    requested = json.loads(strict_json(requested, "the requested options"))
    changed = [
        f"{k} ({saved.get(k)!r} -> {requested.get(k)!r})"
        for k in sorted(set(saved) | set(requested))
        if k not in RESUMABLE_OPTIONS and saved.get(k) != requested.get(k)
    ]
    if changed:
        raise ConfigError(
            f"--resume cannot change {', '.join(changed)}; a resumed run may change only "
            f"{', '.join(sorted(RESUMABLE_OPTIONS))} (start a new --out to train otherwise)"
        )


def check_run_dir(run_dir, resume: bool) -> Path:
    """Refuses a new run over an existing one, and a resume of a directory holding no run.

    Args:
        run_dir: the run directory.
        resume: whether the run continues the one in ``run_dir``.

    Returns:
        the run directory as a Path.
    """
    run_dir = Path(run_dir)
    holds_run = (run_dir / "config.json").exists()
    if not resume and holds_run:
        raise ConfigError(
            f"run directory {run_dir} already holds a run; pass --resume to continue it "
            "or choose another --out"
        )
    if resume and not holds_run:
        saved_config(run_dir)  # raises the "holds no run" error
    return run_dir


def open_run_dir(run_dir, config: dict, resume: bool, is_main: bool = True) -> Path:
    """Creates (or, resuming, reopens) ``run_dir`` and writes ``config.json``.

    Args:
        run_dir: the run directory.
        config: JSON-serialisable options of the run (strict JSON: no NaN).
        resume: continue the run there; without it a directory holding a run is refused.
        is_main: whether this process writes files (rank 0 under torchrun). Under torchrun,
            call ``check_run_dir`` on every rank, wait for all, then this on rank 0 only:
            a rank checking after rank 0 wrote would find its config.json.

    Returns:
        the run directory as a Path.
    """
    run_dir = check_run_dir(run_dir, resume)
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", config)
    return run_dir


def write_summary(run_dir, summary: dict) -> None:
    """Writes ``run_dir/summary.json`` (strict JSON, atomically)."""
    atomic_write_json(Path(run_dir) / "summary.json", summary)


class MetricsLog:
    """``metrics.jsonl``: one strict-JSON line per epoch, appended after the epoch ends.

    The line is written before the epoch's checkpoint, so a crash between the two leaves a
    line the checkpoint does not cover; ``trim`` (called on resume, and on a fresh start with
    ``epoch=0``) drops it and the epoch is trained and logged again.
    """

    def __init__(self, path):
        """Args:
        path: the ``metrics.jsonl`` file.
        """
        self.path = Path(path)

    def append(self, record: dict) -> None:
        """Appends one epoch's record (a dict with ``epoch``)."""
        line = strict_json(record, self.path) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(line)

    def trim(self, epoch: int) -> None:
        """Keeps only the lines of epochs <= ``epoch`` (all lines go when ``epoch`` is 0)."""
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines()
        kept = [x for x in lines if x.strip() and json.loads(x)["epoch"] <= epoch]
        if len(kept) != len(lines):
            atomic_write_bytes(self.path, "".join(x + "\n" for x in kept).encode())

    def write_all(self, records: list[dict]) -> None:
        """Replaces the log with ``records`` (for loops that log after the fact)."""
        text = "".join(strict_json(r, self.path) + "\n" for r in records)
        atomic_write_bytes(self.path, text.encode())

    def read(self) -> list[dict]:
        """Every record, in order."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
