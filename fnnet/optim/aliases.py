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

from fnnet.optim.base import Hyper, Optimizer
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

LR = Hyper | Schedule


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
    return chain(scale_by_learning_rate(learning_rate))


def momentum(learning_rate: LR, beta: Hyper = 0.9) -> Optimizer[tuple[Any, ...]]:
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
    return chain(trace(beta), scale_by_learning_rate(learning_rate))


def nesterov(learning_rate: LR, beta: Hyper = 0.9) -> Optimizer[tuple[Any, ...]]:
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
    return chain(trace(beta, nesterov=True), scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: LR, eps: Hyper = 1e-10) -> Optimizer[tuple[Any, ...]]:
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
    return chain(scale_by_adagrad(eps), scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: LR, decay: Hyper = 0.9, eps: Hyper = 1e-8) -> Optimizer[tuple[Any, ...]]:
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
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: LR, b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8
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
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: LR,
    b1: Hyper = 0.9,
    b2: Hyper = 0.999,
    eps: Hyper = 1e-8,
    weight_decay: Hyper = 1e-4,
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
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
