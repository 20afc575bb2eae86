"""Normalization layers: ``layer_norm``, ``group_norm`` and ``batch_norm`` (with explicit state).

All three standardize the input over some axes ``A`` and then scale and shift each channel::

    μ = mean_A(x)    σ² = mean_A((x − μ)²)    x̂ = (x − μ) / √(σ² + ε)    y = γ ⊙ x̂ + β

and share one backward (``m`` the number of elements in ``A``, means taken over ``A``)::

    dγ = Σ dy ⊙ x̂      dβ = Σ dy      (sums over examples and, for images, H and W)
    dx̂ = dy ⊙ γ        dx = (dx̂ − mean_A(dx̂) − x̂ ⊙ mean_A(dx̂ ⊙ x̂)) / √(σ² + ε)

They differ only in ``A``:

==============  ===========================================  ===========================
layer           ``x (..., N, F)``                           ``x (..., N, H, W, C)``
==============  ===========================================  ===========================
layer_norm      each example's F features                    each pixel's C channels
group_norm(G)   each example's F/G features of one group     each example's H·W·C/G values
batch_norm      each feature over the N examples             each channel over N·H·W
==============  ===========================================  ===========================

**Shapes.** An input is dense ``(..., N, F)`` or an NHWC image batch ``(..., N, H, W, C)``; the
params ``γ = scale`` and ``β = shift`` are ``(..., C)``, their leading axes a stack of models. As
with ``dense`` and ``conv2d``, ``x`` either carries the params' model axes or none (a batch shared
by every model, whose ``dx`` is then summed over the models). With two or more model axes a 4-axis
input whose leading axes equal the models' is read as per-model dense data.

**Batch norm's running statistics** are explicit state (:mod:`fnnet.layers.state`): training
normalizes by the batch's statistics and returns the updated running ones,
``mean ← momentum·mean + (1 − momentum)·μ`` and ``var ← momentum·var + (1 − momentum)·σ²·m/(m−1)``
(the unbiased batch variance, as PyTorch keeps it); evaluation normalizes by the running ones, and
its backward is the plain ``dx = dy ⊙ γ / √(var + ε)``. ``batch_norm().forward(params, x)`` is the
training-mode function; its plain ``apply`` raises, because evaluation needs the state.

>>> import numpy as np
>>> x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])  # (N=2, F=3)
>>> _, p = layer_norm().init(0, (3,))
>>> layer_norm().apply(p, x).round(4)  # each row to mean 0, variance 1
array([[-1.2247,  0.    ,  1.2247],
       [-1.2247,  0.    ,  1.2247]])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape, require_dy
from fnnet.layers.base import Layer
from fnnet.layers.state import Stateful, attach, needs_state
from fnnet.layers.windows import pixels_per_row, rows_sum, tiled
from fnnet.random import Key

__all__ = [
    "NormParams",
    "NormResiduals",
    "BatchNormState",
    "layer_norm",
    "group_norm",
    "batch_norm",
    "standardize",
    "standardize_backward",
]

Kind = Literal["layer", "group", "batch"]


@tree.pytree
@attrs.frozen
class NormParams:
    """Per-channel ``scale`` (γ, starts at 1) and ``shift`` (β, starts at 0), ``(..., C)``.

    >>> _, p = layer_norm().init(0, (4,))
    >>> p.scale, p.shift
    (array([1., 1., 1., 1.]), array([0., 0., 0., 0.]))
    """

    scale: Array
    shift: Array


@tree.pytree
@attrs.frozen
class BatchNormState:
    """Batch norm's running ``mean`` and ``var`` per channel, ``(..., C)``: state, not params.

    >>> from fnnet.layers import state
    >>> _, _, st = state.init(batch_norm(), 0, (8, 8, 3))  # an NHWC input: C = 3
    >>> st
    BatchNormState(mean=array([0., 0., 0.]), var=array([1., 1., 1.]))
    """

    mean: Array
    var: Array


@attrs.frozen
class NormResiduals:
    """What the backward needs: ``xhat`` (x̂, the input's shape, with model axes when the params
    have them), ``inv_std`` (1/√(σ² + ε), kept dims; grouped for group norm), the input's shape
    and its per-model rank (2 dense, 4 images).

    >>> y, r = layer_norm().forward(layer_norm().init(0, (3,))[1], np.ones((5, 3)))
    >>> r.xhat.shape, r.inv_std.shape, r.x_shape, r.rank
    ((5, 3), (5, 1), (5, 3), 2)
    """

    xhat: Array
    inv_std: Array
    x_shape: Shape
    rank: int


def standardize(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array, Array, Array]:
    """``(x̂, 1/√(σ² + ε), μ, σ²)`` over ``axes`` (statistics with kept dims).

    >>> xhat, inv, mu, var = standardize(np.array([[1.0, 3.0]]), (-1,), 0.0)
    >>> xhat, inv, mu, var
    (array([[-1.,  1.]]), array([[1.]]), array([[2.]]), array([[1.]]))
    """
    mu = np.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=axes, keepdims=True)
    inv: Array = 1.0 / np.sqrt(var + eps)  # a Python float: float32 stays float32
    return xc * inv, inv, mu, var


def standardize_backward(dxhat: Array, xhat: Array, inv: Array, axes: tuple[int, ...]) -> Array:
    """``dx = (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂)) / √(σ² + ε)``, means over ``axes``.

    >>> xhat, inv, _, _ = standardize(np.array([[1.0, 3.0]]), (-1,), 0.0)
    >>> standardize_backward(np.array([[1.0, 1.0]]), xhat, inv, (-1,))  # a shift changes nothing
    array([[0., 0.]])
    """
    mean_d = np.mean(dxhat, axis=axes, keepdims=True)
    mean_dx = np.mean(dxhat * xhat, axis=axes, keepdims=True)
    dx: Array = (dxhat - mean_d - xhat * mean_dx) * inv
    return dx


def _layout(fn: str, x: object, p: NormParams) -> tuple[Array, int]:
    """``x`` checked against the params, and its per-model rank (2 or 4)."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{fn}: argument 'x' must be a floating numpy array, got {got}")
    lead, c = p.scale.shape[:-1], p.scale.shape[-1]
    if x.dtype != p.scale.dtype:
        raise TypeError(
            f"{fn}: argument 'x' has dtype {x.dtype} but the params are {p.scale.dtype}; "
            "cast one of them (fnnet never mixes precisions silently)"
        )
    if x.ndim < 2 or x.shape[-1] != c:
        raise ValueError(
            f"{fn}: argument 'x' must have shape (..., N, {c}) or (..., N, H, W, {c}), "
            f"got {x.shape}"
        )
    k = len(lead)
    if x.ndim - k in (2, 4) and x.shape[:k] == lead:
        return x, x.ndim - k
    if x.ndim in (2, 4):
        return x, x.ndim
    raise ValueError(
        f"{fn}: argument 'x' {x.shape} must carry the params' model axes {lead} or none "
        f"(scale {p.scale.shape}), with (N, {c}) or (N, H, W, {c}) per model"
    )


def _axes(kind: Kind, rank: int) -> tuple[int, ...]:
    """The standardized axes, counted from the end (group norm: of the grouped array)."""
    if kind == "layer":
        return (-1,)
    if kind == "batch":
        return tuple(range(-rank, -1))
    return (*range(-rank, -2), -1)


def per_channel(p: Array, rank: int) -> Array:
    """A ``(..., C)`` params array shaped to broadcast against ``(..., N, [H, W,] C)``.

    >>> per_channel(np.ones((3, 5)), 4).shape  # 3 models, images
    (3, 1, 1, 1, 5)
    """
    return p.reshape(p.shape[:-1] + (1,) * (rank - 1) + p.shape[-1:])


def _pixels_per_row(a: Array, rank: int) -> int:
    """:func:`~fnnet.layers.windows.pixels_per_row` for ``a (..., N, [H, W,] C)``.

    >>> _pixels_per_row(np.zeros((100, 28, 28, 16)), 4)  # 16 pixels of 16 channels per row
    16
    """
    return pixels_per_row(math.prod(a.shape[a.ndim - rank : -1]), a.shape[-1])


def rows(a: Array, rank: int, k: int) -> Array:
    """``a (..., N, [H, W,] C)`` as ``(..., N·H·W / k, k·C)``: ``k`` pixels per row (a view when
    ``a`` is contiguous).

    >>> rows(np.arange(8.0).reshape(4, 2), 2, 2)  # 4 examples of 2 features, 2 per row
    array([[0., 1., 2., 3.],
           [4., 5., 6., 7.]])
    """
    return a.reshape(*a.shape[: a.ndim - rank], -1, k * a.shape[-1])


def _channel_sum(a: Array, rank: int) -> Array:
    """``Σ`` over examples (and H, W): ``(..., N, [H, W,] C) -> (..., C)``.

    >>> _channel_sum(np.ones((2, 3, 3, 4)), 4)  # 2·3·3 values per channel
    array([18., 18., 18., 18.])
    """
    k = _pixels_per_row(a, rank)
    return rows_sum(rows(a, rank, k), k)


def _batch_standardize(x: Array, rank: int, eps: float) -> tuple[Array, Array, Array, Array]:
    """:func:`standardize` over batch norm's axes (all but the channel axis) on the
    :func:`rows` view of ``x``: ``(x̂, 1/√(σ² + ε), μ, σ²)``, statistics with kept dims.

    >>> xhat, inv, mu, var = _batch_standardize(np.array([[1.0], [3.0]]), 2, 0.0)
    >>> xhat.ravel(), inv, mu, var
    (array([-1.,  1.]), array([[1.]]), array([[2.]]), array([[1.]]))
    """
    m = math.prod(x.shape[x.ndim - rank : -1])  # values per channel
    k = _pixels_per_row(x, rank)
    xc = rows(x, rank, k)
    mu = rows_sum(xc, k) / m  # a Python int: float32 stays float32
    xc = xc - tiled(mu, k)
    var = rows_sum(xc * xc, k) / m
    inv: Array = 1.0 / np.sqrt(var + eps)
    xc *= tiled(inv, k)  # x̂, in place: xc is this function's own array
    return (
        xc.reshape(x.shape),
        per_channel(inv, rank),
        per_channel(mu, rank),
        per_channel(var, rank),
    )


def _batch_backward(p: NormParams, r: NormResiduals, dy: Array) -> tuple[NormParams, Array]:
    """Batch norm's training backward: the shared formula (module docstring) with its means
    written out. ``γ`` is constant over the averaged axes, so ``mean(dx̂) = γ·dβ/m`` and
    ``mean(dx̂ ⊙ x̂) = γ·dγ/m``, and::

        dx = γ/√(σ² + ε) ⊙ (dy − (dβ + x̂ ⊙ dγ)/m)

    — the numbers of :func:`standardize_backward` up to rounding, in half the passes over the
    data and with the two sums the params' gradient needs anyway (on :func:`rows` views).
    """
    rank = r.rank
    m = math.prod(r.x_shape[-rank:-1])  # values per channel
    k = _pixels_per_row(dy, rank)
    dyw, xhat = rows(dy, rank, k), rows(r.xhat, rank, k)
    dscale = rows_sum(dyw * xhat, k)  # dγ = Σ dy ⊙ x̂
    dshift = rows_sum(dyw, k)  # dβ = Σ dy
    dx: Array = xhat * tiled(dscale / m, k)
    dx += tiled(dshift / m, k)
    np.subtract(dyw, dx, out=dx)
    dx *= tiled(p.scale * r.inv_std.reshape(r.inv_std.shape[: r.inv_std.ndim - rank] + (-1,)), k)
    return NormParams(dscale, dshift), _sum_to(dx.reshape(dy.shape), r.x_shape)


def _sum_to(dx: Array, shape: Shape) -> Array:
    """``dx`` summed over the model axes a shared input was broadcast along."""
    if dx.ndim == len(shape):
        return dx
    out: Array = np.sum(dx, axis=tuple(range(dx.ndim - len(shape))))
    return out


def _check_eps(fn: str, eps: object) -> float:
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"{fn}: argument 'eps' must be a positive float, got {eps!r}")
    return float(eps)


def _init_params(
    fn: str, dtype: np.dtype[Any], groups: int | None
) -> Callable[[Key, Shape], tuple[Shape, NormParams]]:
    """The ``init`` of every normalization layer, and its check of ``input_shape``."""

    def init(key: Key, input_shape: Shape) -> tuple[Shape, NormParams]:
        shape = tuple(input_shape)
        if len(shape) not in (1, 3) or min(shape, default=0) < 1:
            raise ValueError(f"{fn}: input_shape must be (features,) or (H, W, C), got {shape}")
        c = shape[-1]
        if groups is not None and c % groups:
            raise ValueError(f"{fn}: {c} channels do not split into {groups} groups")
        return shape, NormParams(np.ones(c, dtype), np.zeros(c, dtype))

    return init


def _normalized(
    fn: str, kind: Kind, groups: int | None, eps: float, p: NormParams, x: Array
) -> tuple[NormResiduals, Array, Array]:
    """Standardize ``x`` (training mode): residuals, and the statistics ``μ``, ``σ²``."""
    x, rank = _layout(fn, x, p)
    axes = _axes(kind, rank)
    if kind == "batch":
        xhat, inv, mu, var = _batch_standardize(x, rank, eps)
    elif groups is None:
        xhat, inv, mu, var = standardize(x, axes, eps)
    else:
        c = x.shape[-1]
        if c % groups:
            raise ValueError(f"{fn}: {c} channels do not split into {groups} groups")
        xg = x.reshape(x.shape[:-1] + (groups, c // groups))
        xhat, inv, mu, var = standardize(xg, axes, eps)
        xhat = xhat.reshape(x.shape)
    return NormResiduals(xhat, inv, x.shape, rank), mu, var


def _affine(p: NormParams, r: NormResiduals) -> Array:
    """``y = γ ⊙ x̂ + β`` (on :func:`rows` views)."""
    k = _pixels_per_row(r.xhat, r.rank)
    y: Array = rows(r.xhat, r.rank, k) * tiled(p.scale, k)
    y += tiled(p.shift, k)
    lead = y.shape[:-2]  # the params' model axes when x has none
    return y.reshape(*lead, *r.xhat.shape[r.xhat.ndim - r.rank :])


def _check_dy(fn: str, p: NormParams, r: object, dy: object) -> Array:
    """``dy`` of the forward output's shape (``x̂`` with the params' model axes) and dtype."""
    if not isinstance(r, NormResiduals):
        raise ValueError(
            f"{fn}: argument 'residuals' must be the NormResiduals that this layer's forward "
            f"returned, got {type(r).__name__}"
        )
    y_shape = np.broadcast_shapes(r.xhat.shape, per_channel(p.scale, r.rank).shape)
    return require_dy(fn, dy, y_shape, p.scale.dtype)


def _backward(
    fn: str, kind: Kind, groups: int | None, p: NormParams, r: NormResiduals, dy: Array
) -> tuple[NormParams, Array]:
    """The shared training-mode backward (module docstring)."""
    dy = _check_dy(fn, p, r, dy)
    if kind == "batch":
        return _batch_backward(p, r, dy)
    dscale = _channel_sum(dy * r.xhat, r.rank)
    dshift = _channel_sum(dy, r.rank)
    dxhat = dy * per_channel(p.scale, r.rank)
    axes = _axes(kind, r.rank)
    if groups is None:
        dx = standardize_backward(dxhat, r.xhat, r.inv_std, axes)
    else:
        c = dy.shape[-1]
        g_shape = (groups, c // groups)
        dxg = standardize_backward(
            dxhat.reshape(dxhat.shape[:-1] + g_shape),
            r.xhat.reshape(r.xhat.shape[:-1] + g_shape),
            r.inv_std,
            axes,
        )
        dx = dxg.reshape(dxhat.shape)
    return NormParams(dscale, dshift), _sum_to(dx, r.x_shape)


def _stateless(
    fn: str, name: str, kind: Kind, groups: int | None, eps: float, dtype: npt.DTypeLike
) -> Layer[NormParams, NormResiduals]:
    """A layer norm or group norm layer (no state)."""
    init = _init_params(fn, np.dtype(dtype), groups)

    def forward(p: NormParams, x: Array) -> tuple[Array, NormResiduals]:
        r = _normalized(fn, kind, groups, eps, p, x)[0]
        return _affine(p, r), r

    def backward(p: NormParams, r: NormResiduals, dy: Array) -> tuple[NormParams, Array]:
        return _backward(fn, kind, groups, p, r, dy)

    def apply(p: NormParams, x: Array) -> Array:
        return forward(p, x)[0]

    return Layer(init, forward, backward, apply, name=name)


def layer_norm(
    eps: float = 1e-5, dtype: npt.DTypeLike = np.float64
) -> Layer[NormParams, NormResiduals]:
    """Layer normalization: each example (each pixel, for images) standardized over its
    features, then ``γ ⊙ x̂ + β`` per feature. Params :class:`NormParams` ``(C,)``.

    >>> layer = layer_norm()
    >>> _, p = layer.init(0, (2,))
    >>> y, r = layer.forward(p, np.array([[1.0, 3.0], [0.0, 10.0]]))
    >>> y.round(4)
    array([[-1.,  1.],
           [-1.,  1.]])
    >>> layer.backward(p, r, np.ones((2, 2)))[1]  # adding a constant to a row changes nothing
    array([[0., 0.],
           [0., 0.]])
    """
    fn = "layer_norm"
    return _stateless(fn, fn, "layer", None, _check_eps(fn, eps), dtype)


def group_norm(
    groups: int, eps: float = 1e-5, dtype: npt.DTypeLike = np.float64
) -> Layer[NormParams, NormResiduals]:
    """Group normalization: the C channels split into ``groups`` groups of C/G; each example
    standardized over each group's channels (and H, W for images), then ``γ ⊙ x̂ + β`` per
    channel. ``group_norm(1)`` on images normalizes each whole example; on dense inputs it is
    ``layer_norm``.

    >>> layer = group_norm(2)
    >>> _, p = layer.init(0, (4, 4, 6))  # (H, W, C): 2 groups of 3 channels
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (5, 4, 4, 6))
    >>> y = layer.apply(p, x)
    >>> bool(np.allclose(y[0, :, :, :3].mean(), 0) and np.allclose(y[0, :, :, :3].std(), 1, 1e-4))
    True
    """
    fn = "group_norm"
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{fn}: argument 'groups' must be a positive int, got {groups!r}")
    return _stateless(fn, f"group_norm({groups})", "group", groups, _check_eps(fn, eps), dtype)


def _check_state(fn: str, p: NormParams, st: object) -> BatchNormState:
    if (
        not isinstance(st, BatchNormState)
        or not isinstance(st.mean, np.ndarray)
        or not isinstance(st.var, np.ndarray)
        or st.mean.shape != p.scale.shape
        or st.var.shape != p.scale.shape
        or st.mean.dtype != p.scale.dtype
        or st.var.dtype != p.scale.dtype
    ):
        got = (
            f"mean {st.mean.shape} / var {st.var.shape}"
            if isinstance(st, BatchNormState) and hasattr(st.mean, "shape")
            else type(st).__name__
        )
        raise ValueError(
            f"{fn}: argument 'state' must be a BatchNormState of {p.scale.dtype} arrays shaped "
            f"like the params' scale {p.scale.shape}, got {got}"
        )
    return st


def _frozen(
    fn: str, eps: float, init: Callable[[Key, Shape], tuple[Shape, NormParams]], st: BatchNormState
) -> Layer[NormParams, NormResiduals]:
    """Evaluation mode with fixed statistics: ``x̂ = (x − mean)/√(var + ε)``, ``y = γ x̂ + β``;
    backward ``dγ = Σ dy ⊙ x̂``, ``dβ = Σ dy``, ``dx = dy ⊙ γ / √(var + ε)``."""

    def forward(p: NormParams, x: Array) -> tuple[Array, NormResiduals]:
        x, rank = _layout(fn, x, p)
        _check_state(fn, p, st)
        inv: Array = 1.0 / np.sqrt(per_channel(st.var, rank) + eps)
        r = NormResiduals((x - per_channel(st.mean, rank)) * inv, inv, x.shape, rank)
        return _affine(p, r), r

    def backward(p: NormParams, r: NormResiduals, dy: Array) -> tuple[NormParams, Array]:
        dy = _check_dy(f"frozen({fn})", p, r, dy)
        dscale = _channel_sum(dy * r.xhat, r.rank)
        dx = dy * (per_channel(p.scale, r.rank) * r.inv_std)
        return NormParams(dscale, _channel_sum(dy, r.rank)), _sum_to(dx, r.x_shape)

    def apply(p: NormParams, x: Array) -> Array:
        return forward(p, x)[0]

    return Layer(init, forward, backward, apply, name=f"frozen({fn})")


def batch_norm(
    momentum: float = 0.9, eps: float = 1e-5, dtype: npt.DTypeLike = np.float64
) -> Layer[NormParams, NormResiduals]:
    """Batch normalization over the examples (and H, W for NHWC images), with running
    statistics as explicit state (:mod:`fnnet.layers.state`): ``state.forward`` trains with
    the batch's statistics and returns the updated running ones; ``state.apply`` evaluates
    with them. ``forward(params, x)`` alone is the training-mode function (no state update).

    >>> from fnnet.layers import state
    >>> bn = batch_norm(momentum=0.5)
    >>> _, p, st = state.init(bn, 0, (1,))
    >>> x = np.array([[4.0], [6.0]])           # batch mean 5, variance 1 (unbiased: 2)
    >>> y, r, st = state.forward(bn, p, st, x)
    >>> y.ravel().round(4), st.mean, st.var    # 0.5·0 + 0.5·5;  0.5·1 + 0.5·2
    (array([-1.,  1.]), array([2.5]), array([1.5]))
    >>> state.apply(bn, p, st, x).ravel().round(4)   # (x − 2.5)/√1.5: the running statistics
    array([1.2247, 2.8577])
    """
    fn = "batch_norm"
    if isinstance(momentum, bool) or not isinstance(momentum, int | float):
        raise ValueError(f"{fn}: argument 'momentum' must be a float in [0, 1), got {momentum!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"{fn}: argument 'momentum' must be a float in [0, 1), got {momentum!r}")
    e, mom, dt = _check_eps(fn, eps), float(momentum), np.dtype(dtype)
    init = _init_params(fn, dt, None)

    def forward(p: NormParams, x: Array) -> tuple[Array, NormResiduals]:
        r = _normalized(fn, "batch", None, e, p, x)[0]
        return _affine(p, r), r

    def backward(p: NormParams, r: NormResiduals, dy: Array) -> tuple[NormParams, Array]:
        return _backward(fn, "batch", None, p, r, dy)

    def apply(p: NormParams, x: Array) -> Array:
        raise needs_state(fn)

    def init_state(key: Key, input_shape: Shape) -> BatchNormState:
        _, p = init(key, input_shape)
        return BatchNormState(np.zeros_like(p.scale), np.ones_like(p.scale))

    def forward_state(
        p: NormParams, st: BatchNormState, x: Array, key: Key | None
    ) -> tuple[Array, NormResiduals, BatchNormState]:
        _check_state(fn, p, st)
        r, mu, var = _normalized(fn, "batch", None, e, p, x)
        m = int(np.prod(r.x_shape[-r.rank : -1]))
        if m < 2:
            raise ValueError(
                f"{fn}: training needs more than one value per channel, got x {r.x_shape}"
            )
        c = (p.scale.shape[-1],)
        mean = mom * st.mean + (1.0 - mom) * mu.reshape(mu.shape[: -r.rank] + c)
        var = mom * st.var + (1.0 - mom) * (m / (m - 1)) * var.reshape(var.shape[: -r.rank] + c)
        return _affine(p, r), r, BatchNormState(mean, var)

    def apply_state(p: NormParams, st: BatchNormState, x: Array) -> Array:
        return _frozen(fn, e, init, st).apply(p, x)

    def frozen(st: BatchNormState) -> Layer[NormParams, NormResiduals]:
        return _frozen(fn, e, init, st)

    layer = Layer(init, forward, backward, apply, name=fn)
    return attach(layer, Stateful(init_state, forward_state, apply_state, frozen))
