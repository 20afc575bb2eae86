"""Regression tests: fnnet.random.fold_in and split check their index arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fnnet import random

BAD: list[tuple[Any, type[Exception]]] = [
    (-1, ValueError),
    (2.0, TypeError),
    (np.float64(2.0), TypeError),
    (2.5, TypeError),
    (float("nan"), TypeError),
    (float("inf"), TypeError),
    (True, TypeError),
    (np.bool_(True), TypeError),
    (None, TypeError),
    ("2", TypeError),
    ([2], TypeError),
]


@pytest.mark.parametrize(("value", "error"), BAD)
def test_fold_in_refuses_a_bad_index(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="fnnet.random.fold_in: argument 'i' must be"):
        random.fold_in(0, value)


@pytest.mark.parametrize(("value", "error"), BAD)
def test_split_refuses_a_bad_count(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="fnnet.random.split: argument 'n' must be"):
        random.split(0, value)


def test_numpy_integers_are_indices_and_counts() -> None:
    assert random.fold_in((1, 2), np.int64(3)) == (1, 2, 3)
    assert type(random.fold_in(0, np.int32(3))[1]) is int
    assert random.split(5, np.int64(2)) == [(5, 0), (5, 1)] == random.split(5, 2)
    assert random.split(5, 0) == []
    for child in random.split(0, np.uint8(3)):
        random.generator(child)  # every child is a key the generator takes
