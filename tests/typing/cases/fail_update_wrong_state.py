"""An optimizer whose update returns a state of another type than init's must be rejected."""

import fnnet
from fnnet import optim


def init(p: fnnet.tree.PyTree) -> int:
    return 0


def update(g: fnnet.tree.PyTree, s: int, p: fnnet.tree.PyTree) -> tuple[fnnet.tree.PyTree, str]:
    return g, "state"


bad: optim.Optimizer[int] = optim.Optimizer(init, update)  # E: state str vs int
