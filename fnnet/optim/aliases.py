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
    """Plain gradient descent: ``p ← p − η g``."""
    return chain(scale_by_learning_rate(learning_rate))


def momentum(learning_rate: LR, beta: Hyper = 0.9) -> Optimizer[tuple[Any, ...]]:
    """Heavy-ball momentum (PyTorch's ``SGD(momentum=β)``): ``m ← βm + g``; ``p ← p − η m``."""
    return chain(trace(beta), scale_by_learning_rate(learning_rate))


def nesterov(learning_rate: LR, beta: Hyper = 0.9) -> Optimizer[tuple[Any, ...]]:
    """Nesterov momentum: ``m ← βm + g``; ``p ← p − η (g + βm)``."""
    return chain(trace(beta, nesterov=True), scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: LR, eps: Hyper = 1e-10) -> Optimizer[tuple[Any, ...]]:
    """Adagrad: ``a ← a + g²``; ``p ← p − η g / (√a + ε)``."""
    return chain(scale_by_adagrad(eps), scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: LR, decay: Hyper = 0.9, eps: Hyper = 1e-8) -> Optimizer[tuple[Any, ...]]:
    """RMSProp: ``v ← ρv + (1−ρ)g²``; ``p ← p − η g / (√v + ε)``."""
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: LR, b1: Hyper = 0.9, b2: Hyper = 0.999, eps: Hyper = 1e-8
) -> Optimizer[tuple[Any, ...]]:
    """Adam (Kingma & Ba) with bias correction."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: LR,
    b1: Hyper = 0.9,
    b2: Hyper = 0.999,
    eps: Hyper = 1e-8,
    weight_decay: Hyper = 1e-4,
) -> Optimizer[tuple[Any, ...]]:
    """AdamW: Adam with decoupled weight decay ``p ← p − η (adam(g) + λ p)``."""
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
