"""fnnet.optim.numerics: root second moments equal the textbook formula where it does not
overflow and stay exact where it does; moment buffers lose subnormals every 64 steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fnnet import optim
from fnnet.optim import numerics

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_root_moments_equal_the_textbook_formulas(dtype: Any) -> None:
    rng = np.random.default_rng(0)
    v = rng.random(size=(3, 50)).astype(dtype) * 10
    g = rng.normal(size=(3, 50)).astype(dtype) * 10
    decay = np.array([[0.9], [0.5], [0.0]], dtype)  # per model
    root = numerics.root_ema_of_squares(np.sqrt(v), g, decay)
    total = numerics.root_sum_of_squares(np.sqrt(v), g)
    assert root.dtype == dtype and total.dtype == dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(root, np.sqrt(decay * v + (1 - decay) * g**2), rtol=8 * eps)
    np.testing.assert_allclose(total, np.sqrt(v + g**2), rtol=8 * eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_root_moments_stay_finite_and_exact_where_squares_overflow(dtype: Any) -> None:
    big = np.finfo(dtype).max / 4  # g² overflows; the roots do not
    g = np.array([big, -big], dtype)
    with np.errstate(over="raise", invalid="raise"):
        root = numerics.root_ema_of_squares(np.zeros(2, dtype), g, 0.75)
        total = numerics.root_sum_of_squares(np.array([big, 0.0], dtype), g)
    np.testing.assert_allclose(root, 0.5 * big, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(total, [big * 2**0.5, big], rtol=4 * np.finfo(dtype).eps)


def textbook_adam(grads: list[Any], b1: Any, b2: Any, eps: Any, lr: Any) -> Any:
    """Adam as printed in the paper, keeping v itself."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        u = -lr * m_hat / (np.sqrt(v_hat) + eps)
    return u


def test_adam_equals_the_textbook_formula_over_many_steps_per_model() -> None:
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3, 10)) * 10.0 ** rng.integers(-3, 3) for _ in range(100)]
    b1, b2 = np.array([0.9, 0.5, 0.0]), np.array([0.999, 0.9, 0.5])
    eps, lr = np.array([1e-8, 1e-3, 1.0]), np.array([0.1, 0.01, 1.0])
    opt = optim.adam(lr, b1, b2, eps)
    state = opt.init(grads[0])
    for g in grads:
        u, state = opt.update(g, state, grads[0])
    expected = textbook_adam(grads, b1[:, None], b2[:, None], eps[:, None], lr[:, None])
    np.testing.assert_allclose(u, expected, rtol=1e-12)
    single = optim.adam(0.1, 0.9, 0.999, 1e-8)  # a float hyperparameter: the same formula
    state = single.init(grads[0][0])
    for g in grads:
        u1, state = single.update(g[0], state, grads[0][0])
    np.testing.assert_array_equal(u1, u[0])


def test_flush_subnormals_is_a_copy_keeping_dtype_and_nan() -> None:
    a = np.array([1e-320, -1e-310, np.nan, 1e-300, 0.0])
    out = numerics.flush_subnormals(a)
    assert out is not a and a[0] == 1e-320  # the input is not written
    np.testing.assert_array_equal(out, [0.0, 0.0, np.nan, 1e-300, 0.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.adam(0.01, b1=0.7),  # m decays by 0.7, subnormal from step ~245
        lambda: optim.momentum(0.01, 0.7),
        lambda: optim.rmsprop(0.01, 0.5),  # √v decays by √0.5, subnormal from step ~252
    ],
    ids=["adam", "momentum", "rmsprop"],
)
def test_moment_buffers_lose_their_subnormals_every_64_steps(make: Any) -> None:
    """A dead unit (zero gradient) decays into subnormals; the flush zeroes them on every
    64th step, and only then (so the test would see them if the flush were missing)."""
    opt = make()
    params = np.ones(2, np.float32)
    state = opt.init(params)
    _, state = opt.update(np.array([1.0, 0.0], np.float32), state, params)  # moment of unit 0
    tiny = np.finfo(np.float32).tiny
    seen_subnormal = False
    for step in range(2, numerics.FLUSH_EVERY * 5 + 1):
        _, state = opt.update(np.zeros(2, np.float32), state, params)
        buffers = [
            getattr(state[0], f) for f in ("mu", "root_nu", "trace", "rms") if hasattr(state[0], f)
        ]
        subnormal = any(np.any((b != 0) & (np.abs(b) < tiny)) for b in buffers)
        seen_subnormal |= subnormal
        if step % numerics.FLUSH_EVERY == 0:
            assert not subnormal, step
    assert seen_subnormal  # the moments did decay into subnormals between flushes
