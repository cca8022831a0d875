"""Contrastive losses with the course's API (CS231n assignment 3, SimCLR): the NT-Xent loss
naive and vectorised, and InfoNCE over a queue of negatives for MoCo.

``out_left[k]`` and ``out_right[k]`` are the projections of two views of image k. The 2N
projections are stacked as ``out = cat([out_left, out_right])``, so the positive of row k is
row k + N and vice versa; every other row is a negative. All similarities are cosine ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visionblocks.errors import ConfigError, ShapeError


def _check_pair(out_left, out_right):
    for name, t in (("out_left", out_left), ("out_right", out_right)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            shape = tuple(t.shape) if hasattr(t, "shape") else type(t).__name__
            raise ShapeError(f"{name} must be a 2-D tensor (N, D), got {shape}")
    if out_left.shape != out_right.shape:
        raise ShapeError(f"out_left {tuple(out_left.shape)} and out_right "
                         f"{tuple(out_right.shape)} must have the same shape")  # fmt: skip


def _check_tau(tau):
    if not tau > 0:
        raise ConfigError(f"tau must be > 0, got {tau}")


def _normalize(x):
    """Rows of x (M, D) scaled to unit L2 norm."""
    return x / torch.linalg.norm(x, dim=1, keepdim=True)


def sim(z_i, z_j):
    """Normalised dot product (cosine similarity) of two vectors.

    Args:
        z_i, z_j: (D,) vectors.

    Returns:
        a 0-d tensor: z_i . z_j / (|z_i| |z_j|).
    """
    return torch.dot(z_i, z_j) / (torch.linalg.norm(z_i) * torch.linalg.norm(z_j))


def simclr_loss_naive(out_left, out_right, tau):
    """The NT-Xent loss of SimCLR with explicit loops over the 2N examples (the oracle).

    For a positive pair (i, j): l(i, j) = -log( exp(sim(z_i, z_j) / tau) /
    sum_{k != i} exp(sim(z_i, z_k) / tau) ); the loss averages l(k, k+N) and l(k+N, k) over k.

    Args:
        out_left: (N, D) projections of the first views.
        out_right: (N, D) projections of the second views.
        tau: temperature (> 0).

    Returns:
        a 0-d tensor: the mean loss over the 2N examples.
    """
    _check_pair(out_left, out_right)
    _check_tau(tau)
    n = out_left.shape[0]
    out = torch.cat([out_left, out_right], dim=0)  # (2N, D)
    total = out.new_zeros(())
    for k in range(n):
        z_k, z_k_n = out_left[k], out_right[k]
        for anchor, positive, a in ((z_k, z_k_n, k), (z_k_n, z_k, k + n)):
            denom = out.new_zeros(())
            for i in range(2 * n):
                if i != a:
                    denom = denom + torch.exp(sim(anchor, out[i]) / tau)
            total = total - torch.log(torch.exp(sim(anchor, positive) / tau) / denom)
    return total / (2 * n)


def sim_positive_pairs(out_left, out_right):
    """Cosine similarity of each positive pair.

    Args:
        out_left, out_right: (N, D) projections of the two views.

    Returns:
        (N, 1) tensor: sim(out_left[k], out_right[k]).
    """
    _check_pair(out_left, out_right)
    return (_normalize(out_left) * _normalize(out_right)).sum(dim=1, keepdim=True)  # (N, 1)


def compute_sim_matrix(out):
    """Cosine similarities of every pair of the 2N augmented examples.

    Args:
        out: (2N, D) projections, the first views then the second ones.

    Returns:
        (2N, 2N) tensor: entry (i, j) is sim(out[i], out[j]).
    """
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ShapeError(f"out must be a 2-D tensor (2N, D), got {getattr(out, 'shape', out)}")
    z = _normalize(out)
    return z @ z.t()  # (2N, 2N)


def simclr_loss_vectorized(out_left, out_right, tau, device="cuda"):
    """The NT-Xent loss without loops, equal to ``simclr_loss_naive``.

    Args:
        out_left, out_right: (N, D) projections of the two views.
        tau: temperature (> 0).
        device: the course's argument; the computation runs on the tensors' own device, so
            the default 'cuda' also works on a machine without CUDA.

    Returns:
        a 0-d tensor: the mean loss over the 2N examples.
    """
    _check_pair(out_left, out_right)
    _check_tau(tau)
    n = out_left.shape[0]
    dev = out_left.device  # the tensors' device, whatever ``device`` says
    out = torch.cat([out_left, out_right], dim=0)  # (2N, D)
    exponential = torch.exp(compute_sim_matrix(out) / tau)  # (2N, 2N)
    mask = ~torch.eye(2 * n, dtype=torch.bool, device=dev)  # every k != i
    denom = (exponential * mask).sum(dim=1, keepdim=True)  # (2N, 1)
    pos = sim_positive_pairs(out_left, out_right)  # (N, 1)
    numerator = torch.exp(torch.cat([pos, pos], dim=0) / tau)  # (2N, 1)
    return torch.mean(-torch.log(numerator / denom))


def nt_xent_cross_entropy(out_left, out_right, tau):
    """NT-Xent as a (2N)-way cross-entropy over the similarity logits (self excluded): the
    numerically stable form used in training, equal to ``simclr_loss_vectorized``."""
    _check_pair(out_left, out_right)
    _check_tau(tau)
    n = out_left.shape[0]
    out = torch.cat([out_left, out_right], dim=0)  # (2N, D)
    logits = compute_sim_matrix(out) / tau  # (2N, 2N)
    eye = torch.eye(2 * n, dtype=torch.bool, device=out.device)
    logits = logits.masked_fill(eye, float("-inf"))
    target = (torch.arange(2 * n, device=out.device) + n) % (2 * n)  # (2N,) row k's positive
    return F.cross_entropy(logits, target)


def info_nce(q, k, queue, tau):
    """InfoNCE of MoCo: for each query, its key is the positive and the queue the negatives.

    Args:
        q: (N, D) query projections. k: (N, D) key projections (no gradient needed).
        queue: (D, K) earlier keys (unit columns). tau: temperature (> 0).

    Returns:
        loss: a 0-d tensor, the cross-entropy with the positive in column 0.
        logits: (N, 1 + K) the logits, the positive in column 0.
    """
    _check_pair(q, k)
    _check_tau(tau)
    if queue.ndim != 2 or queue.shape[0] != q.shape[1]:
        raise ShapeError(f"queue must be (D={q.shape[1]}, K), got {tuple(queue.shape)}")
    q, k = _normalize(q), _normalize(k)
    l_pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    l_neg = q @ queue  # (N, K)
    logits = torch.cat([l_pos, l_neg], dim=1) / tau  # (N, 1 + K)
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels), logits
