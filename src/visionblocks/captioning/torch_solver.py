"""The torch captioning solver: ``CaptioningSolver``'s contract for ``nn.Module`` captioners.

Teacher forcing: each step draws a minibatch of ground-truth captions (with replacement, from
the solver's seeded generator, as the NumPy solver) and takes one torch optimizer step (Adam by
default) on the model's loss: its own ``loss(features, captions)`` (the twins of
``torchkit.models_captioning``: the NumPy temporal softmax loss, summed over time, averaged
over N) or, for a Transformer captioner, the course's ``transformer_temporal_softmax_loss``
(averaged over all N * T positions). The global gradient norm is clipped when asked, the
learning rate decays per epoch (``lr * lr_decay ** epoch``), and after every epoch the
validation images are captioned free-running (greedy, with the key/value cache for the
Transformers, or beam search) and scored with corpus BLEU-1..4 (``captioning.bleu``). The epoch
of highest validation BLEU-4 is kept. The training core (``training.EpochLoop``) gives the run
directory, ``metrics.jsonl``, ``last``/``best`` checkpoints, exact resume (batch order and
dropout generators included) and the divergence stop::

    solver = TorchCaptioningSolver(CaptioningTransformer(w2i, 64, 64), data, lr=1e-3,
                                   num_epochs=10, batch_size=100, grad_clip=5.0)
    solver.train()
    solver.best_score, solver.check_bleu("test")

``TorchCaptioner`` wraps a trained module with the NumPy models' decoding interface (NumPy
features in, (N, T) int32 captions out), which ``decode_split`` and the galleries call.
"""

from __future__ import annotations

import numpy as np
import torch

from visionblocks.captioning.solver import CaptioningSolverParts
from visionblocks.captioning.transformer import (
    CaptioningTransformer,
    transformer_temporal_softmax_loss,
)
from visionblocks.errors import ConfigError, ShapeError
from visionblocks.torchkit.distributed import pick_device
from visionblocks.torchkit.loop_state import TorchGenerators, TorchLoopState
from visionblocks.torchkit.optim import make_optimizer
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

__all__ = ["TorchCaptioner", "TorchCaptioningSolver", "caption_loss"]

_OPTIONS = dict(
    update_rule="adam", lr=1e-3, momentum=None, weight_decay=0.0, lr_decay=1.0,
    batch_size=100, num_epochs=10, grad_clip=None, num_val_samples=1000, val_decode="greedy",
    beam_size=3, max_length=30, seed=0, device=None, out_dir=None, resume=False,
    explode_factor=3.0, verbose=True, print_every=10, hooks=(),
)  # fmt: skip


def caption_loss(model, features, captions):
    """The teacher-forced loss of a torch captioner on (N, D) or (N, C, H, W) ``features`` and
    (N, T) integer ``captions`` (array or tensor), as a scalar tensor: the model's own ``loss``
    or, for a ``CaptioningTransformer``, the course's loss over ``captions[:, :-1] ->
    captions[:, 1:]``."""
    if isinstance(model, CaptioningTransformer):
        captions = torch.as_tensor(captions, dtype=torch.long, device=features.device)
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]  # (N, T-1) each
        scores = model(features, captions_in)  # (N, T-1, V)
        return transformer_temporal_softmax_loss(scores, captions_out, captions_out != model._null)
    if torch.is_tensor(captions):
        captions = captions.cpu().numpy()
    return model.loss(features, captions)  # the twins take (N, T) integer arrays


class TorchCaptioner:
    """NumPy-facing decoding of a torch captioner (``sample``, ``sample_beam``, and for the
    attention twin ``feature_shape`` and ``sample(..., return_attention=True)``), in eval mode.

    Args:
        module: a twin of ``torchkit.models_captioning`` or a ``CaptioningTransformer``
            (greedy decoding uses its key/value cache; beam search its ``beam_search``).
    """

    def __init__(self, module):
        self.module = module
        self.transformer = isinstance(module, CaptioningTransformer)
        if hasattr(module, "feature_shape"):  # the attention twin: its maps can be drawn
            self.feature_shape = module.feature_shape

    def _features(self, features):
        p = next(self.module.parameters())
        return torch.as_tensor(np.asarray(features), dtype=p.dtype, device=p.device)

    @torch.no_grad()
    def sample(self, features, max_length=30, return_attention=False):
        """Greedy captions (N, max_length) int32 (and the attention maps when asked)."""
        was = self.module.training
        self.module.eval()
        try:
            x = self._features(features)
            if self.transformer:
                if return_attention:
                    raise ValueError("a Transformer captioner returns no attention maps")
                return self.module.sample(x, max_length=max_length, use_cache=True)
            if return_attention:
                return self.module.sample(x, max_length=max_length, return_attention=True)
            return self.module.sample(x, max_length=max_length)
        finally:
            self.module.train(was)

    @torch.no_grad()
    def sample_beam(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Beam-search captions (N, max_length) int32."""
        was = self.module.training
        self.module.eval()
        try:
            x = self._features(features)
            if self.transformer:
                return self.module.beam_search(x, beam_size, max_length, length_penalty)[0]
            return self.module.sample_beam(x, beam_size, max_length, length_penalty)
        finally:
            self.module.train(was)


class TorchCaptioningSolver(CaptioningSolverParts, TorchGenerators, TorchLoopState, EpochLoop):
    """Trains a torch captioner (see the module docstring) on the course's data dict."""

    monitor, higher_is_better = "val_bleu4", True
    checkpoint_meta = {"engine": "torch"}

    def __init__(self, model, data, **kwargs):
        """Sets up training.

        Args:
            model: a twin of ``torchkit.models_captioning`` (``loss(features, captions)``) or
                a ``CaptioningTransformer`` / ``GridCaptioningTransformer``.
            data: the course's dict, as ``CaptioningSolver``'s: ``train_captions`` (N, T),
                ``train_image_idxs`` (N,), ``train_features`` (M, D) or (M, C, H, W), the
                optional ``val_*`` triple, ``idx_to_word`` (else the model's).
            update_rule, lr, momentum, weight_decay: the torch optimizer (``adam``, 1e-3).
            lr_decay: the learning rate of epoch e (from 0) is ``lr * lr_decay ** e`` (1.0).
            batch_size: captions per step, drawn with replacement (100); an epoch is
                ``max(N // batch_size, 1)`` steps.
            num_epochs: epochs (10).
            grad_clip: clip the global gradient norm to this (None: no clipping).
            num_val_samples: validation images captioned for BLEU, a fixed seeded subset
                (1000; None: all).
            val_decode: 'greedy' or 'beam'; beam_size: beams of 'beam' (3).
            max_length: words decoded (30).
            seed: the minibatches, the validation subset and the dropout generators (0).
            device: 'cuda', 'mps', 'cpu' or None (the best available).
            out_dir, resume, explode_factor, verbose, print_every, hooks: the core's options.
        """
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise TypeError(f"unrecognised TorchCaptioningSolver arguments: {', '.join(unknown)}")
        o = {**_OPTIONS, **kwargs}
        for k, v in o.items():
            setattr(self, k, v)
        self.data = data
        self._check_options()
        self.device = pick_device(self.device, 0)
        self.model = model.to(self.device)
        self.dtype = next(model.parameters()).dtype
        self.captioner = TorchCaptioner(self.model)
        self.idx_to_word = list(data["idx_to_word"]) if "idx_to_word" in data else [
            model.idx_to_word[i] for i in range(len(model.idx_to_word))]  # fmt: skip
        self._val_images, self._val_refs = self._validation_set()
        if self._val_images is None:
            self.monitor = None  # nothing to select on: keep the last epoch
        self.optimizer = make_optimizer(self.update_rule, self.model.parameters(), self.lr,
                                        self.momentum, self.weight_decay)  # fmt: skip
        self.rng = np.random.default_rng(self.seed)  # the minibatches
        # dropout draws from torch's global generators: ours are forked in, and checkpointed
        self.seed_torch_generators(int(self.seed or 0))
        self._grad_norms: list[float] = []
        self._lr = float(self.lr)
        self.setup_loop(num_epochs=self.num_epochs, out_dir=self.out_dir, resume=self.resume,
                        explode_factor=self.explode_factor, verbose=self.verbose,
                        print_every=self.print_every, keep="best", hooks=self.hooks)  # fmt: skip
        self.start_loop()

    def _check_options(self):
        need = ("train_captions", "train_image_idxs", "train_features")
        missing = [k for k in need if k not in self.data]
        if missing:
            raise KeyError(f"data is missing {', '.join(map(repr, missing))}; it needs {need}")
        caps, idxs = self.data["train_captions"], self.data["train_image_idxs"]
        feats = self.data["train_features"]
        if np.ndim(caps) != 2 or len(idxs) != len(caps):
            raise ShapeError(f"train_captions must be (N, T) with N = len(train_image_idxs), got "
                             f"{np.shape(caps)} and {len(idxs)} image indices")  # fmt: skip
        if len(idxs) and (np.min(idxs) < 0 or np.max(idxs) >= len(feats)):
            raise ShapeError(f"train_image_idxs must index the {len(feats)} train_features")
        if self.batch_size <= 0 or self.num_epochs < 0 or not self.lr > 0:
            raise ConfigError(f"need batch_size > 0, num_epochs >= 0 and lr > 0, got "
                              f"{self.batch_size}, {self.num_epochs}, {self.lr}")  # fmt: skip
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip must be None or > 0, got {self.grad_clip!r}")
        if self.val_decode not in ("greedy", "beam"):
            raise ConfigError(f"val_decode must be 'greedy' or 'beam', got {self.val_decode!r}")
        if not self.lr_decay > 0:
            raise ConfigError(f"lr_decay must be > 0, got {self.lr_decay}")

    def _decoder(self):
        return self.captioner

    # -------------------------------------------------------------- the core's hooks
    def rank_state(self):
        return {"batches": S.generator_state(self.rng), **self.torch_generator_state()}

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["batches"])
        self.load_torch_generator_state(state)

    def begin_epoch(self):
        """Train mode, and this epoch's learning rate ``lr * lr_decay ** epoch``."""
        self.model.train()
        self._lr = float(self.lr) * float(self.lr_decay) ** self.epoch
        for g in self.optimizer.param_groups:
            g["lr"] = self._lr

    # ----------------------------------------------------------------------------- training
    def step(self, batch, iteration):
        """One teacher-forced update on ``(captions (B, T), features (B, ...))``."""
        captions, features = batch
        x = torch.as_tensor(features, dtype=self.dtype, device=self.device)
        loss = caption_loss(self.model, x, captions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        self.check_loss(value, iteration)  # before the update: a NaN gradient never lands
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.grad_clip))
            self._grad_norms.append(float(norm))
        self.optimizer.step()
        return value

    def end_epoch(self, losses, train_seconds):
        """The epoch's loss, learning rate, mean gradient norm and validation BLEU-1..4."""
        record = {"loss": float(np.mean(losses)), "lr": self._lr}
        if self._grad_norms:
            record["grad_norm"] = float(np.mean(self._grad_norms))
            self._grad_norms = []
        seconds = max(train_seconds, 1e-9)
        record["captions_per_sec"] = round(len(losses) * self.batch_size / seconds, 1)
        if self._val_images is not None:
            record.update({f"val_{k}": v for k, v in self.check_bleu().items()})
        return record
