"""Three ways to write the same small ConvNet in PyTorch, trained side by side.

conv(3x3, 8) - relu - 2x2 max pool - conv(3x3, 16) - relu - 2x2 max pool - affine, on the
embedded 8x8 digits:

1. barebones: explicit parameter tensors with ``requires_grad`` and a hand-written SGD step
   under ``torch.no_grad()``;
2. an ``nn.Module`` subclass with ``torch.optim.SGD``;
3. an ``nn.Sequential`` with ``torch.optim.SGD``.

All three start from the same weights and see the same minibatches, so their losses agree to
float rounding and they end with the same accuracy. Run ``python examples/three_ways.py``;
the guide is docs/three_ways.md.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visionblocks.data import load_dataset


def initial_weights(seed=0):
    """He-initialised weights for the net, as plain tensors (the one source of all three)."""
    g = torch.Generator().manual_seed(seed)

    def he(*shape, fan_in):
        return torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5

    return {
        "w1": he(8, 1, 3, 3, fan_in=9), "b1": torch.zeros(8),
        "w2": he(16, 8, 3, 3, fan_in=72), "b2": torch.zeros(16),
        "w3": he(10, 16 * 2 * 2, fan_in=64), "b3": torch.zeros(10),
    }  # fmt: skip


# ----------------------------------------------------------------- 1. barebones functional
def barebones_forward(x, p):
    """x: (N, 1, 8, 8) images; p: dict of parameter tensors -> scores (N, 10)."""
    h = F.max_pool2d(F.relu(F.conv2d(x, p["w1"], p["b1"], padding=1)), 2)  # (N, 8, 4, 4)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["w2"], p["b2"], padding=1)), 2)  # (N, 16, 2, 2)
    return F.linear(h.flatten(1), p["w3"], p["b3"])  # (N, 64) -> (N, 10)


def train_barebones(data, weights, batches, lr):
    params = {k: v.clone().requires_grad_() for k, v in weights.items()}
    losses = []
    for idx in batches:
        x, y = data["X"][idx], data["y"][idx]
        loss = F.cross_entropy(barebones_forward(x, params), y)
        loss.backward()
        with torch.no_grad():  # the update itself must not be recorded by autograd
            for p in params.values():
                p -= lr * p.grad
                p.grad.zero_()
        losses.append(loss.item())
    return losses, lambda x: barebones_forward(x, params)


# ----------------------------------------------------------------------- 2. nn.Module
class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        """x: (N, 1, 8, 8) -> scores (N, 10)."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 8, 4, 4)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (N, 16, 2, 2)
        return self.fc(h.flatten(1))  # (N, 64) -> (N, 10)


def sequential_net():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10),
    )  # fmt: skip


def load_weights(model, weights):
    """Copies the shared initial weights into a module's parameters, in order."""
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights.values(), strict=True):
            p.copy_(w)
    return model


def train_module(model, data, batches, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    model.train()
    for idx in batches:
        loss = F.cross_entropy(model(data["X"][idx]), data["y"][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model


@torch.no_grad()
def accuracy(predict, X, y):
    if isinstance(predict, nn.Module):
        predict.eval()
    return float((predict(X).argmax(1) == y).float().mean())


def main(epochs=10, batch_size=32, lr=0.05, num_train=None, seed=0, verbose=True):
    """Trains the three versions on the same batches.

    Returns:
        dict name -> {'losses': [...], 'val_acc': float}.
    """
    raw = load_dataset("digits", num_train=num_train, seed=seed)
    train = {"X": torch.from_numpy(raw["X_train"]), "y": torch.from_numpy(raw["y_train"])}
    X_val, y_val = torch.from_numpy(raw["X_val"]), torch.from_numpy(raw["y_val"])
    rng = np.random.default_rng(seed)
    n = len(train["y"])
    batches = [torch.from_numpy(perm[i : i + batch_size])
               for perm in (rng.permutation(n) for _ in range(epochs))
               for i in range(0, n - batch_size + 1, batch_size)]  # fmt: skip
    weights = initial_weights(seed)
    results = {}
    losses, predict = train_barebones(train, weights, batches, lr)
    results["barebones"] = {"losses": losses, "val_acc": accuracy(predict, X_val, y_val)}
    for name, model in (("module", SmallConvNet()), ("sequential", sequential_net())):
        losses, model = train_module(load_weights(model, weights), train, batches, lr)
        results[name] = {"losses": losses, "val_acc": accuracy(model, X_val, y_val)}
    if verbose:
        ref = results["barebones"]["losses"]
        for name, r in results.items():
            gap = max(abs(a - b) for a, b in zip(r["losses"], ref))
            print(f"{name:<11} final loss {r['losses'][-1]:.4f}  val acc {r['val_acc']:.4f}  "
                  f"max |loss - barebones| {gap:.1e}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
