"""The kernel tier: faster implementations of reference networks, each tested equal to them.

A kernel recognises what it can run from a model's declarative ``spec`` (never from its
functions), takes the reference params (or a flat vector made from them), and computes the same
numbers as the reference layers to rounding (``tests/test_kernels.py`` checks 1e-12 in float64,
single models, stacks, float32 staying float32).

- :func:`fused` ``(model) -> FusedMlp | None``: an mlp on its reference params tree;
  ``forward(params, x) -> (y, res)``, ``apply(params, x) -> y``, ``grads(params, res, dy) ->
  dparams`` (no first-layer ``dx``).
- :func:`flat` ``(model, input_shape) -> FlatMlp | None``: an mlp whose params are one vector per
  model, ``(*models, size)``; ``ravel(params_tree) -> vector``, ``unravel(vector) ->
  params_tree``, and ``forward``/``apply``/``grads`` on vectors.
- :func:`kernel_activation` ``(spec) -> KernelActivation | None``: in-place forwards and
  derivatives from the output, per activation.

The training loop (:mod:`fnnet.train`) picks kernels for ``fit`` automatically; a user never has
to call them.

>>> import numpy as np
>>> from fnnet import layers, kernels
>>> net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
>>> _, params = net.init(0, (2,))
>>> k = kernels.flat(net, (2,))
>>> v = k.ravel(params)
>>> bool(np.allclose(k.apply(v, np.ones((3, 2))), net.apply(params, np.ones((3, 2)))))
True
"""

from fnnet.kernels.activations import KernelActivation, kernel_activation
from fnnet.kernels.mlp import FlatMlp, FusedMlp, flat, fused, recognise

__all__ = [
    "FusedMlp",
    "FlatMlp",
    "KernelActivation",
    "fused",
    "flat",
    "kernel_activation",
    "recognise",
]
