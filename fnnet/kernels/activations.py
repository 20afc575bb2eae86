"""Activations in the form the fused kernels use them, keyed by :class:`ActivationSpec`.

A kernel keeps only each layer's *output* ``y``, so every derivative here is computed from
``y`` (``sigmoid' = y(1 − y)``, ``tanh' = 1 − y²``, ``relu' = [y > 0]``, ...), and the forward
works *in place* in the buffer the preceding matmul just allocated. Each is tested equal to the
reference activation layer in ``tests/test_kernels.py``.

>>> import numpy as np
>>> from fnnet.layers.spec import ActivationSpec
>>> act = kernel_activation(ActivationSpec("relu"))
>>> act.forward_(np.array([[-1.0, 2.0]])), act.grad(np.array([[0.0, 2.0]]), np.ones((1, 2)), False)
(array([[0., 2.]]), array([[0., 1.]]))
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet.arrays import Array
from fnnet.layers.spec import ActivationSpec

__all__ = ["KernelActivation", "Negated", "kernel_activation"]

_ONE = {np.dtype(t): np.ones((), t) for t in (np.float16, np.float32, np.float64)}
"""``1`` as a 0-d array per dtype: numpy converts a Python float operand on every call (~0.4 µs on
a tiny array); the same value in the array's own dtype gives the same numbers without that."""


def _one(x: Array) -> Any:
    return _ONE.get(x.dtype, 1.0)


@attrs.frozen
class KernelActivation:
    """An activation for the kernels.

    ``forward_(z)``: the activation computed in place in ``z`` (a buffer the caller owns), which
    it returns. ``grad(y, dy, owned)``: ``dL/dx`` from the output ``y`` and ``dy``; it may write
    into ``dy`` only when ``owned``. ``factor(y)``: the derivative ``act'(x)`` as a new array
    from the output, with ``grad(y, dy, _) == factor(y) * dy`` (so a network whose layers share
    one activation computes all derivatives in one pass); ``None`` when there is no such
    elementwise factor or it would only cost time (identity). ``elementwise``: false for
    softmax (it mixes the last axis). ``silence``: the forward may overflow harmlessly
    (sigmoid's ``e⁻ᶻ → inf``), so the caller runs it under ``np.errstate(over="ignore")``.
    ``factor_into(y, out)``: ``factor(y)`` written into the caller's buffer ``out`` (returned).
    ``negated``: the activation on negated pre-activations (:class:`Negated`), or ``None``.

    >>> from fnnet.layers.spec import ActivationSpec
    >>> kernel_activation(ActivationSpec("tanh")).factor(np.array([0.0, 0.5]))  # 1 − y²
    array([1.  , 0.75])
    """

    name: str
    forward_: Callable[[Array], Array]
    grad: Callable[[Array, Array, bool], Array]
    factor: Callable[[Array], Any] | None = None
    elementwise: bool = True
    silence: bool = False
    factor_into: Callable[[Array, Array], Array] | None = None
    negated: Negated | None = None


@attrs.frozen
class Negated:
    """An activation run on negated pre-activations ``z' = −z`` (a network whose weights were
    negated once per step, instead of negating every layer's ``z``): ``forward_(z')`` computes
    ``act(−z')`` in place; ``factor_into(y, out)`` writes ``−act'(x)`` from the output. Negation
    is exact, so the results are bit for bit those of the plain form.

    >>> neg = kernel_activation(ActivationSpec("sigmoid")).negated
    >>> neg.forward_(np.array([-2.0, 0.0])), neg.factor_into(np.array([0.5]), np.empty(1))
    (array([0.88079708, 0.5       ]), array([-0.25]))
    """

    forward_: Callable[[Array], Array]
    factor_into: Callable[[Array, Array], Array]


def _with_factor(factor: Callable[[Array], Any]) -> Callable[[Array, Array, bool], Array]:
    def grad(y: Array, dy: Array, owned: bool) -> Array:
        g: Array = factor(y)
        g *= dy
        return g

    return grad


def _sigmoid_(z: Array) -> Array:
    """``1 / (1 + e⁻ᶻ)`` in place; ``e⁻ᶻ`` may overflow to ``inf``, giving the correct 0."""
    np.negative(z, z)  # (``out`` positional: less call overhead on tiny arrays)
    np.exp(z, z)
    np.add(z, _one(z), z)
    return np.reciprocal(z, z)


def _sigmoid_factor(y: Array) -> Array:
    g: Array = np.subtract(_one(y), y)
    return np.multiply(g, y, g)


def _sigmoid_factor_into(y: Array, out: Array) -> Array:
    np.subtract(_one(y), y, out)
    return np.multiply(out, y, out)


def _sigmoid_of_negated_(z: Array) -> Array:
    """``1 / (1 + eᶻ)``, the sigmoid of ``−z``, in place."""
    np.exp(z, z)
    np.add(z, _one(z), z)
    return np.reciprocal(z, z)


def _sigmoid_negated_factor_into(y: Array, out: Array) -> Array:
    """``(y − 1) y = −σ'``."""
    np.subtract(y, _one(y), out)
    return np.multiply(out, y, out)


def _tanh_factor_into(y: Array, out: Array) -> Array:
    np.multiply(y, y, out)
    np.subtract(_one(y), out, out)
    return out


def _tanh_factor(y: Array) -> Array:
    g = y * y
    np.subtract(_one(y), g, out=g)
    return g


def _relu_grad(y: Array, dy: Array, owned: bool) -> Array:
    return np.multiply(dy, y > 0.0, out=dy if owned else None)


def _softplus_factor(y: Array) -> Array:
    """``sigmoid(x) = 1 − e⁻ʸ`` for ``y = log(1 + eˣ)``."""
    g = np.negative(y)
    np.expm1(g, out=g)
    return np.negative(g, out=g)


def _softmax_(z: Array) -> Array:
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _softmax_grad(y: Array, dy: Array, owned: bool) -> Array:
    dx: Array = y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    return dx


def _leaky_relu(a: float) -> KernelActivation:
    def forward_(z: Array) -> Array:
        return np.multiply(z, a, out=z, where=z <= 0.0)

    def factor(y: Array) -> Array:
        g: Array = np.where(y > 0.0, _one(y), y.dtype.type(a))
        return g

    def grad(y: Array, dy: Array, owned: bool) -> Array:
        return np.where(y > 0.0, dy, a * dy)  # y > 0 exactly where x > 0, since a > 0

    return KernelActivation(f"leaky_relu({a})", forward_, grad, factor)


def _elu(a: float) -> KernelActivation:
    def forward_(z: Array) -> Array:
        np.copyto(z, a * np.expm1(np.minimum(z, 0.0)), where=z <= 0.0)
        return z

    def factor(y: Array) -> Array:
        g = y + a  # a·eˣ for x <= 0, since y = a(eˣ − 1)
        np.copyto(g, 1.0, where=y > 0.0)
        return g

    return KernelActivation(f"elu({a})", forward_, _with_factor(factor), factor)


_FIXED = {
    "identity": KernelActivation("identity", lambda z: z, lambda y, dy, owned: dy),
    "sigmoid": KernelActivation(
        "sigmoid",
        _sigmoid_,
        _with_factor(_sigmoid_factor),
        _sigmoid_factor,
        silence=True,
        factor_into=_sigmoid_factor_into,
        negated=Negated(_sigmoid_of_negated_, _sigmoid_negated_factor_into),
    ),
    "tanh": KernelActivation(
        "tanh",
        lambda z: np.tanh(z, out=z),
        _with_factor(_tanh_factor),
        _tanh_factor,
        factor_into=_tanh_factor_into,
    ),
    "relu": KernelActivation(
        "relu", lambda z: np.maximum(z, 0.0, out=z), _relu_grad, lambda y: y > 0.0
    ),
    "softplus": KernelActivation(
        "softplus",
        lambda z: np.logaddexp(z, 0.0, out=z),
        _with_factor(_softplus_factor),
        _softplus_factor,
    ),
    "softmax": KernelActivation("softmax", _softmax_, _softmax_grad, elementwise=False),
}


def kernel_activation(spec: object) -> KernelActivation | None:
    """The kernel form of the activation ``spec`` describes, or ``None`` (not an activation, or
    one whose derivative cannot be read off its output: ``leaky_relu``/``elu`` with
    ``alpha <= 0``).

    >>> from fnnet.layers.spec import ActivationSpec
    >>> kernel_activation(ActivationSpec("sigmoid")).silence, kernel_activation(None)
    (True, None)
    >>> kernel_activation(ActivationSpec("leaky_relu", 0.0)) is None  # relu-like: y = 0 for x < 0
    True
    """
    if not isinstance(spec, ActivationSpec):
        return None
    if spec.name in _FIXED:
        return _FIXED[spec.name]
    a = spec.alpha
    if a is None or not a > 0.0:
        return None
    return _leaky_relu(a) if spec.name == "leaky_relu" else _elu(a)
