"""Metrics: ``accuracy`` and ``confusion_matrix``, one value per stacked model.

``accuracy(pred, target)`` decides the kind of task from the shapes:

- integer ``target`` ``(..., N)``: multiclass, ``argmax(pred) == target``;
- ``pred`` with one output ``(..., N, 1)``: binary, ``pred >= threshold`` against
  ``target >= 0.5`` (threshold 0.5 for probabilities; pass 0.0 for logits);
- otherwise: one-hot/probability targets, ``argmax(pred) == argmax(target)``.

>>> import numpy as np
>>> float(accuracy(np.array([[0.9], [0.2], [0.6]]), np.array([[1.0], [0.0], [0.0]])))
0.6666666666666666
>>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
[[1, 1], [0, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fnnet.arrays import Array, IntArray, omits_model_axes

__all__ = ["accuracy", "predicted_class", "confusion_matrix"]


def predicted_class(pred: Array, threshold: float = 0.5) -> IntArray:
    """Class per example: ``argmax`` over the last axis, or ``pred >= threshold`` for one output.

    >>> predicted_class(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])).tolist()
    [1, 0]
    >>> predicted_class(np.array([[0.3], [0.8]])).tolist()  # one output: pred >= 0.5
    [0, 1]
    """
    if pred.shape[-1] == 1:
        out: IntArray = (pred[..., 0] >= threshold).astype(np.int64)
        return out
    classes: IntArray = np.argmax(pred, axis=-1)
    return classes


def accuracy(pred: Array, target: Any, threshold: float = 0.5) -> Array:
    """Fraction of correct predictions per model (shape ``pred.shape[:-2]``).

    >>> pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])  # (N=3, classes=2)
    >>> float(accuracy(pred, np.array([1, 0, 0])))
    0.6666666666666666
    >>> accuracy(np.stack([pred, pred[:, ::-1]]), np.array([1, 0, 0]))  # 2 stacked models
    array([0.66666667, 0.33333333])
    """
    if not isinstance(pred, np.ndarray) or pred.ndim < 2:
        raise ValueError(
            "accuracy: argument 'pred' must be an array of shape (..., examples, outputs), got "
            f"{getattr(pred, 'shape', type(pred).__name__)}"
        )
    if not isinstance(target, np.ndarray):
        raise TypeError(f"accuracy: argument 'target' must be a numpy array, got {type(target)}")
    lead = pred.shape[:-1]
    labels: IntArray
    if target.dtype.kind in "iub":
        labels = target.astype(np.int64, copy=False)
    else:
        if not omits_model_axes(pred.shape, target.shape, 2):
            raise ValueError(
                f"accuracy: argument 'target' must have the shape of 'pred' {pred.shape} (or omit "
                f"its leading model axes), got {target.shape}"
            )
        labels = predicted_class(target, 0.5)
    if not omits_model_axes(lead, labels.shape, 1):
        raise ValueError(
            f"accuracy: labels must have shape {lead} (or omit the leading model axes) for 'pred' "
            f"{pred.shape}, got {labels.shape}"
        )
    correct = predicted_class(pred, threshold) == labels
    return np.asarray(np.mean(correct, axis=-1))


def confusion_matrix(pred_labels: IntArray, labels: IntArray, num_classes: int) -> IntArray:
    """``m[i, j]`` = number of examples of true class ``i`` predicted as ``j`` (one model).

    >>> confusion_matrix(np.array([0, 2, 2, 1]), np.array([0, 2, 1, 1]), 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    pred_labels = np.asarray(pred_labels)
    labels = np.asarray(labels)
    if pred_labels.shape != labels.shape or pred_labels.ndim != 1:
        raise ValueError(
            "confusion_matrix: 'pred_labels' and 'labels' must be 1-D of the same length, got "
            f"{pred_labels.shape} and {labels.shape}"
        )
    for name, a in (("pred_labels", pred_labels), ("labels", labels)):
        if a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() >= num_classes)):
            raise ValueError(
                f"confusion_matrix: '{name}' must be integer classes in [0, {num_classes})"
            )
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (labels, pred_labels), 1)
    return m
