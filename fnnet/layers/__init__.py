"""Layers: records of pure ``init``/``forward``/``backward``/``apply`` functions (the reference
tier). The kernel tier, :mod:`fnnet.kernels`, runs some of them faster and is tested equal."""

from fnnet.layers import initializers, spec, state
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
from fnnet.layers.augment import random_crop, random_flip
from fnnet.layers.base import Layer, check_input, init_stack, over_examples
from fnnet.layers.branches import fan_in_concat, fan_in_sum, fan_out, parallel, residual
from fnnet.layers.combinators import Serial, mlp, serial
from fnnet.layers.conv import ConvParams, conv2d
from fnnet.layers.dense import DenseParams, dense
from fnnet.layers.dropout import dropout
from fnnet.layers.normalization import (
    BatchNormState,
    NormParams,
    batch_norm,
    group_norm,
    layer_norm,
)
from fnnet.layers.pool import avg_pool2d, max_pool2d
from fnnet.layers.reshape import flatten, reshape

__all__ = [
    "state",
    "parallel",
    "fan_out",
    "fan_in_sum",
    "fan_in_concat",
    "residual",
    "layer_norm",
    "group_norm",
    "batch_norm",
    "NormParams",
    "BatchNormState",
    "Layer",
    "Serial",
    "DenseParams",
    "ConvParams",
    "check_input",
    "init_stack",
    "over_examples",
    "initializers",
    "spec",
    "dense",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "flatten",
    "reshape",
    "dropout",
    "random_flip",
    "random_crop",
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
