"""Junk (None, a string, a list of floats, an object()) in the required arguments of the gradient
checks, the layer stack helpers, the initializers, the branch combinators and the state
functions gets a TypeError/ValueError naming the function and the argument, never an internal
AttributeError/IndexError from deep inside."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest

from fnnet import check, layers, losses
from fnnet.layers import initializers, state
from fnnet.layers.normalization import batch_norm

JUNK: dict[str, Callable[[], object]] = {
    "None": lambda: None,
    "str": lambda: "x",
    "list": lambda: [0.5, 1.5],
    "object": object,
}

# (name the error must contain, function, number of required arguments, argument named first)
FUNCTIONS: list[tuple[str, Callable[..., object], int, str]] = [
    ("check_gradients", check.check_gradients, 4, "'f'"),
    ("check_layer", check.check_layer, 3, "'layer'"),
    ("check_loss", check.check_loss, 3, "'loss'"),
    ("check_model", check.check_model, 5, "'model'"),
    ("init_stack", layers.init_stack, 3, "'layer'"),
    ("over_examples", layers.over_examples, 1, "'a'"),
    ("residual", layers.residual, 1, "'inner'"),
    ("parallel", layers.parallel, 2, "'layers[0]'"),
    ("fans", initializers.fans, 1, "'shape'"),
    ("zeros", initializers.zeros, 3, "'shape'"),
    ("glorot_uniform", initializers.glorot_uniform(), 3, "'shape'"),
    ("constant", initializers.constant(0.1), 3, "'shape'"),
    ("state.of", state.of, 1, "'layer'"),
    ("state.attach", state.attach, 2, "'layer'"),
    ("state.compose", state.compose, 1, "'layers"),
    ("state.init", state.init, 3, "'model'"),
    ("state.init_stack", state.init_stack, 3, "'model'"),
    ("state.forward", state.forward, 4, "'model'"),
    ("state.apply", state.apply, 4, "'model'"),
    ("state.freeze", state.freeze, 2, "'model'"),
]


@pytest.mark.parametrize("junk", JUNK, ids=list(JUNK))
@pytest.mark.parametrize("name, f, n, arg", FUNCTIONS, ids=[t[0] for t in FUNCTIONS])
def test_junk_in_every_required_argument_is_refused_clearly(
    name: str, f: Callable[..., object], n: int, arg: str, junk: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        f(*[JUNK[junk]() for _ in range(n)])
    message = str(info.value)
    assert name.split(".")[-1] in message and arg in message, message


X = np.ones((4, 2))
NET = layers.dense(1)
P = NET.init(0, (2,))[1]
F = lambda xs: float(np.sum(xs[0] ** 3))  # noqa: E731
G: dict[str, Any] = {
    "f": F,
    "inputs": [np.array([1.0, 2.0])],
    "analytic": [np.array([3.0, 12.0])],
    "names": ["x"],
}
# the public functions typed Any, so that the wrong arguments below type-check
CHECK: Any = check
LAYERS: Any = layers
STATE: Any = state
INIT: Any = initializers

# one bad argument among good ones: (expected message part, call)
ONE_BAD: list[tuple[str, Callable[[], object]]] = [
    ("check_gradients: argument 'eps' must be > 0", lambda: CHECK.check_gradients(**G, eps=0)),
    ("'eps' must be a finite", lambda: CHECK.check_gradients(**G, eps=float("nan"))),
    ("'rtol' must lie in", lambda: CHECK.check_gradients(**G, rtol=-1.0)),
    (
        "'names' has 0 entries but 'inputs' has 1",
        lambda: CHECK.check_gradients(**{**G, "names": []}),
    ),
    (
        "'inputs[0]' must be a floating",
        lambda: CHECK.check_gradients(**{**G, "inputs": [np.ones(2, int)]}),
    ),
    (
        "check_layer: argument 'x' must be a numpy array",
        lambda: CHECK.check_layer(NET, P, [[1.0, 2.0]]),
    ),
    (
        "check_layer: argument 'params.w'",
        lambda: CHECK.check_layer(NET, type(P)(cast(Any, "w"), P.b), X),
    ),
    ("check_loss: argument 'pred'", lambda: CHECK.check_loss(losses.mse, "x", X)),
    ("check_loss: argument 'target'", lambda: CHECK.check_loss(losses.mse, X, None)),
    ("check_model: argument 'loss'", lambda: CHECK.check_model(NET, None, P, X, X)),
    ("init_stack: argument 'keys' must be a list", lambda: LAYERS.init_stack(NET, 3, (2,))),
    ("init_stack: argument 'keys' must not be empty", lambda: STATE.init_stack(NET, [], (2,))),
    ("init_stack: argument 'input_shape'", lambda: LAYERS.init_stack(NET, [0, 1], 2)),
    ("residual: argument 'projection'", lambda: LAYERS.residual(NET, "x")),
    ("attach: argument 'fns'", lambda: STATE.attach(NET, "x")),
    ("compose: argument 'layers[1]'", lambda: STATE.compose([NET, None])),
    (
        "over_examples: argument 'a' must have at least 1 axes",
        lambda: LAYERS.over_examples(np.ones(())),
    ),
    (
        "zeros: argument 'dtype' must be a floating dtype",
        lambda: INIT.zeros(0, (2,), np.int64),
    ),
    (
        "he_normal: argument 'shape' must be positive ints",
        lambda: INIT.he_normal()(0, (2, 0), np.float64),
    ),
]


@pytest.mark.parametrize("message, call", ONE_BAD, ids=[m for m, _ in ONE_BAD])
def test_one_bad_argument_is_named(message: str, call: Callable[[], object]) -> None:
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        call()


def test_the_checks_keep_good_calls_working() -> None:
    bn = batch_norm()
    _, p, st = state.init_stack(bn, (0, 1), (3,))
    y, _, st2 = state.forward(bn, p, st, np.ones((2, 5, 3)))
    assert y.shape == (2, 5, 3) and st2.mean.shape == (2, 3)
    assert state.of(state.attach(NET, None)) is None
    assert check.check_loss(losses.softmax_cross_entropy, np.zeros((2, 3)), np.array([0, 2])).ok
    assert check.check_gradients(**G).ok
    assert INIT.fans([3, 5]) == (3, 5)  # a list is a shape too
    assert LAYERS.init_stack(NET, [0, 1], [2])[0] == (1,)
