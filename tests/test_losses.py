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
    with pytest.raises(ValueError, match=r"labels in 'target' must lie in \[0, 4\)"):
        losses.softmax_cross_entropy(logits, labels + 4)
    with pytest.raises(ValueError, match=r"integer 'target' must have shape \(2, 5\)"):
        losses.softmax_cross_entropy(logits, labels[:, :3])


@pytest.mark.parametrize("name", list(FLOAT_TARGET))
def test_broadcast_trap_is_an_error(name: str) -> None:
    pred = np.full((6, 1), 0.5)
    if name == "softmax_cross_entropy":  # a (N,) float target reads as labels of a wrong dtype
        with pytest.raises(ValueError, match=r"integer class labels.*probability rows"):
            FLOAT_TARGET[name](pred, np.zeros(6))
    else:
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


def test_binary_cross_entropy_refuses_values_that_are_not_probabilities() -> None:
    t = np.array([[0.0], [1.0]])
    for bad in (np.array([[2.2], [2.7]]), np.array([[-0.1], [0.5]])):
        with pytest.raises(
            ValueError, match=r"binary_cross_entropy: values of 'pred'.*\[0.0, 1.0\]"
        ):
            losses.binary_cross_entropy(bad, t)
    value, _ = losses.binary_cross_entropy(np.array([[0.0], [1.0]]), t)  # the ends are fine
    assert 0 <= float(value) < 1e-6
    with pytest.raises(ValueError, match="values of 'target'"):
        losses.binary_cross_entropy(np.full((2, 1), 0.5), t + 2)
    with pytest.raises(ValueError, match="with_logits: values of 'target'"):
        losses.binary_cross_entropy_with_logits(np.zeros((2, 1)), t - 1)
    nan_value, _ = losses.binary_cross_entropy(np.full((2, 1), np.nan), t)
    assert np.isnan(nan_value)  # NaN is reported as NaN (fit stops on it), not as a range error


def test_softmax_cross_entropy_soft_targets() -> None:
    z = np.array([[0.1, 0.9], [0.8, 0.2]])
    with pytest.raises(ValueError, match="values of 'target' must lie in"):
        losses.softmax_cross_entropy(z, np.array([[1.5, -0.5], [0.0, 1.0]]))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5))
    rows = rng.uniform(size=(4, 5)) / 4  # rows summing to about 0.6: the gradient stays exact
    result = check.check_loss(losses.softmax_cross_entropy, logits, rows)
    assert result.ok, str(result)
    smooth = np.full((4, 5), 0.02) + 0.9 * np.eye(5)[[0, 1, 2, 3]]  # label smoothing
    assert check.check_loss(losses.softmax_cross_entropy, logits, smooth).ok


def test_softmax_cross_entropy_labels_of_a_wrong_dtype() -> None:
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"fractional values such as 1\.5"):
        losses.softmax_cross_entropy(z, np.array([0.0, 1.5, 2.0]))
    with pytest.raises(ValueError, match=r"astype\(np\.int64\)"):
        losses.softmax_cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="integer class labels"):
        losses.softmax_cross_entropy(z, np.array([True, False, True]))
    with pytest.raises(ValueError, match="'pred' is empty"):
        losses.softmax_cross_entropy(np.zeros((3, 0)), np.array([0, 0, 0]))


@pytest.mark.parametrize("name", list(FLOAT_TARGET))
def test_scalars_lists_and_odd_dtypes_give_clear_errors(name: str) -> None:
    fn = FLOAT_TARGET[name]
    p = np.full((2, 1), 0.5)
    calls: list[Callable[[], object]] = [
        lambda: fn(np.array(0.5), np.array(0.5)),
        lambda: fn(np.float64(0.5), p),
        lambda: fn([[0.5], [0.5]], p),
        lambda: fn(p, [[0.5], [0.5]]),
        lambda: fn(p, p.astype(complex)),
        lambda: fn(p, p.astype(object)),
        lambda: fn(p, np.array([["a"], ["b"]])),
        lambda: fn(p.astype(complex), p),
    ]
    for call in calls:
        with pytest.raises((TypeError, ValueError), match=rf"^{name}: argument '(pred|target)'"):
            call()
