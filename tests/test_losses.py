"""Losses: values against hand computation, gradients against finite differences, shape rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, losses

FLOAT_TARGET: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
    "mse": losses.mse,
    "half_mse": losses.half_mse,
    "binary_cross_entropy": losses.binary_cross_entropy,
    "binary_cross_entropy_with_logits": losses.binary_cross_entropy_with_logits,
    "softmax_cross_entropy": losses.softmax_cross_entropy,
}


def _pred(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, size=shape)
    return rng.normal(size=shape) * 2


def _target(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
    if name == "softmax_cross_entropy":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    return rng.uniform(size=shape)


@pytest.mark.parametrize("name", list(FLOAT_TARGET))
@settings(max_examples=15, deadline=None)
@given(
    models=st.sampled_from([(), (3,), (2, 2)]),
    n=st.integers(1, 6),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    shared_target=st.booleans(),
)
def test_loss_gradients(
    name: str, models: tuple[int, ...], n: int, k: int, seed: int, shared_target: bool
) -> None:
    rng = np.random.default_rng(seed)
    pred = _pred(name, (*models, n, k), rng)
    target = _target(name, (n, k) if shared_target else (*models, n, k), rng)
    value, grad = FLOAT_TARGET[name](pred, target)
    assert value.shape == models and grad.shape == pred.shape
    result = check.check_loss(FLOAT_TARGET[name], pred, target)
    assert result.ok, str(result)


def test_values_by_hand() -> None:
    p = np.array([[0.8], [0.3]])
    t = np.array([[1.0], [0.0]])
    assert float(losses.mse(p, t)[0]) == pytest.approx((0.04 + 0.09) / 2)
    assert float(losses.half_mse(p, t)[0]) == pytest.approx((0.04 + 0.09) / 4)
    bce = -(np.log(0.8) + np.log(0.7)) / 2
    assert float(losses.binary_cross_entropy(p, t)[0]) == pytest.approx(bce)
    z = np.log(p / (1 - p))  # logits of the same probabilities
    assert float(losses.binary_cross_entropy_with_logits(z, t)[0]) == pytest.approx(bce)
    logits = np.array([[1.0, 2.0, 3.0]])
    ce = np.log(np.exp(logits).sum()) - 1.0
    assert float(losses.softmax_cross_entropy(logits, np.array([0]))[0]) == pytest.approx(ce)


def test_integer_labels_equal_one_hot() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 4))
    labels = rng.integers(0, 4, size=(2, 5))
    v1, g1 = losses.softmax_cross_entropy(logits, labels)
    v2, g2 = losses.softmax_cross_entropy(logits, np.eye(4)[labels])
    np.testing.assert_allclose(v1, v2)
    np.testing.assert_allclose(g1, g2)
    shared = losses.softmax_cross_entropy(logits, labels[0])[0]  # labels shared by both models
    np.testing.assert_allclose(shared[0], v1[0])
    with pytest.raises(ValueError, match=r"labels in 'target' must be in \[0, 4\)"):
        losses.softmax_cross_entropy(logits, labels + 4)
    with pytest.raises(ValueError, match=r"integer 'target' must have shape \(2, 5\)"):
        losses.softmax_cross_entropy(logits, labels[:, :3])


@pytest.mark.parametrize("name", list(FLOAT_TARGET))
def test_broadcast_trap_is_an_error(name: str) -> None:
    pred = np.full((6, 1), 0.5)
    with pytest.raises(ValueError, match=rf"{name}: argument 'target' must have the shape"):
        FLOAT_TARGET[name](pred, np.zeros(6))
    with pytest.raises(ValueError, match=r"got \(6, 2\)"):
        FLOAT_TARGET[name](pred, np.zeros((6, 2)))
    with pytest.raises(TypeError, match="argument 'pred' must be a floating"):
        FLOAT_TARGET[name](np.ones((6, 1), dtype=np.int64), np.zeros((6, 1)))


@pytest.mark.parametrize("name", list(FLOAT_TARGET))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite_and_keep_dtype(
    name: str, dtype: type[np.floating[Any]]
) -> None:
    pred = np.array([[-1e4, 0.0, 1e4], [1e4, -1e4, 3.0]], dtype=dtype)
    if name == "binary_cross_entropy":
        pred = np.array([[0.0, 0.5, 1.0], [1.0, 0.0, 0.3]], dtype=dtype)
    target = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        value, grad = FLOAT_TARGET[name](pred, target)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert grad.dtype == dtype and value.dtype == dtype


def test_stack_of_three_equals_three_calls() -> None:
    rng = np.random.default_rng(3)
    for name, loss in FLOAT_TARGET.items():
        pred = _pred(name, (3, 4, 2), rng)
        target = _target(name, (3, 4, 2), rng)
        values, grads = loss(pred, target)
        for i in range(3):
            v, g = loss(pred[i], target[i])
            np.testing.assert_allclose(values[i], v, rtol=1e-13)
            np.testing.assert_allclose(grads[i], g, rtol=1e-13)
