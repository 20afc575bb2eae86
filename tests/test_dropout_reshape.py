"""dropout (keyed masks, identity at inference, gradients, keys through serial and the training
step) and flatten/reshape (shapes, gradients, stacked models, errors)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, losses, optim, train
from fnnet.arrays import Array
from fnnet.layers.activations import identity
from fnnet.layers.combinators import serial
from fnnet.layers.dense import dense
from fnnet.layers.dropout import dropout
from fnnet.layers.reshape import flatten, reshape

# --- dropout -----------------------------------------------------------------------------------


def keyed_mask(rate: float, shape: tuple[int, ...], key: int) -> Array:
    layer = dropout(rate)
    assert layer.forward_keyed is not None
    y, _ = layer.forward_keyed(None, np.ones(shape), key)
    return y


def test_dropout_is_deterministic_by_key() -> None:
    a, b, c = (keyed_mask(0.5, (50, 20), k) for k in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_is_inverted_and_drops_about_rate() -> None:
    y = keyed_mask(0.3, (200, 100), 0)
    assert set(np.unique(y).tolist()) == {0.0, 1.0 / 0.7}
    assert abs(np.mean(y == 0.0) - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # the expectation of the output is the input


def test_dropout_is_identity_in_apply_and_unkeyed_forward() -> None:
    layer = dropout(0.5)
    x = np.random.default_rng(0).normal(size=(4, 6))
    np.testing.assert_array_equal(layer.apply(None, x), x)
    y, res = layer.forward(None, x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.backward(None, res, x)[1], x)
    np.testing.assert_array_equal(keyed_mask(0.0, (3, 4), 1), np.ones((3, 4)))


@settings(max_examples=10, deadline=None)
@given(
    lead=st.sampled_from([(), (3,)]),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 6)),
    rate=st.sampled_from([0.1, 0.5, 0.9]),
    key=st.integers(0, 2**16),
)
def test_dropout_gradients(
    lead: tuple[int, ...], shape: tuple[int, int], rate: float, key: int
) -> None:
    x = np.random.default_rng(key).normal(size=(*lead, *shape))
    result = check.check_layer(dropout(rate), None, x, key=key)
    assert result.ok, str(result)


def test_dropout_mask_is_the_residual_and_scales_the_gradient() -> None:
    layer = dropout(0.5)
    assert layer.forward_keyed is not None
    x = np.random.default_rng(0).normal(size=(5, 8))
    y, mask = layer.forward_keyed(None, x, 2)
    assert mask is not None
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(layer.backward(None, mask, np.ones_like(x))[1], mask)


def test_dropout_float32_in_float32_out() -> None:
    layer = dropout(0.2)
    assert layer.forward_keyed is not None
    x = np.ones((4, 4), np.float32)
    y, mask = layer.forward_keyed(None, x, 0)
    assert y.dtype == np.float32 and mask is not None and mask.dtype == np.float32
    assert layer.backward(None, mask, x)[1].dtype == np.float32


def test_serial_gives_each_dropout_its_own_key() -> None:
    net = serial(dropout(0.5), identity, dropout(0.5))
    assert net.forward_keyed is not None
    _, (m0, _, m2) = net.forward_keyed((None, None, None), np.ones((30, 30)), 0)
    assert m0 is not None and m2 is not None and not np.array_equal(m0, m2)
    _, again = net.forward_keyed((None, None, None), np.ones((30, 30)), 0)
    np.testing.assert_array_equal(again[0], m0)


def test_training_step_draws_a_fresh_mask_each_step_reproducibly() -> None:
    net = serial(dense(8), dropout(0.5), dense(1))
    _, params = net.init(0, (3,))
    x = np.random.default_rng(0).normal(size=(16, 3))
    y = np.random.default_rng(1).normal(size=(16, 1))
    step = train.make_step(net, losses.mse, optim.sgd(0.0))  # lr 0: params stay, masks vary
    state = train.init_state(optim.sgd(0.0), params, key=5)
    state1, m1 = step(state, (x, y))
    _, m2 = step(state1, (x, y))
    assert float(m1["loss"]) != float(m2["loss"])
    np.testing.assert_array_equal(step(state, (x, y))[1]["loss"], m1["loss"])


def test_dropout_errors() -> None:
    for rate in (-0.1, 1.0, 2):
        with pytest.raises(ValueError, match="dropout: argument 'rate'"):
            dropout(rate)
    with pytest.raises(TypeError, match=r"dropout\(0.5\): argument 'x' must be a floating"):
        dropout(0.5).apply(None, np.ones((2, 2), np.int64))


# --- flatten and reshape -----------------------------------------------------------------------


def test_flatten_shapes_and_round_trip() -> None:
    layer = flatten()
    assert layer.init(0, (7, 7, 64))[0] == (3136,)
    x = np.random.default_rng(0).normal(size=(3, 2, 4, 5, 6))  # 3 models, 2 examples
    y, res = layer.forward(None, x)
    assert y.shape == (3, 2, 120)
    np.testing.assert_array_equal(y[1, 0], x[1, 0].ravel())  # row-major (H, W, C) order
    np.testing.assert_array_equal(layer.backward(None, res, y)[1], x)
    assert flatten(2).apply(None, np.zeros((5, 4, 3))).shape == (5, 12)


def test_reshape_shapes_and_minus_one() -> None:
    assert reshape((28, 28, 1)).init(0, (784,))[0] == (28, 28, 1)
    assert reshape((-1, 4)).init(0, (12,))[0] == (3, 4)
    assert reshape((6,), ndim=2).init(0, (2, 3))[0] == (6,)
    x = np.random.default_rng(0).normal(size=(2, 5, 12))
    y = reshape((3, -1)).apply(None, x)
    assert y.shape == (2, 5, 3, 4)
    np.testing.assert_array_equal(y[1, 4], x[1, 4].reshape(3, 4))


@settings(max_examples=8, deadline=None)
@given(
    lead=st.sampled_from([(), (2,)]),
    dims=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
    key=st.integers(0, 2**16),
)
def test_flatten_and_reshape_gradients(
    lead: tuple[int, ...], dims: tuple[int, int, int], key: int
) -> None:
    x = np.random.default_rng(key).normal(size=(*lead, 2, *dims))
    assert check.check_layer(flatten(), None, x, key=key).ok
    flat = x.reshape(*lead, 2, -1)
    assert check.check_layer(reshape(dims), None, flat, key=key).ok


def test_flatten_stack_of_three_equals_three_separate_calls() -> None:
    x = np.random.default_rng(0).normal(size=(3, 2, 3, 3, 2))
    y = flatten().apply(None, x)
    for m in range(3):
        np.testing.assert_array_equal(y[m], flatten().apply(None, x[m]))


def test_reshape_errors() -> None:
    with pytest.raises(ValueError, match=r"flatten: input_shape \(784,\) has 1 axes.*ndim=1"):
        flatten().init(0, (784,))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape input_shape \(10,\)"):
        reshape((3, 4)).init(0, (10,))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape x \(2, 10\)"):
        reshape((3, 4)).apply(None, np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"flatten: argument 'x' must have an examples axis"):
        flatten().apply(None, np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="reshape: argument 'shape'"):
        reshape((-1, -1))
    with pytest.raises(ValueError, match="flatten: argument 'ndim'"):
        flatten(0)
