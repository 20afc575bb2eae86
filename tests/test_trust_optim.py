"""Regression tests: optimizers check grads against params, schedules refuse infinity, aliases
name their own arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fnnet import optim, tree
from fnnet.optim import schedules

P = {"b": np.zeros(3), "w": np.ones((2, 3))}
ALIASES: list[Callable[[], optim.Optimizer[Any]]] = [
    lambda: optim.sgd(0.1),
    lambda: optim.momentum(0.1),
    lambda: optim.nesterov(0.1),
    lambda: optim.adam(0.1),
    lambda: optim.adamw(0.1),
    lambda: optim.rmsprop(0.1),
    lambda: optim.adagrad(0.1),
    lambda: optim.chain(optim.clip_by_global_norm(1.0, model_axes=0), optim.sgd(0.1)),
]


def _update(make: Callable[[], optim.Optimizer[Any]], w: Any, params: Any = None) -> object:
    opt = make()
    params = P if params is None else params
    return opt.update({"b": np.ones(3), "w": w}, opt.init(params), params)


BAD_GRAD_LEAVES: list[tuple[str, Any, type[Exception], str]] = [
    ("bool", np.ones((2, 3), bool), TypeError, "floating array, got dtype bool"),
    ("int64", np.ones((2, 3), np.int64), TypeError, "floating array, got dtype int64"),
    ("complex", np.ones((2, 3), complex), TypeError, "floating array, got dtype complex128"),
    ("object", np.ones((2, 3), object), TypeError, "floating array, got dtype object"),
    ("string", np.full((2, 3), "x"), TypeError, "floating array, got dtype <U1"),
    ("float16", np.ones((2, 3), np.float16), TypeError, "dtype float16 but its param has float64"),
    ("0-d", np.array(0.5), ValueError, r"shape \(\) but its param has \(2, 3\)"),
    ("rank-1", np.ones(3), ValueError, r"shape \(3,\) but its param has \(2, 3\)"),
    ("empty", np.ones((0, 3)), ValueError, r"shape \(0, 3\) but its param has \(2, 3\)"),
    ("list", [[1.0] * 3] * 2, tree.TreeMismatchError, "argument 'grads' has the structure"),
    ("dict", {"a": np.ones((2, 3))}, tree.TreeMismatchError, "argument 'grads' has the struct"),
    ("None", None, tree.TreeMismatchError, "argument 'grads' has the structure"),
    ("float", 0.5, TypeError, "must be a numpy array, got float"),
]


@pytest.mark.parametrize("make", ALIASES)
@pytest.mark.parametrize(("kind", "leaf", "error", "match"), BAD_GRAD_LEAVES)
def test_every_optimizer_refuses_grads_that_do_not_fit_the_params(
    make: Callable[[], optim.Optimizer[Any]],
    kind: str,
    leaf: Any,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match) as info:
        _update(make, leaf)
    assert ".update: argument 'grads'" in str(info.value)


def test_the_error_names_the_leaf() -> None:
    with pytest.raises(
        TypeError,
        match=r"sgd\b|scale_by_learning_rate.update: argument 'grads' at "
        r"\['w'\]",
    ):
        _update(lambda: optim.sgd(0.1), np.ones((2, 3), np.float32))


@pytest.mark.parametrize("leaf", [np.ones((2, 3), np.float16), {"a": np.ones(1)}, None])
def test_adamw_refuses_params_that_do_not_fit_the_grads(leaf: Any) -> None:
    opt = optim.adamw(0.1)
    params = {"b": P["b"], "w": leaf}
    grads = {"b": np.ones(3), "w": np.ones((2, 3))}
    with pytest.raises((TypeError, ValueError), match="update: argument 'grads'"):
        opt.update(grads, optim.adamw(0.1).init(P), params)


def test_one_bare_array_and_stacks_and_float32_still_run() -> None:
    opt = optim.adam(np.array([0.1, 0.2]))
    p = np.ones((2, 5), np.float32)
    u, _ = opt.update(np.ones((2, 5), np.float32), opt.init(p), p)
    assert u.dtype == np.float32 and u.shape == (2, 5)
    with pytest.raises(TypeError, match=r"at <root> has dtype float64 but its param has float32"):
        opt.update(np.ones((2, 5)), opt.init(p), p)
    with pytest.raises(ValueError, match=r"at <root> has shape \(5,\)"):
        opt.update(np.ones(5, np.float32), opt.init(p), p)


def test_masked_and_freeze_still_check_and_run() -> None:
    opt = optim.chain(optim.sgd(0.1), optim.freeze({"b": True, "w": False}))
    u, _ = opt.update({"b": np.ones(3), "w": np.ones((2, 3))}, opt.init(P), P)
    assert np.all(u["b"] == 0) and np.allclose(u["w"], -0.1)
    with pytest.raises(TypeError, match="argument 'grads'"):
        opt.update({"b": np.ones(3), "w": np.ones((2, 3), int)}, opt.init(P), P)


def test_check_grads_is_quiet_on_matching_trees() -> None:
    optim.base.check_grads("x", P, tree.map(np.zeros_like, P))
    optim.base.check_grads("x", np.zeros(2, np.float32), np.ones(2, np.float32))


@pytest.mark.parametrize(
    ("make", "arg"),
    [
        (lambda v: schedules.constant(v), "value"),
        (lambda v: schedules.exponential_decay(v, 0.5, 10), "init_value"),
        (lambda v: schedules.exponential_decay(0.1, v, 10), "decay_rate"),
        (lambda v: schedules.step_decay(v, 0.5, 10), "init_value"),
        (lambda v: schedules.step_decay(0.1, v, 10), "factor"),
        (lambda v: schedules.cosine_decay(v, 10), "init_value"),
        (lambda v: schedules.linear(v, 0.0, 10), "init_value"),
        (lambda v: schedules.linear(0.1, v, 10), "end_value"),
        (lambda v: schedules.warmup(v, 10), "schedule"),
    ],
)
def test_schedules_refuse_infinity(make: Callable[[Any], object], arg: str) -> None:
    with pytest.raises(ValueError, match=f"argument '{arg}' must be .*got inf"):
        make(float("inf"))
    make(np.float32(0.5))  # numpy scalars are numbers


@pytest.mark.parametrize(
    ("call", "fn", "arg"),
    [
        (lambda: optim.momentum(0.1, beta=-1), "momentum", "beta"),
        (lambda: optim.momentum(0.1, beta=True), "momentum", "beta"),
        (lambda: optim.nesterov(0.1, beta=float("nan")), "nesterov", "beta"),
        (lambda: optim.rmsprop(0.1, decay=1.0), "rmsprop", "decay"),
        (lambda: optim.rmsprop(0.1, eps=0.0), "rmsprop", "eps"),
        (lambda: optim.adagrad(0.1, eps=-1.0), "adagrad", "eps"),
        (lambda: optim.adam(0.1, b1=1.0), "adam", "b1"),
        (lambda: optim.adam(0.1, b2="0.9"), "adam", "b2"),  # type: ignore[arg-type]  # on purpose
        (lambda: optim.adamw(0.1, weight_decay=-1.0), "adamw", "weight_decay"),
        (lambda: optim.sgd(None), "sgd", "learning_rate"),  # type: ignore[arg-type]  # on purpose
        (lambda: optim.adamw([0.5]), "adamw", "learning_rate"),  # type: ignore[arg-type]  # on purpose
        (lambda: optim.momentum(-0.1), "momentum", "learning_rate"),
    ],
)
def test_aliases_name_their_own_arguments(call: Callable[[], object], fn: str, arg: str) -> None:
    with pytest.raises((TypeError, ValueError), match=f"^{fn}: argument '{arg}'"):
        call()


def test_aliases_take_numpy_scalars_and_schedules() -> None:
    for opt in (
        optim.momentum(np.float32(0.1), beta=np.float64(0.5)),
        optim.adam(np.int64(1), b1=np.float32(0.5)),
        optim.sgd(schedules.constant(0.1)),
    ):
        u, _ = opt.update(np.ones(2), opt.init(np.zeros(2)), np.zeros(2))
        assert u.shape == (2,) and np.all(u < 0)
