"""fnnet.metrics: accuracy for binary/multiclass/one-hot targets per model, confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fnnet import metrics


def test_binary_multiclass_and_one_hot() -> None:
    probs = np.array([[0.9], [0.4], [0.5]])
    assert float(metrics.accuracy(probs, np.array([[1.0], [0.0], [0.0]]))) == pytest.approx(2 / 3)
    logits = np.array([[1.0], [-1.0]])
    assert float(metrics.accuracy(logits, np.array([[1.0], [0.0]]), threshold=0.0)) == 1.0
    scores = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
    assert float(metrics.accuracy(scores, np.array([1, 2]))) == 0.5
    assert float(metrics.accuracy(scores, np.eye(3)[[1, 0]])) == 1.0


def test_per_model_accuracy_with_shared_labels() -> None:
    scores = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.1, 0.9], [0.2, 0.8]]])
    acc = metrics.accuracy(scores, np.array([0, 1]))
    assert acc.tolist() == [1.0, 0.5]


def test_accuracy_shape_errors() -> None:
    with pytest.raises(
        ValueError, match=r"accuracy: argument .target. must hold one label per example, "
    ):
        metrics.accuracy(np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="accuracy: argument 'target' must have the shape"):
        metrics.accuracy(np.ones((3, 1)), np.ones(3))


def test_confusion_matrix() -> None:
    m = metrics.confusion_matrix(np.array([0, 2, 2, 1]), np.array([0, 2, 1, 1]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert m.sum() == 4
    with pytest.raises(ValueError, match=r"'pred_labels' must lie in \[0, 3\)"):
        metrics.confusion_matrix(np.array([3]), np.array([0]), 3)


def test_nan_predictions_are_reported_not_counted() -> None:
    good = np.array([[0.9, 0.1], [0.2, 0.8]])
    stack = np.stack([good, np.full((2, 2), np.nan), good])
    acc = metrics.accuracy(stack, np.array([0, 1]))
    assert acc[0] == 1.0 and np.isnan(acc[1]) and acc[2] == 1.0  # the others are unaffected
    assert np.isnan(metrics.accuracy(np.array([[np.nan], [0.7]]), np.array([[0.0], [1.0]])))
    with pytest.raises(ValueError, match="predicted_class: argument 'pred' contains NaN"):
        metrics.predicted_class(np.array([[np.nan, 1.0]]))


def test_labels_and_targets_out_of_range_are_refused() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    for labels in (np.array([5, 0]), np.array([-1, 0])):
        with pytest.raises(ValueError, match=r"accuracy: labels in 'target' must lie in \[0, 2\)"):
            metrics.accuracy(scores, labels)
    with pytest.raises(ValueError, match=r"binary 'target' \(one output\) must lie in \[0, 1\]"):
        metrics.accuracy(np.array([[0.9]]), np.array([[2.0]]))
    with pytest.raises(ValueError, match="'target' contains NaN"):
        metrics.accuracy(np.array([[0.9]]), np.array([[np.nan]]))


def test_bad_argument_types_give_clear_errors() -> None:
    m: Any = metrics  # deliberately wrong argument types
    p = np.array([[0.2], [0.7]])
    t = np.array([[0.0], [1.0]])
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: m.accuracy([[0.1]], t), TypeError, "accuracy: argument 'pred'"),
        (lambda: m.accuracy(np.array(0.5), t), ValueError, "accuracy: argument 'pred'"),
        (lambda: m.accuracy(np.ones((0, 2)), np.array([], int)), ValueError, "empty"),
        (lambda: m.accuracy(p, np.array([["a"], ["b"]])), TypeError, "'target'"),
        (lambda: m.accuracy(p.astype(complex), t), TypeError, "'pred'"),
        (lambda: m.accuracy(p, t, threshold=float("nan")), ValueError, "'threshold'"),
        (lambda: m.accuracy(p, t, threshold="a"), TypeError, "'threshold'"),
        (lambda: m.predicted_class([[0.1]]), TypeError, "predicted_class: argument 'pred'"),
        (lambda: m.predicted_class(np.array(0.1)), ValueError, "predicted_class"),
        (lambda: m.confusion_matrix(np.array([0]), np.array([0]), 2.5), TypeError, "'num"),
        (lambda: m.confusion_matrix(np.array([0]), np.array([0]), True), TypeError, "'num"),
        (lambda: m.confusion_matrix(np.array([0]), np.array([0]), 0), ValueError, "'num"),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind, match=text):
            call()
    assert m.confusion_matrix(np.array([0]), np.array([0]), np.int64(2)).shape == (2, 2)
