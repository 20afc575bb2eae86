"""Losses: ``loss(pred, target) -> (value, dpred)``, value per model and its gradient in one call.

``pred`` is ``(..., N, k)``: leading axes index a stack of models, ``N`` examples, ``k`` outputs.
The value is a mean over the examples (and outputs), one per model: shape ``pred.shape[:-2]``
(a 0-d array for a single model). ``dpred = d value / d pred``, so the quantity differentiated for
a stack is the sum over models and each model's gradient equals the one it would get alone.

``target`` must match ``pred`` exactly, except that it may omit ``pred``'s leading model axes
(data shared by every model in a stack). A ``(N,)`` target against a ``(N, 1)`` prediction is a
``ValueError``, never a silent broadcast to ``(N, N)``.

================================  ==================================  ====================
loss                              value, averaged over N·k            dpred · N·k
================================  ==================================  ====================
mse                               (p − t)²                            2(p − t)
half_mse                          ½(p − t)²                           p − t
binary_cross_entropy              −t log p − (1 − t) log(1 − p)       (p − t) / (p(1 − p))
binary_cross_entropy_with_logits  max(z, 0) − z t + log(1 + e^−|z|)   σ(z) − t
================================  ==================================  ====================

``softmax_cross_entropy`` averages over the N examples only: value ``logsumexp(z) − z_label``,
``dpred · N = softmax(z) − onehot``.

>>> import numpy as np
>>> value, grad = mse(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
>>> float(value), grad.ravel().tolist()
(2.5, [1.0, 2.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

from fnnet.arrays import (
    Array,
    IntArray,
    omits_model_axes,
    require_float,
    require_labels,
    require_nonempty,
    require_range,
    require_real,
    require_same_dtype,
)
from fnnet.layers.activations import sigmoid_fn

__all__ = [
    "Loss",
    "mse",
    "half_mse",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
]

Loss: TypeAlias = Callable[[Array, Any], tuple[Array, Array]]
"""``loss(pred, target) -> (value per model, dpred)``."""


def _check_pred(fn: str, pred: object) -> Array:
    """``pred`` as floating ``(..., examples, outputs)`` with something in it, else an error."""
    pred = require_float(fn, "pred", pred)
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{fn}: argument 'pred' must be float32 or float64, got {pred.dtype}; "
            "convert it with pred.astype(np.float32)"
        )
    if pred.ndim < 2:
        raise ValueError(
            f"{fn}: argument 'pred' must have shape (..., examples, outputs), got {pred.shape}; "
            "reshape a (N,) prediction to (N, 1)"
        )
    require_nonempty(fn, "pred", pred, "models, examples or outputs")
    return pred


def _check(fn: str, pred: object, target: object) -> tuple[Array, Array]:
    """``(pred, target)`` validated; a bool or integer ``target`` is cast to ``pred``'s dtype."""
    if (  # the common case in one cheap test: same shape and dtype, float, with examples
        type(pred) is np.ndarray
        and type(target) is np.ndarray
        and pred.shape == target.shape
        and pred.dtype is target.dtype
        and pred.ndim >= 2
        and (pred.dtype == np.float64 or pred.dtype == np.float32)
        and pred.size > 0
    ):
        return pred, target
    pred = _check_pred(fn, pred)
    target = require_real(fn, "target", target)
    if not omits_model_axes(pred.shape, target.shape, 2):
        raise ValueError(
            f"{fn}: argument 'target' must have the shape of 'pred' {pred.shape} (or omit "
            f"its leading model axes), got {target.shape}; reshape a (N,) target to (N, 1)"
        )
    if target.dtype.kind != "f":
        return pred, target.astype(pred.dtype)
    require_same_dtype(fn, "pred", pred, "target", target)
    return pred, target


def _mean(x: Array) -> Array:
    """Mean over the last two axes (examples, outputs): one value per model."""
    n = x.shape[-1] * x.shape[-2]
    total: Array = np.add.reduce(x.reshape(*x.shape[:-2], n), axis=-1)
    return np.asarray(total / n)


def _sum_squares(diff: Array) -> Array:
    """``Σ diff²`` over the last two axes, one value per model (a BLAS dot for one model)."""
    if diff.ndim == 2:
        return np.vdot(diff, diff)  # type: ignore[return-value]  # a numpy scalar of diff's dtype
    flat = diff.reshape(*diff.shape[:-2], 1, diff.shape[-1] * diff.shape[-2])
    out: Array = np.matmul(flat, flat.swapaxes(-1, -2))[..., 0, 0]
    return out


def _squared_error(fn: str, pred: Array, target: Array, c: float) -> tuple[Array, Array]:
    """``c · mean((pred − target)²)`` per model and its gradient ``2c (pred − target) / (N·k)``."""
    pred, target = _check(fn, pred, target)
    diff = pred - target
    n = pred.shape[-1] * pred.shape[-2]
    value = np.asarray(_sum_squares(diff) * (c / n))
    diff *= 2.0 * c / n
    return value, diff


def mse(pred: Array, target: Array) -> tuple[Array, Array]:
    """Mean squared error ``mean((pred - target)²)`` per model.

    >>> value, dpred = mse(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))  # (N=1, k=2)
    >>> float(value), dpred.tolist()
    (2.5, [[1.0, 2.0]])
    """
    return _squared_error("mse", pred, target, 1.0)


def half_mse(pred: Array, target: Array) -> tuple[Array, Array]:
    """Half mean squared error ``mean(½(pred - target)²)`` per model (one lab report's loss).

    >>> value, dpred = half_mse(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    >>> float(value), dpred.ravel().tolist()
    (1.25, [0.5, 1.0])
    """
    return _squared_error("half_mse", pred, target, 0.5)


def binary_cross_entropy(pred: Array, target: Array) -> tuple[Array, Array]:
    """Binary cross-entropy on probabilities, per model.

    ``pred`` and ``target`` must lie in ``[0, 1]`` (``ValueError`` otherwise: for logits use
    :func:`binary_cross_entropy_with_logits`); NaN passes through to a NaN value. ``pred`` is
    clipped to ``[eps, 1 - eps]`` (``eps`` the dtype's machine epsilon) so the value and gradient
    stay finite at 0 and 1.

    >>> value, dpred = binary_cross_entropy(np.array([[0.5], [0.5]]), np.array([[1.0], [0.0]]))
    >>> round(float(value), 4), dpred.ravel().tolist()  # log 2; (p - t) / (p(1 - p) N)
    (0.6931, [-1.0, 1.0])
    """
    fn = "binary_cross_entropy"
    pred, target = _check(fn, pred, target)
    require_range(fn, "pred", pred, 0.0, 1.0, "probabilities; for logits use *_with_logits")
    require_range(fn, "target", target, 0.0, 1.0, "probabilities")
    eps = float(np.finfo(pred.dtype).eps)
    p = np.clip(pred, eps, 1.0 - eps)
    one_minus = 1.0 - p
    value = _mean(-(target * np.log(p) + (1.0 - target) * np.log(one_minus)))
    grad = (p - target) / (p * one_minus)
    grad *= 1.0 / (pred.shape[-1] * pred.shape[-2])
    return value, grad


def binary_cross_entropy_with_logits(pred: Array, target: Array) -> tuple[Array, Array]:
    """Binary cross-entropy on logits ``z`` (stable for any finite ``z``), per model.

    ``target`` must lie in ``[0, 1]`` (``ValueError`` otherwise).

    >>> z, t = np.array([[0.0], [0.0]]), np.array([[1.0], [0.0]])
    >>> value, dz = binary_cross_entropy_with_logits(z, t)
    >>> round(float(value), 4), dz.ravel().tolist()  # log 2; (σ(z) - t) / N
    (0.6931, [-0.25, 0.25])
    """
    fn = "binary_cross_entropy_with_logits"
    z, target = _check(fn, pred, target)
    require_range(fn, "target", target, 0.0, 1.0, "probabilities")
    value = _mean(np.maximum(z, 0.0) - z * target + np.log1p(np.exp(-np.abs(z))))
    grad = sigmoid_fn(z)
    grad -= target
    grad *= 1.0 / (z.shape[-1] * z.shape[-2])
    return value, grad


def _soft_target(fn: str, pred: Array, target: object) -> tuple[Array, bool]:
    """``target`` as probability rows ``(..., N, C)`` and whether each row sums to exactly 1."""
    lead = pred.shape[:-1]
    if isinstance(target, np.ndarray) and (
        target.dtype.kind in "iu"
        or (
            omits_model_axes(lead, target.shape, 1)
            and not omits_model_axes(pred.shape, target.shape, 2)
        )
    ):  # class labels (or labels of a wrong dtype: require_labels says so)
        try:
            labels = require_labels(fn, "target", target, pred.shape[-1])
        except TypeError as e:  # a ValueError: the shape says labels, the dtype says rows
            raise ValueError(f"{e}; or pass probability rows of shape {pred.shape}") from None
        if not omits_model_axes(lead, labels.shape, 1):
            raise ValueError(
                f"{fn}: integer 'target' must have shape {lead} (or omit the leading model axes) "
                f"for 'pred' {pred.shape}, got {labels.shape}"
            )
        return (labels[..., None] == np.arange(pred.shape[-1])).astype(pred.dtype), True
    if isinstance(target, np.ndarray) and target.dtype.kind == "b":
        raise TypeError(
            f"{fn}: argument 'target' is a bool array; pass integer class labels of shape "
            f"{lead} (target.argmax(-1)) or float probability rows (target.astype(pred.dtype))"
        )
    _, t = _check(fn, pred, target)
    require_range(fn, "target", t, 0.0, 1.0, "probability rows, such as one-hot rows")
    return t, False


def softmax_cross_entropy(pred: Array, target: Array | IntArray) -> tuple[Array, Array]:
    """Softmax cross-entropy on logits ``(..., N, C)``, mean over examples, per model.

    ``target`` is integer class labels ``(..., N)`` in ``[0, C)``, or one-hot / probability rows
    ``(..., N, C)`` with entries in ``[0, 1]``. The gradient is the fused, stable
    ``(softmax(z) · Σt - t) / N``, which is ``(softmax(z) - onehot) / N`` for rows that sum to 1.

    >>> z = np.array([[0.0, 0.0], [0.0, 0.0]])  # (N=2, C=2) logits
    >>> value, dz = softmax_cross_entropy(z, np.array([0, 1]))  # integer labels (N,)
    >>> round(float(value), 4), dz.tolist()  # log 2; (softmax(z) - onehot) / N
    (0.6931, [[-0.25, 0.25], [0.25, -0.25]])
    """
    fn = "softmax_cross_entropy"
    z = _check_pred(fn, pred)
    t, rows_sum_to_one = _soft_target(fn, z, target)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    norm = np.add.reduce(exp, axis=-1, keepdims=True)
    shifted -= np.log(norm)  # log-softmax
    shifted *= t
    n = z.shape[-2]
    value = np.asarray(np.add.reduce(shifted.reshape(*z.shape[:-2], -1), axis=-1) * (-1.0 / n))
    exp /= norm  # softmax
    if not rows_sum_to_one:  # d/dz of -Σ t log softmax(z) is softmax(z) Σt - t
        exp *= np.add.reduce(t, axis=-1, keepdims=True)
    exp -= t
    exp *= 1.0 / n
    return value, exp
