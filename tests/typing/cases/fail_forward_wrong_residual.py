"""A backward that expects other residuals than forward produces must be rejected."""

import numpy as np

from fnnet import layers
from fnnet.arrays import Array, Shape
from fnnet.random import Key


def init(key: Key, input_shape: Shape) -> tuple[Shape, None]:
    return input_shape, None


def forward(p: None, x: Array) -> tuple[Array, Array]:
    return np.tanh(x), x


def backward(p: None, r: tuple[Array, Array], dy: Array) -> tuple[None, Array]:
    return None, dy * r[0]


bad = layers.Layer(init, forward, backward, lambda p, x: np.tanh(x))  # E: residual types differ
