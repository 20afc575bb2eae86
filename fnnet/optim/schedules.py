"""Learning-rate schedules: plain functions ``schedule(step) -> value`` of the step count.

Pass one wherever a learning rate is expected; the optimizer state records the value used at each
step (``state.learning_rate``).

>>> s = warmup(cosine_decay(1.0, 100), 10)
>>> [round(s(t), 3) for t in (0, 5, 10, 60, 110)]
[0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeAlias

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


def constant(value: float) -> Schedule:
    """``value`` at every step.

    >>> [constant(0.1)(t) for t in (0, 1000)]
    [0.1, 0.1]
    """
    return lambda step: value


def exponential_decay(
    init_value: float, decay_rate: float, transition_steps: int, staircase: bool = False
) -> Schedule:
    """``init_value * decay_rate ** (step / transition_steps)`` (floored when ``staircase``).

    >>> s = exponential_decay(1.0, 0.5, transition_steps=10)
    >>> [s(t) for t in (0, 10, 15, 20)]  # halves every 10 steps
    [1.0, 0.5, 0.3536, 0.25]
    >>> exponential_decay(1.0, 0.5, 10, staircase=True)(15)
    0.5
    """
    if transition_steps <= 0:
        raise ValueError(f"exponential_decay: transition_steps must be > 0, got {transition_steps}")

    def schedule(step: int) -> float:
        p = step / transition_steps
        return init_value * decay_rate ** (math.floor(p) if staircase else p)

    return schedule


def step_decay(init_value: float, factor: float, every: int) -> Schedule:
    """``init_value * factor ** (step // every)``: multiply by ``factor`` every ``every`` steps.

    >>> s = step_decay(0.1, 0.1, every=100)
    >>> [round(s(t), 6) for t in (0, 99, 100, 250)]
    [0.1, 0.1, 0.01, 0.001]
    """
    if every <= 0:
        raise ValueError(f"step_decay: every must be > 0, got {every}")
    return lambda step: init_value * factor ** (step // every)


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Cosine from ``init_value`` down to ``alpha * init_value`` over ``decay_steps``, then flat.

    >>> s = cosine_decay(1.0, 100, alpha=0.1)  # 0.1 + 0.9 · ½(1 + cos(π t / 100))
    >>> [round(s(t), 3) for t in (0, 50, 100, 200)]
    [1.0, 0.55, 0.1, 0.1]
    """
    if decay_steps <= 0:
        raise ValueError(f"cosine_decay: decay_steps must be > 0, got {decay_steps}")

    def schedule(step: int) -> float:
        t = min(step, decay_steps) / decay_steps
        return init_value * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha)

    return schedule


def linear(init_value: float, end_value: float, transition_steps: int) -> Schedule:
    """Linear from ``init_value`` to ``end_value`` over ``transition_steps``, then flat.

    >>> s = linear(1.0, 0.0, transition_steps=4)
    >>> [s(t) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    if transition_steps <= 0:
        raise ValueError(f"linear: transition_steps must be > 0, got {transition_steps}")

    def schedule(step: int) -> float:
        t = min(step, transition_steps) / transition_steps
        return init_value + (end_value - init_value) * t

    return schedule


def warmup(schedule: Schedule | float, warmup_steps: int) -> Schedule:
    """Linear warm-up from 0 over ``warmup_steps``, then ``schedule`` (shifted to start at 0).

    >>> s = warmup(0.1, 4)
    >>> [round(s(t), 3) for t in range(6)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.1]
    """
    after = constant(schedule) if isinstance(schedule, float | int) else schedule
    if warmup_steps <= 0:
        raise ValueError(f"warmup: warmup_steps must be > 0, got {warmup_steps}")

    def wrapped(step: int) -> float:
        if step < warmup_steps:
            return after(0) * step / warmup_steps
        return after(step - warmup_steps)

    return wrapped
