"""The captioners in the model registry: ``captioning-rnn``, ``captioning-lstm`` and
``captioning-gru`` (the course's ``CaptioningRNN`` with each cell) and ``captioning-attention``
(``AttentionCaptioner``, Show, Attend and Tell), trained by their own run
(``captioning.runner``: ``--data captions:DIR`` or ``--data coco[:DIR]``, BLEU at the end).
With ``--engine torch`` the same names train their torch twins, and ``captioning-transformer``
/ ``captioning-transformer-grid`` (torch only) the course's Transformer captioner with the
image as one token or as a grid of tokens (``captioning.torch_runner``)."""

from __future__ import annotations

import visionblocks.classic.specs  # noqa: F401  (the networks and classic models come first)
from visionblocks.captioning import runner as R
from visionblocks.errors import ConfigError
from visionblocks.model_registry import ModelSpec, Runner, register
from visionblocks.options import Option


def _train_run(cfg, resume=False):
    """The NumPy engine's run (``captioning.runner``) or, with ``--engine torch``, the torch
    engine's (``captioning.torch_runner``, imported only then)."""
    if cfg.engine != "torch":
        return R.train_run(cfg, resume)
    try:
        from visionblocks.captioning import torch_runner
    except ImportError as e:
        raise ConfigError(f"engine 'torch' needs PyTorch: {e}") from None
    return torch_runner.train_run(cfg, resume)


_RUNNER = Runner(train=_train_run, evaluate=R.evaluate_run, whole_run=True)

OPTIONS = (
    Option("wordvec_dim", "int", 128, "size of the word vectors", low=1),
    Option("hidden_dim", "int", 128, "size of the hidden state", low=1),
    Option("image_features", "str", "pixels", "offline set: pixels (pooled, standardised), "
           "cnn (the frozen CNN encoder's pooled vector) or none (zeros: an image-blind "
           "captioner)", choices=("pixels", "cnn", "none")),
    Option("cnn_epochs", "int", 12, "offline set, cnn features: epochs of the encoder's "
           "attribute-classifier training (train split; cached beside the set)", low=1),
    Option("pool", "int", 4, "offline set: the cell (pixels) pooled into a feature", low=1),
    Option("pca_features", "bool", True, "COCO: the 512-d PCA features (else 4096-d fc7)"),
    Option("clip_norm", "float", None, "clip the global gradient norm to this",
           optional=True, low=0, low_open=True),
    Option("num_val_samples", "int", 1000, "validation images captioned for BLEU each epoch",
           optional=True, low=1),
    Option("decode", "str", "greedy", "free-running decoding for BLEU: greedy or beam",
           choices=("greedy", "beam")),
    Option("beam_size", "int", 3, "beams of decode=beam", low=1),
    Option("max_length", "int", 30, "words decoded per caption", low=1),
)  # fmt: skip

_CELLS = {
    "rnn": "vanilla RNN captioner (course CaptioningRNN, cell_type='rnn')",
    "lstm": "LSTM captioner (course CaptioningRNN, cell_type='lstm')",
    "gru": "GRU captioner (CaptioningRNN, cell_type='gru')",
}
_FORGET = Option("forget_bias", "float", 0.0, "initial forget-gate bias (about 1 helps "
                 "memory early in training)")  # fmt: skip
SPECS = {}
for _cell, _summary in _CELLS.items():
    _options = OPTIONS
    if _cell == "lstm":
        _options += (_FORGET,)
    SPECS[_cell] = register(ModelSpec(
        name=f"captioning-{_cell}", summary=_summary, engines=("numpy", "torch"), options=_options,
        uses=("training",), runner=_RUNNER,
    ))  # fmt: skip

#: Show, Attend and Tell over the offline set's grid features (``to_captioning_data(...,
#: features="grid")``: each pool x pool cell a location)
SPECS["attention"] = register(ModelSpec(
    name="captioning-attention",
    summary="Show, Attend and Tell captioner (attention LSTM over a grid of image features)",
    engines=("numpy", "torch"),
    options=(*(o for o in OPTIONS if o.name not in ("image_features", "pca_features")),
             Option("image_features", "str", "grid", "grid (the pool x pool pixel cells) or "
                    "cnn-grid (the frozen CNN encoder's last conv map)",
                    choices=("grid", "cnn-grid")),
             Option("attention_dim", "int", 128, "size of the additive attention layer", low=1),
             Option("attention_reg", "float", 1.0, "weight of the doubly stochastic attention "
                    "penalty (0: off)", low=0), _FORGET),
    uses=("training",), runner=_RUNNER,
))  # fmt: skip

#: the course's Transformer captioner (torch engine): the image as one memory token, or (grid)
#: a grid of tokens the decoder cross-attends over (``captioning.transformer``)
_TRANSFORMER = (
    Option("num_heads", "int", 4, "attention heads (must divide wordvec_dim)", low=1),
    Option("num_layers", "int", 2, "Transformer decoder layers", low=1),
    Option("dim_feedforward", "int", 2048, "hidden size of each layer's feed-forward block",
           low=1),
    Option("dropout", "float", 0.1, "dropout of the positional encoding, attention and "
           "feed-forward blocks", low=0, high=1, high_open=True),
)  # fmt: skip
_SHARED_TF = tuple(o for o in OPTIONS if o.name not in ("hidden_dim", "image_features",
                                                        "pca_features"))  # fmt: skip
SPECS["transformer"] = register(ModelSpec(
    name="captioning-transformer",
    summary="Transformer captioner (course CaptioningTransformer: the image as one token)",
    engines=("torch",),
    options=(*(o for o in OPTIONS if o.name != "hidden_dim"), *_TRANSFORMER),
    uses=("training",), runner=_RUNNER,
))  # fmt: skip
SPECS["transformer-grid"] = register(ModelSpec(
    name="captioning-transformer-grid",
    summary="Transformer captioner cross-attending over a grid of image tokens",
    engines=("torch",),
    options=(*_SHARED_TF,
             Option("image_features", "str", "grid", "grid (the pool x pool pixel cells) or "
                    "cnn-grid (the frozen CNN encoder's last conv map)",
                    choices=("grid", "cnn-grid")), *_TRANSFORMER),
    uses=("training",), runner=_RUNNER,
))  # fmt: skip
