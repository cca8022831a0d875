"""The one augmentation grammar of both engines: ``crop``, ``crop:PAD``, ``flip``, ``flip:P``,
``erase`` and ``erase:P``, parsed here into steps that mean the same on NumPy and on torch.

- ``crop``: zero-pad every side and crop back at a random offset; PAD pixels (default 4 for
  images 24 pixels wide or more, else 1).
- ``flip``: mirror left-right with probability P (default 0.5).
- ``erase``: random erasing (Zhong et al. 2017) with probability P (default 0.5): a rectangle of
  ``ERASE_SCALE`` of the image area with an aspect ratio in ``ERASE_RATIO`` (log-uniform) set to
  ``ERASE_VALUE``.

NumPy only (no torch): ``visionblocks.data.augment`` and ``visionblocks.torchkit.augment`` apply
the steps this module parses.
"""

from __future__ import annotations

from dataclasses import dataclass

from visionblocks.errors import ConfigError

NAMES = ("crop", "flip", "erase")
ERASE_SCALE = (0.02, 0.25)
ERASE_RATIO = (0.3, 3.3)
ERASE_VALUE = 0.0


@dataclass(frozen=True)
class AugmentStep:
    """One parsed augmentation: ``name`` and its argument (crop: pad; flip, erase: p), or None
    for the default."""

    name: str
    arg: float | int | None = None

    def pad(self, width: int) -> int:
        """The padding of a crop of images ``width`` pixels wide."""
        if self.arg is not None:
            return int(self.arg)
        return 4 if width >= 24 else 1

    @property
    def p(self) -> float:
        """The probability of a flip or an erase."""
        return 0.5 if self.arg is None else float(self.arg)


def parse_step(text) -> AugmentStep:
    """'crop' -> crop (default pad); 'crop:2' -> pad 2; 'flip:0.3', 'erase:0.25' -> p."""
    base, sep, arg = str(text).strip().partition(":")
    if base not in NAMES:
        raise ConfigError(f"unknown augmentation {text!r}; choose from crop, crop:PAD, flip, "
                          "flip:P, erase, erase:P")  # fmt: skip
    if not sep:
        return AugmentStep(base)
    try:
        value = int(arg) if base == "crop" else float(arg)
    except ValueError:
        value = None
    if value is None or (base == "crop" and value < 0) or (base != "crop" and not 0 <= value <= 1):
        want = "an integer pad >= 0" if base == "crop" else "a probability in [0, 1]"
        raise ConfigError(f"augmentation {text!r}: expected {want} after ':'")
    return AugmentStep(base, value)


def parse_augment(names) -> tuple[AugmentStep, ...]:
    """Parses a list of augmentation texts, in order of application."""
    return tuple(parse_step(n) for n in names)
