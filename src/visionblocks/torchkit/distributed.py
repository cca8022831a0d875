"""Data-parallel training with ``torch.distributed``: set-up from torchrun's environment, a
distributed batch sampler, and reductions of metrics across ranks.

Under ``torchrun --nproc_per_node=N`` every process trains a replica wrapped in
``DistributedDataParallel`` (gloo on CPU, nccl on GPU). Each step draws one *global* batch with
the same seeded generator on every rank, augments it with the same generator, and gives rank r
the rows ``r, r + N, r + 2N, ...``; DDP averages the gradients of the equal shards, so every
step equals a single-process step over the whole global batch (exactly, up to float rounding).
Only rank 0 prints and writes files.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from visionblocks.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Waits for every process (the training core's ``processes`` interface)."""
        if self.enabled:
            dist.barrier()

    def all_gather(self, obj) -> list:
        """Every process's ``obj`` (picklable; in memory, never from a file), in rank order:
        the training core saves each rank's random generators through it."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def pick_device(name=None, local_rank=0) -> torch.device:
    """The device to train on: ``name`` when given, else cuda, then mps, then cpu."""
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available")
        if name == "cuda":  # one GPU per process under torchrun
            return torch.device("cuda", local_rank)
        try:
            return torch.device(name)
        except RuntimeError:
            raise ConfigError(f"unknown device {name!r}; use cuda, mps or cpu") from None
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def setup(device_name=None) -> tuple[DistContext, torch.device]:
    """Joins the process group when launched by torchrun (WORLD_SIZE > 1); else single process.

    On ranks other than 0, stdout is silenced so that only rank 0 prints.

    Returns:
        (context, device).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), pick_device(device_name)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (lives as long as the process)
    return DistContext(rank, world, local), device


def teardown() -> None:
    """Leaves the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class DistributedBatchSampler:
    """Seeded global batches split across ranks.

    Every rank draws the same permutation from the same generator, cuts it into global batches
    of ``batch_size`` (dropping the incomplete last one, as the NumPy Solver does) and keeps
    ``batch[rank::world_size]``. With world_size 1 it is the Solver's minibatch order.
    """

    def __init__(self, num_examples, batch_size, rng, ctx=DistContext()):
        """Args:
        num_examples: size of the training set.
        batch_size: the global batch size (divisible by the world size).
        rng: np.random.Generator shared (same seed) by every rank.
        ctx: the DistContext.
        """
        if batch_size > num_examples:
            raise ConfigError(f"batch_size {batch_size} is larger than the {num_examples} "
                              "training examples")  # fmt: skip
        if batch_size % ctx.world_size:
            raise ConfigError(f"batch_size {batch_size} must be divisible by the "
                              f"{ctx.world_size} processes")  # fmt: skip
        self.num_examples, self.batch_size, self.rng, self.ctx = num_examples, batch_size, rng, ctx

    def __len__(self) -> int:
        return self.num_examples // self.batch_size

    def epoch(self):
        """Yields (global_batch_indices, this rank's row positions within that batch)."""
        perm = self.rng.permutation(self.num_examples)
        mine = np.arange(self.ctx.rank, self.batch_size, self.ctx.world_size)
        for i in range(len(self)):
            yield perm[i * self.batch_size : (i + 1) * self.batch_size], mine


def all_reduce_sum(values, device, ctx):
    """Sums a list of floats over the ranks (identity in a single process)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if ctx.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_reduce_mean(value: float, device, ctx) -> float:
    """Averages one float over the ranks."""
    return all_reduce_sum([value], device, ctx)[0] / ctx.world_size


def max_param_spread(module, ctx) -> float:
    """max over parameters of (max over ranks - min over ranks); 0.0 when replicas agree."""
    if not ctx.enabled:
        return 0.0
    spread = 0.0
    for p in module.parameters():
        hi, lo = p.detach().clone(), p.detach().clone()
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        spread = max(spread, float((hi - lo).abs().max()))
    return spread


def broadcast_str(text: str | None, ctx) -> str | None:
    """Rank 0's string on every rank."""
    if not ctx.enabled:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx) -> None:
    """Waits for every process of ``ctx``."""
    ctx.barrier()
