"""fnnet.check: it passes correct backwards and catches wrong ones, naming the element."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest

from fnnet import check, layers, losses, tree
from fnnet.arrays import Array, Shape
from fnnet.random import Key


@tree.pytree
@attrs.frozen
class ScaleParams:
    s: Array


def scale_layer(wrong: bool) -> layers.Layer[ScaleParams, Array]:
    """y = s ⊙ x; the wrong variant forgets a factor of x in ds."""

    def init(key: Key, shape: Shape) -> tuple[Shape, ScaleParams]:
        return shape, ScaleParams(np.linspace(0.5, 1.5, shape[-1]))

    def forward(p: ScaleParams, x: Array) -> tuple[Array, Array]:
        return p.s * x, x

    def backward(p: ScaleParams, x: Array, dy: Array) -> tuple[ScaleParams, Array]:
        ds = np.sum(dy if wrong else dy * x, axis=-2)
        return ScaleParams(ds), dy * p.s

    return layers.Layer(init, forward, backward, lambda p, x: p.s * x)


def test_a_users_layer_passes_and_a_wrong_one_is_caught() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3))
    good = scale_layer(wrong=False)
    _, p = good.init(0, (3,))
    assert check.check_layer(good, p, x).ok
    bad = check.check_layer(scale_layer(wrong=True), p, x)
    assert not bad.ok
    assert bad.where.startswith("params.s[")
    assert "FAILED" in str(bad)
    with pytest.raises(AssertionError, match="gradient check FAILED"):
        bad.raise_if_failed()


def test_check_model_and_loss_on_float32_inputs() -> None:
    net = layers.mlp([3, 4, 2], hidden=layers.tanh, output=layers.softmax, dtype=np.float32)
    _, p = net.init(0, (3,))
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1]]
    assert check.check_model(net, losses.mse, p, x, y).ok  # cast to float64 inside
    assert check.check_loss(losses.softmax_cross_entropy, x, np.array([0, 1, 2, 0, 1])).ok


def test_wrong_gradient_structure_is_reported() -> None:
    def backward(p: Any, r: Any, dy: Array) -> tuple[Any, Array]:
        return (p[0],), dy

    broken = layers.Layer(
        lambda k, s: (s, (np.ones(1), np.ones(1))), lambda p, x: (x, None), backward,
        lambda p, x: x,
    )  # fmt: skip
    with pytest.raises(AssertionError, match="backward returned gradients of structure"):
        check.check_layer(broken, (np.ones(1), np.ones(1)), np.ones((2, 1)))


def test_max_elements_samples() -> None:
    layer = layers.dense(8)
    _, p = layer.init(0, (6,))
    result = check.check_layer(layer, p, np.ones((3, 6)), max_elements=5)
    assert result.ok and result.checked == 15


def test_check_layer_detects_params_paired_with_examples_by_broadcasting() -> None:
    @tree.pytree
    @attrs.frozen
    class S:
        s: Any

    wrong = layers.Layer(  # p.s * x: pairs model m with example m on a stack
        lambda key, shape: (shape, S(np.ones(shape))),
        lambda p, x: (p.s * x, x),
        lambda p, x, dy: (S(np.sum(dy * x, axis=-2)), dy * p.s),
        lambda p, x: p.s * x,
    )
    _, p = layers.init_stack(wrong, [0, 1, 2], (2,))
    with pytest.raises(ValueError, match="pairs each model with one example"):
        check.check_layer(wrong, p, np.ones((3, 2)))  # 3 examples, 3 models: looks fine alone
    with pytest.raises(ValueError):  # another count: the broadcasting bug shows by itself
        check.check_layer(wrong, p, np.ones((4, 2)))
    right = layers.Layer(
        lambda key, shape: (shape, S(np.ones(shape))),
        lambda p, x: (layers.over_examples(p.s) * x, x),
        lambda p, x, dy: (S(np.sum(dy * x, axis=-2)), dy * layers.over_examples(p.s)),
        lambda p, x: layers.over_examples(p.s) * x,
    )
    assert check.check_layer(right, p, np.ones((3, 3, 2))).ok
