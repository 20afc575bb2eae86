"""Declarative descriptions of layers: plain data saying what a layer computes.

A layer's ``spec`` names its kind and sizes (``DenseSpec(out_features=4)``,
``ActivationSpec("sigmoid")``, ``SerialSpec((...))``) and holds no functions. The reference tier
never reads it; the kernel tier (:mod:`fnnet.kernels`) reads it to recognise what it can run
faster, e.g. an ``mlp``: a ``SerialSpec`` of alternating ``DenseSpec`` and ``ActivationSpec``.
A layer a user writes has ``spec=None`` and always runs through its own functions.

>>> from fnnet import layers
>>> layers.mlp([2, 3, 1], hidden=layers.tanh).spec.parts[:2]
(DenseSpec(out_features=3, in_features=2, dtype=dtype('float64')), ActivationSpec(name='tanh', alpha=None))
"""  # noqa: E501

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
import numpy as np

__all__ = ["Spec", "DenseSpec", "ActivationSpec", "SerialSpec", "ACTIVATIONS"]

ACTIVATIONS = (
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "softmax",
)
"""The activation names an :class:`ActivationSpec` may carry."""


@attrs.frozen
class DenseSpec:
    """``y = x @ w + b`` with ``out_features`` outputs; ``in_features`` when the layer was told
    its input size (``None``: taken from ``init``'s ``input_shape``); the params' ``dtype``.

    >>> DenseSpec(4, None, np.dtype(np.float32)).out_features
    4
    """

    out_features: int
    in_features: int | None
    dtype: np.dtype[Any]


@attrs.frozen
class ActivationSpec:
    """A parameter-free activation by name (one of :data:`ACTIVATIONS`), with its ``alpha``
    for ``leaky_relu`` and ``elu`` (``None`` otherwise).

    >>> ActivationSpec("leaky_relu", 0.1)
    ActivationSpec(name='leaky_relu', alpha=0.1)
    """

    name: str = attrs.field(validator=attrs.validators.in_(ACTIVATIONS))
    alpha: float | None = None


@attrs.frozen
class SerialSpec:
    """``serial(l1, l2, ...)``: the parts' specs in order (``None`` for a part without one).

    >>> SerialSpec((DenseSpec(2, 3, np.dtype(np.float64)), ActivationSpec("relu"))).parts[1].name
    'relu'
    """

    parts: tuple[Spec | None, ...]


Spec: TypeAlias = DenseSpec | ActivationSpec | SerialSpec
"""Any layer description."""
