"""The convolution / pooling output-size formula, with clear errors for impossible settings."""

from __future__ import annotations

from visionblocks.errors import ConfigError, ShapeError


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    ceil_mode: bool = False,
    exact: bool = False,
    name: str = "conv",
) -> int:
    """Output length of a convolution or pooling window along one axis.

    out = floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1,
    i.e. the CS231n (W - F + 2P) / S + 1 with F the effective (dilated) kernel. With
    ``ceil_mode`` the division rounds up, but the last window must start inside the input
    or the left padding (the PyTorch rule for pooling).

    Args:
        size: input length W (>= 1).
        kernel_size: kernel length F (>= 1).
        stride: step S (>= 1).
        padding: zeros added at each end P (>= 0).
        dilation: spacing of kernel taps (>= 1).
        ceil_mode: round the division up instead of down.
        exact: also reject settings where (W - F + 2P) is not a multiple of S, i.e. where
            the windows do not tile the padded input exactly (the CS231n "invalid" case).
        name: layer name used in error messages.

    Returns:
        The output length (>= 1).

    Raises:
        ConfigError: a hyper-parameter is not an integer in range.
        ShapeError: the (dilated) kernel does not fit in the padded input, or ``exact`` and
            the windows do not tile it.
    """
    _check_int(f"{name}: size", size, 1)
    _check_int(f"{name}: kernel_size", kernel_size, 1)
    _check_int(f"{name}: stride", stride, 1)
    _check_int(f"{name}: padding", padding, 0)
    _check_int(f"{name}: dilation", dilation, 1)
    effective = dilation * (kernel_size - 1) + 1
    span = size + 2 * padding - effective
    if span < 0:
        raise ShapeError(
            f"{name}: a kernel of {effective} (kernel_size={kernel_size}, dilation={dilation}) "
            f"does not fit an input of {size} padded by {padding} on each side "
            f"({size + 2 * padding}); use a larger input, more padding or a smaller kernel"
        )
    if exact and span % stride:
        raise ShapeError(
            f"{name}: (W - F + 2P) / S = ({size} - {effective} + 2*{padding}) / {stride} = "
            f"{span}/{stride} is not an integer, so the windows do not tile the input"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window would start in the right pad
        out -= 1
    return out


def pool_output_size(
    size: int,
    kernel_size: int,
    stride: int,
    padding: int = 0,
    *,
    ceil_mode: bool = False,
    name: str = "pool",
) -> int:
    """Like ``conv_output_size``, and padding may be at most half the kernel (PyTorch's rule).

    A pooling window made only of padding would have no input element to pool.
    """
    _check_int(f"{name}: kernel_size", kernel_size, 1)
    _check_int(f"{name}: padding", padding, 0)
    if padding > kernel_size // 2:
        raise ConfigError(
            f"{name}: padding ({padding}) must be at most half the kernel size ({kernel_size})"
        )
    return conv_output_size(size, kernel_size, stride, padding, ceil_mode=ceil_mode, name=name)
