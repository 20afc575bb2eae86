"""Reshaping each example: ``flatten`` (images to feature rows) and ``reshape``; no params.

A layer sees ``x (..., N, *example_shape)`` and cannot tell the examples axis from leading model
axes by looking at ``x`` alone, so each layer is told the rank of one example: ``flatten(ndim=3)``
merges the last three axes (``(..., N, H, W, C) -> (..., N, H·W·C)``, the usual bridge from
convolutions to ``dense``), and ``reshape(shape, ndim=1)`` turns the last ``ndim`` axes into
``shape`` (one entry may be ``-1``). ``init`` checks the rank and the size against its
``input_shape``. Backward reshapes ``dy`` back to the input's shape (the residual).

>>> import numpy as np
>>> flatten().init(0, (7, 7, 64))[0]
(3136,)
>>> reshape((28, 28, 1)).apply(None, np.zeros((5, 784))).shape
(5, 28, 28, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fnnet.arrays import Array, Shape, require_dy, require_float, require_int
from fnnet.layers.base import Layer
from fnnet.random import Key

__all__ = ["flatten", "reshape"]


def _resolve(fn: str, shape: Shape, size: int, where: str) -> Shape:
    """``shape`` with its ``-1`` (if any) filled in so that it holds ``size`` elements."""
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{fn}: cannot reshape {where} of {size} elements into {shape}")
        return tuple(size // known if s == -1 else s for s in shape)
    if known != size:
        raise ValueError(f"{fn}: cannot reshape {where} of {size} elements into {shape}")
    return shape


def _reshape_layer(fn: str, name: str, shape: Shape, ndim: int) -> Layer[None, Shape]:
    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        if len(input_shape) != ndim:
            raise ValueError(
                f"{fn}: input_shape {tuple(input_shape)} has {len(input_shape)} axes but the "
                f"layer was built for examples of {ndim} axes; pass ndim={len(input_shape)}"
            )
        return _resolve(fn, shape, math.prod(input_shape), f"input_shape {input_shape}"), None

    def apply(p: None, x: Array) -> Array:
        x = require_float(fn, "x", x)
        if x.ndim < ndim + 1:
            raise ValueError(
                f"{fn}: argument 'x' must have an examples axis and {ndim} example axes, "
                f"got shape {x.shape}"
            )
        lead = x.shape[: x.ndim - ndim]
        new = _resolve(fn, shape, math.prod(x.shape[x.ndim - ndim :]), f"x {x.shape}")
        return x.reshape(*lead, *new)

    def forward(p: None, x: Array) -> tuple[Array, Shape]:
        return apply(p, x), x.shape

    def backward(p: None, x_shape: Shape, dy: Array) -> tuple[None, Array]:
        if type(x_shape) is not tuple or len(x_shape) < ndim + 1:
            raise ValueError(
                f"{fn}: argument 'residuals' must be the input shape that this layer's forward "
                f"returned, got {x_shape!r:.60}"
            )
        lead = x_shape[: len(x_shape) - ndim]
        y_shape = (*lead, *_resolve(fn, shape, math.prod(x_shape[len(lead) :]), "x"))
        return None, require_dy(fn, dy, y_shape, None).reshape(x_shape)

    return Layer(init, forward, backward, apply, name=name)


def _check_ndim(fn: str, ndim: object) -> int:
    return require_int(fn, "ndim", ndim, minimum=1)


def flatten(ndim: int = 3) -> Layer[None, Shape]:
    """Merge the last ``ndim`` axes (one example's, ``(H, W, C)`` by default) into one.

    >>> import numpy as np
    >>> layer = flatten()
    >>> y, res = layer.forward(None, np.zeros((5, 4, 4, 3)))  # (N, H, W, C) -> (N, H·W·C)
    >>> y.shape, layer.backward(None, res, y)[1].shape
    ((5, 48), (5, 4, 4, 3))
    >>> flatten(2).init(0, (6, 2))[0]
    (12,)
    """
    n = _check_ndim("flatten", ndim)
    return _reshape_layer("flatten", "flatten()" if n == 3 else f"flatten({n})", (-1,), n)


def reshape(shape: Sequence[int], ndim: int = 1) -> Layer[None, Shape]:
    """Reshape each example's last ``ndim`` axes to ``shape`` (one entry may be ``-1``).

    >>> import numpy as np
    >>> reshape((2, -1)).init(0, (6,))[0]
    (2, 3)
    >>> reshape((2, 3)).apply(None, np.zeros((7, 4, 6))).shape  # (models, N, 6): leading axes kept
    (7, 4, 2, 3)
    """
    n = _check_ndim("reshape", ndim)
    if isinstance(shape, str) or not isinstance(shape, Sequence | np.ndarray):
        raise TypeError(
            f"reshape: argument 'shape' must be a tuple of ints such as (28, 28, 1), got "
            f"{type(shape).__name__} {shape!r:.60}"
        )
    target = tuple(int(s) if isinstance(s, np.integer) else s for s in shape)
    if (
        not target
        or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in target)
        or any(s < 1 and s != -1 for s in target)
        or target.count(-1) > 1
    ):
        raise ValueError(
            f"reshape: argument 'shape' must be positive ints with at most one -1, got {shape!r}"
        )
    return _reshape_layer("reshape", f"reshape({target})", target, n)
