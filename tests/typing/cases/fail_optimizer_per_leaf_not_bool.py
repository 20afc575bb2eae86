"""Optimizer's per_leaf is a bool, given by keyword."""

import fnnet
from fnnet import optim


def init(p: fnnet.tree.PyTree) -> int:
    return 0


def update(g: fnnet.tree.PyTree, s: int, p: fnnet.tree.PyTree) -> tuple[fnnet.tree.PyTree, int]:
    return g, s


bad = optim.Optimizer(init, update, per_leaf="yes")  # E: per_leaf must be a bool
positional = optim.Optimizer(init, update, True)  # E: per_leaf is keyword-only
