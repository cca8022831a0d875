"""Typed options: a name, a type, a default, a help line and a range, checked strictly.

Every option of ``visionblocks train`` (the shared run, data and optimiser options, the torch
engine's, and each model's own) is an :class:`Option`. A value from a TOML/JSON file goes
through :meth:`Option.coerce`, a command-line text through :meth:`Option.parse`; both end in the
same checks, and a bad value is a one-line :class:`~visionblocks.errors.ConfigError`::

    lr = Option("lr", "float", 1e-3, "learning rate", low=0, low_open=True)
    lr.coerce("0.1")   # ConfigError: option lr: expected a number > 0, got '0.1' (a string)
    lr.parse("0")      # ConfigError: option lr: expected a number > 0, got 0
    lr.coerce(1)       # 1.0 (an integer is a number); True is refused (a bool is not)

This module imports nothing from visionblocks but ``errors``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from visionblocks.errors import ConfigError

#: Option types: scalars and comma-separated lists (``--hidden-dims 512,256``).
TYPES = ("int", "float", "bool", "str", "int_list", "float_list", "str_list")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def what(value) -> str:
    """How a value reads in an error message: ``'0.1' (a string)``, ``true (a boolean)``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value!r} (a number)"
    if isinstance(value, (list, tuple)):
        return f"{list(value)!r} (a list)"
    if isinstance(value, dict):
        return "a table"
    return f"{value!r} (a {type(value).__name__})"


def _number_text(x) -> str:
    return repr(float(x)) if isinstance(x, float) and not float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Option:
    """One typed option.

    Args:
        name: the TOML key (``hidden_dims``); the flag is ``--hidden-dims``.
        type: one of ``TYPES``.
        default: the value when the option is not given (already of the type, or None).
        help: one line for ``--help`` and ``visionblocks models NAME``.
        optional: None is a value ("none" on the command line and in TOML strings).
        low, high: bounds of a number (or of each list entry); ``low_open`` / ``high_open``
            exclude the bound itself.
        choices: the accepted strings (of a str option or of each str_list entry).
        length: the exact length of a list; ``nonempty`` refuses an empty list.
        check: an extra ``check(value)`` raising ConfigError/ValueError with the reason.
        group: the option group shown in help ("run", "training", "torch engine", ...).
    """

    name: str
    type: str
    default: object
    help: str
    optional: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    length: int | None = None
    nonempty: bool = False
    check: Callable | None = None
    group: str = ""

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"option {self.name}: unknown type {self.type!r}; known: {TYPES}")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    # ------------------------------------------------------------------ descriptions
    def _range(self) -> str:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f" in {left}{_number_text(lo)}, {_number_text(hi)}{right}"
        if lo is not None:
            return f" {'>' if self.low_open else '>='} {_number_text(lo)}"
        if hi is not None:
            return f" {'<' if self.high_open else '<='} {_number_text(hi)}"
        return ""

    def _choices(self) -> str:
        return ", ".join(repr(c) for c in self.choices)

    def expected(self) -> str:
        """What the option accepts, in words: ``a number > 0``, ``one of 'sgd', 'adam'``."""
        scalar = {"int": "an integer", "float": "a number", "bool": "true or false"}
        base = self.type.split("_")[0]
        if base == "str":
            item = f"one of {self._choices()}" if self.choices else "a string"
        else:
            item = scalar[base] + self._range()
        if self.type.endswith("_list"):
            plural = {"int": "integers", "float": "numbers", "str": "strings"}[base]
            item = (
                f"{plural} from {self._choices()}"
                if base == "str" and self.choices
                else plural + self._range()
            )
            size = f"{self.length} " if self.length is not None else ""
            if self.length == 1:
                plural_one = {"integers": "integer", "numbers": "number", "strings": "string"}
                item = item.replace(plural, plural_one[plural], 1)
            nonempty = "non-empty " if self.nonempty and self.length is None else ""
            item = f"a {nonempty}list of {size}{item}"
        return item + (" or none" if self.optional else "")

    def _fail(self, shown: str):
        raise ConfigError(f"option {self.name}: expected {self.expected()}, got {shown}")

    # ------------------------------------------------------------------ values
    def _scalar(self, value, shown):
        """One scalar (or list entry) of a TOML/JSON value, strictly typed."""
        base = self.type.split("_")[0]
        if base == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self._fail(shown)
            return int(value)
        if base == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._fail(shown)
            if not math.isfinite(value):
                self._fail(shown)
            return float(value)
        if base == "bool":
            if not isinstance(value, bool):
                self._fail(shown)
            return value
        if not isinstance(value, str):
            self._fail(shown)
        return value

    def _checked(self, value, shown):
        """Range, choices, length and the extra check of a typed value."""
        if value is None:
            return None
        items = value if self.type.endswith("_list") else [value]
        if self.type.endswith("_list"):
            if (self.length is not None and len(items) != self.length) or (
                self.nonempty and not items
            ):
                self._fail(shown)
        for item in items:
            if self.choices is not None and item not in self.choices:
                self._fail(shown)
            if self.low is not None and (item < self.low or (self.low_open and item == self.low)):
                self._fail(shown)
            if self.high is not None and (
                item > self.high or (self.high_open and item == self.high)
            ):
                self._fail(shown)
        if self.check is not None:
            try:
                self.check(value)
            except (ConfigError, ValueError) as e:
                reason = str(e)
                prefix = f"option {self.name}: "
                message = reason if reason.startswith(prefix) else prefix + reason
                raise ConfigError(message) from None
        return value

    def coerce(self, value):
        """The typed value of a TOML/JSON value; ConfigError when it is not of the type.

        An int is accepted for a float; a bool is never a number; "none" (any case) is None
        for an optional option.
        """
        shown = what(value)
        is_none = value is None or (isinstance(value, str) and value.lower() == "none")
        if self.optional and is_none:
            return None
        if value is None:
            self._fail(shown)
        if self.type.endswith("_list"):
            if not isinstance(value, (list, tuple)):
                self._fail(shown)
            typed = [self._scalar(v, shown) for v in value]
        else:
            typed = self._scalar(value, shown)
        return self._checked(typed, shown)

    def _parse_scalar(self, text, shown):
        base = self.type.split("_")[0]
        text = text.strip()
        if base == "int":
            try:
                return int(text)
            except ValueError:
                self._fail(shown)
        if base == "float":
            try:
                value = float(text)
            except ValueError:
                self._fail(shown)
            if not math.isfinite(value):
                self._fail(shown)
            return value
        if base == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            self._fail(shown)
        return text

    def parse(self, text: str):
        """The typed value of a command-line text (``"512,256"`` for a list, ``"none"``)."""
        shown = repr(text)
        if not isinstance(text, str):  # already typed (a programmatic caller)
            return self.coerce(text)
        if self.optional and text.strip().lower() in ("none", ""):
            return None
        if self.type.endswith("_list"):
            if not text.strip():
                typed = []
            else:
                pieces = [p.strip() for p in text.split(",")]
                if any(not p for p in pieces):
                    self._fail(shown)
                typed = [self._parse_scalar(p, shown) for p in pieces]
        else:
            typed = self._parse_scalar(text, shown)
        return self._checked(typed, shown)

    def describe(self) -> str:
        """``name  type  default  help`` for listings."""
        default = "none" if self.default is None else self.format(self.default)
        return f"{self.name:<18} {self.type:<10} {default:<16} {self.help}"

    def format(self, value) -> str:
        """A value as it would be written on the command line."""
        if value is None:
            return "none"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(self.format(v) for v in value) or '""'
        return str(value)


def options_by_name(options) -> dict[str, Option]:
    """A name -> Option dict; a name given twice is a ValueError (a programming error)."""
    out: dict[str, Option] = {}
    for opt in options:
        if opt.name in out:
            raise ValueError(f"option {opt.name!r} is declared twice")
        out[opt.name] = opt
    return out
