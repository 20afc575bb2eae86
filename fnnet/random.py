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

from typing import TypeAlias

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


def fold_in(key: Key, i: int) -> tuple[int, ...]:
    """The ``i``-th child of ``key``: ``(*key, i)``.

    >>> fold_in(0, 5)
    (0, 5)
    """
    return (*as_tuple(key), i)


def split(key: Key, n: int) -> list[tuple[int, ...]]:
    """``n`` independent children of ``key``.

    >>> split((7,), 3)
    [(7, 0), (7, 1), (7, 2)]
    """
    return [fold_in(key, i) for i in range(n)]


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
