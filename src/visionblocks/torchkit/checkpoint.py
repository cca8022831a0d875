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


def get_rng_state(device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(torch's CPU generator state, the CUDA generator state of ``device`` or None off CUDA).

    Args:
        device: the torch.device trained on; only a CUDA device has a device generator here.
    """
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def set_rng_state(cpu: torch.Tensor, cuda, device) -> None:
    """Restores what ``get_rng_state`` returned (the CUDA part only on a CUDA device)."""
    torch.set_rng_state(cpu)
    if device.type == "cuda":
        if cuda is None:
            raise ValueError(f"no CUDA generator state to restore on {device}")
        torch.cuda.set_rng_state(cuda, device)


def seeded_cuda_state(device, seed: int):
    """The state of ``device``'s CUDA generator seeded with ``seed`` (None off CUDA), made on
    a fork so the caller's generator is untouched; seeded once per run, then checkpointed."""
    if device.type != "cuda":
        return None
    with torch.random.fork_rng(devices=[device]), torch.cuda.device(device):
        torch.cuda.manual_seed(seed)
        return torch.cuda.get_rng_state(device)
