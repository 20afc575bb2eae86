"""A user's own layer: params class, residual type, four functions; composes with serial."""

import attrs
import numpy as np

import fnnet
from fnnet import check, layers
from fnnet.arrays import Array, Shape
from fnnet.random import Key


@fnnet.tree.pytree
@attrs.frozen
class ScaleParams:
    s: Array


def init(key: Key, input_shape: Shape) -> tuple[Shape, ScaleParams]:
    return input_shape, ScaleParams(np.ones(input_shape[-1]))


def forward(p: ScaleParams, x: Array) -> tuple[Array, Array]:
    return p.s * x, x


def backward(p: ScaleParams, x: Array, dy: Array) -> tuple[ScaleParams, Array]:
    return ScaleParams(np.sum(dy * x, axis=-2)), dy * p.s


def apply(p: ScaleParams, x: Array) -> Array:
    return p.s * x


scale: layers.Layer[ScaleParams, Array] = layers.Layer(init, forward, backward, apply)
net = layers.serial(layers.dense(3), scale, layers.relu)
_, params = scale.init(0, (3,))
ok: bool = check.check_layer(scale, params, np.ones((2, 3))).ok
