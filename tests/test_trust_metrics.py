"""Regression tests: metrics.predicted_class and accuracy check pred's dtype and rank and the
target's kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fnnet import metrics

PRED = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
LABELS = np.array([1, 0, 0])


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16])
def test_pred_must_be_float32_or_float64(dtype: Any) -> None:
    with pytest.raises(TypeError, match="predicted_class: argument 'pred'"):
        metrics.predicted_class(PRED.astype(dtype))
    with pytest.raises(TypeError, match="accuracy: argument 'pred'"):
        metrics.accuracy(PRED.astype(dtype), LABELS)


@pytest.mark.parametrize("pred", [PRED[0], np.array(0.5), np.zeros((0, 2))])
def test_pred_must_have_examples_and_outputs(pred: Any) -> None:
    with pytest.raises(ValueError, match="predicted_class: argument 'pred'"):
        metrics.predicted_class(pred)


@pytest.mark.parametrize("pred", [[[0.1, 0.9]], None, "x", {"a": 1}])
def test_pred_that_is_not_an_array_is_a_type_error(pred: Any) -> None:
    with pytest.raises(TypeError, match="predicted_class: argument 'pred' must be a numpy array"):
        metrics.predicted_class(pred)


def test_bool_target_is_refused() -> None:
    with pytest.raises(TypeError, match="accuracy: argument 'target' is a bool array"):
        metrics.accuracy(PRED, LABELS.astype(bool))


@pytest.mark.parametrize("target", [np.array(1), LABELS[:, None], LABELS[:0]])
def test_a_target_of_the_wrong_shape_is_named(target: Any) -> None:
    with pytest.raises(ValueError, match="accuracy: argument 'target' must hold one label"):
        metrics.accuracy(PRED, target)


def test_float32_and_float64_pred_still_work() -> None:
    for dtype in (np.float32, np.float64):
        assert float(metrics.accuracy(PRED.astype(dtype), LABELS)) == pytest.approx(2 / 3)
        assert metrics.predicted_class(PRED.astype(dtype)).tolist() == [1, 0, 1]
