"""Normalization layers: naive loop implementations, finite differences on random and stacked
shapes (batch norm in training and evaluation mode), running statistics as explicit state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, io, layers, losses, tree
from fnnet.arrays import Array
from fnnet.layers import state
from fnnet.layers.normalization import (
    BatchNormState,
    NormParams,
    batch_norm,
    group_norm,
    layer_norm,
    per_channel,
    standardize,
    standardize_backward,
)

EPS = 1e-5

# --- naive loops: one model, one example, one channel (or group) at a time --------------------


def naive_layer_norm(p: NormParams, x: Array) -> Array:
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):  # every example (and pixel)
        v = x[idx]
        y[idx] = (v - v.mean()) / np.sqrt(v.var() + EPS) * p.scale + p.shift
    return y


def naive_group_norm(p: NormParams, x: Array, groups: int) -> Array:
    """``x (N, [H, W,] C)``."""
    y = np.empty_like(x)
    size = x.shape[-1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            part = x[n, ..., g * size : (g + 1) * size]
            out = (part - part.mean()) / np.sqrt(part.var() + EPS)
            y[n, ..., g * size : (g + 1) * size] = out * p.scale[g * size : (g + 1) * size]
            y[n, ..., g * size : (g + 1) * size] += p.shift[g * size : (g + 1) * size]
    return y


def naive_batch_norm(
    p: NormParams, s: BatchNormState, x: Array, momentum: float
) -> tuple[Array, Array, BatchNormState]:
    """Training output, evaluation output (with the given state), updated state."""
    y, y_eval = np.empty_like(x), np.empty_like(x)
    mean, var = s.mean.copy(), s.var.copy()
    for c in range(x.shape[-1]):
        v = x[..., c]
        y[..., c] = (v - v.mean()) / np.sqrt(v.var() + EPS) * p.scale[c] + p.shift[c]
        y_eval[..., c] = (v - s.mean[c]) / np.sqrt(s.var[c] + EPS) * p.scale[c] + p.shift[c]
        mean[c] = momentum * s.mean[c] + (1 - momentum) * v.mean()
        var[c] = momentum * s.var[c] + (1 - momentum) * v.var(ddof=1)
    return y, y_eval, BatchNormState(mean, var)


def random_params(p: Any, key: int) -> Any:
    rng = np.random.default_rng(key)
    return tree.tree_map(lambda a: a + rng.normal(size=a.shape) * 0.5, p)


def random_state(p: NormParams, key: int) -> BatchNormState:
    rng = np.random.default_rng(key + 1)
    return BatchNormState(rng.normal(size=p.scale.shape), rng.uniform(0.5, 2, p.scale.shape))


def example_shape(image: bool, c: int) -> tuple[int, ...]:
    return (3, 2, c) if image else (c,)


# --- naive equality ------------------------------------------------------------------------------


@pytest.mark.parametrize("image", [False, True])
def test_layer_norm_matches_naive_loop(image: bool) -> None:
    layer = layer_norm()
    p = random_params(layer.init(0, example_shape(image, 4))[1], 1)
    x = np.random.default_rng(2).normal(3, 2, (5, *example_shape(image, 4)))
    np.testing.assert_allclose(layer.apply(p, x), naive_layer_norm(p, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm_matches_naive_loop(image: bool, groups: int) -> None:
    layer = group_norm(groups)
    p = random_params(layer.init(0, example_shape(image, 6))[1], 1)
    x = np.random.default_rng(2).normal(3, 2, (5, *example_shape(image, 6)))
    want = naive_group_norm(p, x, groups)
    np.testing.assert_allclose(layer.apply(p, x), want, rtol=1e-12, atol=1e-12)


def test_group_norm_with_one_group_on_dense_inputs_is_layer_norm() -> None:
    p = random_params(layer_norm().init(0, (5,))[1], 3)
    x = np.random.default_rng(4).normal(size=(7, 5))
    np.testing.assert_allclose(group_norm(1).apply(p, x), layer_norm().apply(p, x), atol=1e-14)


@pytest.mark.parametrize("image", [False, True])
def test_batch_norm_matches_naive_loop_in_training_and_evaluation(image: bool) -> None:
    bn = batch_norm(momentum=0.8)
    _, p, _ = state.init(bn, 0, example_shape(image, 3))
    p, s = random_params(p, 1), random_state(p, 1)
    x = np.random.default_rng(2).normal(5, 3, (6, *example_shape(image, 3)))
    y, _, new = state.forward(bn, p, s, x)
    want_y, want_eval, want_state = naive_batch_norm(p, s, x, 0.8)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn.forward(p, x)[0], want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new.mean, want_state.mean, rtol=1e-12)
    np.testing.assert_allclose(new.var, want_state.var, rtol=1e-12)
    np.testing.assert_allclose(state.apply(bn, p, s, x), want_eval, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state.freeze(bn, s).apply(p, x), want_eval, rtol=1e-12)


@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("models", [(), (3,)])
@pytest.mark.parametrize("shared", [False, True])
def test_batch_norm_equals_the_shared_standardize_formulas(
    image: bool, models: tuple[int, ...], shared: bool
) -> None:
    """Batch norm's own forward and backward (per-channel sums, the simplified dx) give the
    numbers of the general ``standardize``/``standardize_backward`` over the same axes."""
    c = 4
    _, p, _ = state.init_stack(batch_norm(), list(range(models[0] if models else 1)), (c,))
    p = random_params(p if models else tree.index(p, 0), 5)
    rng = np.random.default_rng(6)
    x = rng.normal(2, 3, (*(() if shared else models), 5, *example_shape(image, c)))
    y, r = batch_norm().forward(p, x)
    rank = 4 if image else 2
    axes = tuple(range(-rank, -1))
    xhat, inv, _, _ = standardize(x, axes, EPS)
    want_y = xhat * per_channel(p.scale, rank) + per_channel(p.shift, rank)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    dp, dx = batch_norm().backward(p, r, dy)
    want_dx = standardize_backward(dy * per_channel(p.scale, rank), xhat, inv, axes)
    if shared and models:
        want_dx = want_dx.sum(axis=0)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dp.scale, np.sum(dy * xhat, axis=axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dp.shift, np.sum(dy, axis=axes), rtol=1e-12, atol=1e-12)


# --- finite differences: random shapes, stacks of 3, shared inputs ------------------------------

LAYERS = {
    "layer_norm": lambda c: layer_norm(),
    "group_norm": lambda c: group_norm(2 if c % 2 == 0 else 1),
    "batch_norm": lambda c: batch_norm(),
    "batch_norm_eval": lambda c: batch_norm(),
}

cases = st.tuples(
    st.sampled_from([(), (3,)]),  # model axes: one model or a stack of 3
    st.integers(2, 5),  # examples
    st.sampled_from([1, 2, 4]),  # channels
    st.booleans(),  # images (N, H, W, C) or dense (N, F)
    st.booleans(),  # x shared by the models of a stack
    st.integers(0, 2**16),  # key
)


def _setup(name: str, case: tuple[Any, ...]) -> tuple[Any, Any, Array, Any]:
    """``(layer, params, x, model_layer)``: ``model_layer(i)`` is model ``i``'s layer alone."""
    models, n, c, image, shared, key = case
    layer = LAYERS[name](c)
    keys = list(range(models[0])) if models else [key]
    _, p, s = state.init_stack(layer, keys, example_shape(image, c))
    if not models:
        p, s = tree.index(p, 0), None if s is None else tree.index(s, 0)
    p = random_params(p, key)
    per_model = lambda i: layer  # noqa: E731
    if name == "batch_norm_eval":
        frozen = random_state(p, key)
        bn = layer
        layer = state.freeze(bn, frozen)
        per_model = lambda i: state.freeze(bn, tree.index(frozen, i))  # noqa: E731
    lead = () if shared else models
    x_shape = (*lead, n, *example_shape(image, c))
    x = np.random.default_rng(key).normal(2, 3, x_shape)
    return layer, p, x, per_model


@pytest.mark.parametrize("name", list(LAYERS))
@settings(max_examples=12, deadline=None)
@given(case=cases)
def test_gradients_on_random_and_stacked_shapes(name: str, case: tuple[Any, ...]) -> None:
    layer, p, x, _ = _setup(name, case)
    result = check.check_layer(layer, p, x, key=case[-1])
    assert result.ok, str(result)


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_stack_of_three_equals_three_separate_calls(name: str, image: bool, shared: bool) -> None:
    layer, p, x, per_model = _setup(name, ((3,), 4, 4, image, shared, 5))
    y, r = layer.forward(p, x)
    dy = np.random.default_rng(6).normal(size=y.shape)
    dp, dx = layer.backward(p, r, dy)
    dx_sum = np.zeros(x.shape[-x.ndim + (0 if shared else 1) :])
    for i in range(3):
        xi = x if shared else x[i]
        yi, ri = per_model(i).forward(tree.index(p, i), xi)
        dpi, dxi = per_model(i).backward(tree.index(p, i), ri, dy[i])
        np.testing.assert_allclose(y[i], yi, rtol=1e-12, atol=1e-12)
        for a, b in zip(tree.leaves(tree.index(dp, i)), tree.leaves(dpi), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        if shared:
            dx_sum = dx_sum + dxi
        else:
            np.testing.assert_allclose(dx[i], dxi, rtol=1e-12, atol=1e-12)
    if shared:  # a shared input's gradient is the sum over the models
        np.testing.assert_allclose(dx, dx_sum, rtol=1e-12, atol=1e-12)


def test_a_stack_keeps_per_model_running_statistics() -> None:
    bn = batch_norm(momentum=0.0)  # the new state is the batch's statistics
    _, p, s = state.init_stack(bn, [0, 1, 2], (2,))
    x = np.random.default_rng(0).normal(size=(3, 50, 2)) * np.array([1, 2, 3])[:, None, None]
    _, _, new = state.forward(bn, p, s, x + np.array([10.0, 20.0, 30.0])[:, None, None])
    np.testing.assert_allclose(new.mean, np.mean(x, axis=1) + [[10], [20], [30]], rtol=1e-12)
    np.testing.assert_allclose(new.var, np.var(x, axis=1, ddof=1), rtol=1e-12)
    for i in range(3):  # model i alone gives model i's statistics
        _, _, alone = state.forward(bn, tree.index(p, i), tree.index(s, i), x[i] + 10.0 * (i + 1))
        np.testing.assert_allclose(alone.mean, new.mean[i], rtol=1e-12)


def test_shared_input_updates_every_models_statistics_alike() -> None:
    bn = batch_norm(momentum=0.5)
    _, p, s = state.init_stack(bn, [0, 1, 2], (3, 3, 2))
    x = np.random.default_rng(1).normal(4, 2, (5, 3, 3, 2))
    y, _, new = state.forward(bn, p, s, x)
    assert y.shape == (3, 5, 3, 3, 2) and new.mean.shape == (3, 2)
    np.testing.assert_allclose(new.mean, np.broadcast_to(0.5 * x.mean(axis=(0, 1, 2)), (3, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_forward_backward_and_state(dtype: Any) -> None:
    for layer in (layer_norm(dtype=dtype), group_norm(2, dtype=dtype), batch_norm(dtype=dtype)):
        _, p, s = state.init(layer, 0, (4, 4, 2))
        x = np.ones((3, 4, 4, 2), dtype) + np.arange(2, dtype=dtype)
        y, r, s2 = state.forward(layer, p, s, x)
        dp, dx = layer.backward(p, r, y)
        assert y.dtype == dx.dtype == dp.scale.dtype == dtype
        if s2 is not None:
            assert s2.mean.dtype == s2.var.dtype == dtype
            assert state.apply(layer, p, s2, x).dtype == dtype


# --- state in a training loop --------------------------------------------------------------------


def _train(
    net: Any, params: Any, st: Any, x: Array, y: Array, steps: int, lr: float
) -> tuple[Any, Any]:
    """The fold ``fit`` runs, with the state threaded: forward with state, loss, backward,
    update; the new state goes to the next step, the gradient never touches it."""
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.choice(x.shape[-2], 32, replace=False)
        pred, res, st = state.forward(net, params, st, x[..., idx, :])
        _, dpred = losses.mse(pred, y[..., idx, :])
        grads = net.backward(params, res, dpred)[0]
        params = tree.tree_map(lambda p, g: p - lr * g, params, grads)
    return params, st


def _bn_net() -> Any:
    parts: list[layers.Layer[Any, Any]] = [batch_norm(), layers.dense(1)]
    return state.attach(layers.serial(*parts), state.compose(parts))


def test_evaluation_uses_the_running_statistics_not_the_batchs() -> None:
    net = _bn_net()
    _, params, st = state.init(net, 0, (1,))
    x = np.random.default_rng(1).normal(5.0, 3.0, (2000, 1))  # mean 5, std 3
    params, st = _train(net, params, st, x, 2 * x + 1, steps=400, lr=0.05)
    assert abs(float(st[0].mean[0]) - 5.0) < 0.3 and abs(float(st[0].var[0]) - 9.0) < 1.0
    seen = np.random.default_rng(2).normal(5.0, 3.0, (64, 1))
    np.testing.assert_allclose(
        state.apply(net, params, st, seen), 2 * seen + 1, rtol=0.15, atol=1.0
    )
    new = np.random.default_rng(2).normal(20.0, 1.0, (64, 1))  # far from the training inputs
    y_eval = state.apply(net, params, st, new)
    bn_p, dense_p = params
    by_running = (new - st[0].mean) / np.sqrt(st[0].var + EPS) * bn_p.scale + bn_p.shift
    np.testing.assert_allclose(y_eval, layers.dense(1).apply(dense_p, by_running), rtol=1e-12)
    by_batch = net.forward(params, new)[0]  # training mode: the batch's own statistics
    assert np.abs(by_batch - y_eval).min() > 10.0


def test_a_stack_of_three_trains_with_its_own_statistics() -> None:
    net = _bn_net()
    _, params, st = state.init_stack(net, [0, 1, 2], (1,))
    centers = np.array([-4.0, 0.0, 6.0])[:, None, None]
    x = np.random.default_rng(3).normal(size=(3, 500, 1)) + centers
    params, st = _train(net, params, st, x, 3 * x, steps=150, lr=0.05)
    np.testing.assert_allclose(st[0].mean[:, 0], centers.ravel(), atol=0.3)
    assert st[1] is None  # the dense layer has no state


def test_state_is_a_pytree_that_io_saves_and_loads(tmp_path: Any) -> None:
    net = _bn_net()
    _, params, st = state.init_stack(net, [0, 1], (3,))
    _, _, st = state.forward(net, params, st, np.ones((2, 4, 3)) * np.arange(4)[:, None])
    io.save(tmp_path / "state.npz", st)
    back = io.load(tmp_path / "state.npz", st)
    for a, b in zip(tree.leaves(back), tree.leaves(st), strict=True):
        np.testing.assert_array_equal(a, b)


# --- errors ---------------------------------------------------------------------------------------


def test_plain_apply_of_a_stateful_layer_asks_for_the_state() -> None:
    bn = batch_norm()
    _, p = bn.init(0, (2,))
    with pytest.raises(TypeError, match=r"batch_norm: this layer has state .*state\.apply"):
        bn.apply(p, np.ones((3, 2)))
    with pytest.raises(ValueError, match="'state' is None"):
        state.apply(bn, p, None, np.ones((3, 2)))


@pytest.mark.parametrize(
    ("models", "x", "message"),
    [
        (1, np.ones((3, 5)), r"layer_norm: argument 'x' must have shape \(\.\.\., N, 4\)"),
        (1, np.ones((3, 4), np.float32), "dtype float32 but the params are float64"),
        (1, [[1.0, 2.0, 3.0, 4.0]], "must be a floating numpy array, got list"),
        (2, np.ones((3, 7, 4)), r"\(3, 7, 4\) must carry the params' model axes \(2,\) or none"),
    ],
)
def test_bad_inputs_get_clear_errors(models: int, x: Any, message: str) -> None:
    _, p = layers.init_stack(layer_norm(), list(range(models)), (4,))
    p = tree.index(p, 0) if models == 1 else p
    with pytest.raises((ValueError, TypeError), match=message):
        layer_norm().forward(p, x)


def test_batch_norm_training_needs_two_values_per_channel() -> None:
    bn = batch_norm()
    _, p, s = state.init(bn, 0, (4,))
    with pytest.raises(ValueError, match="more than one value per channel"):
        state.forward(bn, p, s, np.ones((1, 4)))


def test_bad_arguments_and_state_are_refused() -> None:
    with pytest.raises(ValueError, match="group_norm: argument 'groups'"):
        group_norm(0)
    with pytest.raises(ValueError, match="batch_norm: argument 'momentum'"):
        batch_norm(momentum=1.0)
    with pytest.raises(ValueError, match="layer_norm: argument 'eps'"):
        layer_norm(eps=0.0)
    with pytest.raises(ValueError, match=r"input_shape must be \(features,\) or \(H, W, C\)"):
        layer_norm().init(0, (3, 3))
    with pytest.raises(ValueError, match="group_norm: 4 channels do not split into 3 groups"):
        group_norm(3).init(0, (4,))
    bn = batch_norm()
    _, p, s = state.init(bn, 0, (2,))
    with pytest.raises(ValueError, match=r"'state' must be a BatchNormState .* got mean \(3,\)"):
        state.forward(bn, p, BatchNormState(np.zeros(3), np.ones(3)), np.ones((4, 2)))
