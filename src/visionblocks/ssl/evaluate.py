"""Evaluation protocols for learned features: the weighted kNN monitor, class-balanced label
subsets, the linear probe on a frozen encoder and fine-tuning with few labels.

Every function returns the protocol it ran beside the numbers (``protocol`` strings), so a
figure is never reported without how it was measured.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visionblocks.errors import ConfigError, ShapeError
from visionblocks.torchkit.trainer import Trainer

KNN_K, KNN_TAU = 200, 0.07


@torch.no_grad()
def encode(encoder, X, batch_size=512, device=None):
    """Features of X from ``encoder`` in eval mode (its train/eval mode is restored after).

    Args:
        encoder: an ``nn.Module`` mapping (B, C, H, W) to (B, F).
        X: (N, C, H, W) images (NumPy or torch).
        device: where to run (default: the encoder's device).

    Returns:
        (N, F) float32 CPU tensor.
    """
    was = encoder.training
    encoder.eval()
    dev = device or next(encoder.parameters()).device
    X = torch.as_tensor(X, dtype=torch.float32)
    parts = [encoder(X[i : i + batch_size].to(dev)).float().cpu()
             for i in range(0, X.shape[0], batch_size)]  # fmt: skip
    encoder.train(was)
    return torch.cat(parts) if parts else torch.zeros(0, encoder.out_dim)


@torch.no_grad()
def weighted_knn_predict(train_features, train_labels, features, num_classes, k=KNN_K,
                         tau=KNN_TAU, chunk=1024):  # fmt: skip
    """The weighted kNN classifier of Wu et al. (2018), the usual SSL monitor.

    Each query's k most cosine-similar training features vote for their labels with weight
    exp(s / tau), s the cosine similarity; the class with the largest total wins.

    Args:
        train_features: (M, F) memory bank. train_labels: (M,) its labels.
        features: (Q, F) queries. num_classes: C. k: neighbours (clipped to M). tau: > 0.

    Returns:
        (Q,) int64 predicted labels.
    """
    bank = torch.as_tensor(train_features, dtype=torch.float32)
    q = torch.as_tensor(features, dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
    if bank.ndim != 2 or q.ndim != 2 or bank.shape[1] != q.shape[1]:
        raise ShapeError(f"train_features (M, F) and features (Q, F) must share F, got "
                         f"{tuple(bank.shape)} and {tuple(q.shape)}")  # fmt: skip
    if labels.shape != (bank.shape[0],):
        raise ShapeError(f"train_labels must be ({bank.shape[0]},), got {tuple(labels.shape)}")
    if not tau > 0 or k < 1:
        raise ConfigError(f"k must be >= 1 and tau > 0, got {k} and {tau}")
    bank, q = F.normalize(bank, dim=1), F.normalize(q, dim=1)
    k = min(k, bank.shape[0])
    preds = []
    for i in range(0, q.shape[0], chunk):
        s = q[i : i + chunk] @ bank.t()  # (B, M) cosine similarities
        top_s, top_i = s.topk(k, dim=1)  # (B, k)
        w = torch.exp(top_s / tau)  # (B, k)
        votes = torch.zeros(s.shape[0], num_classes).scatter_add_(1, labels[top_i], w)  # (B, C)
        preds.append(votes.argmax(1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


def knn_accuracy(train_features, train_labels, features, labels, num_classes, k=KNN_K,
                 tau=KNN_TAU):  # fmt: skip
    """Accuracy of ``weighted_knn_predict`` on (features, labels)."""
    pred = weighted_knn_predict(train_features, train_labels, features, num_classes, k, tau)
    return float((pred.numpy() == np.asarray(labels)).mean())


# ------------------------------------------------------------------- label subsets
def parse_labels(text):
    """'1%', '10%', 'all' or a count ('600') -> ('fraction', 0.01) / ('all', None) /
    ('count', 600)."""
    text = str(text).strip()
    if text == "all":
        return "all", None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
    if m and 0 < float(m.group(1)) <= 100:
        return "fraction", float(m.group(1)) / 100
    if text.isdigit() and int(text) > 0:
        return "count", int(text)
    raise ConfigError(f"labels must be 'all', a percentage in (0, 100] like '1%' or a count "
                      f"like '600', got {text!r}")  # fmt: skip


def label_subset(y, labels, seed=0):
    """A class-balanced, seeded subset of the indices of y.

    Args:
        y: (N,) labels. labels: as ``parse_labels`` takes ('1%': 1% of N, split evenly over
            the classes, each class's share drawn at random). seed: the draw.

    Returns:
        (n,) sorted int64 indices.
    """
    y = np.asarray(y)
    kind, value = parse_labels(labels)
    if kind == "all":
        return np.arange(len(y))
    total = int(round(value * len(y))) if kind == "fraction" else value
    classes = np.unique(y)
    per = max(1, total // len(classes))
    rng = np.random.default_rng(seed)
    picked = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        if per > len(idx):
            raise ConfigError(f"labels={labels!r} asks {per} examples of class {c}, which has "
                              f"only {len(idx)}")  # fmt: skip
        picked.append(rng.choice(idx, per, replace=False))
    return np.sort(np.concatenate(picked))


# ------------------------------------------------------------------- the protocols
def _trainer(model, data, **kw):
    return Trainer(model, data, verbose=False, print_every=0, keep="best", **kw)


def _fit_softmax(F_tr, y_tr, num_classes, reg, max_iter):
    """Multinomial logistic regression by full-batch L-BFGS: mean cross-entropy + reg * |W|^2.

    Returns:
        the fitted ``nn.Linear``.
    """
    head = nn.Linear(F_tr.shape[1], num_classes, dtype=torch.float64)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    X = F_tr.double()
    y = torch.as_tensor(np.asarray(y_tr), dtype=torch.long)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(X), y) + reg * (head.weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


def _accuracy(head, feats, y):
    with torch.no_grad():
        pred = head(feats.double()).argmax(1).numpy()
    return float((pred == np.asarray(y)).mean())


PROBE_REGS = (1e-5, 1e-4, 1e-3, 1e-2)


def linear_probe(encoder, data, idx, regs=PROBE_REGS, max_iter=200, test=True):
    """Multinomial logistic regression on the frozen encoder's features.

    Features come once from the encoder in eval mode (no augmentation), standardised with the
    labelled subset's mean and std; the softmax regression is fitted by full-batch L-BFGS
    (zero start, so deterministic) for each L2 strength in ``regs``, and the one of the best
    validation accuracy is kept.

    Args:
        encoder: the encoder (not changed). data: the classic dict (X_train, y_train, X_val,
            y_val, X_test, y_test). idx: the labelled training rows (``label_subset``).
        regs: the L2 strengths tried (on the mean loss). max_iter: L-BFGS iterations.
        test: also score the test split (report it once).

    Returns:
        dict with val_acc, test_acc (or None), reg, n_labels and protocol.
    """
    if len(regs) == 0:
        raise ConfigError("regs must name at least one L2 strength")
    ftr = encode(encoder, data["X_train"][idx])
    mean, std = ftr.mean(0), ftr.std(0) + 1e-6
    fval = (encode(encoder, data["X_val"]) - mean) / std
    ftr = (ftr - mean) / std
    num_classes = int(np.max(data["y_train"])) + 1
    best = None
    for reg in regs:
        head = _fit_softmax(ftr, data["y_train"][idx], num_classes, reg, max_iter)
        acc = _accuracy(head, fval, data["y_val"])
        if best is None or acc > best[0]:
            best = (acc, reg, head)
    val_acc, reg, head = best
    test_acc = None
    if test:
        test_acc = _accuracy(head, (encode(encoder, data["X_test"]) - mean) / std, data["y_test"])
    protocol = (f"linear probe: frozen encoder (eval-mode BN, no augmentation), features "
                f"standardised on the {len(idx)} labelled images; softmax regression by "
                f"full-batch L-BFGS ({max_iter} iterations), L2 {reg:g} chosen on validation "
                f"from {list(regs)}")  # fmt: skip
    return {"val_acc": val_acc, "test_acc": test_acc, "reg": reg, "n_labels": int(len(idx)),
            "protocol": protocol}  # fmt: skip


def fine_tune(encoder, data, idx, epochs=30, lr=1e-3, batch_size=64, weight_decay=5e-4,
              augment=("crop:2", "flip"), seed=0, device=None, num_val_samples=2000,
              test=True):  # fmt: skip
    """Trains a copy of ``encoder`` with a new linear head on the labelled rows ``idx``.

    With a randomly initialised encoder this is supervised training from scratch on the same
    labels (the baseline). AdamW with a cosine schedule, the given augmentation, the best
    validation epoch kept (validation accuracy on a fixed seeded draw of ``num_val_samples``
    images each epoch; None: all).

    Returns:
        dict with val_acc, test_acc (or None), n_labels and protocol.
    """
    torch.manual_seed(seed)
    num_classes = int(np.max(data["y_train"])) + 1
    enc = copy.deepcopy(encoder).cpu()
    model = nn.Sequential(enc, nn.Linear(enc.out_dim, num_classes))
    sub = {"X_train": data["X_train"][idx], "y_train": data["y_train"][idx],
           "X_val": data["X_val"], "y_val": data["y_val"]}  # fmt: skip
    bs = min(batch_size, len(idx))
    tr = _trainer(model, sub, update_rule="adamw", lr=lr, weight_decay=weight_decay,
                  schedule="cosine", epochs=epochs, batch_size=bs, augment=list(augment),
                  seed=seed, device=device, eval_batch_size=500,
                  num_train_samples=500, num_val_samples=num_val_samples)  # fmt: skip
    tr.train()
    test_acc = tr.check_accuracy(data["X_test"], data["y_test"]) if test else None
    protocol = (f"fine-tune: whole encoder + linear head on the {len(idx)} labelled images, "
                f"AdamW lr {lr:g} cosine, weight decay {weight_decay:g}, batch {bs}, "
                f"augment {'+'.join(augment) or 'none'}, {epochs} epochs, best epoch by "
                f"validation accuracy on {num_val_samples or 'all'} images kept")  # fmt: skip
    return {"val_acc": tr.best_val_acc, "test_acc": test_acc, "n_labels": int(len(idx)),
            "protocol": protocol}  # fmt: skip
