"""A layer whose backward returns another params type than init makes must be rejected."""

import attrs
import numpy as np

from fnnet import layers
from fnnet.arrays import Array, Shape
from fnnet.random import Key


@attrs.frozen
class ScaleParams:
    s: Array


@attrs.frozen
class OtherParams:
    t: Array


def init(key: Key, input_shape: Shape) -> tuple[Shape, ScaleParams]:
    return input_shape, ScaleParams(np.ones(input_shape[-1]))


def forward(p: ScaleParams, x: Array) -> tuple[Array, Array]:
    return p.s * x, x


def backward(p: ScaleParams, x: Array, dy: Array) -> tuple[OtherParams, Array]:
    return OtherParams(np.sum(dy * x, axis=-2)), dy * p.s


def apply(p: ScaleParams, x: Array) -> Array:
    return p.s * x


bad: layers.Layer[ScaleParams, Array] = layers.Layer(init, forward, backward, apply)  # E
