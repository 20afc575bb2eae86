"""Numerics at the extremes: exact to float precision, warning-free, finite gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fnnet import layers, losses, optim
from fnnet.layers.activations import log_softmax_fn, sigmoid_fn, softmax_fn

RAISE = {"over": "raise", "invalid": "raise", "divide": "raise", "under": "ignore"}
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_tanh_softmax_exact_up_to_1e4(dtype: Any) -> None:
    x = np.array([[-1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e4]], dtype=dtype)
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.longdouble)))  # long double: no overflow here
    with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
        s = sigmoid_fn(x)
        t = layers.tanh.apply(None, x)
        sm = softmax_fn(x)
        lsm = log_softmax_fn(x)
    tiny = np.finfo(dtype).tiny
    rel = np.abs(s - exact) / np.maximum(exact, tiny)
    assert s.dtype == dtype and np.all(rel[exact > tiny] < 4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(t, np.tanh(x))
    assert sm.dtype == dtype and float(sm.sum()) == pytest.approx(1.0)
    expected_lsm = x.astype(np.longdouble) - 1e4  # the max dominates the log-sum-exp
    np.testing.assert_allclose(lsm[0, -1], 0.0, atol=np.finfo(dtype).eps)
    np.testing.assert_allclose(lsm[0, :3], expected_lsm[0, :3].astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropies_exact_at_the_extremes(dtype: Any) -> None:
    z = np.array([[1e4], [-1e4], [30.0], [-30.0]], dtype=dtype)
    t = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
        value, grad = losses.binary_cross_entropy_with_logits(z, t)
    # loss per point: 1e4, 1e4, log1p(e^-30), log1p(e^-30); mean over 4
    expected = (2e4 + 2 * np.log1p(np.exp(-30.0))) / 4
    assert float(value) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grad.ravel(), np.array([1, -1, -np.exp(-30), np.exp(-30)]) / 4,
                               rtol=1e-5, atol=1e-12)  # fmt: skip
    logits = np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
        ce, dce = losses.softmax_cross_entropy(logits, np.array([1, 2]))
    assert float(ce) == pytest.approx((2e4 + np.log(3.0)) / 2, rel=1e-6)
    assert np.all(np.isfinite(dce)) and dce.dtype == dtype


OPTIMIZERS = {
    "sgd": optim.sgd(0.1),
    "momentum": optim.momentum(0.1),
    "nesterov": optim.nesterov(0.1),
    "adagrad": optim.adagrad(0.1),
    "rmsprop": optim.rmsprop(0.1),
    "adam": optim.adam(0.1),
    "adamw": optim.adamw(0.1),
    "clipped": optim.chain(optim.clip_by_global_norm(1.0, model_axes=0), optim.sgd(0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizers_with_zero_and_huge_gradients(name: str, dtype: Any) -> None:
    opt = OPTIMIZERS[name]
    params = [np.ones(3, dtype)]
    state = opt.init(params)
    huge = np.finfo(dtype).max / 1e4
    with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
        for g in (np.zeros(3, dtype), np.array([huge, -huge, 0.0], dtype), np.zeros(3, dtype)):
            updates, state = opt.update([g], state, params)
            assert updates[0].dtype == dtype
            if name in ("sgd", "momentum", "nesterov"):
                continue  # these scale the gradient as given: huge in, huge out
            assert np.all(np.isfinite(updates[0])), (name, updates[0])
            if not g.any() and name not in ("adam", "adamw", "rmsprop", "momentum"):
                assert np.all(updates[0][:2] == 0) or name == "clipped"
    if name in ("adagrad", "rmsprop", "adam", "adamw"):  # normalised: a step of about lr
        assert np.all(np.abs(updates[0]) <= 0.1 * 1.5 + 1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_gradients_give_the_exact_normalised_step(dtype: Any) -> None:
    huge = np.finfo(dtype).max / 10  # its square overflows: never formed
    g = np.array([huge, -huge, 0.0], dtype)
    for opt in (optim.adam(0.1), optim.adagrad(0.1)):
        with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
            u, _ = opt.update([g], opt.init([np.ones(3, dtype)]), [np.ones(3, dtype)])
        np.testing.assert_allclose(u[0], [-0.1, 0.1, 0.0], rtol=1e-6)
    norm = optim.clip_by_global_norm(1.0, model_axes=0)
    with np.errstate(**RAISE):  # type: ignore[arg-type]  # errstate's stub wants literals
        u, _ = norm.update([g], norm.init([g]), [g])
    np.testing.assert_allclose(u[0], [2**-0.5, -(2**-0.5), 0.0], rtol=1e-6)


def test_weight_decay_per_model_on_a_stack() -> None:
    decays = np.array([0.0, 0.1, 1.0])
    stacked = [np.ones((3, 2)), np.ones((3, 4, 2))]
    opt = optim.adamw(0.01, weight_decay=decays)
    state = opt.init(stacked)
    params = stacked
    for _ in range(5):
        updates, state = opt.update([np.zeros_like(p) for p in params], state, params)
        params = optim.apply_updates(params, updates)
    for i, wd in enumerate(decays):
        single = optim.adamw(0.01, weight_decay=float(wd))
        p = [q[i] for q in stacked]
        s = single.init(p)
        for _ in range(5):
            u, s = single.update([np.zeros_like(q) for q in p], s, p)
            p = optim.apply_updates(p, u)
        for a, b in zip(p, params, strict=True):
            np.testing.assert_allclose(a, b[i], rtol=1e-12)
    assert params[0][0, 0] == 1.0 and params[0][2, 0] < params[0][1, 0] < 1.0


def test_adam_flushes_subnormal_moments_of_dead_units() -> None:
    opt = optim.adam(0.01)
    params = [np.ones(2, np.float32)]
    state = opt.init(params)
    grads = [np.array([1.0, 0.0], np.float32)]
    _, state = opt.update(grads, state, params)  # moment of unit 0 becomes 0.1
    zero = [np.zeros(2, np.float32)]
    for _ in range(optim.numerics.FLUSH_EVERY * 14):  # 0.1 · 0.9ⁿ falls below 1.2e-38
        _, state = opt.update(zero, state, params)
    tiny = np.finfo(np.float32).tiny
    m = state[0].mu[0]
    assert np.all((m == 0) | (np.abs(m) >= tiny)), m  # no subnormal survives a flush
