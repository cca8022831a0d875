"""The training core's state hooks for a torch loop over one model and one optimizer.

``Trainer``, ``LikelihoodTrainer`` and ``Pretrainer`` each train ``self.model`` with
``self.optimizer`` on ``self.device``; this mixin gives their ``EpochLoop`` the weights
(``model_state`` / ``load_model_state``) and the optimizer state (``train_state`` /
``load_train_state``) once. Their random generators differ, so ``rank_state`` stays theirs.
"""

from __future__ import annotations

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
