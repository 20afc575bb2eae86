"""A whole training step for an mlp on the flat buffer: forward, loss, gradient, update.

For the ``flat buffer`` plan (params one vector ``v (*models, size)``: one model or a stack),
:func:`fused_step` builds ``step(state, batch) -> (state, metrics)`` — the contract of
:func:`fnnet.train.make_step`'s step — from

1. the folded forward :func:`fnnet.kernels.folded.forward` on a workspace reused every step,
   which leaves the output transposed, ``yᵀ (*models, outputs, examples)``;
2. a loss kernel (:func:`loss_kernel`) computing the loss's value per model and ``(dL/dy)ᵀ``
   on ``yᵀ`` directly, recognised by identity with a function of :mod:`fnnet.losses`;
3. the gradient vector :func:`fnnet.kernels.folded.grads`;
4. the optimizer's own ``update`` on the vector (the reference rule, unchanged; per-model
   hyperparameters included) and ``v + u``.

It skips only checks that ``fit`` made before its first epoch: ``x`` has the model's features
(``fit`` locates the data against the model and params); the first step of each shape is
checked in full, and a dtype or rank it did not expect still gets the flat kernel's clear
error. A target of another shape or dtype goes to the reference loss, which casts it or
explains the error.

>>> import numpy as np
>>> from fnnet import layers, losses
>>> loss_kernel(losses.mse) is not None, loss_kernel(losses.softmax_cross_entropy)
(True, None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet import losses
from fnnet.arrays import Array
from fnnet.kernels import folded
from fnnet.kernels.mlp import FlatMlp

__all__ = ["SquaredError", "loss_kernel", "fused_step"]

LossFn = Callable[[Array, Any], tuple[Array, Array]]


@attrs.frozen
class SquaredError:
    """``c · mean((y − t)²)`` per model on the transposed output ``yᵀ``, with
    ``(dL/dy)ᵀ = (2c / (N·k)) (yᵀ − tᵀ)``: :func:`fnnet.losses.mse` (``c = 1``) and
    :func:`fnnet.losses.half_mse` (``c = ½``), the same operations in the same order.

    >>> y_t, t = np.array([[1.0, 3.0]]), np.array([[0.0], [1.0]])  # 2 examples, 1 output
    >>> value, dy_t = SquaredError(0.5)(y_t, t)
    >>> float(value), dy_t.tolist()  # as losses.half_mse(y_t.T, t)
    (1.25, [[0.5, 1.0]])
    """

    c: float

    def __call__(self, y_t: Array, target: Array) -> tuple[Array, Array]:
        diff = np.empty(y_t.shape, y_t.dtype)
        return self.into(y_t, target, diff, False), diff

    def into(self, y_t: Array, target: Array, out: Array, negated: bool) -> Array:
        """The value per model; ``(dL/dy)ᵀ`` ``(*models, outputs, N)`` written into ``out`` (a
        C-contiguous buffer) — or ``−(dL/dy)ᵀ`` when ``negated`` (``t − y`` for ``y − t``: the
        same numbers, negated). ``target`` is ``(N, outputs)`` or ``(*models, N, outputs)``.

        >>> out = np.empty((1, 2))
        >>> float(SquaredError(1.0).into(np.array([[1.0, 3.0]]), np.ones((2, 1)), out, True))
        2.0
        >>> out.tolist()  # −2 (y − t) / N
        [[0.0, -2.0]]
        """
        t_t = target.T if target.ndim == 2 else target.swapaxes(-1, -2)
        diff = np.subtract(t_t, y_t, out) if negated else np.subtract(y_t, t_t, out)
        n = diff.shape[-1] * diff.shape[-2]
        if diff.ndim == 2:
            squares = np.vdot(diff, diff)
        else:  # one value per model: as losses.mse, one batched dot of the flattened rows
            rows = diff.reshape(*diff.shape[:-2], 1, n)
            squares = np.matmul(rows, rows.swapaxes(-1, -2))[..., 0, 0]
        value = np.asarray(squares * (self.c / n))
        np.multiply(diff, _scale(2.0 * self.c / n, diff.dtype), diff)
        return value


_SCALES: dict[tuple[float, np.dtype[Any]], Array] = {}


def _scale(s: float, dtype: np.dtype[Any]) -> Array:
    """``s`` as a 0-d array of ``dtype`` (what numpy makes of the Python float on every call;
    converting once saves that on a tiny array)."""
    found = _SCALES.get((s, dtype))
    if found is None:
        if len(_SCALES) > 64:
            _SCALES.clear()
        found = _SCALES[(s, dtype)] = np.asarray(s, dtype)
    return found


_LOSS_KERNELS: dict[Any, SquaredError] = {
    losses.mse: SquaredError(1.0),
    losses.half_mse: SquaredError(0.5),
}


def loss_kernel(loss: object) -> SquaredError | None:
    """The kernel of ``loss`` when it is one of :mod:`fnnet.losses`' functions that has one
    (``mse``, ``half_mse``), else ``None`` (a user's loss is never guessed at).

    >>> loss_kernel(losses.half_mse).c, loss_kernel(lambda p, t: losses.mse(p, t))
    (0.5, None)
    """
    try:
        return _LOSS_KERNELS.get(loss)
    except TypeError:  # an unhashable callable
        return None


def fused_step(
    flat: FlatMlp, loss: LossFn, update: Callable[..., Any], metrics: dict[str, Any]
) -> Callable[[Any, Any], Any] | None:
    """The fused training step of one model or a stack on the flat buffer, or ``None`` when
    ``loss`` has no kernel or the network does not fold (see the module docstring).

    ``update`` is the optimizer's own ``update``; ``metrics`` are ``metric(pred, target)``
    functions (given a copy of ``pred``: the step reuses its buffers).
    """
    kernel = loss_kernel(loss)
    if kernel is None or not flat.folds:
        return None
    outputs = flat.layout.sizes[-1]
    named = tuple(metrics.items())
    workspaces: dict[tuple[Any, ...], folded.Workspace] = {}  # per shape, reused every step

    def step(state: Any, batch: tuple[Array, Any]) -> tuple[Any, dict[str, Array]]:
        x, target = batch
        v = state.params
        models = v.shape[:-1]
        if x.dtype is not v.dtype or x.ndim < 2 or (x.ndim > 2 and x.shape[:-2] != models):
            flat.check(v, x)  # the flat kernel's clear error (fit checked the data before)
        ws = workspaces.get((models, x.shape[-2], v.dtype))
        if ws is None:  # the first step of this shape: checked in full
            flat.check(v, x)
            ws = folded.workspace(flat, models, x.shape[-2], v.dtype)
            if len(workspaces) > 16:
                workspaces.clear()
            workspaces[(models, x.shape[-2], v.dtype)] = ws
        y_t = folded.forward(ws, v, x)
        top = ws.deltas[-1]
        if (
            type(target) is np.ndarray
            and target.dtype is v.dtype
            and target.shape[-2:] == (x.shape[-2], outputs)
            and target.shape[:-2] in ((), models)
        ):
            value = kernel.into(y_t, target, top, ws.negated)
            g = folded.grads(ws, top, ws.negated)
        else:  # the reference loss casts the target, or explains what is wrong with it
            value, dy = loss(folded.swap(y_t), target)
            g = folded.grads(ws, folded.swap(dy))
        out = {"loss": value}
        if named:
            pred = folded.swap(y_t).copy()  # the workspace is overwritten by the next step
            for name, metric in named:
                out[name] = metric(pred, target)
        updates, opt_state = update(g, state.opt_state, v)
        new = np.add(v, updates, dtype=v.dtype)
        # by keyword: an mlp has no model state, so any field added later keeps its default
        return type(state)(params=new, opt_state=opt_state, step=state.step + 1, key=state.key), out

    return step
