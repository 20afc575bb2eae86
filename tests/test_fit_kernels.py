"""fit with the kernel tier gives what the reference tier gives, and says which kernels ran.

One step agrees to 1e-12 (the kernels fold the bias into the matmul, so rounding differs in the
last bit); over tens of epochs those last bits compound, so whole runs are compared to 1e-7.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fnnet import data, layers, losses, metrics, optim, train, tree
from fnnet.kernels import plan as kernel_plan

NET = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
RATES = np.array([0.5, 0.05, 1.0])

OPTIMIZERS: dict[str, Any] = {
    "sgd": lambda lr: optim.sgd(lr),
    "momentum": lambda lr: optim.momentum(lr, 0.9),
    "nesterov": lambda lr: optim.nesterov(lr, 0.9),
    "adagrad": lambda lr: optim.adagrad(lr),
    "rmsprop": lambda lr: optim.rmsprop(lr / 10),
    "adam": lambda lr: optim.adam(lr / 10),
    "adamw": lambda lr: optim.adamw(lr / 10, weight_decay=1e-3),
    "clipped": lambda lr: optim.chain(optim.clip(0.5), optim.sgd(lr)),
}


def both(net: Any, opt: Any, params: Any, xy: Any, **kw: Any) -> tuple[Any, Any]:
    fast = train.fit(net, losses.mse, opt, params, xy, **kw)
    plain = train.fit(net, losses.mse, opt, params, xy, kernels=False, **kw)
    return fast, plain


def assert_same(fast: Any, plain: Any, rtol: float = 1e-7, atol: float = 1e-12) -> None:
    assert tree.structure(fast.params) == tree.structure(plain.params)
    assert tree.structure(fast.opt_state) == tree.structure(plain.opt_state)
    for a, b in zip(tree.leaves(fast.params), tree.leaves(plain.params), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    for a, b in zip(tree.leaves(fast.opt_state), tree.leaves(plain.opt_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
    np.testing.assert_allclose(fast.history.loss, plain.history.loss, rtol=rtol)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_one_epoch_agrees_to_1e_12(name: str) -> None:
    x, y = data.xor()
    _, params = layers.init_stack(NET, [0, 1, 2], (2,))
    fast, plain = both(NET, OPTIMIZERS[name](RATES), params, (x, y), epochs=1)
    assert "flat buffer" in fast.kernels
    assert_same(fast, plain, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_kernels_on_and_off_give_the_same_run(name: str) -> None:
    x, y = data.xor()
    _, params = NET.init(0, (2,))
    fast, plain = both(NET, OPTIMIZERS[name](0.5), params, (x, y), epochs=30)
    assert fast.kernels == ("fused mlp", "flat buffer") and plain.kernels == ()
    assert_same(fast, plain)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_stack_with_per_model_rates_is_the_same_with_kernels(name: str) -> None:
    x, y = data.xor()
    _, params = layers.init_stack(NET, [0, 1, 2], (2,))
    fast, plain = both(NET, OPTIMIZERS[name](RATES), params, (x, y), epochs=20, batch_size=8,
                       key=4)  # fmt: skip
    assert "flat buffer" in fast.kernels
    assert_same(fast, plain)


def test_float32_stays_float32_through_the_kernels() -> None:
    x, y = data.xor(np.float32)
    net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid, dtype=np.float32)
    _, params = net.init(0, (2,))
    fast, plain = both(net, optim.adam(0.05), params, (x, y), epochs=10)
    assert {a.dtype for a in tree.leaves(fast.params)} == {np.dtype(np.float32)}
    arrays = [a for a in tree.leaves(fast.opt_state) if isinstance(a, np.ndarray) and a.ndim]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    assert_same(fast, plain, rtol=1e-4, atol=1e-6)


def test_validation_patience_and_checkpoints_see_the_reference_tree(tmp_path: Any) -> None:
    (xt, yt), (xv, yv) = data.train_val_split(*data.linear(60, key=0), 0.25, key=1)
    _, params = NET.init(0, (2,))
    kw: dict[str, Any] = {"epochs": 25, "batch_size": 10, "val_data": (xv, yv), "patience": 3,
                          "metrics": {"accuracy": metrics.accuracy}}  # fmt: skip
    fast, plain = both(NET, optim.adam(0.05), params, (xt, yt), **kw)
    assert_same(fast, plain)
    assert fast.best_epoch == plain.best_epoch
    path = tmp_path / "run.npz"
    train.fit(NET, losses.mse, optim.adam(0.05), params, (xt, yt), checkpoint=path, **kw)
    saved = train.load_checkpoint(path, train.init_state(optim.adam(0.05), params))
    assert tree.structure(saved.params) == tree.structure(params)
    assert tree.structure(saved.opt_state) == tree.structure(fast.opt_state)


def test_a_users_optimizer_or_masked_runs_without_the_flat_buffer() -> None:
    x, y = data.xor()
    _, params = NET.init(0, (2,))

    def init(p: Any) -> tuple[()]:
        return ()

    def update(g: Any, s: tuple[()], p: Any) -> tuple[Any, tuple[()]]:
        return tree.map(lambda a: -0.5 * a, g), s

    for opt in (
        optim.Optimizer(init, update),
        optim.chain(optim.sgd(0.5), optim.freeze(lambda p: tuple(i == 0 for i in range(len(p))))),
    ):
        fast, plain = both(NET, opt, params, (x, y), epochs=10)
        assert fast.kernels == ("fused mlp",)
        assert_same(fast, plain)


def test_a_users_layer_runs_through_the_reference() -> None:
    x, y = data.xor()
    net = layers.serial(layers.dense(4), layers.tanh, layers.dense(1), layers.sigmoid)
    _, params = net.init(0, (2,))
    fast = train.fit(net, losses.mse, optim.sgd(0.5), params, (x, y), epochs=5)
    assert "flat buffer" in fast.kernels or fast.kernels == ()
    double = layers.Layer(
        lambda key, shape: (shape, None),
        lambda p, x: (2 * x, None),
        lambda p, r, dy: (None, 2 * dy),
        lambda p, x: 2 * x,
        name="double",
    )
    user = layers.serial(layers.dense(1), double)
    _, up = user.init(0, (2,))
    r = train.fit(user, losses.mse, optim.sgd(0.1), up, (x, y), epochs=3)
    assert r.kernels == ()


STACKS = [None, "shared", "own"]  # one model; a stack of 3 on shared x, or x per model


def stack_case(models: str | None) -> tuple[Any, Any, Any, Any]:
    """``(params, x, y, learning rate)``: per-model rates on a stack."""
    x, y = data.xor()
    if models is None:
        return NET.init(0, (2,))[1], x, y, 0.5
    _, params = layers.init_stack(NET, [0, 1, 2], (2,))
    if models == "own":  # each model its own examples (and targets)
        x = np.stack([x, 1.0 - x, 0.5 * x])
        y = np.stack([y, 1.0 - y, y])
    return params, x, y, RATES


def fused_and_reference(loss: Any, opt: optim.Optimizer[Any], params: Any) -> tuple[Any, ...]:
    """The plan, its fused step and the reference step, each with its starting state."""
    plan = kernel_plan.choose(NET, opt, params, layout=True)
    assert plan.train_step is not None
    fused = plan.train_step(loss, opt, {})
    assert fused is not None
    reference = train.make_step(NET, loss, opt, kernels=False)
    state = train.TrainState(plan.inner(params), plan.inner_state(opt.init(params)))
    return plan, fused, reference, state, train.init_state(opt, params)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", [losses.mse, losses.half_mse])
@pytest.mark.parametrize("models", STACKS)
def test_the_fused_step_equals_the_reference_step_by_step(
    name: str, loss: Any, models: str | None
) -> None:
    """A loss with a kernel: fit's fused step (forward, loss, gradient, the optimizer's own
    update, all on the flat buffer) agrees with the reference step to 1e-12 at every step, in
    params, optimizer state and loss, for one model and stacks with per-model rates."""
    params, x, y, lr = stack_case(models)
    opt = OPTIMIZERS[name](lr)
    plan, fused, reference, state, ref_state = fused_and_reference(loss, opt, params)
    with train.quiet_floats():
        for _ in range(5):
            state, m = fused(state, (x, y))
            ref_state, ref_m = reference(ref_state, (x, y))
            np.testing.assert_allclose(m["loss"], ref_m["loss"], rtol=1e-12)
            assert type(m["loss"]) is np.ndarray and m["loss"].shape == ref_m["loss"].shape
            for a, b in zip(tree.leaves(plan.outer(state.params)), tree.leaves(ref_state.params),
                            strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
            outer = tree.leaves(plan.outer_state(state.opt_state))
            for a, b in zip(outer, tree.leaves(ref_state.opt_state), strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)
    assert state.step == ref_state.step == 5


@pytest.mark.parametrize("models", STACKS)
def test_the_fused_step_keeps_float32(models: str | None) -> None:
    params, x, y, lr = stack_case(models)
    params = tree.map(lambda a: a.astype(np.float32), params)
    x, y = x.astype(np.float32), y.astype(np.float32)
    opt = optim.adam(lr)
    plan, fused, reference, state, ref_state = fused_and_reference(losses.mse, opt, params)
    with train.quiet_floats():
        for _ in range(3):
            state, m = fused(state, (x, y))
            ref_state, ref_m = reference(ref_state, (x, y))
    assert state.params.dtype == m["loss"].dtype == np.float32
    for a, b in zip(tree.leaves(plan.outer(state.params)), tree.leaves(ref_state.params),
                    strict=True):  # fmt: skip
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_fused_step_runs_only_for_losses_with_a_kernel() -> None:
    _, params = NET.init(0, (2,))
    opt = optim.sgd(0.5)
    plan = kernel_plan.choose(NET, opt, params, layout=True)
    assert plan.train_step is not None
    assert plan.train_step(losses.binary_cross_entropy, opt, {}) is None
    _, stack = layers.init_stack(NET, [0, 1], (2,))
    stacked = kernel_plan.choose(NET, opt, stack, layout=True).train_step
    assert stacked is not None and stacked(losses.mse, opt, {}) is not None


def test_a_stacks_fused_step_gives_each_model_its_own_metrics_and_errors() -> None:
    params, x, y, lr = stack_case("shared")
    kw: dict[str, Any] = {"epochs": 4, "metrics": {"accuracy": metrics.accuracy}}
    fast, plain = both(NET, optim.sgd(lr), params, (x, y), **kw)
    assert_same(fast, plain)
    assert fast.history["accuracy"].shape == (4, 3)
    np.testing.assert_array_equal(fast.history["accuracy"], plain.history["accuracy"])
    with pytest.raises(ValueError, match="flat_mlp"):
        step = kernel_plan.choose(NET, optim.sgd(lr), params, layout=True).train_step
        assert step is not None
        fused = step(losses.mse, optim.sgd(lr), {})
        state = train.TrainState(kernel_plan.choose(NET, optim.sgd(lr), params, True).inner(
            params), None)  # fmt: skip
        assert fused is not None
        fused(state, (np.ones((2, 21, 2)), y))  # 2 batches of x for 3 models


def test_metrics_see_their_own_copy_of_each_prediction() -> None:
    x, y = data.xor()
    _, params = NET.init(0, (2,))
    seen: list[Any] = []

    def keep(pred: Any, target: Any) -> Any:
        seen.append(pred)
        return metrics.accuracy(pred, target)

    fast, plain = both(NET, optim.sgd(1.0), params, (x, y), epochs=3, metrics={"acc": keep})
    assert_same(fast, plain)
    seen = [p for p in seen if p.shape == y.shape]  # fit's up-front probe sees one example
    np.testing.assert_allclose(seen[0], seen[3], rtol=1e-12)  # the first epoch, on and off
    assert not np.array_equal(seen[0], seen[2])  # not overwritten by later steps


def test_a_target_of_another_dtype_gets_the_reference_losss_error() -> None:
    x, y = data.xor()
    _, params = NET.init(0, (2,))
    errors = []
    for kernels in (True, False):
        with pytest.raises(TypeError) as info:
            train.fit(NET, losses.mse, optim.sgd(1.0), params, (x, y.astype(np.float32)),
                      epochs=2, kernels=kernels)  # fmt: skip
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "mse" in errors[0]


def never(epoch: int, loss: Any) -> bool:
    return False


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("models", [None, "shared"])
def test_folded_epochs_equal_the_epoch_loop(kernels: bool, models: str | None) -> None:
    """Without anything to do between epochs ``fit`` folds the steps (a fused step without a
    train state per step); a stopping rule that never fires makes it run the epoch loop, with
    the same result."""
    params, x, y, lr = stack_case(models)
    runs = [
        train.fit(
            NET, losses.mse, optim.adam(lr), params, (x, y), epochs=12, kernels=kernels, until=until
        )  # fmt: skip
        for until in (None, never)
    ]
    assert_same(runs[0], runs[1], rtol=0.0, atol=0.0)
    assert runs[0].epochs == runs[1].epochs == 12 and runs[0].state.step == 12


@pytest.mark.parametrize("models", [None, "shared"])
def test_a_diverging_fold_stops_where_the_epoch_loop_stops(models: str | None) -> None:
    """A loss that turns non-finite inside the fold: the same epochs, history and last finite
    params as the reference epoch loop, and the same error."""
    net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.identity)
    x, y = data.xor()
    if models is None:
        _, params = net.init(0, (2,))
        lr: Any = 100.0
    else:
        _, params = layers.init_stack(net, [0, 1, 2], (2,))
        lr = np.array([0.5, 100.0, 0.1])
    fast = train.fit(net, losses.mse, optim.sgd(lr), params, (x, y), epochs=60,
                     on_nonfinite="stop")  # fmt: skip
    plain = train.fit(net, losses.mse, optim.sgd(lr), params, (x, y), epochs=60,
                      on_nonfinite="stop", kernels=False)  # fmt: skip
    assert fast.kernels == ("fused mlp", "flat buffer")
    assert fast.epochs == plain.epochs and fast.stop_reason == plain.stop_reason
    diverged = np.isnan(plain.history.loss) | np.isinf(plain.history.loss)
    assert diverged.any()
    np.testing.assert_array_equal(np.isfinite(fast.history.loss), ~diverged)
    finite = ~diverged
    np.testing.assert_allclose(fast.history.loss[finite], plain.history.loss[finite], rtol=1e-7)
    for a, b in zip(tree.leaves(fast.params), tree.leaves(plain.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    if models is None:
        assert fast.stop_reason == "diverged"
        errors = []
        for kernels in (True, False):
            with pytest.raises(train.DivergenceError) as info:
                train.fit(net, losses.mse, optim.sgd(lr), params, (x, y), epochs=60,
                          kernels=kernels)  # fmt: skip
            errors.append(str(info.value))
        assert errors[0] == errors[1]


def test_updates_of_another_shape_get_the_reference_error() -> None:
    """A user's per-leaf optimizer whose updates do not have the params' shape: the fused step
    refuses them as ``apply_updates`` does (never a silent broadcast of the params)."""
    x, y = data.xor()
    _, params = NET.init(0, (2,))

    def update(g: Any, s: tuple[()], p: Any) -> tuple[Any, tuple[()]]:
        return tree.map(lambda a: -0.1 * a[None], g), s

    opt = optim.Optimizer(lambda p: (), update, per_leaf=True)
    errors = []
    for kernels in (True, False):
        with pytest.raises(ValueError, match="apply_updates") as info:
            train.fit(NET, losses.mse, opt, params, (x, y), epochs=2, kernels=kernels)
        errors.append(str(info.value))
    assert "flat buffer" in train.fit(NET, losses.mse, optim.sgd(0.1), params, (x, y),
                                      epochs=1).kernels  # fmt: skip


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_a_models_run_does_not_depend_on_its_stack_bit_for_bit(opt: str) -> None:
    """Every model of a stack gets the very params and history it gets in a stack of its own
    (what a sweep's task size decides): the fused step never lets a stack's size, or a model's
    place in it, change its rounding."""
    x, y = data.xor()
    rates = np.linspace(0.5, 2.0, 11)
    net = layers.mlp([2, 3, 5, 1], hidden=layers.sigmoid, output=layers.sigmoid)  # odd widths

    def run(keys: list[int]) -> Any:
        _, params = layers.init_stack(net, keys, (2,))
        lr = rates[keys]
        optimizer = optim.sgd(lr) if opt == "sgd" else optim.adam(lr / 10)
        return train.fit(net, losses.mse, optimizer, params, (x, y), epochs=15)

    whole = run(list(range(11)))
    assert "flat buffer" in whole.kernels
    for k in (0, 3, 7, 10):
        alone = run([k])
        np.testing.assert_array_equal(whole.history.loss[:, k], alone.history.loss[:, 0])
        for a, b in zip(tree.leaves(whole.params), tree.leaves(alone.params), strict=True):
            np.testing.assert_array_equal(a[k], b[0])
