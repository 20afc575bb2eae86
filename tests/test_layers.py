"""Layers: finite-difference checks (random shapes, stacked models), stack equivalence, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, layers, tree
from fnnet.arrays import Array
from fnnet.layers import Layer, spec

ACTIVATIONS: dict[str, Layer[None, Any]] = {
    "identity": layers.identity,
    "sigmoid": layers.sigmoid,
    "tanh": layers.tanh,
    "relu": layers.relu,
    "leaky_relu": layers.leaky_relu(0.1),
    "elu": layers.elu(0.7),
    "softplus": layers.softplus,
    "softmax": layers.softmax,
}

shapes = st.tuples(
    st.sampled_from([(), (2,), (3,)]),  # leading model axes
    st.integers(1, 5),  # examples
    st.integers(1, 5),  # features in
    st.integers(1, 4),  # features out
    st.integers(0, 2**16),  # key
)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=12, deadline=None)
@given(shape=shapes)
def test_activation_gradients(name: str, shape: tuple[tuple[int, ...], int, int, int, int]) -> None:
    models, n, f, _, key = shape
    x = np.random.default_rng(key).normal(size=(*models, n, f)) * 2
    result = check.check_layer(ACTIVATIONS[name], None, x, key=key)
    assert result.ok, str(result)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, shared_input=st.booleans())
def test_dense_gradients_random_and_stacked_shapes(
    shape: tuple[tuple[int, ...], int, int, int, int], shared_input: bool
) -> None:
    models, n, f_in, f_out, key = shape
    layer = layers.dense(f_out)
    if models:
        _, params = layers.init_stack(layer, list(range(models[0])), (f_in,))
    else:
        _, params = layer.init(key, (f_in,))
    params = tree.tree_map(lambda a: a + 0.1, params)  # non-zero bias
    x_shape = (n, f_in) if shared_input else (*models, n, f_in)
    x = np.random.default_rng(key).normal(size=x_shape)
    result = check.check_layer(layer, params, x, key=key)
    assert result.ok, str(result)


@pytest.mark.parametrize("models", [(), (3,)])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_whole_mlp_with_loss(models: tuple[int, ...], hidden: str) -> None:
    from fnnet import losses

    net = layers.mlp([3, 5, 4, 2], hidden=ACTIVATIONS[hidden], output=layers.sigmoid)
    if models:
        _, params = layers.init_stack(net, [1, 2, 3], (3,))
    else:
        _, params = net.init(1, (3,))
    rng = np.random.default_rng(0)
    # random biases: with zero biases a dead ReLU unit feeds exact zeros to the next layer, a kink
    params = tree.tree_map(lambda a: a + rng.normal(scale=0.3, size=a.shape), params)
    x = rng.normal(size=(7, 3))
    y = rng.uniform(size=(*models, 7, 2))
    result = check.check_model(net, losses.mse, params, x, y)
    assert result.ok, str(result)
    assert result.checked == tree.size(params)
    assert check.check_layer(net, params, x).ok


def test_mlp_is_exactly_a_serial_of_dense_and_activations() -> None:
    net = layers.mlp([3, 5, 2], hidden=layers.tanh, output=layers.softmax)
    ref = layers.serial(
        layers.dense(5, in_features=3), layers.tanh, layers.dense(2), layers.softmax
    )
    assert net.name == ref.name == "serial(dense(5), tanh, dense(2), softmax)"
    assert net.spec == ref.spec
    assert net.spec == spec.SerialSpec(
        (
            spec.DenseSpec(5, 3, np.dtype(np.float64)),
            spec.ActivationSpec("tanh"),
            spec.DenseSpec(2, None, np.dtype(np.float64)),
            spec.ActivationSpec("softmax"),
        )
    )
    _, params = net.init(4, (3,))
    _, ref_params = ref.init(4, (3,))
    for a, b in zip(tree.leaves(params), tree.leaves(ref_params), strict=True):
        np.testing.assert_array_equal(a, b)  # the same keys give the same numbers
    x = np.random.default_rng(1).normal(size=(5, 3))
    y, res = net.forward(params, x)
    y_ref, res_ref = ref.forward(params, x)
    np.testing.assert_array_equal(y, y_ref)
    grads, dx = net.backward(params, res, np.ones_like(y))
    grads_ref, dx_ref = ref.backward(params, res_ref, np.ones_like(y))
    np.testing.assert_array_equal(dx, dx_ref)
    for a, b in zip(tree.leaves(grads), tree.leaves(grads_ref), strict=True):
        np.testing.assert_array_equal(a, b)


def test_specs_describe_layers_and_users_layers_have_none() -> None:
    assert layers.leaky_relu(0.2).spec == spec.ActivationSpec("leaky_relu", 0.2)
    assert layers.elu().spec == spec.ActivationSpec("elu", 1.0)
    assert layers.dense(3, dtype=np.float32).spec == spec.DenseSpec(3, None, np.dtype(np.float32))
    assert layers.serial(layers.dense(2), layers.dropout(0.5)).spec == spec.SerialSpec(
        (spec.DenseSpec(2, None, np.dtype(np.float64)), None)
    )
    user = layers.Layer(lambda k, s: (s, None), lambda p, x: (x, None),
                        lambda p, r, dy: (None, dy), lambda p, x: x)  # fmt: skip
    assert user.spec is None
    with pytest.raises(ValueError, match="must be in"):
        spec.ActivationSpec("swish")


def _stack_equivalence(layer: Layer[Any, Any], input_shape: tuple[int, ...], n: int) -> None:
    keys = [0, 1, 2]
    _, stacked = layers.init_stack(layer, keys, input_shape)
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(3, n, *input_shape))
    ys, res = layer.forward(stacked, xs)
    dys = rng.normal(size=ys.shape)
    grads, dxs = layer.backward(stacked, res, dys)
    np.testing.assert_allclose(layer.apply(stacked, xs), ys, rtol=1e-12)
    for i, key in enumerate(keys):
        _, p = layer.init(key, input_shape)
        for a, b in zip(tree.leaves(p), tree.leaves(tree.index(stacked, i)), strict=True):
            np.testing.assert_array_equal(a, b)
        y, r = layer.forward(p, xs[i])
        np.testing.assert_allclose(ys[i], y, rtol=1e-12, atol=1e-15)
        g, dx = layer.backward(p, r, dys[i])
        np.testing.assert_allclose(dxs[i], dx, rtol=1e-12, atol=1e-15)
        for a, b in zip(tree.leaves(tree.index(grads, i)), tree.leaves(g), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "layer",
    [
        layers.dense(3),
        *ACTIVATIONS.values(),
        layers.mlp([4, 3, 2], hidden=layers.tanh, output=layers.softmax),
    ],
    ids=lambda layer: layer.name,
)
def test_stack_of_three_equals_three_calls(layer: Layer[Any, Any]) -> None:
    _stack_equivalence(layer, (4,), n=6)


def test_activations_extreme_inputs_are_finite_and_quiet() -> None:
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        for layer in ACTIVATIONS.values():
            for dtype in (np.float32, np.float64):
                xd: Array = x.astype(dtype)
                y, r = layer.forward(None, xd)
                _, dx = layer.backward(None, r, np.ones_like(y))
                assert y.dtype == dtype and dx.dtype == dtype, layer.name
                assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)), layer.name
    np.testing.assert_allclose(
        layers.sigmoid.apply(None, x), [[0, 1.9287498479639178e-22, 0.5, 1, 1]]
    )
    np.testing.assert_allclose(layers.softmax.apply(None, x).sum(), 1.0)


def test_dense_shape_errors_name_the_function_and_shapes() -> None:
    layer = layers.dense(3)
    _, p = layer.init(0, (4,))
    with pytest.raises(
        ValueError, match=r"dense\(3\): argument 'x' must have 4 features.*\(5, 2\)"
    ):
        layer.apply(p, np.ones((5, 2)))
    with pytest.raises(
        ValueError, match=r"dense\(3\): argument 'x' must have shape \(\.\.\., examples"
    ):
        layer.apply(p, np.ones(4))
    with pytest.raises(TypeError, match=r"dense\(3\): argument 'x' must be a floating"):
        layer.apply(p, np.ones((5, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="float32 but the params are float64"):
        layer.apply(p, np.ones((5, 4), dtype=np.float32))
    _, stacked = layers.init_stack(layer, [0, 1], (4,))
    with pytest.raises(ValueError, match=r"model axes \(3,\) but the params have \(2,\)"):
        layer.apply(stacked, np.ones((3, 5, 4)))
    with pytest.raises(
        ValueError,
        match=r"serial \(layers\[0\] = dense\(3\)\): dense\(3\): input_shape must be \(2,\) "
        r"\(in_features\), got \(3,\)",
    ):
        layers.mlp([2, 3]).init(0, (3,))
    with pytest.raises(ValueError, match="dense: argument 'in_features' must be >= 1"):
        layers.dense(3, in_features=0)
    with pytest.raises(TypeError, match="dense: argument 'out_features' must be an int"):
        layers.dense(True)
    with pytest.raises(ValueError, match="serial: argument 'params' must be a tuple of 2"):
        layers.serial(layer, layers.relu).apply((p,), np.ones((1, 4)))
    with pytest.raises(TypeError, match="sigmoid: argument 'x'"):
        layers.sigmoid.apply(None, [1.0])  # type: ignore[arg-type]  # deliberately wrong type


def test_initializers_are_reproducible_and_scaled() -> None:
    inits = layers.initializers
    for make in (inits.glorot_uniform, inits.glorot_normal, inits.he_uniform, inits.he_normal):
        init = make()
        a = init(3, (400, 300), np.float64)
        np.testing.assert_array_equal(a, init(3, (400, 300), np.float64))
        assert not np.array_equal(a, init(4, (400, 300), np.float64))
    he = inits.he_normal()(0, (1000, 500), np.float64)
    assert abs(he.std() - np.sqrt(2 / 1000)) < 0.01 * np.sqrt(2 / 1000) * 5
    limit = np.sqrt(6 / (20 + 30))
    g = inits.glorot_uniform()(0, (20, 30), np.float32)
    assert g.dtype == np.float32 and np.abs(g).max() <= limit
    assert inits.fans((3, 3, 8, 16)) == (72, 144)
    assert np.all(inits.zeros(0, (2,), np.float64) == 0)
    assert np.all(inits.constant(2.0)(0, (2,), np.float64) == 2)


def test_float32_network_stays_float32() -> None:
    net = layers.mlp([2, 4, 1], hidden=layers.relu, output=layers.sigmoid, dtype=np.float32)
    _, p = net.init(0, (2,))
    x = np.ones((3, 2), np.float32)
    y, r = net.forward(p, x)
    g, dx = net.backward(p, r, np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert {a.dtype for a in tree.leaves(g)} == {np.dtype(np.float32)}
