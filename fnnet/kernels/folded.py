"""The folded training passes of a flat mlp: one model or a stack, on buffers reused every step.

The fused training step (:mod:`fnnet.kernels.step`) runs the same network on the same number of
examples at every step, so everything a step writes can be allocated, and every view into it
made, once. A :class:`Workspace` for a :class:`~fnnet.kernels.mlp.FlatMlp`, the params' model
axes ``M`` and ``N`` examples holds

- ``h (*M, rows, N)``: the activations transposed (examples on the last axis), with a row of
  ones under each layer's input (the rows of :class:`~fnnet.kernels.mlp.FlatLayout`), so layer
  ``i`` is ``hᵢ₊₁ = act([wᵢ; bᵢ]ᵀ [hᵢ; 1])``: one matrix product, no bias add. A stack's is
  laid out ``(rows, *M, N)`` in memory, so a pass over one layer of every model is one run;
- ``weights (*M, size)``: this step's params vector, copied in once, with views of every
  ``[wᵢ; bᵢ]ᵀ`` and ``wᵢ``. A network of sigmoids copies in ``−v`` instead: each product then
  gives ``z' = −z`` and the sigmoid ``1 / (1 + e^{z'})`` needs no negation per layer; the
  derivatives are negated to match (:class:`~fnnet.kernels.activations.Negated`). Negation is
  exact, so the numbers are bit for bit those of the plain passes;
- for a stack whose models share their inputs, the first layer of every model as one matrix
  product (forward and gradient) instead of one per model;
- ``factor``: every layer's ``act'`` in one pass over the output rows of ``h`` (one activation
  throughout), ``deltas``: each layer's ``δ (*M, m, N)``, and ``grads (*M, size)``: the gradient
  vector, written block by block (``[dwᵢ; dbᵢ] = [hᵢ; 1] δᵢᵀ``) and copied out each step (an
  optimizer may keep it).

:func:`load` copies the inputs in (once for many steps on one batch); what :func:`forward` and
:func:`grads` return lives in the workspace until the next step.

>>> import numpy as np
>>> from fnnet import layers
>>> from fnnet.kernels.mlp import flat
>>> net = layers.mlp([2, 3, 1], hidden=layers.sigmoid, output=layers.sigmoid)
>>> _, params = net.init(0, (2,))
>>> kernel = flat(net, (2,))
>>> v, x = kernel.ravel(params), np.ones((4, 2))
>>> ws = workspace(kernel, (), 4, v.dtype)
>>> load(ws, x)
>>> y_t = forward(ws, v)
>>> bool(np.allclose(y_t.T, net.apply(params, x))), grads(ws, np.ones((1, 4))).shape
(True, (13,))
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet.arrays import Array, Shape
from fnnet.kernels.activations import KernelActivation
from fnnet.kernels.mlp import FlatLayout, FlatMlp

__all__ = ["Workspace", "workspace", "load", "forward", "grads", "swap"]

Product = Callable[[Array, Array], Any]
"""``product(b, out)``: ``a @ b`` into ``out`` for an ``a`` bound in advance."""


def _product(a: Array) -> Product:
    """``a @ ·`` into an output: ``ndarray.dot`` for one model (the cheapest call),
    ``np.matmul`` for a stack."""
    if a.ndim == 2:
        return a.dot
    return functools.partial(np.matmul, a)


def _back_product(w: Array) -> Product:
    """``w @ δ`` into an output, for the ``δ`` pass; on a stack, a layer with one output makes
    it an outer product per model, one broadcast multiply for all models (the same single
    product per element as the matmul)."""
    if w.ndim > 2 and w.shape[-1] == 1:
        return functools.partial(np.multiply, w)
    return _product(w)


def swap(a: Array) -> Array:
    """``a`` with its last two axes swapped (a view)."""
    return a.T if a.ndim == 2 else a.swapaxes(-1, -2)


@attrs.frozen(eq=False)
class Workspace:
    """The buffers of the folded passes and their views (see the module docstring). Per layer
    ``i``: ``ins[i]`` its input ``[hᵢ; 1]``, ``outs[i]`` its output; ``forwards[i]`` and
    ``backs[i]``/``grad_into[i]`` the products ``[wᵢ; bᵢ]ᵀ @ ·``, ``wᵢ @ ·`` and
    ``[hᵢ; 1] @ ·`` bound to their buffers."""

    models: Shape
    negated: bool
    h: Array
    x_rows: Array
    ins: tuple[Array, ...]
    outs: tuple[Array, ...]
    weights: Array
    forwards: tuple[Product, ...]
    backs: tuple[Product, ...]
    acts: tuple[Callable[[Array], Array], ...]
    above: Array
    factor: Array
    factors: tuple[Array, ...]
    factor_into: Callable[[Array, Array], Array] | None
    grad_fns: tuple[KernelActivation, ...]
    deltas: tuple[Array, ...]
    deltas_t: tuple[Array, ...]
    grads: Array
    grad_into: tuple[Product, ...]
    g_blocks: tuple[Array, ...]


def _view(vector: Array, block: slice, shape: tuple[int, int]) -> Array:
    """Layer ``block`` of ``vector (*M, size)`` as ``(*M, k + 1, m)``, a view (never a copy:
    the passes write through it)."""
    view = vector[..., block].reshape(*vector.shape[:-1], *shape)
    assert np.shares_memory(view, vector)
    return view


def _rows_first(rows: int, models: Shape, examples: int, dtype: np.dtype[Any]) -> Array:
    """A zero buffer seen as ``(*models, rows, examples)`` but laid out ``(rows, *models,
    examples)``: a layer's rows of every model of a stack are one contiguous block, so an
    elementwise pass over them is one run through memory (numpy iterates in memory order),
    while each model's ``(rows, examples)`` matrix stays a valid BLAS operand."""
    return np.moveaxis(np.zeros((rows, *models, examples), dtype), 0, -2)


def _contiguous(a: Array, shape: tuple[int, ...]) -> Array:
    """``a`` reshaped, as a view (never a copy: the passes write through it)."""
    view = a.reshape(shape)
    assert np.shares_memory(view, a)
    return view


def _first_layer_on_shared_x(
    lay: FlatLayout, models: Shape, block: Array, z_rows: Array, d_rows: Array, g_block: Array
) -> tuple[Array, Product, Product]:
    """Layer 0 of a stack whose models share their inputs, as one matrix product for all
    models instead of one per model: ``(x rows, forward, gradient)``.

    ``[xᵀ; 1]`` is one ``(k + 1, N)`` buffer (``x rows`` its first ``k``). Forward: the models'
    ``[w₀; b₀]ᵀ`` (``block``'s transposes) are copied into one ``(m·M, k + 1)`` matrix ``L``, and
    ``L [xᵀ; 1]`` is written straight into the rows-first activations ``z_rows (m, *M, N)``.
    Gradient: ``[xᵀ; 1] Δᵀ`` with ``Δ`` the models' ``δ₀`` (``d_rows (m, *M, N)``) gives every
    ``[dw₀; db₀]``, copied into ``g_block (*M, k + 1, m)``."""
    (k, m), n, dtype = lay.sizes[:2], z_rows.shape[-1], z_rows.dtype
    x_t = np.zeros((k + 1, n), dtype)
    x_t[k] = 1.0
    left = np.zeros((m, *models, k + 1), dtype)
    left_2d, left_from = _contiguous(left, (-1, k + 1)), np.moveaxis(block, -1, 0)
    z_2d, d_2d = _contiguous(z_rows, (-1, n)), _contiguous(d_rows, (-1, n))
    g_2d = np.zeros((k + 1, d_2d.shape[0]), dtype)
    g_from = np.moveaxis(g_2d.reshape(k + 1, m, *models), (0, 1), (-2, -1))
    left_dot, x_dot, d_t = left_2d.dot, x_t.dot, d_2d.T

    def forward(h: Array, out: Array) -> None:
        np.copyto(left, left_from)
        left_dot(x_t, z_2d)

    def gradient(delta_t: Array, g: Array) -> None:
        x_dot(d_t, g_2d)
        np.copyto(g_block, g_from)

    return x_t[:k], forward, gradient


def _shared_into(acts: list[KernelActivation], negated: bool) -> Any:
    """The in-place derivative every layer shares (one activation throughout), else None."""
    if not all(a.name == acts[0].name for a in acts):
        return None
    if negated:
        assert acts[0].negated is not None
        return acts[0].negated.factor_into
    return acts[0].factor_into


def workspace(
    flat: FlatMlp, models: Shape, examples: int, dtype: np.dtype[Any], shared: bool = False
) -> Workspace:
    """A :class:`Workspace` for ``flat`` with params of model axes ``models`` and ``examples``
    examples; ``shared``: the inputs are ``(N, features)``, shared by the models of a stack
    (their first layers then run as one matrix product), else they may be either."""
    lay, acts = flat.layout, flat.acts
    negated = all(a.negated is not None for a in acts) and _shared_into(acts, True) is not None
    h = _rows_first(lay.rows, models, examples, dtype)
    h[..., list(lay.ones), :] = 1.0
    ins = tuple(h[..., s, :] for s in lay.ins)
    outs = tuple(h[..., s, :] for s in lay.outs)
    weights = np.zeros((*models, lay.size), dtype)
    grads_v = np.zeros_like(weights)
    blocks = [_view(weights, b, s) for b, s in zip(lay.blocks, lay.shapes, strict=True)]
    g_blocks = tuple(_view(grads_v, b, s) for b, s in zip(lay.blocks, lay.shapes, strict=True))
    start = lay.outs[0].start
    above = h[..., start:, :]
    factor = np.zeros_like(above)
    factors = tuple(factor[..., s.start - start : s.stop - start, :] for s in lay.outs)
    deltas = tuple(_rows_first(m, models, examples, dtype) for m in lay.sizes[1:])
    forwards = [_product(swap(wb)) for wb in blocks]
    grad_into = [_product(a) for a in ins]
    x_rows = h[..., : lay.sizes[0], :]
    if shared and models:
        x_rows, forwards[0], grad_into[0] = _first_layer_on_shared_x(
            lay, models, blocks[0], np.moveaxis(outs[0], -2, 0),
            np.moveaxis(deltas[0], -2, 0), g_blocks[0],
        )  # fmt: skip
    forward_acts = tuple(a.negated.forward_ if negated and a.negated else a.forward_ for a in acts)
    backs = tuple(_back_product(wb[..., :-1, :]) for wb in blocks)
    return Workspace(
        tuple(models), negated, h, x_rows, ins, outs, weights, tuple(forwards), backs,
        forward_acts, above, factor, factors, _shared_into(acts, negated), tuple(acts), deltas,
        tuple(swap(d) for d in deltas), grads_v, tuple(grad_into), g_blocks,
    )  # fmt: skip


def load(ws: Workspace, x: Array) -> None:
    """Copy the inputs ``x`` — ``(N, features)`` shared by the models, or ``(*M, N,
    features)`` — into ``ws``, transposed."""
    np.copyto(ws.x_rows, swap(x))


def forward(ws: Workspace, v: Array) -> Array:
    """``yᵀ (*M, outputs, N)`` (a view into ``ws``) for the params vector ``v (*M, size)`` on
    the inputs last loaded into ``ws``: per layer ``hᵢ₊₁ = act([wᵢ; bᵢ]ᵀ [hᵢ; 1])``.
    Unchecked: for callers that checked ``v`` and the inputs against ``ws`` (shapes, dtype),
    inside :func:`~fnnet.layers.base.quiet_floats` when an activation may overflow harmlessly.
    """
    if ws.negated:
        np.negative(v, ws.weights)
    else:
        np.copyto(ws.weights, v)
    out = ws.h
    for product, h, out, act in zip(ws.forwards, ws.ins, ws.outs, ws.acts, strict=True):
        product(h, out)
        act(out)
    return out


def grads(ws: Workspace, dy_t: Array, negated: bool = False) -> Array:
    """The gradient vector ``(*M, size)`` (a new array) from the last :func:`forward` on ``ws``
    and ``dy_t = (dL/dy)ᵀ`` ``(*M, outputs, N)`` — or ``−(dL/dy)ᵀ`` when ``negated``, what a
    loss kernel gives for free when ``ws.negated``; ``dy_t`` may be ``ws.deltas[-1]`` itself.

    ``δ = act'(y) ⊙ dyᵀ``; per layer ``[dwᵢ; dbᵢ] = [hᵢ; 1] δᵀ`` and ``δ ← act'(hᵢ) ⊙ (wᵢ δ)``.
    """
    top, last = ws.deltas[-1], len(ws.deltas) - 1
    if negated != ws.negated:
        dy_t = np.negative(dy_t, top)
    into = ws.factor_into
    if into is not None:
        into(ws.above, ws.factor)  # every layer's act' in one pass
        np.multiply(ws.factors[-1], dy_t, top)
    else:
        np.copyto(top, ws.grad_fns[-1].grad(ws.outs[-1], dy_t, False))
    for i in range(last, -1, -1):
        ws.grad_into[i](ws.deltas_t[i], ws.g_blocks[i])
        if i:
            below = ws.deltas[i - 1]
            ws.backs[i](ws.deltas[i], below)
            if into is not None:
                np.multiply(ws.factors[i - 1], below, below)
            else:
                np.copyto(below, ws.grad_fns[i - 1].grad(ws.outs[i - 1], below, True))
    return ws.grads.copy()
