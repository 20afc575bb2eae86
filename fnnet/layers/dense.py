"""The dense (fully connected) layer: ``y = x @ w + b``.

Shapes: ``x (..., N, in)``, ``w (..., in, out)``, ``b (..., out)``, ``y (..., N, out)``; leading
axes index a stack of models. ``x`` may also be a plain ``(N, in)`` batch shared by every model
of the stack (its ``dx`` is then summed over the models).

Backward, with ``dy = dL/dy``::

    dw = xᵀ @ dy        (transposes are swapaxes(-1, -2))
    db = Σ_examples dy
    dx = dy @ wᵀ

>>> import numpy as np
>>> layer = dense(3)
>>> out_shape, p = layer.init(0, (2,))
>>> out_shape, p.w.shape, layer.apply(p, np.ones((5, 2))).shape
((3,), (2, 3), (5, 3))
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape
from fnnet.layers.base import Layer, check_input
from fnnet.layers.initializers import Initializer, glorot_uniform, zeros
from fnnet.random import Key, fold_in

__all__ = ["DenseParams", "dense", "matmul", "sum_examples"]


@tree.pytree
@attrs.frozen
class DenseParams:
    """Weights ``w (..., in, out)`` and bias ``b (..., out)``.

    >>> p = DenseParams(w=np.ones((2, 3)), b=np.zeros(3))  # in=2, out=3
    >>> (np.ones((4, 2)) @ p.w + p.b).shape
    (4, 3)
    """

    w: Array
    b: Array


def matmul(a: Array, b: Array) -> Array:
    """``a @ b``; the common 2-D case goes through ``ndarray.dot``, which costs about half of
    ``np.matmul``'s per-call overhead (the same BLAS call, the same numbers).

    >>> matmul(np.ones((4, 2)), np.ones((2, 3))).shape
    (4, 3)
    >>> matmul(np.ones((5, 4, 2)), np.ones((5, 2, 3))).shape  # a stack of 5 models
    (5, 4, 3)
    """
    out: Array = a.dot(b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)
    return out


_ONES: dict[tuple[int, np.dtype[Any]], Array] = {}


def sum_examples(dy: Array, out: Array | None = None) -> Array:
    """``Σ dy`` over the examples axis (-2), one row per model: a BLAS matrix-vector product with
    a cached, read-only vector of ones, several times faster than ``np.add.reduce`` on small and on
    stacked arrays. ``out``: where to write it.

    >>> sum_examples(np.arange(6.0).reshape(3, 2))  # (N=3, out=2) -> (out,)
    array([6., 9.])
    >>> sum_examples(np.ones((5, 3, 2))).shape  # one row per model
    (5, 2)
    """
    key = (dy.shape[-2], dy.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 256:
            _ONES.clear()
        ones = np.ones(key[0], dy.dtype)
        ones.flags.writeable = False
        _ONES[key] = ones
    if dy.ndim == 2:
        result: Array = ones.dot(dy) if out is None else ones.dot(dy, out=out)
        return result
    return np.matmul(ones, dy, out=out)


def _dx_for(x: Array, dx: Array) -> Array:
    """Sum ``dx`` over model axes that ``x`` was broadcast along (shared input batch)."""
    if dx.ndim == x.ndim:
        return dx
    summed: Array = np.add.reduce(dx, axis=tuple(range(dx.ndim - x.ndim)))
    return summed


def dense(
    out_features: int,
    init: Initializer | None = None,
    bias_init: Initializer = zeros,
    dtype: npt.DTypeLike = np.float64,
) -> Layer[DenseParams, Array]:
    """A dense layer with ``out_features`` outputs; ``init`` defaults to Glorot uniform.

    Residuals: the input ``x``.

    >>> layer = dense(2, init=lambda key, shape, dtype: np.ones(shape, dtype))
    >>> _, p = layer.init(0, (3,))
    >>> x = np.arange(6.0).reshape(2, 3)  # (N=2, in=3)
    >>> y, res = layer.forward(p, x)
    >>> y  # x @ w + b
    array([[ 3.,  3.],
           [12., 12.]])
    >>> dp, dx = layer.backward(p, res, np.ones((2, 2)))
    >>> dp.b, dx  # Σ dy over examples; dy @ wᵀ
    (array([2., 2.]), array([[2., 2., 2.],
           [2., 2., 2.]]))
    """
    if not isinstance(out_features, int) or out_features < 1:
        raise ValueError(
            f"dense: argument 'out_features' must be a positive int, got {out_features!r}"
        )
    weight_init = init if init is not None else glorot_uniform()
    dt = np.dtype(dtype)

    def init_fn(key: Key, input_shape: Shape) -> tuple[Shape, DenseParams]:
        if len(input_shape) != 1:
            raise ValueError(f"dense: input_shape must be (features,), got {input_shape}")
        w = weight_init(fold_in(key, 0), (input_shape[0], out_features), dt)
        b = bias_init(fold_in(key, 1), (out_features,), dt)
        return (out_features,), DenseParams(w, b)

    def apply(p: DenseParams, x: Array) -> Array:
        check_input("dense", x, p.w.shape[-2], p.w.dtype)
        if x.ndim > 2 and x.shape[:-2] != p.w.shape[:-2]:
            raise ValueError(
                f"dense: argument 'x' {x.shape} has model axes {x.shape[:-2]} but the params "
                f"have {p.w.shape[:-2]} (w {p.w.shape}); pass (examples, features) to share it"
            )
        y = matmul(x, p.w)
        y += p.b[..., None, :] if p.b.ndim > 1 else p.b
        return y

    def forward(p: DenseParams, x: Array) -> tuple[Array, Array]:
        return apply(p, x), x

    def backward_params(p: DenseParams, x: Array, dy: Array) -> DenseParams:
        return DenseParams(matmul(x.swapaxes(-1, -2), dy), sum_examples(dy))

    def backward(p: DenseParams, x: Array, dy: Array) -> tuple[DenseParams, Array]:
        dx = _dx_for(x, matmul(dy, p.w.swapaxes(-1, -2)))
        return backward_params(p, x, dy), dx

    return Layer(
        init_fn,
        forward,
        backward,
        apply,
        name=f"dense({out_features})",
        backward_params=backward_params,
    )
