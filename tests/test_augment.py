"""random_flip and random_crop: keyed and reproducible, identity at evaluation, equal to a naive
loop over the examples, finite-difference checked (single models and stacks), clear refusals,
and trained through ``fit`` in front of a conv net."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import check, layers, losses, optim, train
from fnnet.arrays import Array
from fnnet.layers.augment import random_crop, random_flip

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(7, 5, 6, 2))


def keyed(layer: layers.Layer[Any, Any], x: Array, key: Any) -> tuple[Array, Any]:
    assert layer.forward_keyed is not None
    return layer.forward_keyed(None, x, key)


def naive_crop(x: Array, offsets: Array, p: int) -> Array:
    """Example by example, pixel by pixel: y[n, a, b] = x[n, a + i - p, b + j - p] or 0."""
    y = np.zeros_like(x)
    n_, h, w, _ = x.shape
    for n in range(n_):
        i, j = offsets[n]
        for a in range(h):
            for b in range(w):
                u, v = a + i - p, b + j - p
                if 0 <= u < h and 0 <= v < w:
                    y[n, a, b] = x[n, u, v]
    return y


def test_flip_equals_a_loop_and_is_reproducible_by_key() -> None:
    y, flipped = keyed(random_flip(), IMAGES, 5)
    for n in range(len(IMAGES)):
        want = IMAGES[n, :, ::-1] if flipped[n] else IMAGES[n]
        np.testing.assert_array_equal(y[n], want)
    np.testing.assert_array_equal(keyed(random_flip(), IMAGES, 5)[0], y)
    flips = np.concatenate(
        [keyed(random_flip(), np.zeros((100, 1, 1, 1)), k)[1] for k in range(20)]
    )
    assert 0.45 < flips.mean() < 0.55  # probability 1/2


@pytest.mark.parametrize("padding", [0, 1, 2, 4])
def test_crop_equals_a_loop(padding: int) -> None:
    y, offsets = keyed(random_crop(padding), IMAGES, (3, padding))
    assert offsets.shape == (7, 2) and offsets.min() >= 0 and offsets.max() <= 2 * padding
    np.testing.assert_array_equal(y, naive_crop(IMAGES, offsets, padding))


def test_crop_draws_every_offset() -> None:
    _, offsets = keyed(random_crop(1), np.zeros((500, 3, 3, 1)), 0)
    assert {tuple(o) for o in offsets.tolist()} == {(i, j) for i in range(3) for j in range(3)}


@pytest.mark.parametrize("layer", [random_flip(), random_crop(2)], ids=lambda x: x.name)
def test_identity_in_apply_and_forward_without_a_key(layer: layers.Layer[Any, Any]) -> None:
    np.testing.assert_array_equal(layer.apply(None, IMAGES), IMAGES)
    y, res = layer.forward(None, IMAGES)
    np.testing.assert_array_equal(y, IMAGES)
    np.testing.assert_array_equal(layer.backward(None, res, IMAGES)[1], IMAGES)
    assert layer.init(0, (5, 6, 2)) == ((5, 6, 2), None)


@settings(max_examples=12, deadline=None)
@given(
    lead=st.sampled_from([(), (3,)]),
    shape=st.tuples(st.integers(1, 4), st.integers(2, 5), st.integers(2, 5), st.integers(1, 3)),
    padding=st.integers(0, 1),
    key=st.integers(0, 2**16),
)
def test_gradients(
    lead: tuple[int, ...], shape: tuple[int, int, int, int], padding: int, key: int
) -> None:
    x = np.random.default_rng(key).normal(size=lead + shape)
    for layer in (random_flip(), random_crop(padding)):
        result = check.check_layer(layer, None, x, key=key)
        assert result.ok, (layer.name, result)


@pytest.mark.parametrize("layer", [random_flip(), random_crop(1)], ids=lambda x: x.name)
def test_a_stack_sees_what_each_model_sees_alone(layer: layers.Layer[Any, Any]) -> None:
    xs = RNG.normal(size=(3, *IMAGES.shape))
    stacked, _ = keyed(layer, xs, (1, 2))
    for m in range(3):
        np.testing.assert_array_equal(stacked[m], keyed(layer, xs[m], (1, 2))[0])


def test_float32_stays_float32() -> None:
    x = IMAGES.astype(np.float32)
    for layer in (random_flip(), random_crop(1)):
        y, res = keyed(layer, x, 0)
        assert y.dtype == np.float32
        assert layer.backward(None, res, y)[1].dtype == np.float32


def test_refusals_name_the_layer_and_the_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"random_flip\(\): argument 'x' must have shape \(\.\.\., N, H, W, C\), got \(4, 3\)",
    ):
        keyed(random_flip(), np.ones((4, 3)), 0)
    with pytest.raises(ValueError, match=r"random_crop\(3\): argument 'padding' must be smaller"):
        keyed(random_crop(3), np.ones((2, 3, 3, 1)), 0)
    with pytest.raises(ValueError, match=r"random_crop\(3\): input_shape .* H and W >= 4"):
        random_crop(3).init(0, (3, 3, 1))
    with pytest.raises(ValueError, match=r"random_flip\(\): input_shape must be one image"):
        random_flip().init(0, (4,))
    with pytest.raises(ValueError, match=r"random_crop"):
        random_crop(-1)
    _, offsets = keyed(random_crop(1), IMAGES, 0)
    with pytest.raises(ValueError, match=r"random_crop\(1\): argument 'dy' .* 7 examples"):
        random_crop(1).backward(None, offsets, IMAGES[:3])
    with pytest.raises(TypeError, match=r"random_flip\(\): argument 'dy'"):
        random_flip().backward(None, None, np.ones((1, 2, 2, 1), dtype=np.int64))


def test_fit_trains_through_the_augmentation_and_evaluates_without_it() -> None:
    body = (layers.conv2d(2, 3, padding="same"), layers.relu, layers.flatten(), layers.dense(2))
    net, plain = layers.serial(random_crop(1), random_flip(), *body), layers.serial(*body)
    x = RNG.normal(size=(16, 5, 5, 1))
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    _, p0 = net.init(0, (5, 5, 1))

    def fit(model: layers.Layer[Any, Any], params: Any) -> train.FitResult[Any, Any]:
        loss, opt = losses.softmax_cross_entropy, optim.adam(0.01)
        return train.fit(model, loss, opt, params, (x, y), epochs=3, key=4)

    result, again, unaugmented = fit(net, p0), fit(net, p0), fit(plain, p0[2:])
    assert np.isfinite(result.history["loss"]).all()
    np.testing.assert_array_equal(result.history["loss"], again.history["loss"])  # by key
    assert not np.array_equal(result.history["loss"], unaugmented.history["loss"])
    evaluated = net.apply(result.params, x)
    np.testing.assert_array_equal(evaluated, plain.apply(result.params[2:], x))
