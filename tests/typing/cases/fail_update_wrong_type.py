"""An optimizer whose update returns the wrong type must be rejected."""

import fnnet
from fnnet import optim


def init(p: fnnet.tree.PyTree) -> int:
    return 0


def update(g: fnnet.tree.PyTree, s: int, p: fnnet.tree.PyTree) -> int:  # not (updates, state)
    return s + 1


bad = optim.Optimizer(init, update)  # E: update returns int, not tuple[PyTree, int]
