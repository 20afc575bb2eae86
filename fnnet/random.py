"""Explicit, pure randomness: keys instead of global RNG state.

A ``Key`` is an int or a tuple of ints. The same key always gives the same numbers. Children are
derived deterministically with :func:`fold_in` (``(key, i)`` flattened), so a function that needs
several independent streams derives one per purpose and never shares a generator.

>>> int(generator(0).integers(10)) == int(generator(0).integers(10))
True
>>> fold_in((3, 1), 7)
(3, 1, 7)
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

__all__ = ["Key", "fold_in", "split", "generator", "as_tuple"]

Key: TypeAlias = int | tuple[int, ...]


def as_tuple(key: Key) -> tuple[int, ...]:
    """The key as a tuple of non-negative ints; raises ``TypeError``/``ValueError`` otherwise
    (a bool is not a key: ``True`` would silently be the key 1).

    >>> as_tuple(3), as_tuple((1, 2)), as_tuple(np.int64(4))
    ((3,), (1, 2), (4,))
    """
    parts = (key,) if isinstance(key, int | np.integer) else key
    if not isinstance(parts, tuple) or not all(
        isinstance(p, int | np.integer) and not isinstance(p, bool) for p in parts
    ):
        raise TypeError(
            f"fnnet.random: a key must be an int or a tuple of ints (such as 0 or (0, 3)), "
            f"got {key!r}"
        )
    if any(p < 0 for p in parts):
        raise ValueError(f"fnnet.random: key parts must be non-negative, got {key!r}")
    return tuple(int(p) for p in parts)


def _index(fn: str, arg: str, i: object) -> int:
    """``i`` as a Python int >= 0 (numpy integers too; bools, floats and others refused)."""
    if isinstance(i, bool | np.bool_) or not isinstance(i, int | np.integer):
        raise TypeError(
            f"fnnet.random.{fn}: argument {arg!r} must be an int >= 0 (such as 3 or "
            f"np.int64(3)), got {type(i).__name__} {i!r}"[:200]
        )
    if i < 0:
        raise ValueError(f"fnnet.random.{fn}: argument {arg!r} must be >= 0, got {i}")
    return int(i)


def fold_in(key: Key, i: int | np.integer[Any]) -> tuple[int, ...]:
    """The ``i``-th child of ``key``: ``(*key, i)``; ``i`` an int >= 0.

    >>> fold_in(0, 5)
    (0, 5)
    >>> fold_in(0, 2.0)
    Traceback (most recent call last):
    TypeError: fnnet.random.fold_in: argument 'i' must be an int >= 0 (such as 3 or np.int64(3)),
    got float 2.0
    """
    return (*as_tuple(key), _index("fold_in", "i", i))


def split(key: Key, n: int | np.integer[Any]) -> list[tuple[int, ...]]:
    """``n`` independent children of ``key``; ``n`` an int >= 0.

    >>> split((7,), 3)
    [(7, 0), (7, 1), (7, 2)]
    """
    parent = as_tuple(key)
    return [(*parent, i) for i in range(_index("split", "n", n))]


def generator(key: Key) -> np.random.Generator:
    """A fresh NumPy ``Generator`` seeded by ``key`` (PCG64 via ``SeedSequence``).

    The entropy is ``(len(key), *key)``: ``SeedSequence`` ignores trailing zeros, so without the
    length ``fold_in(k, 0)`` would give the same stream as ``k``.

    >>> a, b = generator((0, 1)).normal(size=2), generator((0, 1)).normal(size=2)
    >>> bool(np.all(a == b)), bool(np.any(generator(0).normal(size=2) != a))
    (True, True)
    """
    parts = as_tuple(key)
    return np.random.default_rng(np.random.SeedSequence((len(parts), *parts)))
