"""A catalogue of bad inputs to fnnet's public API and the error each must get.

Each case calls one public function with one kind of bad input. The rule it checks: a
``ValueError`` or ``TypeError`` (never an ``IndexError``/``AttributeError`` from deep inside),
whose message names the function and the argument. ``tests/test_bad_inputs.py`` asserts every
case; ``scripts/fuzz_table.py`` prints the table of what each actually gets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fnnet import check, data, io, layers, losses, metrics, optim, random, train, tree


@attrs.frozen
class Case:
    """``call()`` must raise ``expect`` with every string of ``names`` in its message."""

    function: str
    given: str
    call: Callable[[], object]
    expect: type[Exception]
    names: tuple[str, ...]


def _dense() -> tuple[layers.Layer[Any, Any], Any]:
    layer = layers.dense(3)
    return layer, layer.init(0, (4,))[1]


def _lab() -> tuple[layers.Layer[Any, Any], Any]:
    net = layers.mlp([2, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    return net, net.init(0, (2,))[1]


def _conv() -> tuple[layers.Layer[Any, Any], Any]:
    layer = layers.conv2d(2, 3)
    return layer, layer.init(0, (6, 6, 1))[1]


def _fit(**kwargs: Any) -> object:
    net, params = _lab()
    x, y = data.xor()
    args: dict[str, Any] = {"data": (x, y), "epochs": 2, **kwargs}
    return train.fit(net, losses.mse, optim.sgd(0.1), params, **args)


def _load_wrong_structure(tmp: Path) -> object:
    io.save(tmp / "p.npz", [np.ones(2)])
    return io.load(tmp / "p.npz", like={"w": np.ones(2)})


def _load_truncated(tmp: Path) -> object:
    io.save(tmp / "t.npz", [np.ones(200)])
    raw = (tmp / "t.npz").read_bytes()
    (tmp / "t.npz").write_bytes(raw[:100])
    return io.load(tmp / "t.npz", like=[np.ones(200)])


def _check_wrong_grad_shape() -> object:
    return check.check_gradients(lambda xs: 0.0, [np.ones(3)], [np.ones(2)], ["w"])


def _target_trap(loss: Callable[[Any, Any], object]) -> Callable[[], object]:
    return lambda: loss(np.full((6, 1), 0.5), np.zeros(6))


def cases(tmp: Path) -> list[Case]:
    """Every case; ``tmp`` is a scratch folder for the file cases."""
    dense, dp = _dense()
    net, lp = _lab()
    conv, cp = _conv()
    f64 = np.ones((5, 4))
    v, e = ValueError, TypeError
    return [
        # layers
        Case("dense.apply", "x with 2 features, params expect 4", lambda: dense.apply(dp, np.ones((5, 2))), v, ("dense", "'x'", "(5, 2)")),
        Case("dense.apply", "x of rank 1", lambda: dense.apply(dp, np.ones(4)), v, ("dense", "'x'", "(4,)")),
        Case("dense.apply", "integer x", lambda: dense.apply(dp, np.ones((5, 4), dtype=np.int64)), e, ("dense", "'x'", "int64")),
        Case("dense.apply", "bool x", lambda: dense.apply(dp, np.ones((5, 4), dtype=bool)), e, ("dense", "'x'", "bool")),
        Case("dense.apply", "float32 x, float64 params", lambda: dense.apply(dp, np.ones((5, 4), np.float32)), e, ("dense", "'x'", "float32")),
        Case("dense.apply", "a Python list as x", lambda: dense.apply(dp, [[1.0] * 4]), e, ("dense", "'x'", "list")),  # type: ignore[arg-type]  # deliberately wrong
        Case("dense.apply", "x stacked for 3 models, params for 2", lambda: dense.apply(layers.init_stack(dense, [0, 1], (4,))[1], np.ones((3, 5, 4))), v, ("dense", "'x'", "(3,)", "(2,)")),
        Case("dense", "out_features = 0", lambda: layers.dense(0), v, ("dense", "'out_features'")),
        Case("dense.init", "input_shape of rank 2", lambda: dense.init(0, (2, 2)), v, ("dense", "input_shape", "(2, 2)")),
        Case("sigmoid.apply", "integer x", lambda: layers.sigmoid.apply(None, np.ones((2, 2), np.int64)), e, ("sigmoid", "'x'", "int64")),
        Case("softmax.apply", "a Python float", lambda: layers.softmax.apply(None, 1.0), e, ("softmax", "'x'", "float")),  # type: ignore[arg-type]  # deliberately wrong
        Case("serial.apply", "params tuple of the wrong length", lambda: net.apply(lp[:2], np.ones((3, 2))), v, ("serial", "'params'", "4")),
        Case("mlp", "sizes with a zero", lambda: layers.mlp([2, 0, 1]), v, ("mlp", "'sizes'")),
        Case("mlp.init", "input_shape not (sizes[0],)", lambda: net.init(0, (3,)), v, ("mlp", "input_shape", "(3,)")),
        Case("init_stack", "no keys", lambda: layers.init_stack(dense, [], (4,)), v, ("init_stack", "'keys'")),
        Case("conv2d.apply", "x of rank 3 (no channel axis)", lambda: conv.apply(cp, np.ones((2, 6, 6))), v, ("conv2d", "'x'", "(2, 6, 6)")),
        Case("conv2d.apply", "3 channels, params expect 1", lambda: conv.apply(cp, np.ones((2, 6, 6, 3))), v, ("conv2d", "'x'", "3")),
        Case("conv2d.apply", "image smaller than the kernel", lambda: conv.apply(cp, np.ones((2, 2, 2, 1))), v, ("conv2d", "'x'")),
        Case("conv2d", "kernel_size 0", lambda: layers.conv2d(2, 0), v, ("conv2d", "kernel_size")),
        Case("max_pool2d.apply", "x of rank 2", lambda: layers.max_pool2d(2).apply(None, np.ones((4, 4))), v, ("max_pool2d", "'x'", "(4, 4)")),
        Case("flatten.apply", "x of rank 2", lambda: layers.flatten().apply(None, np.ones((4, 4))), v, ("flatten", "'x'", "(4, 4)")),
        Case("dropout", "rate 1.0", lambda: layers.dropout(1.0), v, ("dropout", "'rate'")),
        # losses
        *[
            Case(name, "(N,) target for an (N, 1) prediction", _target_trap(fn), v, (name, "'target'", "(6,)", "(6, 1)"))
            for name, fn in (("mse", losses.mse), ("half_mse", losses.half_mse), ("binary_cross_entropy", losses.binary_cross_entropy), ("binary_cross_entropy_with_logits", losses.binary_cross_entropy_with_logits), ("softmax_cross_entropy", losses.softmax_cross_entropy))
        ],
        Case("mse", "integer prediction", lambda: losses.mse(np.ones((2, 1), np.int64), np.ones((2, 1))), e, ("mse", "'pred'", "int64")),
        Case("mse", "prediction of rank 1", lambda: losses.mse(np.ones(3), np.ones(3)), v, ("mse", "'pred'", "(3,)")),
        Case("mse", "empty batch", lambda: losses.mse(np.ones((0, 1)), np.ones((0, 1))), v, ("mse", "'pred'", "(0, 1)")),
        Case("mse", "float32 prediction, float64 target", lambda: losses.mse(np.ones((2, 1), np.float32), np.ones((2, 1))), e, ("mse", "'target'", "float64")),
        Case("softmax_cross_entropy", "label 10 with 10 classes", lambda: losses.softmax_cross_entropy(np.zeros((2, 10)), np.array([0, 10])), v, ("softmax_cross_entropy", "'target'", "[0, 10)")),
        Case("softmax_cross_entropy", "negative label", lambda: losses.softmax_cross_entropy(np.zeros((2, 10)), np.array([-1, 0])), v, ("softmax_cross_entropy", "'target'", "[0, 10)")),
        Case("softmax_cross_entropy", "labels for 3 examples, 2 predicted", lambda: losses.softmax_cross_entropy(np.zeros((2, 10)), np.array([0, 1, 2])), v, ("softmax_cross_entropy", "'target'", "(3,)")),
        # optimizers
        Case("sgd", "negative learning rate", lambda: optim.sgd(-0.1), v, ("scale_by_learning_rate", "'learning_rate'")),
        Case("sgd", "NaN learning rate", lambda: optim.sgd(float("nan")), v, ("scale_by_learning_rate", "'learning_rate'")),
        Case("adam", "b1 = 1.5", lambda: optim.adam(0.1, b1=1.5), v, ("scale_by_adam", "'b1'")),
        Case("momentum", "per-model beta with a NaN", lambda: optim.momentum(0.1, np.array([0.9, np.nan])), v, ("trace", "'decay'")),
        Case("Optimizer.update", "per-model lr for 2 models, params for 3", lambda: optim.sgd(np.array([0.1, 0.2])).update([f64[:3]], optim.sgd(np.array([0.1, 0.2])).init([f64[:3]]), [f64[:3]]), v, ("fnnet.optim", "(2,)", "(3, 4)")),
        Case("Optimizer.update", "grads with fewer leaves than params", lambda: optim.sgd(0.1).update([f64], optim.sgd(0.1).init([f64, f64]), [f64, f64]), v, ("grads", "params")),
        Case("masked", "a user's optimizer inside", lambda: optim.masked(optim.Optimizer(lambda p: 0, lambda g, s, p: (g, s)), [True]), e, ("masked", "'inner'")),
        Case("schedules.exponential_decay", "transition_steps 0", lambda: optim.schedules.exponential_decay(1.0, 0.5, 0), v, ("exponential_decay", "transition_steps")),
        # training
        Case("fit", "epochs = 0", lambda: _fit(epochs=0), v, ("fit", "'epochs'")),
        Case("fit", "patience without validation data", lambda: _fit(patience=3), v, ("fit", "'patience'", "'val_data'")),
        Case("fit", "x and y of different lengths", lambda: _fit(data=(np.ones((21, 2)), np.ones((5, 1)))), v, ("fit", "(21, 2)", "(5, 1)")),
        Case("fit", "data given as lists", lambda: _fit(data=([[0.0, 1.0]], [[1.0]])), e, ("fit", "'data'")),
        Case("fit", "(N,) targets for (N, 1) outputs", lambda: _fit(data=(np.ones((21, 2)), np.ones(21))), v, ("mse", "'target'", "(21,)")),
        Case("fit", "a NaN in the inputs", lambda: _fit(data=(np.full((21, 2), np.nan), np.ones((21, 1)))), v, ("fit", "x in 'data'", "NaN")),
        Case("fit", "an infinite validation target", lambda: _fit(val_data=(np.ones((3, 2)), np.array([[np.inf]] * 3))), v, ("fit", "y in 'val_data'", "infinite")),
        Case("fit", "integer inputs", lambda: _fit(data=(np.ones((21, 2), np.int64), np.ones((21, 1)))), e, ("dense", "'x'", "int64")),
        # data, metrics
        Case("data.linear", "n = -1", lambda: data.linear(-1, key=0), v, ("linear", "'n'")),
        Case("data.one_hot", "label 3 with 3 classes", lambda: data.one_hot(np.array([0, 3]), 3), v, ("one_hot", "'labels'")),
        Case("data.one_hot", "float labels", lambda: data.one_hot(np.array([0.0, 1.0]), 3), e, ("one_hot", "'labels'")),
        Case("data.batches", "batch_size 0", lambda: data.batches(np.ones((4, 2)), np.ones((4, 1)), 0, None), v, ("batches", "'batch_size'")),
        Case("data.batches", "x and y of different lengths", lambda: data.batches(np.ones((4, 2)), np.ones((3, 1)), 2, None), v, ("batches", "(4, 2)", "(3, 1)")),
        Case("data.train_val_split", "validation fraction 1.5", lambda: data.train_val_split(np.ones((4, 2)), np.ones((4, 1)), 1.5, key=0), v, ("train_val_split", "'val'")),
        Case("data.flatten_images", "float images", lambda: data.flatten_images(np.ones((2, 28, 28))), e, ("flatten_images", "'x'")),  # type: ignore[arg-type]  # deliberately wrong
        Case("metrics.accuracy", "labels for 2 examples, 3 predicted", lambda: metrics.accuracy(np.ones((3, 2)), np.array([0, 1])), v, ("accuracy", "(3,)", "(2,)")),
        Case("metrics.confusion_matrix", "class 3 of 3", lambda: metrics.confusion_matrix(np.array([3]), np.array([0]), 3), v, ("confusion_matrix", "'pred_labels'")),
        # trees, keys, io, check
        Case("tree.tree_map", "trees of different structure", lambda: tree.tree_map(np.add, [f64], [f64, f64]), v, ("tree structures differ", "list")),
        Case("tree.unflatten", "too few leaves", lambda: tree.unflatten(tree.structure([1, 2]), [1]), v, ("unflatten", "2 leaves", "got 1")),
        Case("tree.stack", "no trees", lambda: tree.stack([]), v, ("stack",)),
        Case("tree.tree_at", "where returns a new array", lambda: tree.tree_at(lambda t: np.zeros(1), [f64], 0), v, ("tree_at", "`where`")),
        Case("tree.pytree", "a plain class", lambda: tree.pytree(type("Plain", (), {})), e, ("pytree", "not an attrs class")),
        Case("random.generator", "negative key", lambda: random.generator(-1), v, ("fnnet.random", "non-negative")),
        Case("random.generator", "float key", lambda: random.generator(1.5), e, ("fnnet.random", "int")),  # type: ignore[arg-type]  # deliberately wrong type
        Case("io.save", "an object array", lambda: io.save(tmp / "o.npz", [np.array([None], dtype=object)]), e, ("fnnet.io.save", "object")),
        Case("io.load", "file of another structure", lambda: _load_wrong_structure(tmp), v, ("fnnet.io.load", "structure")),
        Case("io.load", "truncated file", lambda: _load_truncated(tmp), v, ("fnnet.io.load", "truncated or corrupted")),
        Case("check.check_gradients", "gradient of the wrong shape", _check_wrong_grad_shape, v, ("check_gradients", "(2,)", "(3,)")),
    ]  # fmt: skip


def outcome(case: Case) -> Exception | None:
    """What the case actually raised (``None`` if nothing)."""
    try:
        result = case.call()
        if hasattr(result, "__next__"):  # a generator: errors may only come on iteration
            next(iter(result))  # type: ignore[call-overload]  # checked by hasattr above
    except Exception as exc:  # noqa: BLE001 - recording whatever comes is the point
        return exc
    return None


def passes(case: Case, exc: Exception | None) -> bool:
    """The case got its expected error type (or a subclass) naming everything it must."""
    return isinstance(exc, case.expect) and all(n in str(exc) for n in case.names)
