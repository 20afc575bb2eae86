"""Array types and the argument checks every public function uses.

``Array`` is a floating NumPy array of any precision. Every function in fnnet preserves the
dtype of its inputs (float32 in, float32 out). The checks here raise ``ValueError`` or
``TypeError`` with a message naming the function, the argument, what was expected and what was
given, so a user never sees an ``IndexError`` from deep inside a layer.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Array",
    "IntArray",
    "Shape",
    "require_float",
    "require_ndim",
    "require_same_shape",
    "omits_model_axes",
    "require_axes",
    "require_dtype",
]

Array: TypeAlias = npt.NDArray[np.floating[Any]]
"""A floating-point array (float32 or float64)."""

IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
"""An integer array (class labels, indices)."""

Shape: TypeAlias = tuple[int, ...]
"""An array shape, without batch axes where a layer's ``input_shape`` is meant."""


def require_float(fn: str, arg: str, x: object) -> Array:
    """Return ``x`` if it is a floating numpy array, else raise ``TypeError`` naming ``fn(arg)``.

    >>> require_float("f", "x", np.zeros(2)).dtype
    dtype('float64')
    >>> require_float("f", "x", np.zeros(2, dtype=int))
    Traceback (most recent call last):
    TypeError: f: argument 'x' must be a floating array (float32 or float64),
    got dtype int64 with shape (2,)
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{fn}: argument {arg!r} must be a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{fn}: argument {arg!r} must be a floating array (float32 or float64), "
            f"got dtype {x.dtype} with shape {x.shape}"
        )
    return x


def require_ndim(fn: str, arg: str, x: np.ndarray[Any, Any], min_ndim: int) -> None:
    """Raise ``ValueError`` unless ``x`` has at least ``min_ndim`` axes.

    >>> require_ndim("f", "x", np.zeros((3, 2)), 2)
    >>> require_ndim("f", "x", np.zeros(3), 2)
    Traceback (most recent call last):
    ValueError: f: argument 'x' must have at least 2 axes, got shape (3,)
    """
    if x.ndim < min_ndim:
        raise ValueError(
            f"{fn}: argument {arg!r} must have at least {min_ndim} axes, got shape {x.shape}"
        )


def require_same_shape(
    fn: str, a_name: str, a: np.ndarray[Any, Any], b_name: str, b: np.ndarray[Any, Any]
) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have exactly the same shape.

    >>> require_same_shape("f", "a", np.zeros(2), "b", np.zeros(3))
    Traceback (most recent call last):
    ValueError: f: a and b must have the same shape, got a (2,) and b (3,)
    """
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {a_name} and {b_name} must have the same shape, "
            f"got {a_name} {a.shape} and {b_name} {b.shape}"
        )


def omits_model_axes(full: Shape, part: Shape, min_ndim: int) -> bool:
    """Whether ``part`` is ``full`` or ``full`` without some of its leading (model) axes, keeping
    at least ``min_ndim`` trailing axes: the rule for data shared by a stack of models.

    >>> omits_model_axes((5, 4, 3), (4, 3), 2), omits_model_axes((5, 4, 3), (5, 4, 3), 2)
    (True, True)
    >>> omits_model_axes((4, 1), (4,), 2), omits_model_axes((5, 4, 3), (4, 2), 2)
    (False, False)
    """
    return min_ndim <= len(part) <= len(full) and full[len(full) - len(part) :] == part


def require_axes(fn: str, arg: str, x: np.ndarray[Any, Any], axes: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``x`` has at least the named trailing ``axes``.

    >>> require_axes("f", "x", np.zeros((4, 3)), ("examples", "features"))
    >>> require_axes("f", "x", np.zeros(3), ("examples", "features"))
    Traceback (most recent call last):
    ValueError: f: argument 'x' must have shape (..., examples, features), got (3,)
    """
    if x.ndim < len(axes):
        raise ValueError(
            f"{fn}: argument {arg!r} must have shape (..., {', '.join(axes)}), got {x.shape}"
        )


def require_dtype(fn: str, arg: str, x: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> None:
    """Raise ``TypeError`` unless ``x`` has the params' ``dtype`` (precisions are never mixed).

    >>> require_dtype("f", "x", np.zeros(2, np.float32), np.dtype(np.float64))
    Traceback (most recent call last):
    TypeError: f: argument 'x' has dtype float32 but the params are float64; cast one of them
    (fnnet never mixes precisions silently)
    """
    if x.dtype != dtype:
        raise TypeError(
            f"{fn}: argument {arg!r} has dtype {x.dtype} but the params are {dtype}; "
            "cast one of them (fnnet never mixes precisions silently)"
        )
