"""Data augmentation as layers, pure: random flips and shifts of NHWC images drawn from a key.

Like :func:`~fnnet.layers.dropout.dropout`, each layer transforms its input only in training
(``forward_keyed``, which the training step calls with a fresh key every step) and is the
identity in ``forward`` without a key and in ``apply`` (evaluation sees the images as they are).
Put them first in a model; the model's parameters see a new variant of each image every epoch::

    random_flip()      y[n] = x[n, :, ::-1, :] if f[n] else x[n]   f[n] ~ Bernoulli(1/2)
                       dx[n] = dy[n, :, ::-1, :] if f[n] else dy[n]      (a flip undoes itself)
    random_crop(p)     y[n, a, b] = x[n, a + i[n] - p, b + j[n] - p]      (0 outside the image)
                       i[n], j[n] ~ uniform {0, ..., 2p}: x zero-padded by p on each side and
                       cropped back to H x W at the offset (i, j), as PyTorch's
                       RandomCrop(size, padding=p); dx is dy shifted back: the offset 2p - (i, j)

Examples have shape ``(H, W, C)``; ``x`` is ``(*models, N, H, W, C)``. The flags and offsets are
drawn for one model's ``N`` examples and shared by the models of a stack, so each model of a
stack sees exactly the images it sees when trained alone with the same key (see
:mod:`fnnet.layers.dropout`). The residuals are the drawn flags or offsets.

>>> import numpy as np
>>> x = np.arange(6.0).reshape(1, 2, 3, 1)
>>> y, flipped = random_flip().forward_keyed(None, x, 1)
>>> y[0, :, :, 0].tolist() == (x[0, :, ::-1, 0] if flipped[0] else x[0, :, :, 0]).tolist()
True
>>> bool(np.all(random_crop(2).apply(None, x) == x))  # evaluation: the identity
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from fnnet.arrays import Array, IntArray, Shape, require_int
from fnnet.layers.base import Layer
from fnnet.layers.windows import check_image
from fnnet.random import Key, generator

__all__ = ["random_flip", "random_crop"]

Flags = npt.NDArray[np.bool_]


def _image_init(name: str, smallest: int = 1) -> Callable[[Key, Shape], tuple[Shape, None]]:
    """The ``init`` of a layer without params that keeps ``(H, W, C)``, H and W >= smallest."""

    def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
        shape = tuple(input_shape)
        if len(shape) != 3 or min(shape[:2], default=0) < smallest:
            raise ValueError(
                f"{name}: input_shape must be one image (H, W, C) with H and W >= {smallest}, "
                f"got {shape}"
            )
        return shape, None

    return init


def _require_examples(name: str, dy: Array, n: int) -> None:
    """Refuse a ``dy`` whose examples axis (-4) does not hold the forward's ``n`` examples."""
    if dy.shape[-4] != n:
        raise ValueError(
            f"{name}: argument 'dy' must be the gradient of the forward output, with {n} "
            f"examples on axis -4, got shape {dy.shape}"
        )


def _flip(x: Array, flipped: Flags) -> Array:
    """``x`` with the examples where ``flipped`` is true mirrored left-right (the W axis)."""
    y = x.copy()
    y[..., flipped, :, :, :] = x[..., flipped, :, ::-1, :]
    return y


def random_flip() -> Layer[None, Flags | None]:
    """Mirror each image left-right with probability 1/2 in training; identity in ``apply``.
    Residuals: the bool ``(N,)`` flags of the flipped examples (``None`` without a key).

    >>> layer = random_flip()
    >>> x = np.random.default_rng(0).random((8, 4, 5, 2))
    >>> y, flipped = layer.forward_keyed(None, x, 3)
    >>> bool(np.all(y[flipped] == x[flipped][:, :, ::-1]) and np.all(y[~flipped] == x[~flipped]))
    True
    >>> dx = layer.backward(None, flipped, y)[1]  # the flip undoes itself
    >>> bool(np.all(dx == x))
    True
    """
    name = "random_flip()"

    def forward_keyed(p: None, x: Array, key: Key) -> tuple[Array, Flags]:
        x = check_image(name, x)
        flipped: Flags = generator(key).random((x.shape[-4],)) < 0.5
        return _flip(x, flipped), flipped

    def backward(p: None, flipped: Flags | None, dy: Array) -> tuple[None, Array]:
        dy = check_image(name, dy, "dy")
        if flipped is None:
            return None, dy
        _require_examples(name, dy, len(flipped))
        return None, _flip(dy, flipped)

    return Layer(
        _image_init(name),
        lambda p, x: (check_image(name, x), None),
        backward,
        lambda p, x: check_image(name, x),
        name=name,
        forward_keyed=forward_keyed,
    )


def _shift(x: Array, offsets: IntArray, padding: int) -> Array:
    """``x`` zero-padded by ``padding`` on H and W, each example ``n`` cropped back to H x W at
    the offset ``offsets[n] = (i, j)``: one slice per distinct offset (at most (2p + 1)^2)."""
    h, w = x.shape[-3], x.shape[-2]
    pad = [(0, 0)] * (x.ndim - 3) + [(padding, padding), (padding, padding), (0, 0)]
    padded = np.pad(x, pad)
    y = np.empty_like(x)
    for i, j in np.unique(offsets, axis=0):
        chosen = (offsets[:, 0] == i) & (offsets[:, 1] == j)
        y[..., chosen, :, :, :] = padded[..., chosen, i : i + h, j : j + w, :]
    return y


def random_crop(padding: int) -> Layer[None, IntArray | None]:
    """Shift each image by up to ``padding`` pixels on H and W in training (zero-padded by
    ``padding``, cropped back to its size at a random offset); identity in ``apply``.
    Residuals: the int ``(N, 2)`` offsets ``(i, j)`` in ``{0, ..., 2 padding}`` (``None``
    without a key). ``padding`` must be smaller than H and W.

    >>> layer = random_crop(1)
    >>> x = np.ones((2, 3, 3, 1))
    >>> y, offsets = layer.forward_keyed(None, x, 0)
    >>> offsets.shape, y.shape, float(y.max())
    ((2, 2), (2, 3, 3, 1), 1.0)
    >>> bool(np.all(layer.forward_keyed(None, x, 0)[1] == offsets))  # same key, same shifts
    True
    """
    padding = require_int("random_crop", "padding", padding, minimum=0)
    name = f"random_crop({padding})"

    def forward_keyed(p: None, x: Array, key: Key) -> tuple[Array, IntArray]:
        x = check_image(name, x)
        if padding >= min(x.shape[-3], x.shape[-2]):
            raise ValueError(
                f"{name}: argument 'padding' must be smaller than the images' height and "
                f"width, got images of shape {x.shape[-3:]}"
            )
        offsets = generator(key).integers(0, 2 * padding + 1, size=(x.shape[-4], 2))
        return _shift(x, offsets, padding), offsets

    def backward(p: None, offsets: IntArray | None, dy: Array) -> tuple[None, Array]:
        dy = check_image(name, dy, "dy")
        if offsets is None:
            return None, dy
        _require_examples(name, dy, len(offsets))
        return None, _shift(dy, 2 * padding - offsets, padding)

    return Layer(
        _image_init(name, smallest=padding + 1),
        lambda p, x: (check_image(name, x), None),
        backward,
        lambda p, x: check_image(name, x),
        name=name,
        forward_keyed=forward_keyed,
    )
