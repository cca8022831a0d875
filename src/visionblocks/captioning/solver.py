"""The captioning solver (the course's ``CaptioningSolver``) on the training core.

Teacher forcing: each step feeds a minibatch of ground-truth captions to ``model.loss(features,
captions)`` (the model shifts them by one word itself) and applies the update rule. After every
epoch the model captions the validation images free-running (greedy ``sample``, or
``sample_beam`` with ``val_decode='beam'``) and corpus BLEU-1..4 is measured against all of
each image's reference captions (``captioning.bleu``; words as the vocabulary has them, with
``<START>``, ``<END>``, ``<NULL>`` and ``<UNK>`` left out; fractions in [0, 1]). The epoch of
highest validation BLEU-4 is kept. The core (``training.EpochLoop``) adds ``out_dir``
checkpoints, exact ``resume``, ``metrics.jsonl`` and the divergence stop (NaN/inf or a loss
above ``explode_factor`` times the first).

The classic use::

    solver = CaptioningSolver(model, data, update_rule="adam", num_epochs=50, batch_size=25,
                              optim_config={"learning_rate": 5e-3}, lr_decay=0.95,
                              verbose=True, print_every=10)
    solver.train()
    solver.loss_history
"""

from __future__ import annotations

import numpy as np

from visionblocks.captioning.bleu import corpus_bleu_scores
from visionblocks.captioning.coco import sample_coco_minibatch
from visionblocks.captioning.vocab import caption_words
from visionblocks.errors import ShapeError
from visionblocks.optim import get_update_rule
from visionblocks.training import EpochLoop
from visionblocks.training import state as S

__all__ = ["CaptioningSolver", "clip_grad_norm", "decode_split", "references_by_image",
           "score_captions"]  # fmt: skip

_QUIET = dict(over="ignore", invalid="ignore", divide="ignore")


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scales every gradient in place so that their global L2 norm is at most ``max_norm``.

    Returns:
        the global norm before clipping.
    """
    norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in
                             grads.values())))  # fmt: skip
    if np.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for k in grads:
            grads[k] = grads[k] * scale
    return norm


def references_by_image(captions, image_idxs, idx_to_word) -> dict[int, list[list[str]]]:
    """image index -> the word lists of all its captions (``caption_words``)."""
    refs: dict[int, list[list[str]]] = {}
    for cap, img in zip(captions, np.asarray(image_idxs).tolist()):
        refs.setdefault(img, []).append(caption_words(cap, idx_to_word))
    return refs


def decode_split(model, features, decode="greedy", beam_size=3, max_length=30, batch_size=500):
    """Captions (N, max_length) int32 for ``features`` (N, D), free-running, in batches."""
    out = []
    for i in range(0, len(features), batch_size):
        f = features[i : i + batch_size]
        if decode == "greedy":
            out.append(model.sample(f, max_length=max_length))
        else:
            out.append(model.sample_beam(f, beam_size=beam_size, max_length=max_length))
    return np.concatenate(out) if out else np.zeros((0, max_length), np.int32)


def score_captions(sampled, refs, idx_to_word) -> dict:
    """``{"bleu1".."bleu4", "exact"}`` of sampled captions (N, T) against ``refs`` (N,) lists
    of reference word lists; ``exact``: the fraction captioned exactly as a reference."""
    hyps = [caption_words(c, idx_to_word) for c in sampled]
    scores = corpus_bleu_scores(refs, hyps)
    scores["exact"] = float(np.mean([h in r for h, r in zip(hyps, refs)])) if hyps else 0.0
    return scores


class CaptioningSolverParts:
    """What both captioning solvers (this NumPy one and ``torch_solver.TorchCaptioningSolver``)
    share, engine-neutral: the validation subset, the minibatches, free-running BLEU, the
    course's names and the epoch line. A solver sets ``data``, ``batch_size``, ``rng``,
    ``seed``, ``num_val_samples``, ``idx_to_word``, ``val_decode``, ``beam_size``,
    ``max_length``, ``_val_images``/``_val_refs``, and gives ``_decoder()`` (what decodes)."""

    def _validation_set(self):
        if "val_captions" not in self.data or len(self.data["val_captions"]) == 0:
            return None, None
        sub_seed = None if self.seed is None else self.seed + 1
        return self._split_images("val", self.num_val_samples, sub_seed)

    def _split_images(self, split, num_samples, seed):
        """A split's images that have captions (a seeded subset of ``num_samples``), sorted,
        and their references."""
        caps, idxs = self.data[f"{split}_captions"], self.data[f"{split}_image_idxs"]
        refs = references_by_image(caps, idxs, self.idx_to_word)
        images = np.array(sorted(refs), dtype=np.int64)  # (M,)
        if num_samples is not None and len(images) > num_samples:
            pick = np.random.default_rng(seed).choice(len(images), num_samples, replace=False)
            images = np.sort(images[pick])
        return images, [refs[i] for i in images.tolist()]

    # ------------------------------------------------------------- the course's names
    @property
    def best_params(self):
        return dict(self.best_state)

    bleu4_history = property(lambda self: self.history("val_bleu4"))

    # ------------------------------------------------------------------ minibatches
    def steps_per_epoch(self):
        return max(len(self.data["train_captions"]) // self.batch_size, 1)

    def batches(self):
        for _ in range(self.steps_per_epoch()):
            captions, features, _ = sample_coco_minibatch(
                self.data, batch_size=self.batch_size, split="train", rng=self.rng
            )
            yield captions, features

    # --------------------------------------------------------------------- scoring
    def check_bleu(self, split="val", num_samples=None):
        """Corpus BLEU-1..4 (and ``exact``, the fraction of images captioned exactly as one of
        their references) of free-running captions of a split's images against all their
        references (``val`` uses the solver's fixed subset; other splits ``num_samples``
        seeded images, None: all), decoded with ``val_decode``."""
        if split == "val" and num_samples is None and self._val_images is not None:
            images, refs = self._val_images, self._val_refs
        else:
            images, refs = self._split_images(split, num_samples, self.seed)
        feats = self.data[f"{split}_features"][images]
        with np.errstate(**_QUIET):
            sampled = decode_split(self._decoder(), feats, self.val_decode, self.beam_size,
                                   self.max_length)  # fmt: skip
        return score_captions(sampled, refs, self.idx_to_word)

    def epoch_line(self, record):
        line = f"(Epoch {record['epoch']} / {self.num_epochs}) loss {record['loss']:f}"
        if "val_bleu4" in record:
            line += "; val BLEU-1..4 " + " ".join(f"{record[f'val_bleu{k}']:.4f}"
                                                  for k in range(1, 5))  # fmt: skip
        return line + f"; lr {record['lr']:.3g}"


class CaptioningSolver(CaptioningSolverParts, EpochLoop):
    """Trains a captioning model whose ``loss(features, captions)`` returns ``(loss, grads)``
    keyed like ``model.params`` and whose ``sample(features, max_length)`` decodes."""

    monitor, higher_is_better = "val_bleu4", True

    def __init__(self, model, data, **kwargs):
        """Sets up training.

        Args:
            model: e.g. ``CaptioningRNN``.
            data: the course's dict: ``train_captions`` (N, T) int, ``train_image_idxs`` (N,),
                ``train_features`` (M, D), the ``val_*`` triple (optional: without it the last
                epoch is kept and no BLEU is measured), ``idx_to_word`` (else the model's).
            update_rule: name in ``visionblocks.optim.UPDATE_RULES`` or a callable ('sgd', as
                the course).
            optim_config: hyperparameters of the rule, copied for each parameter.
            lr_decay: multiply the learning rate by this after each epoch (1.0).
            batch_size: captions per step, drawn with replacement as the course (100).
            num_epochs: epochs; an epoch is ``max(N // batch_size, 1)`` steps (10).
            print_every: print the loss every this many iterations (10).
            verbose: print progress (True).
            grad_clip: clip the global gradient norm to this (None: no clipping).
            num_val_samples: validation images captioned for BLEU, a fixed seeded subset
                (1000; None: all).
            val_decode: 'greedy' (``sample``) or 'beam' (``sample_beam``).
            beam_size: beams for 'beam' (3).
            max_length: words decoded (30, the course's ``sample`` default).
            seed: seeds the minibatches and the validation subset (0).
            out_dir, resume, explode_factor, hooks: the training core's options.
        """
        self.model = model
        self.data = data
        need = ("train_captions", "train_image_idxs", "train_features")
        missing = [k for k in need if k not in data]
        if missing:
            raise KeyError(f"data is missing {', '.join(map(repr, missing))}; it needs {need}")
        self.update_rule = get_update_rule(kwargs.pop("update_rule", "sgd"))
        self.optim_config = dict(kwargs.pop("optim_config", {}))
        self.lr_decay = float(kwargs.pop("lr_decay", 1.0))
        self.batch_size = int(kwargs.pop("batch_size", 100))
        self.num_epochs = int(kwargs.pop("num_epochs", 10))
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        self.grad_clip = kwargs.pop("grad_clip", None)
        self.num_val_samples = kwargs.pop("num_val_samples", 1000)
        self.val_decode = kwargs.pop("val_decode", "greedy")
        self.beam_size = int(kwargs.pop("beam_size", 3))
        self.max_length = int(kwargs.pop("max_length", 30))
        self.seed = kwargs.pop("seed", 0)
        loop = {k: kwargs.pop(k) for k in ("out_dir", "resume", "explode_factor", "hooks")
                if k in kwargs}  # fmt: skip
        if kwargs:
            raise TypeError(f"unrecognised CaptioningSolver arguments: {', '.join(sorted(kwargs))}")
        self._check_options()
        self.idx_to_word = list(data["idx_to_word"]) if "idx_to_word" in data else [
            model.idx_to_word[i] for i in range(len(model.idx_to_word))]  # fmt: skip
        self._val_images, self._val_refs = self._validation_set()
        if self._val_images is None:
            self.monitor = None  # nothing to select on: keep the last epoch
        self.setup_loop(num_epochs=self.num_epochs, verbose=self.verbose,
                        print_every=self.print_every, keep="best", **loop)  # fmt: skip
        self.rng = np.random.default_rng(self.seed)
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self._grad_norms: list[float] = []
        self.start_loop()

    def _check_options(self):
        caps, idxs = self.data["train_captions"], self.data["train_image_idxs"]
        feats = self.data["train_features"]
        if np.ndim(caps) != 2 or len(idxs) != len(caps):
            raise ShapeError(f"train_captions must be (N, T) with N = len(train_image_idxs), got "
                             f"{np.shape(caps)} and {len(idxs)} image indices")  # fmt: skip
        if len(idxs) and (np.min(idxs) < 0 or np.max(idxs) >= len(feats)):
            raise ShapeError(f"train_image_idxs must index the {len(feats)} train_features")
        if self.batch_size <= 0 or self.num_epochs < 0:
            raise ValueError(f"batch_size must be > 0 and num_epochs >= 0, got "
                             f"{self.batch_size}, {self.num_epochs}")  # fmt: skip
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be None or > 0, got {self.grad_clip!r}")
        if self.val_decode not in ("greedy", "beam"):
            raise ValueError(f"val_decode must be 'greedy' or 'beam', got {self.val_decode!r}")
        if self.lr_decay <= 0:
            raise ValueError(f"lr_decay must be > 0, got {self.lr_decay}")

    # -------------------------------------------------------------- the core's hooks
    def _decoder(self):
        return self.model

    def model_state(self):
        return dict(self.model.params)

    def load_model_state(self, arrays):
        self.model.params = {k: v.copy() for k, v in arrays.items()}

    def train_state(self):
        return {"optim": {p: dict(cfg) for p, cfg in self.optim_configs.items()}}

    def load_train_state(self, state):
        self.optim_configs = {p: dict(cfg) for p, cfg in state["optim"].items()}

    def rank_state(self):
        rngs = {"batches": S.generator_state(self.rng)}
        if isinstance(getattr(self.model, "rng", None), np.random.Generator):
            rngs["model"] = S.generator_state(self.model.rng)
        return {"rng": rngs}

    def load_rank_state(self, state):
        S.set_generator_state(self.rng, state["rng"]["batches"])
        if "model" in state["rng"]:
            S.set_generator_state(self.model.rng, state["rng"]["model"])

    def session(self):
        return np.errstate(**_QUIET)

    # ----------------------------------------------------------------------------- training
    def step(self, batch, iteration):
        """One teacher-forced update on ``(captions (B, T), features (B, D))``."""
        captions, features = batch
        loss, grads = self.model.loss(features, captions)
        if not np.isfinite(loss):
            return loss
        if self.grad_clip is not None:
            self._grad_norms.append(clip_grad_norm(grads, float(self.grad_clip)))
        for p, w in self.model.params.items():
            next_w, self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w.astype(w.dtype, copy=False)
        return loss

    def end_epoch(self, losses, train_seconds):
        """Decays the learning rate; captions the validation images and scores BLEU-1..4."""
        lr = float(next(iter(self.optim_configs.values()), {}).get("learning_rate", 0.0) or 0.0)
        for cfg in self.optim_configs.values():
            if "learning_rate" in cfg:
                cfg["learning_rate"] *= self.lr_decay
        record = {"loss": float(np.mean(losses)), "lr": lr}
        if self._grad_norms:
            record["grad_norm"] = float(np.mean(self._grad_norms))
            self._grad_norms = []
        if self._val_images is not None:
            record.update({f"val_{k}": v for k, v in self.check_bleu().items()})
        return record
