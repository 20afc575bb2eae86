"""Every optimized path computes what the plain formulation computes.

The plain formulation is built from the public API without any fast path: ``serial`` of
``dense`` and activation layers (not the fused ``mlp``), an ``Optimizer(init, update)`` without the
leafwise record (so the train step goes through ``optimizer.update`` and ``apply_updates``), and
the structured params tree (not ``flat_params``). Losses and params must agree to 1e-12 in float64,
and float32 must stay float32 on every path.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from fnnet import data, layers, losses, optim, train, tree
from fnnet.arrays import Array
from fnnet.layers.dense import matmul, sum_examples

ACTS = {
    "sigmoid": layers.sigmoid,
    "tanh": layers.tanh,
    "relu": layers.relu,
    "identity": layers.identity,
}
SIZES = [2, 5, 4, 3]


def plain_net(hidden: layers.Layer[None, Array], output: layers.Layer[None, Array]) -> Any:
    parts: list[layers.Layer[Any, Any]] = []
    for i, size in enumerate(SIZES[1:]):
        parts += [layers.dense(size), output if i == len(SIZES) - 2 else hidden]
    return layers.serial(*parts)


def plain(opt: optim.Optimizer[Any]) -> optim.Optimizer[Any]:
    """The same optimizer without its leafwise fast path."""
    return optim.Optimizer(opt.init, opt.update)


def run_steps(model: Any, opt: optim.Optimizer[Any], params: Any, batch: Any, n: int) -> Any:
    step = train.make_step(model, losses.mse, opt)
    state = train.init_state(opt, params)
    values = []
    with np.errstate(over="ignore"):
        for _ in range(n):
            state, m = step(state, batch)
            values.append(m["loss"])
    return state, np.stack(values)


def xy(models: int | None, dtype: Any = np.float64) -> tuple[Array, Array]:
    rng = np.random.default_rng(1)
    lead = () if models is None else (models,)
    x = rng.normal(size=(*lead, 7, SIZES[0])).astype(dtype)
    y = rng.random((*lead, 7, SIZES[-1])).astype(dtype)
    return x, y


def init_both(models: int | None, dtype: Any = np.float64) -> tuple[Any, Any, Any]:
    """The fused mlp, its params (single or stacked), and the plain serial network."""
    net = layers.mlp(SIZES, hidden=layers.tanh, output=layers.sigmoid, dtype=dtype)
    if models is None:
        _, params = net.init(0, (SIZES[0],))
    else:
        _, params = layers.init_stack(net, list(range(models)), (SIZES[0],))
    return net, params, plain_net(layers.tanh, layers.sigmoid)


@pytest.mark.parametrize("hidden", list(ACTS))
@pytest.mark.parametrize("models", [None, 3])
@pytest.mark.parametrize("shared_x", [True, False])
def test_fused_mlp_equals_serial_composition(
    hidden: str, models: int | None, shared_x: bool
) -> None:
    net = layers.mlp(SIZES, hidden=ACTS[hidden], output=layers.sigmoid)
    ref = plain_net(ACTS[hidden], layers.sigmoid)
    assert net.name == ref.name
    keys = [0] if models is None else list(range(models))
    _, params = net.init(0, (2,)) if models is None else layers.init_stack(net, keys, (SIZES[0],))
    _, ref_params = (
        ref.init(0, (2,)) if models is None else layers.init_stack(ref, keys, (SIZES[0],))
    )
    for a, b in zip(tree.leaves(params), tree.leaves(ref_params), strict=True):
        np.testing.assert_array_equal(a, b)  # same keys, same numbers
    x, y = xy(None if shared_x else models)
    pred, res = net.forward(params, x)
    pred_ref, res_ref = ref.forward(params, x)
    np.testing.assert_allclose(pred, pred_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net.apply(params, x), pred_ref, rtol=1e-12, atol=1e-12)
    _, dy = losses.mse(pred, y)
    dy_before = dy.copy()
    grads, dx = net.backward(params, res, dy)
    grads_ref, dx_ref = ref.backward(params, res_ref, dy)
    np.testing.assert_array_equal(dy, dy_before)  # the caller's dy is never written
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert dx.shape == x.shape
    only = net.backward_params
    assert only is not None
    for g in (grads, only(params, res, dy)):
        assert tree.structure(g) == tree.structure(grads_ref)
        for a, b in zip(tree.leaves(g), tree.leaves(grads_ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("models", [None, 3])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: optim.sgd(0.5),
        lambda: optim.adam(0.05),
        lambda: optim.momentum(0.1, 0.9),
        lambda: optim.adamw(0.05, weight_decay=0.01),
        lambda: optim.chain(optim.clip(1.0), optim.rmsprop(0.01)),
    ],
)
def test_training_paths_agree(models: int | None, make_opt: Any) -> None:
    """fused mlp + leafwise optimizer, and the flat layout, vs serial + plain optimizer."""
    net, params, ref = init_both(models)
    batch = xy(None)
    opt = make_opt()
    ref_state, ref_losses = run_steps(ref, plain(opt), params, batch, 25)
    state, values = run_steps(net, opt, params, batch, 25)
    np.testing.assert_allclose(values, ref_losses, rtol=1e-12, atol=1e-12)
    for a, b in zip(tree.leaves(state.params), tree.leaves(ref_state.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    flat = layers.flat_params(net, (SIZES[0],))
    vector, layout = tree.ravel(params, 0 if models is None else 1)
    keys = [0] if models is None else list(range(models))
    _, flat_init = flat.init(0, (2,)) if models is None else layers.init_stack(flat, keys, (2,))
    np.testing.assert_array_equal(flat_init, vector)
    flat_state, flat_values = run_steps(flat, opt, vector, batch, 25)
    np.testing.assert_allclose(flat_values, ref_losses, rtol=1e-12, atol=1e-12)
    assert flat.unravel is not None
    for a, b in zip(
        tree.leaves(flat.unravel(flat_state.params)), tree.leaves(ref_state.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_per_model_learning_rates_on_every_path() -> None:
    net, params, ref = init_both(3)
    lr = np.array([0.1, 0.5, 1.0])
    batch = xy(None)
    ref_state, ref_values = run_steps(ref, plain(optim.sgd(lr)), params, batch, 10)
    state, values = run_steps(net, optim.sgd(lr), params, batch, 10)
    flat = layers.flat_params(net, (2,))
    flat_state, flat_values = run_steps(flat, optim.sgd(lr), tree.ravel(params, 1)[0], batch, 10)
    np.testing.assert_allclose(values, ref_values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(flat_values, ref_values, rtol=1e-12, atol=1e-12)
    assert values.shape == (10, 3)
    for single in range(3):  # each model of the stack trains as if alone
        alone, _ = run_steps(
            net, optim.sgd(float(lr[single])), tree.index(params, single), batch, 10
        )
        for a, b in zip(
            tree.leaves(alone.params), tree.leaves(tree.index(state.params, single)), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_generic_flat_params_of_any_layer() -> None:
    """flat_params of a layer without a specialised version (leaky_relu is not fused)."""
    net = layers.mlp(SIZES, hidden=layers.leaky_relu(0.1), output=layers.sigmoid)
    flat = layers.flat_params(net, (2,))
    assert flat.name.startswith("flat_params(")
    _, params = net.init(3, (2,))
    _, vector = flat.init(3, (2,))
    np.testing.assert_array_equal(vector, tree.ravel(params)[0])
    batch = xy(None)
    ref_state, ref_values = run_steps(net, plain(optim.adam(0.01)), params, batch, 10)
    state, values = run_steps(flat, optim.adam(0.01), vector, batch, 10)
    np.testing.assert_allclose(values, ref_values, rtol=1e-12, atol=1e-12)
    assert flat.unravel is not None
    back = flat.unravel(state.params)
    for a, b in zip(tree.leaves(back), tree.leaves(ref_state.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("use_flat", [False, True])
@pytest.mark.parametrize("models", [None, 2])
def test_float32_stays_float32(use_flat: bool, models: int | None) -> None:
    net, params, _ = init_both(models, np.float32)
    model: Any = layers.flat_params(net, (2,)) if use_flat else net
    if use_flat:
        params = tree.ravel(params, 0 if models is None else 1)[0]
    x, y = xy(None, np.float32)
    for opt in (optim.sgd(0.5), optim.adam(0.01), optim.momentum(0.1)):
        state, values = run_steps(model, opt, params, (x, y), 3)
        assert values.dtype == np.float32
        assert {a.dtype for a in tree.leaves(state.params)} == {np.dtype(np.float32)}
        moments = [a for a in tree.leaves(state.opt_state) if isinstance(a, np.ndarray)]
        assert all(a.dtype == np.float32 for a in moments)
        pred, res = model.forward(state.params, x)
        assert pred.dtype == np.float32
        assert all(
            g.dtype == np.float32 for g in tree.leaves(model.backward(state.params, res, pred))
        )


def test_a_step_mutates_nothing_the_caller_can_see() -> None:
    for use_flat in (False, True):
        net, params, _ = init_both(2)
        model: Any = layers.flat_params(net, (2,)) if use_flat else net
        if use_flat:
            params = tree.ravel(params, 1)[0]
        opt = optim.adam(0.05)
        x, y = xy(None)
        state = train.init_state(opt, params)
        step = train.make_step(model, losses.mse, opt)
        state, _ = step(state, (x, y))  # moments are non-zero from here on
        before = copy.deepcopy((state, x, y))
        pred, res = model.forward(state.params, x)
        residuals = copy.deepcopy(res)
        new, _ = step(state, (x, y))
        model.backward(state.params, res, pred)
        for a, b in zip(tree.leaves(before), tree.leaves((state, x, y)), strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(tree.leaves(residuals), tree.leaves(res), strict=True):
            np.testing.assert_array_equal(a, b)
        assert not any(
            np.shares_memory(a, b)
            for a in tree.leaves(new.params)
            for b in tree.leaves((state.params, state.opt_state))
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        )


@pytest.mark.parametrize("shape", [(7, 3), (4, 7, 3), (2, 4, 7, 1)])
def test_mse_and_half_mse_equal_their_definitions(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    n = shape[-1] * shape[-2]
    for loss, scale in ((losses.mse, 1.0), (losses.half_mse, 0.5)):
        value, grad = loss(pred, target)
        np.testing.assert_allclose(
            value, scale * ((pred - target) ** 2).mean(axis=(-1, -2)), rtol=1e-13
        )
        np.testing.assert_allclose(grad, 2 * scale * (pred - target) / n, rtol=1e-13)
        assert isinstance(value, np.ndarray) and value.shape == shape[:-2]
        v32, g32 = loss(pred.astype(np.float32), target.astype(np.float32))
        assert v32.dtype == np.float32 and g32.dtype == np.float32


def test_matmul_and_sum_examples_helpers() -> None:
    rng = np.random.default_rng(0)
    for a_shape, b_shape in (((5, 3), (3, 2)), ((4, 5, 3), (4, 3, 2)), ((5, 3), (4, 3, 2))):
        a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
        np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-13)
    for shape in ((6, 3), (2, 6, 3), (2, 2, 6, 3)):
        dy = rng.normal(size=shape)
        np.testing.assert_allclose(sum_examples(dy), dy.sum(axis=-2), rtol=1e-13)
        out = np.empty(shape[:-2] + shape[-1:])
        assert sum_examples(dy, out=out) is out
        assert sum_examples(dy.astype(np.float32)).dtype == np.float32


def test_ravel_round_trip_and_views() -> None:
    _, params = layers.mlp([3, 4, 2]).init(0, (3,))
    vector, layout = tree.ravel(params)
    assert vector.shape == (layout.size,) == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vector[:12], params[0].w.ravel())
    back = layout.unravel(vector)
    assert tree.structure(back) == tree.structure(params)
    assert all(np.shares_memory(a, vector) for a in tree.leaves(back))
    stacked, _ = tree.ravel(tree.stack([params, params]), model_axes=1)
    assert stacked.shape == (2, layout.size)
    assert layout.unravel(stacked)[2].w.shape == (2, 4, 2)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 26\)"):
        layout.unravel(np.zeros(29))
    with pytest.raises(TypeError, match="one dtype"):
        tree.ravel([np.zeros(2), np.zeros(2, np.float32)])


def test_fast_paths_keep_clear_errors() -> None:
    net = layers.mlp([2, 4, 1], hidden=layers.sigmoid)
    _, params = net.init(0, (2,))
    first = r"mlp \(first layer dense\(4\)\): argument 'x'"
    with pytest.raises(ValueError, match=first + " must have 2 features"):
        net.forward(params, np.zeros((5, 3)))
    with pytest.raises(TypeError, match=first + " has dtype float32"):
        net.forward(params, np.zeros((5, 2), np.float32))
    bad = (params[0], None, layers.DenseParams(np.zeros((3, 1)), np.zeros(1)), None)
    with pytest.raises(ValueError, match=r"mlp: params\[2\]\.w must have shape \(4, 1\)"):
        net.forward(bad, np.zeros((5, 2)))
    short = (params[0], None, layers.DenseParams(params[2].w, np.zeros(2)), None)
    with pytest.raises(ValueError, match=r"mlp: params\[2\]\.b must have shape \(1,\)"):
        net.forward(short, np.zeros((5, 2)))
    with pytest.raises(
        ValueError, match=r"mlp \(a serial of 4 layers\): argument 'params' must be"
    ):
        net.forward(params[:2], np.zeros((5, 2)))
    _, stacked = layers.init_stack(net, [0, 1], (2,))
    with pytest.raises(ValueError, match="model axes"):
        net.forward(stacked, np.zeros((3, 5, 2)))
    flat = layers.flat_params(net, (2,))
    with pytest.raises(ValueError, match=r"flat_params\(.*\): argument 'params' must be"):
        flat.forward(np.zeros(7), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="must have 2 features"):
        flat.forward(tree.ravel(params)[0], np.zeros((5, 3)))
    with pytest.raises(ValueError, match="input_shape must be"):
        layers.flat_params(net, (3,))


def test_lab_network_trains_the_same_on_every_path() -> None:
    """The README's lab run: fused default, flat layout and plain serial reach the same losses."""
    x, y = data.xor()
    net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    ref = layers.serial(
        layers.dense(4), layers.sigmoid, layers.dense(4), layers.sigmoid, layers.dense(1),
        layers.sigmoid,
    )  # fmt: skip
    _, params = net.init(0, (2,))
    results: list[train.FitResult[Any, Any]] = [
        train.fit(ref, losses.mse, plain(optim.sgd(1.0)), params, (x, y), epochs=300),
        train.fit(net, losses.mse, optim.sgd(1.0), params, (x, y), epochs=300),
        train.fit(
            layers.flat_params(net, (2,)), losses.mse, optim.sgd(1.0), tree.ravel(params)[0],
            (x, y), epochs=300,
        ),
    ]  # fmt: skip
    for r in results[1:]:
        np.testing.assert_allclose(r.history.loss, results[0].history.loss, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "hidden,output",
    [
        ("sigmoid", "sigmoid"),  # one shared derivative factor: computed in one pass
        ("tanh", "tanh"),
        ("relu", "relu"),
        ("relu", "identity"),  # mixed: per-layer derivatives
        ("identity", "identity"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_model_flat_mlp_folds_the_bias(hidden: str, output: str, dtype: Any) -> None:
    """One model on a shared batch takes the bias-folded path (transposed activations with a
    ones row): forward, apply, dparams and dx equal the serial composition's."""
    net = layers.mlp(SIZES, hidden=ACTS[hidden], output=ACTS[output], dtype=dtype)
    ref = plain_net(ACTS[hidden], ACTS[output])
    _, params = net.init(4, (SIZES[0],))
    flat = layers.flat_params(net, (SIZES[0],))
    vector = tree.ravel(params)[0]
    x, _ = xy(None, dtype)
    dy = np.random.default_rng(2).normal(size=(7, SIZES[-1])).astype(dtype)
    dy_before = dy.copy()
    y_ref, res_ref = ref.forward(params, x)
    g_ref, dx_ref = ref.backward(params, res_ref, dy)
    y, res = flat.forward(vector, x)
    g, dx = flat.backward(vector, res, dy)
    only = flat.backward_params
    assert only is not None
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(flat.apply(vector, x), y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(g, tree.ravel(g_ref)[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(only(vector, res, dy), g, rtol=0, atol=0)
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol)
    assert {y.dtype, g.dtype, dx.dtype} == {np.dtype(dtype)}
    np.testing.assert_array_equal(dy, dy_before)
    with pytest.raises(ValueError, match=r"argument 'dy' must have shape"):
        flat.backward(vector, res, dy[:3])


def test_quiet_floats_skips_only_redundant_errstates() -> None:
    """Fused sigmoids overflow e⁻ᶻ harmlessly: quiet outside ``quiet_floats`` (warnings are
    errors in this suite) and the same numbers inside it, where they skip their own errstate."""
    net = layers.mlp([2, 3, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    _, params = net.init(0, (2,))
    flat = layers.flat_params(net, (2,))
    vector = tree.ravel(params)[0]
    x = np.array([[-1e4, 1e4], [0.0, 1.0], [1e4, -1e4]])
    outside = [net.apply(params, x), flat.apply(vector, x), layers.sigmoid.apply(None, x)]
    assert not layers.base.is_quiet()
    with train.quiet_floats():
        assert layers.base.is_quiet()
        inside = [net.apply(params, x), flat.apply(vector, x), layers.sigmoid.apply(None, x)]
    assert not layers.base.is_quiet()
    for a, b in zip(outside, inside, strict=True):
        np.testing.assert_array_equal(a, b)
    assert layers.sigmoid.apply(None, x)[0, 0] == 0.0


@pytest.mark.parametrize("models", [None, 2])
@pytest.mark.parametrize(
    "make_opt,fresh",
    [
        (lambda: optim.sgd(0.5), True),
        (lambda: optim.momentum(0.1, 0.9), True),  # the learning-rate scale makes a new array
        (lambda: optim.adam(0.05), True),
        (lambda: optim.trace(0.9), False),  # the update is the trace kept in the state
        (lambda: optim.chain(optim.clip(1.0), optim.trace(0.5)), False),
    ],
)
def test_fresh_updates_are_added_in_place_invisibly(
    models: int | None, make_opt: Any, fresh: bool
) -> None:
    """When an optimizer's updates are fresh arrays the step adds the params into them; when
    they are kept in its state (a bare trace) it must not: either way the new params share no
    memory with the old params or any optimizer state, and nothing old changes."""
    opt = make_opt()
    assert opt.leafwise is not None
    assert opt.leafwise.fresh is fresh
    for use_flat in (False, True):
        net, params, _ = init_both(models)
        model: Any = layers.flat_params(net, (2,)) if use_flat else net
        if use_flat:
            params = tree.ravel(params, 0 if models is None else 1)[0]
        step = train.make_step(model, losses.mse, opt)
        state, _ = step(train.init_state(opt, params), xy(None))
        before = copy.deepcopy(state)
        new, _ = step(state, xy(None))
        for a, b in zip(tree.leaves(before), tree.leaves(state), strict=True):
            np.testing.assert_array_equal(a, b)
        arrays = [a for a in tree.leaves((state, new.opt_state)) if isinstance(a, np.ndarray)]
        assert not any(np.shares_memory(p, a) for p in tree.leaves(new.params) for a in arrays)
