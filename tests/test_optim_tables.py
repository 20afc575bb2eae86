"""Every optimizer in one table: the params' tree shape vs one flat array (``per_leaf``), a stack
of models vs each model alone, one bare array as params, and states shaped like the params."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fnnet import layers, optim, tree
from fnnet.optim import Hyper, Optimizer

H = Callable[[float], Hyper]
"""How a table entry gets a hyperparameter from its nominal value: a float, or a per-model array."""
Make = Callable[[H, int], Optimizer[Any]]

S = optim.schedules
TABLE: dict[str, Make] = {
    "scale": lambda h, axes: optim.scale(h(-0.5)),
    "scale_by_learning_rate": lambda h, axes: optim.scale_by_learning_rate(h(0.1)),
    "trace": lambda h, axes: optim.trace(h(0.9)),
    "trace nesterov": lambda h, axes: optim.trace(h(0.9), nesterov=True),
    "scale_by_adagrad": lambda h, axes: optim.scale_by_adagrad(h(1e-3), 0.1),
    "scale_by_rms": lambda h, axes: optim.scale_by_rms(h(0.9), h(1e-3)),
    "scale_by_adam": lambda h, axes: optim.scale_by_adam(h(0.9), h(0.99), h(1e-3)),
    "add_decayed_weights": lambda h, axes: optim.add_decayed_weights(h(0.1)),
    "clip": lambda h, axes: optim.clip(h(0.3)),
    "clip_by_global_norm": lambda h, axes: optim.clip_by_global_norm(h(1.0), axes),
    "set_to_zero": lambda h, axes: optim.set_to_zero(),
    "sgd": lambda h, axes: optim.sgd(h(0.1)),
    "sgd on a schedule": lambda h, axes: optim.sgd(S.warmup(S.cosine_decay(0.1, 50), 5)),
    "momentum": lambda h, axes: optim.momentum(h(0.1), h(0.9)),
    "nesterov": lambda h, axes: optim.nesterov(h(0.1), h(0.9)),
    "adagrad": lambda h, axes: optim.adagrad(h(0.1), h(1e-3)),
    "rmsprop": lambda h, axes: optim.rmsprop(h(0.1), h(0.9), h(1e-3)),
    "adam": lambda h, axes: optim.adam(h(0.1), h(0.9), h(0.99), h(1e-3)),
    "adamw": lambda h, axes: optim.adamw(h(0.1), h(0.9), h(0.99), h(1e-3), h(0.01)),
    "clipped adam": lambda h, axes: optim.chain(
        optim.clip_by_global_norm(h(1.0), axes), optim.adam(h(0.1))
    ),
}
SCALES = (1.0, 0.5, 0.8)  # model i of a stack gets the nominal value times SCALES[i]
STEPS = 66  # past one subnormal flush (every 64 steps)


def as_is(v: float) -> Hyper:
    return v


def per_model_array(v: float) -> Hyper:
    return np.array([v * s for s in SCALES])


def model_value(i: int) -> H:
    return lambda v: v * SCALES[i]


def mlp_params(models: tuple[int, ...], dtype: Any, seed: int) -> Any:
    """An mlp params tuple (dense, None, dense, None), with leading model axes ``models``."""
    _, p = layers.mlp([3, 4, 2], hidden=layers.tanh, output=layers.identity).init(seed, (3,))
    rng = np.random.default_rng(seed)
    return tree.tree_map(lambda x: rng.normal(size=models + x.shape).astype(dtype), p)


def run(opt: Optimizer[Any], params: Any, grads: list[Any]) -> tuple[Any, Any]:
    """``STEPS`` steps; returns the last updates and the final params."""
    state = opt.init(params)
    updates = None
    for g in grads:
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
    return updates, params


def flat(t: Any, model_axes: int) -> Any:
    """The leaves of ``t`` concatenated into one array (model axes kept)."""
    xs = tree.leaves(t)
    lead = np.shape(xs[0])[:model_axes]
    return np.concatenate([np.reshape(x, lead + (-1,)) for x in xs], axis=-1)


def grads_like(params: Any, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    dead = rng.random(size=len(tree.leaves(params))) < 0.3  # some leaves get zero gradients
    out = []
    for _ in range(STEPS):
        xs, treedef = tree.flatten(params)
        out.append(
            tree.unflatten(
                treedef,
                [
                    (0.0 if d else 1.0) * rng.normal(size=x.shape).astype(x.dtype)
                    for x, d in zip(xs, dead, strict=True)
                ],
            )
        )
    return out


@pytest.mark.parametrize("name", list(TABLE))
@pytest.mark.parametrize("models", [(), (3,)], ids=["one model", "stack of 3"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_per_leaf_optimizer_gives_the_same_numbers_on_one_flat_array(
    name: str, models: tuple[int, ...], dtype: Any
) -> None:
    axes = len(models)
    h = per_model_array if models else as_is
    opt = TABLE[name](h, axes)
    assert opt.per_leaf
    params = mlp_params(models, dtype, 0)
    grads = grads_like(params, 1)
    u_tree, p_tree = run(opt, params, grads)
    u_flat, p_flat = run(TABLE[name](h, axes), flat(params, axes), [flat(g, axes) for g in grads])
    assert u_flat.dtype == dtype and p_flat.dtype == dtype
    assert all(u.dtype == dtype for u in tree.leaves(u_tree))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(flat(u_tree, axes), u_flat, rtol=tol, atol=tol)
    np.testing.assert_allclose(flat(p_tree, axes), p_flat, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(TABLE))
@pytest.mark.parametrize("per_model", [False, True], ids=["shared hyperparameters", "per model"])
def test_a_stack_of_3_equals_each_model_alone(name: str, per_model: bool) -> None:
    params = mlp_params((3,), np.float64, 2)
    grads = grads_like(params, 3)
    u_stack, p_stack = run(TABLE[name](per_model_array if per_model else as_is, 1), params, grads)
    for i in range(3):
        alone = TABLE[name](model_value(i) if per_model else as_is, 0)
        u_i, p_i = run(alone, tree.index(params, i), [tree.index(g, i) for g in grads])
        for a, b in zip(tree.leaves(p_i), tree.leaves(tree.index(p_stack, i)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)
        for a, b in zip(tree.leaves(u_i), tree.leaves(tree.index(u_stack, i)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)


def _sign_sgd() -> Optimizer[tuple[()]]:
    def init(p: tree.PyTree) -> tuple[()]:
        return ()

    def update(g: tree.PyTree, s: tuple[()], p: tree.PyTree) -> tuple[tree.PyTree, tuple[()]]:
        return tree.tree_map(lambda a: -0.05 * np.sign(a), g), s

    return Optimizer(init, update)


def _single(make: Make) -> Callable[[], Optimizer[Any]]:
    return lambda: make(as_is, 0)


EVERY: dict[str, Callable[[], Optimizer[Any]]] = {
    **{name: _single(make) for name, make in TABLE.items()},
    "masked": lambda: optim.masked(optim.adam(0.1), True),
    "masked out": lambda: optim.masked(optim.adam(0.1), False),
    "freeze": lambda: optim.chain(optim.sgd(0.1), optim.freeze(lambda p: True)),
    "a user's optimizer": _sign_sgd,
}


@pytest.mark.parametrize("name", list(EVERY))
def test_every_optimizer_runs_on_one_bare_array(name: str) -> None:
    """One array is a tree of one leaf: the same numbers as the list holding it."""
    p = np.linspace(-1.0, 1.0, 7)
    grads = [np.sin(np.arange(7.0) + t) for t in range(STEPS)]
    u_bare, p_bare = run(EVERY[name](), p, grads)
    u_list, p_list = run(EVERY[name](), [p], [[g] for g in grads])
    assert type(u_bare) is np.ndarray and type(p_bare) is np.ndarray
    np.testing.assert_array_equal(u_bare, u_list[0])
    np.testing.assert_array_equal(p_bare, p_list[0])


def test_per_leaf_is_promised_by_transforms_and_their_chains_only() -> None:
    assert all(make(as_is, 0).per_leaf for make in TABLE.values())
    assert not optim.masked(optim.sgd(0.1), True).per_leaf
    assert not optim.freeze(True).per_leaf
    assert not optim.chain(optim.adam(0.1), optim.freeze(True)).per_leaf
    assert not _sign_sgd().per_leaf


def test_states_have_the_params_tree_shape() -> None:
    params = mlp_params((), np.float64, 0)  # (dense, None, dense, None)
    adam_state = optim.adam(0.1).init(params)[0]
    assert adam_state.mu[2].w.shape == params[2].w.shape and adam_state.mu[1] is None
    assert adam_state.root_nu[0].b.shape == params[0].b.shape
    assert optim.momentum(0.1).init(params)[0].trace[2].b.shape == params[2].b.shape
    assert optim.rmsprop(0.1).init(params)[0].rms[0].w.shape == params[0].w.shape
    assert optim.adagrad(0.1).init(params)[0].root_sum_of_squares[2].w.shape == (4, 2)
    masked = optim.masked(optim.momentum(0.1), (True, None, False, None)).init(params)
    assert masked.inner[0].trace[0].w.shape == (3, 4) and masked.inner[0].trace[2].w is None
    hypers = optim.adam(np.array([0.1, 0.2]), b1=np.array([0.9, 0.8])).init(
        mlp_params((2,), np.float64, 0)
    )
    assert hypers[0].b1.tolist() == [0.9, 0.8] and hypers[1].learning_rate.tolist() == [0.1, 0.2]
    assert not hypers[0].b1.flags.writeable  # a caller's later write cannot change the run
