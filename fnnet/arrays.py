"""Array types and the argument checks every public function uses.

``Array`` is a floating NumPy array of any precision. Every function in fnnet preserves the
dtype of its inputs (float32 in, float32 out). The checks here raise ``ValueError`` or
``TypeError`` with a message naming the function, the argument, what was expected and what was
given, so a user never sees an ``IndexError`` from deep inside a layer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Array",
    "IntArray",
    "Shape",
    "require_array",
    "require_float",
    "require_real",
    "require_ndim",
    "require_same_shape",
    "require_same_dtype",
    "require_nonempty",
    "require_range",
    "require_labels",
    "require_int",
    "require_positive_int",
    "require_number",
    "require_float_dtype",
    "omits_model_axes",
    "require_axes",
    "require_dtype",
    "require_path",
    "require_dy",
    "require_shape",
]

Array: TypeAlias = npt.NDArray[np.floating[Any]]
"""A floating-point array (float32 or float64)."""

IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
"""An integer array (class labels, indices)."""

Shape: TypeAlias = tuple[int, ...]
"""An array shape, without batch axes where a layer's ``input_shape`` is meant."""


def _got(x: object) -> str:
    """A short description of a value for an error message."""
    if isinstance(x, np.ndarray):
        return f"dtype {x.dtype} with shape {x.shape}"
    if isinstance(x, list | tuple):
        return f"a {type(x).__name__} (convert it with np.asarray)"
    return f"{type(x).__name__} {x!r}"[:80]


def require_array(fn: str, arg: str, x: object) -> np.ndarray[Any, Any]:
    """Return ``x`` if it is a numpy array (not a ``np.matrix``), else raise ``TypeError``.

    >>> require_array("f", "x", np.zeros(2)).shape
    (2,)
    >>> require_array("f", "x", [1.0, 2.0])
    Traceback (most recent call last):
    TypeError: f: argument 'x' must be a numpy array, got a list (convert it with np.asarray)
    """
    if not isinstance(x, np.ndarray) or isinstance(x, np.matrix):
        raise TypeError(f"{fn}: argument {arg!r} must be a numpy array, got {_got(x)}")
    return x


def require_float(fn: str, arg: str, x: object) -> Array:
    """Return ``x`` if it is a floating numpy array, else raise ``TypeError`` naming ``fn(arg)``.

    >>> require_float("f", "x", np.zeros(2)).dtype
    dtype('float64')
    >>> require_float("f", "x", np.zeros(2, dtype=int))
    Traceback (most recent call last):
    TypeError: f: argument 'x' must be a floating array (float32 or float64),
    got dtype int64 with shape (2,); convert it with x.astype(np.float64)
    """
    x = require_array(fn, arg, x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"{fn}: argument {arg!r} must be a floating array (float32 or float64), "
            f"got {_got(x)}; convert it with {arg}.astype(np.float64)"
        )
    return x


def require_real(fn: str, arg: str, x: object) -> np.ndarray[Any, Any]:
    """Return ``x`` if it is a numpy array of real numbers (bool, int or float), else
    ``TypeError`` (complex, object, strings, dates are refused).

    >>> require_real("f", "x", np.array([1, 2])).dtype
    dtype('int64')
    >>> require_real("f", "x", np.array([1j]))
    Traceback (most recent call last):
    TypeError: f: argument 'x' must hold real numbers (bool, int or float),
    got dtype complex128 with shape (1,)
    """
    x = require_array(fn, arg, x)
    if x.dtype.kind not in "biuf":
        raise TypeError(
            f"{fn}: argument {arg!r} must hold real numbers (bool, int or float), got {_got(x)}"
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


def require_same_dtype(
    fn: str, a_name: str, a: np.ndarray[Any, Any], b_name: str, b: np.ndarray[Any, Any]
) -> None:
    """Raise ``TypeError`` unless ``a`` and ``b`` have the same dtype.

    >>> require_same_dtype("f", "pred", np.zeros(1, np.float32), "target", np.zeros(1))
    Traceback (most recent call last):
    TypeError: f: 'pred' is float32 but 'target' is float64;
    cast one of them (e.g. target.astype(pred.dtype))
    """
    if a.dtype != b.dtype:
        raise TypeError(
            f"{fn}: {a_name!r} is {a.dtype} but {b_name!r} is {b.dtype}; cast one of them "
            f"(e.g. {b_name}.astype({a_name}.dtype))"
        )


def require_nonempty(fn: str, arg: str, x: np.ndarray[Any, Any], what: str) -> None:
    """Raise ``ValueError`` if ``x`` has no elements; ``what`` names its axes.

    >>> require_nonempty("f", "pred", np.zeros((0, 2)), "examples or outputs")
    Traceback (most recent call last):
    ValueError: f: argument 'pred' is empty (no examples or outputs), shape (0, 2)
    """
    if x.size == 0:
        raise ValueError(f"{fn}: argument {arg!r} is empty (no {what}), shape {x.shape}")


def require_range(
    fn: str, arg: str, x: np.ndarray[Any, Any], low: float, high: float, hint: str = ""
) -> None:
    """Raise ``ValueError`` if a value of ``x`` lies outside ``[low, high]``. NaN is let
    through: a NaN value is the caller's to report (a loss returns NaN, ``fit`` stops on it).

    >>> require_range("f", "target", np.array([0.0, 1.0]), 0.0, 1.0)
    >>> require_range("f", "target", np.array([0.5, 2.0]), 0.0, 1.0, "they are probabilities")
    Traceback (most recent call last):
    ValueError: f: values of 'target' must lie in [0.0, 1.0] (they are probabilities),
    got values in [0.5, 2.0]
    """
    if x.size == 0:
        return
    lo, hi = x.min(), x.max()
    if lo < low or hi > high:  # False for NaN
        why = f" ({hint})" if hint else ""
        raise ValueError(
            f"{fn}: values of {arg!r} must lie in [{low}, {high}]{why}, got values in [{lo}, {hi}]"
        )


def require_labels(fn: str, arg: str, x: object, num_classes: int) -> IntArray:
    """Return ``x`` if it is an integer array of class labels in ``[0, num_classes)``, else
    ``TypeError`` (not integers) or ``ValueError`` (out of range).

    >>> require_labels("f", "labels", np.array([0, 2]), 3)
    array([0, 2])
    >>> require_labels("f", "labels", np.array([0.0, 1.5]), 3)
    Traceback (most recent call last):
    TypeError: f: argument 'labels' must be integer class labels, got dtype float64 with shape
    (2,), with fractional values such as 1.5
    >>> require_labels("f", "labels", np.array([0, 3]), 3)
    Traceback (most recent call last):
    ValueError: f: labels in 'labels' must lie in [0, 3) (3 classes), got values in [0, 3]
    """
    x = require_array(fn, arg, x)
    if x.dtype.kind not in "iu":
        if x.dtype.kind == "f" and x.size:
            frac = x[(x != np.round(x)) | ~np.isfinite(x)]
            why = (
                f", with fractional values such as {frac.flat[0]}"
                if frac.size
                else f"; convert whole-number labels with {arg}.astype(np.int64)"
            )
        else:
            why = f"; convert them with {arg}.astype(np.int64)" if x.dtype.kind == "b" else ""
        raise TypeError(f"{fn}: argument {arg!r} must be integer class labels, got {_got(x)}{why}")
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(
            f"{fn}: labels in {arg!r} must lie in [0, {num_classes}) ({num_classes} classes), "
            f"got values in [{x.min()}, {x.max()}]"
        )
    return x


def require_int(fn: str, arg: str, n: object, minimum: int | None = None) -> int:
    """``n`` as a Python int (a numpy integer scalar is fine; a bool or float is not), at least
    ``minimum`` if given; else ``TypeError``/``ValueError``.

    >>> require_int("f", "epochs", np.int64(3))
    3
    >>> require_int("f", "epochs", 3.0)
    Traceback (most recent call last):
    TypeError: f: argument 'epochs' must be an int, got float 3.0
    >>> require_int("f", "n", -1, minimum=0)
    Traceback (most recent call last):
    ValueError: f: argument 'n' must be >= 0, got -1
    """
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
        raise TypeError(f"{fn}: argument {arg!r} must be an int, got {_got(n)}")
    if minimum is not None and n < minimum:
        raise ValueError(f"{fn}: argument {arg!r} must be >= {minimum}, got {n}")
    return int(n)


def require_positive_int(fn: str, arg: str, n: object) -> int:
    """``n`` as a Python int ``>= 1`` (numpy integer scalars included), else an error.

    >>> require_positive_int("f", "batch_size", np.int32(8))
    8
    >>> require_positive_int("f", "batch_size", 0)
    Traceback (most recent call last):
    ValueError: f: argument 'batch_size' must be >= 1, got 0
    """
    return require_int(fn, arg, n, minimum=1)


def require_number(
    fn: str, arg: str, x: object, low: float = -math.inf, high: float = math.inf
) -> float:
    """``x`` as a finite Python float in ``[low, high]`` (ints and numpy real scalars are fine;
    bools, complex numbers, strings, NaN and inf are not); else ``TypeError``/``ValueError``.

    >>> require_number("f", "threshold", np.float32(0.5))
    0.5
    >>> require_number("f", "threshold", float("nan"))
    Traceback (most recent call last):
    ValueError: f: argument 'threshold' must be a finite number, got nan
    """
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        raise TypeError(f"{fn}: argument {arg!r} must be a real number, got {_got(x)}")
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"{fn}: argument {arg!r} must be a finite number, got {value}")
    if not low <= value <= high:
        raise ValueError(f"{fn}: argument {arg!r} must lie in [{low}, {high}], got {value}")
    return value


def require_float_dtype(fn: str, arg: str, dtype: npt.DTypeLike) -> np.dtype[Any]:
    """``dtype`` as a floating ``np.dtype`` (float16, float32 or float64), else ``TypeError``.

    >>> require_float_dtype("f", "dtype", "float32")
    dtype('float32')
    >>> require_float_dtype("f", "dtype", int)
    Traceback (most recent call last):
    TypeError: f: argument 'dtype' must be a floating dtype such as np.float32, got int64
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{fn}: argument {arg!r} is not a dtype: {dtype!r} ({e})") from None
    if dt.kind != "f":
        raise TypeError(
            f"{fn}: argument {arg!r} must be a floating dtype such as np.float32, got {dt}"
        )
    return dt


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


def require_path(fn: str, arg: str, path: object) -> Path:
    """``path`` (a non-empty ``str`` or an ``os.PathLike``) as a ``Path``, else ``TypeError``.

    >>> require_path("f", "path", "a.npz")
    PosixPath('a.npz')
    >>> require_path("f", "path", None)
    Traceback (most recent call last):
    TypeError: f: argument 'path' must be a file path (a str or a pathlib.Path), got NoneType None
    """
    if isinstance(path, str | os.PathLike) and not isinstance(path, bytes) and os.fspath(path):
        return Path(path)
    raise TypeError(
        f"{fn}: argument {arg!r} must be a file path (a str or a pathlib.Path), got {_got(path)}"
    )


def require_dy(fn: str, dy: object, shape: Shape, dtype: np.dtype[Any] | None) -> Array:
    """``dy`` if it is the gradient a ``backward`` can take: a floating array with exactly the
    ``shape`` of the forward output (never broadcast) and, when given, the params' ``dtype``;
    else ``TypeError``/``ValueError`` naming ``fn`` and ``'dy'``. One shape compare per call.

    >>> require_dy("dense(3)", np.ones((5, 3)), (5, 3), np.dtype(np.float64)).shape
    (5, 3)
    >>> require_dy("dense(3)", np.ones(3), (5, 3), None)
    Traceback (most recent call last):
    ValueError: dense(3): argument 'dy' must have the shape of the forward output (5, 3), got
    (3,); pass the gradient of the loss with respect to the y that forward returned
    """
    dy = require_float(fn, "dy", dy)
    if dy.shape != shape:
        raise ValueError(
            f"{fn}: argument 'dy' must have the shape of the forward output {shape}, got "
            f"{dy.shape}; pass the gradient of the loss with respect to the y that forward "
            "returned"
        )
    if dtype is not None and dy.dtype != dtype:
        raise TypeError(
            f"{fn}: argument 'dy' has dtype {dy.dtype} but the forward output is {dtype}; "
            f"cast it with dy.astype(np.{dtype}) (fnnet never mixes precisions silently)"
        )
    return dy


def require_shape(fn: str, arg: str, shape: object, ndim: int | None = None) -> Shape:
    """``shape`` as a tuple of positive ints (numpy ints are fine), with ``ndim`` entries when
    given; else ``TypeError``/``ValueError`` naming ``fn`` and ``arg``.

    >>> require_shape("dense(3)", "input_shape", (np.int64(4),))
    (4,)
    >>> require_shape("dense(3)", "input_shape", 4)
    Traceback (most recent call last):
    TypeError: dense(3): argument 'input_shape' must be a tuple of positive ints such as (4,),
    got int 4
    """
    if not isinstance(shape, tuple | list) or not all(
        isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_) for s in shape
    ):
        raise TypeError(
            f"{fn}: argument {arg!r} must be a tuple of positive ints such as (4,), got "
            f"{_got(shape)}"
        )
    if any(s < 1 for s in shape) or (ndim is not None and len(shape) != ndim):
        want = f"{ndim} positive ints" if ndim is not None else "positive ints"
        raise ValueError(f"{fn}: argument {arg!r} must be {want}, got {tuple(shape)}")
    return tuple(int(s) for s in shape)
