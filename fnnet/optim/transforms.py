"""Gradient transforms: small ``Optimizer`` values that ``chain`` composes into optimizers.

Each transform is its textbook update written once, on ONE array, with the textbook's names (a
small ``rule`` function), and run on every leaf by :func:`fnnet.optim.lift`. Its state (a frozen
attrs pytree) holds the hyperparameters, readable as ``state.learning_rate`` and possibly arrays
with one value per stacked model, and moment buffers with the params' tree shape (for the params
tuple of an mlp, ``state.mu[2].w``).

Update rules (``g`` the incoming gradient, ``u`` the outgoing update, ``t`` the step count from 1):

=========================  ==============================================================
scale(s)                   u = s·g
scale_by_learning_rate(η)  u = −η·g   (η may be a schedule of the step)
trace(β)                   m ← β·m + g;  u = m   (nesterov: u = g + β·m)
scale_by_adagrad(ε)        a ← a + g²;  u = g / (√a + ε)
scale_by_rms(ρ, ε)         v ← ρ·v + (1−ρ)·g²;  u = g / (√v + ε)
scale_by_adam(β1, β2, ε)   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
                           m̂ = m/(1−β1ᵗ);  v̂ = v/(1−β2ᵗ);  u = m̂ / (√v̂ + ε)
add_decayed_weights(λ)     u = g + λ·p
clip(δ)                    u = clip(g, −δ, δ)
clip_by_global_norm(c)     u = g · min(1, c / ‖g‖)   (‖g‖ per model)
set_to_zero()              u = 0
=========================  ==============================================================

Second moments are kept as their roots (``√a``, ``√v``) and updated without forming a square,
and moment buffers lose their subnormal entries every 64 steps: see :mod:`fnnet.optim.numerics`.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array
from fnnet.optim.base import (
    Hyper,
    Optimizer,
    check_grads,
    check_per_model,
    check_state,
    hyperparameter,
    lift,
)
from fnnet.optim.numerics import root_ema_of_squares, root_sum_of_squares
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
    "GlobalNormState",
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


def _zeros(fn: str, params: PyTree, value: float = 0.0) -> PyTree:
    """A buffer of ``value`` with the params' tree shape; every leaf must be a float array."""
    for leaf in tree.leaves(params):
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f":
            raise TypeError(
                f"{fn}: every leaf of params must be a floating numpy array, got "
                f"{type(leaf).__name__} {getattr(leaf, 'dtype', '')}".rstrip()
            )
    return tree.map(lambda p: np.full_like(p, value), params)


def _scale(g: Array, s: Any) -> tuple[Array]:
    return (s * g,)


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
    """``u = factor · g``.

    >>> opt, p = scale(-2.0), np.zeros(2)  # params: one array
    >>> opt.update(np.array([1.0, 0.5]), opt.init(p), p)[0]
    array([-2., -1.])
    """
    factor = hyperparameter("scale", "factor", factor)

    def init(params: PyTree) -> ScaleState:
        check_per_model("scale", {"factor": factor}, params)
        return ScaleState(factor)

    def update(grads: PyTree, state: ScaleState, params: PyTree) -> tuple[PyTree, ScaleState]:
        (u,) = lift(
            _scale,
            grads,
            hypers=(check_state("scale", state, ScaleState).factor,),
            params=params,
            name="scale",
        )
        return u, state

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class LearningRateState:
    """``count``: steps taken; ``learning_rate``: the rate used at the last step (or to be used).

    >>> opt, p = scale_by_learning_rate(lambda step: 0.1 / (step + 1)), np.zeros(1)
    >>> s = opt.init(p)
    >>> _, s = opt.update(np.ones(1), s, p)
    >>> _, s = opt.update(np.ones(1), s, p)
    >>> s.count, s.learning_rate  # the rate used at step 1
    (2, 0.05)
    """

    count: int
    learning_rate: Hyper


def _scheduled(schedule: Schedule, step: int) -> Hyper:
    """The schedule's rate at ``step``, refused unless finite and >= 0."""
    value = schedule(step)
    try:
        return hyperparameter("scale_by_learning_rate", "learning_rate", value, 0.0)
    except (TypeError, ValueError):
        raise ValueError(
            f"scale_by_learning_rate: the learning-rate schedule returned {value!r} at step "
            f"{step}; a learning rate must be a finite number >= 0 (or an array of them, one per "
            "model): check the schedule's arguments"
        ) from None


def _descend(g: Array, lr: Any) -> tuple[Array]:
    return (-lr * g,)


def scale_by_learning_rate(learning_rate: Hyper | Schedule) -> Optimizer[LearningRateState]:
    """``u = −η · g``; ``η`` a number >= 0, a per-model array, or a schedule of the step count
    (whose values are checked at every step).

    >>> opt, p = scale_by_learning_rate(0.1), np.zeros(2)
    >>> opt.update(np.array([1.0, -2.0]), opt.init(p), p)[0]
    array([-0.1,  0.2])
    >>> opt = scale_by_learning_rate(np.array([0.1, 1.0]))  # one rate per stacked model
    >>> p = np.zeros((2, 3))
    >>> opt.update(np.ones((2, 3)), opt.init(p), p)[0]
    array([[-0.1, -0.1, -0.1],
           [-1. , -1. , -1. ]])
    """
    fn = "scale_by_learning_rate"
    schedule = learning_rate if callable(learning_rate) else None
    first = (
        _scheduled(schedule, 0)
        if schedule is not None
        else hyperparameter(fn, "learning_rate", learning_rate, 0.0)
    )

    def init(params: PyTree) -> LearningRateState:
        check_per_model(fn, {"learning_rate": first}, params)
        return LearningRateState(0, first)

    def update(
        grads: PyTree, state: LearningRateState, params: PyTree
    ) -> tuple[PyTree, LearningRateState]:
        check_state(fn, state, LearningRateState)
        lr = state.learning_rate if schedule is None else _scheduled(schedule, state.count)
        (u,) = lift(_descend, grads, hypers=(lr,), params=params, name=fn)
        return u, LearningRateState(state.count + 1, lr)

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class TraceState:
    """``count``: steps taken; ``trace``: the momentum ``m`` (params' tree shape); ``decay``: β.

    >>> opt, p = trace(0.9), {"w": np.zeros(2)}
    >>> _, s = opt.update({"w": np.ones(2)}, opt.init(p), p)
    >>> s.trace, s.decay
    ({'w': array([1., 1.])}, 0.9)
    """

    count: int
    trace: PyTree
    decay: Hyper


def _momentum(g: Array, m: Array, beta: Any) -> tuple[Array, Array]:
    m = beta * m + g
    u = m
    return u, m


def _nesterov(g: Array, m: Array, beta: Any) -> tuple[Array, Array]:
    m = beta * m + g
    u = g + beta * m
    return u, m


def trace(decay: Hyper = 0.9, nesterov: bool = False) -> Optimizer[TraceState]:
    """Momentum: ``m ← decay · m + g``; ``u = m`` (``u = g + decay · m`` with ``nesterov``).

    >>> opt, p = trace(0.5), np.zeros(1)
    >>> u1, s = opt.update(np.array([1.0]), opt.init(p), p)
    >>> u2, s = opt.update(np.array([1.0]), s, p)
    >>> u1, u2  # m = 1, then 0.5 · 1 + 1
    (array([1.]), array([1.5]))
    >>> nag = trace(0.5, nesterov=True)
    >>> nag.update(np.array([1.0]), nag.init(p), p)[0]  # g + β m
    array([1.5])
    """
    decay = hyperparameter("trace", "decay", decay, 0.0, 1.0)
    if not isinstance(nesterov, bool):
        raise TypeError(f"trace: argument 'nesterov' must be a bool, got {nesterov!r}")
    rule = _nesterov if nesterov else _momentum

    def init(params: PyTree) -> TraceState:
        check_per_model("trace", {"decay": decay}, params)
        return TraceState(0, _zeros("trace", params), decay)

    def update(grads: PyTree, state: TraceState, params: PyTree) -> tuple[PyTree, TraceState]:
        check_state("trace", state, TraceState)
        t = state.count + 1
        u, m = lift(
            rule, grads, [state.trace], hypers=[state.decay], count=t, params=params, name="trace"
        )
        return u, TraceState(t, m, state.decay)

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class AdagradState:
    """``root_sum_of_squares``: ``√a``, the root of the accumulated squared gradients.

    >>> opt, p = scale_by_adagrad(), np.zeros(1)
    >>> _, s = opt.update(np.array([3.0]), opt.init(p), p)
    >>> _, s = opt.update(np.array([4.0]), s, p)
    >>> s.root_sum_of_squares  # √(3² + 4²)
    array([5.])
    """

    root_sum_of_squares: PyTree
    eps: Hyper


def _adagrad(g: Array, root_a: Array, eps: Any) -> tuple[Array, Array]:
    root_a = root_sum_of_squares(root_a, g)  # √a,  a ← a + g²
    u = g / (root_a + eps)
    return u, root_a


def scale_by_adagrad(
    eps: Hyper = 1e-10, initial_accumulator_value: float = 0.0
) -> Optimizer[AdagradState]:
    """Adagrad: ``a ← a + g²``; ``u = g / (√a + eps)`` (PyTorch's convention), ``a`` starting
    at ``initial_accumulator_value``. ``eps`` must be > 0 (else a zero gradient gives 0/0).

    >>> opt, p = scale_by_adagrad(eps=1e-300), np.zeros(1)
    >>> u1, s = opt.update(np.array([3.0]), opt.init(p), p)
    >>> u2, s = opt.update(np.array([4.0]), s, p)
    >>> u1, u2  # 3 / √9, 4 / √25
    (array([1.]), array([0.8]))
    """
    eps = hyperparameter("scale_by_adagrad", "eps", eps, 0.0, open_low=True)
    a0 = hyperparameter("scale_by_adagrad", "initial_accumulator_value", initial_accumulator_value)
    if not isinstance(a0, float) or a0 < 0:
        raise ValueError(
            "scale_by_adagrad: argument 'initial_accumulator_value' must be one number >= 0, "
            f"got {initial_accumulator_value!r}"
        )

    def init(params: PyTree) -> AdagradState:
        check_per_model("scale_by_adagrad", {"eps": eps}, params)
        return AdagradState(_zeros("scale_by_adagrad", params, math.sqrt(a0)), eps)

    def update(grads: PyTree, state: AdagradState, params: PyTree) -> tuple[PyTree, AdagradState]:
        check_state("scale_by_adagrad", state, AdagradState)
        u, root_a = lift(
            _adagrad,
            grads,
            [state.root_sum_of_squares],
            hypers=[state.eps],
            params=params,
            name="scale_by_adagrad",
        )
        return u, AdagradState(root_a, state.eps)

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class RmsState:
    """``count``: steps taken; ``rms``: ``√v``, the root of the running mean of squared
    gradients (params' tree shape).

    >>> opt, p = scale_by_rms(decay=0.75), np.zeros(1)
    >>> _, s = opt.update(np.array([2.0]), opt.init(p), p)
    >>> s.rms  # √(0.25 · 2²)
    array([1.])
    """

    count: int
    rms: PyTree
    decay: Hyper
    eps: Hyper


def _rmsprop(g: Array, root_v: Array, rho: Any, eps: Any) -> tuple[Array, Array]:
    root_v = root_ema_of_squares(root_v, g, rho)  # √v,  v ← ρ·v + (1 − ρ)·g²
    u = g / (root_v + eps)
    return u, root_v


def scale_by_rms(decay: Hyper = 0.9, eps: Hyper = 1e-8) -> Optimizer[RmsState]:
    """RMSProp: ``v ← decay · v + (1 − decay) · g²``; ``u = g / (√v + eps)``; decay in [0, 1).

    >>> opt, p = scale_by_rms(decay=0.75, eps=1e-300), np.zeros(1)
    >>> opt.update(np.array([2.0]), opt.init(p), p)[0]  # 2 / √(0.25 · 4)
    array([2.])
    """
    decay = hyperparameter("scale_by_rms", "decay", decay, 0.0, 1.0, open_high=True)
    eps = hyperparameter("scale_by_rms", "eps", eps, 0.0, open_low=True)

    def init(params: PyTree) -> RmsState:
        check_per_model("scale_by_rms", {"decay": decay, "eps": eps}, params)
        return RmsState(0, _zeros("scale_by_rms", params), decay, eps)

    def update(grads: PyTree, state: RmsState, params: PyTree) -> tuple[PyTree, RmsState]:
        check_state("scale_by_rms", state, RmsState)
        t = state.count + 1
        u, rms = lift(
            _rmsprop,
            grads,
            [state.rms],
            hypers=[state.decay, state.eps],
            count=t,
            params=params,
            name="scale_by_rms",
        )
        return u, RmsState(t, rms, state.decay, state.eps)

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class AdamState:
    """``count``: ``t``; ``mu``: first moments ``m``; ``root_nu``: ``√v``, the root of the
    second moments (both with the params' tree shape).

    >>> opt, p = scale_by_adam(b1=0.5, b2=0.75), (np.zeros(1), {"w": np.zeros(2)})
    >>> _, s = opt.update((np.array([2.0]), {"w": np.ones(2)}), opt.init(p), p)
    >>> s.count, s.mu[0], s.root_nu[1]["w"]  # m = 0.5 · 2;  √v = √(0.25 · 1²)
    (1, array([1.]), array([0.5, 0.5]))
    """

    count: int
    mu: PyTree
    root_nu: PyTree
    b1: Hyper
    b2: Hyper
    eps: Hyper


def _adam(
    g: Array, m: Array, root_v: Array, b1: Any, b2: Any, eps: Any, t: int
) -> tuple[Array, Array, Array]:
    m = b1 * m + (1 - b1) * g
    root_v = root_ema_of_squares(root_v, g, b2)  # √v,  v ← β2·v + (1 − β2)·g²
    m_hat = m / (1 - b1**t)
    root_v_hat = root_v / (1 - b2**t) ** 0.5  # √v̂ = √(v / (1 − β2ᵗ))
    u = m_hat / (root_v_hat + eps)
    return u, m, root_v


def scale_by_adam(b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8) -> Optimizer[AdamState]:
    """Adam's direction ``m̂ / (√v̂ + eps)`` with bias-corrected moments; b1, b2 in [0, 1).

    >>> opt, p = scale_by_adam(), np.zeros(2)
    >>> u, s = opt.update(np.array([0.01, -100.0]), opt.init(p), p)
    >>> u.round(4)  # the first step is sign(g) (up to ε), whatever the scale of g
    array([ 1., -1.])
    """
    b1 = hyperparameter("scale_by_adam", "b1", b1, 0.0, 1.0, open_high=True)
    b2 = hyperparameter("scale_by_adam", "b2", b2, 0.0, 1.0, open_high=True)
    eps = hyperparameter("scale_by_adam", "eps", eps, 0.0, open_low=True)

    def init(params: PyTree) -> AdamState:
        check_per_model("scale_by_adam", {"b1": b1, "b2": b2, "eps": eps}, params)
        zeros = _zeros("scale_by_adam", params)
        return AdamState(0, zeros, tree.zeros_like(zeros), b1, b2, eps)

    def update(grads: PyTree, state: AdamState, params: PyTree) -> tuple[PyTree, AdamState]:
        s = check_state("scale_by_adam", state, AdamState)
        t = s.count + 1
        hypers = (s.b1, s.b2, s.eps, t)
        u, mu, root_nu = lift(
            _adam,
            grads,
            [s.mu, s.root_nu],
            hypers=hypers,
            count=t,
            params=params,
            name="scale_by_adam",
        )
        return u, AdamState(t, mu, root_nu, s.b1, s.b2, s.eps)

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class DecayState:
    """``weight_decay``: ``λ`` of :func:`add_decayed_weights`.

    >>> add_decayed_weights(1e-4).init([np.zeros(1)])
    DecayState(weight_decay=0.0001)
    """

    weight_decay: Hyper


def _decayed(g: Array, p: Array, wd: Any) -> tuple[Array]:
    return (g + wd * p,)


def add_decayed_weights(weight_decay: Hyper) -> Optimizer[DecayState]:
    """``u = g + weight_decay · p`` (decoupled weight decay when placed after the scaling).

    >>> opt, p = add_decayed_weights(0.1), np.array([2.0, -4.0])
    >>> opt.update(np.zeros(2), opt.init(p), p)[0]  # g + λ p
    array([ 0.2, -0.4])
    """
    weight_decay = hyperparameter("add_decayed_weights", "weight_decay", weight_decay, 0.0)

    def init(params: PyTree) -> DecayState:
        check_per_model("add_decayed_weights", {"weight_decay": weight_decay}, params)
        return DecayState(weight_decay)

    def update(grads: PyTree, state: DecayState, params: PyTree) -> tuple[PyTree, DecayState]:
        wd = check_state("add_decayed_weights", state, DecayState).weight_decay
        (u,) = lift(
            _decayed, grads, inputs=[params], hypers=[wd], params=params, name="add_decayed_weights"
        )
        return u, state

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class ClipState:
    """``max_delta``: the bound of :func:`clip`.

    >>> clip(1.0).init([np.zeros(2)])
    ClipState(max_delta=1.0)
    """

    max_delta: Hyper


def _clip(g: Array, delta: Any) -> tuple[Array]:
    return (np.clip(g, -delta, delta),)


def clip(max_delta: Hyper) -> Optimizer[ClipState]:
    """``u = clip(g, −max_delta, max_delta)`` elementwise.

    >>> opt, p = clip(1.0), np.zeros(3)
    >>> opt.update(np.array([-5.0, 0.5, 2.0]), opt.init(p), p)[0]
    array([-1. ,  0.5,  1. ])
    """
    max_delta = hyperparameter("clip", "max_delta", max_delta, 0.0)

    def init(params: PyTree) -> ClipState:
        check_per_model("clip", {"max_delta": max_delta}, params)
        return ClipState(max_delta)

    def update(grads: PyTree, state: ClipState, params: PyTree) -> tuple[PyTree, ClipState]:
        (u,) = lift(
            _clip,
            grads,
            hypers=[check_state("clip", state, ClipState).max_delta],
            params=params,
            name="clip",
        )
        return u, state

    return Optimizer(init, update, per_leaf=True)


@tree.pytree
@attrs.frozen
class GlobalNormState:
    """``max_norm``: the bound; ``model_axes``: how many leading axes of every leaf index models.

    >>> clip_by_global_norm(1.0, model_axes=1).init([np.zeros((3, 2))])
    GlobalNormState(max_norm=1.0, model_axes=1)
    """

    max_norm: Hyper
    model_axes: int


def _model_axes(max_norm: Hyper, model_axes: int | None) -> int:
    """The number of model axes: as given, or the shape of a per-model ``max_norm``."""
    fn = "clip_by_global_norm"
    if model_axes is None:
        if isinstance(max_norm, float):
            raise ValueError(
                f"{fn}: say which models the norm is taken over (a norm over a whole stack would "
                "couple its models): model_axes=0 for one model (params without model axes), "
                "model_axes=1 for a stack of models along the first axis (one norm per model), "
                "or a max_norm array with one value per model"
            )
        return max_norm.ndim
    if isinstance(model_axes, bool) or not isinstance(model_axes, int | np.integer):
        raise TypeError(f"{fn}: argument 'model_axes' must be an int >= 0, got {model_axes!r}")
    if model_axes < 0 or (isinstance(max_norm, np.ndarray) and max_norm.ndim != model_axes):
        raise ValueError(
            f"{fn}: argument 'model_axes' must be >= 0 and match a per-model max_norm's "
            f"{np.ndim(max_norm)} axes, got model_axes={model_axes}"
        )
    return int(model_axes)


def clip_by_global_norm(
    max_norm: Hyper, model_axes: int | None = None
) -> Optimizer[GlobalNormState]:
    """``u = g · min(1, max_norm / ‖g‖)``, ``‖g‖`` the norm of all leaves together, per model.

    The norm is taken per model, over every axis after the first ``model_axes`` of every leaf,
    so each model of a stack is clipped as if it were trained alone. ``model_axes`` defaults to
    the number of axes of a per-model ``max_norm`` array; with a plain number it must be given
    (0 for one model, 1 for a stack), so that a stack is never clipped by one shared norm.

    >>> opt, p = clip_by_global_norm(1.0, model_axes=0), [np.zeros(2), np.zeros(1)]
    >>> opt.update([np.array([3.0, 0.0]), np.array([4.0])], opt.init(p), p)[0]  # ‖g‖ = 5
    [array([0.6, 0. ]), array([0.8])]
    >>> opt = clip_by_global_norm(np.array([1.0, 1.0]))  # 2 models: only model 0 is clipped
    >>> p = np.zeros((2, 2))
    >>> opt.update(np.array([[3.0, 4.0], [0.3, 0.4]]), opt.init(p), p)[0]
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    max_norm = hyperparameter("clip_by_global_norm", "max_norm", max_norm, 0.0)
    axes = _model_axes(max_norm, model_axes)

    def init(params: PyTree) -> GlobalNormState:
        for leaf in tree.leaves(params):
            if np.ndim(leaf) < axes:
                raise ValueError(
                    f"clip_by_global_norm: model_axes={axes} but params have a leaf of shape "
                    f"{np.shape(leaf)}"
                )
        check_per_model("clip_by_global_norm", {"max_norm": max_norm}, params)
        return GlobalNormState(max_norm, axes)

    def update(
        grads: PyTree, state: GlobalNormState, params: PyTree
    ) -> tuple[PyTree, GlobalNormState]:
        s = check_state("clip_by_global_norm", state, GlobalNormState)
        check_grads("clip_by_global_norm", grads, params)  # before the norm is taken
        norm = tree.global_norm(grads, s.model_axes)  # one per model
        limit = np.asarray(s.max_norm, dtype=norm.dtype)
        factor = np.where(norm > limit, limit / np.maximum(norm, np.finfo(norm.dtype).tiny), 1)
        (u,) = lift(_scale, grads, hypers=[factor])
        return u, s

    return Optimizer(init, update, per_leaf=True)


def _zero(g: Array) -> tuple[Array]:
    return (np.zeros_like(g),)


def set_to_zero() -> Optimizer[EmptyState]:
    """``u = 0``: with ``masked``, freezes the selected params.

    >>> opt, p = set_to_zero(), np.ones(2)
    >>> opt.update(np.array([1.0, 2.0]), opt.init(p), p)[0]
    array([0., 0.])
    """

    def update(grads: PyTree, state: EmptyState, params: PyTree) -> tuple[PyTree, EmptyState]:
        (u,) = lift(_zero, grads, params=params, name="set_to_zero")
        return u, check_state("set_to_zero", state, EmptyState)

    return Optimizer(lambda params: EmptyState(), update, per_leaf=True)
