"""The model registry: one :class:`ModelSpec` per ``--model`` name, registered by its description.

A description (``visionblocks.models.specs`` for the networks, ``visionblocks.classic.specs``
for kNN and the linear classifiers) says everything the rest of the package needs to know about
a model: its typed options, the engines it runs on, how its NumPy model and torch twin are
constructed (by keyword, from one ``kwargs`` function), its ``analyze`` profile, or the runner
that trains it when it is not trained by the Solver. ``runs``, ``torchkit.runner``, ``cli`` and
``analysis.cli`` look models up here; this module depends only on the registry and the options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from visionblocks.errors import ConfigError
from visionblocks.options import Option, options_by_name
from visionblocks.registry import Registry


@dataclass(frozen=True)
class Runner:
    """A model with its own training: ``train(cfg, data, run_dir) -> summary`` (with
    ``test_accuracy``) and ``evaluate(cfg, data, run_dir) -> test accuracy``. A ``resumable``
    runner is called ``train(cfg, data, run_dir, resume=...)`` and takes ``--resume``; the
    others refuse it. With ``whole_run`` the runner also loads its own data, makes the run
    directory and resumes: ``train(cfg, resume) -> summary`` (captioning)."""

    train: Callable
    evaluate: Callable
    resumable: bool = False
    whole_run: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """The one description of a model.

    Args:
        name: the ``--model`` name.
        summary: one line for ``visionblocks models``.
        engines: the engines that train it, from ("numpy", "torch").
        options: the model's own typed options.
        uses: the shared option groups it takes (see ``visionblocks.config.GROUPS``), beyond
            the run options every model takes.
        kwargs: ``kwargs(opts, input_shape (C, H, W), num_classes, seed) -> dict``, the
            constructor keywords of the NumPy model and of its torch twin.
        numpy_class: the NumPy model class (None: torch only, or not Solver-trained).
        twin: ``"module:Class"`` of the torch model, built with the same keywords.
        runner: a :class:`Runner` for models with their own training (kNN, SVM, softmax).
        profile: ``profile(opts, input_shape, num_classes) -> list`` of
            ``visionblocks.analysis.layers`` specs for ``analyze``; None: not a network.
        check: ``check(opts, given)`` for rules between options; raises ConfigError.
        check_data: ``check_data(cfg, data)`` for rules that need the loaded data (made before
            the run directory is created); raises ConfigError.
    """

    name: str
    summary: str
    engines: tuple[str, ...]
    options: tuple[Option, ...] = ()
    uses: tuple[str, ...] = ()
    kwargs: Callable | None = None
    numpy_class: type | None = None
    twin: str | None = None
    runner: Runner | None = None
    profile: Callable | None = None
    check: Callable | None = None
    check_data: Callable | None = None

    @property
    def option_map(self) -> dict[str, Option]:
        return options_by_name(self.options)

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def constructor_kwargs(self, opts: dict, input_shape, num_classes: int, seed) -> dict:
        if self.kwargs is None:
            raise ConfigError(f"model {self.name!r} is not built from keywords")
        return self.kwargs(opts, tuple(int(v) for v in input_shape), int(num_classes), seed)

    def build_numpy(self, opts: dict, input_shape, num_classes: int, seed=None):
        """The NumPy model for these options; a bad architecture is a ConfigError."""
        if self.numpy_class is None:
            raise ConfigError(f"model {self.name!r} has no NumPy model; use --engine torch")
        return construct(
            self.numpy_class, self.constructor_kwargs(opts, input_shape, num_classes, seed)
        )


def construct(cls, kwargs: dict):
    """``cls(**kwargs)``; the ValueError/TypeError of a bad architecture is a ConfigError."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None


#: Every model ``visionblocks train --model`` knows, in registration order.
MODELS: Registry[ModelSpec] = Registry("model")


def register(spec: ModelSpec) -> ModelSpec:
    """Adds a description to ``MODELS``; its option names must be unique."""
    options_by_name(spec.options)
    return MODELS.register(spec.name, spec)
