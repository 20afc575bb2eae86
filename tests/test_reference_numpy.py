"""The hand-written numpy references used by the benchmarks compute correct gradients and train."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

# scripts/ is not a package: make its modules importable by name, as the bench scripts see them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from reference_numpy import Array, FashionMLP, LabNet  # noqa: E402

from fnnet import data  # noqa: E402


def numeric_grads(loss: Callable[[], float], params: list[Array], h: float = 1e-6) -> list[Array]:
    """Central finite differences of ``loss()`` with respect to every entry of ``params``."""
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = float(loss())
            p[idx] = old - h
            down = float(loss())
            p[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def assert_grads_close(analytic: list[Array], numeric: list[Array]) -> None:
    assert len(analytic) == len(numeric)
    for a, n in zip(analytic, numeric, strict=True):
        assert a.shape == n.shape
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sizes", [(2, 4, 4, 1), (3, 5, 2, 2)])
def test_labnet_gradients_match_finite_differences(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    net = LabNet(sizes, seed=3, dtype=np.float64)
    for b in net.biases:  # nonzero biases, so their gradients are exercised off the init point
        b[:] = rng.normal(size=b.shape)
    x = rng.normal(size=(7, sizes[0]))
    y = rng.uniform(size=(7, sizes[-1]))

    def loss() -> float:
        return net.loss_and_grads(x, y)[0]

    _, gw, gb = net.loss_and_grads(x, y)
    assert_grads_close(gw, numeric_grads(loss, net.weights))
    assert_grads_close(gb, numeric_grads(loss, net.biases))


def test_labnet_loss_is_mean_squared_error_over_examples() -> None:
    x, y = data.xor()
    net = LabNet(seed=0)
    loss = net.step(x, y)  # the loss before the update
    pred = LabNet(seed=0).predict(x)
    assert loss == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-12)


def test_labnet_sgd_step_is_gradient_descent() -> None:
    x, y = data.xor()
    net = LabNet(seed=0, lr=0.7)
    _, gw, gb = net.loss_and_grads(x, y)
    before = [w.copy() for w in net.weights] + [b.copy() for b in net.biases]
    net.step(x, y)
    after = net.weights + net.biases
    for p0, p1, g in zip(before, after, gw + gb, strict=True):
        np.testing.assert_allclose(p1, p0 - 0.7 * g, rtol=1e-12, atol=1e-15)


def test_labnet_adam_matches_the_textbook_update() -> None:
    x, y = data.xor()
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    net = LabNet(seed=0, optimizer="adam", lr=lr, b1=b1, b2=b2, eps=eps)
    shadow = LabNet(seed=0)  # same init; Adam written out with m_hat and v_hat
    params = shadow.weights + shadow.biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, 4):
        _, gw, gb = shadow.loss_and_grads(x, y)
        for p, g, mi, vi in zip(params, gw + gb, m, v, strict=True):
            mi[:] = b1 * mi + (1 - b1) * g
            vi[:] = b2 * vi + (1 - b2) * g * g
            m_hat = mi / (1 - b1**t)
            v_hat = vi / (1 - b2**t)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
        net.step(x, y)
    for p, q in zip(net.weights + net.biases, params, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("optimizer", "lr", "steps"), [("sgd", 5.0, 3000), ("adam", 0.05, 1000)])
def test_labnet_learns_xor_to_full_accuracy(optimizer: str, lr: float, steps: int) -> None:
    x, y = data.xor()
    net = LabNet(seed=0, optimizer="adam" if optimizer == "adam" else "sgd", lr=lr)
    first = net.step(x, y)
    for _ in range(steps):
        last = net.step(x, y)
    assert last < 0.01 < first
    accuracy = np.mean((net.predict(x) > 0.5) == (y > 0.5))
    assert accuracy == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_labnet_keeps_its_dtype(dtype: npt.DTypeLike, optimizer: str) -> None:
    x, y = data.xor(dtype)
    net = LabNet(seed=0, dtype=dtype, optimizer="adam" if optimizer == "adam" else "sgd")
    for _ in range(3):
        net.step(x, y)
    for p in net.weights + net.biases + net.m_w + net.v_w:
        assert p.dtype == dtype
    assert net.predict(x).dtype == dtype


def test_labnet_rejects_a_target_that_would_broadcast() -> None:
    x, y = data.xor()
    with pytest.raises(ValueError, match=r"y must have shape \(21, 1\)"):
        LabNet().step(x, y[:, 0])


def test_fashion_mlp_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(2)
    net = FashionMLP((6, 5, 4, 3), seed=1, dtype=np.float64)
    for b in net.biases:
        b[:] = rng.normal(scale=0.5, size=b.shape)
    x = rng.normal(size=(8, 6))
    y = rng.integers(0, 3, size=8)

    def loss() -> float:
        return net.loss_and_grads(x, y)[0]

    _, gw, gb = net.loss_and_grads(x, y)
    assert_grads_close(gw, numeric_grads(loss, net.weights))
    assert_grads_close(gb, numeric_grads(loss, net.biases))


def test_fashion_mlp_loss_is_mean_cross_entropy() -> None:
    rng = np.random.default_rng(3)
    net = FashionMLP((6, 5, 4, 3), seed=1, dtype=np.float64)
    x = rng.normal(size=(8, 6))
    y = rng.integers(0, 3, size=8)
    z = net.logits(x)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(8), y]))
    assert net.loss_and_grads(x, y)[0] == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fashion_mlp_train_epoch_learns_and_keeps_dtype(dtype: npt.DTypeLike) -> None:
    rng = np.random.default_rng(4)
    centers = rng.normal(scale=3.0, size=(3, 10))
    y = rng.integers(0, 3, size=300)
    x = (centers[y] + rng.normal(size=(300, 10))).astype(dtype)
    net = FashionMLP((10, 16, 8, 3), seed=0, dtype=dtype)
    first = net.train_epoch(x, y, batch_size=32, lr=0.05, rng=np.random.default_rng(0))
    for _ in range(10):
        last = net.train_epoch(x, y, batch_size=32, lr=0.05, rng=np.random.default_rng(0))
    assert last < 0.5 * first
    assert net.accuracy(x, y) > 0.95
    for p in net.weights + net.biases:
        assert p.dtype == dtype
    assert net.logits(x).dtype == dtype


def test_fashion_mlp_train_epoch_rejects_another_dtype() -> None:
    net = FashionMLP((4, 3, 3, 2), dtype=np.float32)
    with pytest.raises(TypeError, match="x must be float32"):
        net.train_epoch(
            np.zeros((5, 4)), np.zeros(5, dtype=np.int64), 2, 0.1, np.random.default_rng()
        )
