"""What ``fit`` checks before it trains, so that nothing fails (or silently goes wrong) after
the first epoch: the arguments' kinds, the options, the data located against the model and
params, one example run through the model, the loss and the metrics, the optimizer state and the
model state. Errors name ``fit`` (or ``evaluate``), the argument and the shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array
from fnnet.layers.base import Layer, examples_axis, quiet_floats, require_layer
from fnnet.losses import Loss
from fnnet.optim.base import Optimizer
from fnnet.random import Key, as_tuple, generator

__all__ = [
    "Located",
    "FitOptions",
    "take",
    "check_pair",
    "check_params_values",
    "locate",
    "positive_int",
    "probe",
    "with_hyperparameters",
    "check_parts",
    "check_key",
    "check_model_state",
    "metric_names",
]

Batch = tuple[Array, Any]
Metric = Callable[[Array, Any], Array]
StopRule = Callable[[int, Array], bool]


@attrs.frozen
class Located:
    """A data set and where its examples are: ``x`` is ``(N, *input)`` when every model of a
    stack shares it, or ``(*models, N, *input)`` per model (then ``axis`` is the number of model
    axes); ``y`` likewise (``y_axis``)."""

    x: Array
    y: Any
    axis: int
    y_axis: int

    @property
    def n(self) -> int:
        return int(self.x.shape[self.axis])

    def batches(self, size: int | None, key: Key | None) -> Iterator[Batch]:
        """Minibatches of ``size`` examples, shuffled by ``key`` (None: in order, as views)."""
        n = self.n
        if size is None or size >= n:
            yield self.x, self.y
            return
        order = generator(key).permutation(n) if key is not None else None
        for s in range(0, n, size):
            idx: Any = order[s : s + size] if order is not None else slice(s, s + size)
            yield take(self.x, idx, self.axis), take(self.y, idx, self.y_axis)


def take(a: Any, idx: Any, axis: int) -> Any:
    """``a``'s entries ``idx`` (a slice: a view; indices: a copy) along ``axis``.

    >>> take(np.arange(6).reshape(2, 3), slice(0, 2), 1)
    array([[0, 1],
           [3, 4]])
    """
    if isinstance(idx, slice):
        return a[(slice(None),) * axis + (idx,)]
    return np.take(a, idx, axis=axis)


def check_pair(fn: str, arg: str, data: object) -> tuple[Array, Any]:
    """``data`` must be a pair ``(x, y)`` of non-empty numpy arrays with finite floats."""
    if not isinstance(data, tuple) or len(data) != 2:
        got = f"a tuple of {len(data)}" if isinstance(data, tuple) else type(data).__name__
        raise TypeError(f"{fn}: argument {arg!r} must be a pair (x, y) of numpy arrays, got {got}")
    for part, a in zip(("x", "y"), data, strict=True):
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"{fn}: {part} in {arg!r} must be a numpy array, got {type(a).__name__}"
            )
        if a.ndim == 0 or a.size == 0:
            raise ValueError(f"{fn}: {part} in {arg!r} must hold examples, got shape {a.shape}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int(np.count_nonzero(~np.isfinite(a)))
            raise ValueError(
                f"{fn}: {part} in {arg!r} has {bad} NaN or infinite values (shape {a.shape})"
            )
    return data[0], data[1]


def check_params_values(fn: str, params: Any) -> None:
    """Every leaf of ``params`` a finite float32 or float64 array."""
    leaves = tree.leaves(params)
    if all(
        type(leaf) is np.ndarray
        and (leaf.dtype == np.float64 or leaf.dtype == np.float32)
        and np.isfinite(leaf).all()
        for leaf in leaves
    ):
        return
    for leaf, where in zip(leaves, tree.paths(params), strict=True):  # name the bad leaf
        if not isinstance(leaf, np.ndarray) or leaf.dtype not in (np.float32, np.float64):
            got = f"dtype {leaf.dtype}" if isinstance(leaf, np.ndarray) else type(leaf).__name__
            raise TypeError(
                f"{fn}: params{where} must be a float32 or float64 numpy array, got {got}; "
                "cast the params with tree.astype"
            )
        if not np.isfinite(leaf).all():
            raise ValueError(
                f"{fn}: params{where} has NaN or infinite values: initialise the params again"
            )


def locate(fn: str, arg: str, model: Layer[Any, Any], params: Any, data: object) -> Located:
    """Check ``data`` against the model and ``params`` and find its examples axis."""
    x, y = check_pair(fn, arg, data)
    k, lead = examples_axis(fn, f"x in {arg!r}", model, params, x)
    y_axis = k if y.ndim > k and y.shape[:k] == lead else 0
    if y.shape[y_axis] != x.shape[k]:
        raise ValueError(
            f"{fn}: x and y in {arg!r} must have the same number of examples, got x "
            f"{x.shape} and y {y.shape}"
        )
    return Located(x, y, k, y_axis)


def positive_int(fn: str, arg: str, value: object, optional: bool = False) -> int | None:
    """``value`` as an int >= 1 (numpy ints too, never a bool); ``None`` when ``optional``.

    >>> positive_int("fit", "epochs", np.int64(3)), positive_int("fit", "batch_size", None, True)
    (3, None)
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{fn}: argument {arg!r} must be a positive int, got {value!r}")
    return int(value)


@attrs.frozen
class FitOptions:
    """``fit``'s loop options, checked."""

    epochs: int
    batch_size: int | None
    until: StopRule | None
    patience: int | None
    log_every: int | None
    progress: bool
    on_nonfinite: str
    checkpoint: Path | None
    checkpoint_every: int
    resume: bool

    @staticmethod
    def checked(**kw: Any) -> FitOptions:
        fn = "fit"
        for name in ("epochs", "checkpoint_every"):
            kw[name] = positive_int(fn, name, kw[name])
        for name in ("batch_size", "patience", "log_every"):
            kw[name] = positive_int(fn, name, kw[name], optional=True)
        if kw["on_nonfinite"] not in ("raise", "stop"):
            got = kw["on_nonfinite"]
            raise ValueError(f"fit: argument 'on_nonfinite' must be 'raise' or 'stop', got {got!r}")
        if kw["resume"] and kw["checkpoint"] is None:
            raise ValueError("fit: argument 'resume' needs a 'checkpoint' path")
        if kw["until"] is not None and not callable(kw["until"]):
            raise TypeError(f"fit: argument 'until' must be a function, got {kw['until']!r}")
        path = kw["checkpoint"]
        kw["checkpoint"] = Path(path) if path is not None else None
        return FitOptions(**kw)


def probe(
    arg: str,
    model: Layer[Any, Any],
    loss: Loss,
    metrics: Mapping[str, Metric],
    params: Any,
    data: Located,
    model_state: Any,
) -> None:
    """Run the model's own ``apply``, the loss and the metrics on one example of ``data``: any
    mismatch between data, params, model, loss and metrics is reported now, in the reference
    code's words, before training."""
    x = take(data.x, slice(0, 1), data.axis)
    y = take(data.y, slice(0, 1), data.y_axis)
    try:
        if model.state is not None:
            pred = model.state.apply(params, model_state, x)
        else:
            pred = model.apply(params, x)
    except (TypeError, ValueError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"fit: x in {arg!r} does not fit the model and params: {e}") from e
    for what, fn in (("the loss", loss), *((f"metric {n!r}", m) for n, m in metrics.items())):
        try:
            with quiet_floats():
                fn(pred, y)
        except (TypeError, ValueError) as e:
            kind = TypeError if isinstance(e, TypeError) else ValueError
            raise kind(f"fit: y in {arg!r} does not fit {what} and the model's output: {e}") from e


def with_hyperparameters(opt_state: Any, fresh: Any, params: Any) -> Any:
    """``opt_state`` continued with the hyperparameters of the optimizer passed to ``fit``.

    Its buffers (arrays shaped like a param) and step counts (ints) are kept; every other leaf
    (a learning rate, a decay, an epsilon) comes from ``fresh = optimizer.init(params)``, so a
    rate stored in an old state never silently overrides the one the caller passes. A buffer of
    another shape (a state made for other params) is refused, never dropped.

    >>> from fnnet import optim
    >>> p = [np.zeros(2)]
    >>> old = optim.momentum(0.5).init(p)
    >>> with_hyperparameters(old, optim.momentum(0.1).init(p), p)[1].learning_rate
    0.1
    """
    shapes = {np.shape(p) for p in tree.leaves(params)}

    def pick(old: Any, new: Any) -> Any:
        if np.ndim(new) > 0 and np.shape(new) in shapes and np.shape(old) != np.shape(new):
            raise ValueError(
                f"fit: argument 'opt_state' holds a buffer of shape {np.shape(old)} where this "
                f"optimizer keeps {np.shape(new)} for these params: it was made for other "
                "params; pass optimizer.init(params) or none"
            )
        keep = isinstance(old, int | np.integer) or (np.ndim(old) > 0 and np.shape(old) in shapes)
        return old if keep else new

    return tree.map(pick, opt_state, fresh)


def check_parts(fn: str, model: object, loss: object, optimizer: object) -> None:
    """The model a Layer, the loss a function, the optimizer an Optimizer (``fn`` is named)."""
    require_layer(fn, "model", model)
    if not callable(loss):
        raise TypeError(
            f"{fn}: argument 'loss' must be a function (pred, target) -> (value, dpred), got "
            f"{type(loss).__name__}"
        )
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{fn}: argument 'optimizer' must be an optim.Optimizer, got "
            f"{type(optimizer).__name__}; wrap your (init, update) functions as "
            "optim.Optimizer(init, update)"
        )


def check_key(fn: str, key: object) -> tuple[int, ...]:
    """``key`` as a tuple of non-negative ints, or an error naming ``fn`` and 'key'.

    >>> check_key("fit", 3)
    (3,)
    """
    try:
        return as_tuple(key)  # type: ignore[arg-type]  # checked here, at run time
    except (TypeError, ValueError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(
            f"{fn}: argument 'key' must be an int or a tuple of non-negative ints ({e})"
        ) from e


def check_model_state(model: Layer[Any, Any], model_state: Any) -> None:
    """A stateful model needs its ``model_state``; a stateless one takes none.

    >>> from fnnet import layers
    >>> check_model_state(layers.dense(2), None)
    """
    if model.state is not None and model_state is None:
        raise ValueError(
            f"fit: {model.name} has state (running statistics) but argument 'model_state' is "
            "None; start from fnnet.layers.state.init(model, key, input_shape)"
        )
    if model.state is None and model_state is not None:
        raise ValueError(f"fit: argument 'model_state' given, but {model.name} has no state")


def metric_names(metrics: Mapping[str, Metric] | None) -> dict[str, Metric]:
    """``metrics`` as a dict, refusing names that would replace the recorded loss series.

    >>> sorted(metric_names({"accuracy": lambda p, t: p}))
    ['accuracy']
    """
    if metrics is not None and not isinstance(metrics, Mapping):
        got = type(metrics).__name__
        raise TypeError(f"fit: argument 'metrics' must be a dict of name -> metric, got {got}")
    named = dict(metrics or {})
    for name, metric in named.items():
        if not isinstance(name, str) or name in ("loss", "val_loss") or name.startswith("val_"):
            raise ValueError(
                f"fit: metric name {name!r} is reserved or not a string: 'loss', 'val_loss' and "
                "'val_...' name the recorded loss and validation series; choose another name"
            )
        if not callable(metric):
            raise TypeError(f"fit: metric {name!r} must be a function (pred, target) -> value")
    return named
