"""fnnet.metrics: accuracy for binary/multiclass/one-hot targets per model, confusion matrix."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match=r"accuracy: labels must have shape \(3,\)"):
        metrics.accuracy(np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="accuracy: argument 'target' must have the shape"):
        metrics.accuracy(np.ones((3, 1)), np.ones(3))


def test_confusion_matrix() -> None:
    m = metrics.confusion_matrix(np.array([0, 2, 2, 1]), np.array([0, 2, 1, 1]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert m.sum() == 4
    with pytest.raises(ValueError, match=r"integer classes in \[0, 3\)"):
        metrics.confusion_matrix(np.array([3]), np.array([0]), 3)
