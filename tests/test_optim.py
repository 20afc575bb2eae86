"""Optimizers: one step against hand computation, a table run to a known optimum, composition."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest

from fnnet import optim, tree
from fnnet.optim import Optimizer

G = np.array([0.5, -2.0])
P = np.array([1.0, 3.0])


def one_step(opt: Optimizer[Any], steps: int = 1, g: Any = G, p: Any = P) -> Any:
    state = opt.init([p])
    for _ in range(steps):
        updates, state = opt.update([g], state, [p])
    return updates[0]


def test_hand_computed_first_steps() -> None:
    lr = 0.1
    np.testing.assert_allclose(one_step(optim.sgd(lr)), -lr * G)
    np.testing.assert_allclose(one_step(optim.scale(3.0)), 3.0 * G)
    # momentum: m1 = g, m2 = 0.9 g + g
    np.testing.assert_allclose(one_step(optim.momentum(lr, 0.9), 2), -lr * 1.9 * G)
    # nesterov: m2 = 1.9 g; u = g + 0.9 m2
    np.testing.assert_allclose(one_step(optim.nesterov(lr, 0.9), 2), -lr * (G + 0.9 * 1.9 * G))
    # adagrad: a2 = 2 g²; u = g / (sqrt(2) |g| + eps)
    np.testing.assert_allclose(
        one_step(optim.adagrad(lr), 2), -lr * G / (np.sqrt(2 * G**2) + 1e-10)
    )
    # rmsprop: v1 = 0.1 g²
    np.testing.assert_allclose(
        one_step(optim.rmsprop(lr, 0.9, 1e-8)), -lr * G / (np.sqrt(0.1 * G**2) + 1e-8)
    )
    # adam, step 2 with a constant gradient: m̂ = g, v̂ = g²
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = (1 - b1) * G * (1 + b1)
    v = (1 - b2) * G**2 * (1 + b2)
    expected = -lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    np.testing.assert_allclose(one_step(optim.adam(lr, b1, b2, eps), 2), expected, rtol=1e-12)
    # adamw: adam direction + decay * p, scaled by -lr
    first = G / (np.abs(G) + eps)
    np.testing.assert_allclose(
        one_step(optim.adamw(lr, weight_decay=0.01)), -lr * (first + 0.01 * P), rtol=1e-7
    )
    np.testing.assert_allclose(one_step(optim.add_decayed_weights(0.5)), G + 0.5 * P)
    np.testing.assert_allclose(one_step(optim.clip(1.0)), [0.5, -1.0])
    norm = np.sqrt(0.25 + 4.0)
    np.testing.assert_allclose(one_step(optim.clip_by_global_norm(1.0, model_axes=0)), G / norm)
    np.testing.assert_allclose(one_step(optim.clip_by_global_norm(10.0, model_axes=0)), G)
    np.testing.assert_allclose(one_step(optim.set_to_zero()), [0.0, 0.0])


def test_chain_of_transforms_equals_adam() -> None:
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    a = optim.adam(0.01)
    b = optim.chain(optim.scale_by_adam(), optim.scale_by_learning_rate(0.01))
    sa, sb = a.init(params), b.init(params)
    for _ in range(5):
        grads = [rng.normal(size=p.shape) for p in params]
        ua, sa = a.update(grads, sa, params)
        ub, sb = b.update(grads, sb, params)
        for x, y in zip(ua, ub, strict=True):
            np.testing.assert_array_equal(x, y)


QUADRATIC_TABLE = [
    ("sgd", optim.sgd(0.1), 300),
    ("momentum", optim.momentum(0.05, 0.9), 300),
    ("nesterov", optim.nesterov(0.05, 0.9), 300),
    ("adagrad", optim.adagrad(1.0), 500),
    ("rmsprop", optim.rmsprop(optim.schedules.exponential_decay(0.1, 0.5, 100)), 1000),
    ("adam", optim.adam(optim.schedules.cosine_decay(0.1, 1000)), 1000),
    ("adamw", optim.adamw(optim.schedules.cosine_decay(0.1, 1000), weight_decay=0.0), 1000),
    ("clipped sgd", optim.chain(optim.clip_by_global_norm(1.0, model_axes=0), optim.sgd(0.1)), 400),
    (
        "warmup+step sgd",
        optim.sgd(optim.schedules.warmup(optim.schedules.step_decay(0.2, 0.5, 200), 20)),
        600,
    ),
]


@pytest.mark.parametrize(
    ("name", "opt", "steps"), QUADRATIC_TABLE, ids=[t[0] for t in QUADRATIC_TABLE]
)
def test_runs_to_the_optimum_of_a_quadratic(name: str, opt: Optimizer[Any], steps: int) -> None:
    """f(p) = ½ Σ a (p − c)², minimum at c."""
    a = {"w": np.array([[1.0, 2.0], [0.5, 3.0]]), "b": np.array([1.5])}
    c = {"w": np.array([[1.0, -2.0], [3.0, 0.5]]), "b": np.array([-1.0])}
    params = tree.zeros_like(c)
    state = opt.init(params)
    for _ in range(steps):
        grads = tree.tree_map(lambda ai, p, ci: ai * (p - ci), a, params, c)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    for p, ci in zip(tree.leaves(params), tree.leaves(c), strict=True):
        np.testing.assert_allclose(p, ci, atol=1e-3, err_msg=name)


def test_weight_decay_pulls_to_zero() -> None:
    opt = optim.adamw(0.01, weight_decay=1.0)
    params = [np.array([5.0])]
    state = opt.init(params)
    for _ in range(2000):
        updates, state = opt.update([np.zeros(1)], state, params)
        params = optim.apply_updates(params, updates)
    assert abs(params[0][0]) < 1e-3


@pytest.mark.parametrize(
    ("name", "opt", "steps"), QUADRATIC_TABLE, ids=[t[0] for t in QUADRATIC_TABLE]
)
def test_float32_stays_float32(name: str, opt: Optimizer[Any], steps: int) -> None:
    params = [np.ones((2, 2), np.float32)]
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update([np.full((2, 2), 0.5, np.float32)], state, params)
        params = optim.apply_updates(params, updates)
    assert updates[0].dtype == np.float32 and params[0].dtype == np.float32


def test_per_model_hyperparameters_equal_separate_runs() -> None:
    lrs = np.array([0.1, 0.01, 0.5])
    betas = np.array([0.9, 0.5, 0.0])
    rng = np.random.default_rng(1)
    stacked = [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 2))]
    grads_seq = [[rng.normal(size=p.shape) for p in stacked] for _ in range(4)]
    makers: list[Callable[[Any, Any, int], Optimizer[Any]]] = [
        lambda lr, b, axes: optim.momentum(lr, b),
        lambda lr, b, axes: optim.adam(lr, b1=b),
        lambda lr, b, axes: optim.chain(
            optim.clip_by_global_norm(lr * 10, model_axes=axes), optim.sgd(lr)
        ),
    ]
    for make in makers:
        opt = make(lrs, betas, 1)
        state = opt.init(stacked)
        params = stacked
        for grads in grads_seq:
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
        for i in range(3):
            single = make(float(lrs[i]), float(betas[i]), 0)
            p_i = [p[i] for p in stacked]
            s_i = single.init(p_i)
            for grads in grads_seq:
                u_i, s_i = single.update([g[i] for g in grads], s_i, p_i)
                p_i = optim.apply_updates(p_i, u_i)
            for a, b in zip(p_i, params, strict=True):
                np.testing.assert_allclose(a, b[i], rtol=1e-12)


def test_masked_and_freeze() -> None:
    params = {"w": np.ones(2), "b": np.ones(1)}
    grads = {"w": np.ones(2), "b": np.ones(1)}
    decay_weights_only = optim.chain(
        optim.masked(optim.add_decayed_weights(1.0), {"w": True, "b": False}), optim.sgd(0.1)
    )
    updates, _ = decay_weights_only.update(grads, decay_weights_only.init(params), params)
    np.testing.assert_allclose(updates["w"], [-0.2, -0.2])
    np.testing.assert_allclose(updates["b"], [-0.1])
    frozen = optim.chain(optim.sgd(0.1), optim.freeze(lambda p: {"w": False, "b": True}))
    prefix = optim.chain(optim.sgd(0.1), optim.freeze((True, False)))  # a bool per subtree
    u, _ = prefix.update(((G, P), G), prefix.init(((P, P), P)), ((P, P), P))
    assert np.all(u[0][0] == 0) and np.all(u[0][1] == 0) and np.all(u[1] == -0.1 * G)
    with pytest.raises(tree.TreeMismatchError, match="prefix"):
        optim.freeze([True]).init({"w": P})
    updates, _ = frozen.update(grads, frozen.init(params), params)
    np.testing.assert_allclose(updates["b"], [0.0])
    np.testing.assert_allclose(updates["w"], [-0.1, -0.1])


def test_learning_rate_is_readable_from_state() -> None:
    opt = optim.sgd(optim.schedules.step_decay(1.0, 0.1, 2))
    state = opt.init([P])
    seen = []
    for _ in range(5):
        _, state = opt.update([G], state, [P])
        seen.append(optim.learning_rate(state))
    assert seen == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    assert optim.learning_rate(optim.adam(0.3).init([P])) == 0.3
    with pytest.raises(LookupError, match="give its state a 'learning_rate' field|by giving"):
        optim.learning_rate(optim.scale_by_adam().init([P]))
    masked = optim.masked(optim.sgd(np.array([0.1, 0.2])), {"w": True})
    lr = optim.learning_rate(masked.init({"w": np.ones((2, 3))}))
    np.testing.assert_array_equal(lr, [0.1, 0.2])


def test_a_users_state_joins_the_learning_rate_protocol_with_a_field() -> None:
    @tree.pytree
    @attrs.frozen
    class SignState:
        learning_rate: float

    def init(p: tree.PyTree) -> SignState:
        return SignState(0.05)

    def update(g: tree.PyTree, s: SignState, p: tree.PyTree) -> tuple[tree.PyTree, SignState]:
        return tree.tree_map(lambda a: -s.learning_rate * np.sign(a), g), s

    sign_sgd = optim.Optimizer(init, update)
    assert isinstance(sign_sgd.init(P), optim.HasLearningRate)
    assert optim.learning_rate(sign_sgd.init(P)) == 0.05
    both = optim.chain(optim.scale_by_adam(), sign_sgd)
    assert optim.learning_rate(both.init(P)) == 0.05


def test_schedules() -> None:
    s = optim.schedules
    assert s.constant(0.3)(100) == 0.3
    assert s.exponential_decay(1.0, 0.5, 10)(20) == pytest.approx(0.25)
    assert s.exponential_decay(1.0, 0.5, 10, staircase=True)(19) == pytest.approx(0.5)
    assert s.step_decay(1.0, 0.1, 5)(10) == pytest.approx(0.01)
    assert s.cosine_decay(2.0, 10, alpha=0.1)(10) == pytest.approx(0.2)
    assert s.cosine_decay(2.0, 10)(5) == pytest.approx(1.0)
    assert s.linear(1.0, 0.0, 4)(1) == pytest.approx(0.75)
    w = s.warmup(0.5, 10)
    assert [w(0), w(5), w(10), w(99)] == pytest.approx([0.0, 0.25, 0.5, 0.5])
    with pytest.raises(ValueError, match="transition_steps must be > 0"):
        s.exponential_decay(1.0, 0.5, 0)


def test_bad_hyperparameters_are_refused() -> None:
    with pytest.raises(ValueError, match="sgd: argument 'learning_rate'"):
        optim.sgd(-1.0)
    with pytest.raises(ValueError, match="adam: argument 'b1'"):
        optim.adam(0.1, b1=1.5)
    with pytest.raises(ValueError, match="momentum: argument 'beta'"):
        optim.momentum(0.1, np.array([0.5, math.nan]))
    with pytest.raises(ValueError, match="trace: argument 'decay'"):
        optim.trace(np.array([0.5, math.nan]))
    with pytest.raises(ValueError, match="scale_by_adam: argument 'b1'"):
        optim.scale_by_adam(b1=1.5)
    opt = optim.sgd(np.array([0.1, 0.2]))
    with pytest.raises(
        ValueError, match=r"per-model hyperparameter 'learning_rate' of shape \(2,\)"
    ):
        opt.init([np.ones((3, 2))])
    with pytest.raises(ValueError, match=r"per-model hyperparameter of shape \(2,\)"):
        opt.update([np.ones((3, 2))], (optim.LearningRateState(0, np.array([0.1, 0.2])),), None)


BAD_HYPERPARAMETERS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: optim.adam(0.1, b1=1.0),
        ValueError,
        r"adam: argument 'b1' must be in \[0, 1\)",
    ),
    (
        lambda: optim.adam(0.1, b2=1.0),
        ValueError,
        r"adam: argument 'b2' must be in \[0, 1\)",
    ),
    (lambda: optim.adam(0.1, eps=0.0), ValueError, "adam: argument 'eps' must be > 0"),
    (lambda: optim.sgd(True), TypeError, "sgd: argument 'learning_rate'.*bool"),
    (lambda: optim.sgd(math.nan), ValueError, "argument 'learning_rate' must be >= 0, got nan"),
    (lambda: optim.sgd(math.inf), ValueError, "argument 'learning_rate' must be >= 0, got inf"),
    (lambda: optim.sgd(np.array([0.1, -0.1])), ValueError, "'learning_rate' must be >= 0"),
    (lambda: optim.sgd(np.array([True])), TypeError, "'learning_rate' must be a real number"),
    (lambda: optim.sgd([0.1, 0.2]), TypeError, "a numpy array with one per stacked model"),  # type: ignore[arg-type]  # a list on purpose
    (lambda: optim.sgd(np.zeros(0)), ValueError, "'learning_rate' is an empty array"),
    (
        lambda: optim.momentum(0.1, -0.5),
        ValueError,
        r"momentum: argument 'beta' must be in \[0, 1\]",
    ),
    (lambda: optim.trace(0.9, nesterov=1), TypeError, "trace: argument 'nesterov'"),  # type: ignore[arg-type]  # an int on purpose
    (lambda: optim.rmsprop(0.1, decay=1.0), ValueError, "rmsprop: argument 'decay'"),
    (lambda: optim.adagrad(0.1, eps=-1.0), ValueError, "adagrad: argument 'eps'"),
    (lambda: optim.scale_by_adagrad(initial_accumulator_value=-1.0), ValueError, "initial_acc"),
    (lambda: optim.scale(math.inf), ValueError, "scale: argument 'factor' must be finite"),
    (lambda: optim.adamw(0.1, weight_decay=-1e-4), ValueError, "adamw: argument 'weight_decay'"),
    (lambda: optim.clip(-1.0), ValueError, "clip: argument 'max_delta' must be >= 0"),
    (lambda: optim.clip_by_global_norm(1.0), ValueError, "clip_by_global_norm: say which models"),
    (lambda: optim.clip_by_global_norm(1.0, True), TypeError, "'model_axes' must be an int"),
    (lambda: optim.clip_by_global_norm(np.ones(2), 2), ValueError, "match a per-model max_norm"),
    (lambda: optim.chain(), ValueError, "chain: needs at least one optimizer"),
    (lambda: optim.chain(optim.sgd(0.1), 0.1), TypeError, "chain: argument 1 must be"),  # type: ignore[arg-type]  # not an optimizer on purpose
    (lambda: optim.masked(0.1, True), TypeError, "masked: argument 'inner'"),  # type: ignore[arg-type]  # not an optimizer on purpose
    (lambda: optim.sgd(lambda step: -0.5), ValueError, "schedule returned -0.5 at step 0"),
    (
        lambda: optim.schedules.cosine_decay(-0.1, 10),
        ValueError,
        "cosine_decay: argument 'init_value'",
    ),
    (lambda: optim.schedules.exponential_decay(0.1, math.nan, 10), ValueError, "'decay_rate'"),
    (lambda: optim.schedules.step_decay(0.1, 0.5, 2.5), TypeError, "step_decay: argument 'every'"),  # type: ignore[arg-type]  # a float on purpose
    (lambda: optim.schedules.linear(0.1, -1.0, 10), ValueError, "linear: argument 'end_value'"),
    (lambda: optim.schedules.warmup(-0.1, 10), ValueError, "warmup: argument 'schedule'"),
    (lambda: optim.schedules.constant(True), TypeError, "constant: argument 'value'"),
    (lambda: optim.schedules.cosine_decay(0.1, 10, alpha=2.0), ValueError, "'alpha' must be in"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_HYPERPARAMETERS)
def test_each_bad_hyperparameter_gets_a_clear_error(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make()


def test_a_schedule_going_negative_or_nan_at_run_time_is_refused_naming_the_step() -> None:
    def going_bad(bad: float) -> optim.schedules.Schedule:
        return lambda step: 0.1 if step < 3 else bad

    for bad in (-0.1, math.nan, math.inf):
        opt = optim.sgd(going_bad(bad))
        state = opt.init(P)
        for _ in range(3):
            _, state = opt.update(G, state, P)
        with pytest.raises(ValueError, match=f"returned {bad} at step 3"):
            opt.update(G, state, P)


def test_update_structure_mismatch_is_reported() -> None:
    opt = optim.momentum(0.1)
    with pytest.raises(tree.TreeMismatchError, match=r"lift\(_momentum\).*from this optimizer"):
        opt.update([G], opt.init([P, P]), [P])  # a state made for other params
    with pytest.raises(tree.TreeMismatchError, match="do not match the grads"):
        opt.update(np.ones(3), opt.init(np.ones(2)), np.ones(3))  # one array of another shape
    with pytest.raises(tree.TreeMismatchError, match="trace.update: argument 'grads' has the str"):
        opt.update([G], opt.init([P, P]), [P, P])  # grads of another structure than params
    decay = optim.adamw(0.1)
    with pytest.raises(tree.TreeMismatchError, match="argument 'grads' has the structure"):
        decay.update([G], decay.init([G]), [P, P])  # params of another structure


def test_a_state_from_another_optimizer_is_refused() -> None:
    with pytest.raises(TypeError, match="scale_by_adam: the state must be the AdamState"):
        optim.adam(0.1).update(G, optim.momentum(0.1).init(P), P)
    with pytest.raises(TypeError, match="chain: the state must be the tuple of 3 states"):
        optim.adamw(0.1).update(G, optim.adam(0.1).init(P), P)
    with pytest.raises(TypeError, match="every leaf of params must be a floating numpy array"):
        optim.adam(0.1).init({"w": np.ones(2, int)})


def test_a_users_optimizer_is_two_functions() -> None:
    def init(p: tree.PyTree) -> tuple[()]:
        return ()

    def update(g: tree.PyTree, s: tuple[()], p: tree.PyTree) -> tuple[tree.PyTree, tuple[()]]:
        return tree.tree_map(lambda a: -0.05 * np.sign(a), g), s

    sign_sgd = optim.Optimizer(init, update)
    u, s = sign_sgd.update([G], sign_sgd.init([P]), [P])
    np.testing.assert_allclose(u[0], [-0.05, 0.05])
    assert not sign_sgd.per_leaf  # a user's optimizer makes no per-leaf promise by default
    assert not optim.chain(sign_sgd, optim.sgd(0.1)).per_leaf
    chained = optim.chain(sign_sgd, optim.scale(2.0))  # a user optimizer composes too
    u, _ = chained.update([G], chained.init([P]), [P])
    np.testing.assert_allclose(u[0], [-0.1, 0.1])
