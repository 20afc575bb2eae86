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
from fnnet.arrays import Array
from fnnet.optim.base import LeafTransform, Optimizer, from_leaves
from fnnet.tree import PyTree

__all__ = ["chain", "masked", "MaskedState", "freeze"]


def chain(*optimizers: Optimizer[Any]) -> Optimizer[tuple[Any, ...]]:
    """Apply ``optimizers`` in order, each to the previous one's updates; state is the tuple of
    their states. When every part is one of fnnet's own leafwise transforms, the whole chain
    flattens the trees once per step.

    >>> import numpy as np
    >>> from fnnet import optim
    >>> opt = chain(optim.scale(2.0), optim.scale_by_learning_rate(0.1))  # u = -0.1 · (2 g)
    >>> p = [np.zeros(2)]
    >>> u, state = opt.update([np.array([1.0, -3.0])], opt.init(p), p)
    >>> u[0].tolist(), len(state)
    ([-0.2, 0.6], 2)
    """
    parts = tuple(optimizers)
    if all(o.leafwise is not None for o in parts):
        leafwise = [o.leafwise for o in parts if o.leafwise is not None]
        if len(leafwise) == 1:  # no loop for a chain of one (sgd)
            only = leafwise[0]

            def init_one(params: PyTree) -> tuple[Any, ...]:
                return (only.init(params),)

            def update_one(
                g: list[Array], state: tuple[Any, ...], p: list[Array]
            ) -> tuple[list[Array], tuple[Any, ...]]:
                g, s = only.update(g, state[0], p)
                return g, (s,)

            return from_leaves(LeafTransform(init_one, update_one, fresh=only.fresh))
        if len(leafwise) == 2:  # the common transform + learning rate pair (adam, momentum)
            first, second = leafwise

            def init_two(params: PyTree) -> tuple[Any, ...]:
                return (first.init(params), second.init(params))

            def update_two(
                g: list[Array], state: tuple[Any, ...], p: list[Array]
            ) -> tuple[list[Array], tuple[Any, ...]]:
                s1, s2 = state
                g, s1 = first.update(g, s1, p)
                g, s2 = second.update(g, s2, p)
                return g, (s1, s2)

            return from_leaves(LeafTransform(init_two, update_two, fresh=second.fresh))

        def init_leaves(params: PyTree) -> tuple[Any, ...]:
            return tuple(t.init(params) for t in leafwise)

        def update_leaves(
            g: list[Array], state: tuple[Any, ...], p: list[Array]
        ) -> tuple[list[Array], tuple[Any, ...]]:
            new_states = []
            for t, s in zip(leafwise, state, strict=True):
                g, s = t.update(g, s, p)
                new_states.append(s)
            return g, tuple(new_states)

        return from_leaves(
            LeafTransform(init_leaves, update_leaves, fresh=bool(leafwise) and leafwise[-1].fresh)
        )

    def init(params: PyTree) -> tuple[Any, ...]:
        return tuple(o.init(params) for o in parts)

    def update(
        grads: PyTree, state: tuple[Any, ...], params: PyTree
    ) -> tuple[PyTree, tuple[Any, ...]]:
        new_states = []
        for o, s in zip(parts, state, strict=True):
            grads, s = o.update(grads, s, params)
            new_states.append(s)
        return grads, tuple(new_states)

    return Optimizer(init, update)


@tree.pytree
@attrs.frozen
class MaskedState:
    """``inner``: the wrapped optimizer's state; ``mask``: one bool per leaf (flatten order).

    >>> import numpy as np
    >>> from fnnet import optim
    >>> params = {"b": np.zeros(1), "w": np.zeros(2)}
    >>> masked(optim.sgd(0.1), {"b": False, "w": True}).init(params).mask  # one flag per leaf
    (False, True)
    """

    inner: Any
    mask: tuple[bool, ...]


def _mask_leaves(mask: PyTree | Callable[[PyTree], PyTree], params: PyTree) -> tuple[bool, ...]:
    tree_mask = mask(params) if callable(mask) else mask
    return tuple(bool(m) for m in tree.prefix_leaves(tree_mask, params))


def masked(
    inner: Optimizer[Any], mask: PyTree | Callable[[PyTree], PyTree]
) -> Optimizer[MaskedState]:
    """Apply ``inner`` to the leaves where ``mask`` is true; pass the others through unchanged.

    ``mask`` is a tree of bools with the params' structure, or a prefix of it (a bool standing
    for a whole subtree, as in optax), or a function ``params -> mask``.
    Typical uses: weight decay on weights only, a per-group learning rate, freezing a layer.

    >>> import numpy as np
    >>> from fnnet import optim
    >>> params = {"b": np.zeros(1), "w": np.ones(2)}
    >>> decay_w = masked(optim.add_decayed_weights(0.5), {"b": False, "w": True})
    >>> u, _ = decay_w.update({"b": np.ones(1), "w": np.ones(2)}, decay_w.init(params), params)
    >>> u  # g + λ p on "w" only
    {'b': array([1.]), 'w': array([1.5, 1.5])}
    """
    if inner.leafwise is None:
        raise TypeError("masked: argument 'inner' must be built from fnnet.optim transforms")
    leafwise = inner.leafwise

    def init(params: PyTree) -> MaskedState:
        flags = _mask_leaves(mask, params)
        selected = [p for p, f in zip(tree.leaves(params), flags, strict=True) if f]
        return MaskedState(leafwise.init(selected), flags)

    def update(
        g: list[Array], state: MaskedState, p: list[Array]
    ) -> tuple[list[Array], MaskedState]:
        idx = [i for i, f in enumerate(state.mask) if f]
        updates, inner_state = leafwise.update(
            [g[i] for i in idx], state.inner, [p[i] for i in idx]
        )
        out = list(g)
        for i, u in zip(idx, updates, strict=True):
            out[i] = u
        return out, MaskedState(inner_state, state.mask)

    return from_leaves(LeafTransform(init, update))


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
