"""visionblocks: deep learning for computer vision from its blocks, in NumPy and PyTorch."""

__version__ = "0.1.0"
