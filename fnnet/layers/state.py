"""State that is not a parameter (batch norm's running statistics): explicit, immutable, threaded.

A few layers keep statistics between steps. fnnet never hides them in a mutable object and never
treats them as something to differentiate: the state is an ordinary pytree *value*, like the
params, that a training fold passes in and gets back, step after step (Haiku's
``transform_with_state``; equinox's ``State``).

**The record.** A stateful layer is an ordinary :class:`~fnnet.layers.Layer` whose optional
``state`` field holds a :class:`Stateful` record of four pure functions; every other layer has
``state=None`` and pays nothing (no argument, no branch, no allocation on its path)::

    init(key, input_shape)          -> T            # the starting state (running mean 0, var 1)
    forward(params, T, x, key|None) -> (y, R, T)    # training: y and residuals R exactly as the
                                                    #   layer's forward; the updated state
    apply(params, T, x)             -> y            # evaluation with the state
    frozen(T)                       -> Layer[P, Any]  # evaluation mode as an ordinary layer
                                                    #   (with its own backward: fine-tuning,
                                                    #   gradient checks)

The training residuals are the layer's own ``R``, so ``layer.backward`` is unchanged: the state
never enters the gradient. ``layer.forward(params, x)`` is the training-mode function of ``(params,
x)`` alone (batch statistics, no state update); a stateful layer's plain ``apply`` refuses to run,
because evaluation needs the state — nothing can silently normalise a test batch by its own
statistics.

**Composition.** Combinators compose the records the way they compose params: ``serial`` has the
state ``(t1, t2, ...)`` with ``None`` for stateless children (:func:`compose`), ``parallel`` a tuple
of its branches' states, ``residual`` its inner layer's (and its projection's). A stack of models
keeps per-model statistics: the state's leaves carry the params' model axes
(:func:`init_stack`).

**What a training loop does.** ``_, params, st = init(model, key, input_shape)``; per step
``pred, res, st = forward(model, params, st, x, key)`` then ``model.backward(params, res, dpred)``
as usual; evaluation with ``apply(model, params, st, x)``; return and checkpoint ``st`` beside the
params (it is a pytree: :func:`fnnet.io.save` writes it).

>>> import numpy as np
>>> from fnnet import layers
>>> from fnnet.layers.normalization import batch_norm
>>> net = batch_norm()
>>> _, params, st = init(net, 0, (2,))
>>> x = np.array([[4.0, 1.0], [6.0, 3.0]])
>>> y, res, st = forward(net, params, st, x)         # training: batch statistics
>>> y
array([[-1., -1.],
       [ 1.,  1.]])
>>> st.mean                                           # 0.9·0 + 0.1·(5, 2): the running mean moved
array([0.5, 0.2])
>>> apply(net, params, st, x).shape                   # evaluation: the running statistics
(2, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from fnnet import tree
from fnnet.arrays import Array, Shape
from fnnet.layers.base import Layer, check_stack_args, require_layer
from fnnet.random import Key, fold_in

__all__ = [
    "Stateful",
    "of",
    "attach",
    "compose",
    "init",
    "init_stack",
    "forward",
    "apply",
    "freeze",
    "needs_state",
]

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")


@attrs.frozen
class Stateful(Generic[P, R, T]):
    """The state functions of a stateful layer (see the module docstring).

    ``init(key, input_shape) -> T``; ``forward(params, state, x, key) -> (y, residuals, state)``
    (``key`` is ``None`` unless the training step draws random numbers); ``apply(params, state,
    x) -> y``; ``frozen(state)``: an ordinary layer computing ``apply(params, state, x)`` with a
    backward.

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> fns = of(batch_norm())
    >>> fns is not None and sorted(attrs.fields_dict(type(fns)))
    ['apply', 'forward', 'frozen', 'init']
    """

    init: Callable[[Key, Shape], T]
    forward: Callable[[P, T, Array, Key | None], tuple[Array, R, T]]
    apply: Callable[[P, T, Array], Array]
    frozen: Callable[[T], Layer[P, Any]]


def of(layer: Layer[P, R]) -> Stateful[P, R, Any] | None:
    """``layer``'s state functions, or ``None`` for a stateless layer.

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> of(layers.dense(3)) is None, of(batch_norm()) is None
    (True, False)
    """
    return require_layer("fnnet.layers.state.of", "layer", layer).state


def attach(layer: Layer[P, R], fns: Stateful[P, R, Any] | None) -> Layer[P, R]:
    """``layer`` with the state functions ``fns`` (``None``: returned unchanged).

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> bn = batch_norm()
    >>> of(attach(layers.serial(bn), compose([bn]))) is not None
    True
    """
    require_layer("fnnet.layers.state.attach", "layer", layer)
    if fns is None:
        return layer
    if not isinstance(fns, Stateful):
        raise TypeError(
            "fnnet.layers.state.attach: argument 'fns' must be a fnnet.layers.state.Stateful "
            f"(or None), got {type(fns).__name__}"
        )
    return attrs.evolve(layer, state=fns)


def needs_state(fn: str) -> TypeError:
    """The error a stateful layer's plain ``apply`` raises (evaluation needs the state).

    >>> print(needs_state("batch_norm"))  # doctest: +ELLIPSIS
    batch_norm: this layer has state ...
    """
    return TypeError(
        f"{fn}: this layer has state (running statistics), so evaluation needs it: call "
        "fnnet.layers.state.apply(model, params, state, x) or "
        "fnnet.layers.state.freeze(model, state).apply(params, x); "
        "forward(params, x) is the training-mode function (batch statistics)"
    )


def check_len(fn: str, arg: str, value: object, n: int) -> tuple[Any, ...]:
    if type(value) is not tuple or len(value) != n:
        got = f"{len(value)} entries" if isinstance(value, tuple) else type(value).__name__
        raise ValueError(f"{fn}: argument '{arg}' must be a tuple of {n} entries, got {got}")
    return value


def step(layer: Layer[Any, Any], p: Any, s: Any, x: Array, key: Key | None) -> tuple[Any, ...]:
    """One child's training forward ``(y, residuals, state)``, stateful or not: the helper
    every combinator uses. A stateless child's state stays ``None``; ``key`` goes to
    ``forward_keyed`` when the child has one."""
    fns = layer.state
    if fns is not None:
        return fns.forward(p, s, x, key)
    if key is not None and layer.forward_keyed is not None:
        y, r = layer.forward_keyed(p, x, key)
    else:
        y, r = layer.forward(p, x)
    return y, r, None


def evaluate(layer: Layer[Any, Any], p: Any, s: Any, x: Array) -> Array:
    """One child's evaluation output, stateful or not."""
    fns = layer.state
    return layer.apply(p, x) if fns is None else fns.apply(p, s, x)


def child_init(layer: Layer[Any, Any], key: Key, shape: Shape) -> tuple[Shape, Any]:
    """A child's output shape and starting state (``None`` when stateless)."""
    fns = layer.state
    out = layer.init(key, shape)[0]
    return out, None if fns is None else fns.init(key, shape)


def frozen_child(layer: Layer[Any, Any], s: Any) -> Layer[Any, Any]:
    """A child in evaluation mode: its ``frozen(state)``, or itself when stateless."""
    fns = layer.state
    return layer if fns is None else fns.frozen(s)


def compose(
    layers: Sequence[Layer[Any, Any]],
) -> Stateful[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]] | None:
    """The state functions of ``serial(*layers)``: state ``(t1, t2, ...)``, ``None`` for each
    stateless child; ``None`` altogether when no child has state (a stateless chain pays
    nothing). Child ``i`` gets the key ``fold_in(key, i)``, as in ``serial``.

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> compose([layers.dense(2), layers.relu]) is None
    True
    >>> fns = compose([layers.dense(2), batch_norm()])
    >>> fns.init(0, (3,))
    (None, BatchNormState(mean=array([0., 0.]), var=array([1., 1.])))
    """
    if not isinstance(layers, list | tuple):
        raise TypeError(
            "fnnet.layers.state.compose: argument 'layers' must be a list or tuple of Layers, "
            f"got {type(layers).__name__}"
        )
    for i, layer in enumerate(layers):
        require_layer("fnnet.layers.state.compose", f"layers[{i}]", layer)
    layers = tuple(layers)
    n = len(layers)
    if all(layer.state is None for layer in layers):
        return None

    def init_fn(key: Key, input_shape: Shape) -> tuple[Any, ...]:
        states = []
        shape = tuple(input_shape)
        for i, layer in enumerate(layers):
            shape, s = child_init(layer, fold_in(key, i), shape)
            states.append(s)
        return tuple(states)

    def forward_fn(
        params: tuple[Any, ...], states: tuple[Any, ...], x: Array, key: Key | None
    ) -> tuple[Array, tuple[Any, ...], tuple[Any, ...]]:
        check_len("serial", "params", params, n)
        check_len("serial", "state", states, n)
        residuals, new = [], []
        for i, layer in enumerate(layers):
            k = None if key is None else fold_in(key, i)
            x, r, s = step(layer, params[i], states[i], x, k)
            residuals.append(r)
            new.append(s)
        return x, tuple(residuals), tuple(new)

    def apply_fn(params: tuple[Any, ...], states: tuple[Any, ...], x: Array) -> Array:
        check_len("serial", "params", params, n)
        check_len("serial", "state", states, n)
        for layer, p, s in zip(layers, params, states, strict=True):
            x = evaluate(layer, p, s, x)
        return x

    def frozen_fn(states: tuple[Any, ...]) -> Layer[tuple[Any, ...], Any]:
        from fnnet.layers.combinators import serial  # serial itself calls compose

        check_len("serial", "state", states, n)
        return serial(*(frozen_child(layer, s) for layer, s in zip(layers, states, strict=True)))

    return Stateful(init_fn, forward_fn, apply_fn, frozen_fn)


def _require(fn: str, model: Layer[Any, Any], state: object) -> Stateful[Any, Any, Any] | None:
    fns = require_layer(fn, "model", model).state
    if fns is not None and state is None:
        raise ValueError(
            f"{fn}: {model.name} has state (running statistics) but argument 'state' is None; "
            "start from fnnet.layers.state.init(model, key, input_shape)"
        )
    return fns


def init(model: Layer[P, Any], key: Key, input_shape: Shape) -> tuple[Shape, P, Any]:
    """``(output_shape, params, state)``: ``model.init`` and the starting state (``None`` for a
    stateless model), from the same key.

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> shape, params, st = init(layers.serial(layers.dense(3), layers.relu), 0, (2,))
    >>> shape, st
    ((3,), None)
    """
    shape, params = require_layer("fnnet.layers.state.init", "model", model).init(key, input_shape)
    fns = model.state
    return shape, params, None if fns is None else fns.init(key, input_shape)


def init_stack(
    model: Layer[P, Any], keys: Sequence[Key], input_shape: Shape
) -> tuple[Shape, P, Any]:
    """``init`` for a stack of ``len(keys)`` models: params and state stacked on a leading
    axis, so each model keeps its own statistics.

    >>> from fnnet import layers

    >>> from fnnet.layers.normalization import batch_norm
    >>> _, params, st = init_stack(batch_norm(), [0, 1, 2], (4,))
    >>> params.scale.shape, st.mean.shape
    ((3, 4), (3, 4))
    """
    fn = "fnnet.layers.state.init_stack"
    keys = check_stack_args(fn, require_layer(fn, "model", model), keys, input_shape)
    results = [init(model, k, input_shape) for k in keys]
    params = tree.stack([p for _, p, _ in results])
    states = [s for _, _, s in results]
    return results[0][0], params, None if states[0] is None else tree.stack(states)


def forward(
    model: Layer[P, R], params: P, state: Any, x: Array, key: Key | None = None
) -> tuple[Array, R, Any]:
    """A training step's forward: ``(y, residuals, new_state)``. For a stateless model this is
    ``model.forward`` (``forward_keyed`` when ``key`` is given and the model has one) and the
    state stays as it is; ``model.backward(params, residuals, dy)`` follows either way.

    >>> import numpy as np
    >>> from fnnet import layers
    >>> from fnnet.layers.normalization import batch_norm
    >>> net = layers.dense(2)
    >>> _, p, st = init(net, 0, (3,))
    >>> y, res, st = forward(net, p, st, np.ones((4, 3)))
    >>> y.shape, st
    ((4, 2), None)
    """
    fns = _require("fnnet.layers.state.forward", model, state)
    y, r, new = step(model, params, state, x, key)
    return y, r, new if fns is not None else state


def apply(model: Layer[P, Any], params: P, state: Any, x: Array) -> Array:
    """Evaluation: ``model``'s output using the state (running statistics), never the batch's.

    >>> import numpy as np
    >>> from fnnet import layers
    >>> from fnnet.layers.normalization import batch_norm
    >>> net = batch_norm()
    >>> _, p, st = init(net, 0, (1,))
    >>> apply(net, p, st, np.array([[3.0], [5.0]]))  # running mean 0, var 1: nearly unchanged
    array([[2.99998500],
           [4.99997500]])
    """
    fns = _require("fnnet.layers.state.apply", model, state)
    return model.apply(params, x) if fns is None else fns.apply(params, state, x)


def freeze(model: Layer[P, Any], state: Any) -> Layer[P, Any]:
    """``model`` in evaluation mode as an ordinary (stateless) layer: ``forward``/``apply``
    use ``state``, and ``backward`` differentiates that function (equinox's inference mode).
    A stateless model is returned as it is.

    >>> import numpy as np
    >>> from fnnet import check, layers
    >>> from fnnet.layers.normalization import batch_norm
    >>> net = batch_norm()
    >>> _, p, st = init(net, 0, (3,))
    >>> check.check_layer(freeze(net, st), p, np.ones((4, 3))).ok
    True
    """
    fns = _require("fnnet.layers.state.freeze", model, state)
    return model if fns is None else fns.frozen(state)
