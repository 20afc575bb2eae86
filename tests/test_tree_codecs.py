"""A structure flattened again and again runs its compiled codec: same results, same errors.

``tree.flatten``/``leaves``/``map``/``unflatten`` remember a compiled codec for a structure they
walked twice; these tests compare every answer before and after that, on the trees fnnet uses
(params, optimizer states) and on the edge cases (mismatches, errors raised inside ``f``,
unsortable dict keys, a class registered later).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

from fnnet import layers, optim, tree


class Pair(NamedTuple):
    a: Any
    b: Any


def trees() -> list[Any]:
    _, params = layers.mlp([2, 3, 1], hidden=layers.tanh).init(0, (2,))
    return [
        params,
        optim.adam(0.1).init(params),
        {"b": [np.ones(1), None], "a": Pair(np.zeros(2), (np.ones(3),))},
    ]


def answers(t: Any) -> list[Any]:
    """What the functions say about ``t`` (leaves by identity, structures, rebuilt trees)."""
    xs, treedef = tree.flatten(t)
    mapped = tree.map(lambda a, b: a + b if isinstance(a, np.ndarray) else a, t, t)
    return [
        [id(x) for x in xs],
        [id(x) for x in tree.leaves(t)],
        repr(treedef),
        tree.structure(t) == treedef,
        tree.structure(tree.unflatten(treedef, xs)) == treedef,
        [np.asarray(a).tolist() for a in tree.leaves(mapped)],
        tree.structure(mapped) == treedef,
    ]


@pytest.mark.parametrize("index", range(3))
def test_answers_are_the_same_before_and_after_the_codec_is_learned(index: int) -> None:
    t = trees()[index]
    first = answers(t)
    for _ in range(3):
        assert answers(t) == first


def test_mismatches_name_the_same_path_after_the_codec_is_learned() -> None:
    params = trees()[0]
    messages: list[tuple[str, str]] = []
    for _ in range(4):
        with pytest.raises(tree.TreeMismatchError) as info:
            tree.map(np.add, params, params[:3])
        messages.append((str(info.value), "".join(info.value.path)))
        with pytest.raises(tree.TreeMismatchError) as inner:  # raised inside f
            tree.map(lambda a, b: tree.map(np.add, (a,), [b]), params, params)
        messages.append((str(inner.value), "".join(inner.value.path)))
    assert len(set(messages)) == 2
    assert messages[1] == ("tree structures differ at [0].w: tuple vs list", "[0].w")


def test_other_structures_of_a_known_root_type_still_walk() -> None:
    for _ in range(3):
        tree.flatten((np.ones(1), np.ones(2)))
    xs, treedef = tree.flatten((np.ones(1), [np.ones(2), np.ones(3)]))
    assert len(xs) == 3 and repr(treedef) == "tuple(*, list(*, *))"
    xs, treedef = tree.flatten((np.ones(1), (np.ones(2),)))  # a container where a leaf was
    assert repr(treedef) == "tuple(*, tuple(*))"


def test_unsortable_dict_keys_get_the_walks_error() -> None:
    for _ in range(3):
        tree.flatten({"a": np.ones(1), "b": np.ones(1)})
    with pytest.raises(TypeError, match="sortable"):
        tree.flatten({"a": np.ones(1), 1: np.ones(1)})


def test_a_class_registered_later_is_a_container_there() -> None:
    class Box:
        def __init__(self, v: Any) -> None:
            self.v = v

    box = Box(np.ones(2))
    for _ in range(3):
        assert tree.leaves((np.ones(1), box))[1] is box  # a leaf while not registered
    tree.register(Box, lambda b: ([b.v], None), lambda aux, c: Box(c[0]))
    assert tree.leaves((np.ones(1), box))[1] is box.v
