"""fit threads a model's state (batch norm's running statistics): explicit, returned, saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import layers, losses, optim, train, tree
from fnnet.layers import state

EPS = 1e-5


def bn_net() -> layers.Layer[Any, Any]:
    return layers.serial(layers.batch_norm(eps=EPS), layers.dense(1))


def regression(key: int, n: int = 400) -> tuple[Any, Any]:
    x = np.random.default_rng(key).normal(5.0, 3.0, (n, 1))  # mean 5, std 3
    return x, 2 * x + 1


def test_fit_trains_with_batch_statistics_and_evaluates_with_the_running_ones() -> None:
    net = bn_net()
    _, params, st = state.init(net, 0, (1,))
    x, y = regression(1)
    r = train.fit(net, losses.mse, optim.sgd(0.05), params, (x, y), epochs=200,
                  batch_size=50, key=0, model_state=st)  # fmt: skip
    running = r.model_state[0]  # near the data's statistics (a moving average of batches')
    assert abs(float(running.mean[0]) - x.mean()) < 0.5
    assert abs(float(running.var[0]) - x.var()) < 0.15 * x.var()
    assert r.kernels == ()  # a stateful model runs through the reference
    new = np.random.default_rng(2).normal(20.0, 1.0, (64, 1))  # far from the training inputs
    bn_p, dense_p = r.params
    by_running = (new - running.mean) / np.sqrt(running.var + EPS) * bn_p.scale + bn_p.shift
    expected = layers.dense(1).apply(dense_p, by_running)
    got = train.evaluate(net, losses.mse, r.params, (new, 2 * new + 1), model_state=r.model_state)
    np.testing.assert_allclose(got["loss"], np.mean((expected - (2 * new + 1)) ** 2), rtol=1e-12)
    by_batch = net.forward(r.params, new)[0]  # what normalising by the batch would give
    assert np.abs(by_batch - expected).min() > 10.0


def test_a_stateful_model_needs_its_state_and_a_stateless_one_refuses_one() -> None:
    net = bn_net()
    _, params, st = state.init(net, 0, (1,))
    with pytest.raises(ValueError, match="has state .* 'model_state' is None"):
        train.fit(net, losses.mse, optim.sgd(0.05), params, regression(1), epochs=1)
    plain = layers.dense(1)
    _, p = plain.init(0, (1,))
    with pytest.raises(ValueError, match="has no state"):
        train.fit(plain, losses.mse, optim.sgd(0.05), p, regression(1), epochs=1, model_state=st)
    with pytest.raises(ValueError, match="pass its 'model_state'"):
        train.evaluate(net, losses.mse, params, regression(1))


def test_a_stack_keeps_its_own_statistics_and_equals_separate_runs() -> None:
    net = bn_net()
    _, params, st = state.init_stack(net, [0, 1, 2], (1,))
    x, y = regression(3, 120)
    together = train.fit(net, losses.mse, optim.sgd(0.05), params, (x, y), epochs=5,
                         batch_size=40, key=1, model_state=st)  # fmt: skip
    for m in range(3):
        _, p, s = state.init(net, m, (1,))
        alone = train.fit(net, losses.mse, optim.sgd(0.05), p, (x, y), epochs=5, batch_size=40,
                          key=1, model_state=s)  # fmt: skip
        for a, b in zip(tree.leaves(tree.index(together.model_state, m)),
                        tree.leaves(alone.model_state), strict=True):  # fmt: skip
            np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(together.history.loss[:, m], alone.history.loss, rtol=1e-12)


def test_checkpoints_save_and_resume_the_state(tmp_path: Path) -> None:
    net = bn_net()
    _, params, st = state.init(net, 0, (1,))
    data = regression(4, 100)
    kw: dict[str, Any] = {"batch_size": 25, "key": 2, "model_state": st}
    whole = train.fit(net, losses.mse, optim.adam(0.01), params, data, epochs=6, **kw)
    path = tmp_path / "bn.npz"
    train.fit(net, losses.mse, optim.adam(0.01), params, data, epochs=3, checkpoint=path, **kw)
    resumed = train.fit(net, losses.mse, optim.adam(0.01), params, data, epochs=6,
                        checkpoint=path, resume=True, **kw)  # fmt: skip
    np.testing.assert_array_equal(resumed.history.loss, whole.history.loss)
    for a, b in zip(tree.leaves(resumed.model_state), tree.leaves(whole.model_state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_patience_returns_the_best_epochs_state() -> None:
    net = bn_net()
    _, params, st = state.init(net, 0, (1,))
    (x, y), (xv, yv) = regression(5, 200), regression(6, 50)
    r = train.fit(net, losses.mse, optim.sgd(0.02), params, (x, y), epochs=30, batch_size=20,
                  val_data=(xv, yv), patience=2, model_state=st)  # fmt: skip
    again = train.evaluate(net, losses.mse, r.params, (xv, yv), model_state=r.model_state)
    assert r.history.val_loss is not None and r.best_epoch is not None
    best = r.history.val_loss[r.best_epoch - 1]
    np.testing.assert_allclose(again["loss"], best, rtol=1e-12)
