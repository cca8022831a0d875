"""Training state as a checkpoint: nested dicts of arrays and JSON values, flattened to the
``.npz`` + ``.json`` pair of ``visionblocks.checkpoint``, and the processes that share a run.

``flatten({"optim": {"W1": {"m": array, "t": 3}}})`` gives the arrays ``{"optim/W1/m": array}``
and the metadata ``{"optim": {"W1": {"t": 3}}}``; ``unflatten`` puts them back together.
"""

from __future__ import annotations

import numpy as np

from visionblocks.checkpoint import CheckpointError


def flatten(state: dict, prefix: str = "") -> tuple[dict[str, np.ndarray], dict]:
    """Splits a nested dict into '/'-named arrays and the JSON-valued rest.

    Args:
        state: nested dict whose leaves are NumPy arrays or JSON values; keys must not hold '/'.
        prefix: prepended to every array name.

    Returns:
        (arrays, meta).
    """
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {}
    for key, value in state.items():
        key = str(key)
        if isinstance(value, np.ndarray):
            arrays[prefix + key] = value
        elif isinstance(value, dict):
            sub_arrays, sub_meta = flatten(value, f"{prefix}{key}/")
            arrays.update(sub_arrays)
            meta[key] = sub_meta
        else:
            meta[key] = value
    return arrays, meta


def unflatten(arrays: dict[str, np.ndarray], meta: dict, prefix: str = "") -> dict:
    """The nested dict ``flatten`` split into ``arrays`` (those under ``prefix``) and ``meta``."""
    state = _copy_tree(meta)
    for name, value in arrays.items():
        if not name.startswith(prefix):
            continue
        *path, leaf = name[len(prefix) :].split("/")
        node = state
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return state


def _copy_tree(meta):
    return {k: _copy_tree(v) if isinstance(v, dict) else v for k, v in meta.items()}


def group(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays named ``prefix...`` with the prefix removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}


def copy_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of every array of a flat dict."""
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


def check_same_layout(current: dict[str, np.ndarray], saved: dict[str, np.ndarray], where) -> None:
    """Refuses saved weights whose names or shapes differ from the model's.

    Args:
        current: name -> array of the model being resumed (or evaluated).
        saved: name -> array from the checkpoint.
        where: the checkpoint, for the message.

    Raises:
        CheckpointError: naming the missing/extra names or the first mismatched shape.
    """
    if set(current) != set(saved):
        missing, extra = sorted(set(current) - set(saved)), sorted(set(saved) - set(current))
        raise CheckpointError(
            f"checkpoint {where} does not fit the model: missing {missing}, unexpected {extra}"
        )
    for k, v in current.items():
        if np.shape(saved[k]) != np.shape(v):
            raise CheckpointError(
                f"checkpoint {where} has {k} of shape {np.shape(saved[k])}, the model wants "
                f"{np.shape(v)}"
            )


def generator_state(rng: np.random.Generator) -> dict:
    """A NumPy generator's state as JSON (a dict of ints and strings)."""
    return rng.bit_generator.state


def set_generator_state(rng: np.random.Generator, state: dict) -> None:
    """Restores what ``generator_state`` returned."""
    rng.bit_generator.state = state


class SingleProcess:
    """The processes of a run when there is one: rank 0 of 1, which writes the files.

    A data-parallel loop passes an object with the same members that talks to the others
    (``torchkit.distributed.DistContext``).
    """

    rank = 0
    world_size = 1
    is_main = True

    def barrier(self) -> None:
        """Waits for every process (nothing to wait for here)."""

    def all_gather(self, obj) -> list:
        """Every process's ``obj``, in rank order."""
        return [obj]


def rank_entry(meta: dict, world_size: int, rank: int, where) -> dict:
    """This rank's saved per-process state, refusing a checkpoint of another world size."""
    ranks = meta.get("ranks", [])
    if len(ranks) != world_size:
        raise CheckpointError(
            f"checkpoint {where} was written by {len(ranks)} process(es); resume it with the "
            f"same number (this run has {world_size})"
        )
    return ranks[rank]
