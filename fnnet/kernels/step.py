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

:meth:`FusedStep.fold` runs many such steps on one batch — the epochs of a full-batch
``fit`` with nothing to do between them — keeping params and optimizer state in locals and
making one train state at the end.

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

import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet import losses
from fnnet.arrays import Array
from fnnet.kernels import folded
from fnnet.kernels.mlp import FlatMlp
from fnnet.optim.base import apply_updates

__all__ = ["SquaredError", "FusedStep", "loss_kernel", "fused_step"]

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
) -> FusedStep | None:
    """The fused training step of one model or a stack on the flat buffer, or ``None`` when
    ``loss`` has no kernel or the network does not fold (see the module docstring).

    ``update`` is the optimizer's own ``update``; ``metrics`` are ``metric(pred, target)``
    functions (given a copy of ``pred``: the step reuses its buffers).
    """
    kernel = loss_kernel(loss)
    if kernel is None or not flat.folds:
        return None
    return FusedStep(flat, loss, kernel, update, tuple(metrics.items()))


def _finite(value: Array) -> bool:
    return math.isfinite(value) if value.ndim == 0 else bool(np.isfinite(value).all())


@attrs.frozen(eq=False)
class FusedStep:
    """A fused training step, ``step(state, batch) -> (state, metrics)``, with
    :meth:`fold` for many steps on one batch (see the module docstring)."""

    flat: FlatMlp
    loss: LossFn
    kernel: SquaredError
    update: Callable[..., Any]
    metrics: tuple[tuple[str, Any], ...]
    _workspaces: dict[tuple[Any, ...], folded.Workspace] = attrs.field(factory=dict, init=False)

    def __call__(self, state: Any, batch: tuple[Array, Any]) -> tuple[Any, dict[str, Array]]:
        x, target = batch
        v = state.params
        ws = self.workspace(v, x)
        folded.load(ws, x)
        new, opt_state, out = self.run(ws, v, state.opt_state, target, self.fits(ws, v, target))
        # by keyword: an mlp has no model state, so any field added later keeps its default
        return type(state)(params=new, opt_state=opt_state, step=state.step + 1, key=state.key), out

    def fold(self, state: Any, batch: tuple[Array, Any], count: int) -> tuple[Any, list[Any]]:
        """Up to ``count`` steps on ``batch`` (the epochs of a full-batch ``fit``): ``(state,
        the steps' metrics)``. It stops before a step whose loss is not finite — that step is
        not taken, so the caller's own loop takes it and reports it — and makes one train
        state, at the end. ``x`` is copied into the workspace once."""
        x, target = batch
        v, opt_state, records = state.params, state.opt_state, []
        ws = self.workspace(v, x)
        folded.load(ws, x)
        fits, run = self.fits(ws, v, target), self.run
        for _ in range(count):
            new, new_opt_state, out = run(ws, v, opt_state, target, fits)
            if not _finite(out["loss"]):
                break
            records.append(out)
            v, opt_state = new, new_opt_state
        steps = state.step + len(records)
        return type(state)(params=v, opt_state=opt_state, step=steps, key=state.key), records

    def workspace(self, v: Array, x: Array) -> folded.Workspace:
        """The workspace for params ``v`` and inputs ``x``, made (and ``x`` checked in full)
        the first time their shapes are seen; a dtype or rank the step did not expect gets the
        flat kernel's clear error."""
        models = v.shape[:-1]
        if x.dtype is not v.dtype or x.ndim < 2 or (x.ndim > 2 and x.shape[:-2] != models):
            self.flat.check(v, x)
        key = (models, x.shape[-2], v.dtype)
        ws = self._workspaces.get(key)
        if ws is None:
            self.flat.check(v, x)
            ws = folded.workspace(self.flat, models, x.shape[-2], v.dtype)
            if len(self._workspaces) > 16:
                self._workspaces.clear()
            self._workspaces[key] = ws
        return ws

    @staticmethod
    def fits(ws: folded.Workspace, v: Array, target: Any) -> bool:
        """Whether the loss kernel takes ``target`` as it is: ``v``'s dtype, and ``(N,
        outputs)`` or ``(*models, N, outputs)``."""
        return (
            type(target) is np.ndarray
            and target.dtype is v.dtype
            and target.shape[-2:] == ws.outs[-1].shape[:-3:-1]
            and target.shape[:-2] in ((), v.shape[:-1])
        )

    def run(
        self, ws: folded.Workspace, v: Array, opt_state: Any, target: Any, fits: bool
    ) -> tuple[Array, Any, dict[str, Array]]:
        """One step on params ``v`` (the inputs loaded into ``ws``): ``(new params, new
        optimizer state, metrics)``; the loss kernel runs when the target ``fits``."""
        y_t = folded.forward(ws, v)
        if fits:
            top = ws.deltas[-1]
            value = self.kernel.into(y_t, target, top, ws.negated)
            g = folded.grads(ws, top, ws.negated)
        else:  # the reference loss casts the target, or explains what is wrong with it
            value, dy = self.loss(folded.swap(y_t), target)
            g = folded.grads(ws, folded.swap(dy))
        out = {"loss": value}
        if self.metrics:
            pred = folded.swap(y_t).copy()  # the workspace is overwritten by the next step
            for name, metric in self.metrics:
                out[name] = metric(pred, target)
        updates, opt_state = self.update(g, opt_state, v)
        if type(updates) is not np.ndarray or updates.shape != v.shape:
            return apply_updates(v, updates), opt_state, out  # the reference's checks
        return np.add(v, updates, dtype=v.dtype), opt_state, out
