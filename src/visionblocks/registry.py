"""Named registries: one small class shared by layers, models, tasks and augmentations.

This module imports nothing from visionblocks, so any module may use it without creating an
import cycle. A registry maps a name to an entry; a missing name is a ``KeyError`` whose
message names the registry and lists what it holds::

    ACTIVATIONS = Registry("activation")
    ACTIVATIONS.register("relu", entry)
    ACTIVATIONS["relu"]          # the entry
    ACTIVATIONS["rleu"]          # KeyError: unknown activation 'rleu'; known: relu, ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that a registry does not hold; ``str()`` gives the one-line message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """An ordered name -> entry mapping that refuses duplicates and explains misses.

    Args:
        kind: what the entries are ("layer", "model", ...), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Adds ``entry`` under ``name`` and returns it.

        Raises:
            ValueError: ``name`` is already registered.
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self._entries) or 'none'}"
            ) from None

    def get(self, name: str, default=None):
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()
