"""The official converter's command lines, parsed without its bugs."""

from __future__ import annotations

import pytest

from tfjsconv.cli_args import normalize_argv
from tfjsconv.errors import OptionsError


def test_bare_quantize_flag_does_not_swallow_the_input_path() -> None:
    assert normalize_argv(["--quantize_uint8", "in.h5", "out"]) == ["--quantize_uint8=", "in.h5", "out"]


def test_quantize_flag_takes_patterns_when_both_paths_remain() -> None:
    argv = ["in.h5", "out", "--quantize_uint8", "dense/*,conv*"]
    assert normalize_argv(argv) == ["in.h5", "out", "--quantize_uint8=dense/*,conv*"]


def test_quantize_patterns_before_the_paths() -> None:
    argv = ["--quantize_float16", "a*", "in.h5", "out"]
    assert normalize_argv(argv) == ["--quantize_float16=a*", "in.h5", "out"]


def test_dashed_spelling_is_the_same_flag() -> None:
    argv = ["--input-format", "keras", "--quantize-uint16=x", "in", "out"]
    assert normalize_argv(argv) == ["--input_format=keras", "--quantize_uint16=x", "in", "out"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("--strip_debug_ops=False", "--no-strip_debug_ops"),
        ("--strip_debug_ops=false", "--no-strip_debug_ops"),
        ("--strip-debug-ops=0", "--no-strip_debug_ops"),
        ("--control_flow_v2=True", "--control_flow_v2"),
        ("--skip_op_check", "--skip_op_check"),
        ("--no-skip-op-check", "--no-skip_op_check"),
    ],
)
def test_boolean_flags_mean_what_they_say(token: str, expected: str) -> None:
    assert normalize_argv([token, "in", "out"]) == [expected, "in", "out"]


def test_boolean_value_as_separate_word() -> None:
    argv = ["--strip_debug_ops", "False", "in", "out"]
    assert normalize_argv(argv) == ["--no-strip_debug_ops", "in", "out"]


def test_boolean_word_that_is_really_a_path() -> None:
    # Only two words remain for the two paths, so "true" is the input path.
    assert normalize_argv(["--skip_op_check", "true", "out"]) == ["--skip_op_check", "true", "out"]


def test_invalid_boolean_value_is_an_error() -> None:
    with pytest.raises(OptionsError, match="true or false"):
        normalize_argv(["--skip_op_check=maybe", "in", "out"])


def test_paths_with_spaces_stay_whole() -> None:
    argv = ["/My Drive/model.h5", "/My Drive/out dir"]
    assert normalize_argv(argv) == argv


def test_value_flag_without_value() -> None:
    with pytest.raises(OptionsError, match="needs a value"):
        normalize_argv(["in", "out", "--input_format"])
