"""Models of a stack never influence each other: a table of every optimizer, transform, schedule,
loss, metric, stopping rule and layer, each run once on a stack of 3 models and compared with
each model run alone (float64, to 1e-12).

A row that fails today is a strict xfail listed (with its reason) in the one list of known
failures, ``KNOWN_FAILURES`` in ``scripts/bad_inputs.py``, under the id ``stack: <row>``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from fnnet import data, layers, losses, metrics, optim, train, tree
from fnnet.arrays import Array
from fnnet.optim import schedules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts: no package
import bad_inputs  # noqa: E402

M = 3  # models in the stack


def _close(got: Any, want: Any) -> str | None:
    """Where ``got`` differs from ``want`` by more than 1e-12 (relative and absolute)."""
    if tree.structure(got) != tree.structure(want):
        return f"structure {tree.structure(got)!r}, alone {tree.structure(want)!r}"
    for a, b, where in zip(tree.leaves(got), tree.leaves(want), tree.paths(want), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return f"leaf{where} has shape {a.shape}, alone {b.shape}"
        if not np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True):
            return f"leaf{where} differs from the model alone by {np.nanmax(np.abs(a - b)):.3g}"
    return None


@attrs.frozen
class Row:
    """``stacked()`` returns the stack's result as a list of per-model results; ``alone(i)``
    returns model ``i``'s result computed without the others."""

    name: str
    stacked: Callable[[], list[Any]]
    alone: Callable[[int], Any]


def _split(t: Any, axis_models: int = M) -> list[Any]:
    return [tree.map(lambda a, i=i: np.asarray(a)[i], t) for i in range(axis_models)]


# --- optimizers and transforms ----------------------------------------------------------------

_rng = np.random.default_rng(0)
PARAMS = {"b": _rng.normal(size=(M, 3)), "w": _rng.normal(size=(M, 4, 3))}
GRADS = [
    {"b": _rng.normal(size=(M, 3)) * s, "w": _rng.normal(size=(M, 4, 3)) * s}
    for s in (1.0, 5.0, 0.2, 3.0)
]  # different scales per step, so that clipping and second moments matter
GRADS = [
    {k: v * np.array([1.0, 30.0, 0.01]).reshape(-1, *[1] * (v.ndim - 1)) for k, v in g.items()}
    for g in GRADS
]  # the models' gradients differ in scale by 3000x


def _run(opt: optim.Optimizer[Any], params: Any, grads: list[Any]) -> Any:
    state = opt.init(params)
    out = []
    for g in grads:
        u, state = opt.update(g, state, params)
        params = optim.apply_updates(params, u)
        out.append(params)
    return out


def _optimizer_row(
    name: str,
    make: Callable[[], optim.Optimizer[Any]],
    make_alone: Callable[[int], optim.Optimizer[Any]] | None = None,
) -> Row:
    def stacked() -> list[Any]:
        steps = _run(make(), PARAMS, GRADS)
        return [[s[i] for s in (_split(p) for p in steps)] for i in range(M)]

    def alone(i: int) -> Any:
        opt = make_alone(i) if make_alone is not None else make()
        return _run(opt, _split(PARAMS)[i], [_split(g)[i] for g in GRADS])

    return Row(name, stacked, alone)


PER_MODEL_LR = np.array([0.1, 0.01, 1.0])
OPTIMIZERS: list[Row] = [
    _optimizer_row("sgd(0.1)", lambda: optim.sgd(0.1)),
    _optimizer_row(
        "sgd(per-model learning rates)",
        lambda: optim.sgd(PER_MODEL_LR),
        lambda i: optim.sgd(float(PER_MODEL_LR[i])),
    ),
    _optimizer_row("momentum(0.1, 0.9)", lambda: optim.momentum(0.1, 0.9)),
    _optimizer_row("nesterov(0.1, 0.9)", lambda: optim.nesterov(0.1, 0.9)),
    _optimizer_row("adagrad(0.1)", lambda: optim.adagrad(0.1)),
    _optimizer_row("rmsprop(0.1)", lambda: optim.rmsprop(0.1)),
    _optimizer_row("adam(0.1)", lambda: optim.adam(0.1)),
    _optimizer_row(
        "adam(per-model learning rates)",
        lambda: optim.adam(PER_MODEL_LR),
        lambda i: optim.adam(float(PER_MODEL_LR[i])),
    ),
    _optimizer_row("adamw(0.1, weight_decay=0.01)", lambda: optim.adamw(0.1, weight_decay=0.01)),
    _optimizer_row("scale(-0.1)", lambda: optim.scale(-0.1)),
    _optimizer_row("scale_by_learning_rate(0.1)", lambda: optim.scale_by_learning_rate(0.1)),
    _optimizer_row("trace(0.9)", lambda: optim.trace(0.9)),
    _optimizer_row("scale_by_adagrad()", lambda: optim.scale_by_adagrad()),
    _optimizer_row("scale_by_rms()", lambda: optim.scale_by_rms()),
    _optimizer_row("scale_by_adam()", lambda: optim.scale_by_adam()),
    _optimizer_row("add_decayed_weights(0.1)", lambda: optim.add_decayed_weights(0.1)),
    _optimizer_row("clip(0.5)", lambda: optim.clip(0.5)),
    _optimizer_row(
        "clip_by_global_norm(1.0, model_axes=1)",
        lambda: optim.clip_by_global_norm(1.0, model_axes=1),
        lambda i: optim.clip_by_global_norm(1.0, model_axes=0),
    ),
    _optimizer_row(
        "clip_by_global_norm(per-model max_norm)",
        lambda: optim.clip_by_global_norm(np.array([1.0, 2.0, 0.5])),
        lambda i: optim.clip_by_global_norm([1.0, 2.0, 0.5][i], model_axes=0),
    ),
    _optimizer_row(
        "chain(clip_by_global_norm(1.0, model_axes=1), adam(0.1))",
        lambda: optim.chain(optim.clip_by_global_norm(1.0, model_axes=1), optim.adam(0.1)),
        lambda i: optim.chain(optim.clip_by_global_norm(1.0, model_axes=0), optim.adam(0.1)),
    ),
    _optimizer_row(
        "masked(adam(0.1), w only)", lambda: optim.masked(optim.adam(0.1), {"b": False, "w": True})
    ),
    _optimizer_row(
        "chain(sgd(0.1), freeze(b))",
        lambda: optim.chain(optim.sgd(0.1), optim.freeze({"b": True, "w": False})),
    ),
    _optimizer_row("set_to_zero()", lambda: optim.set_to_zero()),
    _optimizer_row(
        "sgd(exponential_decay(0.1, 0.5, 1))",
        lambda: optim.sgd(schedules.exponential_decay(0.1, 0.5, 1)),
    ),
    _optimizer_row(
        "adam(cosine_decay(0.1, 4))", lambda: optim.adam(schedules.cosine_decay(0.1, 4))
    ),
    _optimizer_row("sgd(warmup(0.1, 2))", lambda: optim.sgd(schedules.warmup(0.1, 2))),
    _optimizer_row(
        "momentum(linear(0.1, 0.0, 4))", lambda: optim.momentum(schedules.linear(0.1, 0.0, 4))
    ),
    _optimizer_row(
        "sgd(step_decay(0.1, 0.5, 2))", lambda: optim.sgd(schedules.step_decay(0.1, 0.5, 2))
    ),
]


def _clip_default() -> Any:
    """The default clip_by_global_norm on a stack: one norm per model, or a clear refusal."""
    try:
        return _optimizer_row("x", lambda: optim.clip_by_global_norm(1.0)).stacked()
    except ValueError as e:
        assert "clip_by_global_norm" in str(e) and "model_axes" in str(e), str(e)
        return [
            _optimizer_row("x", lambda: optim.clip_by_global_norm(1.0, model_axes=0)).alone(i)
            for i in range(M)
        ]


OPTIMIZERS.append(
    Row(
        "clip_by_global_norm(1.0) by default (refuses, or clips per model)",
        _clip_default,
        _optimizer_row("x", lambda: optim.clip_by_global_norm(1.0, model_axes=0)).alone,
    )
)


# --- losses and metrics -------------------------------------------------------------------------

N, C = 6, 3
PRED = _rng.normal(size=(M, N, C))
PROBS = 1 / (1 + np.exp(-PRED))
LABELS = np.array([0, 2, 1, 1, 0, 2])
ONEHOT = np.eye(C)[LABELS]
SOFT = _rng.dirichlet(np.ones(C), size=(M, N))
BINARY = (_rng.uniform(size=(M, N, C)) > 0.5).astype(float)


def _per_model(
    name: str, f: Callable[[Any, Any], Any], pred: Any, target: Any, target_per_model: bool
) -> Row:
    def stacked() -> list[Any]:
        out = f(pred, target)
        return [tree.map(lambda a, i=i: np.asarray(a)[i], out) for i in range(M)]

    def alone(i: int) -> Any:
        return f(pred[i], target[i] if target_per_model else target)

    return Row(name, stacked, alone)


LOSSES: list[Row] = [
    _per_model("mse, shared target", losses.mse, PRED, ONEHOT, False),
    _per_model("mse, per-model target", losses.mse, PRED, BINARY, True),
    _per_model("half_mse", losses.half_mse, PRED, ONEHOT, False),
    _per_model("binary_cross_entropy", losses.binary_cross_entropy, PROBS, BINARY, True),
    _per_model(
        "binary_cross_entropy_with_logits",
        losses.binary_cross_entropy_with_logits,
        PRED,
        BINARY,
        True,
    ),
    _per_model("softmax_cross_entropy, labels", losses.softmax_cross_entropy, PRED, LABELS, False),
    _per_model(
        "softmax_cross_entropy, soft targets", losses.softmax_cross_entropy, PRED, SOFT, True
    ),
    _per_model("accuracy, labels", metrics.accuracy, PROBS, LABELS, False),
    _per_model("accuracy, one-hot targets", metrics.accuracy, PROBS, ONEHOT, False),
    _per_model("accuracy, one output", metrics.accuracy, PROBS[..., :1], BINARY[..., :1], True),
    Row(
        "predicted_class",
        lambda: list(metrics.predicted_class(PROBS)),
        lambda i: metrics.predicted_class(PROBS[i]),
    ),
]


# --- layers -------------------------------------------------------------------------------------

X = _rng.normal(size=(N, 4))
IMAGES = _rng.normal(size=(2, 6, 6, 2))


def _layer_rows(
    name: str, layer: Any, x: Any, shape: tuple[int, ...], per_model_x: bool
) -> list[Row]:
    keys = [0, 1, 2]
    _, stack = layers.init_stack(layer, keys, shape)
    xs = np.stack([x * (i + 1) for i in range(M)]) if per_model_x else x
    single = [layer.init(k, shape)[1] for k in keys]

    def x_of(i: int) -> Any:
        return xs[i] if per_model_x else x

    y_stack, res_stack = layer.forward(stack, xs)
    dy = _rng.normal(size=np.shape(y_stack))
    where = "per-model x" if per_model_x else "shared x"

    def backward_alone(i: int) -> Any:
        res = layer.forward(single[i], x_of(i))[1]
        dp, dx = layer.backward(single[i], res, dy[i])
        return dp if not per_model_x else (dp, dx)

    def backward_stack() -> list[Any]:
        dp, dx = layer.backward(stack, res_stack, dy)
        dps = _split(dp)
        return dps if not per_model_x else [(dps[i], dx[i]) for i in range(M)]

    return [
        Row(
            f"{name}.apply, {where}",
            lambda: list(layer.apply(stack, xs)),
            lambda i: layer.apply(single[i], x_of(i)),
        ),
        Row(f"{name}.backward, {where}", backward_stack, backward_alone),
    ]


def _elementwise_rows(name: str, layer: Any) -> list[Row]:
    xs = np.stack([X * (i + 1) for i in range(M)])
    y, res = layer.forward(None, xs)
    dy = _rng.normal(size=y.shape)
    return [
        Row(
            f"{name}.apply", lambda: list(layer.apply(None, xs)), lambda i: layer.apply(None, xs[i])
        ),
        Row(
            f"{name}.backward",
            lambda: list(layer.backward(None, res, dy)[1]),
            lambda i: layer.backward(None, layer.forward(None, xs[i])[1], dy[i])[1],
        ),
    ]


def _keyed_rows(name: str, layer: Any, x: Array) -> list[Row]:
    """A stochastic layer's training forward and its backward, the same key for every model."""
    xs = np.stack([x * (i + 1) for i in range(M)])
    key = (0, 1)
    keyed = layer.forward_keyed
    assert keyed is not None
    y, res = keyed(None, xs, key)
    dy = _rng.normal(size=y.shape)

    def backward_alone(i: int) -> Any:
        return layer.backward(None, keyed(None, xs[i], key)[1], dy[i])[1]

    return [
        Row(
            f"{name}.forward_keyed, the same key",
            lambda: list(y),
            lambda i: keyed(None, xs[i], key)[0],
        ),
        Row(
            f"{name}.backward after forward_keyed",
            lambda: list(layer.backward(None, res, dy)[1]),
            backward_alone,
        ),
    ]


LAB = layers.mlp([4, 5, 2], hidden=layers.tanh, output=layers.sigmoid)
LAYERS: list[Row] = [
    *_layer_rows("dense(3)", layers.dense(3), X, (4,), False),
    *_layer_rows("dense(3)", layers.dense(3), X, (4,), True),
    *_layer_rows("mlp([4, 5, 2])", LAB, X, (4,), False),
    *_layer_rows("mlp([4, 5, 2])", LAB, X, (4,), True),
    *_layer_rows(
        "serial(dense(5), relu, dense(2), softmax)",
        layers.serial(layers.dense(5), layers.relu, layers.dense(2), layers.softmax),
        X,
        (4,),
        True,
    ),
    *_layer_rows("conv2d(3, 3)", layers.conv2d(3, 3), IMAGES, (6, 6, 2), False),
    *_layer_rows("conv2d(3, 3)", layers.conv2d(3, 3), IMAGES, (6, 6, 2), True),
    *[
        r
        for n, lay in (
            ("identity", layers.identity),
            ("sigmoid", layers.sigmoid),
            ("tanh", layers.tanh),
            ("relu", layers.relu),
            ("leaky_relu(0.1)", layers.leaky_relu(0.1)),
            ("elu(1.0)", layers.elu(1.0)),
            ("softplus", layers.softplus),
            ("softmax", layers.softmax),
        )
        for r in _elementwise_rows(n, lay)
    ],
    *_keyed_rows("dropout(0.5)", layers.dropout(0.5), X),
    *_keyed_rows("random_flip()", layers.random_flip(), IMAGES),
    *_keyed_rows("random_crop(2)", layers.random_crop(2), IMAGES),
]


def _shape_rows(name: str, layer: Any) -> list[Row]:
    """A parameter-free layer on per-model images ``(models, N, H, W, C)``."""
    xs = np.stack([_rng.normal(size=(2, 4, 4, 3)) for _ in range(M)])
    y, res = layer.forward(None, xs)
    dy = _rng.normal(size=y.shape)

    def backward_alone(i: int) -> Any:
        return layer.backward(None, layer.forward(None, xs[i])[1], dy[i])[1]

    return [
        Row(
            f"{name}.apply", lambda: list(layer.apply(None, xs)), lambda i: layer.apply(None, xs[i])
        ),
        Row(f"{name}.backward", lambda: list(layer.backward(None, res, dy)[1]), backward_alone),
    ]


LAYERS += [
    *_shape_rows("max_pool2d(2)", layers.max_pool2d(2)),
    *_shape_rows("avg_pool2d(2)", layers.avg_pool2d(2)),
    *_shape_rows("flatten()", layers.flatten()),
    *_shape_rows("reshape((16, 3), 3)", layers.reshape((16, 3), 3)),
]


# --- training: fit, stopping rules ------------------------------------------------------------

XOR = data.xor()
NET = layers.mlp([2, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
STACK = layers.init_stack(NET, [0, 1, 2], (2,))[1]


def _fit_row(
    name: str,
    opt: Callable[[int | None], optim.Optimizer[Any]],
    data_of: Callable[[int | None], Any] = lambda i: XOR,
    **kwargs: Any,
) -> Row:
    """Fit the 3-model stack and each model alone; compare params and per-epoch losses."""

    def run(i: int | None) -> Any:
        params = STACK if i is None else _split(STACK)[i]
        r = train.fit(NET, losses.mse, opt(i), params, data_of(i), **kwargs)
        return r

    def stacked() -> list[Any]:
        r = run(None)
        epochs = [len(run(i).history.loss) for i in range(M)]  # a model may stop earlier alone
        return [(_split(r.params)[i], r.history.loss[: epochs[i], i]) for i in range(M)]

    def alone(i: int) -> Any:
        r = run(i)
        return (r.params, r.history.loss)

    return Row(f"fit: {name}", stacked, alone)


def _per_model_data(i: int | None) -> Any:
    x, y = XOR
    xs = np.stack([x + 0.1 * k for k in range(M)])
    return (xs, np.stack([y] * M)) if i is None else (xs[i], y)


VAL = (XOR[0][:7] + 0.05, XOR[1][:7])
FAST = np.array([0.5, 5.0, 50.0])  # model 2 runs out of patience, then improves again
LRS = np.array([0.5, 2.0, 8.0])  # larger rates amplify rounding (BLAS batching) past 1e-12
FIT: list[Row] = [
    _fit_row("sgd, full batch", lambda i: optim.sgd(0.5), epochs=20),
    _fit_row(
        "adam, minibatches of 5 shuffled by the key",
        lambda i: optim.adam(0.05),
        epochs=5,
        batch_size=5,
        key=3,
    ),
    _fit_row(
        "per-model learning rates",
        lambda i: optim.sgd(LRS if i is None else float(LRS[i])),
        epochs=20,
    ),
    _fit_row("per-model data", lambda i: optim.sgd(0.5), _per_model_data, epochs=10),
    _fit_row(
        "per-model data, minibatches of 7",
        lambda i: optim.sgd(0.5),
        _per_model_data,
        epochs=4,
        batch_size=7,
    ),
    _fit_row("kernels off", lambda i: optim.adam(0.05), epochs=10, kernels=False),
    _fit_row(
        "until=loss_below(0.2495): each model stops at its own epoch",
        lambda i: optim.sgd(LRS if i is None else float(LRS[i])),
        epochs=200,
        until=train.loss_below(0.2495),
    ),
    _fit_row(
        "patience=2 on val_data: each model keeps its own best params",
        lambda i: optim.sgd(FAST if i is None else float(FAST[i])),
        epochs=60,
        val_data=VAL,
        patience=2,
        kernels=False,
    ),
    _fit_row(
        "clip_by_global_norm(0.1, model_axes=1) then sgd(1.0)",
        lambda i: optim.chain(
            optim.clip_by_global_norm(0.1, model_axes=1 if i is None else 0), optim.sgd(1.0)
        ),
        epochs=50,
    ),
]


def _diverging() -> Row:
    """on_nonfinite='stop': a diverging model is frozen; the others train as if alone."""
    lrs = np.array([0.5, 1e300, 0.5])
    big = (XOR[0], XOR[1] * 1e200)

    def stacked() -> list[Any]:
        r = train.fit(NET, losses.mse, optim.sgd(lrs), STACK, XOR, epochs=5, on_nonfinite="stop")
        return [_split(r.params)[i] for i in (0, 2)] + [None]

    def alone(i: int) -> Any:
        if i == 1:
            return None
        return train.fit(NET, losses.mse, optim.sgd(0.5), _split(STACK)[i], XOR, epochs=5).params

    del big
    return Row(
        "fit: on_nonfinite='stop' with model 1 diverging", stacked, lambda i: alone([0, 2, 1][i])
    )


FIT.append(_diverging())

ROWS = [*OPTIMIZERS, *LOSSES, *LAYERS, *FIT]


def _param(row: Row) -> Any:
    reason = bad_inputs.known_reason(f"stack: {row.name}")
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason is not None else []
    return pytest.param(row, id=row.name, marks=marks)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the diverging row overflows on purpose
@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_a_stack_equals_its_models_alone(row: Row) -> None:
    got = row.stacked()
    assert len(got) == M
    for i in range(M):
        problem = _close(got[i], row.alone(i))
        assert problem is None, f"model {i}: {problem}"


def test_the_table_covers_the_public_pieces_and_names_its_xfails() -> None:
    names = " ".join(r.name for r in ROWS)
    for piece in (
        *optim.aliases.__all__,
        "clip_by_global_norm",
        "masked",
        "freeze",
        "chain",
        *losses.__all__[1:],
        "accuracy",
        "loss_below",
        "dense",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "flatten",
        "dropout",
        "random_flip",
        "random_crop",
        "serial",
        "mlp",
        "exponential_decay",
        "cosine_decay",
        "warmup",
        "linear",
        "step_decay",
    ):
        assert piece in names, piece
    ids = {f"stack: {r.name}" for r in ROWS}
    stale = [k for k in bad_inputs.KNOWN_FAILURES if k.startswith("stack: ") and k not in ids]
    assert not stale, stale
