"""Weight initializers: ``init(key, shape, dtype) -> array``, pure and reproducible by key.

Fan-in and fan-out follow the usual convention for a weight of shape ``(..., in, out)`` (a
convolution kernel ``(kh, kw, in, out)`` multiplies both by ``kh * kw``).

>>> import numpy as np
>>> w = glorot_uniform()(0, (2, 4), np.float32)
>>> w.dtype, w.shape, bool(np.all(np.abs(w) <= np.sqrt(6 / 6)))
(dtype('float32'), (2, 4), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from fnnet.arrays import Array, Shape, require_float_dtype, require_shape
from fnnet.random import Key, generator

__all__ = [
    "Initializer",
    "fans",
    "zeros",
    "constant",
    "normal",
    "uniform",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lab_uniform",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
]

Initializer: TypeAlias = Callable[[Key, Shape, npt.DTypeLike], Array]


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(*receptive_field, in, out)``.

    >>> fans((3, 5)), fans((3, 3, 2, 4))  # dense (in, out); conv (kh, kw, in, out)
    ((3, 5), (18, 36))
    """
    shape = require_shape("fnnet.layers.initializers.fans", "shape", shape)
    if len(shape) < 2:
        return (shape[0] if shape else 1), (shape[0] if shape else 1)
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _checked(fn: str, shape: object, dtype: object) -> tuple[Shape, np.dtype[Any]]:
    """An initializer's ``shape`` and ``dtype``, checked (the key is checked by the generator)."""
    where = f"fnnet.layers.initializers.{fn}"
    checked = require_shape(where, "shape", shape)
    return checked, require_float_dtype(where, "dtype", dtype)  # type: ignore[arg-type]


def _cast(x: np.ndarray[Any, Any], dtype: npt.DTypeLike) -> Array:
    out: Array = x.astype(dtype, copy=False)
    return out


def zeros(key: Key, shape: Shape, dtype: npt.DTypeLike) -> Array:
    """All zeros (the usual bias init).

    >>> zeros(0, (2,), np.float32)
    array([0., 0.], dtype=float32)
    """
    shape, dt = _checked("zeros", shape, dtype)
    return np.zeros(shape, dt)


def constant(value: float) -> Initializer:
    """All ``value``.

    >>> constant(0.1)(0, (3,), np.float64)
    array([0.1, 0.1, 0.1])
    """

    def init(key: Key, shape: Shape, dtype: npt.DTypeLike) -> Array:
        shape, dt = _checked(f"constant({value})", shape, dtype)
        return np.full(shape, value, dt)

    return init


def normal(std: float = 0.01, mean: float = 0.0) -> Initializer:
    """Gaussian ``N(mean, std²)``.

    >>> w = normal(std=0.5)(0, (1000,), np.float64)
    >>> bool(abs(w.std() - 0.5) < 0.05), bool(np.all(w == normal(std=0.5)(0, (1000,), np.float64)))
    (True, True)
    """

    def init(key: Key, shape: Shape, dtype: npt.DTypeLike) -> Array:
        shape, dt = _checked("normal", shape, dtype)
        return _cast(generator(key).normal(mean, std, shape), dt)

    return init


def uniform(low: float = -0.05, high: float = 0.05) -> Initializer:
    """Uniform on ``[low, high)``.

    >>> w = uniform(-1.0, 1.0)((0, 3), (4, 5), np.float32)
    >>> w.shape, w.dtype, bool(np.all((w >= -1.0) & (w < 1.0)))
    ((4, 5), dtype('float32'), True)
    """

    def init(key: Key, shape: Shape, dtype: npt.DTypeLike) -> Array:
        shape, dt = _checked("uniform", shape, dtype)
        return _cast(generator(key).uniform(low, high, shape), dt)

    return init


def _scaled(name: str, distribution: str, gain: float, mode: str) -> Initializer:
    def init(key: Key, shape: Shape, dtype: npt.DTypeLike) -> Array:
        shape, dt = _checked(name, shape, dtype)
        fan_in, fan_out = fans(shape)
        fan = {"in": fan_in, "avg": (fan_in + fan_out) / 2}[mode]
        variance = gain / fan
        rng = generator(key)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _cast(rng.uniform(-limit, limit, shape), dt)
        return _cast(rng.normal(0.0, math.sqrt(variance), shape), dt)

    return init


def glorot_uniform() -> Initializer:
    """Glorot/Xavier uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``.

    >>> w = glorot_uniform()(0, (30, 70), np.float64)  # a = sqrt(6 / 100)
    >>> bool(np.abs(w).max() <= np.sqrt(0.06)), bool(abs(w.var() - 2 / 100) < 0.002)
    (True, True)
    """
    return _scaled("glorot_uniform", "uniform", 1.0, "avg")


def glorot_normal() -> Initializer:
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``.

    >>> w = glorot_normal()(0, (30, 70), np.float64)  # variance 2 / (30 + 70)
    >>> bool(abs(w.var() - 0.02) < 0.002)
    True
    """
    return _scaled("glorot_normal", "normal", 1.0, "avg")


def he_uniform() -> Initializer:
    """He/Kaiming uniform (for ReLU): ``U(-a, a)``, ``a = sqrt(6 / fan_in)``.

    >>> w = he_uniform()(0, (50, 40), np.float64)  # a = sqrt(6 / 50)
    >>> bool(np.abs(w).max() <= np.sqrt(6 / 50)), bool(abs(w.var() - 2 / 50) < 0.004)
    (True, True)
    """
    return _scaled("he_uniform", "uniform", 2.0, "in")


def he_normal() -> Initializer:
    """He/Kaiming normal (for ReLU): ``N(0, 2 / fan_in)``.

    >>> w = he_normal()(0, (50, 40), np.float64)  # variance 2 / 50
    >>> bool(abs(w.var() - 0.04) < 0.004)
    True
    """
    return _scaled("he_normal", "normal", 2.0, "in")


def lab_uniform() -> Initializer:
    """The lab reports' "small random" start: ``U(-1, 1)`` scaled by ``1/sqrt(fan_in)``
    (PyTorch's default for ``nn.Linear``).

    >>> w = lab_uniform()(0, (25, 40), np.float64)  # U(-1/5, 1/5)
    >>> bool(np.abs(w).max() <= 0.2), bool(abs(w.var() - 0.04 / 3) < 0.002)
    (True, True)
    """
    return _scaled("lab_uniform", "uniform", 1.0 / 3.0, "in")


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal
