"""Finite-difference gradient checks for layers, losses and whole models (float64).

Every hand-derived backward is compared with central differences
``(f(θ + ε) − f(θ − ε)) / 2ε`` of a scalar ``f``:

- a layer: ``f = Σ forward(params, x) ⊙ dy`` for a random cotangent ``dy``, checked against
  ``backward(params, residuals, dy) = (dparams, dx)``;
- a loss: ``f = Σ_models loss(pred, target).value``, checked against ``dpred``;
- a model with a loss: ``f = Σ_models loss(apply(params, x), y).value``, checked against the
  backward chain (``dparams``).

An element passes when ``|analytic − numeric| <= atol + rtol·|numeric|`` (as in
``torch.autograd.gradcheck``). Inputs are cast to float64 first.

>>> import numpy as np
>>> from fnnet import layers
>>> _, p = layers.dense(3).init(0, (4,))
>>> check_layer(layers.dense(3), p, np.ones((5, 4))).ok
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from fnnet import tree
from fnnet.arrays import (
    Array,
    require_array,
    require_float,
    require_number,
    require_positive_int,
    require_real,
)
from fnnet.layers.base import Layer, examples_axis, require_layer
from fnnet.losses import Loss
from fnnet.random import Key, generator

__all__ = ["GradCheck", "check_layer", "check_loss", "check_model", "check_gradients"]


@attrs.frozen
class GradCheck:
    """The result of a gradient check.

    ``ok``: every element passed; ``max_error``: the worst ``|a − n| / (atol + rtol·|n|)`` (≤ 1
    passes); ``max_rel_error``: the worst ``|a − n| / max(|a|, |n|)``; ``where``: the element
    with the worst error, e.g. ``params[0].w[1, 2]``, with its ``analytic`` and ``numeric``
    values; ``checked``: how many elements were compared.

    >>> from fnnet import losses
    >>> r = check_loss(losses.mse, np.array([[0.5], [2.0]]), np.array([[1.0], [0.0]]))
    >>> r.ok, r.checked, r.where, r.analytic  # d/dp mean((p - t)²) = (p - t) for N = 2
    (True, 2, 'pred[0, 0]', -0.5)
    >>> print(r)  # doctest: +ELLIPSIS
    gradient check ok: worst at pred[0, 0]: analytic -0.5, numeric -0.5... (relative error ...)
    """

    ok: bool
    max_error: float
    max_rel_error: float
    where: str
    analytic: float
    numeric: float
    checked: int

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"gradient check {verdict}: worst at {self.where}: analytic {self.analytic:.10g}, "
            f"numeric {self.numeric:.10g} (relative error {self.max_rel_error:.3g}, "
            f"{self.checked} elements)"
        )

    def raise_if_failed(self) -> None:
        """Raise ``AssertionError`` with the report unless the check passed."""
        if not self.ok:
            raise AssertionError(str(self))


def _to64(x: Any) -> Any:
    return tree.map(
        lambda a: a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a,
        x,
    )


def _require_function(fn: str, arg: str, f: object, what: str) -> None:
    if not callable(f):
        raise TypeError(f"{fn}: argument {arg!r} must be a function {what}, got {type(f).__name__}")


def _require_params(fn: str, params: object) -> None:
    """Every leaf of ``params`` a numpy array of real numbers (``None`` leaves: no params)."""
    for path, leaf in zip(tree.paths(params), tree.leaves(params), strict=True):
        require_real(fn, f"params{'' if path == '<root>' else path}", leaf)


def _require_arrays(fn: str, arg: str, xs: object, check: Callable[[str, str, object], Any]) -> int:
    """``xs`` a list (or tuple) whose entries pass ``check``; returns its length."""
    if not isinstance(xs, list | tuple):
        raise TypeError(f"{fn}: argument {arg!r} must be a list, got {type(xs).__name__}")
    for i, x in enumerate(xs):
        check(fn, f"{arg}[{i}]", x)
    return len(xs)


def _check_gradient_args(
    f: object, inputs: object, analytic: object, names: object, tols: dict[str, Any]
) -> None:
    fn = "check_gradients"
    _require_function(fn, "f", f, "of the inputs list returning a float")
    n = _require_arrays(fn, "inputs", inputs, require_float)
    lengths = {
        "analytic": _require_arrays(fn, "analytic", analytic, require_array),
        "names": _require_arrays(fn, "names", names, _require_str),
    }
    for arg, m in lengths.items():
        if m != n:
            raise ValueError(f"{fn}: argument {arg!r} has {m} entries but 'inputs' has {n}")
    if require_number(fn, "eps", tols["eps"]) <= 0:
        raise ValueError(f"{fn}: argument 'eps' must be > 0, got {tols['eps']}")
    require_number(fn, "rtol", tols["rtol"], low=0.0)
    require_number(fn, "atol", tols["atol"], low=0.0)
    if tols["max_elements"] is not None:
        require_positive_int(fn, "max_elements", tols["max_elements"])


def _require_str(fn: str, arg: str, x: object) -> None:
    if not isinstance(x, str):
        raise TypeError(f"{fn}: argument {arg!r} must be a str, got {type(x).__name__}")


def check_gradients(
    f: Callable[[list[Array]], float],
    inputs: list[Array],
    analytic: list[Array],
    names: list[str],
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    max_elements: int | None = None,
    key: Key = 0,
) -> GradCheck:
    """Compare ``analytic[i]`` with central differences of ``f`` in each ``inputs[i]``.

    ``f`` reads the (float64) ``inputs`` list, which is perturbed in place one element at a time.
    ``max_elements`` checks a random subset of at most that many elements per input.

    >>> x = [np.array([1.0, 2.0])]
    >>> r = check_gradients(lambda xs: float(np.sum(xs[0] ** 3)), x, [3 * x[0] ** 2], ["x"])
    >>> r.ok, r.where, r.numeric  # d/dx Σx³ = 3x²
    (True, 'x[0]', 3.0)
    """
    tols = {"eps": eps, "rtol": rtol, "atol": atol, "max_elements": max_elements}
    _check_gradient_args(f, inputs, analytic, names, tols)
    rng = generator(key)
    worst = (-1.0, 0.0, "", 0.0, 0.0)
    checked = 0
    for arr, grad, name in zip(inputs, analytic, names, strict=True):
        if grad.shape != arr.shape:
            raise ValueError(
                f"check_gradients: the gradient of {name} has shape {grad.shape}, "
                f"expected {arr.shape}"
            )
        flat = arr.reshape(-1)
        if not np.shares_memory(flat, arr):
            raise ValueError(f"check_gradients: input {name} must be contiguous")
        idx = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            idx = rng.choice(flat.size, max_elements, replace=False)
        g = grad.reshape(-1)
        for i in idx:
            orig = flat[i]
            flat[i] = orig + eps
            up = f(inputs)
            flat[i] = orig - eps
            down = f(inputs)
            flat[i] = orig
            numeric = (up - down) / (2 * eps)
            a = float(g[i])
            diff = abs(a - numeric)
            err = diff / (atol + rtol * abs(numeric))
            rel = diff / max(abs(a), abs(numeric), 1e-300)
            checked += 1
            if err > worst[0]:
                at = np.unravel_index(int(i), arr.shape)
                where = f"{name}[{', '.join(str(int(j)) for j in at)}]"
                worst = (err, rel if diff > 0 else 0.0, where, a, numeric)
    err, rel, where, a, numeric = worst
    return GradCheck(err <= 1.0, max(err, 0.0), rel, where, a, numeric, checked)


def _forward(layer: Layer[Any, Any], params: Any, x: Array, key: Key | None) -> tuple[Array, Any]:
    if key is not None and layer.forward_keyed is not None:
        return layer.forward_keyed(params, x, key)
    return layer.forward(params, x)


def _detect_pairing(layer: Layer[Any, Any], params: Any, x: Array, key: Key) -> None:
    """With as many examples as models, a layer that pairs model ``m`` with example ``m`` by
    broadcasting (instead of :func:`fnnet.layers.over_examples`) would pass a gradient check:
    run it once more with one more example and refuse it if the examples axis does not follow."""
    try:
        axis, lead = examples_axis("check_layer", "x", layer, params, x)
    except ValueError:
        return  # a layer whose init cannot say: nothing to compare
    n = x.shape[axis]
    if not lead or n not in lead:
        return
    more = np.concatenate([x, np.take(x, [0], axis=axis)], axis=axis)
    try:
        y = _forward(layer, params, x, key)[0]
        y_more = _forward(layer, params, more, key)[0]
        grew = [i for i, (a, b) in enumerate(zip(y.shape, y_more.shape, strict=True)) if a != b]
        ok = len(grew) == 1 and y_more.shape[grew[0]] == n + 1
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ValueError(
            f"check_layer: {layer.name} does not keep the examples axis of x {x.shape} ({n} "
            f"examples, params of {lead} models): it works with {n} examples but not with "
            f"{n + 1}, so it pairs each model with one example by broadcasting; broadcast "
            "per-model params with layers.over_examples"
        )


def check_layer(
    layer: Layer[Any, Any],
    params: Any,
    x: Array,
    *,
    key: Key = 0,
    **tolerances: Any,
) -> GradCheck:
    """Check ``layer.backward`` (``dparams`` and ``dx``) at ``(params, x)``. ``key`` draws the
    random cotangent and is passed to a stochastic layer's ``forward_keyed``. ``tolerances``:
    ``eps``, ``rtol``, ``atol``, ``max_elements``.

    >>> from fnnet import layers
    >>> square = layers.Layer(  # y = x², with a wrong backward: dx = dy·x instead of 2x·dy
    ...     lambda key, shape: (shape, None),
    ...     lambda p, x: (x**2, x),
    ...     lambda p, x, dy: (None, dy * x),
    ...     lambda p, x: x**2,
    ... )
    >>> r = check_layer(square, None, np.array([[1.0, 2.0]]))
    >>> r.ok, r.where, round(r.numeric / r.analytic, 6)
    (False, 'x[0, 1]', 2.0)
    """
    require_layer("check_layer", "layer", layer)
    _require_params("check_layer", params)
    params, x = _to64(params), require_real("check_layer", "x", x).astype(np.float64)
    _detect_pairing(layer, params, x, key)
    p_leaves, treedef = tree.flatten(params)
    p_leaves = [np.array(p, dtype=np.float64) for p in p_leaves]
    params = tree.unflatten(treedef, p_leaves)
    y, res = _forward(layer, params, x, key)
    dy = generator(key).normal(size=y.shape)
    dparams, dx = layer.backward(params, res, dy)
    _same_structure("backward", params, dparams)

    def f(inputs: list[Array]) -> float:
        p = tree.unflatten(treedef, inputs[:-1])
        return float(np.sum(_forward(layer, p, inputs[-1], key)[0] * dy))

    names = [f"params{path}" for path in tree.paths(params)] if p_leaves else []
    return check_gradients(
        f,
        [*p_leaves, x],
        [*tree.leaves(dparams), np.asarray(dx)],
        [*names, "x"],
        key=key,
        **tolerances,
    )


def _same_structure(what: str, params: Any, grads: Any) -> None:
    if tree.structure(params) != tree.structure(grads):
        raise AssertionError(
            f"check: {what} returned gradients of structure {tree.structure(grads)!r}, "
            f"but the params have {tree.structure(params)!r}"
        )


def check_loss(
    loss: Loss,
    pred: Array,
    target: Any,
    **tolerances: Any,
) -> GradCheck:
    """Check a loss's ``dpred`` against differences of the summed (over models) value.

    >>> from fnnet import losses
    >>> z, labels = np.array([[2.0, -1.0, 0.5], [0.0, 0.3, 0.1]]), np.array([0, 2])
    >>> check_loss(losses.softmax_cross_entropy, z, labels).ok
    True
    """
    _require_function("check_loss", "loss", loss, "(pred, target) -> (value, dpred)")
    pred = require_real("check_loss", "pred", pred).astype(np.float64)
    require_array("check_loss", "target", target)
    if isinstance(target, np.ndarray) and target.dtype.kind == "f":
        target = target.astype(np.float64)
    _, dpred = loss(pred, target)

    def f(inputs: list[Array]) -> float:
        return float(np.sum(loss(inputs[0], target)[0]))

    return check_gradients(f, [pred], [dpred], ["pred"], **tolerances)


def check_model(
    model: Layer[Any, Any],
    loss: Loss,
    params: Any,
    x: Array,
    target: Any,
    **tolerances: Any,
) -> GradCheck:
    """Check the gradient of ``Σ_models loss(model(params, x), target)`` w.r.t. ``params``,
    computed by the model's ``backward``.

    >>> from fnnet import layers, losses
    >>> net = layers.mlp([2, 3, 1], hidden=layers.tanh)
    >>> _, p = net.init(0, (2,))
    >>> r = check_model(net, losses.mse, p, np.ones((4, 2)), np.zeros((4, 1)))
    >>> r.ok, r.checked  # every element of w1 (2×3), b1, w2 (3×1) and b2
    (True, 13)
    """
    require_layer("check_model", "model", model)
    _require_function("check_model", "loss", loss, "(pred, target) -> (value, dpred)")
    _require_params("check_model", params)
    params, x = _to64(params), require_real("check_model", "x", x).astype(np.float64)
    require_array("check_model", "target", target)
    if isinstance(target, np.ndarray) and target.dtype.kind == "f":
        target = target.astype(np.float64)
    p_leaves, treedef = tree.flatten(params)
    p_leaves = [np.array(p, dtype=np.float64) for p in p_leaves]
    params = tree.unflatten(treedef, p_leaves)
    pred, res = model.forward(params, x)
    _, dpred = loss(pred, target)
    grads = model.backward(params, res, dpred)[0]
    _same_structure("backward", params, grads)

    def f(inputs: list[Array]) -> float:
        return float(np.sum(loss(model.apply(tree.unflatten(treedef, inputs), x), target)[0]))

    names = [f"params{path}" for path in tree.paths(params)]
    return check_gradients(f, p_leaves, tree.leaves(grads), names, **tolerances)
