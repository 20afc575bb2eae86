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
block by block so that col2im adds long contiguous runs.

>>> import numpy as np
>>> layer = conv2d(4, 3, padding="same")
>>> out_shape, p = layer.init(0, (8, 8, 2))
>>> out_shape, p.w.shape, layer.apply(p, np.ones((5, 8, 8, 2))).shape
((8, 8, 4), (3, 3, 2, 4), (5, 8, 8, 4))
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape, require_dtype, require_dy, require_int
from fnnet.layers.base import Layer, check_model_axes, check_weights
from fnnet.layers.initializers import Initializer, he_uniform, zeros
from fnnet.layers.windows import (
    Geometry,
    Padding,
    Window,
    as_pair,
    check_image,
    check_padding,
    col2im,
    im2col,
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
    """What ``conv2d``'s backward needs: the im2col matrix ``cols (..., N·Ho·Wo, kh·kw·C)``, the
    input's shape and the window geometry (padding, output size).

    >>> layer = conv2d(4, 3, padding=1)
    >>> _, p = layer.init(0, (8, 8, 2))
    >>> y, res = layer.forward(p, np.ones((5, 8, 8, 2)))
    >>> res.cols.shape, res.x_shape  # (N·Ho·Wo, kh·kw·C)
    ((320, 18), (5, 8, 8, 2))
    """

    cols: Array
    x_shape: Shape
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


def _forward(win: Window, p: ConvParams, x: Array) -> tuple[Array, ConvResiduals]:
    """``y = cols @ W + b`` reshaped to ``(..., N, Ho, Wo, O)``."""
    x = _check_x(p, x)
    cols, geo = im2col(win, x)
    *models, kh, kw, c, o = p.w.shape
    y = cols @ p.w.reshape(*models, kh * kw * c, o) + p.b[..., None, :]
    return y.reshape(*y.shape[:-2], x.shape[-4], *geo.out, o), ConvResiduals(cols, x.shape, geo)


def _check_dy(p: ConvParams, r: object, dy: object) -> Array:
    """``dy`` of the forward output's shape ``(..., N, Ho, Wo, O)`` for the residuals ``r``."""
    if not isinstance(r, ConvResiduals):
        raise ValueError(
            "conv2d: argument 'residuals' must be the ConvResiduals that this layer's forward "
            f"returned, got {type(r).__name__}"
        )
    lead = r.x_shape[:-4] or p.w.shape[:-4]
    return require_dy(
        "conv2d", dy, (*lead, r.x_shape[-4], *r.geometry.out, p.w.shape[-1]), p.w.dtype
    )


def _backward(win: Window, p: ConvParams, r: ConvResiduals, dy: Array) -> tuple[ConvParams, Array]:
    """``dW = colsᵀ @ dy``, ``db = Σ dy``, ``dx = col2im(dy @ w[a, c]ᵀ per offset)``."""
    dy = _check_dy(p, r, dy)
    *models, kh, kw, c, o = p.w.shape
    dy2 = dy.reshape(*dy.shape[:-4], -1, o)  # (..., N·Ho·Wo, O)
    dw = (r.cols.swapaxes(-1, -2) @ dy2).reshape(p.w.shape)
    # db = 1ᵀ dy2: Σ over the N·Ho·Wo rows as one BLAS call (several times faster than
    # dy2.sum(axis=-2) on a tall, narrow array)
    db = np.ones(dy2.shape[-2], dy2.dtype) @ dy2
    w_t = p.w.reshape(*models, kh * kw, c, o).swapaxes(-1, -2)  # (..., kh·kw, O, C)
    dcols = dy2[..., None, :, :] @ w_t  # (..., kh·kw, N·Ho·Wo, C)
    shared = dcols.ndim - r.cols.ndim - 1  # model axes that x lacks: one batch for all models
    if shared:
        dcols = dcols.sum(axis=tuple(range(shared)))
    return ConvParams(dw, db), col2im(win, dcols, r.x_shape, r.geometry)


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

    ``init(key, (H, W, C))`` returns ``(Ho, Wo, out_channels)``. Residuals: the im2col matrix.

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
