"""Data sets, file formats and preprocessing."""

from visionblocks.data.datasets import LOADERS, load_dataset, split_validation
from visionblocks.data.idx import IDXFormatError, read_idx, write_idx
from visionblocks.data.preprocess import apply_preprocessing, fit_preprocessing, transform

__all__ = [
    "IDXFormatError",
    "LOADERS",
    "apply_preprocessing",
    "fit_preprocessing",
    "load_dataset",
    "read_idx",
    "split_validation",
    "transform",
    "write_idx",
]
