"""Linear classifiers trained by seeded minibatch SGD: ``LinearSVM`` and ``Softmax``."""

from __future__ import annotations

import numpy as np

from visionblocks._checks import as_float_array, check_labels
from visionblocks.classic.losses import softmax_loss_vectorized, svm_loss_vectorized
from visionblocks.errors import ShapeError, TrainingDivergedError


def append_bias(X):
    """The bias trick: appends a column of ones so that ``X @ W`` includes a bias row of W.

    Args:
        X: (N, D) or (N, C, H, W) examples.

    Returns:
        X_bias: (N, D + 1) with ones in the last column, in X's float dtype.
    """
    as_float_array("X", X)
    if X.ndim < 2:
        raise ShapeError(f"X must be a batch (N, D) or (N, C, H, W), got shape {X.shape}")
    flat = X.reshape(X.shape[0], int(np.prod(X.shape[1:])))  # (N, ...) -> (N, D); N may be 0
    return np.hstack([flat, np.ones((X.shape[0], 1), dtype=X.dtype)])


class LinearClassifier:
    """Scores ``X @ W`` with ``W: (D, C)``; subclasses choose the loss.

    With the bias trick (``append_bias``) the last row of W is the bias. ``train`` runs
    minibatch SGD: each epoch visits the examples in a fresh seeded permutation.
    """

    def __init__(self, seed=None):
        """Args:
        seed: seeds the initial weights and the minibatch order (an int or a Generator).
        """
        self.W = None
        self.rng = np.random.default_rng(seed)
        self.loss_history = []

    def train(
        self,
        X,
        y,
        learning_rate=1e-3,
        reg=1e-5,
        num_iters=100,
        batch_size=200,
        verbose=False,
        *,
        lr_decay=1.0,
        momentum=0.0,
        weight_scale=1e-3,
        num_classes=None,
    ):
        """Trains W by minibatch SGD (optionally with momentum) on ``self.loss``.

        Args:
            X: (N, D) training examples (append a ones column for a bias).
            y: (N,) integer labels in [0, C).
            learning_rate: step size.
            reg: L2 strength; the penalty is ``reg * sum(W**2)``.
            num_iters: number of SGD steps.
            batch_size: examples per step.
            verbose: print the loss every 100 steps.
            lr_decay: multiply the learning rate by this after each epoch (N / batch_size steps).
            momentum: classic momentum coefficient (0 = plain SGD).
            weight_scale: std of the Gaussian initialisation of W when W is still None.
            num_classes: C; default max(y) + 1.

        Returns:
            loss_history: list of the minibatch loss at every step.
        """
        as_float_array("X", X, ndim=2)
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        num_train, dim = X.shape
        if num_classes is None:
            num_classes = int(y.max()) + 1 if y.size else 0
        y = check_labels("y", y, num_train, num_classes)
        if batch_size < 1 or num_iters < 0 or not learning_rate >= 0:
            raise ValueError(
                f"need batch_size >= 1, num_iters >= 0, learning_rate >= 0; got {batch_size}, "
                f"{num_iters}, {learning_rate}"
            )
        if self.W is None:
            self.W = (weight_scale * self.rng.standard_normal((dim, num_classes))).astype(X.dtype)
        elif self.W.shape != (dim, num_classes):
            raise ShapeError(f"W has shape {self.W.shape}, the data need {(dim, num_classes)}")
        batch_size = min(batch_size, num_train)
        per_epoch = max(num_train // batch_size, 1)
        velocity = np.zeros_like(self.W)
        loss_history = self.loss_history = []
        order, pos = self.rng.permutation(num_train), 0
        for it in range(num_iters):
            if pos + batch_size > num_train:
                order, pos = self.rng.permutation(num_train), 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            loss, grad = self.loss(X[idx], y[idx], reg)
            if not np.isfinite(loss):
                raise TrainingDivergedError(
                    f"loss became {loss} at step {it}; lower learning_rate ({learning_rate})"
                )
            loss_history.append(loss)
            velocity *= momentum
            velocity -= learning_rate * grad
            self.W += velocity
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
            if (it + 1) % per_epoch == 0:
                learning_rate *= lr_decay
        return loss_history

    def scores(self, X):
        """Class scores.

        Args:
            X: (N, D) examples.

        Returns:
            scores: (N, C).
        """
        return self._check_X(X) @ self.W

    def _check_X(self, X):
        if self.W is None:
            raise RuntimeError("call train (or set W) before predicting")
        as_float_array("X", X, ndim=2)
        if X.shape[1] != self.W.shape[0]:
            raise ShapeError(
                f"X has {X.shape[1]} features per example, W expects {self.W.shape[0]} "
                "(did you forget append_bias?)"
            )
        return X

    def predict(self, X, batch_size=10000):
        """Predicted labels.

        Args:
            X: (N, D) examples.
            batch_size: rows scored at a time.

        Returns:
            y_pred: (N,) integer labels.
        """
        self._check_X(X)
        out = np.empty(X.shape[0], dtype=np.int64)
        for s in range(0, X.shape[0], batch_size):
            out[s : s + batch_size] = np.argmax(self.scores(X[s : s + batch_size]), axis=1)
        return out

    def loss(self, X_batch, y_batch, reg):
        """Loss and gradient on a minibatch.

        Args:
            X_batch: (B, D) examples.
            y_batch: (B,) labels.
            reg: L2 strength.

        Returns:
            loss: float; dW: (D, C).
        """
        raise NotImplementedError


class LinearSVM(LinearClassifier):
    """A linear classifier with the multiclass hinge loss (``svm_loss_vectorized``)."""

    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """A linear classifier with the softmax cross-entropy loss (``softmax_loss_vectorized``)."""

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
