"""Training: the lab results, dtype, determinism, divergence, stopping rules, stacks, scan."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import data, layers, losses, metrics, optim, train, tree

LAB = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)


def test_xor_reaches_100_percent() -> None:
    x, y = data.xor()
    _, params = LAB.init(0, (2,))
    result = train.fit(
        LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=20_000,
        until=train.loss_below(0.01), key=0,
    )  # fmt: skip
    assert result.stop_reason == "until"
    assert result.history.loss[-1] < 0.01 and len(result.history) == result.epochs
    assert float(metrics.accuracy(LAB.apply(result.params, x), y)) == 1.0


def test_linear_reaches_100_percent() -> None:
    x, y = data.linear(100, key=1)
    _, params = LAB.init(0, (2,))
    result = train.fit(LAB, losses.mse, optim.adam(0.05), params, (x, y), epochs=3000, key=0)
    assert float(metrics.accuracy(LAB.apply(result.params, x), y)) == 1.0


def test_swapping_optimizers_as_values() -> None:
    x, y = data.xor()
    _, params = LAB.init(0, (2,))
    reached = {}
    for name, opt in {"momentum": optim.momentum(0.5, 0.9), "adam": optim.adam(0.05)}.items():
        r = train.fit(LAB, losses.mse, opt, params, (x, y), epochs=3000,
                      until=train.loss_below(0.01))  # fmt: skip
        reached[name] = r.stop_reason
    assert reached == {"momentum": "until", "adam": "until"}


def test_float32_training_step_stays_float32() -> None:
    x, y = data.xor(np.float32)
    net = layers.mlp([2, 4, 4, 1], hidden=layers.tanh, output=layers.sigmoid, dtype=np.float32)
    _, params = net.init(0, (2,))
    for opt in (optim.sgd(0.5), optim.adam(0.01), optim.adamw(0.01)):
        state = train.init_state(opt, params)
        step = train.make_step(net, losses.binary_cross_entropy, opt)
        state, m = step(state, (x, y))
        state, m = step(state, (x, y))
        assert m["loss"].dtype == np.float32
        assert {a.dtype for a in tree.leaves(state.params)} == {np.dtype(np.float32)}
        assert {a.dtype for a in tree.leaves(state.opt_state) if isinstance(a, np.ndarray)} <= {
            np.dtype(np.float32)
        }


def test_same_key_gives_bit_identical_runs() -> None:
    x, y = data.linear(64, key=3)

    def run(key: int) -> Any:
        _, params = LAB.init(key, (2,))
        return train.fit(LAB, losses.mse, optim.adam(0.02), params, (x, y), epochs=5,
                         batch_size=16, key=key)  # fmt: skip

    a, b, c = run(7), run(7), run(8)
    for p, q in zip(tree.leaves(a.params), tree.leaves(b.params), strict=True):
        assert np.array_equal(p, q)
    assert np.array_equal(a.history.loss, b.history.loss)
    assert not np.array_equal(a.history.loss, c.history.loss)


def test_nan_loss_stops_with_a_message_naming_the_epoch() -> None:
    x, y = data.linear(50, key=0)
    net = layers.mlp([2, 10, 10, 1])  # no activations at all, as in one lab report
    _, params = net.init(0, (2,))
    with pytest.raises(train.DivergenceError, match=r"became (nan|inf) at epoch \d+"):
        train.fit(net, losses.mse, optim.sgd(5.0), params, (x, y), epochs=1000)
    result = train.fit(
        net, losses.mse, optim.sgd(5.0), params, (x, y), epochs=1000, on_nonfinite="stop"
    )
    assert result.stop_reason == "diverged"
    assert result.epochs < 1000 and not np.isfinite(result.history.loss[-1])


def test_minibatches_validation_metrics_and_patience_keep_best() -> None:
    x, y = data.linear(200, key=0)
    (xt, yt), (xv, yv) = data.train_val_split(x, y, 0.25, key=1)
    net = layers.mlp([2, 16, 1], hidden=layers.relu, output=layers.sigmoid)
    _, params = net.init(0, (2,))
    result = train.fit(
        net, losses.binary_cross_entropy, optim.adam(0.3), params, (xt, yt), epochs=60,
        batch_size=32, val_data=(xv, yv), patience=5, metrics={"accuracy": metrics.accuracy},
        key=0,
    )  # fmt: skip
    h = result.history
    assert h.val_loss is not None and h.val_loss.shape == (result.epochs,)
    assert set(h.names()) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert h["val_accuracy"].max() > 0.9
    best = int(np.argmin(h.val_loss))
    # the returned params are the best epoch's: their validation loss is the minimum
    val_loss = train.evaluate(net, losses.binary_cross_entropy, result.params, (xv, yv))["loss"]
    assert float(val_loss) == pytest.approx(float(h.val_loss[best]))
    if result.stop_reason == "patience":
        assert result.epochs - (best + 1) >= 5


def test_a_stack_of_models_trains_in_one_fit_like_separate_fits() -> None:
    x, y = data.xor()
    keys = [0, 1, 2]
    lrs = np.array([0.5, 1.0, 2.0])
    _, stacked = layers.init_stack(LAB, keys, (2,))
    result = train.fit(LAB, losses.mse, optim.sgd(lrs), stacked, (x, y), epochs=200)
    assert result.history.loss.shape == (200, 3)
    for i, key in enumerate(keys):
        _, p = LAB.init(key, (2,))
        alone = train.fit(LAB, losses.mse, optim.sgd(float(lrs[i])), p, (x, y), epochs=200)
        np.testing.assert_allclose(result.history.loss[:, i], alone.history.loss, rtol=1e-10)
    reached = train.first_below(result.history.loss, 0.2)
    assert reached.shape == (3,)


def test_scan_folds_a_step_and_stacks_metrics() -> None:
    x, y = data.xor()
    _, params = LAB.init(0, (2,))
    opt = optim.adam(0.05)
    step = train.make_step(LAB, losses.mse, opt, metrics={"accuracy": metrics.accuracy})
    state = train.init_state(opt, params)
    final, history = train.scan(step, state, [(x, y)] * 50)
    assert final.step == 50 and history.loss.shape == (50,)
    assert history["accuracy"].shape == (50,)
    stopped, short = train.scan(step, state, [(x, y)] * 50, until=lambda s, m: s.step == 7)
    assert stopped.step == 7 and len(short) == 7
    assert state.step == 0  # the input state is never mutated


def test_log_every_prints_the_lab_log(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = data.xor()
    _, params = LAB.init(0, (2,))
    train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=30, log_every=10)
    first, *lines = capsys.readouterr().out.strip().splitlines()
    assert first == "fit: kernels: fused mlp, flat buffer"  # the log says which kernels ran
    assert [line.split()[1] for line in lines] == ["1", "10", "20", "30"]
    assert all("loss" in line for line in lines)


def test_fit_argument_errors() -> None:
    x, y = data.xor()
    _, params = LAB.init(0, (2,))
    with pytest.raises(ValueError, match="fit: argument 'epochs'"):
        train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=0)
    with pytest.raises(ValueError, match="'patience' needs 'val_data'"):
        train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=1, patience=3)
    with pytest.raises(ValueError, match=r"same number of examples, got x \(21, 2\)"):
        train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y[:5]), epochs=1)
    with pytest.raises(ValueError, match="mse: argument 'target'"):
        train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y[:, 0]), epochs=1)


def test_a_users_optimizer_trains_through_fit() -> None:
    def init(p: tree.PyTree) -> int:
        return 0

    def update(g: tree.PyTree, s: int, p: tree.PyTree) -> tuple[tree.PyTree, int]:
        return tree.map(lambda a: -0.05 * np.sign(a), g), s + 1

    x, y = data.linear(100, key=0)
    _, params = LAB.init(0, (2,))
    result = train.fit(LAB, losses.mse, optim.Optimizer(init, update), params, (x, y), epochs=400)
    assert result.opt_state == 400
    assert result.history.loss[-1] < result.history.loss[0] / 2


def test_a_diverging_model_in_a_stack_stops_alone(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = data.linear(50, key=0)
    net = layers.mlp([2, 10, 10, 1])  # no activations: large rates blow up
    _, stacked = layers.init_stack(net, [0, 1, 2], (2,))
    lrs = np.array([0.01, 0.05, 5.0])
    with pytest.raises(train.DivergenceError, match=r"at epoch \d+ \(models \[2\]\)"):
        train.fit(net, losses.mse, optim.sgd(lrs), stacked, (x, y), epochs=50)
    result = train.fit(
        net, losses.mse, optim.sgd(lrs), stacked, (x, y), epochs=50, on_nonfinite="stop"
    )
    assert result.epochs == 50 and result.stop_reason == "epochs"
    loss = result.history.loss
    assert np.all(np.isfinite(loss[:, :2])) and np.isnan(loss[-1, 2])
    assert "(models [2]); those models are frozen" in capsys.readouterr().err
    assert all(np.all(np.isfinite(p)) for p in tree.leaves(result.params))  # frozen, finite
    for i in range(2):  # the live models trained exactly as they would alone
        _, p = net.init(i, (2,))
        alone = train.fit(net, losses.mse, optim.sgd(float(lrs[i])), p, (x, y), epochs=50)
        np.testing.assert_allclose(loss[:, i], alone.history.loss, rtol=1e-10)
    everyone = train.fit(
        net, losses.mse, optim.sgd(np.full(3, 5.0)), stacked, (x, y), epochs=50,
        on_nonfinite="stop",
    )  # fmt: skip
    assert everyone.stop_reason == "diverged" and everyone.epochs < 50


def _dropout_net() -> layers.Layer[Any, Any]:
    return layers.serial(layers.dense(16), layers.relu, layers.dropout(0.2), layers.dense(1),
                         layers.sigmoid)  # fmt: skip


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path: Path) -> None:
    x, y = data.linear(120, key=0)
    (xt, yt), val = data.train_val_split(x, y, 0.25, key=1)
    net = _dropout_net()
    _, params = net.init(0, (2,))
    kwargs: dict[str, Any] = {
        "epochs": 10, "batch_size": 16, "key": 3, "val_data": val, "patience": 20,
        "metrics": {"accuracy": metrics.accuracy},
    }  # fmt: skip
    whole = train.fit(net, losses.binary_cross_entropy, optim.adam(0.05), params, (xt, yt),
                      **kwargs)  # fmt: skip

    class Crash(Exception):
        pass

    def crash_at_8(epoch: int, loss: Any) -> bool:
        if epoch == 8:
            raise Crash
        return False

    path = tmp_path / "run.npz"
    with pytest.raises(Crash):
        train.fit(net, losses.binary_cross_entropy, optim.adam(0.05), params, (xt, yt),
                  checkpoint=path, checkpoint_every=3, until=crash_at_8, **kwargs)  # fmt: skip
    resumed = train.fit(net, losses.binary_cross_entropy, optim.adam(0.05), params, (xt, yt),
                        checkpoint=path, resume=True, **kwargs)  # fmt: skip
    assert resumed.epochs == whole.epochs == 10
    for a, b in zip(tree.leaves(resumed.state), tree.leaves(whole.state), strict=True):
        assert np.array_equal(a, b)
    for name in whole.history.names():
        assert np.array_equal(resumed.history[name], whole.history[name]), name
    for a, b in zip(tree.leaves(resumed.params), tree.leaves(whole.params), strict=True):
        assert np.array_equal(a, b)
    # the checkpoint written at the end holds the finished run
    again = train.fit(net, losses.binary_cross_entropy, optim.adam(0.05), params, (xt, yt),
                      checkpoint=path, resume=True, **kwargs)  # fmt: skip
    assert np.array_equal(again.history.loss, whole.history.loss)


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path: Path) -> None:
    x, y = data.xor()
    path = tmp_path / "run.npz"
    _, params = LAB.init(0, (2,))
    train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=2, checkpoint=path)
    wide = layers.mlp([2, 5, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    _, other = wide.init(0, (2,))
    with pytest.raises(ValueError, match=r"checkpoint .* holds params\[0\]\.w of shape \(2, 4\)"):
        train.fit(wide, losses.mse, optim.sgd(1.0), other, (x, y), epochs=4, checkpoint=path,
                  resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="'resume' needs a 'checkpoint'"):
        train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=2, resume=True)


def test_evaluate_averages_over_examples_for_image_inputs() -> None:
    net = layers.serial(layers.flatten(), layers.dense(3))
    _, params = net.init(0, (4, 5, 1))
    x = np.random.default_rng(0).normal(size=(10, 4, 5, 1))
    labels = np.arange(10) % 3
    whole = train.evaluate(net, losses.softmax_cross_entropy, params, (x, labels),
                           metrics={"accuracy": metrics.accuracy})  # fmt: skip
    batched = train.evaluate(net, losses.softmax_cross_entropy, params, (x, labels), batch_size=3,
                             metrics={"accuracy": metrics.accuracy})  # fmt: skip
    np.testing.assert_allclose(batched["loss"], whole["loss"], rtol=1e-12)
    np.testing.assert_allclose(batched["accuracy"], whole["accuracy"], rtol=1e-12)
    assert 0.0 <= float(whole["accuracy"]) <= 1.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_rarely_and_ends_before_log_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = data.linear(400, key=0)
    _, params = LAB.init(0, (2,))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=3, batch_size=4,
              progress=True, log_every=1)  # fmt: skip
    drawn = terminal.getvalue()
    assert drawn.count("\n") == 3  # every epoch's bar line is ended before its log line
    assert "epoch 3/3 [" in drawn and "100/100" in drawn
    assert drawn.count("\r") < 3 * 100 // 4  # throttled: far fewer frames than steps
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "fit: kernels: fused mlp, flat buffer"
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["1", "2", "3"]


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    x, y = data.linear(40, key=0)
    _, params = LAB.init(0, (2,))
    train.fit(LAB, losses.mse, optim.sgd(1.0), params, (x, y), epochs=2, batch_size=10,
              progress=True, log_every=1)  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(captured.out.splitlines()) == 3  # the kernels line and 2 epoch lines
