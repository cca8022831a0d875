"""Typed options: strict coercion of TOML values, parsing of command-line texts, ranges."""

import pytest

from visionblocks.errors import ConfigError
from visionblocks.options import Option, options_by_name

LR = Option("lr", "float", 1e-3, "learning rate", low=0, low_open=True)
EPOCHS = Option("epochs", "int", 10, "epochs", low=1)
KEEP = Option("dropout_keep", "float", 1.0, "keep", low=0, high=1, low_open=True)
DIMS = Option("hidden_dims", "int_list", [100], "sizes", low=1, nonempty=True)
NORM = Option("normalization", "str", None, "norm", optional=True, choices=("batchnorm",))
FLAG = Option("bf16", "bool", False, "bf16")


@pytest.mark.parametrize(
    "opt, value, message",
    [
        (LR, "0.1", "option lr: expected a number > 0, got '0.1' (a string)"),
        (LR, True, "option lr: expected a number > 0, got true (a boolean)"),
        (LR, 0, "option lr: expected a number > 0, got 0 (an integer)"),
        (LR, float("inf"), "option lr: expected a number > 0, got inf (a number)"),
        (EPOCHS, "three", "option epochs: expected an integer >= 1, got 'three' (a string)"),
        (EPOCHS, 1.5, "option epochs: expected an integer >= 1, got 1.5 (a number)"),
        (EPOCHS, False, "option epochs: expected an integer >= 1, got false (a boolean)"),
        (KEEP, 0.0, "option dropout_keep: expected a number in (0, 1], got 0.0 (a number)"),
        (DIMS, [], "option hidden_dims: expected a non-empty list of integers >= 1, got []"),
        (DIMS, [64, 0], "expected a non-empty list of integers >= 1, got [64, 0] (a list)"),
        (DIMS, 64, "option hidden_dims: expected a non-empty list of integers >= 1, got 64"),
        (NORM, "groupnorm", "expected one of 'batchnorm' or none, got 'groupnorm' (a string)"),
        (FLAG, "yes", "option bf16: expected true or false, got 'yes' (a string)"),
        (EPOCHS, None, "option epochs: expected an integer >= 1, got none"),
    ],
)
def test_toml_values_are_strictly_typed(opt, value, message):
    with pytest.raises(ConfigError) as info:
        opt.coerce(value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_good_toml_values_and_int_for_float():
    assert LR.coerce(1) == 1.0 and isinstance(LR.coerce(1), float)
    assert EPOCHS.coerce(3) == 3 and DIMS.coerce([512, 256]) == [512, 256]
    assert NORM.coerce("none") is None and NORM.coerce(None) is None
    assert NORM.coerce("batchnorm") == "batchnorm" and FLAG.coerce(True) is True


@pytest.mark.parametrize(
    "opt, text, message",
    [
        (LR, "0", "option lr: expected a number > 0, got '0'"),
        (LR, "nan", "option lr: expected a number > 0, got 'nan'"),
        (EPOCHS, "0", "option epochs: expected an integer >= 1, got '0'"),
        (EPOCHS, "2.5", "option epochs: expected an integer >= 1, got '2.5'"),
        (DIMS, ",", "option hidden_dims: expected a non-empty list of integers >= 1, got ','"),
        (
            DIMS,
            "64,,32",
            "option hidden_dims: expected a non-empty list of integers >= 1, got '64,,32'",
        ),
        (
            DIMS,
            "64,x",
            "option hidden_dims: expected a non-empty list of integers >= 1, got '64,x'",
        ),
        (FLAG, "maybe", "option bf16: expected true or false, got 'maybe'"),
    ],
)
def test_command_line_texts_use_the_same_types(opt, text, message):
    with pytest.raises(ConfigError) as info:
        opt.parse(text)
    assert str(info.value) == message


def test_good_command_line_texts():
    assert LR.parse("2e-3") == 2e-3 and EPOCHS.parse("7") == 7
    assert DIMS.parse("512, 256") == [512, 256] and NORM.parse("none") is None
    assert FLAG.parse("true") is True and FLAG.parse("0") is False
    assert Option("augment", "str_list", [], "").parse("") == []


def test_extra_checks_and_list_lengths():
    def odd(v):
        if v % 2 == 0:
            raise ConfigError("must be odd")

    size = Option("filter_size", "int", 3, "", low=1, check=odd)
    with pytest.raises(ConfigError, match="^option filter_size: must be odd$"):
        size.coerce(4)
    one = Option("hidden_dims", "int_list", [100], "", low=1, length=1)
    with pytest.raises(ConfigError, match="expected a list of 1 integer >= 1, got '3,4'"):
        one.parse("3,4")
    assert one.parse("7") == [7]


def test_descriptions_and_declarations():
    assert KEEP.expected() == "a number in (0, 1]" and LR.flag == "--lr"
    assert DIMS.describe().split()[:3] == ["hidden_dims", "int_list", "100"]
    with pytest.raises(ValueError, match="declared twice"):
        options_by_name([LR, LR])
    with pytest.raises(ValueError, match="unknown type"):
        Option("x", "complex", 0, "")
