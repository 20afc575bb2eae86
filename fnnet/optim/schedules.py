"""Learning-rate schedules: plain functions ``schedule(step) -> value`` of the step count.

Pass one wherever a learning rate is expected; the optimizer state records the value used at each
step (``state.learning_rate``). Every constructor refuses values that would give a negative, NaN
or infinite rate, and ``scale_by_learning_rate`` checks each value a schedule returns (a user's
schedule too), naming the step.

>>> s = warmup(cosine_decay(1.0, 100), 10)
>>> [round(s(t), 3) for t in (0, 5, 10, 60, 110)]
[0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

__all__ = [
    "Schedule",
    "constant",
    "exponential_decay",
    "step_decay",
    "cosine_decay",
    "warmup",
    "linear",
]

Schedule: TypeAlias = Callable[[int], float]

Number: TypeAlias = float | np.floating[Any] | np.integer[Any]
"""A number as a user passes it (numpy scalars included)."""


def _value(fn: str, name: str, value: object, high: float = math.inf) -> float:
    """``value`` as a float, refused unless a finite real number in ``[0, high]``.

    >>> constant(float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: constant: argument 'value' must be finite and >= 0, got inf; pass a finite number
    """
    if isinstance(value, bool) or not isinstance(value, float | int | np.integer | np.floating):
        raise TypeError(f"{fn}: argument {name!r} must be a number, got {type(value).__name__}")
    v = float(value)
    if not (math.isfinite(v) and 0.0 <= v <= high):  # NaN and infinity fail
        bound = f"in [0, {high:g}]" if high < math.inf else "finite and >= 0"
        raise ValueError(
            f"{fn}: argument {name!r} must be {bound}, got {value!r}; pass a finite number"
        )
    return v


def _steps(fn: str, name: str, value: object) -> int:
    """``value`` as an int, refused unless an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{fn}: argument {name!r} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{fn}: {name} must be > 0, got {value}")
    return int(value)


def constant(value: Number) -> Schedule:
    """``value`` at every step.

    >>> [constant(0.1)(t) for t in (0, 1000)]
    [0.1, 0.1]
    """
    v = _value("constant", "value", value)
    return lambda step: v


def exponential_decay(
    init_value: Number, decay_rate: Number, transition_steps: int, staircase: bool = False
) -> Schedule:
    """``init_value * decay_rate ** (step / transition_steps)`` (floored when ``staircase``).

    >>> s = exponential_decay(1.0, 0.5, transition_steps=10)
    >>> [s(t) for t in (0, 10, 15, 20)]  # halves every 10 steps
    [1.0, 0.5, 0.3536, 0.25]
    >>> exponential_decay(1.0, 0.5, 10, staircase=True)(15)
    0.5
    """
    init_value = _value("exponential_decay", "init_value", init_value)
    decay_rate = _value("exponential_decay", "decay_rate", decay_rate)
    transition_steps = _steps("exponential_decay", "transition_steps", transition_steps)
    staircase = bool(staircase)

    def schedule(step: int) -> float:
        p = step / transition_steps
        return init_value * decay_rate ** (math.floor(p) if staircase else p)

    return schedule


def step_decay(init_value: Number, factor: Number, every: int) -> Schedule:
    """``init_value * factor ** (step // every)``: multiply by ``factor`` every ``every`` steps.

    >>> s = step_decay(0.1, 0.1, every=100)
    >>> [round(s(t), 6) for t in (0, 99, 100, 250)]
    [0.1, 0.1, 0.01, 0.001]
    """
    init_value = _value("step_decay", "init_value", init_value)
    factor = _value("step_decay", "factor", factor)
    every = _steps("step_decay", "every", every)
    return lambda step: init_value * factor ** (step // every)


def cosine_decay(init_value: Number, decay_steps: int, alpha: Number = 0.0) -> Schedule:
    """Cosine from ``init_value`` down to ``alpha * init_value`` over ``decay_steps``, then flat.

    >>> s = cosine_decay(1.0, 100, alpha=0.1)  # 0.1 + 0.9 · ½(1 + cos(π t / 100))
    >>> [round(s(t), 3) for t in (0, 50, 100, 200)]
    [1.0, 0.55, 0.1, 0.1]
    """
    init_value = _value("cosine_decay", "init_value", init_value)
    decay_steps = _steps("cosine_decay", "decay_steps", decay_steps)
    alpha = _value("cosine_decay", "alpha", alpha, 1.0)

    def schedule(step: int) -> float:
        t = min(step, decay_steps) / decay_steps
        return init_value * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha)

    return schedule


def linear(init_value: Number, end_value: Number, transition_steps: int) -> Schedule:
    """Linear from ``init_value`` to ``end_value`` over ``transition_steps``, then flat.

    >>> s = linear(1.0, 0.0, transition_steps=4)
    >>> [s(t) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    init_value = _value("linear", "init_value", init_value)
    end_value = _value("linear", "end_value", end_value)
    transition_steps = _steps("linear", "transition_steps", transition_steps)

    def schedule(step: int) -> float:
        t = min(step, transition_steps) / transition_steps
        return init_value + (end_value - init_value) * t

    return schedule


def warmup(schedule: Schedule | Number, warmup_steps: int) -> Schedule:
    """Linear warm-up from 0 over ``warmup_steps``, then ``schedule`` (shifted to start at 0).

    >>> s = warmup(0.1, 4)
    >>> [round(s(t), 3) for t in range(6)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.1]
    """
    if not callable(schedule):
        schedule = _value("warmup", "schedule", schedule)
    after = constant(schedule) if isinstance(schedule, float) else schedule
    warmup_steps = _steps("warmup", "warmup_steps", warmup_steps)

    def wrapped(step: int) -> float:
        if step < warmup_steps:
            return after(0) * step / warmup_steps
        return after(step - warmup_steps)

    return wrapped
