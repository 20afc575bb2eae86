"""Placeholder until the mlp kernels land: no kernel for any model."""

from __future__ import annotations

from typing import Any


def fused(model: Any) -> Any:
    return None


def flat(model: Any, input_shape: tuple[int, ...]) -> Any:
    return None
