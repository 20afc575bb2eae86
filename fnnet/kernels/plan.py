"""Which kernels a training run uses: a :class:`Plan` for ``fit`` and ``make_step``.

A plan says how one training step computes, and on which layout the run keeps its params and
optimizer state:

- the **reference** plan runs the model's own ``forward``/``backward`` on the params tree;
- ``fused mlp``: a model whose ``spec`` describes an mlp (dense layers and elementwise
  activations) runs :func:`fnnet.kernels.mlp.fused` on the same params tree;
- ``flat buffer``: when, in addition, the optimizer is ``per_leaf`` (one rule for every leaf, so
  it computes the same numbers on the leaves laid end to end), the run keeps params and the
  optimizer's per-param buffers as one vector per model (:func:`fnnet.kernels.mlp.flat`), and
  the optimizer's own ``update`` runs on that one vector.

``inner``/``outer`` convert params and optimizer state between the reference tree and the
plan's layout: what a user sees (``FitResult.params``, ``opt_state``, checkpoints) is always the
reference tree. A user's own layer or optimizer gets the reference plan, correctly.

>>> import numpy as np
>>> from fnnet import layers, optim
>>> net = layers.mlp([2, 3, 1], hidden=layers.tanh)
>>> _, p = net.init(0, (2,))
>>> choose(net, optim.adam(0.1), p, layout=True).kernels
('fused mlp', 'flat buffer')
>>> choose(net, optim.adam(0.1), p, layout=False).kernels  # the params tree kept
('fused mlp',)
>>> choose(layers.serial(layers.dense(3), layers.dropout(0.5)), optim.sgd(0.1), p, True).kernels
()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import Array
from fnnet.kernels import mlp as mlp_kernels
from fnnet.kernels.step import fused_step
from fnnet.layers.base import Layer
from fnnet.optim.base import Optimizer
from fnnet.random import Key
from fnnet.tree import PyTree

__all__ = ["Plan", "reference", "choose"]


def _same(x: Any) -> Any:
    return x


@attrs.frozen
class Plan:
    """How a step computes: ``forward``, ``forward_keyed`` (or None), ``grads`` (the params'
    gradient only), ``apply`` — all on the plan's layout — and the layout converters
    ``inner``/``outer`` (params) and ``inner_state``/``outer_state`` (optimizer state).
    ``kernels`` names the kernels in use (empty for the reference)."""

    kernels: tuple[str, ...]
    forward: Callable[[Any, Array], tuple[Array, Any]]
    forward_keyed: Callable[[Any, Array, Key], tuple[Array, Any]] | None
    grads: Callable[[Any, Any, Array], Any]
    apply: Callable[[Any, Array], Array]
    inner: Callable[[Any], Any] = _same
    outer: Callable[[Any], Any] = _same
    inner_state: Callable[[Any], Any] = _same
    outer_state: Callable[[Any], Any] = _same
    train_step: Callable[[Any, Optimizer[Any], dict[str, Any]], Any] | None = None
    """``train_step(loss, optimizer, metrics)``: a whole fused training step on the plan's
    layout (same contract as :func:`fnnet.train.make_step`'s step), or None where the plan
    has none for this loss; ``fit`` then composes ``forward``/``grads``/``optimizer.update``."""


def reference(model: Layer[Any, Any]) -> Plan:
    """The plain plan: the model's own functions on the params tree.

    >>> from fnnet import layers
    >>> reference(layers.dense(2)).kernels
    ()
    """
    backward = model.backward

    def grads(params: Any, res: Any, dy: Array) -> Any:
        return backward(params, res, dy)[0]

    return Plan((), model.forward, model.forward_keyed, grads, model.apply)


def choose(model: Layer[Any, Any], optimizer: Optimizer[Any], params: PyTree, layout: bool) -> Plan:
    """The fastest plan that computes what the reference computes for ``model``/``optimizer``.

    ``layout=False`` keeps the params tree as the run's layout (what ``make_step`` needs: its
    state is the user's); ``layout=True`` also allows the flat buffer.
    """
    fused = mlp_kernels.fused(model) if model.state is None else None
    if fused is None:
        return reference(model)
    if layout and optimizer.per_leaf:
        flat = _flat_plan(model, optimizer, params)
        if flat is not None:
            return flat
    return Plan(("fused mlp",), fused.forward, None, fused.grads, fused.apply)


def _flat_plan(model: Layer[Any, Any], optimizer: Optimizer[Any], params: PyTree) -> Plan | None:
    leaves = tree.leaves(params)
    if not leaves or not all(isinstance(a, np.ndarray) for a in leaves):
        return None
    first = leaves[0]
    flat = mlp_kernels.flat(model, (int(first.shape[-2]),))
    if flat is None:
        return None
    state = _StateLayout.build(optimizer, params, flat.ravel, flat.unravel)
    if state is None:
        return None
    return Plan(
        ("fused mlp", "flat buffer"),
        flat.forward,
        None,
        flat.grads,
        flat.apply,
        flat.ravel,
        flat.unravel,
        state.inner,
        state.outer,
        _train_step(flat),
    )


def _train_step(flat: mlp_kernels.FlatMlp) -> Callable[[Any, Optimizer[Any], dict[str, Any]], Any]:
    """The plan's ``train_step`` on the flat buffer (one model or a stack):
    :func:`fnnet.kernels.step.fused_step` where the loss has a kernel."""

    def train_step(loss: Any, optimizer: Optimizer[Any], metrics: dict[str, Any]) -> Any:
        return fused_step(flat, loss, optimizer.update, metrics)

    return train_step


@attrs.frozen
class _StateLayout:
    """Converts an optimizer state between the params tree and the flat buffer.

    Built from the two states ``optimizer.init`` makes for the tree and for the vector: their
    leaves line up except where the tree state holds a params-shaped subtree (a moment buffer)
    and the flat state one vector. ``groups[i]`` is the slice of tree-state leaves that flat
    leaf ``i`` stands for; a slice of more than one leaf (or of one params-shaped leaf) is a
    buffer to ravel/unravel. Built only when the conversion reproduces the flat state's
    structure and shapes exactly; otherwise there is no flat plan (never a guess).
    """

    tree_def: tree.TreeDef
    flat_def: tree.TreeDef
    params_def: tree.TreeDef
    groups: tuple[tuple[int, int, bool], ...]
    ravel: Callable[[Any], Array]
    unravel: Callable[[Array], Any]

    @staticmethod
    def build(
        optimizer: Optimizer[Any],
        params: PyTree,
        ravel: Callable[[Any], Array],
        unravel: Callable[[Array], Any],
    ) -> _StateLayout | None:
        vector = ravel(params)
        t_state = optimizer.init(params)
        t_leaves, t_def = tree.flatten(t_state)
        f_leaves, f_def = tree.flatten(optimizer.init(vector))
        p_leaves, p_def = tree.flatten(params)
        shapes = [np.shape(p) for p in p_leaves]
        k = len(p_leaves)
        groups: list[tuple[int, int, bool]] = []
        i = 0
        for f in f_leaves:
            buffer = (
                np.shape(f) == vector.shape and [np.shape(t) for t in t_leaves[i : i + k]] == shapes
            )
            groups.append((i, i + k, True) if buffer else (i, i + 1, False))
            i += k if buffer else 1
        if i != len(t_leaves):
            return None
        layout = _StateLayout(t_def, f_def, p_def, tuple(groups), ravel, unravel)
        converted = tree.leaves(layout.inner(t_state))
        if [np.shape(a) for a in converted] != [np.shape(f) for f in f_leaves]:
            return None
        return layout

    def inner(self, state: Any) -> Any:
        leaves, treedef = tree.flatten(state)
        if treedef != self.tree_def:
            raise tree.TreeMismatchError(
                f"the optimizer state has structure {treedef!r}, but this optimizer makes "
                f"{self.tree_def!r}: it was made by another optimizer or for other params"
            )
        out = []
        for start, stop, buffer in self.groups:
            part = leaves[start:stop]
            out.append(self.ravel(tree.unflatten(self.params_def, part)) if buffer else part[0])
        return tree.unflatten(self.flat_def, out)

    def outer(self, state: Any) -> Any:
        out: list[Any] = []
        for (_, _, buffer), leaf in zip(self.groups, tree.leaves(state), strict=True):
            out.extend(tree.leaves(self.unravel(leaf)) if buffer else [leaf])
        return tree.unflatten(self.tree_def, out)
