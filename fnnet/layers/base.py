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

and four optional fields: ``name``; ``forward_keyed(params, x, key)``, the training forward
of a stochastic layer such as dropout (the training loop passes a fresh key each step);
``state``, the state functions of a layer that keeps statistics between steps (batch norm's
running mean and variance: an explicit value threaded by the training loop, see
:mod:`fnnet.layers.state`); and ``spec``, plain data saying what the layer is
(:mod:`fnnet.layers.spec`), which the kernel tier reads to recognise networks it can run faster.
A user's layer leaves all but ``name`` as ``None``.

Arrays put features on the last axis and examples on axis -2; any leading axes index a stack of
independent models (params carry the same leading axes).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import (
    Array,
    Shape,
    require_array,
    require_axes,
    require_dtype,
    require_float,
    require_ndim,
)
from fnnet.layers.spec import Spec
from fnnet.random import Key

if TYPE_CHECKING:
    from fnnet.layers.state import Stateful

__all__ = [
    "Layer",
    "require_layer",
    "init_stack",
    "over_examples",
    "model_axes",
    "examples_axis",
    "check_input",
    "check_model_axes",
    "check_weights",
    "quiet_floats",
    "is_quiet",
]

P = TypeVar("P")
R = TypeVar("R")


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
    forward_keyed: Callable[[P, Array, Key], tuple[Array, R]] | None = attrs.field(
        default=None, kw_only=True
    )
    state: Stateful[P, R, Any] | None = attrs.field(default=None, kw_only=True, repr=False)
    spec: Spec | None = attrs.field(default=None, kw_only=True, repr=False)

    def __repr__(self) -> str:
        return f"Layer({self.name})"


def model_axes(fn: str, params: Any, single: Any) -> tuple[int, ...]:
    """The leading (model) axes of ``params`` over a single model's ``single`` params; a
    ``ValueError`` when ``params`` are not of this model (structure or shapes).

    >>> model_axes("f", {"w": np.zeros((3, 2, 4))}, {"w": np.zeros((2, 4))})
    (3,)
    """
    if tree.structure(params) != tree.structure(single):
        raise ValueError(
            f"{fn}: argument 'params' has structure {tree.structure(params)!r}, but the model "
            f"makes {tree.structure(single)!r}: were they made by another model?"
        )
    lead: tuple[int, ...] | None = None
    for p, s, where in zip(
        tree.leaves(params), tree.leaves(single), tree.paths(single), strict=True
    ):
        p_shape, s_shape = np.shape(p), np.shape(s)
        extra = len(p_shape) - len(s_shape)
        if (
            extra < 0
            or p_shape[extra:] != s_shape
            or (lead is not None and p_shape[:extra] != lead)
        ):
            raise ValueError(
                f"{fn}: params{where} has shape {p_shape}, but the model makes {s_shape} "
                f"(with any leading model axes {lead if lead is not None else ''}): were the "
                "params made by another model?"
            )
        lead = p_shape[:extra]
    return lead or ()


def examples_axis(
    fn: str, arg: str, layer: Layer[Any, Any], params: Any, x: Array
) -> tuple[int, tuple[int, ...]]:
    """Where the examples of ``x`` are for ``layer`` with ``params``, and the params' model axes.

    ``x`` is ``(N, *input)`` when it is shared by every model of a stack, or
    ``(*models, N, *input)`` per model: the examples axis is 0 or the number of model axes.
    Found by asking ``layer.init`` for the params of a single model at each candidate input
    shape and comparing with ``params`` (never by guessing from sizes); a ``ValueError`` says
    when ``x`` or ``params`` do not fit the layer.

    >>> from fnnet import layers
    >>> net = layers.dense(4)
    >>> _, p = init_stack(net, [0, 1, 2], (2,))
    >>> examples_axis("f", "x", net, p, np.zeros((5, 2)))  # shared by the 3 models
    (0, (3,))
    >>> examples_axis("f", "x", net, p, np.zeros((3, 5, 2)))  # one batch per model
    (1, (3,))
    """
    problem: Exception | None = None
    for k in range(max(1, x.ndim - 1)):
        try:
            _, single = layer.init(0, tuple(x.shape[k + 1 :]))
        except (ValueError, TypeError) as e:
            problem = problem or e
            continue
        lead = model_axes(fn, params, single)
        if k == 0 or x.shape[:k] == lead:
            return k, lead
    raise ValueError(
        f"{fn}: {arg} of shape {x.shape} fits neither (examples, *input) nor "
        f"(*models, examples, *input) for this model: {problem}"
    )


def over_examples(a: Array) -> Array:
    """A per-model parameter ``(*models, F)`` as ``(*models, 1, F)``: it then broadcasts over
    the examples axis of an input ``(*models, N, F)``, one row per model — what a layer's own
    elementwise params need to stay correct on a stack (``p.s * x`` alone would pair model ``m``
    with example ``m`` whenever the counts happen to match).

    >>> s = np.array([[1.0, 2.0], [10.0, 20.0]])  # 2 models, 2 features
    >>> x = np.ones((2, 3, 2))                    # 2 models, 3 examples each
    >>> (over_examples(s) * x)[1]                 # model 1's examples, scaled by model 1's s
    array([[10., 20.],
           [10., 20.],
           [10., 20.]])
    """
    a = require_array("fnnet.layers.over_examples", "a", a)
    require_ndim("fnnet.layers.over_examples", "a", a, 1)
    return a[..., None, :]


def require_layer(fn: str, arg: str, x: object) -> Layer[Any, Any]:
    """Return ``x`` if it is a :class:`Layer`, else raise ``TypeError`` naming ``fn`` and ``arg``
    (one ``isinstance``: cheap enough for a per-step entry point).

    >>> require_layer("f", "model", None)
    Traceback (most recent call last):
    TypeError: f: argument 'model' must be a fnnet Layer (such as layers.dense(3)), got NoneType;
    wrap your own functions with fnnet.layers.Layer(init, forward, backward, apply)
    """
    if not isinstance(x, Layer):
        raise TypeError(
            f"{fn}: argument {arg!r} must be a fnnet Layer (such as layers.dense(3)), got "
            f"{type(x).__name__}; wrap your own functions with "
            "fnnet.layers.Layer(init, forward, backward, apply)"
        )
    return x


def check_stack_args(fn: str, layer: object, keys: object, input_shape: object) -> list[Key]:
    """The arguments of an ``init_stack``: ``layer`` a Layer, ``keys`` a non-empty sequence of
    keys (list, tuple, range), ``input_shape`` a tuple (each key and the shape itself are checked
    by the layer's ``init``); else ``TypeError``/``ValueError`` naming ``fn``.

    >>> check_stack_args("f", Layer(None, None, None, None), "ab", (2,))
    Traceback (most recent call last):
    TypeError: f: argument 'keys' must be a list of keys (ints or tuples of ints, such as
    fnnet.random.split(0, 3)), got str
    """
    require_layer(fn, "layer", layer)
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence | np.ndarray):
        raise TypeError(
            f"{fn}: argument 'keys' must be a list of keys (ints or tuples of ints, such as "
            f"fnnet.random.split(0, 3)), got {type(keys).__name__}"
        )
    if len(keys) == 0:
        raise ValueError(f"{fn}: argument 'keys' must not be empty")
    if not isinstance(input_shape, tuple | list):
        raise TypeError(
            f"{fn}: argument 'input_shape' must be a shape tuple such as (4,), got "
            f"{type(input_shape).__name__}"
        )
    return list(keys)


def init_stack(layer: Layer[P, Any], keys: Sequence[Key], input_shape: Shape) -> tuple[Shape, P]:
    """Initialise ``len(keys)`` independent models and stack their params on a leading axis.

    >>> from fnnet import layers
    >>> _, p = init_stack(layers.dense(3), [0, 1], (2,))
    >>> p.w.shape, p.b.shape
    ((2, 2, 3), (2, 3))
    """
    keys = check_stack_args("fnnet.layers.init_stack", layer, keys, input_shape)
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
    x = require_float(fn, "x", x)
    require_axes(fn, "x", x, ("examples", "features"))
    if features is not None and x.shape[-1] != features:
        raise ValueError(
            f"{fn}: argument 'x' must have {features} features on its last axis, got {x.shape}"
        )
    if dtype is not None:
        require_dtype(fn, "x", x, dtype)
    return x


def check_model_axes(fn: str, x: Array, example_ndim: int, w: Array, w_ndim: int) -> None:
    """Raise ``ValueError`` unless ``x (..., N, *example)`` either has no model axes (one batch
    shared by the whole stack) or the same model axes as the weight ``w (..., *w_dims)``.

    >>> check_model_axes("dense", np.zeros((3, 5, 4)), 1, np.zeros((2, 4, 1)), 2)
    Traceback (most recent call last):
    ValueError: dense: argument 'x' (3, 5, 4) has model axes (3,) but the params have (2,)
    (w (2, 4, 1)); pass x without model axes to share it
    """
    lead = x.shape[: x.ndim - example_ndim - 1]
    if lead and lead != w.shape[: w.ndim - w_ndim]:
        raise ValueError(
            f"{fn}: argument 'x' {x.shape} has model axes {lead} but the params have "
            f"{w.shape[: w.ndim - w_ndim]} (w {w.shape}); pass x without model axes to share it"
        )


def check_weights(
    fn: str, params: object, cls: type[Any], w_dims: tuple[tuple[str, int | None], ...]
) -> None:
    """Validate the params of a weight-and-bias layer against the layer: ``params`` is a ``cls``
    whose ``w`` is a floating array ``(..., *w_dims)`` (each named dim checked where its size is
    known) and whose ``b`` is ``(..., out)`` with the same model axes, dtype and ``out =
    w.shape[-1]`` (a bias is never broadcast). ``TypeError``/``ValueError`` naming ``fn`` and
    the field; costs a few shape compares.

    >>> from fnnet.layers.dense import DenseParams
    >>> dims = (("in", None), ("out", 3))
    >>> check_weights("dense(3)", DenseParams(np.zeros((2, 3)), np.zeros(3)), DenseParams, dims)
    >>> check_weights("dense(3)", DenseParams(np.zeros((2, 3)), np.zeros(1)), DenseParams, dims)
    Traceback (most recent call last):
    ValueError: dense(3): params.b has shape (1,) but params.w (2, 3) needs (3,) (one bias per
    output and model; a bias is never broadcast): were the params made by another model?
    """
    if not isinstance(params, cls):
        raise TypeError(
            f"{fn}: argument 'params' must be {cls.__name__}(w, b) as this layer's init makes "
            f"them, got {type(params).__name__}: were the params made by another model?"
        )
    w = require_float(fn, "params.w", params.w)
    b = require_float(fn, "params.b", params.b)
    k = len(w_dims)
    if w.ndim < k or any(
        n is not None and n != got
        for (_, n), got in zip(w_dims, w.shape[w.ndim - k :], strict=True)
    ):
        want = ", ".join(name if n is None else str(n) for name, n in w_dims)
        raise ValueError(
            f"{fn}: params.w must have shape (..., {want}), got {w.shape}: were the params "
            "made by another model?"
        )
    if b.shape != (*w.shape[: w.ndim - k], w.shape[-1]):
        raise ValueError(
            f"{fn}: params.b has shape {b.shape} but params.w {w.shape} needs "
            f"{(*w.shape[: w.ndim - k], w.shape[-1])} (one bias per output and model; a bias "
            "is never broadcast): were the params made by another model?"
        )
    if b.dtype != w.dtype:
        raise TypeError(f"{fn}: params.b is {b.dtype} but params.w is {w.dtype}; cast one of them")


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("fnnet_quiet", default=False)


@contextlib.contextmanager
def quiet_floats() -> Iterator[None]:
    """Silence numpy's floating-point warnings (over, under, invalid, divide) for a whole loop.

    ``scan`` and ``fit`` run their loops inside it; the kernel tier checks :func:`is_quiet` to
    skip entering its own ``np.errstate`` on every call.

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
