"""Elementwise activations (and softmax) as parameter-free layers; params are ``None``.

Each forward sits beside its derivative, written in terms of the residual it keeps:

==============  ===============================  =====================================
layer           forward                          backward ``dx``
==============  ===============================  =====================================
identity        y = x                            dy
sigmoid         y = 1 / (1 + e⁻ˣ)                dy · y(1 − y)
tanh            y = tanh x                       dy · (1 − y²)
relu            y = max(x, 0)                    dy · [x > 0]
leaky_relu(α)   y = x if x > 0 else αx           dy · (1 if x > 0 else α)
elu(α)          y = x if x > 0 else α(eˣ − 1)    dy · (1 if x > 0 else αeˣ)
softplus        y = log(1 + eˣ)                  dy · sigmoid(x)
softmax         y = eˣ / Σ eˣ  (last axis)       y ⊙ (dy − Σ dy ⊙ y)
==============  ===============================  =====================================

Sigmoid is computed as ``1 / (1 + e⁻ˣ)`` with the (harmless) overflow of ``e⁻ˣ`` to ``inf``
silenced, and softmax after subtracting the row maximum, so both are finite, accurate in the tails
and free of overflow warnings for any finite input. Every activation keeps the dtype of ``x``.

>>> import numpy as np
>>> sigmoid.apply(None, np.array([[-1e4, 0.0, 1e4]]))
array([[0. , 0.5, 1. ]])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fnnet.arrays import Array, Shape, require_axes, require_dy, require_float, require_number
from fnnet.layers.base import Layer
from fnnet.layers.spec import ActivationSpec
from fnnet.random import Key

__all__ = [
    "Activation",
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "softmax",
    "sigmoid_fn",
    "softmax_fn",
    "log_softmax_fn",
]

Activation = Layer[None, Array]
"""A parameter-free layer whose residual is one array (its input or its output)."""


def _activation(
    spec: ActivationSpec,
    fn: Callable[[Array], Array],
    derivative: Callable[[Array, Array], Array],
    keep: str,
) -> Activation:
    """A parameter-free layer from ``y = fn(x)`` and ``dx = derivative(r, dy)``, where the
    residual ``r`` is ``x`` when ``keep == "x"`` and ``y`` when ``keep == "y"``."""
    name = spec.name if spec.alpha is None else f"{spec.name}({spec.alpha})"

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return tuple(input_shape), None

    def apply(p: None, x: Array) -> Array:
        x = require_float(name, "x", x)
        require_axes(name, "x", x, ("examples", "features"))
        return fn(x)

    def forward(p: None, x: Array) -> tuple[Array, Array]:
        y = apply(p, x)
        return y, (x if keep == "x" else y)

    def backward(p: None, r: Array, dy: Array) -> tuple[None, Array]:
        if not isinstance(r, np.ndarray):
            raise ValueError(
                f"{name}: argument 'residuals' must be the array that this layer's forward "
                f"returned, got {type(r).__name__}"
            )
        return None, derivative(r, require_dy(name, dy, r.shape, r.dtype))

    return Layer(init, forward, backward, apply, name=name, spec=spec)


def sigmoid_fn(x: Array) -> Array:
    """Logistic ``1 / (1 + e⁻ˣ)``: finite and quiet for any finite ``x`` (``e⁻ˣ`` overflowing to
    ``inf`` gives exactly 0, and that warning is silenced), accurate to a few ulps in both tails.

    >>> sigmoid_fn(np.array([-50.0, 0.0, 50.0]))
    array([1.92874985e-22, 5.00000000e-01, 1.00000000e+00])
    """
    with np.errstate(over="ignore", under="ignore"):
        y: Array = 1.0 / (1.0 + np.exp(-x))
    return y


def softmax_fn(x: Array) -> Array:
    """Softmax over the last axis, stable for any finite input (the row maximum is subtracted
    first, so ``e^z <= 1``).

    >>> softmax_fn(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))  # rows sum to 1
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    y: Array = e / e.sum(axis=-1, keepdims=True)
    return y


def log_softmax_fn(x: Array) -> Array:
    """``log(softmax(x))`` over the last axis, without forming the softmax.

    >>> log_softmax_fn(np.array([[0.0, 0.0]])).round(4)  # log(1/2)
    array([[-0.6931, -0.6931]])
    """
    z = x - x.max(axis=-1, keepdims=True)
    out: Array = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


def _identity(x: Array) -> Array:
    return x


def _identity_derivative(y: Array, dy: Array) -> Array:
    return dy


def _sigmoid_derivative(y: Array, dy: Array) -> Array:
    return dy * (y * (1.0 - y))


def _tanh_derivative(y: Array, dy: Array) -> Array:
    return dy * (1.0 - y * y)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _relu_derivative(y: Array, dy: Array) -> Array:
    return dy * (y > 0.0)  # y > 0 exactly where x > 0


def _softplus(x: Array) -> Array:
    return np.logaddexp(x, 0.0)


def _softplus_derivative(x: Array, dy: Array) -> Array:
    return dy * sigmoid_fn(x)


def _softmax_derivative(y: Array, dy: Array) -> Array:
    dx: Array = y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    return dx


identity = _activation(ActivationSpec("identity"), _identity, _identity_derivative, keep="y")
sigmoid = _activation(ActivationSpec("sigmoid"), sigmoid_fn, _sigmoid_derivative, keep="y")
tanh = _activation(ActivationSpec("tanh"), np.tanh, _tanh_derivative, keep="y")
relu = _activation(ActivationSpec("relu"), _relu, _relu_derivative, keep="y")
softplus = _activation(ActivationSpec("softplus"), _softplus, _softplus_derivative, keep="x")
softmax = _activation(ActivationSpec("softmax"), softmax_fn, _softmax_derivative, keep="y")


def leaky_relu(alpha: float = 0.01) -> Activation:
    """``x`` for ``x > 0``, else ``alpha * x``; derivative ``1`` or ``alpha``. ``alpha`` is a
    finite real number (numpy scalars are fine; a negative slope is allowed, as in PyTorch).

    >>> leaky_relu(0.1).apply(None, np.array([[-2.0, 3.0]]))
    array([[-0.2,  3. ]])
    """
    a = require_number("leaky_relu", "alpha", alpha)  # a Python float: float32 stays

    def fn(x: Array) -> Array:
        return np.where(x > 0.0, x, a * x)

    def derivative(x: Array, dy: Array) -> Array:
        return np.where(x > 0.0, dy, a * dy)

    return _activation(ActivationSpec("leaky_relu", a), fn, derivative, keep="x")


def elu(alpha: float = 1.0) -> Activation:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``; derivative ``1`` or ``alpha * exp(x)``.
    ``alpha`` is a finite real number (numpy scalars are fine; any sign, as in PyTorch).

    >>> y = elu(1.0).apply(None, np.array([[-1.0, 2.0]]))
    >>> y.round(4)  # e⁻¹ - 1
    array([[-0.6321,  2.    ]])
    """
    a = require_number("elu", "alpha", alpha)

    def fn(x: Array) -> Array:
        return np.where(x > 0.0, x, a * np.expm1(np.minimum(x, 0.0)))

    def derivative(x: Array, dy: Array) -> Array:
        return np.where(x > 0.0, dy, dy * (a * np.exp(np.minimum(x, 0.0))))

    return _activation(ActivationSpec("elu", a), fn, derivative, keep="x")
