"""Combinators: ``serial`` chains layers, ``mlp`` builds the lab's fully connected networks.

``serial(l1, l2, ...)`` has params ``(p1, p2, ...)`` and residuals ``(r1, r2, ...)``; its backward
runs the layers' backwards in reverse (the chain rule), and its ``backward_params`` skips the first
layer's ``dx``, which training never needs.

>>> from fnnet import layers
>>> net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
>>> net
Layer(serial(dense(4), sigmoid, dense(4), sigmoid, dense(1), sigmoid))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fnnet.arrays import Array, Shape
from fnnet.layers.activations import identity
from fnnet.layers.base import Elementwise, Layer, check_input
from fnnet.layers.dense import DenseParams, _dx_for, dense, sum_examples
from fnnet.layers.initializers import Initializer
from fnnet.random import Key, fold_in
from fnnet.tree import PyTree

__all__ = ["serial", "mlp", "Serial"]

Serial = Layer[tuple[PyTree, ...], tuple[Any, ...]]


def serial(*layers: Layer[Any, Any]) -> Serial:
    """Compose layers left to right: ``apply(x) = ln(...l2(l1(x)))``."""
    if not layers:
        raise ValueError("serial: needs at least one layer")
    n = len(layers)
    keyed = any(layer.forward_keyed is not None for layer in layers)

    def init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        params = []
        shape = tuple(input_shape)
        for i, layer in enumerate(layers):
            shape, p = layer.init(fold_in(key, i), shape)
            params.append(p)
        return shape, tuple(params)

    def _params_len(params: tuple[PyTree, ...]) -> None:
        if type(params) is not tuple or len(params) != n:
            got = f"{len(params)} entries" if isinstance(params, tuple) else type(params).__name__
            raise ValueError(f"serial: argument 'params' must be a tuple of {n} entries, got {got}")

    def apply(params: tuple[PyTree, ...], x: Array) -> Array:
        _params_len(params)
        for layer, p in zip(layers, params):  # noqa: B905 - lengths checked above
            x = layer.apply(p, x)
        return x

    def forward(params: tuple[PyTree, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        _params_len(params)
        residuals = []
        for layer, p in zip(layers, params):  # noqa: B905
            x, r = layer.forward(p, x)
            residuals.append(r)
        return x, tuple(residuals)

    def forward_keyed(
        params: tuple[PyTree, ...], x: Array, key: Key
    ) -> tuple[Array, tuple[Any, ...]]:
        _params_len(params)
        residuals = []
        for i, (layer, p) in enumerate(zip(layers, params)):  # noqa: B905
            if layer.forward_keyed is not None:
                x, r = layer.forward_keyed(p, x, fold_in(key, i))
            else:
                x, r = layer.forward(p, x)
            residuals.append(r)
        return x, tuple(residuals)

    def _back(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array, need_dx: bool
    ) -> tuple[tuple[PyTree, ...], Array | None]:
        grads: list[PyTree] = [None] * n
        for i in range(n - 1, -1, -1):
            layer = layers[i]
            if i == 0 and not need_dx and layer.backward_params is not None:
                grads[0] = layer.backward_params(params[0], residuals[0], dy)
                return tuple(grads), None
            grads[i], dy = layer.backward(params[i], residuals[i], dy)
        return tuple(grads), dy

    def backward(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[PyTree, ...], Array]:
        grads, dx = _back(params, residuals, dy, need_dx=True)
        assert dx is not None
        return grads, dx

    def backward_params(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array
    ) -> tuple[PyTree, ...]:
        return _back(params, residuals, dy, need_dx=False)[0]

    name = "serial(" + ", ".join(layer.name for layer in layers) + ")"
    return Layer(
        init,
        forward,
        backward,
        apply,
        name=name,
        backward_params=backward_params,
        forward_keyed=forward_keyed if keyed else None,
    )


def _mlp_params_error(fn: str, params: object, sizes: list[int], x: object) -> ValueError:
    """The clear error for params that do not fit an ``mlp`` (and input ``x``), found slowly."""
    n = 2 * (len(sizes) - 1)
    if type(params) is not tuple or len(params) != n:
        got = f"{len(params)} entries" if isinstance(params, tuple) else type(params).__name__
        return ValueError(f"{fn}: argument 'params' must be a tuple of {n} entries, got {got}")
    lead: tuple[int, ...] | None = None
    for i in range(n // 2):
        p, gap = params[2 * i], params[2 * i + 1]
        where = f"{fn}: params[{2 * i}]"
        if type(p) is not DenseParams or gap is not None:
            return ValueError(
                f"{where} must be DenseParams and params[{2 * i + 1}] None (the layout "
                f"(dense, activation, ...)), got {type(p).__name__} and {type(gap).__name__}"
            )
        w, b = p.w, p.b
        if not isinstance(w, np.ndarray) or not isinstance(b, np.ndarray) or w.ndim < 2:
            return ValueError(f"{where}: w and b must be arrays, w with (..., in, out) axes")
        lead = w.shape[:-2] if lead is None else lead
        if w.shape[-2:] != (sizes[i], sizes[i + 1]) or w.shape[:-2] != lead:
            return ValueError(
                f"{where}.w must have shape {(*lead, sizes[i], sizes[i + 1])} for sizes {sizes}, "
                f"got {w.shape}"
            )
        if b.shape != (*lead, sizes[i + 1]):
            return ValueError(f"{where}.b must have shape {(*lead, sizes[i + 1])}, got {b.shape}")
        if w.dtype != b.dtype or w.dtype.kind != "f":
            return ValueError(f"{where}: w and b must share one floating dtype")
    if isinstance(x, np.ndarray) and x.ndim > 2 and lead is not None and x.shape[:-2] != lead:
        return ValueError(
            f"{fn}: argument 'x' {x.shape} has model axes {x.shape[:-2]} but the params have "
            f"{lead}; pass (examples, features) to share it"
        )
    return ValueError(f"{fn}: params and x {getattr(x, 'shape', '?')} do not fit sizes {sizes}")


def _fused_mlp(sizes: list[int], specs: list[Elementwise]) -> tuple[Any, ...]:
    """``forward, backward, backward_params, apply`` of an mlp whose activations are all
    :class:`Elementwise`: one loop over (dense, activation) pairs, each activation computed in
    place in the buffer its matmul just allocated, its derivative folded into the dense backward.

    The numbers are exactly those of ``serial(dense, act, dense, act, ...)``: the same numpy
    operations in the same order, fewer allocations and Python calls.
    """
    n_layers = len(sizes) - 1
    n = 2 * n_layers
    acts = [s.apply_ for s in specs]
    grads_of = [s.grad for s in specs]
    features = sizes[0]
    silence = any(s.silence for s in specs)

    def layers_(
        params: tuple[PyTree, ...], h: Array, dt: Any, lead: Any, hs: list[Array] | None
    ) -> Array:
        for i in range(n_layers):
            p = params[2 * i]
            w = p.w
            b = p.b
            if (
                type(p) is not DenseParams
                or w.dtype != dt
                or b.dtype != dt
                or w.shape[:-2] != lead
                or b.shape[:-1] != lead
                or b.shape[-1] != w.shape[-1]
            ):
                raise ValueError
            z = h.dot(w) if h.ndim == 2 and w.ndim == 2 else np.matmul(h, w)
            z += b if b.ndim == 1 else b[..., None, :]
            h = acts[i](z)
            if hs is not None:
                hs.append(h)
        return h

    def run(params: tuple[PyTree, ...], x: Array, keep: bool) -> tuple[Array, list[Array]]:
        if type(params) is not tuple or len(params) != n:
            raise _mlp_params_error("mlp", params, sizes, x)
        p = params[0]
        if type(p) is not DenseParams:
            raise _mlp_params_error("mlp", params, sizes, x)
        dt = p.w.dtype
        check_input("mlp", x, features, dt)
        lead = p.w.shape[:-2]
        if x.ndim > 2 and x.shape[:-2] != lead:
            raise _mlp_params_error("mlp", params, sizes, x)
        hs = [x]
        try:
            if silence:
                with np.errstate(over="ignore", under="ignore"):
                    h = layers_(params, x, dt, lead, hs if keep else None)
            else:
                h = layers_(params, x, dt, lead, hs if keep else None)
        except (ValueError, AttributeError, IndexError) as e:
            raise _mlp_params_error("mlp", params, sizes, x) from e
        return h, hs

    def forward(params: tuple[PyTree, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        y, hs = run(params, x, True)
        return y, tuple(hs)

    def apply(params: tuple[PyTree, ...], x: Array) -> Array:
        return run(params, x, False)[0]

    def back(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array, need_dx: bool
    ) -> tuple[tuple[PyTree, ...], Array | None]:
        if type(params) is not tuple or len(params) != n or len(hs) != n_layers + 1:
            raise _mlp_params_error("mlp backward", params, sizes, None)
        grads: list[PyTree] = [None] * n
        delta = grads_of[-1](hs[-1], dy, False)  # dy is the caller's: never written
        dx = None
        for i in range(n_layers - 1, -1, -1):
            h = hs[i]
            w = params[2 * i].w
            ht = h.T if h.ndim == 2 else h.swapaxes(-1, -2)
            dw = ht.dot(delta) if h.ndim == 2 and delta.ndim == 2 else np.matmul(ht, delta)
            grads[2 * i] = DenseParams(dw, sum_examples(delta))
            if i or need_dx:
                wt = w.T if w.ndim == 2 else w.swapaxes(-1, -2)
                dh = delta.dot(wt) if delta.ndim == 2 and w.ndim == 2 else np.matmul(delta, wt)
                if i:
                    delta = grads_of[i - 1](h, dh, True)  # dh is ours: may be overwritten
                else:
                    dx = _dx_for(h, dh)
        return tuple(grads), dx

    def backward(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[PyTree, ...], Array]:
        grads, dx = back(params, hs, dy, True)
        assert dx is not None
        return grads, dx

    def backward_params(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array
    ) -> tuple[PyTree, ...]:
        return back(params, hs, dy, False)[0]

    return forward, backward, backward_params, apply


def mlp(
    sizes: Sequence[int],
    hidden: Layer[None, Array] = identity,
    output: Layer[None, Array] = identity,
    init: Initializer | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> Serial:
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    ``hidden`` follows every dense layer but the last, ``output`` follows the last; ``sizes[0]``
    is the input size, checked against ``init``'s ``input_shape``. ``init`` is the weight
    initializer of every dense layer (Glorot uniform by default).

    The params are those of ``serial(dense, hidden, ..., dense, output)``: a tuple
    ``(DenseParams, None, DenseParams, None, ...)`` (``params[2 * i]`` is layer ``i``'s weights,
    the ``None`` entries the activations'), initialised with the same keys. The residuals are the
    tuple ``(x, h1, ..., y)`` of every layer's input and the output. When every activation is
    elementwise (identity, sigmoid, tanh, relu, or any layer with an ``elementwise`` record), the
    forward and backward are fused: one loop over (dense, activation) pairs, the activation
    computed in place in the buffer the matmul allocated and its derivative folded into the dense
    backward — the same numbers as the ``serial`` composition, in fewer numpy and Python calls.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"mlp: argument 'sizes' must be >= 2 positive ints, got {sizes}")
    parts: list[Layer[Any, Any]] = []
    acts: list[Layer[None, Array]] = []
    for i, size in enumerate(sizes[1:]):
        parts.append(dense(size, init=init, dtype=dtype))
        acts.append(output if i == len(sizes) - 2 else hidden)
        parts.append(acts[-1])
    net = serial(*parts)
    inner_init = net.init

    def checked_init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        if tuple(input_shape) != (sizes[0],):
            raise ValueError(f"mlp: input_shape must be ({sizes[0]},), got {tuple(input_shape)}")
        return inner_init(key, input_shape)

    specs = [a.elementwise for a in acts]
    if any(s is None for s in specs) or net.forward_keyed is not None:
        return Layer(
            checked_init,
            net.forward,
            net.backward,
            net.apply,
            name=net.name,
            backward_params=net.backward_params,
            forward_keyed=net.forward_keyed,
        )
    forward, backward, backward_params, apply = _fused_mlp(
        sizes, [s for s in specs if s is not None]
    )
    return Layer(
        checked_init, forward, backward, apply, name=net.name, backward_params=backward_params
    )
