"""Two-dimensional convolution, channels last: ``y = conv(x, w) + b`` by im2col and one matmul.

Shapes: ``x (..., N, H, W, C)``, ``w (..., kh, kw, C, O)``, ``b (..., O)``, ``y (..., N, Ho, Wo,
O)``; leading axes index a stack of models (params carry them too). ``x`` may also be a plain
``(N, H, W, C)`` batch shared by every model of the stack (its ``dx`` is then summed over the
models). As everywhere in deep learning "convolution" is cross-correlation:

    y[n, i, j, o] = b[o] + Σ_{a, c, k} xp[n, i·sh + a, j·sw + c, k] · w[a, c, k, o]

where ``xp`` is ``x`` zero-padded. **im2col** gathers every receptive field into one row,
``cols[(n, i, j), (a, c, k)] = xp[n, i·sh + a, j·sw + c, k]`` (a copy of a read-only
``sliding_window_view``), so the forward is one matmul ``y = cols @ W + b`` with ``W`` the kernel
reshaped to ``(kh·kw·C, O)``. Backward, with ``dy = dL/dy`` reshaped to ``(N·Ho·Wo, O)``::

    dW        = colsᵀ @ dy                                 (one matmul)
    db        = Σ_{n, i, j} dy
    dcols_ac  = dy @ w[a, c]ᵀ   for each kernel offset (a, c)   (one batched matmul)
    dxp[n, i·sh + a, j·sw + c, :] += dcols_ac[(n, i, j), :]    (col2im)

``dcols_ac`` are the columns of ``dcols = dy @ Wᵀ`` that belong to offset ``(a, c)``, computed
block by block so each block is contiguous. col2im loops over the ``kh·kw`` kernel offsets only,
each adding one strided slice (all examples and output pixels at once); the padding is then
cropped off ``dxp``.

Padding is an int, a pair ``(ph, pw)`` (symmetric), ``"valid"`` (= 0) or ``"same"``: TensorFlow's
rule, ``Ho = ceil(H / sh)``, with the odd leftover row/column of padding at the bottom/right.

>>> import numpy as np
>>> layer = conv2d(4, 3, padding="same")
>>> out_shape, p = layer.init(0, (8, 8, 2))
>>> out_shape, p.w.shape, layer.apply(p, np.ones((5, 8, 8, 2))).shape
((8, 8, 4), (3, 3, 2, 4), (5, 8, 8, 4))
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from fnnet import tree
from fnnet.arrays import Array, Shape
from fnnet.layers.base import Layer
from fnnet.layers.initializers import Initializer, he_uniform, zeros
from fnnet.random import Key, fold_in

__all__ = ["ConvParams", "ConvResiduals", "Padding", "conv2d"]

Pair: TypeAlias = tuple[int, int]
Padding: TypeAlias = int | tuple[int, int] | Literal["same", "valid"]
Pads: TypeAlias = tuple[Pair, Pair]
"""``((top, bottom), (left, right))`` zero rows/columns."""


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
    input's shape and the padding applied to it.

    >>> layer = conv2d(4, 3, padding=1)
    >>> _, p = layer.init(0, (8, 8, 2))
    >>> y, res = layer.forward(p, np.ones((5, 8, 8, 2)))
    >>> res.cols.shape, res.x_shape  # (N·Ho·Wo, kh·kw·C)
    ((320, 18), (5, 8, 8, 2))
    """

    cols: Array
    x_shape: Shape
    pads: Pads


# --- helpers shared with pool.py ----------------------------------------------------------------


def as_pair(fn: str, arg: str, value: object) -> Pair:
    """``value`` as a pair of positive ints (an int ``k`` means ``(k, k)``)."""
    items = value if isinstance(value, tuple) else (value, value)
    ints = [int(v) for v in items if isinstance(v, int | np.integer) and not isinstance(v, bool)]
    if len(items) != 2 or len(ints) != 2 or min(ints) < 1:
        raise ValueError(
            f"{fn}: argument '{arg}' must be a positive int or a pair of them, got {value!r}"
        )
    return ints[0], ints[1]


def check_image(fn: str, x: object) -> Array:
    """``x`` as a floating array ``(..., N, H, W, C)``, or ``TypeError``/``ValueError``."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{fn}: argument 'x' must be a floating numpy array, got {got}")
    if x.ndim < 4:
        raise ValueError(
            f"{fn}: argument 'x' must have shape (..., N, H, W, C) (channels last), got {x.shape}"
        )
    return x


def window_slice(offset: Pair, stride: Pair, out: Pair) -> tuple[Any, ...]:
    """The index ``[..., a : a + sh·(Ho-1) + 1 : sh, c : ... : sw, :]`` of every input pixel
    that kernel offset ``(a, c)`` touches, for all output pixels at once."""
    (a, c), (sh, sw), (ho, wo) = offset, stride, out
    return (
        Ellipsis,
        slice(a, a + sh * (ho - 1) + 1, sh),
        slice(c, c + sw * (wo - 1) + 1, sw),
        slice(None),
    )


def out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a window of ``kernel`` sliding by ``stride`` over ``size + pad``."""
    return (size + pad - kernel) // stride + 1


# --- conv2d -------------------------------------------------------------------------------------


def _pads(padding: Padding, hw: Pair, kernel: Pair, stride: Pair) -> Pads:
    if padding == "same":
        out: list[Pair] = []
        for size, k, s in zip(hw, kernel, stride, strict=True):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            out.append((total // 2, total - total // 2))
        return out[0], out[1]
    if padding == "valid":
        return (0, 0), (0, 0)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph), (pw, pw)


def _check_padding(padding: object) -> Padding:
    if padding in ("same", "valid"):
        return padding
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    if (
        isinstance(padding, tuple)
        and len(padding) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding)
    ):
        return (int(padding[0]), int(padding[1]))
    raise ValueError(
        "conv2d: argument 'padding' must be a non-negative int, a pair of them, 'same' or "
        f"'valid', got {padding!r}"
    )


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
    >>> conv2d(8, 3, stride=2, padding="same").init(0, (7, 7, 1))[0]  # Ho = ceil(7 / 2)
    (4, 4, 8)
    """
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise ValueError(
            f"conv2d: argument 'out_channels' must be a positive int, got {out_channels!r}"
        )
    kh, kw = as_pair("conv2d", "kernel_size", kernel_size)
    stride2 = as_pair("conv2d", "stride", stride)
    sh, sw = stride2
    pad = _check_padding(padding)
    weight_init = init if init is not None else he_uniform()
    dt = np.dtype(dtype)
    name = f"conv2d({out_channels}, {(kh, kw)}, stride={stride2}, padding={pad!r})"

    def geometry(fn: str, h: int, w: int) -> tuple[Pads, Pair]:
        pads = _pads(pad, (h, w), (kh, kw), stride2)
        hp, wp = h + sum(pads[0]), w + sum(pads[1])
        if hp < kh or wp < kw:
            raise ValueError(
                f"conv2d: {fn} spatial size {(h, w)} (padded {(hp, wp)}) is smaller than the "
                f"kernel {(kh, kw)}"
            )
        return pads, (out_size(h, kh, sh, sum(pads[0])), out_size(w, kw, sw, sum(pads[1])))

    def init_fn(key: Key, input_shape: Shape) -> tuple[Shape, ConvParams]:
        if len(input_shape) != 3:
            raise ValueError(
                f"conv2d: input_shape must be (H, W, C) (channels last), got {input_shape}"
            )
        h, w, c = input_shape
        _, (ho, wo) = geometry("input_shape", h, w)
        weights = weight_init(fold_in(key, 0), (kh, kw, c, out_channels), dt)
        bias = bias_init(fold_in(key, 1), (out_channels,), dt)
        return (ho, wo, out_channels), ConvParams(weights, bias)

    def check(p: ConvParams, x: object) -> Array:
        x = check_image("conv2d", x)
        c_in = p.w.shape[-2]
        if x.shape[-1] != c_in:
            raise ValueError(
                f"conv2d: argument 'x' must have {c_in} channels on its last axis (w "
                f"{p.w.shape}), got x {x.shape}"
            )
        if x.dtype != p.w.dtype:
            raise TypeError(
                f"conv2d: argument 'x' has dtype {x.dtype} but the params are {p.w.dtype}; "
                "cast one of them (fnnet never mixes precisions silently)"
            )
        if x.ndim > 4 and x.shape[:-4] != p.w.shape[:-4]:
            raise ValueError(
                f"conv2d: argument 'x' {x.shape} has model axes {x.shape[:-4]} but the params "
                f"have {p.w.shape[:-4]} (w {p.w.shape}); pass (N, H, W, C) to share it"
            )
        return x

    def im2col(x: Array) -> tuple[Array, Pads, Pair]:
        """``cols (..., N·Ho·Wo, kh·kw·C)`` with columns in the kernel's ``(a, c, k)`` order."""
        *lead, h, w, c = x.shape
        pads, (ho, wo) = geometry("argument 'x'", h, w)
        (pt, pb), (pl, pr) = pads
        if pt or pb or pl or pr:
            xp = np.zeros((*lead, h + pt + pb, w + pl + pr, c), x.dtype)
            xp[..., pt : pt + h, pl : pl + w, :] = x
        else:
            xp = x
        # (..., N, Hp-kh+1, Wp-kw+1, C, kh, kw), a read-only view; keep every stride-th window
        win = sliding_window_view(xp, (kh, kw), axis=(-3, -2))[..., ::sh, ::sw, :, :, :]
        # to (..., N, Ho, Wo, kh, kw, C): runs of C contiguous elements; the reshape copies
        win = np.moveaxis(win, -3, -1)
        cols: Array = win.reshape(*lead[:-1], lead[-1] * ho * wo, kh * kw * c)
        return cols, pads, (ho, wo)

    def output(p: ConvParams, cols: Array, x_shape: Shape, hw_out: Pair) -> Array:
        *lead, n, _, _, c = x_shape
        y: Array = np.matmul(cols, p.w.reshape(*p.w.shape[:-4], kh * kw * c, out_channels))
        y += p.b[..., None, :]
        return y.reshape(*y.shape[:-2], n, *hw_out, out_channels)

    def apply(p: ConvParams, x: Array) -> Array:
        x = check(p, x)
        cols, _, hw_out = im2col(x)
        return output(p, cols, x.shape, hw_out)

    def forward(p: ConvParams, x: Array) -> tuple[Array, ConvResiduals]:
        x = check(p, x)
        cols, pads, hw_out = im2col(x)
        return output(p, cols, x.shape, hw_out), ConvResiduals(cols, x.shape, pads)

    def backward_params(p: ConvParams, r: ConvResiduals, dy: Array) -> ConvParams:
        dy2 = dy.reshape(*dy.shape[:-4], -1, out_channels)  # (..., N·Ho·Wo, O)
        dw = np.matmul(r.cols.swapaxes(-1, -2), dy2).reshape(p.w.shape)
        # Σ over examples and pixels as a matrix-vector product: several times faster than
        # np.add.reduce along axis -2 of a tall, narrow array
        db: Array = np.matmul(np.ones(dy2.shape[-2], dy2.dtype), dy2)
        return ConvParams(dw, db)

    def col2im(dcols: Array, r: ConvResiduals, hw_out: Pair) -> Array:
        """Scatter-add ``dcols (..., kh·kw, N·Ho·Wo, C)`` (one block per kernel offset) into
        ``dx``: ``kh·kw`` strided-slice additions, then the padding is cropped."""
        *lead, h, w, c = r.x_shape
        (pt, pb), (pl, pr) = r.pads
        blocks = dcols.reshape(*lead[:-1], kh, kw, lead[-1], *hw_out, c)
        dxp = np.zeros((*lead, h + pt + pb, w + pl + pr, c), dcols.dtype)
        for a in range(kh):
            for b in range(kw):
                dxp[window_slice((a, b), stride2, hw_out)] += blocks[..., a, b, :, :, :, :]
        if pt or pb or pl or pr:
            return dxp[..., pt : pt + h, pl : pl + w, :]
        return dxp

    def backward(p: ConvParams, r: ConvResiduals, dy: Array) -> tuple[ConvParams, Array]:
        grads = backward_params(p, r, dy)
        dy2 = dy.reshape(*dy.shape[:-4], 1, -1, out_channels)  # (..., 1, N·Ho·Wo, O)
        c = p.w.shape[-2]
        wt = p.w.reshape(*p.w.shape[:-4], kh * kw, c, out_channels).swapaxes(-1, -2)
        # dcols per kernel offset, (..., kh·kw, N·Ho·Wo, C): kh·kw matmuls in one call, each
        # block contiguous, so col2im adds long runs (a (N·Ho·Wo, kh·kw·C) dcols would make
        # col2im read runs of only C elements, several times slower)
        dcols: Array = np.matmul(dy2, wt)
        model_axes = dcols.ndim - r.cols.ndim - 1
        if model_axes:  # x was shared by the stack: its gradient is the sum over the models
            dcols = np.add.reduce(dcols, axis=tuple(range(model_axes)))
        return grads, col2im(dcols, r, (dy.shape[-3], dy.shape[-2]))

    return Layer(
        init_fn,
        forward,
        backward,
        apply,
        name=name,
        backward_params=backward_params,
    )
