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

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape, require_dy, require_int, require_shape
from fnnet.layers.base import Layer, check_input, check_model_axes, check_weights
from fnnet.layers.initializers import Initializer, glorot_uniform, zeros
from fnnet.layers.spec import DenseSpec
from fnnet.random import Key, fold_in

__all__ = ["DenseParams", "dense", "sum_models"]


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


def sum_models(dx: Array, x: Array) -> Array:
    """``dx`` summed over the leading model axes that ``x`` lacks: the gradient of an input
    batch shared by a stack of models is the sum of every model's gradient.

    >>> sum_models(np.ones((3, 5, 2)), np.zeros((5, 2))).shape  # 3 models shared x (5, 2)
    (5, 2)
    """
    extra = dx.ndim - x.ndim
    return dx.sum(axis=tuple(range(extra))) if extra else dx


def _check_x(fn: str, p: DenseParams, x: object) -> Array:
    x = check_input(fn, x, p.w.shape[-2], p.w.dtype)
    check_model_axes(fn, x, 1, p.w, 2)
    return x


def _output_shape(fn: str, p: DenseParams, x: object) -> Shape:
    """The shape of ``y = x @ w + b`` for the residual ``x`` (checked to fit ``w``)."""
    if not isinstance(x, np.ndarray) or x.ndim < 2 or x.shape[-1] != p.w.shape[-2]:
        got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(
            f"{fn}: argument 'residuals' must be the x (..., N, {p.w.shape[-2]}) that this "
            f"layer's forward returned, got {got}"
        )
    lead = x.shape[:-2] or p.w.shape[:-2]
    return (*lead, x.shape[-2], p.w.shape[-1])


def dense(
    out_features: int,
    init: Initializer | None = None,
    bias_init: Initializer = zeros,
    dtype: npt.DTypeLike = np.float64,
    *,
    in_features: int | None = None,
) -> Layer[DenseParams, Array]:
    """A dense layer with ``out_features`` outputs; ``init`` defaults to Glorot uniform.
    ``in_features``, when given, is checked against ``init``'s ``input_shape``.

    Residuals: the input ``x``.

    >>> layer = dense(2, init=lambda key, shape, dtype: np.ones(shape, dtype))
    >>> _, p = layer.init(0, (3,))
    >>> x = np.arange(6.0).reshape(2, 3)  # (N=2, in=3)
    >>> y, x_saved = layer.forward(p, x)
    >>> y  # x @ w + b
    array([[ 3.,  3.],
           [12., 12.]])
    >>> dp, dx = layer.backward(p, x_saved, np.ones((2, 2)))
    >>> dp.b, dx  # Σ dy over examples; dy @ wᵀ
    (array([2., 2.]), array([[2., 2., 2.],
           [2., 2., 2.]]))
    """
    out_features = require_int("dense", "out_features", out_features, minimum=1)
    if in_features is not None:
        in_features = require_int("dense", "in_features", in_features, minimum=1)
    name = f"dense({out_features})"
    dims = (("in", in_features), ("out", out_features))
    weight_init = init if init is not None else glorot_uniform()
    dt = np.dtype(dtype)

    def init_fn(key: Key, input_shape: Shape) -> tuple[Shape, DenseParams]:
        input_shape = require_shape(name, "input_shape", input_shape)
        if len(input_shape) != 1 or in_features not in (None, input_shape[0]):
            want = "(features,)" if in_features is None else f"({in_features},) (in_features)"
            raise ValueError(f"{name}: input_shape must be {want}, got {input_shape}")
        w = weight_init(fold_in(key, 0), (input_shape[0], out_features), dt)
        b = bias_init(fold_in(key, 1), (out_features,), dt)
        return (out_features,), DenseParams(w, b)

    def apply(p: DenseParams, x: Array) -> Array:
        check_weights(name, p, DenseParams, dims)
        x = _check_x(name, p, x)
        y: Array = x @ p.w + p.b[..., None, :]
        return y

    def forward(p: DenseParams, x: Array) -> tuple[Array, Array]:
        return apply(p, x), x

    def backward(p: DenseParams, x: Array, dy: Array) -> tuple[DenseParams, Array]:
        check_weights(name, p, DenseParams, dims)
        dy = require_dy(name, dy, _output_shape(name, p, x), p.w.dtype)
        dw = x.swapaxes(-1, -2) @ dy
        db = dy.sum(axis=-2)
        dx = sum_models(dy @ p.w.swapaxes(-1, -2), x)
        return DenseParams(dw, db), dx

    spec = DenseSpec(out_features, in_features, dt)
    return Layer(init_fn, forward, backward, apply, name=name, spec=spec)
