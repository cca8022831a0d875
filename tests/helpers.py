"""Test helpers: torch when it is installed (the NumPy engine must be testable without it).

The PyTorch references of the layers are in the layer registry itself (each entry's
``reference``; see ``visionblocks.layers.registry``), so adding a layer never touches this file.
"""

from __future__ import annotations

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the NumPy engine must be testable without torch
    torch = None
    F = None

__all__ = ["F", "torch"]
