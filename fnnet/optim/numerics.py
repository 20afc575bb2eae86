"""Numerical hardening of optimizer moments: overflow-safe second moments, subnormal flushing.

The textbook update rules have two problems in floating point, each solved once, here:

1. **Overflow of squared gradients.** ``v ← β·v + (1 − β)·g²`` overflows to ``inf`` once
   ``|g| > √max`` of the dtype (about 1.3e154 in float64, 1.8e19 in float32), and the step
   ``g / √v`` becomes 0 or NaN although the true step is finite (about ``±1`` for Adam). So the
   transforms keep the root ``√v`` and update it with :func:`root_ema_of_squares` /
   :func:`root_sum_of_squares`, which never form a square (``hypot``): the same numbers as the
   textbook formula where it does not overflow, and the right finite step where it does.
2. **Subnormal moments.** Where a gradient stays zero (a dead ReLU unit), ``m ← β·m`` decays into
   subnormal numbers, on which every array operation runs 15–35× slower (float32 moments made
   whole epochs 2× slower). :func:`fnnet.optim.lift` sets the subnormal entries of every moment
   buffer to zero every :data:`FLUSH_EVERY` steps (:func:`flush_subnormals`); once zero, such a
   moment stays zero, and the step it would have given is below the dtype's resolution anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fnnet.arrays import Array, require_float, require_real


def _refuse(fn: str, error: Exception, **args: object) -> TypeError:
    """The error for a numerics function whose numpy call failed (built on failure only): names
    the first argument that is not a floating numpy array (``decay`` may be a number)."""
    name = f"fnnet.optim.numerics.{fn}"
    for arg, x in args.items():
        if arg != "decay":
            require_float(name, arg, x)
        elif not isinstance(x, int | float | np.generic):
            require_real(name, arg, x)
    return TypeError(f"{name}: arguments {', '.join(map(repr, args))} do not combine: {error}")


__all__ = ["FLUSH_EVERY", "flush_subnormals", "root_ema_of_squares", "root_sum_of_squares"]

FLUSH_EVERY = 64
"""Moment buffers lose their subnormal entries on every step whose count is a multiple of this."""


def root_ema_of_squares(root_v: Array, g: Array, decay: Any) -> Array:
    """``√(decay·v + (1 − decay)·g²)`` from ``root_v = √v``: the root of the moving average of
    squares, computed as ``hypot(√decay · √v, √(1 − decay) · g)`` without forming a square.

    >>> root_ema_of_squares(np.array([0.0]), np.array([2.0]), 0.75)  # √(0.25 · 2²)
    array([1.])
    >>> root_ema_of_squares(np.array([3e200]), np.array([4e200]), 0.5) / 0.5**0.5  # g² = inf
    array([5.e+200])
    """
    try:
        out: Array = np.hypot(decay**0.5 * root_v, (1.0 - decay) ** 0.5 * g)
    except (TypeError, AttributeError) as e:
        raise _refuse("root_ema_of_squares", e, root_v=root_v, g=g, decay=decay) from None
    return out


def root_sum_of_squares(root_a: Array, g: Array) -> Array:
    """``√(a + g²)`` from ``root_a = √a``: the root of the running sum of squares, as
    ``hypot(√a, g)`` without forming a square.

    >>> root_sum_of_squares(np.array([3.0, 3e300]), np.array([4.0, 4e300]))
    array([5.e+000, 5.e+300])
    """
    try:
        out: Array = np.hypot(root_a, g)
    except (TypeError, AttributeError) as e:
        raise _refuse("root_sum_of_squares", e, root_a=root_a, g=g) from None
    return out


def flush_subnormals(a: Array) -> Array:
    """``a`` with its subnormal entries (``0 < |a| < tiny`` of its dtype) set to zero (a copy).

    >>> a = np.array([1e-40, -2e-39, 1.0, 0.0], np.float32)  # float32's tiny is 1.2e-38
    >>> flush_subnormals(a)
    array([0., 0., 1., 0.], dtype=float32)
    """
    if type(a) is not np.ndarray:
        require_float("fnnet.optim.numerics.flush_subnormals", "a", a)
    if a.dtype.kind != "f":
        require_float("fnnet.optim.numerics.flush_subnormals", "a", a)
    out: Array = np.where(np.abs(a) < np.finfo(a.dtype).tiny, 0.0, a)
    return out
