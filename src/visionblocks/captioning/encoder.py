"""The captioners' image encoder: a small NumPy ConvNet of ours, trained as an attribute
classifier on the offline set's training split, then frozen.

Architecture (3x3 'same' convolutions, ReLU, the fast conv and pool layers of
``visionblocks.layers``)::

    conv(c1) - relu - pool2 - conv(c2) - relu - pool2 - conv(c3) - relu - conv(c3) - relu
      -> the last conv map (N, c3, S/4, S/4)          ('cnn-grid': attention's annotations)
      -> global average pool (N, c3)                   ('cnn': CaptioningRNN's feature vector)
      -> affine -> seven softmax heads (the attributes below)

Targets (``attribute_targets``): the attributes of the two objects in a canonical order, the
left (horizontal relations) or upper (vertical relations) object first: first colour (5),
first shape (4), first size (2), second colour / shape / size with an extra "no second
object" class (6, 5, 3), and the layout (one object, side by side, one over the other: 3).
Colour and shape are separate heads on purpose: the encoder never sees a (colour, shape)
combination as a class, so a held-out pair is only a new combination of attributes it was
trained to see, not an unseen label. The canonical order (rather than the caption's object 0,
which is arbitrary) makes every target a function of the picture alone. The loss is the mean
of the heads' softmax losses.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from visionblocks.layers import (
    affine_backward,
    affine_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    global_avg_pool_backward,
    global_avg_pool_forward,
    softmax_loss,
)
from visionblocks.models.init import init_weight
from visionblocks.optim.rules import adam

__all__ = ["HEADS", "attribute_targets", "CNNEncoder", "train_encoder", "cached_encoder"]

#: the classifier's heads and their class counts (see the module docstring)
HEADS = (("colour_a", 5), ("shape_a", 4), ("size_a", 2), ("colour_b", 6), ("shape_b", 5),
         ("size_b", 3), ("layout", 3))  # fmt: skip
_POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
_CONV = {"stride": 1, "pad": 1}


def attribute_targets(objects: np.ndarray, relations: np.ndarray) -> np.ndarray:
    """(N, 7) int64 class per head of ``HEADS`` from the set's object rows and relations."""
    from visionblocks.captioning.synthetic import COLOUR, SHAPE, SIZE

    objects, relations = np.asarray(objects), np.asarray(relations)
    n = len(objects)
    # object 0 comes first when it is left of (rel 0) or above (rel 2) object 1, or alone
    first = np.where(np.isin(relations, (1, 3)), 1, 0)
    a = objects[np.arange(n), first]
    b = objects[np.arange(n), 1 - first]
    two = relations >= 0
    out = np.empty((n, len(HEADS)), np.int64)
    out[:, 0], out[:, 1], out[:, 2] = a[:, COLOUR], a[:, SHAPE], a[:, SIZE]
    out[:, 3] = np.where(two, b[:, COLOUR], 5)
    out[:, 4] = np.where(two, b[:, SHAPE], 4)
    out[:, 5] = np.where(two, b[:, SIZE], 2)
    out[:, 6] = np.where(~two, 0, np.where(relations <= 1, 1, 2))
    return out


class CNNEncoder:
    """The encoder's parameters and passes (float32).

    Args:
        image_size: S of the (N, 3, S, S) images (divisible by 4).
        channels: (c1, c2, c3) filters of the conv stages.
        seed: the initialisation.
    """

    def __init__(self, image_size=32, channels=(16, 32, 64), seed=0):
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(f"channels must be three positive sizes, got {channels!r}")
        self.image_size, self.channels = int(image_size), tuple(int(c) for c in channels)
        rng = np.random.default_rng(seed)
        c1, c2, c3 = self.channels
        p = {}
        for i, (f, c) in enumerate(((c1, 3), (c2, c1), (c3, c2), (c3, c3)), start=1):
            p[f"W{i}"] = init_weight(rng, (f, c, 3, 3), c * 9, f * 9, 1e-2, "he", np.float32)
            p[f"b{i}"] = np.zeros(f, np.float32)
        k = sum(n for _, n in HEADS)
        p["W5"] = init_weight(rng, (c3, k), c3, k, 1e-2, "xavier", np.float32)
        p["b5"] = np.zeros(k, np.float32)
        self.params = p
        self.pixel_mean = np.zeros((3, 1, 1), np.float32)
        self.pixel_std = np.ones((3, 1, 1), np.float32)

    def _input(self, images):
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (3, self.image_size, self.image_size):
            raise ValueError(f"images must be (N, 3, {self.image_size}, {self.image_size}), "
                             f"got {images.shape}")  # fmt: skip
        x = images.astype(np.float32) / 255.0
        return (x - self.pixel_mean) / self.pixel_std

    def _forward(self, images):
        p = self.params
        h, c1 = conv_relu_pool_forward(self._input(images), p["W1"], p["b1"], _CONV, _POOL)
        h, c2 = conv_relu_pool_forward(h, p["W2"], p["b2"], _CONV, _POOL)
        h, c3 = conv_relu_forward(h, p["W3"], p["b3"], _CONV)
        fmap, c4 = conv_relu_forward(h, p["W4"], p["b4"], _CONV)  # (N, c3, S/4, S/4)
        vec, c5 = global_avg_pool_forward(fmap)  # (N, c3)
        return fmap, vec, (c1, c2, c3, c4, c5)

    def scores(self, images):
        """(N, sum of head sizes) class scores."""
        _, vec, _ = self._forward(images)
        return vec @ self.params["W5"] + self.params["b5"]

    def loss(self, images, targets):
        """Mean softmax loss over the heads and the gradients of every parameter."""
        p = self.params
        fmap, vec, (c1, c2, c3, c4, c5) = self._forward(images)
        s, c6 = affine_forward(vec, p["W5"], p["b5"])
        ds = np.empty_like(s)
        loss, start = 0.0, 0
        for j, (_, k) in enumerate(HEADS):
            l_j, d_j = softmax_loss(s[:, start : start + k], targets[:, j])
            loss += l_j / len(HEADS)
            ds[:, start : start + k] = d_j / len(HEADS)
            start += k
        g = {}
        dvec, g["W5"], g["b5"] = affine_backward(ds, c6)
        dh = global_avg_pool_backward(dvec, c5)
        dh, g["W4"], g["b4"] = conv_relu_backward(dh, c4)
        dh, g["W3"], g["b3"] = conv_relu_backward(dh, c3)
        dh, g["W2"], g["b2"] = conv_relu_pool_backward(dh, c2)
        _, g["W1"], g["b1"] = conv_relu_pool_backward(dh, c1)
        return float(loss), g

    def predict(self, images, batch_size=500) -> np.ndarray:
        """(N, 7) predicted class per head."""
        out = []
        for i in range(0, len(images), batch_size):
            s = self.scores(images[i : i + batch_size])
            parts, start = [], 0
            for _, k in HEADS:
                parts.append(s[:, start : start + k].argmax(axis=1))
                start += k
            out.append(np.stack(parts, axis=1))
        return np.concatenate(out) if out else np.zeros((0, len(HEADS)), np.int64)

    def accuracy(self, images, targets) -> dict:
        """Per-head accuracy, and ``first_colour_shape``: both of the first object right."""
        pred = self.predict(images)
        acc = {name: float((pred[:, j] == targets[:, j]).mean()) for j, (name, _) in
               enumerate(HEADS)}  # fmt: skip
        acc["first_colour_shape"] = float(((pred[:, 0] == targets[:, 0]) &
                                           (pred[:, 1] == targets[:, 1])).mean())  # fmt: skip
        return acc

    def encode(self, images, kind="cnn", batch_size=500) -> np.ndarray:
        """Frozen features: 'cnn' (N, c3) pooled vectors or 'cnn-grid' (N, c3, S/4, S/4) maps."""
        if kind not in ("cnn", "cnn-grid"):
            raise ValueError(f"kind must be 'cnn' or 'cnn-grid', got {kind!r}")
        out = []
        for i in range(0, len(images), batch_size):
            fmap, vec, _ = self._forward(images[i : i + batch_size])
            out.append(np.ascontiguousarray(fmap if kind == "cnn-grid" else vec, np.float32))
        return np.concatenate(out)

    def state(self) -> dict:
        return {**self.params, "pixel_mean": self.pixel_mean, "pixel_std": self.pixel_std}

    def load_state(self, arrays) -> None:
        for k in self.params:
            self.params[k] = np.asarray(arrays[k], np.float32)
        self.pixel_mean = np.asarray(arrays["pixel_mean"], np.float32)
        self.pixel_std = np.asarray(arrays["pixel_std"], np.float32)


def train_encoder(
    ds,
    epochs=12,
    batch_size=50,
    lr=3e-3,
    channels=(16, 32, 64),
    seed=0,
    num_train=None,
    verbose=False,
) -> tuple[CNNEncoder, dict]:
    """Trains the attribute classifier on ``ds``'s train split only (Adam, seeded batches).

    Args:
        ds: a ``CaptionDataset``.
        epochs, batch_size, lr: the training (lr decays by 0.8 per epoch).
        channels: (c1, c2, c3) of ``CNNEncoder``.
        seed: initialisation and batch order.
        num_train: use the first that many training images (None: all).

    Returns:
        the trained encoder and a record: per-epoch loss, the val per-head accuracy (when the
        set has a val split), the seconds taken.
    """
    import time

    t0 = time.perf_counter()
    images = ds.images["train"][:num_train]
    targets = attribute_targets(ds.objects["train"][:num_train], ds.relations["train"][:num_train])
    enc = CNNEncoder(images.shape[2], channels, seed)
    x = images.astype(np.float32) / 255.0
    enc.pixel_mean = x.mean(axis=(0, 2, 3)).reshape(3, 1, 1).astype(np.float32)
    enc.pixel_std = (x.std(axis=(0, 2, 3)).reshape(3, 1, 1) + 1e-6).astype(np.float32)
    del x
    rng = np.random.default_rng(seed)
    configs = {k: {"learning_rate": lr} for k in enc.params}
    losses = []
    n = len(images)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss, grads = enc.loss(images[idx], targets[idx])
            total += loss * len(idx)
            for k, g in grads.items():
                enc.params[k], configs[k] = adam(enc.params[k], g.astype(np.float32), configs[k])
        for c in configs.values():
            c["learning_rate"] *= 0.8
        losses.append(total / max(n, 1))
        if verbose:
            print(f"encoder epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}", flush=True)
    record = {"loss": losses, "epochs": epochs, "channels": list(channels), "seed": seed,
              "num_train": n}  # fmt: skip
    if len(ds.images.get("val", ())):
        record["val_accuracy"] = enc.accuracy(
            ds.images["val"], attribute_targets(ds.objects["val"], ds.relations["val"])
        )
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return enc, record


def cached_encoder(ds, cache_dir=None, **kw) -> tuple[CNNEncoder, dict]:
    """``train_encoder(ds, **kw)``, kept in ``cache_dir`` (``encoder-HASH.npz`` + ``.json``,
    the hash of the set's meta and the settings) so that later runs reuse the frozen weights."""
    if cache_dir is None:
        return train_encoder(ds, **kw)
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items() if k != "verbose"}
    key = json.dumps({"meta": ds.meta, **settings}, sort_keys=True)
    name = "encoder-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"{name}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        record = json.loads(path.with_suffix(".json").read_text())
        enc = CNNEncoder(ds.images["train"].shape[2], tuple(record["channels"]))
        enc.load_state(arrays)
        return enc, record
    enc, record = train_encoder(ds, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **enc.state())
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return enc, record
