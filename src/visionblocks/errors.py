"""Exception types raised at the public boundary, so callers can catch them by kind."""


class VisionBlocksError(Exception):
    """Base class of every error visionblocks raises on purpose."""


class ShapeError(VisionBlocksError, ValueError):
    """An array has the wrong number of dimensions or the wrong shape."""


class DataFormatError(VisionBlocksError, ValueError):
    """A data file is corrupt, truncated or not in the format it claims."""


class DataNotFoundError(VisionBlocksError, FileNotFoundError):
    """A data set could not be found in any of the places searched."""


class ConfigError(VisionBlocksError, ValueError):
    """A configuration option has a bad value."""


class TrainingDivergedError(VisionBlocksError, RuntimeError):
    """Training stopped because the loss became NaN/inf or exploded."""
