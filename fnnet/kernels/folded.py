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
from fnnet.kernels.mlp import FlatMlp

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


def _shared_into(acts: list[KernelActivation], negated: bool) -> Any:
    """The in-place derivative every layer shares (one activation throughout), else None."""
    if not all(a.name == acts[0].name for a in acts):
        return None
    if negated:
        assert acts[0].negated is not None
        return acts[0].negated.factor_into
    return acts[0].factor_into


def workspace(flat: FlatMlp, models: Shape, examples: int, dtype: np.dtype[Any]) -> Workspace:
    """A :class:`Workspace` for ``flat`` with params of model axes ``models`` and ``examples``
    examples (``x`` may be shared by the models or given per model).

    Every product runs per model, as numpy's batched ``matmul`` does, never over several
    models at once: a model's rounding must not depend on the size of its stack or its place
    in it (a sweep's results do not depend on how it chunks its cells)."""
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
