"""Two-dimensional max and average pooling, channels last; no params (``None``).

Shapes: ``x (..., N, H, W, C)`` to ``y (..., N, Ho, Wo, C)`` with ``Ho = (H - ph) // sh + 1`` (no
padding: trailing rows/columns that fill no whole window are dropped and get zero gradient);
``stride`` defaults to ``size``. Leading axes (stacked models) pass through. The window geometry
is shared with convolution (:mod:`fnnet.layers.windows`).

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

from collections.abc import Iterable

import attrs
import numpy as np

from fnnet.arrays import Array, IntArray, Shape, require_dy
from fnnet.layers.base import Layer
from fnnet.layers.windows import Pair, Window, as_pair, check_image, window_slice
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


def _window(fn: str, size: object, stride: object) -> Window:
    size2 = as_pair(fn, "size", size)
    return Window(fn, size2, size2 if stride is None else as_pair(fn, "stride", stride), 0)


def _init(win: Window, key: Key, input_shape: Shape) -> tuple[Shape, None]:
    if len(input_shape) != 3:
        raise ValueError(
            f"{win.fn}: input_shape must be (H, W, C) (channels last), got {input_shape}"
        )
    h, w, c = input_shape
    return (*win.geometry("input_shape", (h, w)).out, c), None


def _output_shape(win: Window, x_shape: object) -> Shape:
    """The pooled shape ``(..., N, Ho, Wo, C)`` of an input of ``x_shape`` (the residual)."""
    if type(x_shape) is not tuple or len(x_shape) < 4:
        raise ValueError(
            f"{win.fn}: argument 'residuals' must be the input shape (..., N, H, W, C) that "
            f"this layer's forward returned, got {x_shape!r:.60}"
        )
    out = win.geometry(f"residual x_shape {x_shape}", (x_shape[-3], x_shape[-2])).out
    return (*x_shape[:-3], *out, x_shape[-1])


def _slices(win: Window, x: object) -> tuple[Array, list[Array]]:
    """The checked ``x`` and, per window offset, the strided slice of the pixels it reads."""
    x = check_image(win.fn, x)
    out = win.geometry(f"argument 'x' {x.shape}", (x.shape[-3], x.shape[-2])).out
    return x, [x[window_slice(off, win.stride, out)] for off in win.offsets()]


def _scatter(win: Window, x_shape: Shape, out: Pair, grads: Iterable[Array]) -> Array:
    """``dx``: the gradient of each window offset's slice (``grads``, in offset order) added
    into the pixels it read; written directly when windows do not overlap, and into
    uninitialised memory when they also tile the input exactly."""
    (ph, pw), (sh, sw) = win.size, win.stride
    disjoint = sh >= ph and sw >= pw
    tiled = (sh, sw) == (ph, pw) and out[0] * ph == x_shape[-3] and out[1] * pw == x_shape[-2]
    dx: Array | None = None
    for off, g in zip(win.offsets(), grads, strict=True):
        if dx is None:
            dx = (np.empty if tiled else np.zeros)(x_shape, g.dtype)
        region = dx[window_slice(off, win.stride, out)]
        if disjoint:
            region[...] = g
        else:
            region += g
    assert dx is not None  # a window has at least one offset
    return dx


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
    win = _window("max_pool2d", size, stride)
    index_dtype = np.uint8 if len(win.offsets()) <= 255 else np.intp

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return _init(win, key, input_shape)

    def apply(p: None, x: Array) -> Array:
        x, slices = _slices(win, x)
        y: Array = slices[0].copy()
        for s in slices[1:]:
            np.maximum(y, s, out=y)
        return y

    def forward(p: None, x: Array) -> tuple[Array, MaxPoolResiduals]:
        x, slices = _slices(win, x)
        y: Array = slices[0].copy()
        argmax: IntArray = np.zeros(y.shape, index_dtype)
        for k, s in enumerate(slices[1:], start=1):
            # strictly greater: an equal later value never takes over, so the first max wins
            np.copyto(argmax, k, where=s > y)
            np.maximum(y, s, out=y)
        return y, MaxPoolResiduals(argmax, x.shape)

    def backward(p: None, r: MaxPoolResiduals, dy: Array) -> tuple[None, Array]:
        if not isinstance(r, MaxPoolResiduals):
            raise ValueError(
                f"{win.fn}: argument 'residuals' must be the MaxPoolResiduals that this layer's "
                f"forward returned, got {type(r).__name__}"
            )
        dy = require_dy(win.fn, dy, r.argmax.shape, None)
        grads = (dy * (r.argmax == k) for k in range(len(win.offsets())))
        return None, _scatter(win, r.x_shape, (dy.shape[-3], dy.shape[-2]), grads)

    name = f"max_pool2d({win.size}, stride={win.stride})"
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
    win = _window("avg_pool2d", size, stride)
    scale = 1.0 / len(win.offsets())  # a Python float: keeps float32 arrays float32

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return _init(win, key, input_shape)

    def apply(p: None, x: Array) -> Array:
        x, slices = _slices(win, x)
        y: Array = slices[0].copy()
        for s in slices[1:]:
            y += s
        y *= scale
        return y

    def forward(p: None, x: Array) -> tuple[Array, Shape]:
        return apply(p, x), x.shape

    def backward(p: None, x_shape: Shape, dy: Array) -> tuple[None, Array]:
        dy = require_dy(win.fn, dy, _output_shape(win, x_shape), None)
        g = dy * scale
        out = (dy.shape[-3], dy.shape[-2])
        return None, _scatter(win, x_shape, out, (g for _ in win.offsets()))

    name = f"avg_pool2d({win.size}, stride={win.stride})"
    return Layer(init, forward, backward, apply, name=name)
