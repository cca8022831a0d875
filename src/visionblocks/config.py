"""Training configuration: typed options from defaults, a TOML file and ``--flags``, checked
before anything is written.

The options of a run are the shared groups below (``GROUPS``: run and data options every model
takes, the training loop's, the linear classifiers', the torch engine's) plus the model's own,
declared in its description (``visionblocks.model_registry``). An option the chosen model or
engine does not take is an error naming what takes it. TOML layout (``[model]`` table; today's
``model = "..."`` with ``[arch]`` is read too)::

    data = "fashion-mnist"
    lr = 2e-3
    [model]
    name = "convnet"
    num_filters = [32, 64]
"""

from __future__ import annotations

import sys
from pathlib import Path

import visionblocks.captioning.specs  # noqa: F401  (registers captioning-rnn, -lstm, -gru)
import visionblocks.classic.specs  # noqa: F401  (registers knn, svm, softmax)
import visionblocks.generative.gan_specs  # noqa: F401  (registers the GANs)
import visionblocks.generative.specs  # noqa: F401  (registers vae, ae, pixelcnn)
import visionblocks.models.specs  # noqa: F401  (registers the networks)
import visionblocks.models.specs_vit  # noqa: F401  (registers vit)
from visionblocks.classic.features import feature_functions
from visionblocks.data.augment_grammar import parse_augment
from visionblocks.errors import ConfigError
from visionblocks.model_registry import MODELS, ModelSpec
from visionblocks.optim import UPDATE_RULES
from visionblocks.options import Option, options_by_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENGINES = ("numpy", "torch")
NUMPY_SCHEDULES = ("constant", "step", "exponential", "cosine")
#: Names only the torch engine knows (``visionblocks.torchkit.optim`` checks them again).
TORCH_UPDATE_RULES, TORCH_SCHEDULES = ("adamw",), ("onecycle",)


def _features(names):
    if names:
        feature_functions(names)


O = Option
SHARED = options_by_name([
    # run and data: every model, both engines
    O("model", "str", "fc", "model name (visionblocks models lists them)", group="run"),
    O("engine", "str", "numpy", "numpy (default) or torch (the PyTorch engine; also under "
      "torchrun); a model of one engine takes that one by default", choices=ENGINES, group="run"),
    O("data", "str", "digits", "data set: digits, fashion-mnist, mnist, cifar10", group="run"),
    O("data_dir", "str", None, "folder holding the data set files", optional=True, group="run"),
    O("num_val", "int", None, "validation examples drawn from the training set",
      optional=True, low=0, group="run"),
    O("num_train", "int", None, "train on a seeded subsample of this many examples",
      optional=True, low=1, group="run"),
    O("preprocess", "str", None, "none, mean (subtract the mean image) or standardize",
      optional=True, choices=("mean", "standardize"), group="run"),
    O("features", "str_list", [], "hand-made features replacing the pixels, e.g. hog,color",
      check=_features, group="run"),
    O("hog_orientations", "int", 9, "orientation bins of the hog features", low=1, group="run"),
    O("hog_block_norm", "bool", True, "L2-Hys block normalisation of the hog features",
      group="run"),
    O("seed", "int", 0, "random seed", low=0, group="run"),
    O("out", "str", None, "run directory (default runs/DATA-MODEL-TIME)", optional=True,
      group="run"),
    O("test", "bool", True, "evaluate on the test split at the end (--no-test: do not)",
      group="run"),
    # the training loops (Solver, torch Trainer); svm/softmax take some of them
    O("update_rule", "str", "adam", "sgd, sgd_momentum, nesterov, adagrad, rmsprop, adam "
      "(torch: adamw)", choices=(*UPDATE_RULES, *TORCH_UPDATE_RULES), group="training"),
    O("lr", "float", 1e-3, "learning rate", low=0, low_open=True, group="training"),
    O("momentum", "float", None, "momentum of sgd_momentum / nesterov", optional=True, low=0,
      high=1, high_open=True, group="training"),
    O("lr_decay", "float", 1.0, "multiply the learning rate by this each epoch", low=0,
      high=1, low_open=True, group="training"),
    O("schedule", "str", None, "constant, step, exponential, cosine (torch: onecycle)",
      optional=True, choices=(*NUMPY_SCHEDULES, *TORCH_SCHEDULES), group="training"),
    O("warmup_epochs", "float", 0.0, "linear learning-rate warm-up, in epochs", low=0,
      group="training"),
    O("epochs", "int", 10, "training epochs", low=1, group="training"),
    O("batch_size", "int", 100, "minibatch size", low=1, group="training"),
    O("augment", "str_list", [], "minibatch augmentation: crop[:PAD], flip[:P], erase[:P]",
      check=parse_augment, group="training"),
    O("print_every", "int", 100, "print the loss every N iterations (0: never)", low=0,
      group="training"),
    O("search", "str", None, "hyperparameter search of lr and reg: grid or random",
      optional=True, choices=("grid", "random"), group="linear"),
    O("trials", "int", 10, "number of random-search trials", low=1, group="linear"),
    O("fit_on", "str", None, "data the final model is fitted on: train or train+val (the "
      "default: train+val for knn, else train)", optional=True, choices=("train", "train+val"),
      group="refit"),
    # the torch engine
    O("weight_decay", "float", 0.0, "weight decay (decoupled for adamw)", low=0, group="torch"),
    O("label_smoothing", "float", 0.0, "label smoothing of the cross-entropy", low=0, high=1,
      high_open=True, group="torch"),
    O("grad_clip", "float", None, "clip the gradient norm to this", optional=True, low=0,
      low_open=True, group="torch"),
    O("bf16", "bool", False, "bfloat16 autocast", group="torch"),
    O("channels_last", "bool", False, "channels-last memory format", group="torch"),
    O("tta_flip", "bool", False, "evaluate on each image and its mirror", group="torch"),
    O("device", "str", None, "cuda, mps or cpu (default: the best available)", optional=True,
      group="torch"),
])  # fmt: skip

_TRAINING = ("update_rule", "lr", "momentum", "lr_decay", "schedule", "warmup_epochs", "epochs",
             "batch_size", "augment", "print_every")  # fmt: skip
#: Shared option groups a model's ``uses`` names (``run`` is every model's, ``torch`` the
#: engine's).
GROUPS = {
    "run": tuple(k for k, o in SHARED.items() if o.group == "run"),
    "training": _TRAINING,
    "linear": ("lr", "momentum", "lr_decay", "epochs", "batch_size", "search", "trials"),
    "classic": ("fit_on",),
    "torch": ("fit_on", *(k for k, o in SHARED.items() if o.group == "torch")),
    "gan": ("lr", "epochs", "batch_size", "print_every"),
}


def accepted_options(spec: ModelSpec, engine: str) -> dict[str, Option]:
    """Every option (shared and the model's own) that ``spec`` takes on ``engine``."""
    names = list(GROUPS["run"])
    for group in (*spec.uses, *(("torch",) if engine == "torch" else ())):
        names += [n for n in GROUPS[group] if n not in names]
    out = {n: SHARED[n] for n in names}
    clash = set(out) & set(spec.option_map)
    if clash:  # pragma: no cover - a description error
        raise ValueError(f"model {spec.name!r} redeclares shared option(s) {sorted(clash)}")
    return {**out, **spec.option_map}


def takers(name: str) -> list[str]:
    """Who takes option ``name``: '--engine torch' and/or the model names."""
    out = ["--engine torch"] if name in GROUPS["torch"] else []
    return out + [s.name for s in MODELS.values() if name in accepted_options(s, "numpy")]


def _not_taken(name: str, spec: ModelSpec, engine: str) -> ConfigError:
    who = takers(name)
    if not who:
        known = ", ".join(sorted(accepted_options(spec, engine)))
        return ConfigError(f"unknown option(s) {name}; model {spec.name!r} on the {engine} "
                           f"engine takes: {known}")  # fmt: skip
    where = " on the NumPy engine" if engine == "numpy" and "--engine torch" in who else ""
    return ConfigError(f"option {name!r} is not an option of model {spec.name!r}{where}; "
                       f"it is taken by: {', '.join(who)}")  # fmt: skip


class TrainConfig:
    """The validated options of one run: the shared ones as attributes (``cfg.lr``), the
    model's as ``cfg.model_options`` (a dict), and ``cfg.given``, the names set explicitly.

    Build it with :func:`config_from_dict`; ``to_dict()`` is what ``config.json`` records.
    """

    def __init__(self, model: str, engine: str, shared: dict, model_options: dict, given=()):
        for name, opt in SHARED.items():
            setattr(self, name, shared.get(name, opt.default))
        self.model, self.engine = model, engine
        self.model_options = dict(model_options)
        self.given = frozenset(given)

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.model]

    def validate(self) -> TrainConfig:
        """Re-checks every option (after attributes were changed in code); returns self."""
        return config_from_dict(self.to_dict())

    def to_dict(self) -> dict:
        """The options this run takes: shared ones flat, the model's in a ``model`` table."""
        shared = {
            k: getattr(self, k)
            for k in accepted_options(self.spec, self.engine)
            if k in SHARED and k != "model"
        }
        return {**shared, "model": {"name": self.model, **self.model_options}}

    def __repr__(self) -> str:
        return f"TrainConfig({self.to_dict()!r})"


def flatten(raw: dict, where: str = "the config") -> dict:
    """One flat ``{option: value}`` dict from a TOML/JSON mapping of either layout.

    ``[model]`` (``name`` plus the model's options) or today's ``model = "..."`` with an
    ``[arch]`` table (whose entries win over the top level); dashes in keys become underscores.
    """
    flat, table, arch = {}, None, {}
    for key, value in raw.items():
        key = str(key).replace("-", "_")
        if key == "model" and isinstance(value, dict):
            table = {str(k).replace("-", "_"): v for k, v in value.items()}
        elif key == "arch" and isinstance(value, dict):
            arch = {str(k).replace("-", "_"): v for k, v in value.items()}
        else:
            flat[key] = value
    if table is not None:
        if "name" not in table:
            raise ConfigError(f"{where}: the [model] table needs name = \"...\" (one of "
                              f"{', '.join(MODELS.names())})")  # fmt: skip
        flat["model"] = table.pop("name")
        for key, value in table.items():
            if key in flat:
                raise ConfigError(f"{where}: option {key} is given twice (at the top level "
                                  "and in [model])")  # fmt: skip
            flat[key] = value
    flat.update(arch)
    return flat


def _engine_checks(cfg: TrainConfig) -> None:
    """Names of the one engine only (adamw, onecycle) on the other."""
    if cfg.engine == "numpy" and "update_rule" in accepted_options(cfg.spec, "numpy"):
        if cfg.update_rule in TORCH_UPDATE_RULES:
            raise ConfigError(f"option update_rule: {cfg.update_rule!r} needs --engine torch")
        if cfg.schedule in TORCH_SCHEDULES:
            raise ConfigError(f"option schedule: {cfg.schedule!r} needs --engine torch")


def config_from_dict(values: dict, cli: dict | None = None) -> TrainConfig:
    """The validated TrainConfig of ``values`` (TOML/JSON values, either layout) overridden by
    ``cli`` (command-line texts, parsed by the options' types).

    Raises:
        ConfigError: one line naming the first bad option: a value of the wrong type or out of
            range, an unknown option, or one the chosen model or engine does not take.
    """
    values = flatten(values)
    cli = {k.replace("-", "_"): v for k, v in (cli or {}).items()}
    merged = {**values, **cli}

    def typed(opt: Option, key: str):
        return opt.parse(cli[key]) if key in cli else opt.coerce(values[key])

    engine = typed(SHARED["engine"], "engine") if "engine" in merged else "numpy"
    name = typed(SHARED["model"], "model") if "model" in merged else "fc"
    if name not in MODELS:
        on = " for the torch engine" if engine == "torch" else ""
        raise ConfigError(f"unknown model {name!r}{on}; choose from {', '.join(MODELS.names())}")
    spec = MODELS[name]
    if "engine" not in merged and len(spec.engines) == 1:
        engine = spec.engines[0]  # a model of one engine needs no --engine (saved as given)
        merged["engine"] = values["engine"] = engine
    if engine not in spec.engines:
        raise ConfigError(f"model {name!r} runs on the {' and '.join(spec.engines)} engine "
                          f"only, not on --engine {engine}")  # fmt: skip
    accepted = accepted_options(spec, engine)
    for key in sorted(merged):
        if key not in accepted:
            raise _not_taken(key, spec, engine)
    given = {k: typed(accepted[k], k) for k in merged}
    own = {**spec.defaults(), **{k: v for k, v in given.items() if k in spec.option_map}}
    if spec.check is not None:
        spec.check(own, set(given))
    shared = {k: v for k, v in given.items() if k in SHARED}
    cfg = TrainConfig(name, engine, shared, own, given)
    _engine_checks(cfg)
    return cfg


def fit_on_of(cfg, default: str) -> str:
    """``fit_on``: the data the final model is fitted on, 'train' or 'train+val' (the recipe
    chosen on validation, refitted on every labelled example); ``default`` when not given."""
    return cfg.fit_on if cfg.fit_on is not None else default


arch_fit_on = fit_on_of  # the name before fit_on became a typed option


def read_toml(path) -> dict:
    """The raw mapping of a TOML file; ConfigError when it is missing or not valid TOML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def load_toml(path) -> dict:
    """Reads a TOML config file into a flat dict of options (see :func:`flatten`)."""
    return flatten(read_toml(path), where=str(path))


def saved_options(values: dict) -> dict:
    """The flat options of a run's ``config.json`` dict. A file written before options were
    typed records every option of every model and engine; the ones this run's model and engine
    do not take (and so did not use) are dropped."""
    flat = flatten(values, where="config.json")
    arch = values.get("arch") if isinstance(values.get("arch"), dict) else None
    if arch is not None:  # today's layout: [arch] options fell back to the top level unevenly
        if flat.get("model") == "convnet" and "normalization" not in arch:
            flat.pop("normalization", None)  # the convnet took its own default, batchnorm
        if flat.get("model") == "threelayer" and "hidden_dim" not in arch:
            hidden = flat.get("hidden_dims")
            if isinstance(hidden, list) and hidden:
                flat["hidden_dim"] = hidden[0]
    spec = MODELS.get(str(flat.get("model", "fc")))
    if spec is None:
        return flat
    accepted = accepted_options(spec, str(flat.get("engine", "numpy")))
    return {k: v for k, v in flat.items() if k in accepted}
