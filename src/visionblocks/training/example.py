"""The training core's worked example: a line fitted by minibatch SGD, as an ``EpochLoop``."""

from __future__ import annotations

import numpy as np

from visionblocks.training import EpochLoop
from visionblocks.training import state as S


class LineFit(EpochLoop):
    """Fits ``y = w[0] * x + w[1]`` by minibatch SGD; keeps the epoch of lowest validation MSE."""

    monitor, higher_is_better = "val_mse", False

    def __init__(self, x, y, x_val, y_val, lr=0.1, batch_size=8, epochs=5, seed=0, **loop):
        """Args:
        x, y: (N,) training points. x_val, y_val: (M,) validation points.
        lr, batch_size, epochs, seed: the SGD settings.
        **loop: the core's options (out_dir, resume, verbose, print_every, hooks, ...).
        """
        self.x, self.y, self.x_val, self.y_val = x, y, x_val, y_val
        self.lr, self.batch_size = lr, batch_size
        self.w = np.zeros(2)  # (2,) slope and intercept
        self.rng = np.random.default_rng(seed)  # batch order and the gradient noise
        self.setup_loop(num_epochs=epochs, **loop)
        self.start_loop()  # resumes from out_dir/last when asked

    def batches(self):
        order = self.rng.permutation(len(self.x))  # (N,)
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def step(self, idx, iteration):
        err = self.w[0] * self.x[idx] + self.w[1] - self.y[idx]  # (B,) residuals
        grad = np.array([np.mean(err * self.x[idx]), np.mean(err)])  # (2,)
        self.w = self.w - self.lr * (grad + 0.01 * self.rng.standard_normal(2))
        return float(np.mean(err**2))

    def end_epoch(self, losses, train_seconds):
        val_err = self.w[0] * self.x_val + self.w[1] - self.y_val  # (M,)
        return {"loss": float(np.mean(losses)), "val_mse": float(np.mean(val_err**2))}

    def model_state(self):
        return {"w": self.w.copy()}

    def load_model_state(self, arrays):
        self.w = arrays["w"].copy()

    def rank_state(self):
        return {"rng": S.generator_state(self.rng)}

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["rng"])
