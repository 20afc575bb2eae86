"""Bad input to the layers gets a clear ValueError/TypeError naming the layer, the argument and the
shapes (never a silent broadcast or an internal error); numpy scalars are accepted where Python
numbers are; a stack of models with dropout gets the masks each model gets alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fnnet import layers
from fnnet.layers.dense import DenseParams

X = np.random.default_rng(0).normal(size=(5, 4))


def _backward_of(layer: layers.Layer[Any, Any], x: np.ndarray[Any, Any]) -> Callable[[Any], Any]:
    _, p = layer.init(0, x.shape[1:])
    _, r = layer.forward(p, x)
    return lambda dy: layer.backward(p, r, dy)


BACKWARDS: dict[str, Callable[[], tuple[Callable[[Any], Any], tuple[int, ...]]]] = {
    "dense(3)": lambda: (_backward_of(layers.dense(3), X), (5, 3)),
    "sigmoid": lambda: (_backward_of(layers.sigmoid, X), (5, 4)),
    "softmax": lambda: (_backward_of(layers.softmax, X), (5, 4)),
    "serial": lambda: (_backward_of(layers.mlp([4, 5, 3], layers.tanh, layers.sigmoid), X), (5, 3)),
    "conv2d": lambda: (_backward_of(layers.conv2d(2, 3), np.ones((2, 6, 6, 1))), (2, 4, 4, 2)),
    "max_pool2d": lambda: (_backward_of(layers.max_pool2d(2), np.ones((2, 4, 4, 3))), (2, 2, 2, 3)),
    "avg_pool2d": lambda: (_backward_of(layers.avg_pool2d(2), np.ones((2, 4, 4, 3))), (2, 2, 2, 3)),
    "flatten": lambda: (_backward_of(layers.flatten(), np.ones((2, 4, 4, 3))), (2, 48)),
    "layer_norm": lambda: (_backward_of(layers.layer_norm(), X), (5, 4)),
}


@pytest.mark.parametrize("name", sorted(BACKWARDS))
@pytest.mark.parametrize(
    ("kind", "bad", "error"),
    [
        ("int64", lambda s: np.ones(s, np.int64), TypeError),
        ("complex", lambda s: np.ones(s, np.complex128), TypeError),
        ("float32", lambda s: np.ones(s, np.float32), TypeError),  # the params are float64
        ("row", lambda s: np.ones(s[1:]), ValueError),  # one example's row: never broadcast
        ("empty", lambda s: np.ones((0, *s[1:])), ValueError),
        ("list", lambda s: np.ones(s).tolist(), TypeError),
        ("None", lambda s: None, TypeError),
    ],
)
def test_backward_checks_dy(
    name: str, kind: str, bad: Callable[[tuple[int, ...]], Any], error: type[Exception]
) -> None:
    backward, y_shape = BACKWARDS[name]()
    assert backward(np.ones(y_shape))[1] is not None  # the right dy works
    if kind == "float32" and name in ("max_pool2d", "avg_pool2d", "flatten"):
        return  # no params, no dtype to match: a float32 dy gives a float32 dx
    with pytest.raises(error, match="'dy'"):
        backward(bad(y_shape))


def test_dense_refuses_params_of_another_architecture() -> None:
    net = layers.mlp([2, 4, 1], hidden=layers.sigmoid)
    _, other = layers.mlp([2, 7, 1]).init(0, (2,))
    with pytest.raises(ValueError, match=r"serial \(layers\[0\] = dense\(4\)\).*params.w"):
        net.apply(other, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"params.w"):
        net.forward(other, np.ones((3, 2)))
    dense = layers.dense(3)
    _, p = dense.init(0, (4,))
    with pytest.raises(ValueError, match=r"dense\(3\): params.b has shape \(1,\)"):
        dense.apply(DenseParams(p.w, np.zeros(1)), X)
    with pytest.raises(ValueError, match=r"dense\(3\): params.w must have shape"):
        dense.apply(DenseParams(np.zeros(3), p.b), X)
    with pytest.raises(TypeError, match=r"dense\(3\): argument 'params'"):
        dense.apply((p.w, p.b), X)  # type: ignore[arg-type]  # deliberately wrong type
    with pytest.raises(ValueError, match=r"dense\(4\): params.w must have shape \(\.\.\., 2, 4\)"):
        layers.dense(4, in_features=2).apply(p, X)


def test_dense_backward_refuses_residuals_of_another_layer() -> None:
    dense = layers.dense(3)
    _, p = dense.init(0, (4,))
    with pytest.raises(ValueError, match=r"dense\(3\): argument 'residuals'"):
        dense.backward(p, np.ones((5, 2)), np.ones((5, 3)))


@pytest.mark.parametrize(
    "layer",
    [
        layers.identity,
        layers.sigmoid,
        layers.softmax,
        layers.leaky_relu(0.1),
        layers.elu(1.0),
        layers.dropout(0.5),
    ],
)
def test_elementwise_layers_need_examples_and_features(layer: layers.Layer[Any, Any]) -> None:
    for x in (np.array(0.5), np.ones(4)):
        with pytest.raises(ValueError, match=re.escape(layer.name) + ": argument 'x'"):
            layer.apply(None, x)
    if layer.forward_keyed is not None:
        with pytest.raises(ValueError, match="argument 'x'"):
            layer.forward_keyed(None, np.ones(4), 0)


@pytest.mark.parametrize("make", [layers.leaky_relu, layers.elu])
@pytest.mark.parametrize(
    ("alpha", "error"),
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, TypeError),
        ("0.5", TypeError),
        (None, TypeError),
        (0.5 + 0j, TypeError),
        ([0.5], TypeError),
        (np.array([0.5, 0.5]), TypeError),
    ],
)
def test_alpha_is_a_finite_real_number(
    make: Callable[[Any], layers.Layer[Any, Any]], alpha: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="'alpha'"):
        make(alpha)
    assert make(np.float32(0.5)).apply(None, -np.ones((1, 1)))[0, 0] < 0


def test_numpy_scalars_are_accepted_where_python_numbers_are() -> None:
    i3, i2 = np.int64(3), np.int32(2)
    assert layers.dense(i3).init(0, (np.int64(4),))[0] == (3,)  # type: ignore[arg-type]
    assert layers.conv2d(i3, 3, padding=i2).init(0, (6, 6, 1))[0] == (8, 8, 3)  # type: ignore[arg-type]
    assert layers.flatten(i3).init(0, (2, 2, 2))[0] == (8,)  # type: ignore[arg-type]
    assert layers.reshape((2, 2), ndim=np.int32(1)).init(0, (4,))[0] == (2, 2)  # type: ignore[arg-type]
    assert layers.mlp([4, i3, 2]).init(0, (4,))[0] == (2,)  # type: ignore[list-item]
    assert layers.dropout(np.float32(0.5)).name == "dropout(0.5)"  # type: ignore[arg-type]


def test_layers_built_from_non_layers_are_refused() -> None:
    with pytest.raises(TypeError, match=r"mlp: argument 'hidden' must be a fnnet Layer"):
        layers.mlp([2, 3, 1], hidden=np.tanh)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"serial: argument 'layers\[1\]' must be a fnnet Layer"):
        layers.serial(layers.dense(3), np.tanh)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dense\(3\): argument 'input_shape'"):
        layers.dense(3).init(0, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dense: argument 'out_features'"):
        layers.dense(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mlp: argument 'sizes'"):
        layers.mlp(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="serial: argument 'layers' is empty"):
        layers.serial()


def test_serial_errors_name_the_position_of_the_layer_at_fault() -> None:
    net = layers.serial(layers.dense(3), layers.relu, layers.dense(2))
    _, p = net.init(0, (4,))
    bad = (p[0], None, DenseParams(p[2].w.astype(np.float32), p[2].b.astype(np.float32)))
    with pytest.raises(TypeError, match=r"serial \(layers\[2\] = dense\(2\)\): dense\(2\): "):
        net.apply(bad, X)
    with pytest.raises(TypeError, match=r"serial \(layers\[2\] = dense\(2\)\): .*'dy'"):
        net.backward(p, net.forward(p, X)[1], np.ones((5, 2), np.int64))


def test_dropout_in_a_stack_gives_each_model_its_mask_alone() -> None:
    layer = layers.dropout(0.5)
    assert layer.forward_keyed is not None
    alone, mask = layer.forward_keyed(None, X, 7)
    stacked = np.stack([X, 2 * X, 3 * X])  # 3 models, each with its own activations
    y, stacked_mask = layer.forward_keyed(None, stacked, 7)
    for m in range(3):
        np.testing.assert_array_equal(y[m], (m + 1) * alone)
    dy = np.ones((3, 5, 4))
    np.testing.assert_array_equal(layer.backward(None, stacked_mask, dy)[1][1], mask)
    images = layers.dropout(0.5, ndim=3)
    assert images.forward_keyed is not None
    one = images.forward_keyed(None, np.ones((2, 3, 3, 1)), 1)[0]
    two = images.forward_keyed(None, np.ones((4, 2, 3, 3, 1)), 1)[0]
    np.testing.assert_array_equal(two[3], one)
    with pytest.raises(ValueError, match=r"dropout\(0.5\): input_shape \(3, 3, 1\).*ndim=3"):
        layers.dropout(0.5).init(0, (3, 3, 1))
