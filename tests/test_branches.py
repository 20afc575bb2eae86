"""Branches and residual blocks: tuples through serial, naive equality, finite differences on
random and stacked shapes, a residual MLP with layer norm, stateful children, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mypy import api

from fnnet import check, layers, losses, tree
from fnnet.arrays import Array
from fnnet.layers import Layer, state
from fnnet.layers.branches import (
    fan_in_concat,
    fan_in_sum,
    fan_out,
    pack,
    pack_shapes,
    parallel,
    residual,
)
from fnnet.layers.normalization import batch_norm, layer_norm


def stateful_serial(*parts: Layer[Any, Any]) -> Layer[Any, Any]:
    """``serial`` with its state composed (what ``serial`` does itself once it calls
    ``state.compose``)."""
    return state.attach(layers.serial(*parts), state.compose(parts))


def init(layer: Layer[Any, Any], models: tuple[int, ...], shape: Any, key: int = 0) -> Any:
    if models:
        return layers.init_stack(layer, [key + i for i in range(models[0])], shape)[1]
    params = layer.init(key, shape)[1]
    rng = np.random.default_rng(key)
    return tree.tree_map(lambda a: a + 0.1 * rng.normal(size=a.shape), params)


cases = st.tuples(
    st.sampled_from([(), (3,)]),  # model axes
    st.booleans(),  # x shared by a stack
    st.integers(1, 4),  # examples
    st.integers(1, 4),  # features
    st.integers(0, 2**16),  # key
)


def _x(case: tuple[Any, ...], *example: int) -> Array:
    models, shared, n, _, key = case
    lead = () if shared else models
    return np.random.default_rng(key + 1).normal(size=(*lead, n, *example))


# --- tuples flow through serial ------------------------------------------------------------------


def test_tuples_flow_through_serial_forward_and_backward() -> None:
    a, b = layers.dense(3), layers.serial(layers.dense(3), layers.tanh)
    net = layers.serial(fan_out(2), parallel(a, b), fan_in_sum())
    shape, params = net.init(0, (2,))
    assert shape == (3,) and params[0] is None and params[2] is None
    x = np.random.default_rng(0).normal(size=(5, 2))
    pa, pb = params[1]
    y, res = net.forward(params, x)
    np.testing.assert_allclose(y, a.apply(pa, x) + b.apply(pb, x), rtol=1e-12)
    np.testing.assert_array_equal(net.apply(params, x), y)
    dy = np.ones_like(y)
    (_, (dpa, dpb), _), dx = net.backward(params, res, dy)
    dpa_alone, dxa = a.backward(pa, a.forward(pa, x)[1], dy)
    dpb_alone, dxb = b.backward(pb, b.forward(pb, x)[1], dy)
    np.testing.assert_allclose(dpa.w, dpa_alone.w, rtol=1e-12)
    np.testing.assert_allclose(dx, dxa + dxb, rtol=1e-12)
    assert check.check_layer(net, params, x).ok


@settings(max_examples=20, deadline=None)
@given(case=cases)
def test_branch_gradients_on_random_and_stacked_shapes(case: tuple[Any, ...]) -> None:
    models, _, _, f, key = case
    net = layers.serial(
        fan_out(3),
        parallel(layers.dense(f), layers.serial(layers.dense(2), layers.tanh), layers.identity),
        fan_in_concat(),
        layers.dense(1),
    )
    params = init(net, models, (f,), key)
    result = check.check_layer(net, params, _x(case, f), key=key)
    assert result.ok, str(result)


@settings(max_examples=20, deadline=None)
@given(case=cases, project=st.booleans())
def test_residual_gradients_on_random_and_stacked_shapes(
    case: tuple[Any, ...], project: bool
) -> None:
    models, _, _, f, key = case
    inner = layers.serial(layers.dense(f + 1), layers.tanh, layers.dense(f + project))
    block: Layer[Any, Any] = residual(inner, layers.dense(f + 1)) if project else residual(inner)
    params = init(block, models, (f,), key)
    result = check.check_layer(block, params, _x(case, f), key=key)
    assert result.ok, str(result)


def test_residual_with_a_conv_projection_on_images() -> None:
    inner = layers.serial(layers.conv2d(4, 3, padding="same"), layers.relu)
    block = residual(inner, projection=layers.conv2d(4, 1))
    for models in [(), (3,)]:
        params = init(block, models, (5, 5, 2))
        x = np.random.default_rng(1).normal(size=(*models, 2, 5, 5, 2))
        result = check.check_layer(block, params, x, max_elements=60)
        assert result.ok, str(result)


def test_residual_is_the_stax_composition() -> None:
    inner = layers.serial(layers.dense(3), layers.relu, layers.dense(3))
    block = residual(inner)
    stax = layers.serial(fan_out(2), parallel(inner, layers.identity), fan_in_sum())
    _, p = block.init(0, (3,))
    q = (None, (p, None), None)
    x = np.random.default_rng(0).normal(size=(4, 3))
    y, r = block.forward(p, x)
    np.testing.assert_allclose(y, x + inner.apply(p, x), rtol=1e-12)
    np.testing.assert_allclose(y, stax.apply(q, x), rtol=1e-12)
    dp, dx = block.backward(p, r, y)
    (_, (dq, _), _), dx_stax = stax.backward(q, stax.forward(q, x)[1], y)
    np.testing.assert_allclose(dx, dx_stax, rtol=1e-12)
    for a, b in zip(tree.leaves(dp), tree.leaves(dq), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("shared", [False, True])
def test_stack_of_three_equals_three_separate_calls(shared: bool) -> None:
    inner = layers.serial(layers.dense(4), layers.tanh, layers.dense(3))
    net = layers.serial(
        residual(inner), fan_out(2), parallel(layers.dense(2), layers.relu), fan_in_concat()
    )
    _, params = layers.init_stack(net, [0, 1, 2], (3,))
    x = np.random.default_rng(0).normal(size=(5, 3) if shared else (3, 5, 3))
    y, res = net.forward(params, x)
    dy = np.random.default_rng(1).normal(size=y.shape)
    dp, dx = net.backward(params, res, dy)
    for i in range(3):
        xi = x if shared else x[i]
        yi, ri = net.forward(tree.index(params, i), xi)
        dpi, dxi = net.backward(tree.index(params, i), ri, dy[i])
        np.testing.assert_allclose(y[i], yi, rtol=1e-12)
        for a, b in zip(tree.leaves(tree.index(dp, i)), tree.leaves(dpi), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        if not shared:
            np.testing.assert_allclose(dx[i], dxi, rtol=1e-12)
    if shared:  # summed over the models
        total = sum(net.backward(tree.index(params, i), net.forward(tree.index(params, i), x)[1],
                                 dy[i])[1] for i in range(3))  # fmt: skip
        np.testing.assert_allclose(dx, total, rtol=1e-12)


def residual_mlp(width: int, blocks: int, classes: int) -> Layer[Any, Any]:
    """dense -> [x + dense(relu(dense(layer_norm(x))))] * blocks -> layer_norm -> dense."""
    parts: list[Layer[Any, Any]] = [layers.dense(width)]
    for _ in range(blocks):
        inner = layers.serial(
            layer_norm(), layers.dense(2 * width), layers.relu, layers.dense(width)
        )
        parts.append(residual(inner))
    return layers.serial(*parts, layer_norm(), layers.dense(classes))


@pytest.mark.parametrize("models", [(), (3,)])
def test_a_residual_mlp_with_layer_norm_passes_check_model(models: tuple[int, ...]) -> None:
    net = residual_mlp(width=4, blocks=2, classes=3)
    params = init(net, models, (5,), key=2)
    x = np.random.default_rng(0).normal(size=(6, 5))
    labels = np.random.default_rng(1).integers(0, 3, size=(*models, 6))
    result = check.check_model(net, losses.softmax_cross_entropy, params, x, labels)
    assert result.ok, str(result)


def test_keys_reach_dropout_inside_branches() -> None:
    block = residual(layers.serial(layers.dense(3), layers.dropout(0.5)))
    net = layers.serial(block, fan_out(2), parallel(layers.dropout(0.5), layers.identity),
                        fan_in_sum())  # fmt: skip
    assert block.forward_keyed is not None and net.forward_keyed is not None
    _, params = net.init(0, (3,))
    x = np.ones((50, 3))
    y1 = net.forward_keyed(params, x, 7)[0]
    np.testing.assert_array_equal(y1, net.forward_keyed(params, x, 7)[0])  # same key, same mask
    assert not np.array_equal(y1, net.forward_keyed(params, x, 8)[0])
    np.testing.assert_allclose(net.apply(params, x), 2 * block.apply(params[0], x))
    result = check.check_layer(net, params, x[:4], key=3)
    assert result.ok, str(result)


# --- state through branches ----------------------------------------------------------------------


def test_state_composes_through_residual_and_parallel() -> None:
    conv_bn = stateful_serial(layers.conv2d(2, 3, padding="same"), batch_norm(), layers.relu)
    proj = stateful_serial(layers.conv2d(2, 1), batch_norm())
    block = stateful_serial(residual(conv_bn, proj), layers.relu)
    net = stateful_serial(block, fan_out(2), parallel(batch_norm(), layers.identity), fan_in_sum())
    _, params, st = state.init_stack(net, [0, 1, 2], (4, 4, 1))
    (((conv_st, proj_st), _), _, (bn_st, none), _) = st
    assert conv_st[1].mean.shape == (3, 2) and proj_st[1].var.shape == (3, 2) and none is None
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(3, 5, 4, 4, 1))
    y, res, new = state.forward(net, params, st, x)
    np.testing.assert_array_equal(y, net.forward(params, x)[0])  # state never changes y
    assert tree.structure(new) == tree.structure(st)
    assert not np.allclose(new[0][0][0][1].mean, 0.0)  # the running means moved
    frozen = state.freeze(net, new)
    np.testing.assert_allclose(frozen.apply(params, x), state.apply(net, params, new, x))
    small = tree.tree_map(lambda a: a[:, :2], x)
    result = check.check_layer(frozen, params, small, max_elements=40)
    assert result.ok, str(result)
    with pytest.raises(TypeError, match="this layer has state"):
        net.apply(params, x)


def test_stateless_branches_have_no_state() -> None:
    net = layers.serial(residual(layers.dense(2)), fan_out(2), parallel(layer_norm(), layers.relu))
    assert state.of(net) is None and state.of(residual(layers.dense(2))) is None
    assert state.init(net, 0, (2,))[2] is None


# --- errors --------------------------------------------------------------------------------------


def test_mis_wired_branches_get_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"residual: dense\(3\) maps \(2,\) to \(3,\)"):
        residual(layers.dense(3)).init(0, (2,))
    with pytest.raises(ValueError, match="input_shape must be a tuple of 2 shapes"):
        parallel(layers.dense(3), layers.relu).init(0, (2,))
    with pytest.raises(ValueError, match=r"fan_in_sum: the branches' shapes must be equal"):
        fan_in_sum().init(0, pack_shapes([(2,), (3,)]))
    with pytest.raises(ValueError, match="fan_in_concat: argument 'axis' must be a negative"):
        fan_in_concat(1)
    with pytest.raises(TypeError, match=r"parallel: argument 'x' must be a tuple of 2 arrays"):
        parallel(layers.relu, layers.relu).apply((None, None), np.ones((2, 2)))
    with pytest.raises(
        TypeError, match=r"dense\(2\): argument 'x' must be a (floating )?numpy array"
    ):
        _, p = layers.dense(2).init(0, (2,))
        layers.dense(2).apply(p, fan_out(2).apply(None, np.ones((1, 2))))
    with pytest.raises(ValueError, match=r"fan_in_sum: the inputs' shapes \[\(2, 3\), \(2, 4\)\]"):
        fan_in_sum().apply(None, pack([np.ones((2, 3)), np.ones((2, 4))]))


# --- the Composing page runs and type-checks -----------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_composing_examples_run_and_pass_mypy_strict(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "COMPOSING.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", page, flags=re.S))
    exec(compile(code, "docs/COMPOSING.md", "exec"), {"__name__": "composing"})
    path = tmp_path / "composing.py"
    path.write_text(code)
    out, err, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--strict", "--cache-dir",
         str(tmp_path / "cache"), str(path)]
    )  # fmt: skip
    assert status == 0, out + err
