"""Combinators: ``serial`` chains layers, ``mlp`` builds the lab's fully connected networks.

``serial(l1, l2, ...)`` has params ``(p1, p2, ...)`` and residuals ``(r1, r2, ...)``; its backward
runs the layers' backwards in reverse (the chain rule)::

    forward:   h₀ = x,   hᵢ = lᵢ(hᵢ₋₁)
    backward:  dhₙ = dy, (dpᵢ, dhᵢ₋₁) = lᵢ.backward(pᵢ, rᵢ, dhᵢ)   for i = n, ..., 1

``mlp(sizes, hidden, output)`` is exactly ``serial(dense, hidden, ..., dense, output)``.

>>> from fnnet import layers
>>> net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
>>> net
Layer(serial(dense(4), sigmoid, dense(4), sigmoid, dense(1), sigmoid))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from fnnet.arrays import Array, Shape, require_int
from fnnet.layers import state as layer_state
from fnnet.layers.activations import Activation, identity
from fnnet.layers.base import Layer, require_layer
from fnnet.layers.dense import dense
from fnnet.layers.initializers import Initializer
from fnnet.layers.spec import SerialSpec
from fnnet.random import Key, fold_in
from fnnet.tree import PyTree

__all__ = ["serial", "mlp", "Serial"]

Serial = Layer[tuple[PyTree, ...], tuple[Any, ...]]


def _check_params(n: int, params: object) -> tuple[PyTree, ...]:
    if type(params) is not tuple or len(params) != n:
        got = f"{len(params)} entries" if isinstance(params, tuple) else type(params).__name__
        raise ValueError(f"serial: argument 'params' must be a tuple of {n} entries, got {got}")
    return params


class _Position:
    """Which layer of a serial is running (``i``); a ``ValueError``/``TypeError`` raised there
    leaves the ``with`` block naming the layer and its position, so an error deep in a network
    says where it happened (other exception types pass through, with the position as a note).
    Costs one small object per call."""

    __slots__ = ("layers", "i")

    def __init__(self, layers: Sequence[Layer[Any, Any]]) -> None:
        self.layers = layers
        self.i = 0

    def __enter__(self) -> _Position:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(e, ValueError | TypeError):
            return
        where = f"serial (layers[{self.i}] = {self.layers[self.i].name})"
        if type(e) in (ValueError, TypeError):
            raise type(e)(f"{where}: {e}") from e
        e.add_note(f"in {where}")


def _forward_chain(
    layers: Sequence[Layer[Any, Any]], params: tuple[PyTree, ...], x: Array, key: Key | None
) -> tuple[Array, tuple[Any, ...]]:
    """``hᵢ = lᵢ(hᵢ₋₁)`` keeping every residual; with a ``key``, layer ``i`` that has a
    ``forward_keyed`` gets ``fold_in(key, i)``."""
    params = _check_params(len(layers), params)
    residuals = []
    with _Position(layers) as at:
        for at.i, (layer, p) in enumerate(zip(layers, params, strict=True)):
            if key is not None and layer.forward_keyed is not None:
                x, r = layer.forward_keyed(p, x, fold_in(key, at.i))
            else:
                x, r = layer.forward(p, x)
            residuals.append(r)
    return x, tuple(residuals)


def _backward_chain(
    layers: Sequence[Layer[Any, Any]],
    params: tuple[PyTree, ...],
    residuals: tuple[Any, ...],
    dy: Array,
) -> tuple[tuple[PyTree, ...], Array]:
    """The chain rule: each layer's backward, last to first, passing ``dx`` down as ``dy``."""
    params = _check_params(len(layers), params)
    if type(residuals) is not tuple or len(residuals) != len(layers):
        raise ValueError(
            f"serial: argument 'residuals' must be the tuple of {len(layers)} that forward "
            f"returned, got {type(residuals).__name__}"
        )
    grads: list[PyTree] = [None] * len(layers)
    with _Position(layers) as at:
        for at.i in reversed(range(len(layers))):
            grads[at.i], dy = layers[at.i].backward(params[at.i], residuals[at.i], dy)
    return tuple(grads), dy


def serial(*layers: Layer[Any, Any]) -> Serial:
    """Compose layers left to right: ``apply(x) = ln(...l2(l1(x)))``.

    >>> from fnnet import layers
    >>> net = serial(layers.dense(3), layers.relu, layers.dense(1))
    >>> out_shape, params = net.init(0, (2,))
    >>> out_shape, len(params), params[1] is None  # (p1, p2, p3); relu has no params
    ((1,), 3, True)
    >>> y, res = net.forward(params, np.ones((4, 2)))  # (N=4, in=2)
    >>> dparams, dx = net.backward(params, res, np.ones_like(y))
    >>> y.shape, dparams[0].w.shape, dx.shape
    ((4, 1), (2, 3), (4, 2))
    """
    if not layers:
        raise ValueError(
            "serial: argument 'layers' is empty; pass at least one layer, e.g. "
            "serial(dense(4), relu)"
        )
    for i, layer in enumerate(layers):
        require_layer("serial", f"layers[{i}]", layer)
    keyed = any(layer.forward_keyed is not None for layer in layers)

    def init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        params = []
        shape = input_shape
        with _Position(layers) as at:
            for at.i, layer in enumerate(layers):
                shape, p = layer.init(fold_in(key, at.i), shape)
                params.append(p)
        return shape, tuple(params)

    def apply(params: tuple[PyTree, ...], x: Array) -> Array:
        params = _check_params(len(layers), params)
        with _Position(layers) as at:
            for at.i, (layer, p) in enumerate(zip(layers, params, strict=True)):
                x = layer.apply(p, x)
        return x

    def forward(params: tuple[PyTree, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        return _forward_chain(layers, params, x, None)

    def forward_keyed(
        params: tuple[PyTree, ...], x: Array, key: Key
    ) -> tuple[Array, tuple[Any, ...]]:
        return _forward_chain(layers, params, x, key)

    def backward(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[PyTree, ...], Array]:
        return _backward_chain(layers, params, residuals, dy)

    return Layer(
        init,
        forward,
        backward,
        apply,
        name="serial(" + ", ".join(layer.name for layer in layers) + ")",
        forward_keyed=forward_keyed if keyed else None,
        state=layer_state.compose(layers),
        spec=SerialSpec(tuple(layer.spec for layer in layers)),
    )


def mlp(
    sizes: Sequence[int],
    hidden: Activation = identity,
    output: Activation = identity,
    init: Initializer | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> Serial:
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``: exactly
    ``serial(dense(sizes[1], in_features=sizes[0]), hidden, dense(sizes[2]), hidden, ...,
    dense(sizes[-1]), output)``.

    ``init`` is the weight initializer of every dense layer (Glorot uniform by default). The
    params are a tuple ``(DenseParams, None, DenseParams, None, ...)``: ``params[2 * i]`` is
    layer ``i``'s weights, the ``None`` entries the activations'.

    >>> from fnnet import layers
    >>> net = mlp([2, 8, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, params = net.init(0, (2,))
    >>> [type(p).__name__ for p in params]
    ['DenseParams', 'NoneType', 'DenseParams', 'NoneType']
    >>> y = net.apply(params, np.zeros((5, 2)))
    >>> y.shape, bool(np.all((y > 0) & (y < 1)))
    ((5, 1), True)
    """
    if isinstance(sizes, str) or not isinstance(sizes, Iterable):
        raise TypeError(
            f"mlp: argument 'sizes' must be a list of layer sizes such as [2, 4, 1], got "
            f"{type(sizes).__name__} {sizes!r:.60}"
        )
    sizes = [require_int(f"mlp (sizes[{i}])", "sizes", s, minimum=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"mlp: argument 'sizes' must hold >= 2 sizes (in, out), got {sizes}")
    require_layer("mlp", "hidden", hidden)
    require_layer("mlp", "output", output)
    parts: list[Layer[Any, Any]] = [dense(sizes[1], init=init, dtype=dtype, in_features=sizes[0])]
    for size in sizes[2:]:
        parts += [hidden, dense(size, init=init, dtype=dtype)]
    return serial(*parts, output)
