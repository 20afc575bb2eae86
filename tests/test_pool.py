"""max_pool2d and avg_pool2d: finite differences (random shapes and strides, stacked models), a
naive loop reference, deterministic ties, stack equivalence, dtypes and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check
from fnnet.arrays import Array
from fnnet.layers.base import Layer
from fnnet.layers.pool import avg_pool2d, max_pool2d

POOLS: dict[str, Callable[..., Layer[None, Any]]] = {"max": max_pool2d, "avg": avg_pool2d}


def naive_pool(kind: str, x: Array, size: tuple[int, int], stride: tuple[int, int]) -> Array:
    """Pooling of ``(N, H, W, C)`` by loops over examples, output pixels and channels."""
    n, h, w, c = x.shape
    ho, wo = (h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1
    y = np.zeros((n, ho, wo, c))
    for e in range(n):
        for i in range(ho):
            for j in range(wo):
                for k in range(c):
                    r, s = i * stride[0], j * stride[1]
                    window = x[e, r : r + size[0], s : s + size[1], k]
                    y[e, i, j, k] = window.max() if kind == "max" else window.mean()
    return y


@pytest.mark.parametrize("kind", list(POOLS))
@pytest.mark.parametrize(
    ("size", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2)), ((1, 2), 1), (3, 3)]
)
def test_matches_naive_loops(kind: str, size: Any, stride: Any) -> None:
    layer = POOLS[kind](size, stride)
    s2 = (size, size) if isinstance(size, int) else size
    st2 = s2 if stride is None else (stride, stride) if isinstance(stride, int) else stride
    x = np.random.default_rng(0).normal(size=(2, 7, 8, 3))
    out_shape, _ = layer.init(0, (7, 8, 3))
    expected = naive_pool(kind, x, s2, st2)
    np.testing.assert_allclose(layer.apply(None, x), expected, rtol=1e-12)
    y, _ = layer.forward(None, x)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert y.shape[1:] == out_shape


@pytest.mark.parametrize("kind", list(POOLS))
@settings(max_examples=15, deadline=None)
@given(
    lead=st.sampled_from([(), (2,)]),
    n=st.integers(1, 2),
    hw=st.tuples(st.integers(2, 7), st.integers(2, 7)),
    c=st.integers(1, 3),
    size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    key=st.integers(0, 2**16),
)
def test_gradients_random_shapes_and_strides(
    kind: str,
    lead: tuple[int, ...],
    n: int,
    hw: tuple[int, int],
    c: int,
    size: tuple[int, int],
    stride: tuple[int, int] | None,
    key: int,
) -> None:
    size = (min(size[0], hw[0]), min(size[1], hw[1]))
    x = np.random.default_rng(key).normal(size=(*lead, n, *hw, c))
    result = check.check_layer(POOLS[kind](size, stride), None, x, key=key, max_elements=60)
    assert result.ok, str(result)


@pytest.mark.parametrize("kind", list(POOLS))
def test_gradients_stacked_model_shape(kind: str) -> None:
    x = np.random.default_rng(3).normal(size=(3, 2, 6, 5, 2))
    result = check.check_layer(POOLS[kind](2, 1), None, x, key=3)
    assert result.ok, str(result)


@pytest.mark.parametrize("kind", list(POOLS))
def test_stack_of_three_equals_three_separate_calls(kind: str) -> None:
    layer: Layer[None, Any] = POOLS[kind](3, 2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 7, 7, 4))
    y, res = layer.forward(None, x)
    dy = rng.normal(size=y.shape)
    _, dx = layer.backward(None, res, dy)
    for m in range(3):
        ym, rm = layer.forward(None, x[m])
        np.testing.assert_array_equal(y[m], ym)
        np.testing.assert_array_equal(layer.apply(None, x)[m], ym)
        np.testing.assert_allclose(dx[m], layer.backward(None, rm, dy[m])[1], rtol=1e-12)


def test_max_pool_ties_go_to_the_first_max_in_row_major_order() -> None:
    layer = max_pool2d(2)
    x = np.zeros((1, 4, 4, 2))
    x[0, 2:, 2:, 0] = [[1.0, 3.0], [3.0, 3.0]]  # three equal maxima: (0, 1) wins
    x[0, 2:, 2:, 1] = 5.0  # all four equal: (0, 0) wins
    y, res = layer.forward(None, x)
    _, dx = layer.backward(None, res, np.ones_like(y))
    np.testing.assert_array_equal(dx[0, 2:, 2:, 0], [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(dx[0, 2:, 2:, 1], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(dx[0, :2, :2, 0], [[1.0, 0.0], [0.0, 0.0]])  # all zeros
    assert dx.sum() == y.size  # each window's gradient reaches exactly one element


def test_overlapping_max_windows_accumulate_and_dropped_edges_get_zero() -> None:
    x = np.zeros((1, 3, 4, 1))
    x[0, 1, 1, 0] = 1.0  # the max of both 2x2 windows (stride 1) covering it in row 0..1
    y, res = max_pool2d(2, 1).forward(None, x)
    _, dx = max_pool2d(2, 1).backward(None, res, np.ones_like(y))
    assert dx[0, 1, 1, 0] == 4.0  # wins all four windows that contain it
    _, dx = max_pool2d(2).backward(None, max_pool2d(2).forward(None, x)[1], np.ones((1, 1, 2, 1)))
    np.testing.assert_array_equal(dx[0, 2], 0.0)  # row 2 fills no window


@pytest.mark.parametrize("kind", list(POOLS))
def test_float32_in_float32_out(kind: str) -> None:
    layer: Layer[None, Any] = POOLS[kind](2)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    y, res = layer.forward(None, x)
    _, dx = layer.backward(None, res, np.ones_like(y))
    assert y.dtype == dx.dtype == layer.apply(None, x).dtype == np.float32


@pytest.mark.parametrize("kind", list(POOLS))
def test_errors(kind: str) -> None:
    name = f"{kind}_pool2d"
    layer: Layer[None, Any] = POOLS[kind](3)
    with pytest.raises(ValueError, match=rf"{name}: argument 'x' must have shape .*\(4, 4, 1\)"):
        layer.apply(None, np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match=rf"{name}: argument 'x' \(1, 2, 4, 1\) spatial size"):
        layer.apply(None, np.zeros((1, 2, 4, 1)))
    with pytest.raises(TypeError, match=rf"{name}: argument 'x' must be a floating"):
        layer.apply(None, np.zeros((1, 4, 4, 1), np.int32))
    with pytest.raises(ValueError, match=rf"{name}: input_shape must be \(H, W, C\)"):
        layer.init(0, (4, 4))
    with pytest.raises(ValueError, match=rf"{name}: input_shape spatial size \(2, 2\)"):
        layer.init(0, (2, 2, 1))
    with pytest.raises(ValueError, match=rf"{name}: argument 'size'"):
        POOLS[kind](0)
    with pytest.raises(ValueError, match=rf"{name}: argument 'stride'"):
        POOLS[kind](2, -1)
