"""Two-dimensional max and average pooling, channels last; no params (``None``).

Shapes: ``x (..., N, H, W, C)`` to ``y (..., N, Ho, Wo, C)`` with ``Ho = (H - ph) // sh + 1`` (no
padding: trailing rows/columns that fill no whole window are dropped and get zero gradient);
``stride`` defaults to ``size``. Leading axes (stacked models) pass through.

Both are computed by a loop over the ``ph·pw`` window offsets ``(a, c)``, each reading one strided
slice ``x[..., a::sh, c::sw, :]`` of all examples and output pixels at once (no loop over pixels):

==============  ====================================  =========================================
layer           forward                               backward ``dx``
==============  ====================================  =========================================
max_pool2d      y = max over the window               dy routed to the window's arg-max
avg_pool2d      y = (1 / ph·pw) · Σ over the window   dy / (ph·pw) to every window element
==============  ====================================  =========================================

Ties in max pooling go to the first maximum in row-major window order (``(0, 0), (0, 1), ...``),
deterministically, so the gradient of a window of equal values reaches exactly one element. With
overlapping windows (``stride < size``) an element collects the gradient of every window it wins.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> max_pool2d(2).apply(None, x)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from fnnet.arrays import Array, IntArray, Shape
from fnnet.layers.base import Layer
from fnnet.layers.conv import Pair, as_pair, check_image, out_size, window_slice
from fnnet.random import Key

__all__ = ["MaxPoolResiduals", "max_pool2d", "avg_pool2d"]


@attrs.frozen
class MaxPoolResiduals:
    """``argmax (..., N, Ho, Wo, C)``: the row-major window offset of each maximum; ``x_shape``.

    >>> layer = max_pool2d(2)
    >>> y, res = layer.forward(None, np.array([1.0, 3.0, 2.0, 0.0]).reshape(1, 2, 2, 1))
    >>> res.argmax.ravel().tolist(), res.x_shape  # the maximum 3.0 sits at window offset 1: (0, 1)
    ([1], (1, 2, 2, 1))
    """

    argmax: IntArray
    x_shape: Shape


def _geometry(
    name: str, size: Pair, stride: Pair
) -> tuple[Callable[[Key, Shape], tuple[Shape, None]], Callable[[object], tuple[Array, Pair]]]:
    """The pooling ``init`` and an input check returning ``(x, (Ho, Wo))``."""
    (ph, pw), (sh, sw) = size, stride

    def out_hw(where: str, h: int, w: int) -> Pair:
        if h < ph or w < pw:
            raise ValueError(
                f"{name}: {where} spatial size {(h, w)} is smaller than the window {(ph, pw)}"
            )
        return out_size(h, ph, sh, 0), out_size(w, pw, sw, 0)

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        if len(input_shape) != 3:
            raise ValueError(
                f"{name}: input_shape must be (H, W, C) (channels last), got {input_shape}"
            )
        h, w, c = input_shape
        return (*out_hw("input_shape", h, w), c), None

    def check(x: object) -> tuple[Array, Pair]:
        x = check_image(name, x)
        return x, out_hw(f"argument 'x' {x.shape}", x.shape[-3], x.shape[-2])

    return init, check


def _offsets(size: Pair) -> list[Pair]:
    return [(a, c) for a in range(size[0]) for c in range(size[1])]


def max_pool2d(
    size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> Layer[None, MaxPoolResiduals]:
    """Max pooling over ``size`` windows moved by ``stride`` (default ``size``).

    Residuals: the arg-max offset per output element (``uint8`` for windows up to 255 elements).

    >>> layer = max_pool2d(2)
    >>> x = np.array([[1.0, 2.0], [4.0, 3.0]]).reshape(1, 2, 2, 1)  # (N, H, W, C)
    >>> y, res = layer.forward(None, x)
    >>> y.ravel(), layer.backward(None, res, np.ones_like(y))[1][0, :, :, 0]
    (array([4.]), array([[0., 0.],
           [1., 0.]]))
    >>> layer.init(0, (5, 5, 3))[0]  # (H - 2) // 2 + 1
    (2, 2, 3)
    """
    size2 = as_pair("max_pool2d", "size", size)
    stride2 = size2 if stride is None else as_pair("max_pool2d", "stride", stride)
    init, check = _geometry("max_pool2d", size2, stride2)
    offsets = _offsets(size2)
    index_dtype = np.uint8 if len(offsets) <= 255 else np.intp
    disjoint = stride2[0] >= size2[0] and stride2[1] >= size2[1]

    def apply(p: None, x: Array) -> Array:
        x, out = check(x)
        y: Array = x[window_slice(offsets[0], stride2, out)].copy()
        for off in offsets[1:]:
            np.maximum(y, x[window_slice(off, stride2, out)], out=y)
        return y

    def forward(p: None, x: Array) -> tuple[Array, MaxPoolResiduals]:
        x, out = check(x)
        y: Array = x[window_slice(offsets[0], stride2, out)].copy()
        argmax: IntArray = np.zeros(y.shape, index_dtype)
        for k, off in enumerate(offsets[1:], start=1):
            s = x[window_slice(off, stride2, out)]
            # strict: an equal later value never takes over, so the first max wins; the arg-max
            # is the last offset k at which the running max grew, i.e. max_k(k · [s_k > y]).
            # Arithmetic instead of a masked assignment, which is several times slower.
            grew = np.greater(s, y)
            step = grew.view(np.uint8) if index_dtype == np.uint8 else grew.astype(index_dtype)
            step *= k
            np.maximum(argmax, step, out=argmax)
            np.maximum(y, s, out=y)
        return y, MaxPoolResiduals(argmax, x.shape)

    def backward(p: None, r: MaxPoolResiduals, dy: Array) -> tuple[None, Array]:
        out = (dy.shape[-3], dy.shape[-2])
        h, w = r.x_shape[-3], r.x_shape[-2]
        # windows that tile the input exactly write every element once: no zeros needed
        tiled = stride2 == size2 and out[0] * size2[0] == h and out[1] * size2[1] == w
        dx: Array = (np.empty if tiled else np.zeros)(r.x_shape, dy.dtype)
        for k, off in enumerate(offsets):
            region = dx[window_slice(off, stride2, out)]
            if disjoint:  # every input element is in at most one window
                np.multiply(dy, r.argmax == k, out=region)
            else:
                region += dy * (r.argmax == k)
        return None, dx

    name = f"max_pool2d({size2}, stride={stride2})"
    return Layer(init, forward, backward, apply, name=name)


def avg_pool2d(
    size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> Layer[None, Shape]:
    """Average pooling over ``size`` windows moved by ``stride`` (default ``size``).

    Residuals: the input's shape.

    >>> layer = avg_pool2d(2)
    >>> x = np.array([[1.0, 2.0], [4.0, 3.0]]).reshape(1, 2, 2, 1)
    >>> y, res = layer.forward(None, x)
    >>> y.ravel(), layer.backward(None, res, np.ones_like(y))[1][0, :, :, 0]
    (array([2.5]), array([[0.25, 0.25],
           [0.25, 0.25]]))
    """
    size2 = as_pair("avg_pool2d", "size", size)
    stride2 = size2 if stride is None else as_pair("avg_pool2d", "stride", stride)
    init, check = _geometry("avg_pool2d", size2, stride2)
    offsets = _offsets(size2)
    disjoint = stride2[0] >= size2[0] and stride2[1] >= size2[1]
    scale = 1.0 / len(offsets)  # a Python float: keeps float32 arrays float32

    def apply(p: None, x: Array) -> Array:
        x, out = check(x)
        y: Array = x[window_slice(offsets[0], stride2, out)].copy()
        for off in offsets[1:]:
            y += x[window_slice(off, stride2, out)]
        y *= scale
        return y

    def forward(p: None, x: Array) -> tuple[Array, Shape]:
        return apply(p, x), x.shape

    def backward(p: None, x_shape: Shape, dy: Array) -> tuple[None, Array]:
        out = (dy.shape[-3], dy.shape[-2])
        g = dy * scale
        tiled = stride2 == size2 and out[0] * size2[0] == x_shape[-3]
        tiled = tiled and out[1] * size2[1] == x_shape[-2]
        dx: Array = (np.empty if tiled else np.zeros)(x_shape, dy.dtype)
        for off in offsets:
            region = dx[window_slice(off, stride2, out)]
            if disjoint:  # every input element is in at most one window
                region[...] = g
            else:
                region += g
        return None, dx

    name = f"avg_pool2d({size2}, stride={stride2})"
    return Layer(init, forward, backward, apply, name=name)
