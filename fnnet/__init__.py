"""fnnet: a functional, config-free neural-network library on numpy.

Parameters are immutable attrs pytrees, forward passes and losses are pure functions, gradients
come from hand-derived backward functions, and optimizers are ``(init, update)`` pairs.

>>> import fnnet as fn
>>> fn.layers.dense(4)
Layer(dense(4))
"""

from fnnet import (
    arrays,
    check,
    checkpoint,
    data,
    io,
    kernels,
    layers,
    losses,
    metrics,
    optim,
    plot,
    random,
    sweep,
    train,
    tree,
)

__all__ = [
    "arrays",
    "check",
    "checkpoint",
    "data",
    "io",
    "kernels",
    "layers",
    "losses",
    "metrics",
    "optim",
    "plot",
    "random",
    "sweep",
    "train",
    "tree",
]
__version__ = "0.1.0"
