"""Reading an optimizer state: the current learning rate, wherever it sits in a chain."""

from __future__ import annotations

from typing import Any

from fnnet.optim.base import Hyper
from fnnet.optim.transforms import LearningRateState

__all__ = ["learning_rate"]


def learning_rate(state: Any) -> Hyper:
    """The learning rate in ``state`` (the one used at the last step, or the first one).

    >>> import numpy as np
    >>> from fnnet import optim
    >>> opt = optim.adam(optim.schedules.exponential_decay(0.1, 0.5, 1))
    >>> s = opt.init([np.zeros(1)])
    >>> for _ in range(3):
    ...     _, s = opt.update([np.ones(1)], s, [np.zeros(1)])
    >>> optim.learning_rate(s)
    0.025
    """
    if isinstance(state, LearningRateState):
        return state.learning_rate
    children = state if isinstance(state, tuple | list) else getattr(state, "inner", None)
    if isinstance(children, tuple | list):
        for child in children:
            try:
                return learning_rate(child)
            except LookupError:
                pass
    elif children is not None:
        return learning_rate(children)
    raise LookupError("fnnet.optim.learning_rate: no learning rate in this optimizer state")
