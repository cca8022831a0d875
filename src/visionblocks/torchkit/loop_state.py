"""The training core's state hooks for a torch loop over one model and one optimizer.

``Trainer``, ``LikelihoodTrainer`` and ``Pretrainer`` each train ``self.model`` with
``self.optimizer`` on ``self.device``; this mixin gives their ``EpochLoop`` the weights
(``model_state`` / ``load_model_state``) and the optimizer state (``train_state`` /
``load_train_state``) once. Their random generators differ, so ``rank_state`` stays theirs;
``TorchGenerators`` holds the torch generators that dropout draws from (forked in for training,
checkpointed), for the loops that need them (``Trainer``, ``TorchCaptioningSolver``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from visionblocks.errors import ConfigError
from visionblocks.torchkit import checkpoint as ckpt
from visionblocks.training import state as S


class TorchLoopState:
    """``EpochLoop`` hooks for ``self.model`` and ``self.optimizer`` (on ``self.device``)."""

    def model_state(self):
        return ckpt.state_arrays(self.model.state_dict(), "params/")

    def load_model_state(self, arrays):
        ckpt.load_state(self.model, S.group(arrays, "params/"))

    def train_state(self):
        arrays, meta = ckpt.optimizer_state(self.optimizer)
        return S.unflatten(arrays, {"optim": meta})

    def load_train_state(self, state):
        arrays, meta = S.flatten({"optim": state["optim"]})
        ckpt.load_optimizer_state(self.optimizer, arrays, meta["optim"], self.device)


class TorchGenerators:
    """Dropout draws from torch's global generators: a loop keeps its own (CPU, and CUDA on a
    GPU), runs ``train()`` on a fork of the global ones set from them (``session``), so the
    caller's random state is left as it was, and checkpoints them per rank."""

    def seed_torch_generators(self, seed: int) -> None:
        self.torch_rng = torch.Generator().manual_seed(int(seed)).get_state()
        self.cuda_rng = ckpt.seeded_cuda_state(self.device, int(seed))
        self._in_session = False

    def torch_generator_state(self) -> dict:
        """{"torch": CPU state[, "cuda": CUDA state]}; inside ``train()`` the fork's."""
        torch_cpu, cuda = self.torch_rng, self.cuda_rng
        if self._in_session:
            torch_cpu, cuda = ckpt.get_rng_state(self.device)
        out = {"torch": ckpt.to_array(torch_cpu)}
        if cuda is not None:
            out["cuda"] = ckpt.to_array(cuda)
        return out

    def load_torch_generator_state(self, state) -> None:
        self.torch_rng = torch.from_numpy(np.ascontiguousarray(state["torch"]))
        if (self.device.type == "cuda") != ("cuda" in state):
            raise ConfigError(f"{self.out_dir}/last was trained "
                              f"{'on' if 'cuda' in state else 'off'} CUDA; resume it on the "
                              "same kind of device for the same numbers")  # fmt: skip
        if "cuda" in state:
            self.cuda_rng = torch.from_numpy(np.ascontiguousarray(state["cuda"]))

    @contextlib.contextmanager
    def session(self):
        """Runs on a fork of torch's generators set from ours (the caller's stay as they were)."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            ckpt.set_rng_state(self.torch_rng, self.cuda_rng, self.device)
            self._in_session = True
            try:
                yield
            finally:
                self._in_session = False
                self.torch_rng, self.cuda_rng = ckpt.get_rng_state(self.device)
