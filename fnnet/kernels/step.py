"""A whole training step for one mlp on the flat buffer: forward, loss, gradient, update.

For the ``flat buffer`` plan of a single model (params one vector ``v``), :func:`fused_step`
builds ``step(state, batch) -> (state, metrics)`` — the contract of
:func:`fnnet.train.make_step`'s step — from

1. the folded forward :meth:`FlatMlp.forward_t <fnnet.kernels.mlp.FlatMlp.forward_t>`, which
   leaves the output transposed, ``yᵀ (outputs, examples)``;
2. a loss kernel (:func:`loss_kernel`) computing the loss's value and ``(dL/dy)ᵀ`` on ``yᵀ``
   directly, recognised by identity with a function of :mod:`fnnet.losses`;
3. the gradient vector :meth:`FlatMlp.grads_t <fnnet.kernels.mlp.FlatMlp.grads_t>`;
4. the optimizer's own ``update`` on the vector (the reference rule, unchanged) and
   ``v + u``.

It skips only checks that ``fit`` made before its first epoch: ``x`` has the model's features
(``fit`` locates the data against the model and params) and the params are one model's vector
(the plan is built for these params); a dtype or rank it did not expect still gets the flat
kernel's clear error. A target of another shape or
dtype goes to the reference loss, which casts it or explains the error.

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
from fnnet.kernels.mlp import FlatMlp, Workspace

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
        diff = np.subtract(y_t, target.T)
        n = diff.size
        value = np.asarray(np.vdot(diff, diff) * (self.c / n))
        diff *= 2.0 * self.c / n
        return value, diff


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
    """The fused training step of one model on the flat buffer, or ``None`` when ``loss`` has
    no kernel or the network does not fold (see the module docstring).

    ``update`` is the optimizer's own ``update``; ``metrics`` are ``metric(pred, target)``
    functions (given a copy of ``pred``: the step reuses its activation buffer).
    """
    kernel = loss_kernel(loss)
    if kernel is None or not flat.folds:
        return None
    forward_t, grads_t, check = flat.forward_t, flat.grads_t, flat.check
    outputs = flat.layout.sizes[-1]
    named = tuple(metrics.items())
    workspaces: dict[tuple[int, Any], Workspace] = {}  # one per batch size, reused every step

    def step(state: Any, batch: tuple[Array, Any]) -> tuple[Any, dict[str, Array]]:
        x, target = batch
        v = state.params
        if x.dtype is not v.dtype or x.ndim != 2 or v.ndim != 1:
            check(v, x)  # the flat kernel's clear error (fit's up-front checks let it pass)
            raise ValueError(f"{flat.name}: the fused step runs one model, got {v.shape}")
        ws = workspaces.get((x.shape[0], v.dtype))
        if ws is None:
            ws = workspaces[(x.shape[0], v.dtype)] = flat.workspace(x.shape[0], v.dtype)
        y_t, res = forward_t(v, x, ws)
        if type(target) is np.ndarray and target.dtype is v.dtype and target.shape == (
            x.shape[0], outputs
        ):  # fmt: skip
            value, dy_t = kernel(y_t, target)
        else:  # the reference loss casts the target, or explains what is wrong with it
            value, dy = loss(y_t.T, target)
            dy_t = dy.T
        updates, opt_state = update(grads_t(res, dy_t), state.opt_state, v)
        out = {"loss": value}
        if named:
            pred = y_t.T.copy()  # the workspace is overwritten by the next step
            for name, metric in named:
                out[name] = metric(pred, target)
        new = np.add(v, updates, dtype=v.dtype)
        # by keyword: an mlp has no model state, so any field added later keeps its default
        return type(state)(params=new, opt_state=opt_state, step=state.step + 1, key=state.key), out

    return step
