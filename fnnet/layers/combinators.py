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
from fnnet.layers.base import Layer
from fnnet.layers.dense import dense
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
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"mlp: argument 'sizes' must be >= 2 positive ints, got {sizes}")
    parts: list[Layer[Any, Any]] = []
    for i, size in enumerate(sizes[1:]):
        parts.append(dense(size, init=init, dtype=dtype))
        parts.append(output if i == len(sizes) - 2 else hidden)
    net = serial(*parts)
    inner_init = net.init

    def checked_init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        if tuple(input_shape) != (sizes[0],):
            raise ValueError(f"mlp: input_shape must be ({sizes[0]},), got {tuple(input_shape)}")
        return inner_init(key, input_shape)

    return Layer(
        checked_init,
        net.forward,
        net.backward,
        net.apply,
        name=net.name,
        backward_params=net.backward_params,
        forward_keyed=net.forward_keyed,
    )
