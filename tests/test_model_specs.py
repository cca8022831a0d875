"""Each architecture described once: the NumPy model, the torch twin and the ``analyze`` profile
all come from the model's description, and agree with each other."""

import subprocess
import sys

import numpy as np
import pytest

from visionblocks.analysis import analyze
from visionblocks.config import config_from_dict
from visionblocks.model_registry import MODELS

SHAPE, CLASSES = (3, 16, 16), 7
#: options per network: the defaults, and variants that change the layer structure.
VARIANTS = {
    "twolayer": [{}, {"hidden_dims": [12]}],
    "fc": [{}, {"hidden_dims": [12, 9], "normalization": "batchnorm", "dropout_keep": 0.5},
           {"hidden_dims": [5], "normalization": "layernorm"}],
    "fc-activations": [{"hidden_dims": [6, 4], "activation": a, "normalization": "batchnorm"}
                       for a in ("elu", "gelu", "selu", "prelu", "maxout")],
    "threelayer": [{}, {"num_filters": 4, "filter_size": 3, "hidden_dim": 10}],
    "convnet": [{}, {"normalization": "none", "hidden_dims": [], "num_filters": [4]},
                {"normalization": "groupnorm", "groups": 2, "num_filters": [4, 6]},
                {"residual": True, "global_pool": True, "num_filters": [4, 8],
                 "dropout_keep": 0.5}],
    "convnet-activations": [{"num_filters": [4], "hidden_dims": [6], "activation": a}
                            for a in ("elu", "prelu", "maxout")],
}  # fmt: skip
CASES = [(name.split("-")[0], o) for name, variants in VARIANTS.items() for o in variants]


def _cfg(name, options):
    return config_from_dict({"model": {"name": name, **options}, "seed": 3})


@pytest.mark.parametrize("name, options", CASES)
def test_profile_counts_the_numpy_models_parameters(name, options):
    cfg = _cfg(name, options)
    spec = cfg.spec
    model = spec.build_numpy(cfg.model_options, SHAPE, CLASSES, cfg.seed)
    profile = analyze(spec.profile(cfg.model_options, SHAPE, CLASSES), SHAPE)
    assert profile.params == sum(v.size for v in model.params.values())
    assert profile.layers[-1].output_shape == (CLASSES,)
    assert model.loss(np.zeros((2, *SHAPE), np.float32)).shape == (2, CLASSES)


def test_the_cli_trains_twolayer_in_float32():
    cfg = _cfg("twolayer", {})
    model = cfg.spec.build_numpy(cfg.model_options, SHAPE, CLASSES, 0)
    assert {v.dtype for v in model.params.values()} == {np.dtype(np.float32)}


@pytest.mark.torch
@pytest.mark.parametrize("name, options", CASES)
def test_the_twin_is_built_by_keyword_with_the_numpy_models_weights(name, options, monkeypatch):
    torch = pytest.importorskip("torch")
    from visionblocks import models as np_models
    from visionblocks.models import cnn as np_cnn
    from visionblocks.torchkit.runner import build_model

    cfg = _cfg(name, options)
    numpy_model = cfg.spec.build_numpy(cfg.model_options, SHAPE, CLASSES, cfg.seed)
    for module, cls_name in ((np_models, "FullyConnectedNet"), (np_cnn, "ThreeLayerConvNet"),
                             (np_cnn, "ConvNet")):  # fmt: skip
        cls = getattr(module, cls_name)

        def keyword_only(*args, _cls=cls, **kwargs):
            assert not args, f"{_cls.__name__} built with positional arguments {args}"
            return _cls(**kwargs)

        monkeypatch.setattr(module, cls_name, keyword_only)
    data = {"X_train": np.zeros((1, *SHAPE), np.float32), "class_names": list("abcdefg")}
    twin = build_model(cfg, data)
    state = twin.state_dict()
    layout, _ = twin.numpy_layout()
    assert set(layout) == set(numpy_model.params)
    for key, (where, transposed) in layout.items():
        value = state[where].numpy()
        np.testing.assert_array_equal(value.T if transposed else value, numpy_model.params[key])
    profile = analyze(cfg.spec.profile(cfg.model_options, SHAPE, CLASSES), SHAPE)
    assert profile.params == sum(p.numel() for p in twin.parameters())
    x = torch.zeros(2, *SHAPE)
    assert twin.eval()(x).shape == (2, CLASSES)


@pytest.mark.torch
@pytest.mark.parametrize("options", [{}, {"widths": [4, 8], "blocks": [1, 2], "dropout": 0.2}])
def test_resnet_profile_matches_the_torch_model(options):
    pytest.importorskip("torch")
    from visionblocks.torchkit.runner import build_model

    cfg = config_from_dict({"engine": "torch", "model": {"name": "resnet", **options}})
    data = {"X_train": np.zeros((1, *SHAPE), np.float32), "class_names": list("abcdefg")}
    model = build_model(cfg, data)
    profile = analyze(cfg.spec.profile(cfg.model_options, SHAPE, CLASSES), SHAPE)
    assert profile.params == sum(p.numel() for p in model.parameters())


def test_every_model_is_described_once_with_typed_options():
    assert set(MODELS) == {"twolayer", "fc", "threelayer", "convnet", "resnet", "knn", "svm",
                           "softmax", "vit", "captioning-rnn", "captioning-lstm",
                           "captioning-gru", "captioning-attention", "captioning-transformer",
                           "captioning-transformer-grid", "vae", "ae",
                           "pixelcnn", "gan", "lsgan", "dcgan", "wgan-gp", "cgan"}  # fmt: skip
    for name, spec in MODELS.items():
        assert spec.summary and spec.engines and spec.options, name
        # a runner trains in one pass, except a loop of its own: a whole run (captioning) or a
        # resumable runner (the generative models)
        # (which takes the shared training options or, like the GANs, a group of its own)
        own_loop = spec.runner is not None and (spec.runner.whole_run or spec.runner.resumable)
        if spec.runner is None:
            assert "training" in spec.uses, name
        elif not own_loop:
            assert "training" not in spec.uses, name
        assert spec.numpy_class or spec.runner or spec.engines == ("torch",), name
        for opt in spec.options:
            assert opt.help and opt.coerce(opt.default) == opt.default, (name, opt.name)


def test_the_registry_and_the_numpy_engine_import_no_torch_and_no_runner():
    code = (
        "import sys, visionblocks.model_registry as r; "
        "mods = sorted(m for m in sys.modules if m.startswith('visionblocks')); "
        "import visionblocks.cli, visionblocks.runs, visionblocks.config; "
        "assert 'torch' not in sys.modules, 'torch imported'; print(mods)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(
        ["visionblocks", "visionblocks.errors", "visionblocks.model_registry",
         "visionblocks.options", "visionblocks.registry"]
    )  # fmt: skip
