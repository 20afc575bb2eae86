"""Layers: records of pure ``init``/``forward``/``backward``/``apply`` functions."""

from fnnet.layers import initializers
from fnnet.layers.activations import (
    elu,
    identity,
    leaky_relu,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from fnnet.layers.base import Layer, check_input, init_stack
from fnnet.layers.combinators import Serial, mlp, serial
from fnnet.layers.dense import DenseParams, dense

__all__ = [
    "Layer",
    "Serial",
    "DenseParams",
    "check_input",
    "init_stack",
    "initializers",
    "dense",
    "serial",
    "mlp",
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "softmax",
]
