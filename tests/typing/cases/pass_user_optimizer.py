"""A user's own optimizer: two typed functions, used as a value and composed with chain."""

import numpy as np

import fnnet
from fnnet import data, layers, losses, optim, train


def init(p: fnnet.tree.PyTree) -> tuple[()]:
    return ()


def update(
    g: fnnet.tree.PyTree, s: tuple[()], p: fnnet.tree.PyTree
) -> tuple[fnnet.tree.PyTree, tuple[()]]:
    return fnnet.tree.tree_map(lambda a: -0.05 * np.sign(a), g), s


sign_sgd: optim.Optimizer[tuple[()]] = optim.Optimizer(init, update)
x, y = data.xor()
net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
_, params = net.init(0, (2,))
result = train.fit(net, losses.mse, sign_sgd, params, (x, y), epochs=3)
state: tuple[()] = result.opt_state
both = optim.chain(sign_sgd, optim.adam(0.1))
