"""conv2d: finite differences (random shapes, strides, paddings, stacked models), a naive loop
reference, stack equivalence, shape inference of a CNN, dtypes and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, losses, tree
from fnnet.arrays import Array
from fnnet.layers import conv as conv_module
from fnnet.layers.activations import relu
from fnnet.layers.base import init_stack
from fnnet.layers.combinators import serial
from fnnet.layers.conv import ConvParams, Padding, conv2d
from fnnet.layers.dense import dense
from fnnet.layers.dropout import dropout
from fnnet.layers.pool import max_pool2d
from fnnet.layers.reshape import flatten
from fnnet.layers.windows import Window, as_pair, col2im, example_blocks, im2col

PADDINGS: list[Padding] = [0, 1, (1, 0), (0, 2), "same", "valid"]


def naive_conv(
    x: Array, w: Array, b: Array, stride: tuple[int, int], pads: tuple[tuple[int, int], ...]
) -> Array:
    """Cross-correlation by explicit loops over examples, pixels, channels and the kernel."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    (pt, pb), (pl, pr) = pads
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    xp[:, pt : pt + h, pl : pl + wd, :] = x
    ho = (h + pt + pb - kh) // stride[0] + 1
    wo = (wd + pl + pr - kw) // stride[1] + 1
    y = np.zeros((n, ho, wo, o))
    for e in range(n):
        for i in range(ho):
            for j in range(wo):
                field = xp[
                    e, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw
                ]
                for f in range(o):
                    y[e, i, j, f] = b[f] + sum(
                        field[a, d, k] * w[a, d, k, f]
                        for a in range(kh)
                        for d in range(kw)
                        for k in range(c)
                    )
    return y


def random_params(layer: Any, key: int, input_shape: tuple[int, ...], models: int) -> ConvParams:
    if models:
        _, params = init_stack(layer, list(range(key, key + models)), input_shape)
    else:
        _, params = layer.init(key, input_shape)
    bias = np.random.default_rng(key + 99).normal(size=params.b.shape)
    return ConvParams(params.w, bias)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "pads"),
    [
        (3, 1, 0, ((0, 0), (0, 0))),
        (3, 1, "same", ((1, 1), (1, 1))),
        ((2, 3), (2, 1), 1, ((1, 1), (1, 1))),
        (2, 2, "same", ((0, 1), (0, 0))),  # H=5: out 3, total pad 1 (bottom); W=6: out 3, none
        ((3, 1), (1, 3), (2, 0), ((2, 2), (0, 0))),
    ],
)
def test_matches_naive_loops(
    kernel: Any, stride: Any, padding: Padding, pads: tuple[tuple[int, int], ...]
) -> None:
    layer = conv2d(3, kernel, stride=stride, padding=padding)
    out_shape, p = layer.init(1, (5, 6, 2))
    p = ConvParams(p.w, np.array([0.5, -1.0, 2.0]))
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 2))
    s = (stride, stride) if isinstance(stride, int) else stride
    expected = naive_conv(x, p.w, p.b, s, pads)
    np.testing.assert_allclose(layer.apply(p, x), expected, rtol=1e-12, atol=1e-12)
    y, _ = layer.forward(p, x)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.shape[1:] == out_shape


@settings(max_examples=20, deadline=None)
@given(
    models=st.sampled_from([0, 2]),
    shared_input=st.booleans(),
    n=st.integers(1, 2),
    hw=st.tuples(st.integers(3, 6), st.integers(3, 6)),
    channels=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from(PADDINGS),
    key=st.integers(0, 2**16),
)
def test_gradients_random_shapes_strides_paddings(
    models: int,
    shared_input: bool,
    n: int,
    hw: tuple[int, int],
    channels: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Padding,
    key: int,
) -> None:
    layer = conv2d(channels[1], kernel, stride=stride, padding=padding)
    params = random_params(layer, key, (*hw, channels[0]), models)
    lead = () if shared_input or not models else (models,)
    x = np.random.default_rng(key).normal(size=(*lead, n, *hw, channels[0]))
    result = check.check_layer(layer, params, x, key=key, max_elements=40)
    assert result.ok, str(result)


def test_gradients_stacked_model_shape() -> None:
    layer = conv2d(4, 3, stride=2, padding="same")
    params = random_params(layer, 3, (7, 6, 3), models=3)
    assert params.w.shape == (3, 3, 3, 3, 4) and params.b.shape == (3, 4)
    x = np.random.default_rng(1).normal(size=(3, 2, 7, 6, 3))
    result = check.check_layer(layer, params, x, key=5, max_elements=80)
    assert result.ok, str(result)


@pytest.mark.parametrize("shared_input", [False, True])
def test_stack_of_three_equals_three_separate_calls(shared_input: bool) -> None:
    layer = conv2d(5, (3, 2), stride=(1, 2), padding=1)
    stacked = random_params(layer, 0, (6, 7, 2), models=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 7, 2) if shared_input else (3, 4, 6, 7, 2))
    y, res = layer.forward(stacked, x)
    dy = rng.normal(size=y.shape)
    grads, dx = layer.backward(stacked, res, dy)
    dx_sum = np.zeros((4, 6, 7, 2))
    for m, p in enumerate(tree.unstack(stacked)):
        xm = x if shared_input else x[m]
        ym, rm = layer.forward(p, xm)
        np.testing.assert_allclose(y[m], ym, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.apply(stacked, x)[m], ym, rtol=1e-12, atol=1e-12)
        gm, dxm = layer.backward(p, rm, dy[m])
        np.testing.assert_allclose(grads.w[m], gm.w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads.b[m], gm.b, rtol=1e-12, atol=1e-12)
        if shared_input:
            dx_sum += dxm
        else:
            np.testing.assert_allclose(dx[m], dxm, rtol=1e-12, atol=1e-12)
    if shared_input:
        np.testing.assert_allclose(dx, dx_sum, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "size", "stride", "padding"),
    [
        ((2, 9, 11, 1), (3, 3), (1, 1), "same"),  # kw·C < Wo: filled offset by offset
        ((2, 9, 11, 2), (2, 3), (2, 1), 1),
        ((2, 5, 6, 8), (3, 3), (1, 1), "same"),  # one strided view
        ((3, 2, 7, 7, 4), (3, 2), (2, 2), 0),  # model axes
    ],
)
def test_im2col_matches_a_naive_gather(
    shape: tuple[int, ...], size: tuple[int, int], stride: tuple[int, int], padding: Padding
) -> None:
    x = np.random.default_rng(0).normal(size=shape)
    win = Window("conv2d", size, stride, padding)
    for xs in (x, np.asfortranarray(x)):  # also an input whose channels are not contiguous
        cols, geo = im2col(win, xs)
        (pt, pb), (pl, pr) = geo.pads
        xp = np.pad(x, [(0, 0)] * (x.ndim - 3) + [(pt, pb), (pl, pr), (0, 0)])
        ho, wo = geo.out
        want = np.stack(
            [
                xp[
                    ...,
                    i * stride[0] : i * stride[0] + size[0],
                    j * stride[1] : j * stride[1] + size[1],
                    :,
                ]
                for i in range(ho)
                for j in range(wo)
            ],
            axis=-4,
        )  # (..., N, Ho·Wo, kh, kw, C)
        np.testing.assert_array_equal(cols, want.reshape(cols.shape))


def whole_batch_conv(
    win: Window, p: ConvParams, x: Array, dy: Array
) -> tuple[Array, Array, Array, Array]:
    """``(y, dW, db, dx)`` the straightforward way: one im2col matrix for the whole batch."""
    *models, kh, kw, c, o = p.w.shape
    cols, geo = im2col(win, x)
    y = cols @ p.w.reshape(*models, kh * kw * c, o) + p.b[..., None, :]
    dy2 = dy.reshape(*dy.shape[:-4], -1, o)
    dw = (cols.swapaxes(-1, -2) @ dy2).reshape(p.w.shape)
    dcols = dy2[..., None, :, :] @ p.w.reshape(*models, kh * kw, c, o).swapaxes(-1, -2)
    if x.ndim == 4 and models:
        dcols = dcols.sum(axis=0)
    dx = col2im(win, dcols, x.shape, geo)
    return y.reshape(dy.shape), dw, dy2.sum(axis=-2), dx


@pytest.mark.parametrize("models", [0, 3])
@pytest.mark.parametrize("shared_input", [False, True])
@pytest.mark.parametrize(
    ("stride", "padding"),
    [(1, "same"), (1, 0), (1, (2, 0)), (1, 3), (2, "same"), ((1, 2), 0)],
)  # dx as a correlation (stride 1, padding below the kernel's size) for the first 3, col2im else
def test_blocks_of_examples_equal_one_whole_batch_im2col(
    models: int, shared_input: bool, stride: Any, padding: Padding, monkeypatch: Any
) -> None:
    """The forward and backward run block by block of examples; with a batch of several
    blocks (made small here) they equal one im2col matrix for the whole batch."""
    monkeypatch.setattr(conv_module, "BLOCK_VALUES", 1000)
    layer = conv2d(4, 3, stride=stride, padding=padding)
    params = random_params(layer, 2, (6, 7, 3), models)
    lead = () if shared_input or not models else (models,)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(*lead, 11, 6, 7, 3))
    y, res = layer.forward(params, x)
    win = Window("conv2d", (3, 3), as_pair("conv2d", "stride", stride), padding)
    per_example = (models if lead else 1) * y.shape[-3] * y.shape[-2] * 3 * 3 * 3
    assert len(example_blocks(11, per_example, 1000)) > 2
    dy = rng.normal(size=y.shape)
    grads, dx = layer.backward(params, res, dy)
    want_y, want_dw, want_db, want_dx = whole_batch_conv(win, params, x, dy)
    for got, want in [(y, want_y), (grads.w, want_dw), (grads.b, want_db), (dx, want_dx)]:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_same_padding_output_shapes() -> None:
    for size, stride, expected in [(28, 1, 28), (28, 2, 14), (7, 2, 4), (5, 3, 2)]:
        out, _ = conv2d(2, 3, stride=stride, padding="same").init(0, (size, size, 1))
        assert out == (expected, expected, 2)


def test_cnn_shape_inference_from_input_shape_alone() -> None:
    net = serial(
        conv2d(32, 3, padding="same"),
        relu,
        max_pool2d(2),
        conv2d(64, 3, padding="same"),
        relu,
        max_pool2d(2),
        flatten(),
        dense(128),
        relu,
        dropout(0.3),
        dense(10),
    )
    out, params = net.init(0, (28, 28, 1))
    assert out == (10,)
    assert params[0].w.shape == (3, 3, 1, 32) and params[3].w.shape == (3, 3, 32, 64)
    assert params[7].w.shape == (7 * 7 * 64, 128) and params[10].w.shape == (128, 10)
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1))
    assert net.apply(params, x).shape == (2, 10)
    assert net.forward_keyed is not None
    assert net.forward_keyed(params, x, 0)[0].shape == (2, 10)


def test_small_cnn_gradient_through_the_whole_model() -> None:
    net = serial(
        conv2d(3, 3, padding="same"),
        relu,
        max_pool2d(2),
        conv2d(4, 2, stride=2),
        relu,
        flatten(),
        dense(3),
    )
    _, params = net.init(0, (8, 8, 2))
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 2))
    labels = np.array([0, 2, 1])
    result = check.check_model(net, losses.softmax_cross_entropy, params, x, labels)
    assert result.ok, str(result)


def test_float32_in_float32_out() -> None:
    layer = conv2d(4, 3, padding="same", dtype=np.float32)
    _, p = layer.init(0, (6, 6, 2))
    assert p.w.dtype == p.b.dtype == np.float32
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)
    y, res = layer.forward(p, x)
    grads, dx = layer.backward(p, res, np.ones_like(y))
    assert y.dtype == dx.dtype == grads.w.dtype == grads.b.dtype == np.float32
    assert layer.apply(p, x).dtype == np.float32


def test_input_is_not_modified() -> None:
    layer = conv2d(2, 2, padding=1)
    _, p = layer.init(0, (4, 4, 1))
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1))
    before = x.copy()
    y, res = layer.forward(p, x)
    layer.backward(p, res, y)
    np.testing.assert_array_equal(x, before)


def test_errors_name_the_function_argument_and_shapes() -> None:
    layer = conv2d(4, 3)
    _, p = layer.init(0, (5, 5, 2))
    with pytest.raises(ValueError, match=r"conv2d: argument 'x'.*N, H, W, C.*\(5, 5, 2\)"):
        layer.apply(p, np.zeros((5, 5, 2)))
    with pytest.raises(
        ValueError, match=r"conv2d: argument 'x' must have 2 channels.*\(1, 5, 5, 3\)"
    ):
        layer.apply(p, np.zeros((1, 5, 5, 3)))
    with pytest.raises(TypeError, match="conv2d: argument 'x' has dtype float32"):
        layer.apply(p, np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(TypeError, match="conv2d: argument 'x' must be a floating"):
        layer.apply(p, np.zeros((1, 5, 5, 2), np.int64))
    with pytest.raises(ValueError, match=r"conv2d: argument 'x' \(2, 1, 5, 5, 2\) has model axes"):
        layer.apply(p, np.zeros((2, 1, 5, 5, 2)))
    with pytest.raises(
        ValueError, match=r"conv2d: argument 'x' \(1, 2, 5, 2\) spatial size \(2, 5\)"
    ):
        layer.apply(p, np.zeros((1, 2, 5, 2)))
    with pytest.raises(ValueError, match=r"conv2d: input_shape must be \(H, W, C\)"):
        layer.init(0, (5, 5))
    with pytest.raises(ValueError, match="conv2d: argument 'kernel_size'"):
        conv2d(4, 0)
    with pytest.raises(ValueError, match="conv2d: argument 'stride'"):
        conv2d(4, 3, stride=(1, 2, 3))  # type: ignore[arg-type]  # the wrong type is the test
    with pytest.raises(ValueError, match="conv2d: argument 'padding'"):
        conv2d(4, 3, padding="full")  # type: ignore[arg-type]  # the wrong value is the test
    with pytest.raises(ValueError, match="conv2d: argument 'out_channels'"):
        conv2d(0, 3)
