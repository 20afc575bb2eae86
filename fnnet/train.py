"""Training as a fold: a pure ``step(state, batch) -> (state, metrics)`` scanned over batches.

``make_step(model, loss, optimizer)`` builds the step; ``scan(step, state, batches, until=...)``
folds it over any iterable of batches and returns ``(final_state, history)``; ``fit`` wraps the
fold with epochs, keyed shuffling, minibatches, validation, stopping rules, checkpoints and a
progress display.

A step is forward, loss, hand-derived backward, and the optimizer's update; nothing is mutated
that the caller can see. ``fit`` and ``make_step`` run a kernel (:mod:`fnnet.kernels`) where one
computes the same numbers as the model's own functions, and say so (``FitResult.kernels``);
``kernels=False`` runs the reference code only. A loss that turns NaN or infinite stops the run
with a message naming the epoch and step.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import attrs
import numpy as np

from fnnet import checkpoint as ckpt
from fnnet import fit_checks as checks
from fnnet import io, tree
from fnnet.arrays import (
    Array,
    IntArray,
    require_float,
    require_ndim,
    require_nonempty,
    require_number,
)
from fnnet.checkpoint import load_checkpoint
from fnnet.kernels import plan as kernel_plan
from fnnet.layers.base import Layer, quiet_floats
from fnnet.losses import Loss
from fnnet.optim.base import Optimizer, apply_updates
from fnnet.progress import Progress, epoch_line
from fnnet.random import Key, fold_in

__all__ = [
    "TrainState",
    "History",
    "FitResult",
    "DivergenceError",
    "Batch",
    "Metric",
    "StopRule",
    "Step",
    "make_step",
    "init_state",
    "scan",
    "fit",
    "evaluate",
    "loss_below",
    "first_below",
    "load_checkpoint",
    "quiet_floats",
]

P = TypeVar("P")
S = TypeVar("S")

Batch: TypeAlias = tuple[Array, Any]
"""``(inputs, targets)``: targets are float arrays or integer labels, as the loss expects."""

Metric: TypeAlias = Callable[[Array, Any], Array]
"""``metric(pred, target) -> value per model`` (e.g. :func:`fnnet.metrics.accuracy`)."""

StopRule: TypeAlias = Callable[[int, Array], bool]
"""``rule(epoch, loss per model) -> stop?``, asked after every epoch."""


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite.

    >>> from fnnet import data, layers, losses, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 1])
    >>> _, p = net.init(0, (2,))
    >>> fit(net, losses.mse, optim.sgd(1e300), p, (x, 1e200 * y), epochs=3)
    Traceback (most recent call last):
    fnnet.train.DivergenceError: fit: the training loss became inf at epoch 1; it was not finite
    from the first epoch: check the data's scale, the loss and the optimizer's hyperparameters (a
    learning rate far too large, adam's b2=1)
    """


@attrs.frozen
class TrainState(Generic[P, S]):
    """Everything a step reads and writes: params, optimizer state, step count, random key,
    and the model's state (batch norm's running statistics; ``None`` for a stateless model).

    >>> from fnnet import optim
    >>> s = init_state(optim.sgd(0.1), {"w": np.zeros(2)}, key=7)
    >>> s.step, s.key, s.params, s.model_state
    (0, 7, {'w': array([0., 0.])}, None)
    """

    params: P
    opt_state: S
    step: int = 0
    key: Key = 0
    model_state: Any = None


@attrs.frozen
class History:
    """Stacked per-step (``scan``) or per-epoch (``fit``) records: ``loss`` is ``(T, *models)``.

    ``metrics`` holds any other series by name (``accuracy``, ``val_accuracy``, ...);
    ``history["name"]`` reads ``loss``, ``val_loss`` or a metric.

    >>> h = History(loss=np.array([0.5, 0.25]), metrics={"accuracy": np.array([0.5, 1.0])})
    >>> h["loss"], h["accuracy"]  # (T,) for one model, (T, models) for a stack
    (array([0.5 , 0.25]), array([0.5, 1. ]))
    """

    loss: Array
    val_loss: Array | None = None
    metrics: Mapping[str, Array] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return int(self.loss.shape[0])

    def __getitem__(self, name: str) -> Array:
        if name == "loss":
            return self.loss
        if name == "val_loss" and self.val_loss is not None:
            return self.val_loss
        if name in self.metrics:
            return self.metrics[name]
        raise KeyError(f"History has no series {name!r}; it has {self.names()}")

    def names(self) -> list[str]:
        """The names of every series recorded."""
        extra = ["val_loss"] if self.val_loss is not None else []
        return ["loss", *extra, *self.metrics]


@attrs.frozen
class FitResult(Generic[P, S]):
    """What ``fit`` returns.

    ``params`` are the final params, or the best ones on validation loss when ``patience`` was
    used; ``stop_reason`` is one of ``"until"``, ``"epochs"``, ``"patience"``, ``"diverged"``.

    >>> from fnnet import data, layers, losses, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> r = fit(net, losses.mse, optim.adam(0.05), p, (x, y), epochs=3)
    >>> r.epochs, r.stop_reason, r.history.loss.shape, r.state.step
    (3, 'epochs', (3,), 3)
    >>> r.kernels  # the fused mlp ran, on one flat buffer for params and Adam's moments
    ('fused mlp', 'flat buffer')

    ``kernels`` names the kernels that ran (empty when the reference code ran alone);
    ``checkpoint_error`` says why a checkpoint could not be written (the run itself finished);
    ``model_state`` is the model's state after training (or at the best epoch, with patience):
    batch norm's running statistics, ``None`` for a stateless model.
    """

    params: P
    opt_state: S
    history: History
    state: TrainState[P, S]
    epochs: int
    stop_reason: str
    best_epoch: int | None = None
    kernels: tuple[str, ...] = ()
    checkpoint_error: str | None = None
    model_state: Any = None


Step: TypeAlias = Callable[[TrainState[P, S], Batch], tuple[TrainState[P, S], dict[str, Array]]]


def init_state(
    optimizer: Optimizer[S], params: P, key: Key = 0, model_state: Any = None
) -> TrainState[P, S]:
    """A fresh ``TrainState`` for ``params`` (and the model's state, for a stateful model).

    >>> from fnnet import optim
    >>> s = init_state(optim.momentum(0.1), [np.ones(2)])
    >>> s.step, s.opt_state[0].trace  # momentum buffers start at zero, in the params' shape
    (0, [array([0., 0.])])
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "init_state: argument 'optimizer' must be an optim.Optimizer, got "
            f"{type(optimizer).__name__}; wrap (init, update) functions as optim.Optimizer(...)"
        )
    return TrainState(params, optimizer.init(params), 0, key, model_state)


def _step_from(
    plan: kernel_plan.Plan,
    loss: Loss,
    optimizer: Optimizer[S],
    metrics: Mapping[str, Metric],
    model: Layer[Any, Any],
) -> Step[Any, S]:
    """The one training step: forward, loss, backward (params' gradient), update.

    A plan may offer a fused step for this loss and optimizer (the same numbers, fewer calls);
    otherwise the step is composed here from the plan's forward and grads. A stateful model's
    forward also returns its new state (batch statistics folded into the running ones)."""
    if plan.train_step is not None:
        fused: Step[Any, S] | None = plan.train_step(loss, optimizer, dict(metrics))
        if fused is not None:
            return fused
    forward, forward_keyed, grads_of, update = (
        plan.forward, plan.forward_keyed, plan.grads, optimizer.update
    )  # fmt: skip
    stateful = model.state
    keyed = model.forward_keyed is not None
    named = tuple(metrics.items())

    def step(
        state: TrainState[Any, S], batch: Batch
    ) -> tuple[TrainState[Any, S], dict[str, Array]]:
        x, target = batch
        params, model_state = state.params, state.model_state
        if stateful is not None:
            key = fold_in(state.key, state.step) if keyed else None
            pred, res, model_state = stateful.forward(params, model_state, x, key)
        elif forward_keyed is not None:
            pred, res = forward_keyed(params, x, fold_in(state.key, state.step))
        else:
            pred, res = forward(params, x)
        value, dpred = loss(pred, target)
        updates, opt_state = update(grads_of(params, res, dpred), state.opt_state, params)
        out = {"loss": value}
        for name, metric in named:
            out[name] = metric(pred, target)
        new_params = apply_updates(params, updates)
        return TrainState(new_params, opt_state, state.step + 1, state.key, model_state), out

    return step


def make_step(
    model: Layer[P, Any],
    loss: Loss,
    optimizer: Optimizer[S],
    metrics: Mapping[str, Metric] | None = None,
    *,
    kernels: bool = True,
) -> Step[P, S]:
    """The pure training step: forward, loss, backward, update.

    Returns ``(new_state, {"loss": value per model, **metrics on this batch})``. Stochastic
    layers get the key ``fold_in(state.key, state.step)``. With ``kernels`` (the default) a
    model the kernel tier knows runs its fused forward and backward on the same params tree
    (the same numbers); ``kernels=False`` runs the model's own functions.

    >>> from fnnet import data, layers, losses, metrics, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> opt = optim.sgd(0.5)
    >>> step = make_step(net, losses.mse, opt, metrics={"accuracy": metrics.accuracy})
    >>> state, m = step(init_state(opt, p), (x, y))
    >>> state.step, sorted(m), round(float(m["loss"]), 4)  # the loss before the update
    (1, ['accuracy', 'loss'], 0.2582)
    """
    checks.check_parts("make_step", model, loss, optimizer)
    plan = kernel_plan.reference(model)
    if kernels:
        plan = kernel_plan.choose(model, optimizer, None, layout=False)
    return _step_from(plan, loss, optimizer, dict(metrics or {}), model)


def _finite(value: Array) -> bool:
    return math.isfinite(value) if value.ndim == 0 else bool(np.isfinite(value).all())


def _stack(records: list[dict[str, Array]]) -> History:
    if not records:
        return History(np.zeros((0,)))
    columns = {k: np.array([r[k] for r in records]) for k in records[0]}
    loss = columns.pop("loss")
    val = columns.pop("val_loss", None)
    return History(loss, val, columns)


def scan(
    step: Step[P, S],
    state: TrainState[P, S],
    batches: Iterable[Batch],
    until: Callable[[TrainState[P, S], dict[str, Array]], bool] | None = None,
) -> tuple[TrainState[P, S], History]:
    """Fold ``step`` over ``batches``: ``(final_state, history of per-step metrics)``.

    ``until(state, metrics)`` is asked after each step; the fold stops when it says yes. A
    non-finite loss raises :class:`DivergenceError` naming the step.

    >>> from fnnet import data, layers, losses, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> step = make_step(net, losses.mse, optim.sgd(0.5))
    >>> state, history = scan(step, init_state(optim.sgd(0.5), p), [(x, y)] * 3)
    >>> state.step, history.loss.round(4)  # one record per step
    (3, array([0.2582, 0.256 , 0.2544]))
    >>> state, history = scan(step, state, [(x, y)] * 10, until=lambda s, m: s.step >= 5)
    >>> state.step
    5
    """
    if not callable(step):
        raise TypeError(f"scan: argument 'step' must be a step function, got {type(step).__name__}")
    if not isinstance(state, TrainState):
        raise TypeError(
            f"scan: argument 'state' must be a TrainState (train.init_state(optimizer, params)), "
            f"got {type(state).__name__}"
        )
    if not isinstance(batches, Iterable):
        raise TypeError(
            f"scan: argument 'batches' must be an iterable of (x, y) pairs, got "
            f"{type(batches).__name__}"
        )
    records = []
    with quiet_floats():
        for batch in batches:
            if not isinstance(batch, tuple) or len(batch) != 2:
                got = (
                    f"a tuple of {len(batch)}" if isinstance(batch, tuple) else type(batch).__name__
                )
                raise TypeError(f"scan: every batch must be a pair (x, y), got {got}")
            state, m = step(state, batch)
            records.append(m)
            if not _finite(m["loss"]):
                raise DivergenceError(f"scan: the loss is {m['loss']} at step {state.step}")
            if until is not None and until(state, m):
                break
    return state, _stack(records)


def loss_below(threshold: float) -> StopRule:
    """Stop once every model's epoch loss is below ``threshold`` (the lab's stopping rule).

    >>> rule = loss_below(0.1)
    >>> rule(3, np.array(0.05)), rule(3, np.array([0.05, 0.2]))  # every model must be below
    (True, False)
    """
    threshold = require_number("loss_below", "threshold", threshold)

    def rule(epoch: int, loss: Array) -> bool:
        return float(loss) < threshold if loss.ndim == 0 else bool(np.all(loss < threshold))

    return rule


def first_below(series: Array, threshold: float) -> IntArray:
    """Per model, the 1-based epoch at which ``series`` (``(T, *models)``) first drops below
    ``threshold``, or ``-1`` where it never does. Use on ``history.loss``.

    >>> loss = np.array([[0.5, 0.3], [0.2, 0.25], [0.1, 0.05]])  # (T=3 epochs, 2 models)
    >>> first_below(loss, 0.26), first_below(loss, 0.01)
    (array([2, 2]), array([-1, -1]))
    """
    series = require_float("first_below", "series", series)
    require_ndim("first_below", "series", series, 1)
    require_nonempty("first_below", "series", series, "epochs")
    threshold = require_number("first_below", "threshold", threshold)
    below = series < threshold
    hit = below.any(axis=0)
    epochs: IntArray = np.where(hit, below.argmax(axis=0) + 1, -1)
    return epochs


def _evaluate(
    apply: Callable[[Any, Array], Array],
    loss: Loss,
    params: Any,
    data: checks.Located,
    batch_size: int | None,
    metrics: Mapping[str, Metric],
) -> dict[str, Array]:
    totals: dict[str, Array] = {}
    for xb, yb in data.batches(batch_size, None):
        pred = apply(params, xb)
        weight = xb.shape[data.axis] / data.n
        values = {"loss": loss(pred, yb)[0]}
        for name, metric in metrics.items():
            values[name] = metric(pred, yb)
        for name, v in values.items():
            totals[name] = totals.get(name, 0.0) + np.asarray(v) * weight
    return totals


def evaluate(
    model: Layer[P, Any],
    loss: Loss,
    params: P,
    data: Batch,
    batch_size: int | None = None,
    metrics: Mapping[str, Metric] | None = None,
    model_state: Any = None,
) -> dict[str, Array]:
    """Loss and metrics of ``params`` on ``data``, in batches of ``batch_size`` (default all),
    averaged over examples. Returns ``{"loss": ..., **metrics}``, one value per model. A
    stateful model is evaluated with ``model_state`` (batch norm: its running statistics).

    >>> from fnnet import data, layers, losses, metrics
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> r = evaluate(net, losses.mse, p, (x, y), batch_size=8, metrics={"acc": metrics.accuracy})
    >>> round(float(r["loss"]), 4), round(float(r["acc"]), 4)
    (0.2582, 0.4762)
    """
    located = checks.locate("evaluate", "data", model, params, data)
    size = checks.positive_int("evaluate", "batch_size", batch_size, optional=True)
    fns = model.state
    apply = model.apply
    if fns is not None:
        if model_state is None:
            raise ValueError(f"evaluate: {model.name} has state; pass its 'model_state'")
        apply = lambda p, x: fns.apply(p, model_state, x)  # noqa: E731
    with quiet_floats():
        return _evaluate(apply, loss, params, located, size, dict(metrics or {}))


def _keep_best(improved: np.ndarray[Any, Any], new: P, best: P) -> P:
    """Per model, ``new`` params where ``improved`` else ``best`` (model axes lead each leaf)."""

    def pick(n: Array, b: Array) -> Array:
        return np.where(improved.reshape(improved.shape + (1,) * (n.ndim - improved.ndim)), n, b)

    return tree.map(pick, new, best)


def fit(
    model: Layer[P, Any],
    loss: Loss,
    optimizer: Optimizer[S],
    params: P,
    data: Batch,
    *,
    epochs: int,
    batch_size: int | None = None,
    key: Key = 0,
    until: StopRule | None = None,
    val_data: Batch | None = None,
    patience: int | None = None,
    metrics: Mapping[str, Metric] | None = None,
    log_every: int | None = None,
    progress: bool = False,
    on_nonfinite: Literal["raise", "stop"] = "raise",
    opt_state: S | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    kernels: bool = True,
    model_state: Any = None,
) -> FitResult[P, S]:
    """Train ``model`` for up to ``epochs`` epochs and return a :class:`FitResult`.

    - ``data`` is ``(x, y)``: ``x`` is ``(N, *input)`` shared by every model of a stack, or
      ``(*models, N, *input)`` per model (likewise ``y``); everything — data, validation data,
      ``params`` against the model, the checkpoint path — is checked before training starts;
    - full batch by default (as the lab does); ``batch_size`` gives minibatches, shuffled each
      epoch by ``fold_in(fold_in(key, 0), epoch)``; stochastic layers get
      ``fold_in(fold_in(key, 1), step)``;
    - ``history.loss[e]`` is the mean training loss over epoch ``e`` (for a full batch: the loss
      before that epoch's update), one column per stacked model;
    - ``val_data`` is evaluated after every epoch (``history.val_loss``, ``val_<metric>``);
    - stopping: ``until(epoch, loss)`` (e.g. ``loss_below(0.01)``), ``epochs``, ``patience``
      epochs without a lower validation loss (the best params per model are kept and returned).
      In a stack the rules are asked per model (``until`` with each model's loss alone): a model
      that stops is frozen where it would have stopped alone, its history repeating its last
      epoch, and the fit ends when every model has stopped;
    - divergence: a NaN/inf loss raises :class:`DivergenceError` naming the epoch (and the models
      of a stack). With ``on_nonfinite="stop"`` a single model's run ends with
      ``stop_reason="diverged"``, its history so far and its last finite params; in a stack only
      the diverged models stop — frozen at their last finite params, their losses recorded as
      NaN — while the others train on;
    - ``log_every=k`` prints an epoch line every ``k`` epochs; ``progress`` shows a bar on a
      terminal (plain epoch lines otherwise);
    - ``opt_state`` starts from an earlier optimizer state (of this optimizer, in the params'
      tree shape): its buffers (moments) and step counts continue, while its hyperparameters
      are those of ``optimizer`` — a learning rate stored in the state never overrides yours;
    - ``checkpoint=path`` saves everything needed to continue every ``checkpoint_every`` epochs
      and at the end (see :mod:`fnnet.checkpoint`: what is restored, what must match);
      ``resume=True`` continues from that file when it exists. A resumed run ends bit-identical
      to one that was not interrupted. A checkpoint that cannot be written never costs the run:
      the result says why (``checkpoint_error``);
    - ``kernels=False`` runs the model's and optimizer's own code only (to step through it in a
      debugger); by default a kernel runs where one computes the same numbers, and
      ``result.kernels`` names it;
    - ``model_state``: a stateful model's starting state (batch norm's running statistics, from
      :func:`fnnet.layers.state.init`), required for such a model. Training threads it through
      every step (batch statistics folded into the running ones); validation uses it; the result
      returns it (``result.model_state``, the best epoch's with ``patience``) and checkpoints
      save it.

    NumPy's overflow/invalid warnings are silenced inside the loop: the divergence check
    reports a non-finite loss with the epoch instead.

    >>> from fnnet import data, layers, losses, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> r = fit(net, losses.mse, optim.adam(0.05), p, (x, y), epochs=5, batch_size=8, key=1)
    >>> r.history.loss.shape, r.stop_reason
    ((5,), 'epochs')
    >>> r = fit(net, losses.mse, optim.adam(0.05), p, (x, y), epochs=50, until=loss_below(0.2501))
    >>> r.stop_reason, r.epochs < 50
    ('until', True)
    """
    options = checks.FitOptions.checked(
        epochs=epochs, batch_size=batch_size, until=until, patience=patience,
        log_every=log_every, progress=progress, on_nonfinite=on_nonfinite,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
    )  # fmt: skip
    if patience is not None and val_data is None:
        raise ValueError("fit: argument 'patience' needs 'val_data' to monitor")
    checks.check_parts("fit", model, loss, optimizer)
    named = checks.metric_names(metrics)
    key = checks.check_key("fit", key)
    checks.check_params_values("fit", params)
    train_data = checks.locate("fit", "data", model, params, data)
    val = (
        checks.locate("fit", "val_data", model, params, val_data) if val_data is not None else None
    )
    plan = (
        kernel_plan.choose(model, optimizer, params, layout=True)
        if kernels
        else kernel_plan.reference(model)
    )
    checks.check_model_state(model, model_state)
    for arg, located in (("data", train_data), ("val_data", val)):
        if located is not None:
            checks.probe(arg, model, loss, named, params, located, model_state)
    run = _Run(model, plan, loss, optimizer, params, opt_state, key, named, train_data, val)
    run.start_model_state(model, model_state)
    run.identity = ckpt.run_identity(
        model.name, optimizer.init(params), options.batch_size, key, list(named),
        (train_data.x, train_data.y), (val.x, val.y) if val is not None else None,
    )  # fmt: skip
    return run.fit(options)


class _Run(Generic[P, S]):
    """The mutable bookkeeping of one ``fit`` call (never visible outside it). Params and
    optimizer state are kept in the plan's layout; :meth:`result` converts them back."""

    def __init__(
        self,
        model: Layer[Any, Any],
        plan: kernel_plan.Plan,
        loss: Loss,
        optimizer: Optimizer[S],
        params: P,
        opt_state: S | None,
        key: tuple[int, ...],
        metrics: dict[str, Metric],
        data: checks.Located,
        val: checks.Located | None,
    ) -> None:
        self.plan, self.loss, self.metrics, self.data, self.val, self.key = (
            plan, loss, metrics, data, val, key
        )  # fmt: skip
        self.batch = (data.x, data.y)
        self.step = _step_from(plan, loss, optimizer, metrics, model)
        fresh = optimizer.init(params)
        start = fresh if opt_state is None else opt_state
        if tree.structure(start) != tree.structure(fresh):
            raise ValueError(
                f"fit: argument 'opt_state' has structure {tree.structure(start)!r}, but this "
                f"optimizer makes {tree.structure(fresh)!r} for these params: it was made by "
                "another optimizer or for other params; pass optimizer.init(params) or none"
            )
        start = checks.with_hyperparameters(start, fresh, params)
        try:
            inner_state = plan.inner_state(start)
        except (tree.TreeMismatchError, ValueError, TypeError) as e:
            raise ValueError(
                f"fit: argument 'opt_state' does not fit this optimizer and params ({e}); pass "
                "the state this optimizer made (optimizer.init(params)) or none"
            ) from e
        self.state: TrainState[Any, S] = TrainState(
            plan.inner(params), inner_state, 0, fold_in(key, 1)
        )
        self.epoch = 0
        self.records: list[dict[str, Array]] = []
        self.best_params: Any = self.state.params
        self.best_model_state: Any = None
        self.evaluate_with: Callable[[Any, Array], Array] = plan.apply
        self.best_epoch = -1
        self.best_val: Array | None = None
        self.since_best: Array = np.zeros((), dtype=np.int64)
        self.dead: np.ndarray[Any, Any] | None = None  # per model: diverged and frozen
        self.stopped: np.ndarray[Any, Any] | None = None  # per model: its stopping rule fired
        self.identity: dict[str, Any] = {}
        self.checkpoint_error: str | None = None
        self.display: Progress | None = None

    def start_model_state(self, model: Layer[Any, Any], model_state: Any) -> None:
        """A stateful model starts from ``model_state`` and is evaluated with its current
        state (batch norm: the running statistics, never the evaluation batch's)."""
        self.state = attrs.evolve(self.state, model_state=model_state)
        self.best_model_state = model_state
        fns = model.state
        if fns is not None:
            self.evaluate_with = lambda p, x: fns.apply(p, self.state.model_state, x)

    def fit(self, o: checks.FitOptions) -> FitResult[P, S]:
        lock = ckpt.Lock(o.checkpoint) if o.checkpoint is not None else None
        try:
            if lock is not None and o.checkpoint is not None and o.resume and o.checkpoint.exists():
                self.restore(o.checkpoint, o.epochs)
            steps = -(-self.data.n // (o.batch_size or self.data.n))
            self.display = Progress(o.epochs, steps)
            if o.log_every:
                ran = ", ".join(self.plan.kernels) or "none (the reference code)"
                self.display.line(f"fit: kernels: {ran}")
            with quiet_floats():
                reason = self.loop(o)
            self.display.close()
            if o.checkpoint is not None:
                self.save(o.checkpoint)
            return self.result(reason, o.patience is not None)
        finally:
            if lock is not None:
                lock.release()

    # -- the epochs ----------------------------------------------------------------------
    def loop(self, o: checks.FitOptions) -> str:
        """Run epochs until a stopping rule says so; the reason."""
        while self.epoch < o.epochs:
            if self.plain(o):  # nothing to do between epochs: fold the steps
                self.fold(o.epochs - self.epoch)
                if self.epoch == o.epochs:
                    break
            self.epoch += 1
            before = self.state
            record, go_on = self.train_epoch(o)
            if not go_on:
                self.records.append(record)
                self.state = attrs.evolve(  # the last finite params
                    self.state, params=before.params, model_state=before.model_state
                )
                return "diverged"
            if self.dead is not None or self.stopped is not None:
                frozen = self.frozen()
                if frozen is not None:
                    self.freeze(before, frozen)
            if self.val is not None:
                record = self.validate(record, o.batch_size)
            record = self.masked(record)
            self.records.append(record)
            if o.log_every:
                self.log(o, record)
            reason = self.stop_rules(o, record)
            if reason is not None:
                return reason
            if o.checkpoint is not None and self.epoch % o.checkpoint_every == 0:
                self.save(o.checkpoint)
        return "epochs"

    def plain(self, o: checks.FitOptions) -> bool:
        """Full batch, and nothing between epochs but the training step: no validation, stopping
        rule, log, checkpoint, nor a model of a stack stopped or diverged."""
        return (
            (o.batch_size is None or o.batch_size >= self.data.n)
            and self.val is None
            and o.until is None
            and o.patience is None
            and not o.log_every
            and not o.progress
            and o.checkpoint is None
            and self.dead is None
            and self.stopped is None
        )

    def fold(self, count: int) -> None:
        """Up to ``count`` full-batch epochs as one fold of the step, stopping before a step
        whose loss is not finite (the loop then takes that step, and reports it)."""
        fold = getattr(self.step, "fold", None)  # a fused step folds without a state per step
        if fold is not None:
            self.state, records = fold(self.state, self.batch, count)
        else:
            step, batch, state, records = self.step, self.batch, self.state, []
            for _ in range(count):
                new, record = step(state, batch)
                if not _finite(record["loss"]):
                    break
                records.append(record)
                state = new
            self.state = state
        self.records.extend(records)
        self.epoch += len(records)

    def train_epoch(self, o: checks.FitOptions) -> tuple[dict[str, Array], bool]:
        """One pass over the data: the epoch's record, and False when training must stop."""
        n = self.data.n
        if o.batch_size is None or o.batch_size >= n:
            self.state, record = self.step(self.state, self.batch)
            loss = record["loss"]
            return record, _finite(loss) or self.finite_or_handled(loss, o)
        sums: dict[str, Array] = {}
        shuffle = fold_in(fold_in(self.key, 0), self.epoch)
        for done, (xb, yb) in enumerate(self.data.batches(o.batch_size, shuffle), 1):
            self.state, m = self.step(self.state, (xb, yb))
            w = xb.shape[self.data.axis] / n
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v * w
            if o.progress and self.display is not None:
                self.display.step(self.epoch, done)
            if not _finite(m["loss"]) and not self.finite_or_handled(m["loss"], o):
                return m, False
        return sums, True

    def finite_or_handled(self, loss: Array, o: checks.FitOptions) -> bool:
        """False when training must stop: a single model's loss, or every model's, is not finite."""
        finite = np.isfinite(loss) if self.dead is None else np.isfinite(loss) | self.dead
        if np.all(finite):
            return True
        message = _divergence_message(self.epoch, loss, finite, o.on_nonfinite)
        if o.on_nonfinite == "raise":
            raise DivergenceError(message)
        print(message, file=sys.stderr)
        if loss.ndim == 0:
            return False
        self.dead = ~finite if self.dead is None else self.dead | ~finite  # the old stay dead
        return not bool(np.all(self.dead))

    def frozen(self) -> np.ndarray[Any, Any] | None:
        """Per model: diverged, or stopped by its own stopping rule (None: none yet)."""
        if self.dead is None and self.stopped is None:
            return None
        masks = [m for m in (self.dead, self.stopped) if m is not None]
        return masks[0] if len(masks) == 1 else (masks[0] | masks[1]) if masks else None

    def freeze(self, before: TrainState[Any, S], frozen: np.ndarray[Any, Any]) -> None:
        """Frozen models of a stack keep their params (and model state) from ``before``: each
        model stops where it would have stopped alone."""
        now = self.state
        model_state = now.model_state
        if model_state is not None:
            model_state = _keep_best(frozen, before.model_state, model_state)
        params = _keep_best(frozen, before.params, now.params)
        self.state = attrs.evolve(now, params=params, model_state=model_state)

    def masked(self, record: dict[str, Array]) -> dict[str, Array]:
        """A stopped model's record repeats its last one; a diverged model's is NaN."""
        if self.stopped is not None and self.records:
            last, stopped = self.records[-1], self.stopped
            record = {k: np.where(stopped, last[k], v) for k, v in record.items()}
        if self.dead is not None:
            record = {k: np.where(self.dead, np.nan, v) for k, v in record.items()}
        return record

    def stop_rules(self, o: checks.FitOptions, record: dict[str, Array]) -> str | None:
        """Ask ``patience`` and ``until`` per model; the reason once every model has stopped."""
        if o.patience is None and o.until is None:
            return None
        loss = record["loss"]
        stopped = np.zeros(np.shape(loss), bool) if self.stopped is None else self.stopped
        by_patience = np.zeros_like(stopped)
        if o.patience is not None:
            by_patience = self.out_of_patience(o.patience, stopped)
        by_until = np.zeros_like(stopped)
        if o.until is not None:
            by_until = self.ask(o.until, loss, stopped)
        now = np.asarray(stopped | by_patience | by_until)
        if np.any(now):  # None until a model stops: nothing to freeze or mask each epoch
            self.stopped = now
        done = now if self.dead is None else now | self.dead
        if not np.all(done):
            return None
        return "patience" if np.any(by_patience) else "until"

    def ask(self, until: StopRule, loss: Array, stopped: np.ndarray[Any, Any]) -> Any:
        """``until`` asked about each live model's loss alone (one model: its loss)."""
        if loss.ndim == 0:
            return np.asarray(bool(until(self.epoch, loss)))
        live = ~stopped if self.dead is None else ~(stopped | self.dead)
        answers = np.zeros(loss.shape, bool)
        for i in zip(*np.nonzero(live), strict=True):
            answers[i] = bool(until(self.epoch, loss[i]))
        return answers

    def validate(self, record: dict[str, Array], batch_size: int | None) -> dict[str, Array]:
        assert self.val is not None
        val = _evaluate(
            self.evaluate_with, self.loss, self.state.params, self.val, batch_size, self.metrics
        )
        record = {**record, "val_loss": val.pop("loss")}
        record.update({f"val_{k}": v for k, v in val.items()})
        return record

    def out_of_patience(self, patience: int, stopped: np.ndarray[Any, Any]) -> Any:
        """Track each model's best params on validation loss (a stopped model's no longer
        change); per model, whether its patience ran out."""
        current = self.records[-1]["val_loss"]
        if self.best_val is None:
            self.best_val, self.best_params, self.best_epoch = (
                current, self.state.params, self.epoch
            )  # fmt: skip
            self.best_model_state = self.state.model_state
            return np.zeros(np.shape(current), bool)
        improved = (current < self.best_val) & ~stopped
        self.best_val = np.where(improved, current, self.best_val)
        self.since_best = np.where(improved, 0, self.since_best + 1)
        self.best_params = _keep_best(improved, self.state.params, self.best_params)
        if self.best_model_state is not None:
            self.best_model_state = _keep_best(
                improved, self.state.model_state, self.best_model_state
            )
        if np.all(improved):
            self.best_epoch = self.epoch
        return np.asarray(self.since_best >= patience)

    def log(self, o: checks.FitOptions, record: dict[str, Array]) -> None:
        if o.log_every and (self.epoch % o.log_every == 0 or self.epoch in (1, o.epochs)):
            assert self.display is not None
            self.display.line(epoch_line(self.epoch, record, self.display.elapsed()))

    def outer(self) -> TrainState[Any, S]:
        """The train state in the reference layout (params and optimizer state as trees)."""
        plan, s = self.plan, self.state
        return TrainState(
            plan.outer(s.params), plan.outer_state(s.opt_state), s.step, s.key, s.model_state
        )

    def result(self, reason: str, patience: bool) -> FitResult[P, S]:
        outer = self.outer()
        params = self.plan.outer(self.best_params) if patience else outer.params
        model_state = self.best_model_state if patience else outer.model_state
        best = self.best_epoch if self.best_epoch > 0 else None
        return FitResult(
            params, outer.opt_state, _stack(self.records), outer, self.epoch, reason, best,
            self.plan.kernels, self.checkpoint_error, model_state,
        )  # fmt: skip

    # -- checkpoints ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the checkpoint; a failure is reported and remembered, never raised."""
        if not self.records:
            return
        names = list(self.records[0])
        snapshot = {
            "run": self.identity,
            "state": ckpt.state_record(self.outer()),
            "epoch": self.epoch,
            "history": {"names": np.array(",".join(names)),
                        "values": _columns(self.records, names)},
            "best": {"params": self.plan.outer(self.best_params), "epoch": self.best_epoch,
                     "model_state": self.best_model_state,
                     "val": np.asarray(np.nan if self.best_val is None else self.best_val),
                     "since": np.asarray(self.since_best),
                     "dead": np.asarray(False if self.dead is None else self.dead),
                     "stopped": np.asarray(False if self.stopped is None else self.stopped)},
        }  # fmt: skip
        try:
            io.save(path, snapshot)
            self.checkpoint_error = None
        except OSError as e:
            self.checkpoint_error = f"{type(e).__name__}: {e}"
            print(f"fit: could not write checkpoint {path} ({self.checkpoint_error}); "
                  "training goes on", file=sys.stderr)  # fmt: skip

    def restore(self, path: Path, epochs: int) -> None:
        """Continue from the checkpoint at ``path`` (refusing one of another run)."""
        outer = self.outer()
        try:
            saved = io.load(path, ckpt.layout(outer, outer.params), strict=False)
        except ValueError as e:
            raise ValueError(
                f"fit: checkpoint {path} was written by a different model or optimizer ({e}). "
                "Pass resume=False or delete the file to start fresh."
            ) from e
        ckpt.check_params(path, saved["state"]["params"], outer.params)
        ckpt.check_same_run(path, saved["run"], self.identity)
        if saved["epoch"] > epochs:
            raise ValueError(
                f"fit: checkpoint {path} already holds {saved['epoch']} epochs, more than "
                f"epochs={epochs}; pass epochs >= {saved['epoch']} to continue it"
            )
        self.load(saved)

    def load(self, saved: dict[str, Any]) -> None:
        plan, got = self.plan, ckpt.train_state(saved["state"])
        self.state = TrainState(plan.inner(got.params), plan.inner_state(got.opt_state), got.step,
                                got.key, got.model_state)  # fmt: skip
        self.epoch = saved["epoch"]
        names = str(saved["history"]["names"]).split(",")
        values = saved["history"]["values"]
        self.records = [dict(zip(names, values[i], strict=True)) for i in range(self.epoch)]
        best = saved["best"]
        self.best_params, self.best_epoch = plan.inner(best["params"]), best["epoch"]
        self.best_model_state = best["model_state"]
        self.best_val = None if np.all(np.isnan(best["val"])) else best["val"]
        self.since_best = best["since"]
        self.dead = None if best["dead"].ndim == 0 else best["dead"]
        self.stopped = None if best["stopped"].ndim == 0 else best["stopped"]


def _columns(records: list[dict[str, Array]], names: list[str]) -> Array:
    """The records as one array ``(epochs, series, *models)``."""
    return np.stack([np.stack([r[k] for k in names]) for r in records])


def _divergence_message(epoch: int, loss: Array, finite: np.ndarray[Any, Any], mode: str) -> str:
    bad = np.argwhere(~np.atleast_1d(finite)).tolist()
    value = np.atleast_1d(loss)[tuple(bad[0])] if bad else loss
    if np.ndim(loss) == 0:
        where, after = "", "the run stops with the last finite params"
    else:
        where = f" (models {[tuple(b) if len(b) > 1 else b[0] for b in bad]})"
        after = "those models are frozen and the others train on"
    if mode != "raise":
        advice = after
    elif epoch == 1:
        advice = (
            "it was not finite from the first epoch: check the data's scale, the loss and the "
            "optimizer's hyperparameters (a learning rate far too large, adam's b2=1)"
        )
    else:
        advice = "lower the learning rate, or pass on_nonfinite='stop' to keep the history so far"
    return f"fit: the training loss became {value} at epoch {epoch}{where}; {advice}"
