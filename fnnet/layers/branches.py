"""Branching networks: tuples of arrays flowing through layers, and residual blocks.

stax's combinators, in fnnet's form::

    fan_out(n)          x              -> (x, ..., x)          backward: dx = Σᵢ dyᵢ
    parallel(l1, l2)    (x1, x2)       -> (l1(x1), l2(x2))     params (p1, p2), residuals (r1, r2)
    fan_in_sum()        (x1, ..., xn)  -> x1 + ... + xn        backward: dxᵢ = dy
    fan_in_concat(-1)   (x1, ..., xn)  -> concat on an axis    backward: dy split back
    residual(f)         x              -> x + f(x)             backward: dx = dy + f'(x)ᵀ dy
    residual(f, g)      x              -> g(x) + f(x)          (g: a projection on the skip path)

so ``serial(fan_out(2), parallel(f, identity), fan_in_sum())`` is ``residual(f)``; ``residual``
is written directly, with ``f``'s params and residuals as its own (no wrapping tuples).

**Tuples in an ``Array`` slot.** ``Layer``'s functions take and return ``Array`` (and shapes
``Shape``). A tuple of arrays travels through that same slot: :func:`pack` is the one place where
a tuple is given the static type ``Array`` (a ``typing.cast``), and every consumer of a tuple —
the layers of this module — calls :func:`unpack`, which checks at run time that it got a tuple of
the expected length. Any other layer checks that its input is an ndarray (``TypeError``), so a
mis-wired network fails at its first call with a clear message and never computes a wrong number.
The params and residual types stay precise: ``parallel(dense(3), relu)`` is a
``Layer[tuple[DenseParams, None], tuple[Array, Array]]`` and ``residual(f)`` has ``f``'s types,
so mypy still rejects a backward of the wrong type. ``serial`` passes values along unchanged, so
tuples flow through it.

**Model stacks.** Branches may differ in their model axes (a shared input ``(N, F)`` on a skip
path beside a stacked ``(M, N, F)`` branch): sums broadcast over leading model axes only, and
their backward sums the gradient back over the axes an input was broadcast along. Stateful
children (batch norm) keep working: ``parallel`` and ``residual`` compose their state
(:mod:`fnnet.layers.state`).

>>> import numpy as np
>>> from fnnet import layers
>>> block = residual(layers.serial(layers.dense(4), layers.tanh, layers.dense(4)))
>>> _, params = block.init(0, (4,))
>>> block.apply(params, np.zeros((2, 4)))  # x + f(x); f(0) = 0 with zero biases
array([[0., 0., 0., 0.],
       [0., 0., 0., 0.]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast, overload

import numpy as np

from fnnet.arrays import Array, Shape
from fnnet.layers import state
from fnnet.layers.base import Layer, require_layer
from fnnet.layers.state import Stateful
from fnnet.random import Key, fold_in

__all__ = [
    "parallel",
    "fan_out",
    "fan_in_sum",
    "fan_in_concat",
    "residual",
    "pack",
    "unpack",
    "pack_shapes",
    "unpack_shapes",
]

P = TypeVar("P")
R = TypeVar("R")
Q = TypeVar("Q")
S = TypeVar("S")
P1 = TypeVar("P1")
P2 = TypeVar("P2")
P3 = TypeVar("P3")
R1 = TypeVar("R1")
R2 = TypeVar("R2")
R3 = TypeVar("R3")


def pack(xs: Sequence[Array]) -> Array:
    """A tuple of arrays, typed as the ``Array`` it travels as (see the module docstring).

    >>> pack([np.zeros(1), np.ones(1)])
    (array([0.]), array([1.]))
    """
    return cast(Array, tuple(xs))


def unpack(fn: str, arg: str, x: Array, n: int | None) -> tuple[Array, ...]:
    """The tuple inside ``x``, checked: a tuple of ``n`` entries (any number >= 1 for ``None``).

    >>> unpack("parallel", "x", pack([np.zeros(1)]), 1)
    (array([0.]),)
    >>> unpack("parallel", "x", np.zeros(2), 2)
    Traceback (most recent call last):
    TypeError: parallel: argument 'x' must be a tuple of 2 arrays (from fan_out or parallel),
    got ndarray of shape (2,)
    """
    value: object = x
    want = f"{n}" if n is not None else "one or more"
    if type(value) is not tuple:
        got = type(value).__name__ + (f" of shape {x.shape}" if isinstance(x, np.ndarray) else "")
        raise TypeError(
            f"{fn}: argument '{arg}' must be a tuple of {want} arrays (from fan_out or "
            f"parallel), got {got}"
        )
    if (n is not None and len(value) != n) or not value:
        raise ValueError(
            f"{fn}: argument '{arg}' must be a tuple of {want} arrays, got {len(value)}"
        )
    return value


def pack_shapes(shapes: Sequence[Shape]) -> Shape:
    """A tuple of shapes, typed as the ``Shape`` it travels as through ``init``.

    >>> pack_shapes([(3,), (4,)])
    ((3,), (4,))
    """
    return cast(Shape, tuple(tuple(s) for s in shapes))


def unpack_shapes(fn: str, shape: Shape, n: int | None) -> tuple[Shape, ...]:
    """The shapes inside ``shape`` (an ``init``'s ``input_shape``), checked like :func:`unpack`.

    >>> unpack_shapes("fan_in_sum", pack_shapes([(3,), (3,)]), None)
    ((3,), (3,))
    """
    value: object = shape
    ok = type(value) is tuple and len(value) > 0 and all(type(s) is tuple for s in value)
    if not ok or (n is not None and len(shape) != n):
        want = f"{n}" if n is not None else "one or more"
        raise ValueError(
            f"{fn}: input_shape must be a tuple of {want} shapes (the output of fan_out or "
            f"parallel), got {shape!r}"
        )
    return cast(tuple[Shape, ...], value)


def _sum_to(dy: Array, shape: Shape) -> Array:
    """``dy`` summed over the leading axes an input of ``shape`` was broadcast along."""
    if dy.ndim == len(shape):
        return dy
    out: Array = np.sum(dy, axis=tuple(range(dy.ndim - len(shape))))
    return out


def _lead(fn: str, shapes: Sequence[Shape], axis: int | None = None) -> Shape:
    """The longest of ``shapes``, after checking that the others are its suffixes (they differ
    only in leading model axes; and on ``axis``, when given, which is then set to 0)."""

    def masked(s: Shape) -> Shape:
        return s if axis is None else s[:axis] + (0,) + (s[axis + 1 :] if axis != -1 else ())

    longest = max(shapes, key=len)
    for s in shapes:
        if len(s) == 0 or masked(longest)[len(longest) - len(s) :] != masked(s):
            raise ValueError(
                f"{fn}: the inputs' shapes {[tuple(s) for s in shapes]} must agree"
                + (f" except on axis {axis}" if axis is not None else "")
                + " (they may differ only in leading model axes)"
            )
    return tuple(longest)


def _child(
    layer: Layer[Any, Any], p: Any, s: Any, x: Array, key: Key | None, stateful: bool
) -> tuple[Any, ...]:
    """One child's training forward ``(y, residuals, state)``, with or without state."""
    if stateful:
        return state.step(layer, p, s, x, key)
    if key is not None and layer.forward_keyed is not None:
        y, r = layer.forward_keyed(p, x, key)
    else:
        y, r = layer.forward(p, x)
    return y, r, None


def _parallel_state(
    layers: tuple[Layer[Any, Any], ...], run: Any
) -> Stateful[Any, Any, Any] | None:
    """``parallel``'s state functions: a tuple of the branches' states (``None`` if none has)."""
    if all(state.of(layer) is None for layer in layers):
        return None
    n = len(layers)

    def init_state(key: Key, input_shape: Shape) -> tuple[Any, ...]:
        shapes = unpack_shapes("parallel", input_shape, n)
        return tuple(
            state.child_init(layer, fold_in(key, i), s)[1]
            for i, (layer, s) in enumerate(zip(layers, shapes, strict=True))
        )

    def apply_state(params: tuple[Any, ...], states: tuple[Any, ...], x: Array) -> Array:
        xs = unpack("parallel", "x", x, n)
        return pack(
            [state.evaluate(lay, p, s, xi) for lay, p, s, xi in zip(layers, params, states, xs)]  # noqa: B905
        )

    def frozen(states: tuple[Any, ...]) -> Layer[Any, Any]:
        return parallel(
            *(state.frozen_child(lay, s) for lay, s in zip(layers, states, strict=True))
        )

    return Stateful(init_state, run, apply_state, frozen)


@overload
def parallel(a: Layer[P1, R1], b: Layer[P2, R2], /) -> Layer[tuple[P1, P2], tuple[R1, R2]]: ...
@overload
def parallel(
    a: Layer[P1, R1], b: Layer[P2, R2], c: Layer[P3, R3], /
) -> Layer[tuple[P1, P2, P3], tuple[R1, R2, R3]]: ...
@overload
def parallel(*layers: Layer[Any, Any]) -> Layer[tuple[Any, ...], tuple[Any, ...]]: ...
def parallel(*layers: Layer[Any, Any]) -> Layer[tuple[Any, ...], tuple[Any, ...]]:
    """Apply ``layers[i]`` to the ``i``-th input: ``(x1, ..., xn) -> (l1(x1), ..., ln(xn))``.

    Params ``(p1, ..., pn)``, residuals ``(r1, ..., rn)``; backward maps ``(dy1, ..., dyn)`` to
    ``(dx1, ..., dxn)``. Layer ``i`` gets the key ``fold_in(key, i)`` (init and dropout).

    >>> from fnnet import layers
    >>> net = parallel(layers.dense(2), layers.relu)
    >>> shape, params = net.init(0, pack_shapes([(3,), (5,)]))
    >>> shape, type(params[0]).__name__, params[1]
    (((2,), (5,)), 'DenseParams', None)
    >>> ys, res = net.forward(params, pack([np.ones((4, 3)), -np.ones((4, 5))]))
    >>> [y.shape for y in ys]
    [(4, 2), (4, 5)]
    """
    if not layers:
        raise ValueError("parallel: needs at least one layer")
    for i, layer in enumerate(layers):
        require_layer("parallel", f"layers[{i}]", layer)
    n = len(layers)
    name = "parallel(" + ", ".join(layer.name for layer in layers) + ")"

    def init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[Any, ...]]:
        shapes = unpack_shapes("parallel", input_shape, n)
        outs = [layer.init(fold_in(key, i), s) for i, (layer, s) in enumerate(zip(layers, shapes))]  # noqa: B905
        return pack_shapes([o for o, _ in outs]), tuple(p for _, p in outs)

    def run(
        params: tuple[Any, ...], states: tuple[Any, ...] | None, x: Array, key: Key | None
    ) -> tuple[Array, tuple[Any, ...], tuple[Any, ...]]:
        state.check_len("parallel", "params", params, n)
        if states is not None:
            state.check_len("parallel", "state", states, n)
        xs = unpack("parallel", "x", x, n)
        out = [
            _child(
                layer,
                params[i],
                None if states is None else states[i],
                xs[i],
                None if key is None else fold_in(key, i),
                states is not None,
            )
            for i, layer in enumerate(layers)
        ]
        return pack([o[0] for o in out]), tuple(o[1] for o in out), tuple(o[2] for o in out)

    def forward(params: tuple[Any, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        return run(params, None, x, None)[:2]

    def forward_keyed(params: tuple[Any, ...], x: Array, key: Key) -> tuple[Array, tuple[Any, ...]]:
        return run(params, None, x, key)[:2]

    def backward(
        params: tuple[Any, ...], res: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[Any, ...], Array]:
        dys = unpack("parallel", "dy", dy, n)
        out = [layer.backward(p, r, d) for layer, p, r, d in zip(layers, params, res, dys)]  # noqa: B905
        return tuple(g for g, _ in out), pack([dx for _, dx in out])

    def apply(params: tuple[Any, ...], x: Array) -> Array:
        state.check_len("parallel", "params", params, n)
        xs = unpack("parallel", "x", x, n)
        return pack([layer.apply(p, xi) for layer, p, xi in zip(layers, params, xs)])  # noqa: B905

    keyed = any(layer.forward_keyed is not None for layer in layers)
    layer = Layer(
        init, forward, backward, apply, name=name, forward_keyed=forward_keyed if keyed else None
    )
    return state.attach(layer, _parallel_state(layers, run))


def fan_out(n: int) -> Layer[None, Shape]:
    """Copy the input to ``n`` branches: ``x -> (x, ..., x)``; backward ``dx = Σᵢ dyᵢ``
    (each summed back over model axes its branch added). Residuals: ``x``'s shape.

    >>> layer = fan_out(2)
    >>> ys, res = layer.forward(None, np.ones((1, 2)))
    >>> len(ys), layer.backward(None, res, pack([np.ones((1, 2)), np.ones((1, 2))]))[1]
    (2, array([[2., 2.]]))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"fan_out: argument 'n' must be a positive int, got {n!r}")

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return pack_shapes([tuple(input_shape)] * n), None

    def apply(p: None, x: Array) -> Array:
        return pack([x] * n)

    def forward(p: None, x: Array) -> tuple[Array, Shape]:
        return pack([x] * n), np.shape(x)

    def backward(p: None, x_shape: Shape, dy: Array) -> tuple[None, Array]:
        dys = unpack("fan_out", "dy", dy, n)
        dx = _sum_to(dys[0], x_shape).copy()
        for d in dys[1:]:
            dx += _sum_to(d, x_shape)
        return None, dx

    return Layer(init, forward, backward, apply, name=f"fan_out({n})")


def fan_in_sum() -> Layer[None, tuple[Shape, ...]]:
    """Sum the branches: ``(x1, ..., xn) -> x1 + ... + xn``; backward ``dxᵢ = dy`` (summed over
    the model axes ``xᵢ`` was broadcast along). Residuals: the inputs' shapes.

    >>> layer = fan_in_sum()
    >>> y, res = layer.forward(None, pack([np.ones((1, 2)), 2 * np.ones((3, 1, 2))]))
    >>> y.shape, [d.shape for d in layer.backward(None, res, np.ones((3, 1, 2)))[1]]
    ((3, 1, 2), [(1, 2), (3, 1, 2)])
    """
    fn = "fan_in_sum"

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        shapes = unpack_shapes(fn, input_shape, None)
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{fn}: the branches' shapes must be equal, got {list(shapes)}")
        return shapes[0], None

    def forward(p: None, x: Array) -> tuple[Array, tuple[Shape, ...]]:
        xs = unpack(fn, "x", x, None)
        shapes = tuple(np.shape(a) for a in xs)
        _lead(fn, shapes)
        y: Array = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
        for a in xs[2:]:
            y += a
        return y, shapes

    def backward(p: None, shapes: tuple[Shape, ...], dy: Array) -> tuple[None, Array]:
        return None, pack([_sum_to(dy, s) for s in shapes])

    def apply(p: None, x: Array) -> Array:
        return forward(p, x)[0]

    return Layer(init, forward, backward, apply, name="fan_in_sum")


def fan_in_concat(axis: int = -1) -> Layer[None, tuple[Shape, ...]]:
    """Concatenate the branches on ``axis`` (negative: counted from the last, so model axes do
    not matter); backward splits ``dy`` back. Residuals: the inputs' shapes.

    >>> layer = fan_in_concat()
    >>> _, _ = layer.init(0, pack_shapes([(2,), (3,)]))
    >>> y, res = layer.forward(None, pack([np.zeros((4, 2)), np.ones((4, 3))]))
    >>> y.shape, [d.shape for d in layer.backward(None, res, y)[1]]
    ((4, 5), [(4, 2), (4, 3)])
    """
    fn = "fan_in_concat"
    if isinstance(axis, bool) or not isinstance(axis, int) or axis >= 0:
        raise ValueError(
            f"{fn}: argument 'axis' must be a negative int (counted from the last axis, so that "
            f"model axes do not matter), got {axis!r}"
        )

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        shapes = unpack_shapes(fn, input_shape, None)
        if any(len(s) < -axis for s in shapes):
            raise ValueError(f"{fn}: axis {axis} is out of range for shapes {list(shapes)}")
        out = list(_lead(fn, shapes, axis))
        if any(len(s) != len(out) for s in shapes):
            raise ValueError(f"{fn}: the branches' shapes {list(shapes)} differ in rank")
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out), None

    def forward(p: None, x: Array) -> tuple[Array, tuple[Shape, ...]]:
        xs = unpack(fn, "x", x, None)
        shapes = tuple(np.shape(a) for a in xs)
        if any(len(s) < 1 - axis for s in shapes):
            raise ValueError(f"{fn}: axis {axis} is out of range for the inputs {list(shapes)}")
        longest = _lead(fn, shapes, axis)
        full = [np.broadcast_to(a, longest[: len(longest) - a.ndim] + a.shape) for a in xs]
        return np.concatenate(full, axis=axis), shapes

    def backward(p: None, shapes: tuple[Shape, ...], dy: Array) -> tuple[None, Array]:
        cuts = np.cumsum([s[axis] for s in shapes])[:-1]
        parts = np.split(dy, cuts, axis=axis)
        return None, pack([_sum_to(d, s) for d, s in zip(parts, shapes, strict=True)])

    def apply(p: None, x: Array) -> Array:
        return forward(p, x)[0]

    return Layer(init, forward, backward, apply, name=f"fan_in_concat({axis})")


def _add(fn: str, a: Array, b: Array) -> Array:
    """``a + b`` for shapes that differ only in leading model axes."""
    _lead(fn, (np.shape(a), np.shape(b)))
    out: Array = a + b
    return out


def _residual_init(
    inner: Layer[Any, Any], projection: Layer[Any, Any] | None
) -> Callable[[Key, Shape], tuple[Shape, Any]]:
    def init(key: Key, input_shape: Shape) -> tuple[Shape, Any]:
        out, p = inner.init(fold_in(key, 0), input_shape)
        skip = tuple(input_shape)
        q = None
        if projection is not None:
            skip, q = projection.init(fold_in(key, 1), input_shape)
        if tuple(out) != skip:
            raise ValueError(
                f"residual: {inner.name} maps {tuple(input_shape)} to {tuple(out)} but the skip "
                f"path gives {skip}"
                + ("; pass a projection layer (e.g. dense or a 1x1 conv2d) that maps it there"
                   if projection is None else "")
            )  # fmt: skip
        return tuple(out), p if projection is None else (p, q)

    return init


@overload
def residual(inner: Layer[P, R], projection: None = None) -> Layer[P, R]: ...
@overload
def residual(inner: Layer[P, R], projection: Layer[Q, S]) -> Layer[tuple[P, Q], tuple[R, S]]: ...
def residual(inner: Layer[Any, Any], projection: Layer[Any, Any] | None = None) -> Layer[Any, Any]:
    """A residual block ``y = x + inner(x)``, or ``projection(x) + inner(x)`` when the shapes
    differ (a 1x1 strided ``conv2d`` or a ``dense`` on the skip path).

    Without a projection the block has ``inner``'s params and residuals; its backward is
    ``dx = dy + inner.backward(dy).dx``. With one, params ``(p_inner, p_projection)`` and
    residuals likewise; ``dx`` is the sum of both paths' ``dx``. ``inner`` gets the key
    ``fold_in(key, 0)``, the projection ``fold_in(key, 1)``. Stateful parts (batch norm) keep
    their state: the block's state is ``inner``'s, or the pair of both.

    >>> from fnnet import layers
    >>> block = residual(layers.dense(3), projection=layers.dense(3))
    >>> shape, (p, q) = block.init(0, (2,))
    >>> y, res = block.forward((p, q), np.ones((4, 2)))
    >>> (dp, dq), dx = block.backward((p, q), res, np.ones_like(y))
    >>> shape, dp.w.shape, dq.w.shape, dx.shape
    ((3,), (2, 3), (2, 3), (4, 2))
    >>> residual(layers.dense(3)).init(0, (2,))
    Traceback (most recent call last):
    ValueError: residual: dense(3) maps (2,) to (3,) but the skip path gives (2,); pass a
    projection layer (e.g. dense or a 1x1 conv2d) that maps it there
    """
    require_layer("residual", "inner", inner)
    if projection is not None:
        require_layer("residual", "projection", projection)
    two = projection is not None
    name = f"residual({inner.name}" + (f", {projection.name})" if projection else ")")

    def run(params: Any, states: Any, x: Array, key: Key | None) -> tuple[Array, Any, Any]:
        stateful = states is not None
        p, q = params if two else (params, None)
        s, t = states if (two and stateful) else (states, None)
        k0, k1 = (None, None) if key is None else (fold_in(key, 0), fold_in(key, 1))
        y, r, s = _child(inner, p, s, x, k0, stateful)
        if projection is None:
            return _add("residual", y, x), r, s
        z, rz, t = _child(projection, q, t, x, k1, stateful)
        return _add("residual", y, z), (r, rz), (s, t)

    def backward(params: Any, res: Any, dy: Array) -> tuple[Any, Array]:
        if projection is None:
            dp, dx = inner.backward(params, res, dy)
            return dp, dx + _sum_to(dy, np.shape(dx))
        (dp, dx), (dq, dxz) = (
            inner.backward(params[0], res[0], dy),
            projection.backward(params[1], res[1], dy),
        )
        return (dp, dq), dx + dxz

    def apply(params: Any, x: Array) -> Array:
        if projection is None:
            return _add("residual", inner.apply(params, x), x)
        return _add("residual", inner.apply(params[0], x), projection.apply(params[1], x))

    parts = (inner,) if projection is None else (inner, projection)
    keyed = any(layer.forward_keyed is not None for layer in parts)
    layer: Layer[Any, Any] = Layer(
        _residual_init(inner, projection),
        lambda params, x: run(params, None, x, None)[:2],
        backward,
        apply,
        name=name,
        forward_keyed=(lambda params, x, key: run(params, None, x, key)[:2]) if keyed else None,
    )
    return state.attach(layer, _residual_state(inner, projection, run))


def _residual_state(
    inner: Layer[Any, Any], projection: Layer[Any, Any] | None, run: Any
) -> Stateful[Any, Any, Any] | None:
    """``residual``'s state functions: ``inner``'s state, or the pair with the projection's."""
    if state.of(inner) is None and (projection is None or state.of(projection) is None):
        return None

    def init_state(key: Key, input_shape: Shape) -> Any:
        s = state.child_init(inner, fold_in(key, 0), input_shape)[1]
        if projection is None:
            return s
        return s, state.child_init(projection, fold_in(key, 1), input_shape)[1]

    def apply_state(params: Any, states: Any, x: Array) -> Array:
        if projection is None:
            return _add("residual", state.evaluate(inner, params, states, x), x)
        y = state.evaluate(inner, params[0], states[0], x)
        return _add("residual", y, state.evaluate(projection, params[1], states[1], x))

    def frozen(states: Any) -> Layer[Any, Any]:
        if projection is None:
            return residual(state.frozen_child(inner, states))
        pair = state.check_len("residual", "state", states, 2)
        return residual(state.frozen_child(inner, pair[0]), state.frozen_child(projection, pair[1]))

    return Stateful(init_state, run, apply_state, frozen)
