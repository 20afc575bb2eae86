"""Regression tests: losses refuse float16 predictions (both paths of softmax_cross_entropy)
and bool soft targets."""

from __future__ import annotations

import numpy as np
import pytest

from fnnet import losses

Z = np.array([[0.5, -0.5, 0.0], [1.0, 0.0, -1.0]])
LABELS = np.array([0, 2])


def test_softmax_cross_entropy_refuses_float16_logits_with_labels_or_rows() -> None:
    with pytest.raises(TypeError, match="softmax_cross_entropy: argument 'pred' must be float32"):
        losses.softmax_cross_entropy(Z.astype(np.float16), LABELS)
    rows = np.eye(3, dtype=np.float16)[LABELS]
    with pytest.raises(TypeError, match="softmax_cross_entropy: argument 'pred' must be float32"):
        losses.softmax_cross_entropy(Z.astype(np.float16), rows)


def test_softmax_cross_entropy_refuses_a_bool_soft_target() -> None:
    with pytest.raises(TypeError, match="softmax_cross_entropy: argument 'target' is a bool"):
        losses.softmax_cross_entropy(Z, np.eye(3, dtype=bool)[LABELS])


def test_every_loss_refuses_float16_pred() -> None:
    p = np.full((2, 1), 0.5, np.float16)
    for loss in (losses.mse, losses.half_mse, losses.binary_cross_entropy):
        with pytest.raises(TypeError, match="argument 'pred' must be float32 or float64"):
            loss(p, p)


def test_float32_labels_and_rows_still_agree() -> None:
    z = Z.astype(np.float32)
    v1, g1 = losses.softmax_cross_entropy(z, LABELS)
    v2, g2 = losses.softmax_cross_entropy(z, np.eye(3, dtype=np.float32)[LABELS])
    assert v1.dtype == g1.dtype == np.float32
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    np.testing.assert_allclose(g1, g2, rtol=1e-6)
