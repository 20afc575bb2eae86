"""Inverted dropout, pure: the random mask comes from an explicit key, never from global state.

In training, ``forward_keyed(None, x, key)`` keeps each element with probability ``1 - rate`` and
scales the kept ones by ``1 / (1 - rate)``, so the expected output equals the input and inference
needs no rescaling::

    m = [u ≥ rate] / (1 - rate),  u ~ U[0, 1) drawn from generator(key)
    y = x ⊙ m                     dx = dy ⊙ m   (the residual is the mask m)

``forward`` without a key and ``apply`` are the identity (inference).

**How the key reaches it.** ``fnnet.train.make_step`` calls ``model.forward_keyed(params, x,
fold_in(state.key, state.step))`` whenever the model has one, so every training step gets a fresh
key (and ``fit`` derives ``state.key`` from its own ``key``); ``serial`` hands its ``i``-th layer
``fold_in(key, i)``, so two dropout layers of one model draw different masks. The same key always
gives the same mask: a training run is reproducible from its key alone.

**Stacks.** A stacked fit equals the separate runs: model ``m`` of a stack, trained with key ``K``,
gets exactly the masks it gets when trained alone with ``K``. So the mask is drawn once for one
model's shape, the last ``ndim + 1`` axes of ``x`` (examples and one example's ``ndim`` axes), and
broadcast over the leading model axes: the models of a stack share one mask per step, as the same
model would get it with the same key alone. (Models that should see different masks are models
trained with different keys.) ``ndim`` is the rank of one example, 1 for feature rows (the
default) and 3 for ``(H, W, C)`` images; ``init`` checks it against its ``input_shape``.

>>> import numpy as np
>>> layer = dropout(0.5)
>>> y, mask = layer.forward_keyed(None, np.ones((2, 4)), 7)
>>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
True
>>> float(layer.apply(None, np.ones((2, 4))).sum())
8.0
"""

from __future__ import annotations

import numpy as np

from fnnet.arrays import Array, Shape, require_dy, require_float, require_int, require_number
from fnnet.layers.base import Layer
from fnnet.random import Key, generator

__all__ = ["dropout"]


def dropout(rate: float, *, ndim: int = 1) -> Layer[None, Array | None]:
    """Drop each element with probability ``rate`` in training (``forward_keyed``); identity in
    ``forward`` and ``apply``. ``ndim`` is the rank of one example (1 for feature rows); the mask
    is drawn for one model's ``x.shape[-(ndim + 1):]`` and broadcast over any model axes (see
    the module docstring). Residuals: the scaled mask, or ``None`` when nothing was dropped.

    >>> layer = dropout(0.25)
    >>> y, mask = layer.forward_keyed(None, np.ones((1000, 4)), (0, 1))
    >>> sorted(set(mask.ravel().tolist())) == [0.0, 1 / 0.75]  # kept ones scaled by 1/(1 - rate)
    True
    >>> bool(np.all(layer.forward_keyed(None, np.ones((1000, 4)), (0, 1))[1] == mask))  # same key
    True
    >>> layer.backward(None, mask, np.ones((1000, 4)))[1].shape
    (1000, 4)
    >>> _, stacked = layer.forward_keyed(None, np.ones((3, 1000, 4)), (0, 1))  # 3 models
    >>> bool(np.all(stacked == mask))  # each model gets the mask it gets alone with this key
    True
    """
    rate = require_number("dropout", "rate", rate, low=0.0)
    if rate >= 1.0:
        raise ValueError(f"dropout: argument 'rate' must be a float in [0, 1), got {rate!r}")
    ndim = require_int("dropout", "ndim", ndim, minimum=1)
    keep = 1.0 - rate
    name = f"dropout({rate})"

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        if len(input_shape) != ndim:
            raise ValueError(
                f"{name}: input_shape {tuple(input_shape)} has {len(input_shape)} axes but the "
                f"layer was built for examples of {ndim} axes; pass ndim={len(input_shape)}"
            )
        return tuple(input_shape), None

    def check_x(x: object, arg: str = "x") -> Array:
        x = require_float(name, arg, x)
        if x.ndim < ndim + 1:
            raise ValueError(
                f"{name}: argument {arg!r} must have an examples axis and {ndim} example axes "
                f"(..., N, {', '.join(['...'] * ndim)}), got shape {x.shape}"
            )
        return x

    def apply(p: None, x: Array) -> Array:
        return check_x(x)

    def forward(p: None, x: Array) -> tuple[Array, Array | None]:
        return check_x(x), None

    def forward_keyed(p: None, x: Array, key: Key) -> tuple[Array, Array | None]:
        x = check_x(x)
        if rate == 0.0:
            return x, None
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        u = generator(key).random(x.shape[x.ndim - ndim - 1 :], dtype=dt)  # one model's shape
        mask: Array = (u >= rate).astype(x.dtype)
        mask *= 1.0 / keep  # a Python float: keeps float32 float32
        mask = np.broadcast_to(mask, x.shape)  # the same mask for every model of a stack
        return x * mask, mask

    def backward(p: None, mask: Array | None, dy: Array) -> tuple[None, Array]:
        if mask is None:  # nothing was dropped: any float dy of examples passes through
            return None, check_x(dy, "dy")
        return None, require_dy(name, dy, mask.shape, mask.dtype) * mask

    return Layer(init, forward, backward, apply, name=name, forward_keyed=forward_keyed)
