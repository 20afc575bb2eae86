"""Grids of experiments: stacked per task, spread over any ``concurrent.futures.Executor``.

A sweep is a list of *cells* (plain dicts such as ``{"lr": 0.1, "seed": 3}``) built by
:func:`grid` and :func:`zip_axes`, and a function that turns cells into *records* (dicts of
numbers, strings and arrays). :func:`run` cuts the cells into *tasks*, runs the tasks on an
executor and returns a :class:`Table` with one record per cell, in cell order.

- **Stacking.** :class:`Fit` trains the cells of a task that differ only in what a stack carries
  per model — hyperparameters (one value per model, :func:`fnnet.optim.sgd` and friends take
  arrays), the init key — as ONE stacked :func:`fnnet.train.fit`, and splits the result back
  into one record per cell. A learning-rate × seed grid is one numpy program.
- **Executors.** ``executor=None`` runs in this process; any ``concurrent.futures.Executor``
  works (``ProcessPoolExecutor`` for the local cores); a Dask ``distributed.Client`` (or its
  ``client.get_executor()``) runs the same sweep on a ``LocalCluster`` or on workers of an
  existing cluster. fnnet never imports Dask: a ``Client`` is recognised by its methods.
- **Data once per worker.** With a ``Client``, the task function (and the data it holds) is
  scattered to every worker once (again if the cluster lost it); with any executor,
  :func:`cached` loads data on the worker
  itself, once per process.
- **Fault tolerance.** With ``directory``, every finished task is saved atomically
  (:mod:`fnnet.io`, no pickle) and a rerun skips it; a task whose worker died is retried (by
  Dask's own ``retries``, or by ``run``), so it costs only that task; a cell that raises is
  recorded with its error (``record["error"]``) and the other cells finish.
- **Determinism.** Keys come from the cells and tasks from the cell list and ``task_size``
  alone, never from the executor, the worker or the order of completion: the same sweep gives
  bit-identical records in-process, on a process pool and on a Dask cluster.

>>> from fnnet import data, layers, losses, optim
>>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
>>> def xor(cell: Cell) -> Setup:  # one experiment; cell["lr"] is one value per stacked model
...     return Setup(net, losses.mse, optim.sgd(cell["lr"]), data.xor())
>>> table = run(Fit(xor, epochs=50), grid(lr=[0.5, 2.0], seed=range(3)), progress=False)
>>> len(table), table[0]["lr"], table[0]["seed"], table[0]["loss"].shape
(6, 0.5, 0, (50,))
>>> print(table.to_markdown(["lr", "seed", "final_loss"]).splitlines()[2])
| 0.5 | 0 | 0.2455 |
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io as _stdio
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs
import numpy as np

from fnnet import io, layers, train, tree
from fnnet.arrays import Array, _got, require_shape
from fnnet.layers import Layer
from fnnet.losses import Loss
from fnnet.optim import Optimizer
from fnnet.random import Key

__all__ = [
    "Cell",
    "Record",
    "grid",
    "zip_axes",
    "label",
    "Setup",
    "Fit",
    "StackedTask",
    "cached",
    "init_stack",
    "run",
    "run_task",
    "Table",
]

Cell: TypeAlias = dict[str, Any]
"""One experiment's settings, e.g. ``{"width": 64, "lr": 0.1, "seed": 3}``."""

Record: TypeAlias = dict[str, Any]
"""One cell's outcome: its settings, its outputs (numbers, strings, arrays) and ``"error"``."""


# --- cells -------------------------------------------------------------------------------------


def _axis(fn: str, name: str, values: object) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(
            f"fnnet.sweep.{fn}: axis {name!r} must be a list (or range) of values, got "
            f"{type(values).__name__}"
        )
    out = list(values)
    if not out:
        raise ValueError(f"fnnet.sweep.{fn}: axis {name!r} has no values")
    return out


def grid(*blocks: Sequence[Cell], **axes: Iterable[Any]) -> list[Cell]:
    """The cartesian product of ``blocks`` (lists of cells, e.g. from :func:`zip_axes`) and the
    keyword ``axes``, as a list of cells.

    The order is that of nested for-loops written in argument order (``itertools.product``):
    the first block or axis varies slowest, the last fastest. The same arguments always give
    the same list, so a cell's position is stable across runs (resume relies on it).

    >>> grid(lr=[0.1, 1.0], seed=range(2))
    [{'lr': 0.1, 'seed': 0}, {'lr': 0.1, 'seed': 1}, {'lr': 1.0, 'seed': 0}, {'lr': 1.0, 'seed': 1}]
    >>> grid(zip_axes(lr=[0.1, 0.01], beta=[0.9, 0.99]), seed=[0])
    [{'lr': 0.1, 'beta': 0.9, 'seed': 0}, {'lr': 0.01, 'beta': 0.99, 'seed': 0}]
    """
    parts: list[list[Cell]] = []
    for i, block in enumerate(blocks):
        cells = _axis("grid", f"blocks[{i}]", block)
        if not all(isinstance(c, dict) for c in cells):
            raise TypeError(f"fnnet.sweep.grid: blocks[{i}] must be a list of dicts (cells)")
        parts.append(cells)
    parts += [[{name: v} for v in _axis("grid", name, vals)] for name, vals in axes.items()]
    out: list[Cell] = []
    for combo in itertools.product(*parts):
        cell: Cell = {}
        for part in combo:
            clash = set(cell) & set(part)
            if clash:
                raise ValueError(f"fnnet.sweep.grid: axis {sorted(clash)[0]!r} is given twice")
            cell.update(part)
        out.append(cell)
    return out


def zip_axes(**axes: Iterable[Any]) -> list[Cell]:
    """Axes that vary together (Python's ``zip``, strict): one cell per position.

    >>> zip_axes(width=[32, 64], lr=[0.1, 0.05])
    [{'width': 32, 'lr': 0.1}, {'width': 64, 'lr': 0.05}]
    """
    cols = {name: _axis("zip_axes", name, vals) for name, vals in axes.items()}
    lengths = {name: len(v) for name, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"fnnet.sweep.zip_axes: the axes must have equal lengths, got {lengths}")
    return [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def _show(v: object) -> str:
    if v is None or isinstance(v, bool | int | float | str | np.integer | np.floating):
        return repr(v.item() if isinstance(v, np.generic) else v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    name = getattr(v, "name", None) or getattr(v, "__name__", None)
    return str(name) if isinstance(name, str) else type(v).__qualname__


def label(cell: Mapping[str, Any]) -> str:
    """A cell as text, ``name=value`` in the cell's order (objects by their ``name``).

    >>> label({"lr": 0.1, "seed": 3, "net": None})
    'lr=0.1, seed=3, net=None'
    """
    if not isinstance(cell, Mapping):
        raise TypeError(
            f"fnnet.sweep.label: argument 'cell' must be a dict of name -> value, got {_got(cell)}"
        )
    return ", ".join(f"{k}={_show(v)}" for k, v in cell.items())


def _check_cells(cells: object) -> list[Cell]:
    if isinstance(cells, dict) or not isinstance(cells, Iterable):
        raise TypeError("fnnet.sweep.run: argument 'cells' must be a list of dicts (see grid)")
    out = list(cells)
    bad = next((i for i, c in enumerate(out) if not isinstance(c, dict)), None)
    if bad is not None:
        raise TypeError(
            f"fnnet.sweep.run: cells[{bad}] must be a dict, got {type(out[bad]).__name__}"
        )
    if not out:
        raise ValueError("fnnet.sweep.run: argument 'cells' is empty")
    return out


# --- data loaded on the worker -----------------------------------------------------------------

_CACHE: dict[tuple[str, str, tuple[Any, ...]], Any] = {}


@attrs.frozen
class _Cached:
    fn: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        key = (getattr(self.fn, "__module__", ""), getattr(self.fn, "__qualname__", ""), args)
        if key not in _CACHE:
            _CACHE[key] = self.fn(*args)
        return _CACHE[key]


def cached(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` evaluated once per process and arguments, then served from memory.

    Use it to load a data set on the worker that needs it (a ``Setup`` function calls
    ``load(...)``): a worker reads the files once, whatever the number of tasks it runs, and
    nothing but the function's name travels with a task. Arguments must be hashable.

    >>> calls = []
    >>> def load(n: int) -> list[int]:
    ...     calls.append(n)
    ...     return list(range(n))
    >>> cached_load = cached(load)
    >>> cached_load(3), cached_load(3), calls
    ([0, 1, 2], [0, 1, 2], [3])
    """
    return _Cached(fn)


# --- stacking ----------------------------------------------------------------------------------


@attrs.frozen
class Setup:
    """One experiment as :class:`Fit` trains it: the model, loss, optimizer and data.

    A ``Setup`` function gets a cell whose hyperparameters (``Fit.hyper``) are arrays with one
    value per stacked model, so ``optim.sgd(cell["lr"])`` builds a per-model optimizer.

    >>> from fnnet import data, layers, losses, optim
    >>> s = Setup(layers.mlp([2, 1]), losses.mse, optim.sgd(0.1), data.xor())
    >>> s.data[0].shape
    (21, 2)
    """

    model: Layer[Any, Any]
    loss: Loss
    optimizer: Optimizer[Any]
    data: tuple[Array, Any]
    val_data: tuple[Array, Any] | None = None


@runtime_checkable
class StackedTask(Protocol):
    """A task function that runs many cells at once (what :func:`run` calls for a task).

    ``static(cell)`` is the part of a cell that must be equal for cells to share a stack;
    ``run_cells(cells)`` returns one output dict per cell, in order. :class:`Fit` is one.
    """

    def static(self, cell: Cell) -> list[tuple[str, Any]]: ...

    def run_cells(self, cells: Sequence[Cell]) -> list[dict[str, Any]]: ...


def init_stack(
    model: Layer[Any, Any],
    keys: Sequence[Key],
    input_shape: tuple[int, ...],
    *,
    axes: tuple[int, ...] | None = None,
) -> Any:
    """Params of ``len(keys)`` models, model ``i`` initialised with ``keys[i]``, stacked on
    leading model axes: one axis by default, or ``axes`` (e.g. ``(rates, seeds)``).

    >>> from fnnet import layers
    >>> p = init_stack(layers.dense(3), [0, 1, 2, 3, 4, 5], (2,), axes=(2, 3))
    >>> p.w.shape  # 2 x 3 models, each (2, 3)
    (2, 3, 2, 3)
    """
    fn = "fnnet.sweep.init_stack"
    if not isinstance(model, Layer):
        raise TypeError(f"{fn}: argument 'model' must be a fnnet Layer, got {_got(model)}")
    if not isinstance(keys, Sequence) or isinstance(keys, str):
        raise TypeError(f"{fn}: argument 'keys' must be a list of keys (ints), got {_got(keys)}")
    input_shape = require_shape(fn, "input_shape", input_shape)
    if axes is not None:
        axes = require_shape(fn, "axes", axes)
    _, params = layers.init_stack(model, list(keys), input_shape)
    if axes is None:
        return params
    if int(np.prod(axes)) != len(keys):
        raise ValueError(
            f"fnnet.sweep.init_stack: argument 'axes' {axes} holds {int(np.prod(axes))} models "
            f"but {len(keys)} keys were given"
        )
    return tree.map(lambda a: a.reshape(axes + a.shape[1:]), params)


def _per_model(name: str, cells: Sequence[Cell]) -> Array:
    values = [c[name] for c in cells]
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"fnnet.sweep.Fit: hyperparameter {name!r} must be a number in every cell, got "
            f"{values[:3]!r}"
        ) from e
    if out.shape != (len(cells),):
        raise TypeError(f"fnnet.sweep.Fit: hyperparameter {name!r} must be a number per cell")
    return out


@attrs.frozen
class Fit:
    """Train the cells of a task that share everything but per-model values as ONE stacked fit.

    ``setup(cell) -> Setup`` describes one experiment. Cells that agree on every field except
    ``hyper`` (hyperparameters, given to ``setup`` as arrays with one value per model) and
    ``init_key`` (the field whose value is each model's init key, as in ``model.init(key,
    ...)``) train together. The stack stops when every model has stopped (``threshold``); a
    model whose loss turns NaN is frozen and recorded, the others train on.

    Each cell's record gets: ``loss`` (per-epoch curve), ``final_loss``, ``epochs`` (of its
    stack), ``stop_reason``, ``seconds`` (wall time of its whole stack: not deterministic),
    ``reached`` (first epoch with loss below ``threshold``, -1 if never; with a threshold),
    per metric ``m``: the curve ``m`` and ``final_m`` on the training data, with ``val_data``
    the ``val_loss``/``val_m`` curves and their last values, and ``params`` with
    ``keep_params``. Full batch unless ``batch_size``; minibatches are shuffled by the cell's
    ``data_key`` field (one order per stack, so cells differing in it train apart).

    >>> from fnnet import data, layers, losses, metrics, optim
    >>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> def xor(cell: Cell) -> Setup:
    ...     return Setup(net, losses.mse, optim.adam(cell["lr"]), data.xor())
    >>> task = Fit(xor, epochs=300, threshold=0.05, metrics={"accuracy": metrics.accuracy})
    >>> out = task.run_cells(grid(lr=[0.001, 0.1], seed=[0]))  # one stacked fit of 2 models
    >>> [(o["reached"], round(o["final_accuracy"], 3), o["epochs"]) for o in out]
    [(-1, 0.619, 300), (41, 1.0, 300)]
    """

    setup: Callable[[Cell], Setup]
    epochs: int
    hyper: tuple[str, ...] = ("lr",)
    init_key: str = "seed"
    data_key: str | None = None
    batch_size: int | None = None
    threshold: float | None = None
    stop_early: bool = True
    metrics: Mapping[str, train.Metric] = attrs.field(factory=dict)
    keep_params: bool = False

    def static(self, cell: Cell) -> list[tuple[str, Any]]:
        """The fields that must match for cells to share a stack.

        >>> fit = Fit(print, epochs=1)  # type: ignore[arg-type]
        >>> fit.static({"width": 8, "lr": 0.1, "seed": 2})
        [('width', 8)]
        """
        carried = {*self.hyper, self.init_key}
        return [(k, v) for k, v in cell.items() if k not in carried]

    def run_cells(self, cells: Sequence[Cell]) -> list[dict[str, Any]]:
        """Train ``cells`` (which must share :meth:`static`) as one stack; one dict per cell."""
        if not cells:
            return []
        first = self.static(cells[0])
        if any(self.static(c) != first for c in cells[1:]):
            raise ValueError("fnnet.sweep.Fit.run_cells: the cells differ in more than hyper/keys")
        names = [h for h in self.hyper if h in cells[0]]
        missing = [h for h in names if any(h not in c for c in cells)]
        if missing:
            raise ValueError(
                f"fnnet.sweep.Fit: hyperparameter {missing[0]!r} is missing in some cells"
            )
        stacked: Cell = dict(cells[0])
        stacked.update({h: _per_model(h, cells) for h in names})
        s = self.setup(stacked)
        keys = [c.get(self.init_key, 0) for c in cells]
        x = s.data[0]
        params = init_stack(s.model, keys, tuple(x.shape[1:]))
        start = time.perf_counter()
        r = train.fit(
            s.model,
            s.loss,
            s.optimizer,
            params,
            s.data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            key=cells[0].get(self.data_key, 0) if self.data_key else 0,
            until=train.loss_below(self.threshold)
            if self.threshold is not None and self.stop_early
            else None,
            val_data=s.val_data,
            metrics=dict(self.metrics),
            on_nonfinite="stop",
        )
        return self._split(s, r, len(cells), time.perf_counter() - start)

    def _split(
        self, s: Setup, r: train.FitResult[Any, Any], m: int, seconds: float
    ) -> list[dict[str, Any]]:
        x, y = s.data
        with np.errstate(all="ignore"):  # a diverged model's params may overflow
            pred = s.model.apply(r.params, x)
            final_loss = np.asarray(s.loss(pred, y)[0]).reshape(m)
            finals = {
                f"final_{k}": np.asarray(f(pred, y)).reshape(m) for k, f in self.metrics.items()
            }
        curves = {name: np.asarray(r.history[name]).reshape(-1, m) for name in r.history.names()}
        reached = (
            np.asarray(train.first_below(curves["loss"], self.threshold)).reshape(m)
            if self.threshold is not None
            else None
        )
        out: list[dict[str, Any]] = []
        for i in range(m):
            rec: dict[str, Any] = {name: c[:, i].copy() for name, c in curves.items()}
            rec["final_loss"] = float(final_loss[i])
            rec.update({k: float(v[i]) for k, v in finals.items()})
            rec.update(
                {f"final_{n}": float(c[-1, i]) for n, c in curves.items() if n.startswith("val_")}
            )
            if reached is not None:
                rec["reached"] = int(reached[i])
            rec.update(epochs=int(r.epochs), stop_reason=r.stop_reason, seconds=seconds)
            if self.keep_params:
                rec["params"] = tree.index(r.params, i)
            out.append(rec)
        return out


# --- tasks -------------------------------------------------------------------------------------

Outcome: TypeAlias = tuple[dict[str, Any], str | None]
"""A cell's outputs and its error (``None`` when it ran)."""


def _same(a: object, b: object) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an object whose == raises or is ambiguous is only equal to itself
        return False


def _same_static(a: list[tuple[str, Any]], b: list[tuple[str, Any]]) -> bool:
    return len(a) == len(b) and all(
        ka == kb and _same(va, vb) for (ka, va), (kb, vb) in zip(a, b, strict=True)
    )


def _groups(fn: StackedTask, cells: Sequence[Cell]) -> list[list[int]]:
    """Indices of cells that may share a stack, groups in first-seen order."""
    keys: list[list[tuple[str, Any]]] = []
    groups: list[list[int]] = []
    for i, c in enumerate(cells):
        s = fn.static(c)
        j = next((j for j, k in enumerate(keys) if _same_static(k, s)), None)
        if j is None:
            keys.append(s)
            groups.append([i])
        else:
            groups[j].append(i)
    return groups


def _plan(fn: object, cells: Sequence[Cell], task_size: int | None) -> list[list[int]]:
    """The tasks: lists of cell indices. A stacked task function gets each group of
    stackable cells in chunks of ``task_size`` (whole groups by default); a plain function gets
    ``task_size`` cells per task (1 by default). Depends on the cells and ``task_size`` only."""
    if task_size is not None and (not isinstance(task_size, int) or task_size < 1):
        raise ValueError(
            f"fnnet.sweep.run: argument 'task_size' must be a positive int, got {task_size!r}"
        )
    if isinstance(fn, StackedTask):
        groups = _groups(fn, cells)
    else:
        groups = [list(range(len(cells)))]
        task_size = task_size or 1
    out: list[list[int]] = []
    for g in groups:
        size = task_size or len(g)
        out += [g[i : i + size] for i in range(0, len(g), size)]
    return out


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _stack_or_each(fn: StackedTask, cells: Sequence[Cell]) -> list[Outcome]:
    """One stacked call; if it raises, each cell alone, so only the failing cells fail."""
    try:
        outs = fn.run_cells(cells)
        if len(outs) != len(cells):
            raise ValueError(f"run_cells returned {len(outs)} outputs for {len(cells)} cells")
        return [(dict(o), None) for o in outs]
    except Exception as e:
        if len(cells) == 1:
            return [({}, _error(e))]
    return [o for c in cells for o in _stack_or_each(fn, [c])]


def _one(fn: Callable[[Cell], Mapping[str, Any]], cell: Cell) -> Outcome:
    try:
        out = fn(dict(cell))
        if not isinstance(out, Mapping):
            raise TypeError(f"the sweep function returned {type(out).__name__}, not a dict")
        return dict(out), None
    except Exception as e:
        return {}, _error(e)


def run_task(fn: Any, cells: Sequence[Cell]) -> list[Outcome]:
    """Run one task's cells where it was sent (what an executor's worker calls): stack the
    stackable cells of a :class:`StackedTask`, call a plain function per cell; a cell that
    raises gets its error text instead of outputs.

    >>> run_task(lambda c: {"inverse": 1 / c["x"]}, [{"x": 2}, {"x": 0}])
    [({'inverse': 0.5}, None), ({}, 'ZeroDivisionError: division by zero')]
    """
    if not isinstance(fn, StackedTask):
        return [_one(fn, c) for c in cells]
    out: list[Outcome | None] = [None] * len(cells)
    for g in _groups(fn, cells):
        for i, o in zip(g, _stack_or_each(fn, [cells[i] for i in g]), strict=True):
            out[i] = o
    return [o for o in out if o is not None]


# --- saving finished tasks ---------------------------------------------------------------------

_EXACT = 2**53  # integers up to this size are exact in float64


def _encode_value(fn: str, name: str, v: object, values: list[Array]) -> list[Any]:
    """One output as a schema entry; numbers and arrays go into ``values`` as float64
    (exact for every float precision, bools and integers below 2**53)."""
    if v is None or isinstance(v, str):
        return [name, "none" if v is None else "str", v]
    if isinstance(v, bool | int | float):
        kind, a = type(v).__name__, np.asarray(v, dtype=np.float64)
    elif isinstance(v, np.ndarray | np.generic) and v.dtype.kind in "biuf":
        kind, a = ("array" if isinstance(v, np.ndarray) else "scalar"), np.asarray(v)
    else:
        raise TypeError(
            f"fnnet.sweep.{fn}: output {name!r} is a {type(v).__name__}; saved outputs must be "
            "numbers, strings, None or numeric arrays (drop it, or run without 'directory')"
        )
    if a.dtype.kind in "iu" and a.size and int(np.max(np.abs(a.astype(np.float64)))) >= _EXACT:
        raise ValueError(f"fnnet.sweep.{fn}: output {name!r} has integers beyond 2**53")
    values.append(a.astype(np.float64).reshape(-1))
    return [name, kind, a.dtype.str, list(a.shape)]


def _decode_value(entry: list[Any], flat: Array, at: int) -> tuple[Any, int]:
    kind = entry[1]
    if kind in ("none", "str"):
        return entry[2], at
    dtype, shape = np.dtype(entry[2]), tuple(entry[3])
    n = int(np.prod(shape))
    a = flat[at : at + n].astype(dtype).reshape(shape)
    if kind in ("bool", "int", "float"):
        return {"bool": bool, "int": int, "float": float}[kind](a.item()), at + n
    return (a[()] if kind == "scalar" else a), at + n


def _encode(outcomes: Sequence[Outcome]) -> dict[str, Array]:
    values: list[Array] = []
    schema = [
        {"error": err, "outputs": [_encode_value("run", k, v, values) for k, v in out.items()]}
        for out, err in outcomes
    ]
    flat = np.concatenate(values) if values else np.zeros(0)
    return {"schema": np.array(json.dumps(schema)), "values": flat}


def _decode(saved: Mapping[str, Any]) -> list[Outcome]:
    flat = np.asarray(saved["values"], dtype=np.float64)
    at, out = 0, []
    for cell in json.loads(str(saved["schema"])):
        outputs = {}
        for entry in cell["outputs"]:
            outputs[entry[0]], at = _decode_value(entry, flat, at)
        out.append((outputs, cell["error"]))
    return out


_LIKE = {"schema": np.array(""), "values": np.zeros(0)}


class _Store:
    """A sweep's folder: ``sweep.npz`` (the cells and tasks it belongs to) and one
    ``task-NNNNN.npz`` per finished task, each written atomically by :func:`fnnet.io.save`."""

    def __init__(
        self, directory: str | os.PathLike[str], cells: Sequence[Cell], tasks: list[list[int]]
    ):
        self.root = Path(directory)
        manifest = {"format": "fnnet-sweep", "cells": [label(c) for c in cells], "tasks": tasks}
        path = self.root / "sweep.npz"
        if path.exists():
            saved = json.loads(
                str(io.load(path, like={"schema": np.array("")}, strict=False)["schema"])
            )
            if saved != manifest:
                raise ValueError(
                    f"fnnet.sweep.run: directory {self.root} holds another sweep (other cells, "
                    "tasks or task_size); use a new directory, or delete this one to start over"
                )
        else:
            io.save(path, {"schema": np.array(json.dumps(manifest))})

    def _path(self, t: int) -> Path:
        return self.root / f"task-{t:05d}.npz"

    def load(self, t: int) -> list[Outcome] | None:
        """Task ``t``'s saved outcomes, or ``None`` if it must run (not saved, or it recorded
        an error: errors run again)."""
        if not self._path(t).exists():
            return None
        outcomes = _decode(io.load(self._path(t), like=_LIKE, strict=False))
        return None if any(err is not None for _, err in outcomes) else outcomes

    def save(self, t: int, outcomes: Sequence[Outcome]) -> None:
        io.save(self._path(t), _encode(outcomes))


# --- executing ---------------------------------------------------------------------------------


def _is_client(executor: object) -> bool:
    """A Dask ``distributed.Client``, recognised by its methods (fnnet never imports Dask)."""
    return all(callable(getattr(executor, m, None)) for m in ("scatter", "get_executor", "submit"))


@attrs.define
class _Shipped:
    """The task function as tasks receive it: scattered once to every Dask worker (and again
    if the cluster lost it, e.g. with a killed worker), or the function itself."""

    fn: Any
    client: Any = None
    ref: Any = None

    def send(self) -> _Shipped:
        self.ref = self.fn
        if self.client is not None:  # once per worker, not per task
            self.ref = self.client.scatter(self.fn, broadcast=True, hash=False)
        return self


def _executor(executor: object, fn: Any, retries: int) -> tuple[cf.Executor, _Shipped]:
    """The executor to submit to and the task function as sent."""
    if _is_client(executor):
        client: Any = executor
        ex: cf.Executor = client.get_executor(retries=retries, pure=False)
        return ex, _Shipped(fn, client).send()  # Dask also reschedules a dead worker's task
    if not isinstance(executor, cf.Executor):
        raise TypeError(
            "fnnet.sweep.run: argument 'executor' must be None, a concurrent.futures.Executor or "
            f"a Dask distributed.Client, got {type(executor).__name__}"
        )
    return executor, _Shipped(fn).send()


Done: TypeAlias = tuple[int, list[Outcome], bool]
"""A finished task: its index, its cells' outcomes, and whether they may be saved."""


def _failed(t: int, size: int, exc: BaseException) -> Done:
    text = f"the task failed on the executor ({_error(exc)}); run again to retry it"
    return t, [({}, text)] * size, False


def _on_executor(
    ex: cf.Executor, shipped: _Shipped, tasks: list[list[Cell]], todo: Sequence[int], retries: int
) -> Iterator[Done]:
    """Submit every task, yield each as it finishes; resubmit a task that failed (not a cell
    error: those come back as outcomes) up to ``retries`` times while the executor works,
    sending the task function again when the executor cancelled the task (Dask lost it)."""
    futures: dict[cf.Future[list[Outcome]], int] = {}
    attempts = dict.fromkeys(todo, 0)
    broken: list[Done] = []

    def submit(t: int) -> None:
        try:
            futures[ex.submit(run_task, shipped.ref, tasks[t])] = t
        except (cf.BrokenExecutor, RuntimeError) as e:  # broken or shut down
            broken.append(_failed(t, len(tasks[t]), e))

    for t in todo:
        submit(t)
    while futures or broken:
        yield from broken
        broken.clear()
        if not futures:
            break
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        for f in done:
            t = futures.pop(f)
            try:
                yield t, f.result(), True
            except Exception as e:
                if attempts[t] < retries and not isinstance(e, cf.BrokenExecutor):
                    attempts[t] += 1
                    if isinstance(e, cf.CancelledError):
                        shipped.send()
                    submit(t)
                else:
                    yield _failed(t, len(tasks[t]), e)


class _Progress:
    """``sweep: 12/48 cells, 3/12 tasks, 4 s, ~12 s left`` on stderr (redrawn on a terminal,
    a line per finished task otherwise)."""

    def __init__(self, cells: int, tasks: int, done_cells: int, done_tasks: int, on: bool):
        self.cells, self.tasks, self.on = cells, tasks, on
        self.done_cells, self.done_tasks = done_cells, done_tasks
        self.start, self.first = time.perf_counter(), done_cells
        self.tty = sys.stderr.isatty()

    def update(self, cells: int) -> None:
        self.done_cells += cells
        self.done_tasks += 1
        if not self.on:
            return
        elapsed = time.perf_counter() - self.start
        ran = self.done_cells - self.first
        left = self.cells - self.done_cells
        eta = f", ~{elapsed / ran * left:.0f} s left" if ran and left else ""
        line = (
            f"sweep: {self.done_cells}/{self.cells} cells, {self.done_tasks}/{self.tasks} tasks, "
            f"{elapsed:.0f} s{eta}"
        )
        end = "\n" if not self.tty or self.done_tasks == self.tasks else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


def run(
    fn: StackedTask | Callable[[Cell], Mapping[str, Any]],
    cells: Iterable[Cell],
    *,
    executor: object = None,
    directory: str | os.PathLike[str] | None = None,
    task_size: int | None = None,
    retries: int = 2,
    progress: bool = True,
) -> Table:
    """Run ``fn`` on every cell and return a :class:`Table`: one record per cell, in order.

    ``fn`` is a :class:`Fit` (or any :class:`StackedTask`), whose stackable cells run as one
    stack per task, or a plain function ``fn(cell) -> dict`` called per cell. Tasks are groups
    of stackable cells cut into chunks of ``task_size`` cells (for a plain function,
    ``task_size`` cells, default 1); they depend on the cells and ``task_size`` only.

    ``executor``: ``None`` (this process), any ``concurrent.futures.Executor``, or a Dask
    ``distributed.Client`` (``fn`` is then scattered to every worker once). ``directory``:
    save each finished task there and skip saved tasks on a rerun (tasks that recorded an error
    run again). ``retries``: how often a task whose worker failed is run again (by Dask for a
    ``Client``). A cell that raises gets ``record["error"]``; the others finish. ``progress``
    shows cells done, elapsed time and an estimate on stderr.

    >>> table = run(lambda c: {"y": c["x"] ** 2}, grid(x=[1, 2, 3]), progress=False)
    >>> table.column("y"), table.errors
    ([1, 4, 9], [])
    """
    cells = _check_cells(cells)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(
            f"fnnet.sweep.run: argument 'retries' must be an int >= 0, got {retries!r}"
        )
    if not isinstance(fn, StackedTask) and not callable(fn):
        raise TypeError(f"fnnet.sweep.run: argument 'fn' must be callable, got {type(fn).__name__}")
    plan = _plan(fn, cells, task_size)
    store = _Store(directory, cells, plan) if directory is not None else None
    results: list[list[Outcome] | None] = [
        store.load(t) if store else None for t in range(len(plan))
    ]
    todo = [t for t, r in enumerate(results) if r is None]
    done_cells = sum(len(plan[t]) for t, r in enumerate(results) if r is not None)
    bar = _Progress(len(cells), len(plan), done_cells, len(plan) - len(todo), progress)
    tasks = [[cells[i] for i in task] for task in plan]
    if executor is None:
        finished: Iterable[Done] = ((t, run_task(fn, tasks[t]), True) for t in todo)
    else:
        ex, shipped = _executor(executor, fn, retries)
        finished = _on_executor(ex, shipped, tasks, todo, retries)
    for t, outcomes, keep in finished:
        if store is not None and keep:
            store.save(t, outcomes)
        results[t] = outcomes
        bar.update(len(outcomes))
    records: list[Record | None] = [None] * len(cells)
    for task, got in zip(plan, results, strict=True):
        for i, (out, err) in zip(task, got or [], strict=True):
            records[i] = {**cells[i], **out, "error": err}
    return Table(tuple(r for r in records if r is not None))


# --- results -----------------------------------------------------------------------------------


def _is_scalar(v: object) -> bool:
    return v is None or isinstance(v, bool | int | float | str | np.generic)


def _cell_text(v: object, fmt: str) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating) and not isinstance(v, bool):
        return format(float(v), fmt)
    return _show(v) if not isinstance(v, str) else v


@attrs.frozen
class Table:
    """A sweep's results: one record (a dict) per cell, in cell order.

    A record holds the cell's settings, the function's outputs and ``"error"`` (``None`` when
    the cell ran). ``to_csv`` and ``to_markdown`` write the scalar columns (curves and other
    arrays stay in the records); :meth:`pivot` gives a metric over two axes (for
    :func:`fnnet.plot.heatmap`).

    >>> t = Table(({"lr": 0.1, "seed": 0, "acc": 0.5, "error": None},
    ...            {"lr": 0.1, "seed": 1, "acc": 1.0, "error": None}))
    >>> print(t.to_csv(), end="")
    lr,seed,acc,error
    0.1,0,0.5,
    0.1,1,1.0,
    """

    records: tuple[Record, ...]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]

    def column(self, name: str) -> list[Any]:
        """Every record's value of ``name`` (``None`` where a record lacks it, e.g. an error).

        >>> Table(({"a": 1}, {"a": 2})).column("a")
        [1, 2]
        """
        return [r.get(name) for r in self.records]

    def where(self, **fixed: Any) -> Table:
        """The records whose fields equal ``fixed``.

        >>> len(Table(({"a": 1}, {"a": 2}, {"a": 1})).where(a=1))
        2
        """
        return Table(
            tuple(r for r in self.records if all(_same(r.get(k), v) for k, v in fixed.items()))
        )

    @property
    def errors(self) -> list[Record]:
        """The records of the cells that raised (their ``"error"`` says why)."""
        return [r for r in self.records if r.get("error") is not None]

    def columns(self) -> list[str]:
        """The names of the scalar columns, in first-seen order (arrays left out).

        >>> Table(({"lr": 0.1, "loss": np.zeros(3), "error": None},)).columns()
        ['lr', 'error']
        """
        names: dict[str, None] = {}
        arrays: set[str] = set()
        for r in self.records:
            for k, v in r.items():
                (names.setdefault(k, None) if _is_scalar(v) else arrays.add(k))
        return [k for k in names if k not in arrays]

    def to_csv(
        self, path: str | os.PathLike[str] | None = None, columns: Sequence[str] | None = None
    ) -> str:
        """The scalar columns as CSV text (full precision), written to ``path`` when given."""
        cols = list(columns or self.columns())
        buf = _stdio.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in self.records:
            w.writerow([_cell_text(r.get(c), "") for c in cols])
        text = buf.getvalue()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return text

    def to_markdown(self, columns: Sequence[str] | None = None, fmt: str = ".4g") -> str:
        """The scalar columns as a markdown table, floats as ``format(v, fmt)``.

        >>> print(Table(({"lr": 0.1, "final_loss": 0.012345, "error": None},)).to_markdown())
        | lr | final_loss | error |
        |---|---|---|
        | 0.1 | 0.01235 |  |
        """
        cols = list(columns or self.columns())
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        for r in self.records:
            lines.append("| " + " | ".join(_cell_text(r.get(c), fmt) for c in cols) + " |")
        return "\n".join(lines)

    def pivot(
        self, rows: str, cols: str, value: str, reduce: Callable[[Array], Any] = np.median
    ) -> tuple[list[Any], list[Any], Array]:
        """``value`` over two axes: the row and column values (first-seen order) and a matrix
        whose cell is ``reduce`` (median by default) over the records there (e.g. the seeds);
        NaN where no record without an error has a value.

        >>> t = Table(tuple({"lr": lr, "seed": s, "acc": lr * s, "error": None}
        ...                 for lr in (1, 2) for s in (0, 1, 2)))
        >>> t.pivot("lr", "seed", "acc")[2].tolist()
        [[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]]
        >>> t.pivot("lr", "lr", "acc")[2].tolist()  # median over seeds, on the diagonal
        [[1.0, nan], [nan, 2.0]]
        """
        row_values = list(dict.fromkeys(self.column(rows)))
        col_values = list(dict.fromkeys(self.column(cols)))
        out = np.full((len(row_values), len(col_values)), np.nan)
        for i, rv in enumerate(row_values):
            for j, cv in enumerate(col_values):
                got = [
                    float(r[value])
                    for r in self.where(**{rows: rv}).where(**{cols: cv})
                    if r.get("error") is None
                    and _is_scalar(r.get(value))
                    and r.get(value) is not None
                ]
                if got:
                    out[i, j] = float(reduce(np.asarray(got)))
        return row_values, col_values, out
