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

from fnnet.arrays import (
    Array,
    IntArray,
    omits_model_axes,
    require_float,
    require_int,
    require_labels,
    require_number,
    require_real,
)

__all__ = ["accuracy", "predicted_class", "confusion_matrix"]


def _classes(pred: np.ndarray[Any, Any], threshold: float) -> IntArray:
    """``argmax`` over the last axis, or ``pred >= threshold`` for one output (no checks)."""
    if pred.shape[-1] == 1:
        out: IntArray = (pred[..., 0] >= threshold).astype(np.int64)
        return out
    classes: IntArray = np.argmax(pred, axis=-1)
    return classes


def _pred(fn: str, pred: object) -> Array:
    """``pred`` checked: a float32/float64 array of shape (..., examples, outputs), not empty."""
    pred = require_float(fn, "pred", pred)
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{fn}: argument 'pred' must be float32 or float64 (a model's output), got "
            f"{pred.dtype}; convert it with pred.astype(np.float32)"
        )
    if pred.ndim < 2:
        raise ValueError(
            f"{fn}: argument 'pred' must be an array of shape (..., examples, outputs), got "
            f"{pred.shape}; add the examples axis (pred[None]) for one example"
        )
    if pred.size == 0:
        raise ValueError(
            f"{fn}: argument 'pred' is empty (no models, examples or outputs), shape {pred.shape}"
        )
    return pred


def predicted_class(pred: Array, threshold: float = 0.5) -> IntArray:
    """Class per example: ``argmax`` over the last axis, or ``pred >= threshold`` for one output.

    A NaN in ``pred`` has no class: ``ValueError``.

    >>> predicted_class(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])).tolist()
    [1, 0]
    >>> predicted_class(np.array([[0.3], [0.8]])).tolist()  # one output: pred >= 0.5
    [0, 1]
    """
    fn = "predicted_class"
    pred = _pred(fn, pred)
    threshold = require_number(fn, "threshold", threshold)
    if pred.dtype.kind == "f" and np.isnan(pred).any():
        raise ValueError(
            f"{fn}: argument 'pred' contains NaN, which has no class; "
            "check the model that produced it (did training diverge?)"
        )
    return _classes(pred, threshold)


def _labels(fn: str, pred: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> IntArray:
    """The true class per example from ``target``: labels, one-hot rows or binary targets."""
    k = pred.shape[-1]
    if target.dtype.kind == "b":
        raise TypeError(
            f"{fn}: argument 'target' is a bool array; pass integer class labels "
            "(target.astype(np.int64)) or float targets (target.astype(pred.dtype))"
        )
    if target.dtype.kind in "iu":
        labels = require_labels(fn, "target", target.astype(np.int64, copy=False), max(k, 2))
    else:
        if not omits_model_axes(pred.shape, target.shape, 2):
            raise ValueError(
                f"{fn}: argument 'target' must have the shape of 'pred' {pred.shape} (or omit "
                f"its leading model axes), got {target.shape}; integer labels have shape "
                f"{pred.shape[:-1]}"
            )
        if not np.isfinite(target).all():
            raise ValueError(f"{fn}: argument 'target' contains NaN or infinity; fix the data")
        if k == 1 and (target.min() < 0.0 or target.max() > 1.0):
            raise ValueError(
                f"{fn}: a binary 'target' (one output) must lie in [0, 1], got values in "
                f"[{target.min()}, {target.max()}]"
            )
        labels = _classes(target, 0.5)
    lead = pred.shape[:-1]
    if not omits_model_axes(lead, labels.shape, 1):
        raise ValueError(
            f"{fn}: argument 'target' must hold one label per example, shape {lead} (or omit "
            f"the leading model axes) for 'pred' {pred.shape}, or have the shape of 'pred'; got "
            f"{target.shape}"
        )
    return labels


def accuracy(pred: Array, target: Any, threshold: float = 0.5) -> Array:
    """Fraction of correct predictions per model (shape ``pred.shape[:-2]``).

    A model with a NaN anywhere in its ``pred`` gets accuracy NaN (a NaN prediction is neither
    right nor wrong); the other models of a stack are unaffected. Labels must lie in
    ``[0, classes)`` (``[0, 2)`` for one output), float targets in ``[0, 1]`` for one output.

    >>> pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])  # (N=3, classes=2)
    >>> float(accuracy(pred, np.array([1, 0, 0])))
    0.6666666666666666
    >>> accuracy(np.stack([pred, pred[:, ::-1]]), np.array([1, 0, 0]))  # 2 stacked models
    array([0.66666667, 0.33333333])
    >>> accuracy(np.stack([pred, np.full((3, 2), np.nan)]), np.array([1, 0, 0]))  # NaN: reported
    array([0.66666667,        nan])
    """
    fn = "accuracy"
    pred = _pred(fn, pred)
    threshold = require_number(fn, "threshold", threshold)
    labels = _labels(fn, pred, require_real(fn, "target", target))
    acc = np.mean(_classes(pred, threshold) == labels, axis=-1)
    if pred.dtype.kind == "f":
        nan = np.isnan(pred).any(axis=(-2, -1))
        if nan.any():
            acc = np.where(nan, np.nan, acc)
    return np.asarray(acc)


def confusion_matrix(pred_labels: IntArray, labels: IntArray, num_classes: int) -> IntArray:
    """``m[i, j]`` = number of examples of true class ``i`` predicted as ``j`` (one model).

    >>> confusion_matrix(np.array([0, 2, 2, 1]), np.array([0, 2, 1, 1]), 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    fn = "confusion_matrix"
    num_classes = require_int(fn, "num_classes", num_classes, minimum=1)
    pred_labels = require_labels(fn, "pred_labels", np.asarray(pred_labels), num_classes)
    labels = require_labels(fn, "labels", np.asarray(labels), num_classes)
    if pred_labels.shape != labels.shape or pred_labels.ndim != 1:
        raise ValueError(
            f"{fn}: 'pred_labels' and 'labels' must be 1-D of the same length, got "
            f"{pred_labels.shape} and {labels.shape}"
        )
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (labels, pred_labels), 1)
    return m
