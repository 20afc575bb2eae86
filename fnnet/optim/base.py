"""The ``Optimizer`` type, ``apply_updates``, and ``lift``: one per-array rule run on every leaf.

``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)``; the new
params are ``apply_updates(params, updates)`` (``params + updates``, leafwise). A user's own
optimizer is any two functions of these types, passed positionally: ``Optimizer(init, update)``.

fnnet's transforms write their update once, as the textbook formula on ONE array, and
:func:`lift` runs it on every leaf of the params' tree (as ``jax.example_libraries.optimizers``
lifts its per-array rules). So the moment buffers in a state have the params' tree shape, and the
same optimizer runs unchanged on one bare array (a tree with one leaf) — how fnnet's kernels run
it on one flat buffer holding every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array, _got, require_array, require_float, require_real
from fnnet.optim import numerics
from fnnet.tree import PyTree

__all__ = [
    "Optimizer",
    "Hyper",
    "HyperArg",
    "apply_updates",
    "lift",
    "per_model",
    "hyperparameter",
    "check_grads",
]

S = TypeVar("S")
T = TypeVar("T")

Hyper: TypeAlias = float | Array
"""A hyperparameter: a Python float, or an array with one value per stacked model (its shape the
leading model axes of every leaf)."""

HyperArg: TypeAlias = Hyper | np.floating[Any] | np.integer[Any]
"""A hyperparameter as a user passes it: also a numpy scalar (``np.float32(0.1)``)."""


@attrs.frozen
class Optimizer(Generic[S]):
    """An optimizer as a value: ``Optimizer(init, update, per_leaf=False)``.

    ``init(params) -> S``; ``update(grads, state: S, params) -> (updates, state: S)``.

    ``per_leaf=True`` promises that ``update`` applies one per-array rule to every leaf alike
    (its only reductions run over all leaves of a model), so it gives the same numbers on the
    leaves concatenated into one array; fnnet's kernels may then run it on one flat buffer.
    fnnet's transforms and chains of them set it; a user's optimizer is ``False`` unless they say
    so.

    >>> sgd = Optimizer(lambda params: None, lambda g, s, p: (tree.tree_scale(g, -0.1), s))
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> updates, state = sgd.update({"w": np.array([1.0, -1.0])}, sgd.init(params), params)
    >>> apply_updates(params, updates)
    {'w': array([0.9, 2.1])}
    """

    init: Callable[[PyTree], S]
    update: Callable[[PyTree, S, PyTree], tuple[PyTree, S]]
    per_leaf: bool = attrs.field(default=False, kw_only=True)


def apply_updates(params: T, updates: T) -> T:
    """``params + updates`` leafwise, keeping each param's dtype.

    >>> p = {"w": np.ones(2, np.float32)}
    >>> apply_updates(p, {"w": np.array([0.5, -0.5])})  # a float32 param stays float32
    {'w': array([1.5, 0.5], dtype=float32)}
    """
    try:
        return tree.map(_add_update, params, updates)
    except tree.TreeMismatchError as e:
        e.args = (
            "fnnet.optim.apply_updates: argument 'updates' must have the tree structure of "
            f"'params' (pass the updates the optimizer made for these params): {e}",
        )
        raise
    except (TypeError, AttributeError) as e:
        raise TypeError(
            "fnnet.optim.apply_updates: arguments 'params' and 'updates' must be trees of the same "
            f"structure with numpy arrays as leaves (floating params): {e}"
        ) from None


def _add_update(p: Any, u: Any) -> Any:
    """One param plus its update in the param's dtype; any other leaf goes to the checks."""
    if type(p) is np.ndarray and type(u) is np.ndarray and p.shape == u.shape:
        return np.add(p, u, dtype=p.dtype)
    return _add_checked(p, u)


def _add_checked(p: Any, u: Any) -> Any:
    """:func:`_add_update` for leaves off the fast path: a floating param and an update of its
    shape (a number or a 0-d update is fine), else an error naming the argument."""
    p = require_float("fnnet.optim.apply_updates", "params", p)
    if np.shape(u) not in (p.shape, ()):
        raise ValueError(
            f"fnnet.optim.apply_updates: argument 'updates' has a leaf of shape {np.shape(u)} "
            f"where 'params' has {p.shape}; pass the updates the optimizer made for these params"
        )
    return np.add(p, u, dtype=p.dtype)


def per_model(h: Hyper, leaf: Array) -> Any:
    """A hyperparameter shaped to broadcast against ``leaf``.

    A float is returned as is (Python floats keep float32 arrays float32). An array of shape
    ``M`` (the model axes) becomes ``M + (1,) * (leaf.ndim - len(M))`` in the leaf's dtype.

    >>> per_model(0.1, np.zeros((3, 2)))
    0.1
    >>> per_model(np.array([0.1, 0.01]), np.zeros((2, 4, 3))).shape  # 2 stacked models
    (2, 1, 1)
    """
    if isinstance(h, float | int):
        return h
    if type(h) is not np.ndarray or type(leaf) is not np.ndarray:  # numpy scalars are fine
        if not isinstance(h, np.generic):
            require_real("fnnet.optim.per_model", "h", h)
        require_array("fnnet.optim.per_model", "leaf", leaf)
    if h.ndim > leaf.ndim or leaf.shape[: h.ndim] != h.shape:
        raise ValueError(
            f"fnnet.optim: a per-model hyperparameter of shape {h.shape} must match the leading "
            f"(model) axes of every leaf, got a leaf of shape {leaf.shape}"
        )
    return h.reshape(h.shape + (1,) * (leaf.ndim - h.ndim)).astype(leaf.dtype, copy=False)


def lift(
    rule: Callable[..., tuple[Any, ...]],
    grads: PyTree,
    buffers: Sequence[PyTree] = (),
    *,
    inputs: Sequence[PyTree] = (),
    hypers: Sequence[Hyper] = (),
    count: int | None = None,
    params: PyTree | None = None,
    name: str = "lift",
) -> tuple[Any, ...]:
    """Run a per-array ``rule`` on every leaf: ``(updates, *new_buffers)``, each a tree like grads.

    ``rule(g, *bufs, *ins, *hs) -> (u, *new_bufs)`` sees one leaf of ``grads``, the matching
    leaves of each state ``buffers`` tree and each read-only ``inputs`` tree (the params), and
    each hyperparameter shaped for that leaf by :func:`per_model`. On the ``count``-th step, when
    ``count`` is a multiple of :data:`~fnnet.optim.numerics.FLUSH_EVERY`, the new buffers' subnormal
    entries are set to zero (:func:`~fnnet.optim.numerics.flush_subnormals`). One bare array is a
    tree of one leaf: the rule runs on it directly. Given ``params``, the grads are first checked
    against them by :func:`check_grads` (``name``: the optimizer, for its messages).

    >>> def momentum(g, m, beta):  # the rule: m ← β·m + g; u = m
    ...     m = beta * m + g
    ...     return m, m
    >>> grads = {"w": np.ones(2), "b": np.ones(1)}
    >>> lift(momentum, grads, [{"w": np.ones(2), "b": np.zeros(1)}], hypers=[0.5])[1]
    {'b': array([1.]), 'w': array([1.5, 1.5])}
    >>> m = np.ones((2, 3))  # one array: 2 stacked models of 3 params, one β per model
    >>> lift(momentum, np.ones((2, 3)), [m], hypers=[np.array([0.5, 0.0])])[0]
    array([[1.5, 1.5, 1.5],
           [1. , 1. , 1. ]])
    """
    if not callable(rule):
        raise TypeError(f"fnnet.optim.lift: argument 'rule' must be a function, got {_got(rule)}")
    if params is not None:
        check_grads(name, grads, params)
    flush = count is not None and count % numerics.FLUSH_EVERY == 0
    if type(grads) is np.ndarray:  # one array (a flat buffer): the rule itself, no tree walk
        for other in (*buffers, *inputs):
            if type(other) is not np.ndarray or other.shape != grads.shape:
                raise _mismatch(name, rule, grads, other)
        shaped = [h if type(h) is float else per_model(h, grads) for h in hypers]
        out = rule(grads, *buffers, *inputs, *shaped)
        return (out[0], *map(numerics.flush_subnormals, out[1:])) if flush else out
    g, treedef = tree.flatten(grads)
    columns = [_leaves_like(name, rule, other, g, grads) for other in (*buffers, *inputs)]
    numbers = all(isinstance(h, float | int) for h in hypers)  # the same for every leaf
    results = []
    for x, *others in zip(g, *columns, strict=True):
        hs: Sequence[Any] = (
            hypers if numbers else [h if type(h) is float else per_model(h, x) for h in hypers]
        )
        out = rule(x, *others, *hs)
        results.append((out[0], *map(numerics.flush_subnormals, out[1:])) if flush else out)
    if not results:  # no leaves: nothing changes
        return (grads, *buffers)
    return tuple(tree.unflatten(treedef, list(column)) for column in zip(*results, strict=True))


def check_grads(fn: str, grads: PyTree, params: PyTree) -> None:
    """Raise unless ``grads`` has the structure of ``params`` and every grad leaf is a floating
    numpy array of its param's shape and dtype (a ``TreeMismatchError``, ``TypeError`` or
    ``ValueError`` naming ``fn``, 'grads' and the leaf). Costs a few attribute compares per leaf.

    >>> check_grads("sgd", {"w": np.zeros(2)}, {"w": np.ones(2)})
    >>> check_grads("sgd", {"w": np.zeros(2, np.float32)}, {"w": np.ones(2)})
    Traceback (most recent call last):
    ...
    TypeError: sgd.update: argument 'grads' at ['w'] has dtype float32 but its param has float64; \
pass the gradient of the loss with respect to these params (same dtype)
    """
    if type(grads) is np.ndarray and type(params) is np.ndarray:  # one array: the fast path
        if grads.shape == params.shape and grads.dtype == params.dtype and grads.dtype.kind == "f":
            return
        _check_leaf(fn, "<root>", grads, params)
    g, g_def = tree.flatten(grads)
    p, p_def = tree.flatten(params)
    if g_def != p_def:
        raise tree.TreeMismatchError(
            f"{fn}.update: argument 'grads' has the structure {g_def!r} but 'params' has "
            f"{p_def!r}; pass the gradient of the loss with respect to these params (same tree)"
        )
    for i, (x, q) in enumerate(zip(g, p, strict=True)):
        if not (
            type(x) is np.ndarray
            and type(q) is np.ndarray
            and x.shape == q.shape
            and x.dtype == q.dtype
            and x.dtype.kind == "f"
        ):
            _check_leaf(fn, tree.paths(params)[i], x, q)


def _check_leaf(fn: str, where: str, x: object, q: object) -> None:
    """Raise the error that says why grad leaf ``x`` does not fit param leaf ``q`` (if any)."""
    what = f"{fn}.update: argument 'grads' at {where}"
    hint = "pass the gradient of the loss with respect to these params"
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(x).__name__}; {hint}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"{what} must be a floating array, got dtype {x.dtype}; {hint} (a float array)"
        )
    if not isinstance(q, np.ndarray) or q.dtype.kind != "f":
        raise TypeError(
            f"{fn}.update: argument 'params' at {where} must be a floating numpy array, got "
            f"{type(q).__name__} {getattr(q, 'dtype', '')}".rstrip()
        )
    if x.shape != q.shape:
        raise ValueError(f"{what} has shape {x.shape} but its param has {q.shape}; {hint}")
    if x.dtype != q.dtype:
        raise TypeError(
            f"{what} has dtype {x.dtype} but its param has {q.dtype}; {hint} (same dtype)"
        )


def _leaves_like(
    name: str, rule: Callable[..., Any], other: PyTree, g: list[Any], grads: PyTree
) -> list[Any]:
    """The leaves of ``other``, checked to have the count and shapes of the gradient leaves."""
    xs = tree.leaves(other)
    if len(xs) != len(g):
        raise _mismatch(name, rule, grads, other)
    for x, y in zip(xs, g, strict=True):
        if getattr(x, "shape", None) != getattr(y, "shape", ()):
            raise _mismatch(name, rule, grads, other)
    return xs


def _mismatch(
    name: str, rule: Callable[..., Any], grads: PyTree, other: PyTree
) -> tree.TreeMismatchError:
    shapes = [np.shape(x) for x in tree.leaves(other)]
    error = tree.TreeMismatchError(
        f"fnnet.optim.lift({getattr(rule, '__name__', 'rule')}): an optimizer state buffer or the "
        f"params do not match the grads: grads {tree.structure(grads)!r} with shapes "
        f"{[np.shape(x) for x in tree.leaves(grads)]}, got {tree.structure(other)!r} with shapes "
        f"{shapes} (is the state from this optimizer's init, for these params?)"
    )
    if name != "lift":  # the message starts with the optimizer's name
        error.args = (f"{name}.update: {error.what}",)
    return error


def _range_text(low: float, high: float, open_low: bool, open_high: bool) -> str:
    if high == math.inf:
        return f"{'>' if open_low else '>='} {low:g}" if low > -math.inf else "finite"
    return f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


def hyperparameter(
    fn: str,
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Hyper:
    """``value`` checked as a hyperparameter in ``[low, high]`` (ends excluded when ``open_*``).

    A real number (not a bool) becomes a Python float (which keeps float32 arrays float32); an
    array of real numbers (one per stacked model) becomes a read-only float array. NaN, infinity,
    values out of range, bools, empty arrays and other types raise ``ValueError``/``TypeError``
    naming ``fn`` and ``name``.

    >>> hyperparameter("adam", "b1", 0.9, 0.0, 1.0, open_high=True)
    0.9
    >>> hyperparameter("adam", "b1", 1.0, 0.0, 1.0, open_high=True)
    Traceback (most recent call last):
    ...
    ValueError: adam: argument 'b1' must be in [0, 1), got 1.0
    """
    if isinstance(value, float | int) and not isinstance(value, bool):
        h: Hyper = float(value)
    elif isinstance(value, np.ndarray | np.generic) and value.dtype.kind in ("f", "i", "u"):
        h = float(value) if value.ndim == 0 else np.array(value, dtype=np.float64)
        if isinstance(h, np.ndarray):
            h.flags.writeable = False
    else:
        raise TypeError(
            f"{fn}: argument {name!r} must be a real number, or a numpy array with one per "
            f"stacked model, got {type(value).__name__} {value!r}"
        )
    if isinstance(h, np.ndarray) and h.size == 0:
        raise ValueError(f"{fn}: argument {name!r} is an empty array (no models)")
    values = np.asarray(h)
    bad = ~np.isfinite(values) | (values <= low if open_low else values < low)
    bad |= values >= high if open_high else values > high
    if np.any(bad):
        raise ValueError(
            f"{fn}: argument {name!r} must be {_range_text(low, high, open_low, open_high)}, "
            f"got {value!r}"
        )
    return h


def check_per_model(fn: str, hypers: Mapping[str, Hyper], params: PyTree) -> None:
    """Raise ``ValueError`` unless every per-model hyperparameter fits every leaf of ``params``.

    >>> check_per_model("sgd", {"lr": np.array([0.1, 0.2])}, np.zeros((2, 5)))
    >>> check_per_model("sgd", {"lr": np.array([0.1, 0.2])}, np.zeros((3, 5)))
    Traceback (most recent call last):
    ...
    ValueError: fnnet.optim.sgd: the per-model hyperparameter 'lr' of shape (2,) must match the \
leading (model) axes of every leaf of params, got a leaf of shape (3, 5)
    """
    for name, h in hypers.items():
        if isinstance(h, np.ndarray):
            for leaf in tree.leaves(params):
                shape = np.shape(leaf)
                if len(shape) < h.ndim or shape[: h.ndim] != h.shape:
                    raise ValueError(
                        f"fnnet.optim.{fn}: the per-model hyperparameter {name!r} of shape "
                        f"{h.shape} must "
                        f"match the leading (model) axes of every leaf of params, got a leaf of "
                        f"shape {shape}"
                    )


def check_state(fn: str, state: object, cls: type[S]) -> S:
    """``state`` if it is a ``cls``, else a ``TypeError`` naming ``fn`` (a state from another
    optimizer).

    >>> check_state("trace", 0, float)
    Traceback (most recent call last):
    ...
    TypeError: trace: the state must be the float made by this optimizer's init, got int
    """
    if not isinstance(state, cls):
        raise TypeError(
            f"{fn}: the state must be the {cls.__name__} made by this optimizer's init, got "
            f"{type(state).__name__}"
        )
    return state
