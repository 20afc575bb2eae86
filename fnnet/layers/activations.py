"""Elementwise activations (and softmax) as parameter-free layers; params are ``None``.

Each forward sits beside its derivative, written in terms of the residual it keeps:

==============  ===============================  =====================================
layer           forward                          backward ``dx``
==============  ===============================  =====================================
identity        y = x                            dy
sigmoid         y = 1 / (1 + e⁻ˣ)                dy · y(1 − y)
tanh            y = tanh x                       dy · (1 − y²)
relu            y = max(x, 0)                    dy · [y > 0]
leaky_relu(α)   y = x if x > 0 else αx           dy · (1 if x > 0 else α)
elu(α)          y = x if x > 0 else α(eˣ − 1)    dy · (1 if x > 0 else y + α)
softplus        y = log(1 + eˣ)                  dy · sigmoid(x)
softmax         y = eˣ / Σ eˣ  (last axis)       y ⊙ (dy − Σ dy ⊙ y)
==============  ===============================  =====================================

Sigmoid is computed as ``1 / (1 + e⁻ˣ)`` with the (harmless) overflow of ``e⁻ˣ`` to ``inf``
silenced, and softmax after subtracting the row maximum, so both are finite, accurate in the tails
and free of overflow warnings for any finite input.

>>> import numpy as np
>>> sigmoid.apply(None, np.array([[-1e4, 0.0, 1e4]]))
array([[0. , 0.5, 1. ]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fnnet.arrays import Array, Shape
from fnnet.layers.base import Elementwise, Layer, is_quiet
from fnnet.random import Key

__all__ = [
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


def _check(name: str, x: object) -> None:
    if type(x) is not np.ndarray or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name}: argument 'x' must be a floating numpy array, got {got}")


def _activation(
    name: str,
    fn: Callable[[Array], Array],
    grad: Callable[[Array, Array, Array], Array],
    keep_input: bool,
    elementwise: Elementwise | None = None,
) -> Activation:
    """A parameter-free layer from ``fn(x)`` and ``grad(residual, y_or_x, dy) -> dx``.

    The residual is ``x`` when ``keep_input`` else ``y``. ``elementwise`` (for activations whose
    derivative is a function of the output) lets ``mlp`` fuse the activation into its dense layer.
    """

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return tuple(input_shape), None

    def apply(p: None, x: Array) -> Array:
        _check(name, x)
        return fn(x)

    def forward(p: None, x: Array) -> tuple[Array, Array]:
        _check(name, x)
        y = fn(x)
        return y, (x if keep_input else y)

    def backward(p: None, r: Array, dy: Array) -> tuple[None, Array]:
        return None, grad(r, r, dy)

    return Layer(init, forward, backward, apply, name=name, elementwise=elementwise)


def _sigmoid_of_negated_(t: Array) -> Array:
    """``1 / (1 + eᵗ) = sigmoid(−t)`` in place in ``t``; ``eᵗ`` may overflow to ``inf`` (giving
    the correct 0), so the caller silences overflow and underflow warnings."""
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


_ONE = {np.dtype(t): np.ones((), t) for t in (np.float16, np.float32, np.float64)}
"""``1`` as a 0-d array per dtype: numpy converts a Python float operand on every call (~0.4 µs
on a tiny array); the same value in the array's own dtype gives the same numbers without it."""


def _one(x: Array) -> Any:
    return _ONE.get(x.dtype, 1.0)


def _sigmoid_raw_(z: Array) -> Array:
    """``sigmoid(z)`` in place in ``z``, warnings not silenced (see above)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    np.add(z, _one(z), out=z)
    return np.reciprocal(z, out=z)


def _sigmoid_factor(y: Array) -> Array:
    """``sigmoid'(x) = y(1 − y)``, a new array."""
    g: Array = np.subtract(_one(y), y)
    g *= y
    return g


def _sigmoid_grad_fused(y: Array, dy: Array, owned: bool) -> Array:
    g = _sigmoid_factor(y)
    g *= dy
    return g


def _tanh_factor(y: Array) -> Array:
    """``tanh'(x) = 1 − y²``, a new array."""
    g = y * y
    return np.subtract(1.0, g, out=g)


def _tanh_grad_fused(y: Array, dy: Array, owned: bool) -> Array:
    g = _tanh_factor(y)
    g *= dy
    return g


def _relu_factor(y: Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``relu'(x) = [y > 0]``, a new (boolean) array."""
    return y > 0.0


def _identity_grad_fused(y: Array, dy: Array, owned: bool) -> Array:
    return dy


def sigmoid_fn(x: Array) -> Array:
    """Logistic ``1 / (1 + e⁻ˣ)``: finite and quiet for any finite ``x`` (``e⁻ˣ`` overflowing to
    ``inf`` gives exactly 0, and that warning is silenced), accurate to a few ulps in both tails
    (``sigmoid(−50) ≈ 1.93e−22``), four numpy calls.

    >>> sigmoid_fn(np.array([-50.0, 0.0, 50.0]))
    array([1.92874985e-22, 5.00000000e-01, 1.00000000e+00])
    """
    t = np.negative(x)
    if is_quiet():
        return _sigmoid_of_negated_(t)
    with np.errstate(over="ignore", under="ignore"):
        return _sigmoid_of_negated_(t)


def _sigmoid_grad(y: Array, _: Array, dy: Array) -> Array:
    g = 1.0 - y
    g *= y
    g *= dy
    return g


def _tanh_(z: Array) -> Array:
    return np.tanh(z, out=z)


def _tanh_grad(y: Array, _: Array, dy: Array) -> Array:
    g = y * y
    np.subtract(1.0, g, out=g)
    g *= dy
    return g


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _relu_(z: Array) -> Array:
    return np.maximum(z, 0.0, out=z)


def _relu_grad(y: Array, _: Array, dy: Array) -> Array:
    return np.multiply(dy, y > 0.0)


def _relu_grad_fused(y: Array, dy: Array, owned: bool) -> Array:
    return np.multiply(dy, y > 0.0, out=dy if owned else None)


def _same(x: Array) -> Array:
    return x


identity: Activation = _activation(
    "identity",
    _same,
    lambda r, _, dy: dy,
    keep_input=False,
    elementwise=Elementwise(_same, _identity_grad_fused),
)
sigmoid: Activation = _activation(
    "sigmoid",
    sigmoid_fn,
    _sigmoid_grad,
    keep_input=False,
    elementwise=Elementwise(
        _sigmoid_raw_, _sigmoid_grad_fused, silence=True, factor=_sigmoid_factor
    ),
)
tanh: Activation = _activation(
    "tanh",
    np.tanh,
    _tanh_grad,
    keep_input=False,
    elementwise=Elementwise(_tanh_, _tanh_grad_fused, factor=_tanh_factor),
)
relu: Activation = _activation(
    "relu",
    _relu,
    _relu_grad,
    keep_input=False,
    elementwise=Elementwise(_relu_, _relu_grad_fused, factor=_relu_factor),
)


def leaky_relu(alpha: float = 0.01) -> Activation:
    """``x`` for ``x > 0``, else ``alpha * x``.

    >>> leaky_relu(0.1).apply(None, np.array([[-2.0, 3.0]]))
    array([[-0.2,  3. ]])
    """
    a = float(alpha)

    def fn(x: Array) -> Array:
        return np.where(x > 0.0, x, x * a)

    def grad(x: Array, _: Array, dy: Array) -> Array:
        return np.where(x > 0.0, dy, dy * a)

    return _activation(f"leaky_relu({a})", fn, grad, keep_input=True)


def elu(alpha: float = 1.0) -> Activation:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> y = elu(1.0).apply(None, np.array([[-1.0, 2.0]]))
    >>> y.round(4)  # e⁻¹ - 1
    array([[-0.6321,  2.    ]])
    """
    a = float(alpha)

    def fn(x: Array) -> Array:
        return np.where(x > 0.0, x, a * np.expm1(np.minimum(x, 0.0)))

    def grad(x: Array, _: Array, dy: Array) -> Array:
        return np.where(x > 0.0, dy, dy * (a * np.exp(np.minimum(x, 0.0))))

    return _activation(f"elu({a})", fn, grad, keep_input=True)


def _softplus(x: Array) -> Array:
    return np.logaddexp(x, 0.0)


softplus: Activation = _activation(
    "softplus", _softplus, lambda x, _, dy: dy * sigmoid_fn(x), keep_input=True
)


def softmax_fn(x: Array) -> Array:
    """Softmax over the last axis, stable for any finite input.

    >>> softmax_fn(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))  # rows sum to 1
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    z: Array = x - np.max(x, axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= np.add.reduce(z, axis=-1, keepdims=True)
    return z


def log_softmax_fn(x: Array) -> Array:
    """``log(softmax(x))`` over the last axis, without forming the softmax.

    >>> log_softmax_fn(np.array([[0.0, 0.0]])).round(4)  # log(1/2)
    array([[-0.6931, -0.6931]])
    """
    z: Array = x - np.max(x, axis=-1, keepdims=True)
    z -= np.log(np.add.reduce(np.exp(z), axis=-1, keepdims=True))
    return z


def _softmax_grad(y: Array, _: Array, dy: Array) -> Array:
    g = dy - np.add.reduce(dy * y, axis=-1, keepdims=True)
    g *= y
    return g


softmax: Activation = _activation("softmax", softmax_fn, _softmax_grad, keep_input=False)
