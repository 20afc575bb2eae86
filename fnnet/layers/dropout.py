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
gives the same mask: a training run is reproducible from its key alone. In a stack of models each
model (and each element) gets its own independent draw.

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

from fnnet.arrays import Array, Shape, require_float
from fnnet.layers.base import Layer
from fnnet.random import Key, generator

__all__ = ["dropout"]


def dropout(rate: float) -> Layer[None, Array | None]:
    """Drop each element with probability ``rate`` in training (``forward_keyed``); identity in
    ``forward`` and ``apply``. Residuals: the scaled mask, or ``None`` when nothing was dropped.

    >>> layer = dropout(0.25)
    >>> y, mask = layer.forward_keyed(None, np.ones((1000, 4)), (0, 1))
    >>> sorted(set(mask.ravel().tolist())) == [0.0, 1 / 0.75]  # kept ones scaled by 1/(1 - rate)
    True
    >>> bool(np.all(layer.forward_keyed(None, np.ones((1000, 4)), (0, 1))[1] == mask))  # same key
    True
    >>> layer.backward(None, mask, np.ones((1000, 4)))[1].shape
    (1000, 4)
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: argument 'rate' must be a float in [0, 1), got {rate!r}")
    keep = 1.0 - float(rate)

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        return tuple(input_shape), None

    def apply(p: None, x: Array) -> Array:
        return require_float("dropout", "x", x)

    def forward(p: None, x: Array) -> tuple[Array, Array | None]:
        return require_float("dropout", "x", x), None

    def forward_keyed(p: None, x: Array, key: Key) -> tuple[Array, Array | None]:
        x = require_float("dropout", "x", x)
        if rate == 0.0:
            return x, None
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        u = generator(key).random(x.shape, dtype=dt)
        mask: Array = (u >= rate).astype(x.dtype)
        mask *= 1.0 / keep  # a Python float: keeps float32 float32
        return x * mask, mask

    def backward(p: None, mask: Array | None, dy: Array) -> tuple[None, Array]:
        return None, dy if mask is None else dy * mask

    return Layer(
        init, forward, backward, apply, name=f"dropout({float(rate)})", forward_keyed=forward_keyed
    )
