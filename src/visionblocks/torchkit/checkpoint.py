"""Torch training state as the project's checkpoint pair (``.npz`` of arrays + ``.json``).

Tensors become NumPy arrays (bfloat16 ones float32) and go through
``visionblocks.checkpoint``: written atomically, loaded with ``allow_pickle=False`` and checked
against the SHA-256 in the JSON, so loading a checkpoint never executes code.
"""

from __future__ import annotations

import numpy as np
import torch


def to_array(t: torch.Tensor) -> np.ndarray:
    """A CPU NumPy copy of a tensor (bfloat16 widened to float32)."""
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().copy()


def state_arrays(state: dict, prefix: str) -> dict[str, np.ndarray]:
    """A state_dict's tensors as arrays named ``prefix + key``."""
    return {prefix + k: to_array(v) for k, v in state.items()}


def group(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose names start with ``prefix``, with the prefix removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}


def load_state(module, arrays: dict, device=None) -> None:
    """Loads arrays (state_dict keys) into ``module``; every key must match."""
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    module.load_state_dict(state, strict=True)
    if device is not None:
        module.to(device)


def optimizer_state(opt) -> tuple[dict[str, np.ndarray], dict]:
    """Splits an optimizer's state into arrays (``optim/<param>/<name>``) and JSON metadata."""
    sd = opt.state_dict()
    arrays, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                arrays[f"optim/{pid}/{name}"] = to_array(v)
            else:
                scalars.setdefault(str(pid), {})[name] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in sd["param_groups"]]  # fmt: skip
    return arrays, {"param_groups": groups, "scalars": scalars}


def load_optimizer_state(opt, arrays: dict, meta: dict, device) -> None:
    """Restores what ``optimizer_state`` saved."""
    state: dict[int, dict] = {}
    for key, v in group(arrays, "optim/").items():
        pid, name = key.split("/", 1)
        t = torch.from_numpy(np.ascontiguousarray(v))
        state.setdefault(int(pid), {})[name] = t if name == "step" else t.to(device)
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()}
              for g in meta["param_groups"]]  # fmt: skip
    opt.load_state_dict({"state": state, "param_groups": groups})
