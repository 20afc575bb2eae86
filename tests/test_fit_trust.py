"""fit refuses what would give a silently wrong result, before any training, and never loses a
finished run to a failed checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import data, io, layers, losses, optim, train

NET = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
X, Y = data.xor()


def params(key: int = 0) -> Any:
    return NET.init(key, (2,))[1]


def fit(**kw: Any) -> train.FitResult[Any, Any]:
    args: dict[str, Any] = {"epochs": 3}
    args.update(kw)
    opt = args.pop("optimizer", optim.sgd(0.5))
    p = args.pop("params", params())
    d = args.pop("data", (X, Y))
    return train.fit(NET, losses.mse, opt, p, d, **args)


def test_a_metric_may_not_take_the_name_of_the_loss() -> None:
    with pytest.raises(ValueError, match="metric name 'loss' is reserved"):
        fit(metrics={"loss": lambda p, t: np.zeros(())})


def test_params_of_another_architecture_are_refused_before_training() -> None:
    _, wide = layers.mlp([2, 7, 1]).init(0, (2,))
    with pytest.raises(ValueError, match=r"params\[0\]\.w has shape \(2, 7\).*another model"):
        fit(params=wide)
    bad = (params()[0], None, layers.DenseParams(params()[2].w, np.zeros(1)), None)
    fit(params=bad)  # the right shapes train
    with pytest.raises(ValueError, match="structure"):
        fit(params=params()[:2])


def test_non_finite_or_non_float_params_are_refused() -> None:
    p = params()
    nan = (layers.DenseParams(p[0].w * np.nan, p[0].b), *p[1:])
    with pytest.raises(ValueError, match=r"params\[0\]\.w has NaN"):
        fit(params=nan)
    f16 = (layers.DenseParams(p[0].w.astype(np.float16), p[0].b), *p[1:])
    with pytest.raises(TypeError, match="float32 or float64"):
        fit(params=f16)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ((X, Y, Y), TypeError, "pair"),
        ([X, Y], TypeError, "pair"),
        ((X.tolist(), Y), TypeError, "x in 'data' must be a numpy array"),
        ((X[:0], Y[:0]), ValueError, "must hold examples"),
        ((X, Y[:5]), ValueError, "same number of examples"),
        ((np.ones((21, 3)), Y), ValueError, "fits neither"),
    ],
)
def test_bad_data_is_refused_with_a_clear_error(bad: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fit(data=bad)


def test_bad_validation_data_is_refused_before_the_first_epoch() -> None:
    calls = []

    def metric(pred: Any, target: Any) -> Any:
        calls.append(1)
        return np.zeros(())

    with pytest.raises(ValueError, match="'val_data'"):
        fit(val_data=(np.ones((5, 3)), np.ones((5, 1))), metrics={"m": metric})
    assert not calls  # no epoch ran
    with pytest.raises(ValueError, match="must hold examples"):
        fit(val_data=(X[:0], Y[:0]))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"epochs": 0}, "'epochs' must be a positive int"),
        ({"epochs": 2.5}, "'epochs' must be a positive int"),
        ({"epochs": True}, "'epochs' must be a positive int"),
        ({"batch_size": 0}, "'batch_size'"),
        ({"on_nonfinite": "ignore"}, "'on_nonfinite' must be 'raise' or 'stop'"),
        ({"patience": 2}, "needs 'val_data'"),
        ({"resume": True}, "needs a 'checkpoint'"),
    ],
)
def test_bad_options_are_refused(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit(**kw)


def test_numpy_integers_are_accepted_for_counts() -> None:
    r = fit(epochs=np.int64(3), batch_size=np.int32(8))
    assert r.epochs == 3


def test_an_opt_state_of_another_optimizer_is_refused() -> None:
    state = optim.adam(0.1).init(params())
    with pytest.raises(ValueError, match="'opt_state'.*another optimizer"):
        fit(opt_state=state)


def test_stop_on_a_single_diverging_model_keeps_its_last_finite_params() -> None:
    x, y = data.linear(50, key=0)
    net = layers.mlp([2, 10, 10, 1])
    _, p = net.init(0, (2,))
    r = train.fit(net, losses.mse, optim.sgd(5.0), p, (x, y), epochs=1000, on_nonfinite="stop")
    assert r.stop_reason == "diverged"
    assert all(np.isfinite(a).all() for a in (r.params[0].w, r.params[2].w, r.params[4].w))


def test_per_model_data_is_batched_on_its_examples_axis() -> None:
    keys = [0, 1]
    _, stacked = layers.init_stack(NET, keys, (2,))
    xs = np.stack([X, X[::-1]])
    ys = np.stack([Y, Y[::-1]])
    together = train.fit(NET, losses.mse, optim.sgd(0.5), stacked, (xs, ys), epochs=4,
                         batch_size=5, key=3)  # fmt: skip
    for m, k in enumerate(keys):
        alone = train.fit(NET, losses.mse, optim.sgd(0.5), params(k), (xs[m], ys[m]), epochs=4,
                          batch_size=5, key=3)  # fmt: skip
        np.testing.assert_allclose(together.history.loss[:, m], alone.history.loss, rtol=1e-12)
        np.testing.assert_allclose(together.params[0].w[m], alone.params[0].w, rtol=1e-12)


def test_an_unwritable_checkpoint_path_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    with pytest.raises(ValueError, match="cannot write checkpoint"):
        fit(checkpoint=blocker / "run.npz", epochs=50)


def test_a_failed_save_never_costs_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full_disk(path: Any, tree: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "save", full_disk)
    r = fit(checkpoint=tmp_path / "run.npz", epochs=4)
    assert r.epochs == 4 and r.checkpoint_error is not None
    assert "No space left" in r.checkpoint_error
    assert "could not write checkpoint" in capsys.readouterr().err


def test_two_runs_may_not_share_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    (tmp_path / "run.npz.lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(ValueError, match="in use by another run"):
        fit(checkpoint=path)
    (tmp_path / "run.npz.lock").write_text("999999999")  # a dead one: taken over
    fit(checkpoint=path)
    assert not (tmp_path / "run.npz.lock").exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"optimizer": optim.sgd(5.0)}, r"optimizer or its hyperparameters differs"),
        ({"optimizer": optim.adam(0.5)}, r"different model or optimizer"),
        ({"batch_size": 4}, r"batch_size differs \(file -1, now 4\)"),
        ({"key": 9}, "key differs"),
        ({"data": (X[::-1].copy(), Y[::-1].copy())}, "training data differs"),
        ({"epochs": 2}, r"already holds 3 epochs, more than epochs=2"),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_run(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    path = tmp_path / "run.npz"
    fit(checkpoint=path, epochs=3)
    args: dict[str, Any] = {"checkpoint": path, "resume": True, "epochs": 6}
    args.update(change)
    with pytest.raises(ValueError, match=match) as info:
        fit(**args)
    assert "resume=False" in str(info.value) or "epochs >=" in str(info.value)


def test_resume_continues_and_load_checkpoint_reads_the_params(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    whole = fit(epochs=6)
    fit(checkpoint=path, epochs=3)
    resumed = fit(checkpoint=path, resume=True, epochs=6)
    np.testing.assert_array_equal(resumed.history.loss, whole.history.loss)
    state = train.load_checkpoint(path, train.init_state(optim.sgd(0.5), params()))
    assert state.step == 6
    np.testing.assert_array_equal(state.params[0].w, whole.params[0].w)


def test_validation_targets_that_do_not_fit_the_loss_are_refused_before_training() -> None:
    calls = []

    def metric(pred: Any, target: Any) -> Any:
        calls.append(1)
        return np.zeros(())

    with pytest.raises(ValueError, match="y in 'val_data' does not fit the loss"):
        fit(val_data=(X, Y[:, 0]), metrics={"m": metric})
    assert len(calls) == 1  # the one-example probe of the training data, no epoch


def test_an_old_opt_state_continues_with_the_optimizers_hyperparameters() -> None:
    p = params()
    old = optim.sgd(0.5).init(p)
    slow = fit(optimizer=optim.sgd(5.0), opt_state=old, epochs=2)
    fast = fit(optimizer=optim.sgd(5.0), epochs=2)
    np.testing.assert_array_equal(slow.params[0].w, fast.params[0].w)  # 5.0 won, not 0.5
    adam = optim.adam(0.1)
    warm = fit(optimizer=adam, epochs=3)
    cont = fit(optimizer=optim.adam(0.01), opt_state=warm.opt_state, params=warm.params)
    assert cont.opt_state[0].count == 6 and cont.opt_state[1].learning_rate == 0.01


def test_two_threads_of_one_process_may_not_share_a_checkpoint(tmp_path: Path) -> None:
    from fnnet.checkpoint import Lock

    held = Lock(tmp_path / "run.npz")
    try:
        with pytest.raises(ValueError, match="in use by another run in this process"):
            fit(checkpoint=tmp_path / "run.npz")
    finally:
        held.release()
    fit(checkpoint=tmp_path / "run.npz")


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"model": print}, TypeError, "'model' must be a fnnet Layer"),
        ({"loss": "mse"}, TypeError, "'loss' must be a function"),
        ({"optimizer": print}, TypeError, "'optimizer' must be an optim.Optimizer"),
        ({"metrics": [print]}, TypeError, "'metrics' must be a dict"),
        ({"key": -1}, ValueError, "'key' must be an int or a tuple"),
        ({"key": "a"}, TypeError, "'key' must be an int or a tuple"),
    ],
)
def test_arguments_of_the_wrong_kind_are_refused(
    kw: dict[str, Any], error: type, match: str
) -> None:
    args: dict[str, Any] = {"model": NET, "loss": losses.mse, "optimizer": optim.sgd(0.1)}
    args.update(kw)
    with pytest.raises(error, match=match):
        train.fit(args.pop("model"), args.pop("loss"), args.pop("optimizer"), params(), (X, Y),
                  epochs=2, **args)  # fmt: skip


def test_scan_and_load_checkpoint_refuse_arguments_of_the_wrong_kind(tmp_path: Path) -> None:
    step = train.make_step(NET, losses.mse, optim.sgd(0.1))
    state = train.init_state(optim.sgd(0.1), params())
    with pytest.raises(TypeError, match="every batch must be a pair"):
        train.scan(step, state, [(X, Y, Y)])  # type: ignore[list-item]  # deliberately wrong
    fit(checkpoint=tmp_path / "c.npz")
    with pytest.raises(TypeError, match="'like' must be a TrainState"):
        train.load_checkpoint(tmp_path / "c.npz", params())
    with pytest.raises(TypeError, match="'series'"):
        train.first_below([0.5, 0.1], 0.2)  # type: ignore[arg-type]  # deliberately wrong


@pytest.mark.parametrize("rule", ["until", "patience"])
def test_each_model_of_a_stack_stops_where_it_would_alone(rule: str) -> None:
    (xt, yt), val = data.train_val_split(*data.linear(80, key=0), 0.25, key=1)
    rates = np.array([0.5, 2.0, 8.0])
    _, stacked = layers.init_stack(NET, [0, 1, 2], (2,))
    kw: dict[str, Any] = {"epochs": 60, "batch_size": 20, "key": 3}
    if rule == "until":
        kw["until"] = train.loss_below(0.2)
    else:
        kw.update(val_data=val, patience=2)
    together = train.fit(NET, losses.mse, optim.sgd(rates), stacked, (xt, yt), **kw)
    for m in range(3):
        alone = train.fit(NET, losses.mse, optim.sgd(float(rates[m])), params(m), (xt, yt), **kw)
        np.testing.assert_allclose(together.params[0].w[m], alone.params[0].w, rtol=1e-9)
        n = len(alone.history)
        np.testing.assert_allclose(together.history.loss[:n, m], alone.history.loss, rtol=1e-9)


def test_a_stack_whose_models_all_diverge_one_by_one_stops() -> None:
    x, y = data.linear(50, key=0)
    net = layers.mlp([2, 10, 10, 1])
    _, stacked = layers.init_stack(net, [0, 1, 2], (2,))
    r = train.fit(net, losses.mse, optim.sgd(np.array([2.0, 5.0, 9.0])), stacked, (x, y),
                  epochs=5000, on_nonfinite="stop")  # fmt: skip
    assert r.stop_reason == "diverged" and r.epochs < 100


def test_an_opt_state_made_for_other_params_is_refused_not_dropped() -> None:
    _, wide = layers.mlp([2, 7, 1], hidden=layers.tanh, output=layers.sigmoid).init(0, (2,))
    state = optim.momentum(0.5).init(wide)
    with pytest.raises(ValueError, match="'opt_state' holds a buffer of shape"):
        fit(optimizer=optim.momentum(0.5), opt_state=state)
