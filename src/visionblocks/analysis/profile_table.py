"""Plain-text tables of a model profile: one row per layer, totals, and memory."""

from __future__ import annotations

from visionblocks.analysis.memory import estimate_memory


def human(n: float, unit: str = "") -> str:
    """Formats a count with K/M/G/T suffixes (powers of 1000): 15470264320 -> '15.47 G'."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def human_bytes(n: int) -> str:
    """Formats bytes in binary units: 553430176 -> '527.79 MiB'."""
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= factor:
            return f"{n / factor:.2f} {suffix}"
    return f"{n} B"


def _pair(v) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def format_profile(profile, batch_size: int = 1, optimizer: str = "adam") -> str:
    """Renders the per-layer table, the totals and the memory estimates as text.

    Args:
        profile: a ``ModelProfile`` from ``analyze``.
        batch_size: batch size of the memory estimates.
        optimizer: optimizer of the training estimate (see ``estimate_memory``).

    Returns:
        The report; activations of in-place layers and views show as "-".
    """
    header = ("layer", "type", "output", "params", "MACs", "activations", "RF", "stride")
    shape = "x".join(map(str, profile.input_shape))
    rows = [("input", "", shape, "", "", f"{_size(profile.input_shape):,}", "1x1", "1")]
    for r in profile.layers:
        rows.append(
            (
                "  " * r.depth + r.name,
                r.kind,
                "x".join(map(str, r.output_shape)),
                f"{r.params:,}" if r.params else "",
                f"{r.macs:,}" if r.macs else "",
                f"{r.activations:,}" if r.activations else "-",
                f"{r.receptive_field[0]}x{r.receptive_field[1]}",
                _pair(r.stride) if len(r.output_shape) == 3 else "-",
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    left = {0, 1, 2}

    def line(row):
        cells = [
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return "  ".join(cells).rstrip()

    out = [line(header), line(tuple("-" * w for w in widths))]
    out += [line(row) for row in rows]
    out += [
        "",
        f"parameters          {profile.params:,} ({human(profile.params)})",
        f"multiply-adds       {profile.macs:,} ({human(profile.macs, 'MACs')}, "
        f"{human(2 * profile.macs, 'FLOPs')}) per example",
        f"activations stored  {profile.activations:,} ({human(profile.activations)}) per example",
        f"peak live (infer.)  {profile.peak_activations:,} per example",
    ]
    spatial = [r for r in profile.layers if len(r.output_shape) == 3]
    maps = [r for r in spatial if r.output_shape[1] * r.output_shape[2] > 1]
    if spatial:
        r = (maps or spatial)[-1]  # the last layer that still has a map (before global pooling)
        out.append(
            f"receptive field     {r.receptive_field[0]}x{r.receptive_field[1]}, effective "
            f"stride {_pair(r.stride)} (last spatial layer, {r.name})"
        )
    out += ["", f"memory, batch size {batch_size}, optimizer {optimizer}:"]
    estimates = [estimate_memory(profile, batch_size, d, optimizer) for d in ("float32", "float16")]
    out.append(f"  {'':<26}{'float32':>14}{'float16':>14}")
    for label, attr in (
        ("parameters", "parameters"),
        ("gradients", "gradients"),
        ("optimizer state", "optimizer_state"),
        ("activations (training)", "activations_training"),
        ("activations (inference)", "activations_inference"),
        ("total inference", "inference"),
        ("total training", "training"),
    ):
        values = "".join(f"{human_bytes(getattr(e, attr)):>14}" for e in estimates)
        out.append(f"  {label:<26}{values}")
    return "\n".join(out) + "\n"


def _size(shape) -> int:
    n = 1
    for v in shape:
        n *= v
    return n
