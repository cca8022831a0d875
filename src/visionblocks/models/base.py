"""What every NumPy model shares: params, buffers, a seeded generator and input checks."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array
from visionblocks.errors import ShapeError


class Model:
    """Base of the NumPy models.

    Subclasses set ``params`` (trainable arrays), ``reg``, ``dtype`` and ``rng`` and implement
    ``loss(X, y=None)``; models with non-trainable state (running statistics) override
    ``buffers`` and ``load_buffers`` so checkpoints capture them.
    """

    params: dict[str, np.ndarray]
    rng: np.random.Generator

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state, such as batch-norm running statistics."""
        return {}

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        """Restores the state returned by ``buffers``."""
        if buffers:
            raise ValueError(f"{type(self).__name__} has no buffers, got {sorted(buffers)}")

    def l2_penalty(self, grads, keys):
        """Adds ``0.5 * reg * sum(W**2)`` over ``keys`` to grads in place; returns the penalty."""
        penalty = 0.0
        for k in keys:
            w = self.params[k]
            penalty += 0.5 * self.reg * float(np.sum(w * w))
            grads[k] += self.reg * w
        return penalty

    def compute_dtype(self) -> np.dtype:
        """The dtype the maths runs in: that of the parameters held (``dtype`` when none).

        Assigning float64 arrays to ``params`` (as the course's notebooks do) gives float64
        results even for a model built with ``dtype=np.float32``.
        """
        floats = [v.dtype for v in self.params.values() if np.issubdtype(v.dtype, np.floating)]
        return np.result_type(*floats) if floats else np.dtype(self.dtype)

    def _check_input(self, X, feature_shape):
        """Checks X is a float batch whose examples have ``feature_shape`` (or flatten to it);
        returns it in ``compute_dtype()``."""
        as_float_array("X", X)
        if X.ndim < 2:
            raise ShapeError(f"X must be a batch (N, ...) of examples, got shape {X.shape}")
        want = int(np.prod(feature_shape))
        if X.shape[1:] != tuple(feature_shape) and int(np.prod(X.shape[1:])) != want:
            raise ShapeError(
                f"X examples must have shape {tuple(feature_shape)} ({want} values), "
                f"got batch shape {X.shape}"
            )
        return X.astype(self.compute_dtype(), copy=False)
