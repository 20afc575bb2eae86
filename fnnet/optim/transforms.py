"""Gradient transforms: small ``Optimizer`` values that ``chain`` composes into optimizers.

Each transform keeps its hyperparameters in its state (a frozen attrs pytree), so a script can
read them (``state.learning_rate``) and a hyperparameter may be an array with one value per
stacked model. Moment buffers are lists of arrays in :func:`fnnet.tree.leaves` order.

Update rules (``g`` the incoming gradient, ``u`` the outgoing update, ``t`` the step count from 1):

=========================  ==============================================================
scale(s)                   u = s·g
scale_by_learning_rate(η)  u = −η·g   (η may be a schedule of the step)
trace(β)                   m ← β·m + g;  u = m   (nesterov: u = g + β·m)
scale_by_adagrad(ε)        a ← a + g²;  u = g / (√a + ε)
scale_by_rms(ρ, ε)         v ← ρ·v + (1−ρ)·g²;  u = g / (√v + ε)
scale_by_adam(β1, β2, ε)   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
                           u = m̂ / (√v̂ + ε),  m̂ = m/(1−β1ᵗ),  v̂ = v/(1−β2ᵗ)
add_decayed_weights(λ)     u = g + λ·p
clip(δ)                    u = clip(g, −δ, δ)
clip_by_global_norm(c)     u = g · min(1, c / ‖g‖)  (‖g‖ per model with ``model_axes``)
set_to_zero()              u = 0
=========================  ==============================================================
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array
from fnnet.optim.base import Hyper, LeafTransform, Optimizer, from_leaves, per_model
from fnnet.optim.schedules import Schedule
from fnnet.tree import PyTree

__all__ = [
    "EmptyState",
    "ScaleState",
    "LearningRateState",
    "TraceState",
    "AdagradState",
    "RmsState",
    "AdamState",
    "DecayState",
    "ClipState",
    "scale",
    "scale_by_learning_rate",
    "trace",
    "scale_by_adagrad",
    "scale_by_rms",
    "scale_by_adam",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "set_to_zero",
]


def _float_leaves(params: PyTree) -> list[Array]:
    return [np.asarray(p) for p in tree.leaves(params)]


def _zeros(params: PyTree) -> list[Array]:
    return [np.zeros_like(p) for p in _float_leaves(params)]


def _check_hyper(fn: str, name: str, h: Hyper, low: float, high: float = np.inf) -> Hyper:
    """Validate a hyperparameter's range (every entry, for a per-model array)."""
    values = np.asarray(h, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < low) or np.any(values > high):
        raise ValueError(f"{fn}: argument {name!r} must be in [{low}, {high}], got {h!r}")
    return float(h) if isinstance(h, float | int) else np.asarray(h)


@tree.pytree
@attrs.frozen
class EmptyState:
    """State of a stateless transform.

    >>> set_to_zero().init([np.zeros(2)])
    EmptyState()
    """


@tree.pytree
@attrs.frozen
class ScaleState:
    """``factor``: the multiplier of :func:`scale`.

    >>> scale(0.5).init([np.zeros(2)])
    ScaleState(factor=0.5)
    """

    factor: Hyper


def scale(factor: Hyper) -> Optimizer[ScaleState]:
    """``u = factor * g``.

    >>> opt, p = scale(-2.0), [np.zeros(2)]
    >>> opt.update([np.array([1.0, 0.5])], opt.init(p), p)[0]
    [array([-2., -1.])]
    """
    factor = _check_hyper("scale", "factor", factor, -np.inf)

    def update(g: list[Array], s: ScaleState, p: list[Array]) -> tuple[list[Array], ScaleState]:
        return [x * per_model(s.factor, x) for x in g], s

    return from_leaves(LeafTransform(lambda params: ScaleState(factor), update, fresh=True))


@tree.pytree
@attrs.frozen
class LearningRateState:
    """``count``: steps taken; ``learning_rate``: the rate used at the last step (or to be used).

    >>> opt, p = scale_by_learning_rate(lambda step: 0.1 / (step + 1)), [np.zeros(1)]
    >>> s = opt.init(p)
    >>> _, s = opt.update([np.ones(1)], s, p)
    >>> _, s = opt.update([np.ones(1)], s, p)
    >>> s.count, s.learning_rate  # the rate used at step 1
    (2, 0.05)
    """

    count: int
    learning_rate: Hyper


def scale_by_learning_rate(
    learning_rate: Hyper | Schedule,
) -> Optimizer[LearningRateState]:
    """``u = -learning_rate * g``; ``learning_rate`` a value, a per-model array, or a schedule.

    >>> opt, p = scale_by_learning_rate(0.1), [np.zeros(2)]
    >>> opt.update([np.array([1.0, -2.0])], opt.init(p), p)[0]
    [array([-0.1,  0.2])]
    >>> opt = scale_by_learning_rate(np.array([0.1, 1.0]))  # one rate per stacked model
    >>> p = [np.zeros((2, 3))]
    >>> opt.update([np.ones((2, 3))], opt.init(p), p)[0]
    [array([[-0.1, -0.1, -0.1],
           [-1. , -1. , -1. ]])]
    """
    schedule = learning_rate if callable(learning_rate) else None
    first: Hyper = (
        schedule(0)
        if schedule is not None
        else _check_hyper("scale_by_learning_rate", "learning_rate", learning_rate, 0.0)  # type: ignore[arg-type]  # mypy cannot narrow a callable union here
    )

    def update(
        g: list[Array], s: LearningRateState, p: list[Array]
    ) -> tuple[list[Array], LearningRateState]:
        lr = schedule(s.count) if schedule is not None else s.learning_rate
        if isinstance(lr, float | int):
            neg = -float(lr)
            out = [x * neg for x in g]
        else:
            out = [x * -per_model(lr, x) for x in g]
        return out, LearningRateState(s.count + 1, lr)

    return from_leaves(
        LeafTransform(lambda params: LearningRateState(0, first), update, fresh=True)
    )


@tree.pytree
@attrs.frozen
class TraceState:
    """``trace``: the momentum buffers ``m``; ``decay``: ``β``.

    >>> opt, p = trace(0.9), [np.zeros(2)]
    >>> _, s = opt.update([np.ones(2)], opt.init(p), p)
    >>> s.trace, s.decay
    ([array([1., 1.])], 0.9)
    """

    trace: list[Array]
    decay: Hyper


def trace(decay: Hyper = 0.9, nesterov: bool = False) -> Optimizer[TraceState]:
    """Momentum: ``m = decay * m + g``; ``u = m`` (or ``g + decay * m`` with ``nesterov``).

    >>> opt, p = trace(0.5), [np.zeros(1)]
    >>> u1, s = opt.update([np.array([1.0])], opt.init(p), p)
    >>> u2, s = opt.update([np.array([1.0])], s, p)
    >>> u1, u2  # m = 1, then 0.5 · 1 + 1
    ([array([1.])], [array([1.5])])
    >>> nag = trace(0.5, nesterov=True)
    >>> nag.update([np.array([1.0])], nag.init(p), p)[0]  # g + β m
    [array([1.5])]
    """
    decay = _check_hyper("trace", "decay", decay, 0.0, 1.0)

    def update(g: list[Array], s: TraceState, p: list[Array]) -> tuple[list[Array], TraceState]:
        new_trace = []
        out = []
        for x, m in zip(g, s.trace, strict=True):
            beta = per_model(s.decay, x)
            m = m * beta
            m += x
            new_trace.append(m)
            out.append(x + beta * m if nesterov else m)
        return out, TraceState(new_trace, s.decay)

    return from_leaves(LeafTransform(lambda params: TraceState(_zeros(params), decay), update))


@tree.pytree
@attrs.frozen
class AdagradState:
    """``root_sum_of_squares``: ``√a``, the root of the accumulated squared gradients.

    >>> opt, p = scale_by_adagrad(), [np.zeros(1)]
    >>> _, s = opt.update([np.array([3.0])], opt.init(p), p)
    >>> _, s = opt.update([np.array([4.0])], s, p)
    >>> s.root_sum_of_squares  # √(3² + 4²)
    [array([5.])]
    """

    root_sum_of_squares: list[Array]
    eps: Hyper


def scale_by_adagrad(
    eps: Hyper = 1e-10, initial_accumulator_value: float = 0.0
) -> Optimizer[AdagradState]:
    """Adagrad: ``a = a + g²``; ``u = g / (sqrt(a) + eps)`` (PyTorch's convention).

    The state keeps ``r = √a``, updated as ``r ← hypot(r, g)``: no square is ever formed, so a
    huge gradient (beyond √max of the dtype) still gives the right, finite step.

    >>> opt, p = scale_by_adagrad(eps=0.0), [np.zeros(1)]
    >>> u1, s = opt.update([np.array([3.0])], opt.init(p), p)
    >>> u2, s = opt.update([np.array([4.0])], s, p)
    >>> u1, u2  # 3 / √9, 4 / √25
    ([array([1.])], [array([0.8])])
    """
    eps = _check_hyper("scale_by_adagrad", "eps", eps, 0.0)
    root_init = math.sqrt(initial_accumulator_value)

    def init(params: PyTree) -> AdagradState:
        acc: list[Array] = [np.full_like(p, root_init) for p in _float_leaves(params)]
        return AdagradState(acc, eps)

    def update(g: list[Array], s: AdagradState, p: list[Array]) -> tuple[list[Array], AdagradState]:
        acc: list[Array] = []
        out: list[Array] = []
        for x, r in zip(g, s.root_sum_of_squares, strict=True):
            r = np.hypot(r, x)
            acc.append(r)
            d = r + per_model(s.eps, x)
            d = np.divide(x, d, out=d)
            out.append(d)
        return out, AdagradState(acc, s.eps)

    return from_leaves(LeafTransform(init, update))


@tree.pytree
@attrs.frozen
class RmsState:
    """``rms``: ``√v``, the root of the running mean of squared gradients.

    >>> opt, p = scale_by_rms(decay=0.75), [np.zeros(1)]
    >>> _, s = opt.update([np.array([2.0])], opt.init(p), p)
    >>> s.rms  # √(0.25 · 2²)
    [array([1.])]
    """

    rms: list[Array]
    decay: Hyper
    eps: Hyper


def scale_by_rms(decay: Hyper = 0.9, eps: Hyper = 1e-8) -> Optimizer[RmsState]:
    """RMSProp: ``v = decay * v + (1 - decay) * g²``; ``u = g / (sqrt(v) + eps)``.

    The state keeps ``r = √v``, updated as ``r ← hypot(√decay · r, √(1 − decay) · g)``: no
    square is formed, so huge gradients stay finite and exact.

    >>> opt, p = scale_by_rms(decay=0.75, eps=0.0), [np.zeros(1)]
    >>> opt.update([np.array([2.0])], opt.init(p), p)[0]  # 2 / √(0.25 · 4)
    [array([2.])]
    """
    decay = _check_hyper("scale_by_rms", "decay", decay, 0.0, 1.0)
    eps = _check_hyper("scale_by_rms", "eps", eps, 0.0)

    def update(g: list[Array], s: RmsState, p: list[Array]) -> tuple[list[Array], RmsState]:
        rms = []
        out = []
        for x, r in zip(g, s.rms, strict=True):
            rho = per_model(s.decay, x)
            r = np.hypot(r * rho**0.5, x * (1.0 - rho) ** 0.5)
            rms.append(r)
            d = r + per_model(s.eps, x)
            out.append(np.divide(x, d, out=d))
        return out, RmsState(rms, s.decay, s.eps)

    return from_leaves(LeafTransform(lambda params: RmsState(_zeros(params), decay, eps), update))


FLUSH_EVERY = 64
"""Adam sets its moments below the dtype's smallest normal number to zero every this many steps.

Where a gradient stays zero (a dead ReLU unit), ``m ← β1·m`` decays into subnormal numbers, on
which every array operation runs 15–35× slower; once zero, such a moment stays zero."""


def _flush_subnormals(a: Array) -> None:
    """Zero the subnormal entries of ``a`` in place (``a`` is a fresh array of the update)."""
    a[np.abs(a) < np.finfo(a.dtype).tiny] = 0.0


@tree.pytree
@attrs.frozen
class AdamState:
    """``mu``: first moments ``m``; ``root_nu``: ``√v``, the root of the second moments.

    >>> opt, p = scale_by_adam(b1=0.5, b2=0.75), [np.zeros(1)]
    >>> _, s = opt.update([np.array([2.0])], opt.init(p), p)
    >>> s.count, s.mu, s.root_nu  # m = 0.5 · 2, √v = √(0.25 · 2²)
    (1, [array([1.])], [array([1.])])
    """

    count: int
    mu: list[Array]
    root_nu: list[Array]
    b1: Hyper
    b2: Hyper
    eps: Hyper


def scale_by_adam(b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8) -> Optimizer[AdamState]:
    """Adam's direction ``m̂ / (sqrt(v̂) + eps)`` with bias-corrected moments.

    Computed as ``m · (sqrt(c2) / c1) / (sqrt(v) + eps · sqrt(c2))`` with ``c = 1 − βᵗ``, which
    is the same number in fewer array operations. The state keeps ``r = √v``, updated as
    ``r ← hypot(√β2 · r, √(1 − β2) · g)``: no square is formed, so huge gradients stay finite.

    >>> opt, p = scale_by_adam(), [np.zeros(2)]
    >>> u, s = opt.update([np.array([0.01, -100.0])], opt.init(p), p)
    >>> u[0].round(4)  # the first step is sign(g) (up to ε), whatever the scale of g
    array([ 1., -1.])
    """
    b1 = _check_hyper("scale_by_adam", "b1", b1, 0.0, 1.0)
    b2 = _check_hyper("scale_by_adam", "b2", b2, 0.0, 1.0)
    eps = _check_hyper("scale_by_adam", "eps", eps, 0.0)

    def init(params: PyTree) -> AdamState:
        return AdamState(0, _zeros(params), _zeros(params), b1, b2, eps)

    def update(g: list[Array], s: AdamState, p: list[Array]) -> tuple[list[Array], AdamState]:
        t = s.count + 1
        mu = []
        nu = []
        out = []
        for x, m, r in zip(g, s.mu, s.root_nu, strict=True):
            beta1 = per_model(s.b1, x)
            beta2 = per_model(s.b2, x)
            m = m * beta1
            m += (1.0 - beta1) * x
            r = np.hypot(r * beta2**0.5, x * (1.0 - beta2) ** 0.5)
            if t % FLUSH_EVERY == 0:  # moments of dead units decay into slow subnormals
                _flush_subnormals(m)
                _flush_subnormals(r)
            mu.append(m)
            nu.append(r)
            root_c2 = (1.0 - beta2**t) ** 0.5  # a float stays a Python float
            d = r + per_model(s.eps, x) * root_c2
            u = m * (root_c2 / (1.0 - beta1**t))
            u /= d
            out.append(u)
        return out, AdamState(t, mu, nu, s.b1, s.b2, s.eps)

    return from_leaves(LeafTransform(init, update, fresh=True))


@tree.pytree
@attrs.frozen
class DecayState:
    """``weight_decay``: ``λ`` of :func:`add_decayed_weights`.

    >>> add_decayed_weights(1e-4).init([np.zeros(1)])
    DecayState(weight_decay=0.0001)
    """

    weight_decay: Hyper


def add_decayed_weights(weight_decay: Hyper) -> Optimizer[DecayState]:
    """``u = g + weight_decay * p`` (decoupled weight decay when placed after the scaling).

    >>> opt, p = add_decayed_weights(0.1), [np.array([2.0, -4.0])]
    >>> opt.update([np.zeros(2)], opt.init(p), p)[0]  # g + λ p
    [array([ 0.2, -0.4])]
    """
    weight_decay = _check_hyper("add_decayed_weights", "weight_decay", weight_decay, 0.0)

    def update(g: list[Array], s: DecayState, p: list[Array]) -> tuple[list[Array], DecayState]:
        return [x + per_model(s.weight_decay, w) * w for x, w in zip(g, p, strict=True)], s

    return from_leaves(LeafTransform(lambda params: DecayState(weight_decay), update))


@tree.pytree
@attrs.frozen
class ClipState:
    """``max_value``: the clipping bound; ``model_axes``: leading axes that index models.

    >>> clip_by_global_norm(1.0, model_axes=1).init([np.zeros((3, 2))])
    ClipState(max_value=1.0, model_axes=1)
    """

    max_value: Hyper
    model_axes: int = 0


def clip(max_delta: Hyper) -> Optimizer[ClipState]:
    """``u = clip(g, -max_delta, max_delta)`` elementwise.

    >>> opt, p = clip(1.0), [np.zeros(3)]
    >>> opt.update([np.array([-5.0, 0.5, 2.0])], opt.init(p), p)[0]
    [array([-1. ,  0.5,  1. ])]
    """
    max_delta = _check_hyper("clip", "max_delta", max_delta, 0.0)

    def update(g: list[Array], s: ClipState, p: list[Array]) -> tuple[list[Array], ClipState]:
        out = []
        for x in g:
            d = per_model(s.max_value, x)
            out.append(np.clip(x, -d, d))
        return out, s

    return from_leaves(LeafTransform(lambda params: ClipState(max_delta), update))


def clip_by_global_norm(max_norm: Hyper, model_axes: int = 0) -> Optimizer[ClipState]:
    """Rescale ``g`` so its global norm is at most ``max_norm``.

    With ``model_axes = k`` the norm is taken per model over everything after the first ``k``
    axes of every leaf, so each model of a stack is clipped as if it were trained alone.

    >>> opt, p = clip_by_global_norm(1.0), [np.zeros(2), np.zeros(1)]
    >>> opt.update([np.array([3.0, 0.0]), np.array([4.0])], opt.init(p), p)[0]  # ‖g‖ = 5
    [array([0.6, 0. ]), array([0.8])]
    >>> opt = clip_by_global_norm(1.0, model_axes=1)  # per model: only model 0 is clipped
    >>> p = [np.zeros((2, 2))]
    >>> opt.update([np.array([[3.0, 4.0], [0.3, 0.4]])], opt.init(p), p)[0]
    [array([[0.6, 0.8],
           [0.3, 0.4]])]
    """
    max_norm = _check_hyper("clip_by_global_norm", "max_norm", max_norm, 0.0)

    def update(g: list[Array], s: ClipState, p: list[Array]) -> tuple[list[Array], ClipState]:
        if not g:
            return g, s
        norm = tree.global_norm(g, s.model_axes)
        limit = np.asarray(s.max_value, dtype=norm.dtype)
        factor = np.where(norm > limit, limit / np.maximum(norm, np.finfo(norm.dtype).tiny), 1.0)
        return [x * per_model(factor.astype(x.dtype), x) for x in g], s

    return from_leaves(LeafTransform(lambda params: ClipState(max_norm, model_axes), update))


def set_to_zero() -> Optimizer[EmptyState]:
    """``u = 0``: with ``masked``, freezes the selected params.

    >>> opt, p = set_to_zero(), [np.ones(2)]
    >>> opt.update([np.array([1.0, 2.0])], opt.init(p), p)[0]
    [array([0., 0.])]
    """

    def update(g: list[Array], s: EmptyState, p: list[Array]) -> tuple[list[Array], EmptyState]:
        return [np.zeros_like(x) for x in g], s

    return from_leaves(LeafTransform(lambda params: EmptyState(), update))
