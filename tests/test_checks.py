"""The package's one integer check (``mdlm_study.core.checks``) and the counts that go through it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mdlm_study.core.checks import int_at_least, is_int
from mdlm_study.core.pooling import t_quantile
from mdlm_study.core.stats import bootstrap_ci
from mdlm_study.engine.batching import bucket_batches
from mdlm_study.integrations.harness import _positive_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int8(1)])
def test_an_integer_at_least_the_minimum_comes_back_as_a_python_int(value):
    out = int_at_least("n", value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -2, 2.0, 1.5, True, "3", None, np.float64(2)])
def test_anything_else_is_refused_by_name_and_value(value):
    with pytest.raises(ValueError, match=rf"^count must be an int >= 1, got {re.escape(repr(value))}$"):
        int_at_least("count", value)


def test_the_minimum_is_part_of_the_rule_and_of_the_message():
    assert int_at_least("seed", 0, 0) == 0
    with pytest.raises(ValueError, match=r"seed must be an int >= 0, got -1"):
        int_at_least("seed", -1, 0)
    assert not is_int(False) and is_int(np.uint16(4))


def test_the_counts_across_the_package_read_the_same():
    for call, name in ((lambda: bucket_batches([3, 2], 0), "batch_size"), (lambda: bootstrap_ci([1.0, 0.0], n_boot=0), "n_boot"),
                       (lambda: t_quantile(0.975, 0), "df")):
        with pytest.raises(ValueError, match=rf"{name} must be an int >= 1, got 0"):
            call()


@pytest.mark.parametrize(("text", "expected"), [("8", 8), (" 12 ", 12), (3, 3)])
def test_harness_counts_arrive_as_strings_or_ints(text, expected):
    assert _positive_int("batch_size", text) == expected


@pytest.mark.parametrize("text", ["0", "-3", "8.0", "auto", "", 2.0])
def test_harness_counts_that_are_not_a_positive_integer_are_refused(text):
    # a string that spells an integer is checked as that integer; any other is named as passed
    with pytest.raises(ValueError, match=rf"batch_size must be an int >= 1, got '?{re.escape(str(text))}'?$"):
        _positive_int("batch_size", text)
