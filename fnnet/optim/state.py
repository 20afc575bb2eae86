"""Reading an optimizer state: the current learning rate, wherever it sits in a chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from fnnet.optim.base import Hyper

__all__ = ["learning_rate", "HasLearningRate"]


@runtime_checkable
class HasLearningRate(Protocol):
    """A state that records a learning rate: any object with a ``learning_rate`` attribute.

    fnnet's :class:`~fnnet.optim.LearningRateState` is one; a user's optimizer joins the
    protocol by giving its state (an attrs class, a NamedTuple, ...) a ``learning_rate`` field
    holding the rate it used at the last step (a float, or an array with one rate per model).

    >>> import attrs
    >>> @attrs.frozen
    ... class SignSgdState:
    ...     learning_rate: float
    >>> isinstance(SignSgdState(0.05), HasLearningRate)
    True
    """

    @property
    def learning_rate(self) -> Hyper: ...


def _children(state: object) -> list[object]:
    """The sub-states a learning rate is looked for in: a chain's parts, a wrapper's ``inner``."""
    if isinstance(state, tuple | list):
        return list(state)
    if isinstance(state, Mapping):
        return list(state.values())
    inner = getattr(state, "inner", None)
    return [] if inner is None else [inner]


def learning_rate(state: object) -> Hyper:
    """The learning rate recorded in an optimizer ``state`` (the rate used at the last step, or
    the first one before any step).

    The protocol: a state records a rate when it has a ``learning_rate`` attribute (or, for a
    dict, key) holding a float or an array (:class:`HasLearningRate`); otherwise the parts of a
    tuple, list or dict (a ``chain``'s state) and an ``inner`` attribute (``masked``'s state) are
    searched in order, and the first rate found is returned. ``LookupError`` when there is none.

    >>> import numpy as np
    >>> from fnnet import optim
    >>> opt = optim.adam(optim.schedules.exponential_decay(0.1, 0.5, 1))
    >>> s = opt.init(np.zeros(1))
    >>> for _ in range(3):
    ...     _, s = opt.update(np.ones(1), s, np.zeros(1))
    >>> optim.learning_rate(s)
    0.025
    >>> optim.learning_rate(({"learning_rate": 0.3},))  # a user's dict state
    0.3
    """
    found = _find(state)
    if found is None:
        raise LookupError(
            f"fnnet.optim.learning_rate: no learning rate in this {type(state).__name__} state; "
            "an optimizer records one by giving its state a 'learning_rate' field"
        )
    return found


def _find(state: object) -> Hyper | None:
    if isinstance(state, Mapping) and "learning_rate" in state:
        value = state["learning_rate"]
    elif isinstance(state, HasLearningRate) and not isinstance(state, type):
        value = state.learning_rate
    else:
        for child in _children(state):
            found = _find(child)
            if found is not None:
                return found
        return None
    if isinstance(value, bool) or not isinstance(value, float | int | np.ndarray | np.number):
        raise TypeError(
            f"fnnet.optim.learning_rate: the state's 'learning_rate' must be a number or an "
            f"array, got {type(value).__name__}"
        )
    return value if isinstance(value, np.ndarray) else float(value)
