"""The ``Optimizer`` type: an ``(init, update)`` pair of pure functions, and ``apply_updates``.

``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)``; the new
params are ``apply_updates(params, updates)`` (``params + updates``, leafwise). A user's own
optimizer is any two functions of these types, passed positionally: ``Optimizer(init, update)``.

fnnet's own transforms are written on the flat list of leaves (:class:`LeafTransform`), so a
``chain`` of them flattens the gradient tree once per step, not once per transform; the
``Optimizer`` built from one carries it in ``leafwise`` for the training loop's fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeAlias, TypeVar

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array
from fnnet.tree import PyTree

__all__ = [
    "Optimizer",
    "LeafTransform",
    "Hyper",
    "apply_updates",
    "from_leaves",
    "per_model",
]

S = TypeVar("S")
T = TypeVar("T")

Hyper: TypeAlias = float | Array
"""A hyperparameter: a Python float, or an array with one value per stacked model (its shape the
leading model axes of every leaf)."""


@attrs.frozen
class LeafTransform(Generic[S]):
    """A gradient transform on the flat list of leaves.

    ``init(params) -> state`` sees the params tree; ``update(grads, state, params)`` sees lists of
    leaves in :func:`fnnet.tree.leaves` order and returns the list of updates and the new state.

    >>> halve = LeafTransform(
    ...     init=lambda params: None,
    ...     update=lambda grads, state, params: ([-0.5 * g for g in grads], state),
    ... )
    >>> opt = from_leaves(halve)
    >>> u, _ = opt.update({"w": np.array([2.0])}, opt.init(None), {"w": np.array([1.0])})
    >>> u
    {'w': array([-1.])}
    """

    init: Callable[[PyTree], S]
    update: Callable[[list[Array], S, list[Array]], tuple[list[Array], S]]
    fresh: bool = attrs.field(default=False, kw_only=True)
    """``update`` returns arrays it has just allocated, referenced by nothing else (not its
    state, not its inputs): the training step may add the params into them in place."""


@attrs.frozen
class Optimizer(Generic[S]):
    """An optimizer as a value: ``Optimizer(init, update)``.

    ``init(params) -> S``; ``update(grads, state: S, params) -> (updates, state: S)``.

    >>> sgd = Optimizer(lambda params: None, lambda g, s, p: (tree.tree_scale(g, -0.1), s))
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> updates, state = sgd.update({"w": np.array([1.0, -1.0])}, sgd.init(params), params)
    >>> apply_updates(params, updates)
    {'w': array([0.9, 2.1])}
    """

    init: Callable[[PyTree], S]
    update: Callable[[PyTree, S, PyTree], tuple[PyTree, S]]
    leafwise: LeafTransform[S] | None = attrs.field(default=None, kw_only=True, repr=False)


def from_leaves(transform: LeafTransform[S]) -> Optimizer[S]:
    """Wrap a :class:`LeafTransform` as an ``Optimizer`` (flatten once, unflatten once).

    >>> t = LeafTransform(lambda p: 0, lambda g, s, p: ([x * 2 for x in g], s + 1))
    >>> opt = from_leaves(t)  # the grads tree is flattened once and rebuilt once per update
    >>> opt.update((np.ones(2), {"b": np.ones(1)}), opt.init(None), (np.ones(2), {"b": np.ones(1)}))
    ((array([2., 2.]), {'b': array([2.])}), 1)
    >>> opt.leafwise is t
    True
    """

    def update(grads: PyTree, state: S, params: PyTree) -> tuple[PyTree, S]:
        g, treedef = tree.flatten(grads)
        p = tree.leaves(params)
        if len(p) != len(g):
            raise tree.TreeMismatchError(
                f"grads have {len(g)} leaves but params have {len(p)} "
                f"(grads {treedef!r}, params {tree.structure(params)!r})"
            )
        updates, state = transform.update(g, state, p)
        return tree.unflatten(treedef, updates), state

    return Optimizer(transform.init, update, leafwise=transform)


def apply_updates(params: T, updates: T) -> T:
    """``params + updates`` leafwise, keeping each param's dtype.

    >>> p = {"w": np.ones(2, np.float32)}
    >>> apply_updates(p, {"w": np.array([0.5, -0.5])})  # a float32 param stays float32
    {'w': array([1.5, 0.5], dtype=float32)}
    """
    return tree.tree_map(lambda p, u: np.add(p, u, dtype=p.dtype), params, updates)


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
    if h.ndim > leaf.ndim or leaf.shape[: h.ndim] != h.shape:
        raise ValueError(
            f"fnnet.optim: a per-model hyperparameter of shape {h.shape} must match the leading "
            f"axes of every leaf, got a leaf of shape {leaf.shape}"
        )
    return h.reshape(h.shape + (1,) * (leaf.ndim - h.ndim)).astype(leaf.dtype, copy=False)
