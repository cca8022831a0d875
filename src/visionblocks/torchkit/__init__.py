"""The PyTorch engine: twins of the NumPy blocks, a bridge between engines, and a Trainer.

Importing this package needs torch (``pip install 'visionblocks[torch]'``); the NumPy engine
never imports it. The names mirror the NumPy engine one for one: ``functional.affine`` is the
twin of ``layers.affine_forward``, ``models.FullyConnectedNet`` of
``visionblocks.models.FullyConnectedNet``.
"""

try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "the PyTorch engine needs torch: pip install 'visionblocks[torch]' "
        "(install torch>=2.13,<2.14 first to get the CPU build)"
    ) from e

from visionblocks.torchkit.trainer import Trainer

__all__ = ["Trainer"]
