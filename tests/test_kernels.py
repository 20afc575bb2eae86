"""The kernel tier computes what the reference tier computes.

Every kernel is compared with the reference ``serial`` of ``dense`` and activation layers (which
``layers.mlp`` is): to 1e-12 in float64, on single models and stacks of 3 (params with model axes;
``x`` shared ``(N, in)`` or per model ``(M, N, in)``), with float32 staying float32, for every
kernel activation, through ``apply``, ``forward`` and ``grads``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from fnnet import kernels, layers, losses, tree
from fnnet.arrays import Array
from fnnet.kernels import folded
from fnnet.kernels.mlp import FlatMlp, FusedMlp
from fnnet.kernels.step import loss_kernel
from fnnet.layers.base import quiet_floats
from fnnet.layers.spec import ActivationSpec

ACTS: dict[str, layers.Layer[None, Array]] = {
    "identity": layers.identity,
    "sigmoid": layers.sigmoid,
    "tanh": layers.tanh,
    "relu": layers.relu,
    "leaky_relu": layers.leaky_relu(0.1),
    "elu": layers.elu(0.7),
    "softplus": layers.softplus,
    "softmax": layers.softmax,
}
SIZES = [3, 5, 4, 2]
# (hidden, output): every kernel activation appears; one activation throughout takes the
# shared-derivative pass of the flat kernel, mixed ones the per-layer derivatives, and softmax
# (not elementwise) the general flat path even for one model
PAIRS = [(h, "sigmoid") for h in ACTS if h != "softmax"] + [
    ("tanh", "tanh"),
    ("relu", "relu"),
    ("leaky_relu", "leaky_relu"),
    ("elu", "elu"),
    ("softplus", "softplus"),
    ("identity", "identity"),
    ("relu", "softmax"),
    ("tanh", "identity"),
]


def tol(dtype: Any) -> float:
    return 1e-12 if dtype == np.float64 else 2e-5


def setup(
    hidden: str, output: str, models: int | None, shared_x: bool, dtype: Any
) -> tuple[layers.Serial, Any, Array, Array]:
    """The reference network, its params (random biases), ``x`` and a cotangent ``dy``."""
    net = layers.mlp(SIZES, hidden=ACTS[hidden], output=ACTS[output], dtype=dtype)
    if models is None:
        _, params = net.init(7, (SIZES[0],))
    else:
        _, params = layers.init_stack(net, list(range(models)), (SIZES[0],))
    rng = np.random.default_rng(3)
    params = tree.tree_map(lambda a: a + rng.normal(scale=0.3, size=a.shape).astype(dtype), params)
    lead = () if models is None or shared_x else (models,)
    x = rng.normal(size=(*lead, 6, SIZES[0])).astype(dtype)
    y_lead = () if models is None else (models,)
    dy = rng.normal(size=(*y_lead, 6, SIZES[-1])).astype(dtype)
    return net, params, x, dy


def assert_close(a: Array, b: Array, dtype: Any) -> None:
    assert a.dtype == np.dtype(dtype), (a.dtype, dtype)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol(dtype), atol=tol(dtype))


CASES = [
    pytest.param(
        models, shared, dtype, id=f"{models}-{'shared' if shared else 'own'}-{dtype.__name__}"
    )
    for models in (None, 3)
    for shared in ((True,) if models is None else (True, False))
    for dtype in (np.float64, np.float32)
]


@pytest.mark.parametrize("hidden,output", PAIRS)
@pytest.mark.parametrize("models,shared_x,dtype", CASES)
def test_fused_mlp_equals_serial(
    hidden: str, output: str, models: int | None, shared_x: bool, dtype: Any
) -> None:
    net, params, x, dy = setup(hidden, output, models, shared_x, dtype)
    kernel = kernels.fused(net)
    assert isinstance(kernel, FusedMlp)
    y_ref, res_ref = net.forward(params, x)
    grads_ref, _ = net.backward(params, res_ref, dy)
    dy_before = dy.copy()
    y, res = kernel.forward(params, x)
    grads = kernel.grads(params, res, dy)
    assert_close(y, y_ref, dtype)
    assert_close(kernel.apply(params, x), y_ref, dtype)
    assert tree.structure(grads) == tree.structure(grads_ref)
    for a, b in zip(tree.leaves(grads), tree.leaves(grads_ref), strict=True):
        assert_close(a, b, dtype)
    np.testing.assert_array_equal(dy, dy_before)  # the caller's dy is never written


@pytest.mark.parametrize("hidden,output", PAIRS)
@pytest.mark.parametrize("models,shared_x,dtype", CASES)
def test_flat_mlp_equals_serial(
    hidden: str, output: str, models: int | None, shared_x: bool, dtype: Any
) -> None:
    net, params, x, dy = setup(hidden, output, models, shared_x, dtype)
    kernel = kernels.flat(net, (SIZES[0],))
    assert isinstance(kernel, FlatMlp)
    y_ref, res_ref = net.forward(params, x)
    grads_ref, _ = net.backward(params, res_ref, dy)
    v = kernel.ravel(params)
    assert v.shape == (*(() if models is None else (models,)), kernel.size)
    dy_before = dy.copy()
    y, res = kernel.forward(v, x)
    g = kernel.grads(v, res, dy)
    assert_close(y, y_ref, dtype)
    assert_close(kernel.apply(v, x), y_ref, dtype)
    assert_close(g, kernel.ravel(grads_ref), dtype)
    for a, b in zip(tree.leaves(kernel.unravel(g)), tree.leaves(grads_ref), strict=True):
        assert_close(a, b, dtype)
    np.testing.assert_array_equal(dy, dy_before)


@pytest.mark.parametrize("make", [kernels.fused, lambda net: kernels.flat(net, (SIZES[0],))])
def test_a_stack_of_three_equals_three_single_calls(make: Any) -> None:
    net, params, x, dy = setup("tanh", "sigmoid", 3, False, np.float64)
    kernel = make(net)
    p = kernel.ravel(params) if isinstance(kernel, FlatMlp) else params
    y, res = kernel.forward(p, x)
    g = kernel.grads(p, res, dy)
    for i in range(3):
        p_i = tree.index(p, i) if not isinstance(p, np.ndarray) else p[i]
        y_i, res_i = kernel.forward(p_i, x[i])
        np.testing.assert_allclose(y[i], y_i, rtol=1e-12, atol=1e-12)
        g_i = kernel.grads(p_i, res_i, dy[i])
        for a, b in zip(tree.leaves(tree.index(g, i) if not isinstance(g, np.ndarray) else g[i]),
                        tree.leaves(g_i), strict=True):  # fmt: skip
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kernel_activation_equals_its_layer(name: str, dtype: Any) -> None:
    layer = ACTS[name]
    act = kernels.kernel_activation(layer.spec)
    assert act is not None
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 5, 4)) * 3).astype(dtype)
    x[0, 0] = [-1e4, -50.0, 50.0, 1e4]  # the tails, quietly
    dy = rng.normal(size=x.shape).astype(dtype)
    with warnings.catch_warnings(), np.errstate(over="ignore" if act.silence else "raise"):
        warnings.simplefilter("error")
        y_ref, res = layer.forward(None, x)
        _, dx_ref = layer.backward(None, res, dy)
        y = act.forward_(x.copy())
        dy_before = dy.copy()
        dx = act.grad(y, dy, False)
        np.testing.assert_array_equal(dy, dy_before)  # not owned: not written
        assert_close(y, y_ref, dtype)
        assert_close(dx, dx_ref, dtype)
        assert_close(act.grad(y, dy.copy(), True), dx_ref, dtype)
        if act.factor is not None:
            np.testing.assert_array_equal(act.factor(y) * dy, dx)
            assert act.factor(y).dtype in (np.dtype(dtype), np.dtype(bool))
    assert act.elementwise is (name != "softmax")


def test_activations_without_a_kernel() -> None:
    assert kernels.kernel_activation(layers.leaky_relu(0.0).spec) is None
    assert kernels.kernel_activation(layers.elu(-1.0).spec) is None
    assert kernels.kernel_activation(layers.dense(2).spec) is None
    assert kernels.kernel_activation(ActivationSpec("leaky_relu", 0.5)) is not None


def test_kernels_recognise_mlps_from_specs_only() -> None:
    user = layers.Layer(lambda k, s: (s, None), lambda p, x: (x, None),
                        lambda p, r, dy: (None, dy), lambda p, x: x)  # fmt: skip
    by_hand = layers.serial(layers.dense(4), layers.relu, layers.dense(1), layers.sigmoid)
    assert kernels.recognise(by_hand) is not None
    assert kernels.fused(layers.mlp([2, 3, 1], hidden=layers.leaky_relu(0.2))) is not None
    for model in (
        layers.serial(layers.dense(4), layers.relu, layers.dropout(0.5), layers.dense(1)),
        layers.serial(layers.dense(4), user),
        layers.serial(layers.dense(4), layers.relu, layers.dense(1)),  # no output activation
        layers.serial(layers.relu, layers.dense(1)),
        layers.serial(by_hand, layers.sigmoid),  # nested: another params structure
        layers.mlp([2, 3, 1], hidden=layers.leaky_relu(0.0)),
        layers.dense(3),
        user,
    ):
        assert kernels.recognise(model) is None, model.name
        assert kernels.fused(model) is None
        assert kernels.flat(model, (2,)) is None


def test_ravel_and_unravel_are_inverse_and_keep_model_axes() -> None:
    net, params, _, _ = setup("tanh", "sigmoid", 3, False, np.float32)
    kernel = kernels.flat(net, (3,))
    assert kernel is not None
    v = kernel.ravel(params)
    assert v.dtype == np.float32 and v.shape == (3, 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2)
    expected = np.concatenate([a.reshape(3, -1) for a in tree.leaves(params)], axis=-1)
    np.testing.assert_array_equal(v, expected)  # the reference leaves, in order
    back = kernel.unravel(v)
    assert tree.structure(back) == tree.structure(params)
    for a, b in zip(tree.leaves(back), tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(a, v)  # copies: later updates of v do not reach them


def test_bad_input_gets_the_reference_errors() -> None:
    net = layers.mlp([2, 4, 1], hidden=layers.sigmoid)
    _, params = net.init(0, (2,))
    fused, flat = kernels.fused(net), kernels.flat(net, (2,))
    assert fused is not None and flat is not None
    v = flat.ravel(params)
    for run, p in ((fused.forward, params), (flat.forward, v)):
        with pytest.raises(ValueError, match="must have 2 features"):
            run(p, np.zeros((5, 3)))  # type: ignore[arg-type]  # each kernel its own params
        with pytest.raises(TypeError, match="has dtype float32 but the params are float64"):
            run(p, np.zeros((5, 2), np.float32))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a floating"):
            run(p, np.zeros((5, 2), np.int64))  # type: ignore[arg-type]
    _, stacked = layers.init_stack(net, [0, 1], (2,))
    with pytest.raises(ValueError, match="model axes"):
        fused.forward(stacked, np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match="model axes"):
        flat.forward(flat.ravel(stacked), np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match=r"serial: argument 'params' must be a tuple of 4"):
        fused.forward(params[:2], np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"flat_mlp: argument 'params' must be .* \(\.\.\., 17\)"):
        flat.forward(np.zeros(7), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"flat_mlp.ravel: argument 'params'\[2\] must have w"):
        flat.ravel((params[0], None, layers.DenseParams(np.zeros((3, 1)), np.zeros(1)), None))
    with pytest.raises(ValueError, match="must be the mlp's tuple of 4"):
        flat.ravel(params[:2])
    with pytest.raises(ValueError, match=r"input_shape must be \(2,\)"):
        kernels.flat(net, (3,))
    pairs: list[tuple[Any, Any]] = [(fused, params), (flat, v)]
    for kernel, p in pairs:
        y, res = kernel.forward(p, np.zeros((5, 2)))
        with pytest.raises(ValueError, match=r"argument 'dy' must have the output's shape"):
            kernel.grads(p, res, y[:3])


def test_sigmoid_kernels_are_quiet_and_equal_inside_quiet_floats() -> None:
    """Sigmoid's e⁻ᶻ overflows harmlessly: no warning outside ``quiet_floats`` (warnings are
    errors in this suite), the same numbers inside it (where the kernels skip their errstate)."""
    net = layers.mlp([2, 3, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    _, params = net.init(0, (2,))
    fused, flat = kernels.fused(net), kernels.flat(net, (2,))
    assert fused is not None and flat is not None
    v = flat.ravel(params)
    x = np.array([[-1e4, 1e4], [0.0, 1.0], [1e4, -1e4]])
    outside = [fused.apply(params, x), flat.apply(v, x), net.apply(params, x)]
    with quiet_floats():
        inside = [fused.apply(params, x), flat.apply(v, x), net.apply(params, x)]
    for a, b in zip(outside, inside, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, outside[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("models", [None, 3])
def test_training_on_the_flat_vector_equals_training_the_tree(models: int | None) -> None:
    """25 steps of gradient descent (per-model learning rates on a stack) on the flat vector and
    on the reference tree reach the same params."""
    net, params, x, _ = setup("sigmoid", "sigmoid", models, True, np.float64)
    kernel = kernels.flat(net, (SIZES[0],))
    assert kernel is not None
    lr = np.array(0.5) if models is None else np.array([0.1, 0.5, 1.0])

    def descend(p: Array, g: Array) -> Array:  # p - lr·g, lr per model on a stack
        return p - lr.reshape(lr.shape + (1,) * (p.ndim - lr.ndim)) * g

    target = np.random.default_rng(9).random((6, SIZES[-1]))
    v = kernel.ravel(params)
    for _ in range(25):
        y, res = net.forward(params, x)
        params = tree.tree_map(descend, params, net.backward(params, res, y - target)[0])
        y, res = kernel.forward(v, x)
        v = descend(v, kernel.grads(v, res, y - target))
    for a, b in zip(tree.leaves(kernel.unravel(v)), tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", [losses.mse, losses.half_mse])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("models", [None, "shared", "own"])
def test_loss_kernels_equal_their_loss(loss: Any, dtype: Any, outputs: int, models: Any) -> None:
    """A loss kernel works on the transposed output ``yᵀ`` and gives ``(value, (dL/dy)ᵀ)``, one
    value per model of a stack (the target shared or per model); ``into`` writes ``(dL/dy)ᵀ`` or
    its negation into a buffer."""
    kernel = loss_kernel(loss)
    assert kernel is not None
    rng = np.random.default_rng(5)
    lead = () if models is None else (4,)
    y = rng.normal(size=(*lead, 7, outputs)).astype(dtype)
    target = rng.normal(size=(*(lead if models == "own" else ()), 7, outputs)).astype(dtype)
    y_t = np.ascontiguousarray(folded.swap(y))
    value, dy_t = kernel(y_t, target)
    want_value, want_dy = loss(y, target)
    assert value.dtype == want_value.dtype == np.dtype(dtype) and value.shape == lead
    assert_close(value, want_value, dtype)
    assert_close(folded.swap(dy_t), want_dy, dtype)
    out = np.empty_like(y_t)
    assert_close(kernel.into(y_t, target, out, True), want_value, dtype)
    np.testing.assert_array_equal(out, -dy_t)


def test_only_fnnets_own_losses_have_kernels() -> None:
    assert loss_kernel(losses.binary_cross_entropy) is None
    assert loss_kernel(lambda p, t: losses.mse(p, t)) is None  # a user's loss: never guessed
    assert loss_kernel({}) is None  # unhashable


# one activation throughout (sigmoid: on negated weights; tanh: one derivative pass), mixed
# ones, and activations without an in-place derivative (relu, elu: one derivative per layer)
FOLDED = [("sigmoid", "sigmoid"), ("tanh", "tanh"), ("tanh", "sigmoid"), ("relu", "sigmoid"),
          ("elu", "elu"), ("tanh", "identity")]  # fmt: skip


@pytest.mark.parametrize("hidden,output", FOLDED)
@pytest.mark.parametrize("models,shared_x,dtype", CASES)
def test_the_folded_training_passes_equal_the_reference(
    hidden: str, output: str, models: int | None, shared_x: bool, dtype: Any
) -> None:
    """``folded.forward``/``folded.grads`` (the fused step's passes, on a workspace reused step
    after step) equal the reference network's forward and backward, on one model and stacks,
    with ``dy`` given plain or negated."""
    net, params, x, dy = setup(hidden, output, models, shared_x, dtype)
    kernel = kernels.flat(net, (SIZES[0],))
    assert kernel is not None
    v = kernel.ravel(params)
    ws = folded.workspace(kernel, v.shape[:-1], x.shape[-2], v.dtype)
    assert ws.negated == (hidden == output == "sigmoid")
    for _ in range(3):
        y, res = net.forward(params, x)
        want = kernel.ravel(net.backward(params, res, dy)[0])
        dy_t = np.ascontiguousarray(folded.swap(dy))
        for negated in (False, True):
            folded.load(ws, x)
            with quiet_floats():
                y_t = folded.forward(ws, v)
            assert_close(folded.swap(y_t), y, dtype)
            g = folded.grads(ws, -dy_t if negated else dy_t.copy(), negated)
            assert_close(g, want, dtype)
        params = tree.map(lambda p, d: p - 0.1 * d, params, kernel.unravel(g))
        v = kernel.ravel(params)


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_the_folded_passes_give_the_flat_kernels_numbers_bit_for_bit(hidden: str) -> None:
    """On negated weights too: negation is exact, so a network of sigmoids gets the very
    numbers of the checked flat kernel."""
    net, params, x, dy = setup(hidden, "sigmoid", None, True, np.float64)
    kernel = kernels.flat(net, (SIZES[0],))
    assert kernel is not None
    v = kernel.ravel(params)
    ws = folded.workspace(kernel, (), x.shape[0], v.dtype)
    for _ in range(3):
        y, res = kernel.forward(v, x)
        folded.load(ws, x)
        y_t = folded.forward(ws, v)
        np.testing.assert_array_equal(y_t.T, y)
        g = kernel.grads(v, res, dy)
        np.testing.assert_array_equal(folded.grads(ws, np.ascontiguousarray(dy.T)), g)
        v = v - 0.1 * g


@pytest.mark.parametrize("shared_x", [True, False])
def test_the_folded_passes_on_two_model_axes(shared_x: bool) -> None:
    """A stack with two model axes ``(2, 3)``: the folded passes equal the reference."""
    net, params, _, _ = setup("sigmoid", "sigmoid", 6, True, np.float64)
    params = tree.map(lambda a: a.reshape(2, 3, *a.shape[1:]), params)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, SIZES[0]) if shared_x else (2, 3, 5, SIZES[0]))
    dy = rng.normal(size=(2, 3, 5, SIZES[-1]))
    kernel = kernels.flat(net, (SIZES[0],))
    assert kernel is not None
    v = kernel.ravel(params)
    ws = folded.workspace(kernel, (2, 3), 5, v.dtype)
    folded.load(ws, x)
    y, res = net.forward(params, x)
    assert_close(folded.swap(folded.forward(ws, v)), y, np.float64)
    want = kernel.ravel(net.backward(params, res, dy)[0])
    assert_close(folded.grads(ws, np.ascontiguousarray(folded.swap(dy))), want, np.float64)


def test_the_folded_sigmoid_network_saturates_quietly_and_exactly() -> None:
    """Pre-activations of ±1e4 (``e^{z'}`` overflows to ``inf``): inside ``quiet_floats`` the
    folded passes on negated weights give the reference's outputs and gradients, without a
    warning."""
    net, params, _, dy = setup("sigmoid", "sigmoid", None, True, np.float64)
    x = np.array([[-1e4, 1e4, 0.0], [0.0, 1.0, 2.0], [1e4, -1e4, 5.0]] * 2)
    kernel = kernels.flat(net, (SIZES[0],))
    assert kernel is not None
    v = kernel.ravel(params)
    ws = folded.workspace(kernel, (), x.shape[0], v.dtype)
    assert ws.negated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with quiet_floats():
            y, res = net.forward(params, x)
            folded.load(ws, x)
            y_t = folded.forward(ws, v)
            g = folded.grads(ws, np.ascontiguousarray(dy.T))
    np.testing.assert_allclose(y_t.T, y, rtol=1e-12, atol=1e-300)
    want = kernel.ravel(net.backward(params, res, dy)[0])
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shared_x", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_folded_passes_of_a_stack_with_one_output(shared_x: bool, dtype: Any) -> None:
    """One output per model (the output layer's ``w δ`` is an outer product per model)."""
    net = layers.mlp([3, 4, 4, 1], hidden=layers.tanh, output=layers.sigmoid, dtype=dtype)
    _, params = layers.init_stack(net, [0, 1, 2], (3,))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3) if shared_x else (3, 6, 3)).astype(dtype)
    dy = rng.normal(size=(3, 6, 1)).astype(dtype)
    kernel = kernels.flat(net, (3,))
    assert kernel is not None
    v = kernel.ravel(params)
    ws = folded.workspace(kernel, (3,), 6, v.dtype)
    folded.load(ws, x)
    y, res = net.forward(params, x)
    assert_close(folded.swap(folded.forward(ws, v)), y, dtype)
    want = kernel.ravel(net.backward(params, res, dy)[0])
    assert_close(folded.grads(ws, np.ascontiguousarray(folded.swap(dy))), want, dtype)
