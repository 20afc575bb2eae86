"""A user's optimizer written as a rule on one array, lifted by optim.lift, promising per_leaf,
whose state joins the learning-rate protocol with a field."""

import attrs
import numpy as np

import fnnet
from fnnet import optim
from fnnet.arrays import Array


@fnnet.tree.pytree
@attrs.frozen
class SignState:
    learning_rate: float


def sign_rule(g: Array, lr: float) -> tuple[Array]:
    return (-lr * np.sign(g),)


def init(p: fnnet.tree.PyTree) -> SignState:
    return SignState(0.05)


def update(
    g: fnnet.tree.PyTree, s: SignState, p: fnnet.tree.PyTree
) -> tuple[fnnet.tree.PyTree, SignState]:
    (u,) = optim.lift(sign_rule, g, hypers=[s.learning_rate])
    return u, s


sign_sgd: optim.Optimizer[SignState] = optim.Optimizer(init, update, per_leaf=True)
rate: optim.Hyper = optim.learning_rate(sign_sgd.init(np.zeros(3)))
protocol: optim.HasLearningRate = SignState(0.1)
