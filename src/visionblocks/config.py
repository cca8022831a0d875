"""Training configuration: one dataclass, filled from defaults, a TOML file, then CLI flags."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from visionblocks.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class TrainConfig:
    """Every option of ``visionblocks train``; TOML keys and ``--flags`` use the same names.

    Model-specific architecture options (conv stages, k of kNN, ...) live in the ``arch`` table.
    """

    data: str = "digits"
    data_dir: str | None = None
    num_val: int | None = None
    num_train: int | None = None
    preprocess: str | None = None
    model: str = "fc"
    hidden_dims: list[int] = field(default_factory=lambda: [100])
    normalization: str | None = None
    dropout_keep: float = 1.0
    weight_scale: float = 1e-2
    init: str | None = "he"
    reg: float = 0.0
    update_rule: str = "adam"
    lr: float = 1e-3
    momentum: float | None = None
    lr_decay: float = 1.0
    schedule: str | None = None
    warmup_epochs: float = 0.0
    epochs: int = 10
    batch_size: int = 100
    augment: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    search: str | None = None
    trials: int = 10
    seed: int = 0
    out: str | None = None
    print_every: int = 100
    test: bool = True
    arch: dict = field(default_factory=dict)
    # The PyTorch engine (visionblocks.torchkit) and the options only it has.
    engine: str = "numpy"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    bf16: bool = False
    channels_last: bool = False
    tta_flip: bool = False
    device: str | None = None

    def validate(self) -> TrainConfig:
        """Checks value ranges; raises ConfigError naming the bad option."""
        checks = [
            (self.lr >= 0, f"lr must be >= 0, got {self.lr}"),
            (self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}"),
            (self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}"),
            (
                0 < self.dropout_keep <= 1,
                f"dropout_keep must be in (0, 1], got {self.dropout_keep}",
            ),
            (self.reg >= 0, f"reg must be >= 0, got {self.reg}"),
            (self.trials > 0, f"trials must be > 0, got {self.trials}"),
            (
                all(int(h) > 0 for h in self.hidden_dims),
                f"hidden_dims must be positive, got {self.hidden_dims}",
            ),
        ]
        checks += [
            (self.engine in ENGINES, f"engine must be one of {ENGINES}, got {self.engine!r}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (
                0 <= self.label_smoothing < 1,
                f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
            ),
            (
                self.grad_clip is None or self.grad_clip > 0,
                f"grad_clip must be > 0, got {self.grad_clip}",
            ),
        ]
        torch_only = [k for k, v in TORCH_ONLY.items() if getattr(self, k) != v]
        if self.engine == "numpy" and torch_only:
            checks.append((False, f"{', '.join(torch_only)} need(s) --engine torch"))
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def arch_fit_on(cfg, default: str) -> str:
    """``[arch] fit_on``: the data the final model is fitted on, 'train' or 'train+val' (the
    recipe chosen on validation, refitted on every labelled example)."""
    fit_on = cfg.arch.get("fit_on", default)
    if fit_on not in ("train", "train+val"):
        raise ConfigError(f"arch.fit_on must be 'train' or 'train+val', got {fit_on!r}")
    return fit_on


ENGINES = ("numpy", "torch")
#: Options of the torch engine only, with their (inactive) defaults.
TORCH_ONLY = {
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "grad_clip": None,
    "bf16": False,
    "channels_last": False,
    "tta_flip": False,
    "device": None,
}
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_from_dict(values: dict, base: TrainConfig | None = None) -> TrainConfig:
    """Returns ``base`` (or the defaults) updated with ``values``; unknown keys are errors."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    cfg = dataclasses.replace(base or TrainConfig(), **values)
    return cfg


def load_toml(path) -> dict:
    """Reads a TOML config file into a dict of options (dashes in keys become underscores)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    return {k.replace("-", "_"): v for k, v in raw.items()}
