"""The README's tour: the lab network, optimizers as values, your own optimizer and layer."""

import attrs
import numpy as np

import fnnet
from fnnet import check, data, layers, losses, metrics, optim, train
from fnnet.arrays import Array, Shape
from fnnet.random import Key

# 1. The lab network on XOR with plain gradient descent, stopping at loss < 0.01.
x, y = data.xor()  # (21, 2), (21, 1)
net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
_, params = net.init(0, (2,))  # key, input shape without the batch axis
result = train.fit(net, losses.mse, optim.sgd(1.0), params, (x, y),
                   epochs=100_000, until=train.loss_below(0.01), key=0)  # fmt: skip
print("sgd:", result.epochs, "epochs, accuracy", metrics.accuracy(net.apply(result.params, x), y))

# 2. Optimizers are values: swap in Adam and train again from the same start.
result = train.fit(net, losses.mse, optim.adam(0.05), params, (x, y),
                   epochs=2_000, until=train.loss_below(0.01))  # fmt: skip
print("adam:", result.epochs, "epochs, final loss", result.history.loss[-1])
print("kernels:", result.kernels)  # fit(..., kernels=False) runs only the reference code


# 3. Your own optimizer: two typed functions (sign descent).
def init(p: fnnet.tree.PyTree) -> tuple[()]:
    return ()


def update(
    g: fnnet.tree.PyTree, s: tuple[()], p: fnnet.tree.PyTree
) -> tuple[fnnet.tree.PyTree, tuple[()]]:
    return fnnet.tree.map(lambda a: -0.01 * np.sign(a), g), s


result = train.fit(net, losses.mse, optim.Optimizer(init, update), params, (x, y), epochs=2_000)
print("sign descent: loss", result.history.loss[0], "->", result.history.loss[-1])


# 4. Your own layer (y = s ⊙ x), its gradient checked against finite differences, also on a
#    stack of 3 models (over_examples lines each model's s up with its own examples).
@fnnet.tree.pytree
@attrs.frozen
class ScaleParams:
    s: Array  # (*models, features)


def scale_init(key: Key, shape: Shape) -> tuple[Shape, ScaleParams]:
    return shape, ScaleParams(np.random.default_rng(key).normal(size=shape))


def scale_apply(p: ScaleParams, x: Array) -> Array:
    return layers.over_examples(p.s) * x


def scale_forward(p: ScaleParams, x: Array) -> tuple[Array, Array]:
    return scale_apply(p, x), x  # output, residual for backward


def scale_backward(p: ScaleParams, x: Array, dy: Array) -> tuple[ScaleParams, Array]:
    return ScaleParams(np.sum(dy * x, axis=-2)), dy * layers.over_examples(p.s)  # (dp, dx)


scale = layers.Layer(scale_init, scale_forward, scale_backward, scale_apply, name="scale")
_, sp = scale.init(0, (3,))
print(check.check_layer(scale, sp, np.ones((4, 3))))
_, stacked = layers.init_stack(scale, [0, 1, 2], (3,))
print(check.check_layer(scale, stacked, np.ones((3, 4, 3))).ok)
