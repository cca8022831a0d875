"""Model analysis: classic parameter / MAC / activation counts, receptive fields, memory, CLI."""

import argparse
import json

import pytest

from visionblocks.analysis import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Norm,
    ReLU,
    Residual,
    analyze,
    conv_output_size,
    estimate_memory,
    get_architecture,
    pool_output_size,
    spec_from_convnet_config,
)
from visionblocks.analysis.cli import add_parser
from visionblocks.errors import ConfigError, ShapeError

# name: (params, MACs) at the default input; published figures (torchvision / the papers)
CLASSIC = {
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "alexnet": (61_100_840, 714_188_480),
    "alexnet-original": (60_965_224, 724_406_816),
    "lenet5": (61_706, 416_520),
}


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_classic_parameter_and_mac_counts(name):
    layers, shape = get_architecture(name)
    profile = analyze(layers, shape)
    assert (profile.params, profile.macs) == CLASSIC[name]


def test_vgg16_rows_match_the_classic_table():
    layers, shape = get_architecture("vgg16")
    profile = analyze(layers, shape)
    assert shape == (3, 224, 224)
    assert profile.params == 138_357_544
    assert profile.macs / 1e9 == pytest.approx(15.5, abs=0.05)
    stored = {r.name: r.activations for r in profile.layers if r.activations}
    # CS231n's VGG-16 table: conv/pool outputs; in-place ReLUs store nothing new
    expected = {"conv1_1": 224 * 224 * 64, "conv1_2": 224 * 224 * 64, "pool1": 112 * 112 * 64}
    expected.update({f"conv2_{i}": 112 * 112 * 128 for i in (1, 2)}, pool2=56 * 56 * 128)
    expected.update({f"conv3_{i}": 56 * 56 * 256 for i in (1, 2, 3)}, pool3=28 * 28 * 256)
    expected.update({f"conv4_{i}": 28 * 28 * 512 for i in (1, 2, 3)}, pool4=14 * 14 * 512)
    expected.update({f"conv5_{i}": 14 * 14 * 512 for i in (1, 2, 3)}, pool5=7 * 7 * 512)
    expected.update(fc6=4096, fc7=4096, fc8=1000)
    assert stored == expected
    assert profile.activations == 224 * 224 * 3 + sum(expected.values()) == 15_237_608
    weights = {r.name: r.params for r in profile.layers if r.params}
    assert weights["conv1_1"] == 3 * 3 * 3 * 64 + 64 and weights["fc6"] == 7 * 7 * 512 * 4096 + 4096
    rf = {r.name: r.receptive_field[0] for r in profile.layers}
    assert (rf["conv5_3"], rf["pool5"]) == (196, 212)
    assert next(r for r in profile.layers if r.name == "pool5").stride == (32, 32)


def test_receptive_field_of_stacked_convolutions():
    three = [Conv2d(8, 3, padding=1), ReLU(), Conv2d(8, 3, padding=1), Conv2d(8, 3, padding=1)]
    profile = analyze(three, (3, 32, 32))
    assert profile.layers[-1].receptive_field == (7, 7)
    assert profile.layers[-1].stride == (1, 1)
    # equivalent to one 7x7 conv, with fewer parameters: 3 * (3*3*8*8) < 7*7*8*8 (+ biases)
    strided = analyze([Conv2d(4, 3, stride=2), Conv2d(4, 3), MaxPool2d(2)], (1, 33, 33))
    assert [r.receptive_field[0] for r in strided.layers] == [3, 7, 9]
    assert [r.stride[0] for r in strided.layers] == [2, 2, 4]
    dilated = analyze([Conv2d(4, 3, dilation=2), Conv2d(4, 3, dilation=4)], (1, 32, 32))
    assert dilated.layers[-1].receptive_field == (13, 13)
    rect = analyze([Conv2d(4, (3, 5), stride=(1, 2))], (1, 9, 9)).layers[0]
    assert (
        rect.output_shape == (4, 7, 3) and rect.receptive_field == (3, 5) and rect.stride == (1, 2)
    )


def test_residual_blocks_and_resnet_receptive_field():
    layers, shape = get_architecture("resnet50")
    profile = analyze(layers, shape)
    rows = {r.name: r for r in profile.layers}
    assert rows["layer1.0.downsample.0"].params == 64 * 256  # projection, no bias
    assert rows["layer4.2.relu"].output_shape == (2048, 7, 7)
    assert rows["layer4.2.relu"].receptive_field == (427, 427)  # v1.5 (stride on the 3x3)
    assert rows["fc"].output_shape == (1000,)
    block = Residual([Conv2d(8, 3, stride=2, padding=1)], [], name="bad")
    with pytest.raises(ShapeError, match="bad: the residual body gives"):
        analyze([block], (8, 8, 8))


def test_conv_output_size_formula_and_errors():
    assert conv_output_size(32, 5, 1, 2) == 32
    assert conv_output_size(227, 11, 4) == 55
    assert conv_output_size(224, 3, 2, 1, ceil_mode=True) == 113  # as torch
    assert conv_output_size(6, 3, 2, ceil_mode=True) == 3  # floor mode gives 2
    assert conv_output_size(5, 2, 2, 1, ceil_mode=True) == 3  # last window may not start in pad
    with pytest.raises(ShapeError, match="does not fit an input of 4"):
        conv_output_size(4, 7)
    with pytest.raises(ShapeError, match="dilation=3"):
        conv_output_size(6, 3, dilation=3)
    with pytest.raises(ShapeError, match="not an integer"):
        conv_output_size(10, 3, 2, exact=True)  # (10 - 3) / 2
    with pytest.raises(ConfigError, match="stride must be an integer >= 1"):
        conv_output_size(10, 3, 0)
    with pytest.raises(ConfigError, match="padding"):
        conv_output_size(10, 3, 1, -1)
    with pytest.raises(ConfigError, match="at most half"):
        pool_output_size(10, 2, 2, 2)
    with pytest.raises(ShapeError, match="conv1 \\(height\\)"):
        analyze([Conv2d(8, 5, name="conv1")], (3, 4, 32))


def test_layer_argument_errors():
    with pytest.raises(ConfigError, match="groups=3"):
        analyze([Conv2d(8, 3, groups=3)], (4, 8, 8))
    with pytest.raises(ShapeError, match="Conv2d needs a \\(C, H, W\\) input"):
        analyze([Flatten(), Conv2d(4, 1)], (3, 8, 8))
    with pytest.raises(ShapeError, match="multiple of the output size"):
        analyze([AdaptiveAvgPool2d(3)], (3, 8, 8))
    with pytest.raises(ConfigError, match="Norm kind"):
        analyze([Norm("weird")], (3, 8, 8))
    with pytest.raises(ShapeError, match="input_shape"):
        analyze([ReLU()], (3, 8))
    with pytest.raises(TypeError, match="not a layer spec"):
        analyze(["conv"], (3, 8, 8))
    with pytest.raises(ConfigError, match="unknown architecture"):
        get_architecture("vgg17")


def test_linear_flattens_and_sees_the_whole_map():
    profile = analyze([Conv2d(2, 3), AvgPool2d(2), Linear(5)], (1, 10, 10))
    fc = profile.layers[-1]
    assert fc.params == 2 * 4 * 4 * 5 + 5 and fc.macs == 160
    assert fc.receptive_field == (10, 10)  # 4 + (4 - 1) * 2


def test_convnet_config_spec():
    config = {
        "num_filters": [8, 16],
        "convs_per_stage": 2,
        "hidden_dims": [32],
        "num_classes": 10,
        "filter_size": 3,
        "normalization": "batchnorm",
        "weight_scale": 1e-3,  # training-only keys are ignored
        "input_dim": (3, 32, 32),
    }
    layers, shape = spec_from_convnet_config(config)
    profile = analyze(layers, shape)
    convs = (3 * 9 * 8 + 8) + (8 * 9 * 8 + 8) + (8 * 9 * 16 + 16) + (16 * 9 * 16 + 16)
    norms = 2 * (8 + 8 + 16 + 16)
    fcs = (16 * 8 * 8 * 32 + 32) + (32 * 10 + 10)
    assert profile.params == convs + norms + fcs
    assert profile.layers[-1].output_shape == (10,)
    kinds = [r.kind for r in profile.layers[:4]]
    assert kinds == ["Conv2d", "BatchNorm", "ReLU", "Conv2d"]
    with pytest.raises(ConfigError, match="unknown ConvNet config keys \\['num_filter'\\]"):
        spec_from_convnet_config({"num_filter": [8]})
    with pytest.raises(ConfigError, match="convs_per_stage has 1 entries for 2 stages"):
        spec_from_convnet_config({"num_filters": [8, 8], "convs_per_stage": [1]})
    with pytest.raises(ShapeError):  # six 2x2 pools do not fit a 32x32 input
        layers, shape = spec_from_convnet_config({"num_filters": [4] * 6})
        analyze(layers, shape)


def test_memory_estimates():
    layers, shape = get_architecture("vgg16")
    profile = analyze(layers, shape)
    m32 = estimate_memory(profile, batch_size=8, dtype="float32", optimizer="adam")
    m16 = profile.memory(batch_size=8, dtype="float16", optimizer="sgd")
    assert m32.parameters == 4 * 138_357_544 == m32.gradients
    assert m32.optimizer_state == 2 * m32.parameters
    assert m32.activations_training == 8 * 4 * 15_237_608
    assert m32.training == 4 * m32.parameters + m32.activations_training
    assert m16.parameters * 2 == m32.parameters and m16.optimizer_state == 0
    assert m16.inference == m16.parameters + 8 * 2 * profile.peak_activations
    # the inference peak is the largest input + output pair: conv1_2 (2 x 64x224x224)
    assert profile.peak_activations == 2 * 64 * 224 * 224
    with pytest.raises(ConfigError, match="dtype"):
        profile.memory(dtype="int8")
    with pytest.raises(ConfigError, match="batch_size"):
        profile.memory(batch_size=0)


def run_cli(argv, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_cli_analyze_vgg16(capsys):
    out = run_cli(["analyze", "--arch", "vgg16", "--input", "3,224,224"], capsys)
    assert "138,357,544" in out and "15.47 GMACs" in out
    assert "conv1_1" in out and "3,211,264" in out
    data = json.loads(run_cli(["analyze", "--arch", "resnet18", "--json"], capsys))
    assert data["params"] == 11_689_512
    assert data["memory"]["float16"]["parameters"] == 2 * 11_689_512


def test_cli_analyze_convnet_config(tmp_path, capsys):
    toml = tmp_path / "train.toml"
    toml.write_text(
        'model = "convnet"\nhidden_dims = [64]\nnormalization = "batchnorm"\n'
        "[arch]\nnum_filters = [16, 32]\nconvs_per_stage = 1\n"
    )
    out = run_cli(["analyze", "--arch", "convnet", "--config", str(toml)], capsys)
    layers, shape = spec_from_convnet_config(
        {"num_filters": [16, 32], "hidden_dims": [64], "normalization": "batchnorm"}
    )
    assert f"{analyze(layers, shape).params:,}" in out
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    with pytest.raises(ConfigError, match="needs --config"):
        args = parser.parse_args(["analyze", "--arch", "convnet"])
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["analyze", "--arch", "vgg16", "--input", "3,224"])
