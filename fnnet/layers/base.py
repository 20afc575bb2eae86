"""The ``Layer`` record: four pure functions, and the helpers every layer shares.

A layer is a frozen record of

``init(key, input_shape) -> (output_shape, params)``
    shapes without the batch (examples) axis;
``forward(params, x) -> (y, residuals)``
    ``residuals`` is what ``backward`` needs, typed by the layer;
``backward(params, residuals, dy) -> (dparams, dx)``
    hand-derived, ``dparams`` has the type of ``params``;
``apply(params, x) -> y``
    inference: no residuals kept.

Optional fields extend the contract without changing it: ``backward_params`` computes only
``dparams`` (a model's first layer never needs ``dx``), ``forward_keyed`` takes a random key
for stochastic layers such as dropout (the training loop passes a fresh key each step), and
``elementwise`` describes a parameter-free elementwise activation so that combinators such as
``mlp`` can fuse it into the dense layer before it (see :class:`Elementwise`), and ``unravel``
(on a layer made by ``flat_params``) turns its flat params vector back into the structured tree;
``flat(input_shape)``, when a layer has it, is a specialised implementation of
``flat_params(layer, input_shape)`` (``mlp`` has one that writes its gradients straight into the
flat vector).

Arrays put features on the last axis and examples on axis -2; any leading axes index a stack of
independent models (params carry the same leading axes).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array, Shape
from fnnet.random import Key

__all__ = ["Layer", "Elementwise", "init_stack", "check_input", "quiet_floats", "is_quiet"]

P = TypeVar("P")
R = TypeVar("R")


@attrs.frozen
class Elementwise:
    """An elementwise activation in the form a fused layer uses it.

    ``apply_(z)`` computes the activation *in place* in ``z`` (a buffer the caller just allocated
    and owns) and returns it; ``grad(y, dy, owned)`` returns ``dL/dx`` from the activation's
    *output* ``y`` and ``dy``, and may overwrite ``dy`` only when ``owned`` is true. Both compute
    exactly the numbers the activation layer's own ``forward``/``backward`` compute. ``silence``:
    ``apply_`` may overflow harmlessly (sigmoid's ``e⁻ᶻ → inf``), so the caller runs it under
    ``np.errstate(over="ignore", under="ignore")`` (once for a whole fused network, and not at all
    inside :func:`quiet_floats`, which has already silenced them). ``factor(y)``, when given, is
    the derivative as a new array computed from the output, with ``grad(y, dy, _)`` equal to
    ``factor(y) * dy`` bit for bit: a fused network whose activations share one ``factor``
    computes it for all its layers in one pass.

    >>> from fnnet import layers
    >>> e = layers.relu.elementwise
    >>> e.apply_(np.array([[-1.0, 2.0]])), e.grad(np.array([[0.0, 2.0]]), np.ones((1, 2)), False)
    (array([[0., 2.]]), array([[0., 1.]]))
    """

    apply_: Callable[[Array], Array]
    grad: Callable[[Array, Array, bool], Array]
    silence: bool = False
    factor: Callable[[Array], np.ndarray[Any, Any]] | None = None


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("fnnet_quiet", default=False)


@contextlib.contextmanager
def quiet_floats() -> Iterator[None]:
    """Silence numpy's floating-point warnings (over, under, invalid, divide) for a whole loop.

    ``scan`` and ``fit`` run their loops inside it. Layers that must silence a harmless overflow
    (the fused sigmoid's ``e⁻ᶻ → inf``) check :func:`is_quiet` and then skip entering their own
    ``np.errstate`` on every call (about 2 µs each, a few percent of a tiny network's step); a
    ``np.errstate`` a caller enters inside it therefore governs those layers too.

    >>> with quiet_floats():
    ...     print(is_quiet(), np.exp(np.array([1000.0])))
    True [inf]
    >>> is_quiet()
    False
    """
    token = _QUIET.set(True)
    try:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """True inside :func:`quiet_floats` (in this thread or task).

    >>> is_quiet()
    False
    """
    return _QUIET.get()


@attrs.frozen
class Layer(Generic[P, R]):
    """A layer as a record of pure functions (see the module docstring).

    Build your own by passing four functions; mypy checks that ``backward`` returns the
    ``params`` type that ``init`` makes and ``forward`` takes.

    >>> double = Layer(
    ...     init=lambda key, shape: (shape, None),
    ...     forward=lambda p, x: (2 * x, None),
    ...     backward=lambda p, r, dy: (None, 2 * dy),
    ...     apply=lambda p, x: 2 * x,
    ...     name="double",
    ... )
    >>> out_shape, params = double.init(0, (3,))
    >>> y, r = double.forward(params, np.ones((2, 3)))  # (N=2, features=3)
    >>> out_shape, y.shape, double.backward(params, r, np.ones((2, 3)))[1][0]
    ((3,), (2, 3), array([2., 2., 2.]))
    >>> double
    Layer(double)
    """

    init: Callable[[Key, Shape], tuple[Shape, P]]
    forward: Callable[[P, Array], tuple[Array, R]]
    backward: Callable[[P, R, Array], tuple[P, Array]]
    apply: Callable[[P, Array], Array]
    name: str = attrs.field(default="layer", kw_only=True)
    backward_params: Callable[[P, R, Array], P] | None = attrs.field(default=None, kw_only=True)
    forward_keyed: Callable[[P, Array, Key], tuple[Array, R]] | None = attrs.field(
        default=None, kw_only=True
    )
    elementwise: Elementwise | None = attrs.field(default=None, kw_only=True, repr=False)
    unravel: Callable[[Array], Any] | None = attrs.field(default=None, kw_only=True, repr=False)
    flat: Callable[[Shape], Layer[Array, Any]] | None = attrs.field(
        default=None, kw_only=True, repr=False
    )

    def __repr__(self) -> str:
        return f"Layer({self.name})"


def init_stack(layer: Layer[P, Any], keys: Sequence[Key], input_shape: Shape) -> tuple[Shape, P]:
    """Initialise ``len(keys)`` independent models and stack their params on a leading axis.

    >>> from fnnet import layers
    >>> _, p = init_stack(layers.dense(3), [0, 1], (2,))
    >>> p.w.shape, p.b.shape
    ((2, 2, 3), (2, 3))
    """
    if len(keys) == 0:
        raise ValueError("fnnet.layers.init_stack: argument 'keys' must not be empty")
    results = [layer.init(k, input_shape) for k in keys]
    return results[0][0], tree.stack([p for _, p in results])


def check_input(fn: str, x: object, features: int | None, dtype: np.dtype[Any] | None) -> Array:
    """Validate a layer input: a floating array with examples and features axes, the expected
    number of features, and the params' dtype (no silent float32/float64 mixing).

    >>> check_input("dense", np.zeros((4, 3)), 3, np.dtype(np.float64)).shape
    (4, 3)
    >>> check_input("dense", np.zeros((4, 2)), 3, None)
    Traceback (most recent call last):
    ValueError: dense: argument 'x' must have 3 features on its last axis, got (4, 2)
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{fn}: argument 'x' must be a floating numpy array, got {got}")
    if x.ndim < 2:
        raise ValueError(
            f"{fn}: argument 'x' must have shape (..., examples, features), got {x.shape}"
        )
    if features is not None and x.shape[-1] != features:
        raise ValueError(
            f"{fn}: argument 'x' must have {features} features on its last axis, got {x.shape}"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{fn}: argument 'x' has dtype {x.dtype} but the params are {dtype}; "
            "cast one of them (fnnet never mixes precisions silently)"
        )
    return x
