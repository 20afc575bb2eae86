"""Junk (None, a string, a list of floats, an object()) in the required arguments of the core
functions: each is refused at the boundary with a TypeError/ValueError that names the function
and the argument, never an AttributeError or a bare numpy error from inside."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fnnet import io, sweep, train, tree
from fnnet.optim import base, numerics

NONE, TEXT, FLOATS, OBJECT = None, "x", [0.5, 1.5], object()
ALL = (NONE, TEXT, FLOATS, OBJECT)
NOT_A_LIST = (NONE, TEXT, OBJECT)  # a list of floats is a fine tree/array-like here
NOT_NUMERIC = (TEXT, OBJECT)
NOT_NONE = (TEXT, FLOATS, OBJECT)  # None is an empty tree: nothing to do


def _ones() -> np.ndarray[Any, Any]:
    return np.ones(2)


def _plot() -> Any:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from fnnet import plot

    return plot


# (id, junk values, call(junk), function name in the message, argument named in the message)
Case = tuple[str, tuple[Any, ...], Callable[[Any], object], str, str]
CASES: list[Case] = [
    ("tree.map", ALL, lambda j: tree.map(j, {"w": _ones()}), "tree.map", "f"),
    ("tree.register", ALL, lambda j: tree.register(j, j, j), "tree.register", "cls"),
    ("tree.add", NOT_NUMERIC, lambda j: tree.add({"w": _ones()}, {"w": j}), "tree.add", "b"),
    ("tree.sub", NOT_NUMERIC, lambda j: tree.sub({"w": j}, {"w": _ones()}), "tree.sub", "a"),
    ("tree.scale", NOT_NUMERIC, lambda j: tree.scale([_ones()], j), "tree.scale", "s"),
    ("tree.vdot", NOT_NUMERIC, lambda j: tree.vdot([j], [_ones()]), "tree.vdot", "a"),
    ("tree.global_norm", NOT_NUMERIC, lambda j: tree.global_norm(j), "tree.global_norm", "tree"),
    (
        "optim.apply_updates",
        NOT_NONE,
        lambda j: base.apply_updates(j, j),
        "apply_updates",
        "params",
    ),
    ("optim.per_model", ALL, lambda j: base.per_model(j, _ones()), "per_model", "h"),
    ("optim.lift", ALL, lambda j: base.lift(j, _ones()), "optim.lift", "rule"),
    ("numerics.flush", ALL, lambda j: numerics.flush_subnormals(j), "flush_subnormals", "a"),
    (
        "numerics.root_sum",
        NOT_A_LIST,
        lambda j: numerics.root_sum_of_squares(j, j),
        "root_sum_of_squares",
        "root_a",
    ),
    (
        "numerics.root_ema",
        ALL,
        lambda j: numerics.root_ema_of_squares(j, j, j),
        "root_ema_of_squares",
        "root_v",
    ),
    ("io.describe", ALL, lambda j: io.describe(j), "io.describe", "treedef"),
    ("plot.class_colors", ALL, lambda j: _plot().class_colors(j), "class_colors", "num_classes"),
    (
        "plot.learning_curve",
        NOT_A_LIST,
        lambda j: _plot().learning_curve(j),
        "learning_curve",
        "loss",
    ),
    (
        "plot.stacked_curves",
        NOT_NUMERIC,
        lambda j: _plot().stacked_curves(j),
        "stacked_curves",
        "series",
    ),
    ("plot.heatmap", ALL, lambda j: _plot().heatmap(j, j, j, j), "heatmap", "table"),
    ("plot.cell_curves", ALL, lambda j: _plot().cell_curves(j), "cell_curves", "table"),
    ("sweep.label", ALL, lambda j: sweep.label(j), "sweep.label", "cell"),
    ("sweep.init_stack", ALL, lambda j: sweep.init_stack(j, j, j), "init_stack", "model"),
    ("train.init_state", ALL, lambda j: train.init_state(j, j), "init_state", "optimizer"),
    ("train.make_step", ALL, lambda j: train.make_step(j, j, j), "make_step", "model"),
]


@pytest.mark.parametrize(
    ("call", "junk", "fn", "arg"),
    [
        pytest.param(call, junk, fn, arg, id=f"{name}-{type(junk).__name__}")
        for name, junks, call, fn, arg in CASES
        for junk in junks
    ],
)
def test_junk_is_refused_naming_function_and_argument(
    call: Callable[[Any], object], junk: object, fn: str, arg: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        call(junk)
    message = str(info.value)
    assert fn in message.split(":")[0], message
    assert re.search(rf"\b{re.escape(arg)}\b", message), message


def test_apply_updates_refuses_updates_of_other_shapes() -> None:
    with pytest.raises(ValueError, match=r"apply_updates: argument 'updates' .*\(3,\)"):
        base.apply_updates({"w": np.ones(4)}, {"w": np.ones(3)})


def test_apply_updates_names_itself_on_another_structure() -> None:
    with pytest.raises(tree.TreeMismatchError, match=r"^fnnet\.optim\.apply_updates: .*'updates'"):
        base.apply_updates({"w": np.ones(2)}, [np.ones(2)])


def test_good_arguments_still_work() -> None:
    assert float(tree.vdot([0.5, 1.5], [0.5, 1.5])) == 2.5
    assert np.shape(base.per_model(np.array([0.5]), np.ones((1, 3)))) == (1, 1)
    updated: list[np.ndarray[Any, Any]] = base.apply_updates([np.ones(2, np.float32)], [np.ones(2)])
    assert updated[0].dtype == np.float32
    assert sweep.label({"lr": 0.1}) == "lr=0.1"
