"""Combinators: ``chain`` runs optimizers in sequence, ``masked`` applies one to part of a tree.

>>> import numpy as np
>>> from fnnet import optim
>>> opt = optim.chain(optim.clip(1.0), optim.scale_by_learning_rate(0.1))
>>> state = opt.init([np.zeros(2)])
>>> updates, state = opt.update([np.array([5.0, -0.5])], state, [np.zeros(2)])
>>> updates[0].tolist()
[-0.1, 0.05]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from fnnet import tree
from fnnet.optim.base import Optimizer
from fnnet.tree import PyTree

__all__ = ["chain", "masked", "MaskedState", "freeze"]


def chain(*optimizers: Optimizer[Any]) -> Optimizer[tuple[Any, ...]]:
    """Apply ``optimizers`` in order, each to the previous one's updates; the state is the tuple
    of their states. ``per_leaf`` when every part is.

    >>> import numpy as np
    >>> from fnnet import optim
    >>> opt = chain(optim.scale(2.0), optim.scale_by_learning_rate(0.1))  # u = -0.1 · (2 g)
    >>> p = np.zeros(2)
    >>> u, state = opt.update(np.array([1.0, -3.0]), opt.init(p), p)
    >>> u.tolist(), len(state)
    ([-0.2, 0.6], 2)
    """
    parts = tuple(optimizers)
    if not parts:
        raise ValueError("chain: needs at least one optimizer (an empty chain would not train)")
    for i, o in enumerate(parts):
        if not isinstance(o, Optimizer):
            raise TypeError(
                f"chain: argument {i} must be an fnnet.optim.Optimizer, got {type(o).__name__}"
            )

    updates = [o.update for o in parts]

    def init(params: PyTree) -> tuple[Any, ...]:
        return tuple(o.init(params) for o in parts)

    def update(
        grads: PyTree, state: tuple[Any, ...], params: PyTree
    ) -> tuple[PyTree, tuple[Any, ...]]:
        if type(state) is not tuple or len(state) != len(parts):
            raise TypeError(
                f"chain: the state must be the tuple of {len(parts)} states made by this chain's "
                f"init, got {type(state).__name__}"
                + (f" of {len(state)}" if isinstance(state, tuple) else "")
            )
        new_states = []
        for part_update, s in zip(updates, state, strict=True):
            grads, s = part_update(grads, s, params)
            new_states.append(s)
        return grads, tuple(new_states)

    return Optimizer(init, update, per_leaf=all(o.per_leaf for o in parts))


@tree.pytree
@attrs.frozen
class MaskedState:
    """``inner``: the wrapped optimizer's state, for the params with the unselected leaves
    replaced by ``None``; ``mask``: one bool per leaf of params (flatten order).

    >>> import numpy as np
    >>> from fnnet import optim
    >>> params = {"b": np.zeros(1), "w": np.zeros(2)}
    >>> s = masked(optim.momentum(0.1), {"b": False, "w": True}).init(params)
    >>> s.mask, s.inner[0].trace  # momentum buffers for "w" only
    ((False, True), {'b': None, 'w': array([0., 0.])})
    """

    inner: Any
    mask: tuple[bool, ...]


def _mask_leaves(mask: PyTree | Callable[[PyTree], PyTree], params: PyTree) -> tuple[bool, ...]:
    tree_mask = mask(params) if callable(mask) else mask
    return tuple(bool(m) for m in tree.prefix_leaves(tree_mask, params))


def _select(t: PyTree, flags: tuple[bool, ...]) -> PyTree:
    """``t`` with its unselected leaves replaced by ``None`` (an empty subtree)."""
    xs, treedef = tree.flatten(t)
    if len(xs) != len(flags):
        raise tree.TreeMismatchError(
            f"masked: the tree has {len(xs)} leaves but the mask made at init has {len(flags)}"
        )
    return tree.unflatten(treedef, [x if f else None for x, f in zip(xs, flags, strict=True)])


def masked(
    inner: Optimizer[Any], mask: PyTree | Callable[[PyTree], PyTree]
) -> Optimizer[MaskedState]:
    """Apply ``inner`` to the leaves where ``mask`` is true; pass the others through unchanged.

    ``mask`` is a tree of bools with the params' structure, or a prefix of it (a bool standing
    for a whole subtree, as in optax), or a function ``params -> mask``. ``inner`` sees the
    params and gradients with the unselected leaves replaced by ``None``.
    Typical uses: weight decay on weights only, a per-group learning rate, freezing a layer.

    >>> import numpy as np
    >>> from fnnet import optim
    >>> params = {"b": np.zeros(1), "w": np.ones(2)}
    >>> decay_w = masked(optim.add_decayed_weights(0.5), {"b": False, "w": True})
    >>> u, _ = decay_w.update({"b": np.ones(1), "w": np.ones(2)}, decay_w.init(params), params)
    >>> u  # g + λ p on "w" only
    {'b': array([1.]), 'w': array([1.5, 1.5])}
    """
    if not isinstance(inner, Optimizer):
        raise TypeError(
            f"masked: argument 'inner' must be an Optimizer, got {type(inner).__name__}"
        )

    def init(params: PyTree) -> MaskedState:
        flags = _mask_leaves(mask, params)
        return MaskedState(inner.init(_select(params, flags)), flags)

    def update(grads: PyTree, state: MaskedState, params: PyTree) -> tuple[PyTree, MaskedState]:
        if not isinstance(state, MaskedState):
            raise TypeError(f"masked: the state must be a MaskedState, got {type(state).__name__}")
        flags = state.mask
        g, treedef = tree.flatten(grads)
        u_inner, inner_state = inner.update(
            _select(grads, flags), state.inner, _select(params, flags)
        )
        selected = tree.leaves(u_inner)
        if len(selected) != sum(flags):
            raise tree.TreeMismatchError(
                f"masked: the inner optimizer returned {len(selected)} updates for the "
                f"{sum(flags)} selected leaves"
            )
        it = iter(selected)
        out = [next(it) if f else x for x, f in zip(g, flags, strict=True)]
        return tree.unflatten(treedef, out), MaskedState(inner_state, flags)

    return Optimizer(init, update)


def freeze(mask: PyTree | Callable[[PyTree], PyTree]) -> Optimizer[MaskedState]:
    """Zero the updates of the leaves where ``mask`` is true (chain it after the optimizer).

    >>> import numpy as np
    >>> from fnnet import optim
    >>> params = (np.ones(2), np.ones(1))  # (layer 1, layer 2)
    >>> opt = chain(optim.sgd(0.1), freeze((True, False)))  # freeze layer 1
    >>> u, _ = opt.update((np.ones(2), np.ones(1)), opt.init(params), params)
    >>> u
    (array([0., 0.]), array([-0.1]))
    """
    from fnnet.optim.transforms import set_to_zero

    return masked(set_to_zero(), mask)
