"""The captioners in the model registry: ``captioning-rnn``, ``captioning-lstm`` and
``captioning-gru`` (the course's ``CaptioningRNN`` with each cell), trained by their own run
(``captioning.runner``: ``--data captions:DIR`` or ``--data coco[:DIR]``, BLEU at the end)."""

from __future__ import annotations

import visionblocks.classic.specs  # noqa: F401  (the networks and classic models come first)
from visionblocks.captioning import runner as R
from visionblocks.model_registry import ModelSpec, Runner, register
from visionblocks.options import Option

_RUNNER = Runner(train=R.train_run, evaluate=R.evaluate_run, whole_run=True)

OPTIONS = (
    Option("wordvec_dim", "int", 128, "size of the word vectors", low=1),
    Option("hidden_dim", "int", 128, "size of the hidden state", low=1),
    Option("image_features", "str", "pixels", "offline set: pixels (pooled, standardised) or "
           "none (zeros: an image-blind captioner)", choices=("pixels", "none")),
    Option("pool", "int", 4, "offline set: average-pooling of the pixel features", low=1),
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
SPECS = {}
for _cell, _summary in _CELLS.items():
    _options = OPTIONS
    if _cell == "lstm":
        _options += (Option("forget_bias", "float", 0.0, "initial forget-gate bias (about 1 "
                            "helps memory early in training)"),)  # fmt: skip
    SPECS[_cell] = register(ModelSpec(
        name=f"captioning-{_cell}", summary=_summary, engines=("numpy",), options=_options,
        uses=("training",), runner=_RUNNER,
    ))  # fmt: skip
