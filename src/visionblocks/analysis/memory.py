"""Memory estimates for inference and training from a model profile.

inference = parameters + peak live activations (batch x peak elements);
training  = parameters + gradients (one per parameter) + optimizer state (0 for SGD, one
            slot for momentum/RMSprop/Adagrad, two for Adam) + every stored activation of
            the batch (what backward needs).

Every tensor uses the one dtype given ("float16" halves everything; mixed-precision master
weights are not modelled). These are lower bounds: frameworks add workspace, temporary
gradients of activations, allocator slack and, for max pooling, index tensors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from visionblocks.errors import ConfigError

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}
OPTIMIZER_SLOTS = {
    "sgd": 0,
    "sgd_momentum": 1,
    "nesterov": 1,
    "rmsprop": 1,
    "adagrad": 1,
    "adam": 2,
    "adamw": 2,
}


@dataclass
class MemoryEstimate:
    """Byte counts for one batch size and dtype.

    Attributes:
        dtype, batch_size, optimizer: the assumptions.
        parameters: bytes of the weights.
        gradients: bytes of the weight gradients.
        optimizer_state: bytes of the optimizer's per-parameter buffers.
        activations_training: bytes of the activations stored for backward.
        activations_inference: bytes of the peak live activations without backward.
    """

    dtype: str
    batch_size: int
    optimizer: str
    parameters: int
    gradients: int
    optimizer_state: int
    activations_training: int
    activations_inference: int

    @property
    def inference(self) -> int:
        """Total bytes to run the forward pass."""
        return self.parameters + self.activations_inference

    @property
    def training(self) -> int:
        """Total bytes to train (forward, backward and the update)."""
        return self.parameters + self.gradients + self.optimizer_state + self.activations_training

    def to_dict(self) -> dict:
        """Plain-JSON form, totals included."""
        return dict(asdict(self), inference=self.inference, training=self.training)


def estimate_memory(profile, batch_size=1, dtype="float32", optimizer="adam") -> MemoryEstimate:
    """Estimates memory from a ``ModelProfile`` (see the module notes).

    Args:
        profile: the result of ``analyze``.
        batch_size: examples per batch (>= 1).
        dtype: "float32", "float16", "bfloat16" or "float64".
        optimizer: one of ``OPTIMIZER_SLOTS`` (sgd, sgd_momentum, nesterov, rmsprop, adagrad,
            adam, adamw).

    Returns:
        A ``MemoryEstimate``.
    """
    if dtype not in DTYPE_BYTES:
        raise ConfigError(f"dtype must be one of {sorted(DTYPE_BYTES)}, got {dtype!r}")
    if optimizer not in OPTIMIZER_SLOTS:
        raise ConfigError(f"optimizer must be one of {sorted(OPTIMIZER_SLOTS)}, got {optimizer!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    b = DTYPE_BYTES[dtype]
    weights = profile.params * b
    return MemoryEstimate(
        dtype=dtype,
        batch_size=batch_size,
        optimizer=optimizer,
        parameters=weights,
        gradients=weights,
        optimizer_state=OPTIMIZER_SLOTS[optimizer] * weights,
        activations_training=profile.activations * batch_size * b,
        activations_inference=profile.peak_activations * batch_size * b,
    )
