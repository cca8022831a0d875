"""Shared pieces of the fair benchmarks: a timed block with the load average around it, the
median ratio of paired timings, and a record of the software and thread pools that ran.

Used by ``bench_classic.py``, ``bench_linear.py`` and ``bench_engines.py`` (run together by
``run_fair.sh``). Nothing here imports torch: the environment record lists torch only when
the calling script has imported it already.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 2 digits ([] where unsupported)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def timed(fn):
    """Runs ``fn()`` once with nothing else around it but two clock reads and two load reads.

    Returns:
        dict with ``seconds`` (wall, ``time.perf_counter``), ``load_before``, ``load_after``
        (``os.getloadavg()``) and ``result`` (what ``fn`` returned).
    """
    before = loadavg()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "load_before": before, "load_after": loadavg(), "result": result}


def ratio_summary(numerators, denominators) -> dict:
    """Median, min and max of the paired ratios ``numerators[i] / denominators[i]``."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(
            f"need equally many paired timings (at least one), got {len(numerators)} and "
            f"{len(denominators)}"
        )
    ratios = [a / b for a, b in zip(numerators, denominators)]
    return {
        "ratios": ratios,
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }


def fmt_load(load) -> str:
    """'1.23' (the 1-minute figure) or '-' when the platform gives none."""
    return f"{load[0]:.2f}" if load else "-"


def environment() -> dict:
    """Versions, core count and the BLAS/OpenMP thread pools loaded in this process."""
    import numpy as np

    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "argv": sys.argv,
    }
    for name in ("sklearn", "torch", "scipy"):
        module = sys.modules.get(name)
        if module is not None:
            env[name] = module.__version__
    if "torch" in sys.modules:
        env["torch_threads"] = sys.modules["torch"].get_num_threads()
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # threadpoolctl comes with scikit-learn; absent, say so
        env["threadpools"] = "threadpoolctl not installed"
    else:
        env["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
            for p in threadpool_info()
        ]
    return env


def env_line(env: dict) -> str:
    """One markdown line naming the software and thread counts of ``environment()``."""
    parts = [f"Python {env['python']}", f"NumPy {env['numpy']}"]
    parts += [f"{n} {env[n]}" for n in ("sklearn", "scipy", "torch") if n in env]
    if "torch_threads" in env:
        parts.append(f"torch threads {env['torch_threads']}")
    pools = env["threadpools"]
    if isinstance(pools, list):
        parts += [f"{p['internal_api']} {p['num_threads']} threads" for p in pools]
    parts.append(f"{env['affinity'] or env['cpu_count']} usable cores")
    return "; ".join(parts)


def write_json(path, payload) -> None:
    """Writes ``payload`` as indented JSON (NaN refused: every figure must be a number)."""
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, allow_nan=False)
        f.write("\n")
