"""The usual optimizers, each a ``chain`` of transforms (see ``transforms`` for the math).

>>> import numpy as np
>>> opt = sgd(0.5)
>>> p = [np.array([1.0])]
>>> u, s = opt.update([np.array([2.0])], opt.init(p), p)
>>> u[0].tolist(), s[0].learning_rate
([-1.0], 0.5)
"""

from __future__ import annotations

from typing import Any

from fnnet.optim.base import Hyper, HyperArg, Optimizer, hyperparameter
from fnnet.optim.combinators import chain
from fnnet.optim.schedules import Schedule
from fnnet.optim.transforms import (
    add_decayed_weights,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)

__all__ = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]

LR = HyperArg | Schedule


def _rate(fn: str, learning_rate: object) -> Hyper | Schedule:
    """The alias's own check of its learning rate (a schedule is checked at every step), so an
    error names the function the user called.

    >>> _rate("sgd", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: sgd: argument 'learning_rate' must be >= 0, got -1.0
    """
    if callable(learning_rate):
        return learning_rate  # a schedule: checked at every step
    return hyperparameter(fn, "learning_rate", learning_rate, 0.0)


def _unit(fn: str, name: str, value: object, open_high: bool = False) -> Hyper:
    """A decay rate in [0, 1] (or [0, 1) with ``open_high``), checked under the alias's name."""
    return hyperparameter(fn, name, value, 0.0, 1.0, open_high=open_high)


def _eps(fn: str, value: object) -> Hyper:
    """An ``eps`` > 0, checked under the alias's name."""
    return hyperparameter(fn, "eps", value, 0.0, open_low=True)


def sgd(learning_rate: LR) -> Optimizer[tuple[Any, ...]]:
    """Plain gradient descent: ``p ← p − η g``.

    >>> import numpy as np
    >>> opt, p = sgd(0.1), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # η g
    [-0.2, -0.2]
    """
    return chain(scale_by_learning_rate(_rate("sgd", learning_rate)))


def momentum(learning_rate: LR, beta: HyperArg = 0.9) -> Optimizer[tuple[Any, ...]]:
    """Heavy-ball momentum (PyTorch's ``SGD(momentum=β)``): ``m ← βm + g``; ``p ← p − η m``.

    >>> import numpy as np
    >>> opt, p = momentum(0.1, beta=0.9), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # m = 2, then 0.9·2 + 2
    [-0.2, -0.38]
    """
    lr, beta = _rate("momentum", learning_rate), _unit("momentum", "beta", beta)
    return chain(trace(beta), scale_by_learning_rate(lr))


def nesterov(learning_rate: LR, beta: HyperArg = 0.9) -> Optimizer[tuple[Any, ...]]:
    """Nesterov momentum: ``m ← βm + g``; ``p ← p − η (g + βm)``.

    >>> import numpy as np
    >>> opt, p = nesterov(0.1, beta=0.9), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # η (g + βm)
    [-0.38, -0.542]
    """
    lr, beta = _rate("nesterov", learning_rate), _unit("nesterov", "beta", beta)
    return chain(trace(beta, nesterov=True), scale_by_learning_rate(lr))


def adagrad(learning_rate: LR, eps: HyperArg = 1e-10) -> Optimizer[tuple[Any, ...]]:
    """Adagrad: ``a ← a + g²``; ``p ← p − η g / (√a + ε)``.

    >>> import numpy as np
    >>> opt, p = adagrad(0.1), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # η g / √(Σg²): 2/2, then 2/√8
    [-0.1, -0.0707]
    """
    lr, eps = _rate("adagrad", learning_rate), _eps("adagrad", eps)
    return chain(scale_by_adagrad(eps), scale_by_learning_rate(lr))


def rmsprop(
    learning_rate: LR, decay: HyperArg = 0.9, eps: HyperArg = 1e-8
) -> Optimizer[tuple[Any, ...]]:
    """RMSProp: ``v ← ρv + (1−ρ)g²``; ``p ← p − η g / (√v + ε)``.

    >>> import numpy as np
    >>> opt, p = rmsprop(0.1, decay=0.9), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # v = 0.4, then 0.76
    [-0.3162, -0.2294]
    """
    lr, eps = _rate("rmsprop", learning_rate), _eps("rmsprop", eps)
    decay = _unit("rmsprop", "decay", decay, open_high=True)
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(lr))


def adam(
    learning_rate: LR, b1: HyperArg = 0.9, b2: HyperArg = 0.999, eps: HyperArg = 1e-8
) -> Optimizer[tuple[Any, ...]]:
    """Adam (Kingma & Ba) with bias correction.

    >>> import numpy as np
    >>> opt, p = adam(0.1), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # bias-corrected: a step of about η
    [-0.1, -0.1]
    """
    lr, eps = _rate("adam", learning_rate), _eps("adam", eps)
    b1, b2 = _unit("adam", "b1", b1, open_high=True), _unit("adam", "b2", b2, open_high=True)
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


def adamw(
    learning_rate: LR,
    b1: HyperArg = 0.9,
    b2: HyperArg = 0.999,
    eps: HyperArg = 1e-8,
    weight_decay: HyperArg = 1e-4,
) -> Optimizer[tuple[Any, ...]]:
    """AdamW: Adam with decoupled weight decay ``p ← p − η (adam(g) + λ p)``.

    >>> import numpy as np
    >>> opt, p = adamw(0.1, weight_decay=1e-4), [np.array([1.0])]  # params: a list of one leaf
    >>> state, steps = opt.init(p), []
    >>> for _ in range(2):  # two steps with gradient 2
    ...     u, state = opt.update([np.array([2.0])], state, p)
    ...     steps.append(float(u[0][0]))
    >>> steps  # adam plus η λ p
    [-0.10001, -0.10001]
    """
    lr, eps = _rate("adamw", learning_rate), _eps("adamw", eps)
    b1, b2 = _unit("adamw", "b1", b1, open_high=True), _unit("adamw", "b2", b2, open_high=True)
    weight_decay = hyperparameter("adamw", "weight_decay", weight_decay, 0.0)
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
