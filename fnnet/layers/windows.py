"""Sliding windows over images, shared by convolution and pooling (channels last).

A :class:`Window` is a ``size (kh, kw)`` moved by ``stride (sh, sw)`` over ``x (..., N, H, W,
C)`` zero-padded by ``padding``; it yields ``(Ho, Wo)`` windows per image with

    Ho = (H + pad_top + pad_bottom − kh) // sh + 1        (and likewise Wo)

Padding is an int, a pair ``(ph, pw)`` (symmetric), ``"valid"`` (= 0) or ``"same"``: TensorFlow's
rule, ``Ho = ceil(H / sh)``, with the odd leftover row/column of padding at the bottom/right.

**im2col** gathers every window into one row, ``cols[(n, i, j), (a, c, k)] = xp[n, i·sh + a,
j·sw + c, k]`` (``xp`` the padded input), so a convolution is one matmul. **col2im** is its
adjoint: it scatter-adds per-offset blocks back into an input-shaped gradient, one strided slice
per kernel offset ``(a, c)`` (see :func:`window_slice`), and crops the padding.

>>> import numpy as np
>>> win = Window("conv2d", (2, 2), (1, 1), 0)
>>> cols, geo = im2col(win, np.arange(9.0).reshape(1, 3, 3, 1))
>>> cols  # the four 2x2 windows of a 3x3 image, one per row
array([[0., 1., 3., 4.],
       [1., 2., 4., 5.],
       [3., 4., 6., 7.],
       [4., 5., 7., 8.]])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal, TypeAlias, TypeGuard

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from fnnet.arrays import Array, Shape, require_axes, require_float

__all__ = [
    "Pair",
    "Pads",
    "Padding",
    "Window",
    "Geometry",
    "as_pair",
    "check_padding",
    "check_image",
    "window_slice",
    "pad",
    "padded_blocks",
    "patches",
    "im2col",
    "col2im",
    "col2im_add",
    "crop",
    "example_blocks",
    "padded_zeros",
    "BLOCK_VALUES",
    "pixels_per_row",
    "tiled",
    "rows_sum",
]

Pair: TypeAlias = tuple[int, int]
Padding: TypeAlias = int | tuple[int, int] | Literal["same", "valid"]
Pads: TypeAlias = tuple[Pair, Pair]
"""``((top, bottom), (left, right))`` zero rows/columns."""

BLOCK_VALUES = 1 << 19
"""Values of one block of a convolution's im2col matrix (2 MB in float32): see
:func:`example_blocks`."""


def as_pair(fn: str, arg: str, value: object) -> Pair:
    """``value`` as a pair of positive ints (an int ``k`` means ``(k, k)``).

    >>> as_pair("conv2d", "stride", 2), as_pair("conv2d", "stride", (1, 2))
    ((2, 2), (1, 2))
    """
    items = value if isinstance(value, tuple) else (value, value)
    ints = [int(v) for v in items if _is_int(v)]
    if len(items) != 2 or len(ints) != 2 or min(ints) < 1:
        raise ValueError(
            f"{fn}: argument '{arg}' must be a positive int or a pair of them, got {value!r}"
        )
    return ints[0], ints[1]


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_padding(fn: str, padding: object) -> Padding:
    """``padding`` if it is a non-negative int, a pair of them, ``"same"`` or ``"valid"``.

    >>> check_padding("conv2d", "same"), check_padding("conv2d", (1, 0))
    ('same', (1, 0))
    """
    if padding == "same" or padding == "valid":
        return padding
    if _is_int(padding) and padding >= 0:
        return int(padding)
    pair = padding if isinstance(padding, tuple) and len(padding) == 2 else ()
    if pair and all(_is_int(p) and p >= 0 for p in pair):
        return (int(pair[0]), int(pair[1]))
    raise ValueError(
        f"{fn}: argument 'padding' must be a non-negative int, a pair of them, 'same' or "
        f"'valid', got {padding!r}"
    )


def check_image(fn: str, x: object, arg: str = "x") -> Array:
    """``x`` as a floating array ``(..., N, H, W, C)``, or ``TypeError``/``ValueError`` naming
    ``fn`` and ``arg``.

    >>> check_image("max_pool2d", np.zeros((2, 4, 4, 3))).shape
    (2, 4, 4, 3)
    """
    x = require_float(fn, arg, x)
    require_axes(fn, arg, x, ("N", "H", "W", "C"))
    return x


@attrs.frozen
class Geometry:
    """Where a window meets one input: its ``pads`` and the output size ``out (Ho, Wo)``.

    >>> Window("max_pool2d", (2, 2), (2, 2), 0).geometry("x", (5, 4)).out  # (5 - 2) // 2 + 1
    (2, 2)
    """

    pads: Pads
    out: Pair


@attrs.frozen
class Window:
    """A ``size`` window moved by ``stride`` over an input padded by ``padding``; ``fn`` names
    the layer in errors.

    >>> Window("conv2d", (3, 3), (2, 2), "same").geometry("input_shape", (7, 7))
    Geometry(pads=((1, 1), (1, 1)), out=(4, 4))
    """

    fn: str
    size: Pair
    stride: Pair
    padding: Padding

    def pads(self, hw: Pair) -> Pads:
        """The zero rows/columns around an ``hw`` input."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            pads: list[Pair] = []
            for n, k, s in zip(hw, self.size, self.stride, strict=True):
                total = max((-(-n // s) - 1) * s + k - n, 0)  # to make Ho = ceil(H / sh)
                pads.append((total // 2, total - total // 2))
            return pads[0], pads[1]
        ph, pw = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
        return (ph, ph), (pw, pw)

    def geometry(self, where: str, hw: Pair) -> Geometry:
        """Pads and output size for an ``hw`` input; ``ValueError`` if the padded input is
        smaller than the window (``where`` names the input in the message)."""
        pads = self.pads(hw)
        hp, wp = hw[0] + sum(pads[0]), hw[1] + sum(pads[1])
        (kh, kw), (sh, sw) = self.size, self.stride
        if hp < kh or wp < kw:
            padded = f" (padded {(hp, wp)})" if (hp, wp) != hw else ""
            raise ValueError(
                f"{self.fn}: {where} spatial size {hw}{padded} is smaller than the window "
                f"{self.size}"
            )
        return Geometry(pads, ((hp - kh) // sh + 1, (wp - kw) // sw + 1))

    def offsets(self) -> list[Pair]:
        """Every offset ``(a, c)`` inside the window, row-major."""
        return [(a, c) for a in range(self.size[0]) for c in range(self.size[1])]


def window_slice(offset: Pair, stride: Pair, out: Pair) -> tuple[Any, ...]:
    """The index ``[..., a : a + sh·(Ho-1) + 1 : sh, c : ... : sw, :]`` of every input pixel
    that window offset ``(a, c)`` touches, for all output pixels at once.

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> x[window_slice((1, 1), (2, 2), (2, 2))][0, :, :, 0]  # bottom-right of each 2x2 window
    array([[ 5.,  7.],
           [13., 15.]])
    """
    (a, c), (sh, sw), (ho, wo) = offset, stride, out
    return (
        Ellipsis,
        slice(a, a + sh * (ho - 1) + 1, sh),
        slice(c, c + sw * (wo - 1) + 1, sw),
        slice(None),
    )


def pad(x: Array, pads: Pads) -> Array:
    """``x (..., H, W, C)`` with ``pads`` zero rows and columns around each image (``x`` itself
    when there are none).

    >>> pad(np.ones((1, 1, 2, 1)), ((1, 0), (0, 1)))[0, :, :, 0]
    array([[0., 0., 0.],
           [1., 1., 0.]])
    """
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    *lead, h, w, c = x.shape
    xp = np.zeros((*lead, h + pt + pb, w + pl + pr, c), x.dtype)
    xp[..., pt : pt + h, pl : pl + w, :] = x
    return xp


def padded_blocks(x: Array, pads: Pads, blocks: list[slice]) -> Iterator[tuple[slice, Array]]:
    """``(s, x[..., s, :, :, :] padded by pads)`` for each block ``s`` of examples (the ``N``
    axis of ``x (..., N, H, W, C)``). The padded blocks share one buffer whose border is zeroed
    once, so each is valid until the next one is asked for: use it, don't keep it.

    >>> blocks = [slice(0, 1), slice(1, 2)]
    >>> x = np.arange(1.0, 3.0).reshape(2, 1, 1, 1)  # two 1x1 images
    >>> [xp[0, :, :, 0].tolist() for _, xp in padded_blocks(x, ((0, 1), (0, 0)), blocks)]
    [[[1.0], [0.0]], [[2.0], [0.0]]]
    """
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        yield from ((s, x[..., s, :, :, :]) for s in blocks)
        return
    *lead, _, h, w, c = x.shape
    size = max(s.stop - s.start for s in blocks)
    buffer = np.zeros((*lead, size, h + pt + pb, w + pl + pr, c), x.dtype)
    for s in blocks:
        xp = buffer[..., : s.stop - s.start, :, :, :]
        xp[..., pt : pt + h, pl : pl + w, :] = x[..., s, :, :, :]
        yield s, xp


def patches(xp: Array, size: Pair, stride: Pair, out: Pair) -> Array:
    """The im2col matrix ``(..., N·Ho·Wo, kh·kw·C)`` of an already padded ``xp (..., N, Hp,
    Wp, C)``: the ``out`` windows of ``size`` moved by ``stride``, columns in ``(a, c, k)``
    order.

    One window row, its ``kw`` pixels of ``C`` channels, is ``kw·C`` consecutive numbers of
    ``xp`` (channels last), so a single strided view ``(..., N, Ho, Wo, kh, kw·C)`` reaches every
    window and one copy of it is the matrix. With few channels (``kw·C < Wo``, e.g. a grey image)
    the matrix is filled offset by offset instead, each copy then moving runs of ``Wo`` pixels.

    >>> patches(np.arange(6.0).reshape(1, 2, 3, 1), (2, 2), (1, 1), (1, 2))
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.]])
    """
    *lead, _, _, c = xp.shape
    (kh, kw), (sh, sw), (ho, wo) = size, stride, out
    if kw * c < wo:
        by_offset = np.empty((*lead, ho, wo, kh, kw, c), xp.dtype)
        for a, b in ((a, b) for a in range(kh) for b in range(kw)):
            by_offset[..., a, b, :] = xp[window_slice((a, b), stride, out)]
        return by_offset.reshape(*lead[:-1], lead[-1] * ho * wo, kh * kw * c)
    if xp.strides[-2] != c * xp.strides[-1]:  # a pixel's channels are not contiguous
        xp = np.ascontiguousarray(xp)
    *lead_strides, row, col, channel = xp.strides
    windows = as_strided(
        xp,
        (*lead, ho, wo, kh, kw * c),
        (*lead_strides, sh * row, sw * col, row, channel),
        writeable=False,
    )
    cols = np.empty(windows.shape, xp.dtype)
    np.copyto(cols, windows)
    return cols.reshape(*lead[:-1], lead[-1] * ho * wo, kh * kw * c)


def im2col(win: Window, x: Array) -> tuple[Array, Geometry]:
    """``cols (..., N·Ho·Wo, kh·kw·C)`` with columns in the kernel's ``(a, c, k)`` order, and
    the geometry of ``x (..., N, H, W, C)``: :func:`patches` of ``x`` padded.

    >>> cols, geo = im2col(Window("conv2d", (3, 3), (1, 1), "same"), np.ones((2, 5, 5, 4)))
    >>> cols.shape, geo.out  # 2·5·5 windows of 3·3·4 values
    ((50, 36), (5, 5))
    """
    geo = win.geometry(f"argument 'x' {x.shape}", (x.shape[-3], x.shape[-2]))
    return patches(pad(x, geo.pads), win.size, win.stride, geo.out), geo


def pixels_per_row(m: int, c: int) -> int:
    """How many of ``m`` pixels (or examples) of ``c`` channels to put in one row of a
    ``(m / k, k·c)`` view: the largest power of two up to ``256 / c`` that divides ``m``.

    numpy's broadcasting loop runs once per row of the output, so a per-channel ``x − μ`` or
    ``x + b`` on an ``(N·H·W, C)`` view with few channels is mostly loop overhead; the same
    arithmetic on rows of ``k`` pixels (``k·C`` numbers, the per-channel vector repeated ``k``
    times by :func:`tiled`) runs about twice as fast for 16 channels.

    >>> pixels_per_row(100 * 28 * 28, 16), pixels_per_row(49, 64), pixels_per_row(10, 3)
    (16, 1, 2)
    """
    return math.gcd(m, 1 << max(0, (256 // c).bit_length() - 1))


def tiled(v: Array, k: int) -> Array:
    """A per-channel ``v (..., C)`` repeated for the ``k`` pixels of a row
    (:func:`pixels_per_row`), ``(..., 1, k·C)``.

    >>> tiled(np.array([1.0, 2.0]), 2)
    array([[1., 2., 1., 2.]])
    """
    return np.tile(v, k)[..., None, :]


def rows_sum(a: Array, k: int) -> Array:
    """``Σ`` per channel of ``a (..., R, k·C)``, ``k`` pixels per row: over its rows as
    ``1ᵀ A``, one BLAS call (numpy's ``sum`` over the leading axis of a narrow array adds row by
    row, several times slower), then over the ``k`` pixels of a row.

    >>> rows_sum(np.array([[1.0, 2.0, 3.0, 4.0]]), 2)
    array([4., 6.])
    """
    s: Array = np.ones(a.shape[-2], a.dtype) @ a
    out: Array = s.reshape(*s.shape[:-1], k, -1).sum(axis=-2)
    return out


def example_blocks(n: int, per_example: int, values: int = BLOCK_VALUES) -> list[slice]:
    """Consecutive slices of ``n`` examples, each holding about ``values`` values when one
    example holds ``per_example`` (at least one example per block).

    Convolution builds its im2col matrix block by block: a block's matrix then stays in the
    processor's cache between being written and being multiplied, which is several times
    faster than writing, and later reading back, one matrix for the whole batch.

    >>> example_blocks(5, 300, values=600)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    size = max(1, min(n, values // max(per_example, 1)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def padded_zeros(x_shape: Shape, geo: Geometry, dtype: npt.DTypeLike) -> Array:
    """Zeros shaped like an input of ``x_shape`` with ``geo``'s padding, for :func:`col2im_add`.

    >>> geo = Window("conv2d", (3, 3), (1, 1), "same").geometry("x", (4, 5))
    >>> padded_zeros((2, 4, 5, 3), geo, np.float32).shape
    (2, 6, 7, 3)
    """
    *lead, h, w, c = x_shape
    (pt, pb), (pl, pr) = geo.pads
    return np.zeros((*lead, h + pt + pb, w + pl + pr, c), dtype)


def col2im_add(win: Window, blocks: Array, dxp: Array, geo: Geometry) -> None:
    """Add ``blocks (..., kh·kw, N·Ho·Wo, C)`` (one block per window offset, the gradient of
    the input pixels that offset read) into the padded gradient ``dxp (..., N, Hp, Wp, C)``, in
    place: one strided-slice addition per offset.

    >>> win = Window("conv2d", (2, 2), (1, 1), 0)
    >>> dxp = np.zeros((1, 3, 3, 1))
    >>> col2im_add(win, np.ones((4, 4, 1)), dxp, win.geometry("x", (3, 3)))
    >>> dxp[0, :, :, 0]  # windows per pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    *lead, n, _, _, c = dxp.shape
    kh, kw = win.size
    per_offset = blocks.reshape(*lead, kh, kw, n, *geo.out, c)
    for a, b in win.offsets():
        dxp[window_slice((a, b), win.stride, geo.out)] += per_offset[..., a, b, :, :, :, :]


def crop(dxp: Array, geo: Geometry) -> Array:
    """The unpadded part of a padded array (a view).

    >>> geo = Window("conv2d", (3, 3), (1, 1), "same").geometry("x", (2, 2))
    >>> crop(np.arange(16.0).reshape(1, 4, 4, 1), geo)[0, :, :, 0]
    array([[ 5.,  6.],
           [ 9., 10.]])
    """
    (pt, pb), (pl, pr) = geo.pads
    h, w = dxp.shape[-3] - pt - pb, dxp.shape[-2] - pl - pr
    return dxp[..., pt : pt + h, pl : pl + w, :]


def col2im(win: Window, blocks: Array, x_shape: Shape, geo: Geometry) -> Array:
    """The adjoint of :func:`im2col`: ``blocks (..., kh·kw, N·Ho·Wo, C)`` scatter-added into
    ``dx`` of shape ``x_shape`` (:func:`col2im_add` into zeros, then the padding cropped).

    >>> win = Window("conv2d", (2, 2), (1, 1), 0)
    >>> geo = win.geometry("x", (3, 3))
    >>> col2im(win, np.ones((4, 4, 1)), (1, 3, 3, 1), geo)[0, :, :, 0]  # windows per pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    dxp = padded_zeros(x_shape, geo, blocks.dtype)
    col2im_add(win, blocks, dxp, geo)
    return crop(dxp, geo)
