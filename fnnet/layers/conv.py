"""Two-dimensional convolution, channels last: ``y = conv(x, w) + b`` by im2col and one matmul.

Shapes: ``x (..., N, H, W, C)``, ``w (..., kh, kw, C, O)``, ``b (..., O)``, ``y (..., N, Ho, Wo,
O)``; leading axes index a stack of models (params carry them too). ``x`` may also be a plain
``(N, H, W, C)`` batch shared by every model of the stack (its ``dx`` is then summed over the
models). As everywhere in deep learning "convolution" is cross-correlation:

    y[n, i, j, o] = b[o] + Σ_{a, c, k} xp[n, i·sh + a, j·sw + c, k] · w[a, c, k, o]

where ``xp`` is ``x`` zero-padded. With ``cols = im2col(x)`` (one row per receptive field, see
:mod:`fnnet.layers.windows`) and ``W`` the kernel reshaped to ``(kh·kw·C, O)`` the forward is one
matmul ``y = cols @ W + b``. Backward, with ``dy = dL/dy`` reshaped to ``(N·Ho·Wo, O)``::

    dW        = colsᵀ @ dy
    db        = Σ_{n, i, j} dy
    dcols_ac  = dy @ w[a, c]ᵀ   for each kernel offset (a, c)   (one batched matmul)
    dx        = col2im(dcols)

``dcols_ac`` are the columns of ``dcols = dy @ Wᵀ`` that belong to offset ``(a, c)``, computed
offset by offset so that col2im adds long contiguous runs. With stride 1 the same ``dx`` is
itself a correlation, of ``dy`` (padded by ``k − 1 − p`` where the forward padded by ``p``) with
the kernel rotated by 180° and its in and out channels swapped::

    dx[n, u, v, k] = Σ_{a, c, o} dyp[n, u + a, v + c, o] · w[kh−1−a, kw−1−c, k, o]

so it is computed like the forward, an im2col of ``dy`` and one matmul, with no scatter-add; and
that same matrix gives ``dW`` (``xᵀ`` times it, rotated back), so ``x``'s is not rebuilt.

The rows of ``cols`` (and of ``y``, ``dy``) are independent examples, so both passes run block by
block of examples (:func:`~fnnet.layers.windows.example_blocks`): each block's part of ``cols`` is
built, multiplied and dropped while it is still in the processor's cache, and the backward
rebuilds it from ``x`` rather than keeping a matrix ``kh·kw`` times the input's size. The sums
over rows (``dW``) simply add up over the blocks.

>>> import numpy as np
>>> layer = conv2d(4, 3, padding="same")
>>> out_shape, p = layer.init(0, (8, 8, 2))
>>> out_shape, p.w.shape, layer.apply(p, np.ones((5, 8, 8, 2))).shape
((8, 8, 4), (3, 3, 2, 4), (5, 8, 8, 4))
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape, require_dtype, require_dy, require_int
from fnnet.layers.base import Layer, check_model_axes, check_weights
from fnnet.layers.initializers import Initializer, he_uniform, zeros
from fnnet.layers.windows import (
    BLOCK_VALUES,
    Geometry,
    Padding,
    Pads,
    Window,
    as_pair,
    check_image,
    check_padding,
    col2im_add,
    crop,
    example_blocks,
    padded_blocks,
    padded_zeros,
    patches,
    pixels_per_row,
    tiled,
)
from fnnet.random import Key, fold_in

__all__ = ["ConvParams", "ConvResiduals", "Padding", "conv2d"]


@tree.pytree
@attrs.frozen
class ConvParams:
    """Kernel ``w (..., kh, kw, C_in, C_out)`` and bias ``b (..., C_out)``.

    >>> _, p = conv2d(4, 3).init(0, (8, 8, 2))
    >>> p.w.shape, p.b.shape  # (kh, kw, C_in, C_out), (C_out,)
    ((3, 3, 2, 4), (4,))
    """

    w: Array
    b: Array


@attrs.frozen
class ConvResiduals:
    """What ``conv2d``'s backward needs: the input ``x`` and the window geometry (padding,
    output size). The backward rebuilds the im2col matrix from ``x`` block by block, which
    costs less than keeping the whole matrix (``kh·kw`` times the input) from the forward.

    >>> layer = conv2d(4, 3, padding=1)
    >>> _, p = layer.init(0, (8, 8, 2))
    >>> y, res = layer.forward(p, np.ones((5, 8, 8, 2)))
    >>> res.x.shape, res.geometry.out
    ((5, 8, 8, 2), (8, 8))
    """

    x: Array
    geometry: Geometry


def _check_x(p: ConvParams, x: object) -> Array:
    x = check_image("conv2d", x)
    if x.shape[-1] != p.w.shape[-2]:
        raise ValueError(
            f"conv2d: argument 'x' must have {p.w.shape[-2]} channels on its last axis (w "
            f"{p.w.shape}), got x {x.shape}"
        )
    require_dtype("conv2d", "x", x, p.w.dtype)
    check_model_axes("conv2d", x, 3, p.w, 4)
    return x


def _blocks(win: Window, p: ConvParams, x: Array, geo: Geometry) -> list[slice]:
    """Blocks of examples whose im2col matrices hold about ``BLOCK_VALUES`` values each."""
    kh, kw, c, _ = p.w.shape[-4:]
    per_example = math.prod(x.shape[:-4]) * geo.out[0] * geo.out[1] * kh * kw * c
    return example_blocks(x.shape[-4], per_example, BLOCK_VALUES)


def _forward(win: Window, p: ConvParams, x: Array) -> tuple[Array, ConvResiduals]:
    """``y = cols @ W + b`` reshaped to ``(..., N, Ho, Wo, O)``, block by block of examples
    (:func:`~fnnet.layers.windows.example_blocks`): rows ``N·Ho·Wo`` of ``y`` are independent."""
    x = _check_x(p, x)
    *models, kh, kw, c, o = p.w.shape
    n = x.shape[-4]
    geo = win.geometry(f"argument 'x' {x.shape}", (x.shape[-3], x.shape[-2]))
    pixels = geo.out[0] * geo.out[1]
    w2 = p.w.reshape(*models, kh * kw * c, o)
    y = np.empty((*models, n * pixels, o), x.dtype)  # (..., N·Ho·Wo, O)
    for s, xp in padded_blocks(x, geo.pads, _blocks(win, p, x, geo)):
        cols = patches(xp, win.size, win.stride, geo.out)  # this block's rows of im2col(x)
        np.matmul(cols, w2, out=y[..., s.start * pixels : s.stop * pixels, :])
    k = pixels_per_row(n * pixels, o)  # + b on rows of k pixels: a faster broadcast
    y_rows = y.reshape(*models, -1, k * o)  # a view: y is contiguous
    y_rows += tiled(p.b, k)
    return y.reshape(*models, n, *geo.out, o), ConvResiduals(x, geo)


def _check_dy(p: ConvParams, r: object, dy: object) -> Array:
    """``dy`` of the forward output's shape ``(..., N, Ho, Wo, O)`` for the residuals ``r``."""
    if not isinstance(r, ConvResiduals):
        raise ValueError(
            "conv2d: argument 'residuals' must be the ConvResiduals that this layer's forward "
            f"returned, got {type(r).__name__}"
        )
    x_shape = r.x.shape
    lead = x_shape[:-4] or p.w.shape[:-4]
    return require_dy("conv2d", dy, (*lead, x_shape[-4], *r.geometry.out, p.w.shape[-1]), p.w.dtype)


def _adjoint_pads(win: Window, geo: Geometry) -> Pads | None:
    """With stride 1, ``dx`` is itself a correlation: ``dx = dy ⋆ rot180(w)`` (in and out
    channels swapped) over ``dy`` padded by ``k − 1 − p`` on each side, ``p`` the forward's
    padding there. ``None`` for a stride above 1 or a padding wider than the kernel."""
    if win.stride != (1, 1):
        return None
    (kh, kw), ((pt, pb), (pl, pr)) = win.size, geo.pads
    pads = ((kh - 1 - pt, kh - 1 - pb), (kw - 1 - pl, kw - 1 - pr))
    return pads if min(*pads[0], *pads[1]) >= 0 else None


def _dw(win: Window, p: ConvParams, x: Array, dy2: Array, geo: Geometry) -> Array:
    """``dW = colsᵀ @ dy``: the sum over rows added up block by block, each block's ``cols``
    rebuilt from ``x``."""
    *models, kh, kw, c, o = p.w.shape
    pixels = geo.out[0] * geo.out[1]
    dw = np.zeros((*models, kh * kw * c, o), dy2.dtype)
    for s, xp in padded_blocks(x, geo.pads, _blocks(win, p, x, geo)):
        cols = patches(xp, win.size, win.stride, geo.out)
        dw += cols.swapaxes(-1, -2) @ dy2[..., s.start * pixels : s.stop * pixels, :]
    return dw.reshape(p.w.shape)


def _grads_by_correlation(
    win: Window, p: ConvParams, x: Array, dy: Array, pads: Pads
) -> tuple[Array, Array]:
    """Stride 1: ``(dW, dx)`` from one matrix per block of examples, ``D = im2col(dy padded by
    pads)`` (:func:`_adjoint_pads`; one row per input pixel, columns ``(a, c, o)``)::

        dx = D @ rot180(w)          dW = rot180(xᵀ @ D)

    (``dW[a, c, k, o] = Σ x[n, u, v, k] · D[(n, u, v), (kh−1−a, kw−1−c, o)]``: the forward's
    sum over every pair of a pixel and an output it reaches, grouped by the input pixel), so
    ``x``'s im2col is not rebuilt. With model axes, per model."""
    *models, kh, kw, c, o = p.w.shape
    n, h, w = x.shape[-4:-1]
    w_rot = p.w[..., ::-1, ::-1, :, :].swapaxes(-1, -2).reshape(*models, kh * kw * o, c)
    lead = dy.shape[:-4]
    x2 = x.reshape(*x.shape[:-4], n * h * w, c)  # (..., N·H·W, C)
    dx = np.empty((*lead, n * h * w, c), dy.dtype)
    dw_rot = np.zeros((*models, c, kh * kw * o), dy.dtype)  # xᵀ @ D, summed over the blocks
    blocks = example_blocks(n, math.prod(lead) * h * w * kh * kw * o, BLOCK_VALUES)
    for s, dyp in padded_blocks(dy, pads, blocks):
        d = patches(dyp, win.size, (1, 1), (h, w))  # (..., rows, kh·kw·O)
        rows = slice(s.start * h * w, s.stop * h * w)
        np.matmul(d, w_rot, out=dx[..., rows, :])
        dw_rot += x2[..., rows, :].swapaxes(-1, -2) @ d
    dw = dw_rot.reshape(*models, c, kh, kw, o)[..., ::-1, ::-1, :]  # (..., C, kh, kw, O)
    return np.moveaxis(dw, -4, -2).copy(), dx.reshape(*lead, n, h, w, c)


def _dx_by_col2im(win: Window, p: ConvParams, dy2: Array, x_shape: Shape, geo: Geometry) -> Array:
    """``dx = col2im(dy @ w[a, c]ᵀ per offset)``, block by block of examples; with model axes,
    per model."""
    *models, kh, kw, c, o = p.w.shape
    pixels = geo.out[0] * geo.out[1]
    w_t = p.w.reshape(*models, kh * kw, c, o).swapaxes(-1, -2)  # (..., kh·kw, O, C)
    lead = dy2.shape[:-2]
    dxp = padded_zeros((*lead, *x_shape[-4:]), geo, dy2.dtype)  # cropped at the end
    per_example = math.prod(lead) * pixels * kh * kw * c
    for s in example_blocks(x_shape[-4], per_example, BLOCK_VALUES):
        dcols = dy2[..., None, s.start * pixels : s.stop * pixels, :] @ w_t  # (..., kh·kw, rows, C)
        col2im_add(win, dcols, dxp[..., s, :, :, :], geo)
    return crop(dxp, geo)


def _backward(win: Window, p: ConvParams, r: ConvResiduals, dy: Array) -> tuple[ConvParams, Array]:
    """``db = Σ dy``, and ``dW``, ``dx`` from the correlation of ``dy`` with the rotated kernel
    for stride 1 (unless there are many more output than input channels, as on a grey image),
    else ``dW = colsᵀ @ dy`` and ``dx = col2im(dy @ w[a, c]ᵀ per offset)`` (module docstring)."""
    dy = _check_dy(p, r, dy)
    o = p.w.shape[-1]
    x, geo = r.x, r.geometry
    dy2 = dy.reshape(*dy.shape[:-4], -1, o)  # (..., N·Ho·Wo, O)
    pads = _adjoint_pads(win, geo)
    # the correlation copies kh·kw·O numbers per pixel (its im2col of dy); col2im writes and
    # then scatter-adds kh·kw·C: about twice as slow per number, so take it up to O = 2·C
    if pads is not None and o <= 2 * x.shape[-1]:
        dw, dx = _grads_by_correlation(win, p, x, dy, pads)
    else:
        dw, dx = _dw(win, p, x, dy2, geo), _dx_by_col2im(win, p, dy2, x.shape, geo)
    shared = tuple(range(dx.ndim - x.ndim))  # model axes that x lacks: dx summed over them
    # db = 1ᵀ dy2: Σ over the N·Ho·Wo rows as one BLAS call (several times faster than
    # dy2.sum(axis=-2) on a tall, narrow array)
    db = np.ones(dy2.shape[-2], dy2.dtype) @ dy2
    return ConvParams(dw, db), dx.sum(axis=shared) if shared else dx


def conv2d(
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    init: Initializer | None = None,
    bias_init: Initializer = zeros,
    dtype: npt.DTypeLike = np.float64,
) -> Layer[ConvParams, ConvResiduals]:
    """A 2-D convolution with ``out_channels`` filters of ``kernel_size`` (see the module
    docstring); ``init`` defaults to He uniform (fan-in ``kh·kw·C_in``, for ReLU networks).

    ``init(key, (H, W, C))`` returns ``(Ho, Wo, out_channels)``. Residuals: the input and the
    window geometry.

    >>> layer = conv2d(1, 2, init=lambda key, shape, dtype: np.ones(shape, dtype))
    >>> _, p = layer.init(0, (3, 3, 1))
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)  # (N, H, W, C)
    >>> y, res = layer.forward(p, x)
    >>> y[0, :, :, 0]  # each output is the sum of a 2x2 window
    array([[ 8., 12.],
           [20., 24.]])
    >>> dp, dx = layer.backward(p, res, np.ones_like(y))
    >>> dx[0, :, :, 0]  # how many windows cover each pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    out_channels = require_int("conv2d", "out_channels", out_channels, minimum=1)
    size = as_pair("conv2d", "kernel_size", kernel_size)
    dims = (("kh", size[0]), ("kw", size[1]), ("C_in", None), ("out", out_channels))
    win = Window(
        "conv2d", size, as_pair("conv2d", "stride", stride), check_padding("conv2d", padding)
    )
    weight_init = init if init is not None else he_uniform()
    dt = np.dtype(dtype)

    def init_fn(key: Key, input_shape: Shape) -> tuple[Shape, ConvParams]:
        if len(input_shape) != 3:
            raise ValueError(
                f"conv2d: input_shape must be (H, W, C) (channels last), got {input_shape}"
            )
        h, w, c = input_shape
        ho, wo = win.geometry("input_shape", (h, w)).out
        weights = weight_init(fold_in(key, 0), (*size, c, out_channels), dt)
        bias = bias_init(fold_in(key, 1), (out_channels,), dt)
        return (ho, wo, out_channels), ConvParams(weights, bias)

    def forward(p: ConvParams, x: Array) -> tuple[Array, ConvResiduals]:
        check_weights("conv2d", p, ConvParams, dims)
        return _forward(win, p, x)

    def apply(p: ConvParams, x: Array) -> Array:
        return forward(p, x)[0]

    def backward(p: ConvParams, r: ConvResiduals, dy: Array) -> tuple[ConvParams, Array]:
        check_weights("conv2d", p, ConvParams, dims)
        return _backward(win, p, r, dy)

    name = f"conv2d({out_channels}, {size}, stride={win.stride}, padding={win.padding!r})"
    return Layer(init_fn, forward, backward, apply, name=name)
