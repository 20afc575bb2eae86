"""Training as a fold: a pure ``step(state, batch) -> (state, metrics)`` scanned over batches.

``make_step(model, loss, optimizer)`` builds the step; ``scan(step, state, batches, until=...)``
folds it over any iterable of batches and returns ``(final_state, history)``; ``fit`` wraps the
fold with epochs, keyed shuffling, minibatches, validation, stopping rules and a progress log.

Per-step work is forward, loss, hand-derived backward (the first layer's ``dx`` skipped), and
the optimizer's update on the flat list of leaves; nothing is mutated that the caller can see.
A loss that turns NaN or infinite stops the run with a message naming the epoch and step.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeAlias, TypeVar, cast

import attrs
import numpy as np

from fnnet import io, tree
from fnnet.arrays import Array, IntArray
from fnnet.data import batches as make_batches
from fnnet.layers.base import Layer, quiet_floats
from fnnet.optim.base import Optimizer, apply_updates
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

LossFn: TypeAlias = Callable[[Array, Any], tuple[Array, Array]]


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite.

    >>> from fnnet import data, layers, losses, optim
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 1])
    >>> _, p = net.init(0, (2,))
    >>> fit(net, losses.mse, optim.sgd(1e300), p, (x, 1e200 * y), epochs=3)
    Traceback (most recent call last):
    fnnet.train.DivergenceError: fit: the training loss became inf at epoch 1; lower the learning
    rate, or pass on_nonfinite='stop' to keep the history so far
    """


@attrs.frozen
class TrainState(Generic[P, S]):
    """Everything a step reads and writes: params, optimizer state, step count, random key.

    >>> from fnnet import optim
    >>> s = init_state(optim.sgd(0.1), {"w": np.zeros(2)}, key=7)
    >>> s.step, s.key, s.params
    (0, 7, {'w': array([0., 0.])})
    """

    params: P
    opt_state: S
    step: int = 0
    key: Key = 0


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
    """

    params: P
    opt_state: S
    history: History
    state: TrainState[P, S]
    epochs: int
    stop_reason: str
    best_epoch: int | None = None


Step: TypeAlias = Callable[[TrainState[P, S], Batch], tuple[TrainState[P, S], dict[str, Array]]]


def init_state(optimizer: Optimizer[S], params: P, key: Key = 0) -> TrainState[P, S]:
    """A fresh ``TrainState`` for ``params``.

    >>> from fnnet import optim
    >>> s = init_state(optim.momentum(0.1), [np.ones(2)])
    >>> s.step, s.opt_state[0].trace  # momentum buffers start at zero
    (0, [array([0., 0.])])
    """
    return TrainState(params, optimizer.init(params), 0, key)


def make_step(
    model: Layer[P, Any],
    loss: LossFn,
    optimizer: Optimizer[S],
    metrics: Mapping[str, Metric] | None = None,
) -> Step[P, S]:
    """The pure training step: forward, loss, backward, update.

    Returns ``(new_state, {"loss": value per model, **metrics on this batch})``. Stochastic
    layers get the key ``fold_in(state.key, state.step)``.

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
    forward = model.forward
    forward_keyed = model.forward_keyed
    backward_params = model.backward_params
    full_backward = model.backward

    def grads_of(params: P, res: Any, dpred: Array) -> P:
        return full_backward(params, res, dpred)[0]

    grads_fn: Callable[[P, Any, Array], Any] = (
        backward_params if backward_params is not None else grads_of
    )
    leafwise = optimizer.leafwise
    leaf_update = leafwise.update if leafwise is not None else None
    fresh = leafwise is not None and leafwise.fresh  # updates are ours: add params in place
    named = dict(metrics or {})
    hint: tree.Codec | None = None  # compiled flatten of the params structure, reused each step
    ndarray = np.ndarray
    new_state = object.__new__
    set_field = object.__setattr__

    def step(state: TrainState[P, S], batch: Batch) -> tuple[TrainState[P, S], dict[str, Array]]:
        nonlocal hint
        x, target = batch
        params = state.params
        if forward_keyed is not None:
            pred, res = forward_keyed(params, x, fold_in(state.key, state.step))
        else:
            pred, res = forward(params, x)
        value, dpred = loss(pred, target)
        grads = grads_fn(params, res, dpred)
        new_params: Any
        if leaf_update is None:
            upd, opt_state = optimizer.update(grads, state.opt_state, params)
            new_params = apply_updates(params, upd)
        elif type(params) is ndarray:  # one array (a flat_params model): no tree to walk
            if type(grads) is not ndarray:
                raise tree.TreeMismatchError(
                    f"backward returned gradients of structure {tree.structure(grads)!r} for "
                    "params that are one array"
                )
            vector = cast(Array, params)
            updates, opt_state = leaf_update([grads], state.opt_state, [vector])
            new_params = _add(vector, updates[0], fresh)
        else:
            p_leaves, hint = tree.flatten_like(params, hint)
            g_leaves = hint.leaves(grads)
            if g_leaves is None:
                raise tree.TreeMismatchError(
                    f"backward returned gradients of structure {tree.structure(grads)!r} for "
                    f"params of structure {hint.treedef!r}"
                )
            updates, opt_state = leaf_update(g_leaves, state.opt_state, p_leaves)
            new_params = hint.unflatten(
                [_add(p, u, fresh) for p, u in zip(p_leaves, updates)]  # noqa: B905
            )
        out = {"loss": value}
        if named:
            for name, metric in named.items():
                out[name] = metric(pred, target)
        # TrainState(new_params, opt_state, step + 1, key) without attrs' __init__ (hot loop)
        new: TrainState[P, S] = new_state(TrainState)
        set_field(new, "params", new_params)
        set_field(new, "opt_state", opt_state)
        set_field(new, "step", state.step + 1)
        set_field(new, "key", state.key)
        return new, out

    return step


def _add(p: Array, u: Array, fresh: bool) -> Array:
    """``p + u`` in ``p``'s dtype; written into ``u`` when the optimizer said its updates are
    fresh arrays nobody else holds (one allocation and one pass over memory less per leaf)."""
    if fresh and type(u) is np.ndarray and u.dtype is p.dtype and u.shape == p.shape:
        return np.add(u, p, out=u)
    return np.add(p, u, dtype=p.dtype)


def _finite(value: Array) -> bool:
    return math.isfinite(value) if value.ndim == 0 else bool(np.isfinite(value).all())


def _stack(records: list[dict[str, Array]]) -> History:
    if not records:
        return History(np.zeros((0,)))
    columns = {k: np.stack([r[k] for r in records]) for k in records[0]}
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
    records = []
    with quiet_floats():
        for batch in batches:
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
    below = series < threshold
    hit = below.any(axis=0)
    epochs: IntArray = np.where(hit, below.argmax(axis=0) + 1, -1)
    return epochs


def evaluate(
    model: Layer[P, Any],
    loss: LossFn,
    params: P,
    data: Batch,
    batch_size: int | None = None,
    metrics: Mapping[str, Metric] | None = None,
) -> dict[str, Array]:
    """Loss and metrics of ``params`` on ``data``, in batches of ``batch_size`` (default all),
    averaged over examples. Returns ``{"loss": ..., **metrics}``, one value per model.

    >>> from fnnet import data, layers, losses, metrics
    >>> x, y = data.xor()
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, p = net.init(0, (2,))
    >>> r = evaluate(net, losses.mse, p, (x, y), batch_size=8, metrics={"acc": metrics.accuracy})
    >>> round(float(r["loss"]), 4), round(float(r["acc"]), 4)
    (0.2582, 0.4762)
    """
    x, y = data
    n = x.shape[0]  # data puts examples on axis 0 (images are (N, H, W, C))
    totals: dict[str, Array] = {}
    for xb, yb in make_batches(x, y, batch_size, None):
        pred = model.apply(params, xb)
        weight = xb.shape[0] / n
        values = {"loss": loss(pred, yb)[0]}
        for name, metric in (metrics or {}).items():
            values[name] = metric(pred, yb)
        for name, v in values.items():
            totals[name] = totals.get(name, 0.0) + np.asarray(v) * weight
    return totals


def _keep_best(improved: np.ndarray[Any, Any], new: P, best: P) -> P:
    """Per model, ``new`` params where ``improved`` else ``best`` (model axes lead each leaf)."""

    def pick(n: Array, b: Array) -> Array:
        return np.where(improved.reshape(improved.shape + (1,) * (n.ndim - improved.ndim)), n, b)

    return tree.tree_map(pick, new, best)


def fit(
    model: Layer[P, Any],
    loss: LossFn,
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
) -> FitResult[P, S]:
    """Train ``model`` for up to ``epochs`` epochs and return a :class:`FitResult`.

    - full batch by default (as the lab does); ``batch_size`` gives minibatches, shuffled each
      epoch by ``fold_in(fold_in(key, 0), epoch)``; stochastic layers get
      ``fold_in(fold_in(key, 1), step)``;
    - ``history.loss[e]`` is the mean training loss over epoch ``e`` (for a full batch: the loss
      before that epoch's update), one column per stacked model;
    - ``val_data`` is evaluated after every epoch (``history.val_loss``, ``val_<metric>``);
    - stopping: ``until(epoch, loss)`` (e.g. ``loss_below(0.01)``), ``epochs``, ``patience``
      epochs without a lower validation loss (the best params per model are kept and returned);
    - divergence: a NaN/inf loss raises :class:`DivergenceError` naming the epoch (and the models
      of a stack). With ``on_nonfinite="stop"`` a single model's run ends with
      ``stop_reason="diverged"`` and its history so far; in a stack only the diverged models
      stop — their params are frozen at the last finite values and their losses recorded as NaN
      — while the others train on (``until`` then asks about the live models only);
    - ``log_every=k`` prints an epoch/loss line every ``k`` epochs; ``progress`` shows a live
      bar on stderr;
    - ``opt_state`` starts from an earlier optimizer state;
    - ``checkpoint=path`` saves everything needed to continue (train state, epoch, history, best
      params) every ``checkpoint_every`` epochs and at the end, atomically (:mod:`fnnet.io`);
      ``resume=True`` continues from that file when it exists. A run interrupted and resumed
      ends bit-identical to one that was not.

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
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: argument 'epochs' must be a positive int, got {epochs!r}")
    if patience is not None and val_data is None:
        raise ValueError("fit: argument 'patience' needs 'val_data' to monitor")
    if resume and checkpoint is None:
        raise ValueError("fit: argument 'resume' needs a 'checkpoint' path")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(
            f"fit: argument 'checkpoint_every' must be a positive int, got {checkpoint_every!r}"
        )
    x, y = data
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError("fit: argument 'data' must be a tuple (x, y) of numpy arrays")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"fit: x and y in 'data' must have the same number of examples, got x {x.shape} "
            f"and y {y.shape}"
        )
    for name, arrays in (("data", data), ("val_data", val_data)):
        for part, a in zip(("x", "y"), arrays or (), strict=False):
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = int(np.count_nonzero(~np.isfinite(a)))
                raise ValueError(
                    f"fit: {part} in '{name}' has {bad} NaN or infinite values (shape {a.shape})"
                )
    run = _Run(model, loss, optimizer, params, data, batch_size, key, val_data, metrics, opt_state)
    path = Path(checkpoint) if checkpoint is not None else None
    if resume and path is not None and path.exists():
        run.restore(path)
    with quiet_floats():
        return run.loop(
            epochs, until, patience, log_every, progress, on_nonfinite, path, checkpoint_every
        )


class _Run(Generic[P, S]):
    """The mutable bookkeeping of one ``fit`` call (never visible outside it)."""

    def __init__(
        self,
        model: Layer[P, Any],
        loss: LossFn,
        optimizer: Optimizer[S],
        params: P,
        data: Batch,
        batch_size: int | None,
        key: Key,
        val_data: Batch | None,
        metrics: Mapping[str, Metric] | None,
        opt_state: S | None,
    ) -> None:
        self.model, self.loss, self.data, self.key = model, loss, data, key
        self.batch_size, self.val_data = batch_size, val_data
        self.named = dict(metrics or {})
        self.step = make_step(model, loss, optimizer, self.named)
        start = optimizer.init(params) if opt_state is None else opt_state
        self.state: TrainState[P, S] = TrainState(params, start, 0, fold_in(key, 1))
        self.epoch = 0
        self.records: list[dict[str, Array]] = []
        self.best_params, self.best_epoch = params, -1
        self.best_val: Array | None = None
        self.since_best: Array = np.zeros((), dtype=np.int64)
        self.dead: np.ndarray[Any, Any] | None = None  # per model: diverged and frozen
        self.bar_open = False  # the progress bar's line on stderr is not finished

    def _end_bar(self) -> None:
        if self.bar_open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.bar_open = False

    def _log(self, epoch: int, record: Mapping[str, Array], start: float) -> None:
        self._end_bar()  # the epoch line goes below the bar, not after it
        _log(epoch, record, start)

    # -- checkpoints ---------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        history = {k: np.stack([r[k] for r in self.records]) for k in self.records[0]}
        return {
            "state": self.state,
            "epoch": self.epoch,
            "history": history,
            "best": {
                "params": self.best_params,
                "epoch": self.best_epoch,
                "val": np.asarray(np.nan) if self.best_val is None else np.asarray(self.best_val),
                "since": np.asarray(self.since_best),
                "dead": np.asarray(False) if self.dead is None else self.dead,
            },
        }

    def save(self, path: Path) -> None:
        if self.records:
            io.save(path, self._snapshot())

    def restore(self, path: Path) -> None:
        names = ["loss", *self.named]
        if self.val_data is not None:
            names += ["val_loss", *(f"val_{k}" for k in self.named)]
        like: dict[str, Any] = {
            "state": self.state,
            "epoch": 0,
            "history": {k: np.zeros(0) for k in names},
            "best": {"params": self.best_params, "epoch": 0, "val": np.zeros(0),
                     "since": np.zeros(0), "dead": np.zeros(0)},
        }  # fmt: skip
        saved = io.load(path, like, strict=False)
        for which in ("state", "best"):
            got = saved[which]["params"] if which == "best" else saved[which].params
            for a, b, where in zip(
                tree.leaves(got), tree.leaves(self.state.params), tree.paths(got), strict=True
            ):
                a, b = np.asarray(a), np.asarray(b)
                if a.shape != b.shape or a.dtype != b.dtype:
                    raise ValueError(
                        f"fit: checkpoint {path} has params{where} of shape {a.shape} {a.dtype}, "
                        f"but 'params' has {b.shape} {b.dtype}"
                    )
        state = saved["state"]
        self.state = TrainState(state.params, state.opt_state, state.step, tuple(state.key))
        self.epoch = saved["epoch"]
        history = saved["history"]
        self.records = [{k: history[k][i] for k in names} for i in range(self.epoch)]
        best = saved["best"]
        self.best_params, self.best_epoch = best["params"], best["epoch"]
        self.best_val = None if np.all(np.isnan(best["val"])) else best["val"]
        self.since_best = best["since"]
        self.dead = None if best["dead"].ndim == 0 else best["dead"]

    # -- one epoch -----------------------------------------------------------------------
    def _check(self, loss: Array, on_nonfinite: str) -> bool:
        """Handle non-finite losses; ``True`` when training must stop (every model diverged)."""
        finite = np.isfinite(loss)
        if self.dead is not None:
            finite = finite | self.dead
        if np.all(finite):
            return False
        message = _divergence_message(self.epoch, loss, finite, on_nonfinite)
        if on_nonfinite == "raise":
            raise DivergenceError(message)
        print(message, file=sys.stderr)
        if loss.ndim == 0:
            return True
        self.dead = ~finite
        return bool(np.all(self.dead))

    def _freeze(self, before: P) -> None:
        """Keep diverged models at their last finite params (and their losses NaN)."""
        if self.dead is None or not np.any(self.dead):
            return
        keep = self.dead
        self.state = attrs.evolve(self.state, params=_keep_best(keep, before, self.state.params))

    def _mask_record(self, record: dict[str, Array]) -> dict[str, Array]:
        if self.dead is None or not np.any(self.dead):
            return record
        return {k: np.where(self.dead, np.nan, v) for k, v in record.items()}

    def _epoch(self, on_nonfinite: str, progress: bool, epochs: int, start: float) -> bool:
        """Run one epoch; ``True`` when every model has diverged."""
        x, y = self.data
        n = x.shape[0]
        before = self.state.params
        if self.batch_size is None or self.batch_size >= n:
            self.state, record = self.step(self.state, (x, y))
        else:
            sums: dict[str, Array] = {}
            shuffle = fold_in(fold_in(self.key, 0), self.epoch)
            for xb, yb in make_batches(x, y, self.batch_size, shuffle):
                self.state, m = self.step(self.state, (xb, yb))
                w = xb.shape[0] / n
                for k, v in m.items():
                    sums[k] = sums.get(k, 0.0) + v * w
                if progress:
                    _bar(self.epoch, epochs, self.state.step, n, self.batch_size, start)
                    self.bar_open = True
                if not _finite(m["loss"]) and self._check(m["loss"], on_nonfinite):
                    self.records.append(self._mask_record(m))
                    return True
            record = sums
        if self._check(record["loss"], on_nonfinite):
            self.records.append(record)
            return True
        self._freeze(before)
        if self.val_data is not None:
            val = evaluate(
                self.model, self.loss, self.state.params, self.val_data, self.batch_size,
                self.named,
            )  # fmt: skip
            record = {**record, "val_loss": val.pop("loss")}
            record.update({f"val_{k}": v for k, v in val.items()})
        self.records.append(self._mask_record(record))
        return False

    def _patience(self, patience: int) -> bool:
        """Track the best params on validation loss; ``True`` when patience ran out."""
        current = self.records[-1]["val_loss"]
        if self.best_val is None:
            self.best_val, self.best_params, self.best_epoch = (
                current,
                self.state.params,
                self.epoch,
            )
            return False
        improved = current < self.best_val
        self.best_val = np.where(improved, current, self.best_val)
        self.since_best = np.where(improved, 0, self.since_best + 1)
        self.best_params = _keep_best(improved, self.state.params, self.best_params)
        if np.all(improved):
            self.best_epoch = self.epoch
        return bool(np.all(self.since_best >= patience))

    def loop(
        self,
        epochs: int,
        until: StopRule | None,
        patience: int | None,
        log_every: int | None,
        progress: bool,
        on_nonfinite: str,
        checkpoint: Path | None,
        checkpoint_every: int,
    ) -> FitResult[P, S]:
        stop_reason = "epochs"
        start = time.perf_counter()
        while self.epoch < epochs:
            self.epoch += 1
            if self._epoch(on_nonfinite, progress, epochs, start):
                stop_reason = "diverged"
                break
            record = self.records[-1]
            if log_every and (self.epoch % log_every == 0 or self.epoch == 1):
                self._log(self.epoch, record, start)
            if patience is not None and self._patience(patience):
                stop_reason = "patience"
                break
            live = record["loss"] if self.dead is None else record["loss"][~self.dead]
            if until is not None and until(self.epoch, live):
                stop_reason = "until"
                break
            if checkpoint is not None and self.epoch % checkpoint_every == 0:
                self.save(checkpoint)
        if log_every and self.records and self.epoch % log_every != 0:
            self._log(self.epoch, self.records[-1], start)
        self._end_bar()
        if checkpoint is not None:
            self.save(checkpoint)
        params = self.best_params if patience is not None else self.state.params
        best = self.best_epoch if self.best_epoch > 0 else None
        return FitResult(
            params, self.state.opt_state, _stack(self.records), self.state, self.epoch,
            stop_reason, best,
        )  # fmt: skip


def _divergence_message(epoch: int, loss: Array, finite: np.ndarray[Any, Any], mode: str) -> str:
    bad = np.argwhere(~np.atleast_1d(finite)).tolist()
    value = np.atleast_1d(loss)[tuple(bad[0])] if bad else loss
    if np.ndim(loss) == 0:
        where, after = "", "the run stops"
    else:
        where = f" (models {[tuple(b) if len(b) > 1 else b[0] for b in bad]})"
        after = "those models are frozen and the others train on"
    advice = (
        "lower the learning rate, or pass on_nonfinite='stop' to keep the history so far"
        if mode == "raise"
        else after
    )
    return f"fit: the training loss became {value} at epoch {epoch}{where}; {advice}"


def _fmt(v: Array) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.6f}"
    return f"mean {float(a.mean()):.6f} (min {float(a.min()):.6f}, max {float(a.max()):.6f})"


def _log(epoch: int, record: Mapping[str, Array], start: float) -> None:
    parts = [f"epoch {epoch:>7}"] + [f"{k} {_fmt(v)}" for k, v in record.items()]
    parts.append(f"{time.perf_counter() - start:.1f}s")
    print("  ".join(parts), flush=True)


def _bar(epoch: int, epochs: int, step: int, n: int, batch_size: int | None, start: float) -> None:
    per_epoch = -(-n // (batch_size or n))
    done = (step - 1) % per_epoch + 1
    if done % max(1, per_epoch // 50) and done != per_epoch:
        return
    width = 30
    filled = width * done // per_epoch
    sys.stderr.write(
        f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
        f"{done}/{per_epoch} {time.perf_counter() - start:.1f}s"
    )
    sys.stderr.flush()
