"""fnnet.tree: registration, flatten/unflatten, map, at, arithmetic, codecs, old-name aliases."""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs
import numpy as np
import pytest

from fnnet import tree


@tree.pytree
@attrs.frozen
class Pair:
    a: Any
    b: Any


@attrs.frozen
class Unregistered:  # picked up on first use: any attrs class is a node
    x: Any


class NT(NamedTuple):
    first: Any
    second: Any


def sample() -> Any:
    return {
        "p": Pair(np.arange(3.0), (np.ones((2, 2)), None)),
        "n": NT(1.5, [np.zeros(1)]),
        "u": Unregistered(np.full(2, 7.0)),
    }


def test_leaves_follow_jax_order() -> None:
    t = sample()
    leaves = tree.leaves(t)
    # dict keys sorted: n, p, u; fields in declaration order
    assert [np.shape(x) for x in leaves] == [(), (1,), (3,), (2, 2), (2,)]
    assert tree.paths(t) == ["['n'].first", "['n'].second[0]", "['p'].a", "['p'].b[0]", "['u'].x"]


def test_flatten_unflatten_round_trip_bypasses_init() -> None:
    t = sample()
    leaves, treedef = tree.flatten(t)
    back = tree.unflatten(treedef, leaves)
    assert tree.structure(back) == treedef
    assert back["p"].b[1] is None
    assert type(back["n"]) is NT and type(back["u"]) is Unregistered
    with pytest.raises(ValueError, match="has 5 leaves, got 4"):
        tree.unflatten(treedef, leaves[:4])


def test_tree_map_multiple_trees() -> None:
    t = sample()
    doubled = tree.map(lambda x, y: x + y, t, t)
    assert np.array_equal(doubled["p"].a, 2 * np.arange(3.0))
    assert doubled["n"].first == 3.0


def test_tree_map_mismatch_names_the_path() -> None:
    a = Pair(np.ones(1), (np.ones(1), np.ones(1)))
    b = Pair(np.ones(1), (np.ones(1),))
    with pytest.raises(tree.TreeMismatchError, match=r"at \.b: tuple"):
        tree.map(np.add, a, b)
    c = {"x": Pair(1.0, 2.0)}
    d = {"x": NT(1.0, 2.0)}
    with pytest.raises(ValueError, match=r"at \['x'\]: Pair vs NT"):
        tree.map(np.add, c, d)


def test_tree_at_replaces_without_mutation() -> None:
    t = sample()
    new = tree.at(lambda s: s["p"].b[0], t, np.zeros(3))
    assert np.array_equal(new["p"].b[0], np.zeros(3))
    assert np.array_equal(t["p"].b[0], np.ones((2, 2)))  # original untouched
    assert new["p"].a is t["p"].a  # untouched parts are shared, not copied
    whole = tree.at(lambda s: s["p"], t, "replaced")
    assert whole["p"] == "replaced"
    with pytest.raises(ValueError, match="must return a leaf or non-empty subtree"):
        tree.at(lambda s: np.zeros(1), t, 0)


def test_arithmetic_and_norms() -> None:
    a = [np.array([3.0]), np.array([[4.0]])]
    assert float(tree.global_norm(a)) == 5.0
    assert float(tree.vdot(a, tree.scale(a, 2.0))) == 50.0
    assert tree.leaves(tree.sub(tree.add(a, a), a))[1].tolist() == [[4.0]]
    assert all(np.all(z == 0) for z in tree.leaves(tree.zeros_like(a)))
    stacked = [np.array([[3.0], [0.0]]), np.array([[4.0, 0.0], [0.0, 1.0]])]
    assert tree.global_norm(stacked, model_axes=1).tolist() == [5.0, 1.0]


def test_float32_stays_float32() -> None:
    a = [np.ones(2, np.float32)]
    assert tree.scale(a, 0.5)[0].dtype == np.float32
    assert tree.global_norm(a).dtype == np.float32
    mixed: list[Any] = [np.ones(1), 3]
    assert tree.astype(mixed, np.float32)[0].dtype == np.float32


def test_stack_unstack_index() -> None:
    trees = [Pair(np.full(2, float(i)), np.full((1, 3), float(i))) for i in range(3)]
    s = tree.stack(trees)
    assert s.a.shape == (3, 2) and s.b.shape == (3, 1, 3)
    back = tree.unstack(s)
    assert len(back) == 3 and np.array_equal(back[2].a, trees[2].a)
    assert np.array_equal(tree.index(s, 1).b, trees[1].b)
    assert tree.size(s) == 15


def test_codec_matches_generic_and_guards_structure() -> None:
    t = sample()
    leaves, treedef = tree.flatten(t)
    codec = tree._codec(treedef)
    got = codec.leaves(t)
    assert got is not None and all(x is y for x, y in zip(got, leaves, strict=True))
    rebuilt = codec.unflatten(leaves)
    assert tree.structure(rebuilt) == treedef
    assert codec.leaves({**t, "n": NT(1.5, [np.zeros(1), np.zeros(1)])}) is None
    assert codec.leaves({**t, "p": Pair(np.ones(1), [np.ones(1), None])}) is None
    assert codec.leaves({**t, "u": Unregistered(Pair(1, 2))}) is None  # leaf became a node
    assert tree._codec(treedef) is codec  # cached
    reused, same = tree._flatten_like(t, codec)
    assert same is codec and len(reused) == 5


def test_pytree_rejects_non_attrs() -> None:
    class Plain:
        pass

    with pytest.raises(TypeError, match="not an attrs class"):
        tree.pytree(Plain)


def test_old_names_are_aliases_of_the_new_ones() -> None:
    pairs = [
        (tree.tree_map, tree.map),
        (tree.tree_at, tree.at),
        (tree.tree_add, tree.add),
        (tree.tree_sub, tree.sub),
        (tree.tree_scale, tree.scale),
        (tree.tree_vdot, tree.vdot),
    ]
    assert all(old is new for old, new in pairs)
    a = [np.array([1.0, 2.0])]
    assert tree.tree_map(np.negative, a)[0].tolist() == [-1.0, -2.0]
    assert float(tree.tree_vdot(a, a)) == 5.0
    public = set(tree.__all__)
    assert {"map", "at", "add", "sub", "scale", "vdot"} <= public
    assert not public & {"tree_map", "Codec", "codec", "flatten_like"}
    assert not hasattr(tree, "Codec") and not hasattr(tree, "flatten_like")  # private now


def test_builtin_map_is_untouched_outside_the_module() -> None:
    from fnnet.tree import map as tree_map

    assert list(map(str, [1, 2])) == ["1", "2"]  # the builtin, here
    mapped: Any = tree_map(str, (1, 2))
    assert mapped == ("1", "2")  # the tree map keeps the structure


def test_bad_arguments_give_clear_errors_not_internal_ones() -> None:
    s3 = {"w": np.ones((3, 2))}
    t: Any = tree  # deliberately wrong argument types
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: tree.index(s3, 5), ValueError, "no model 5"),
        (lambda: t.index(s3, 1.0), TypeError, "'i' must be an int"),
        (lambda: tree.unstack({"w": np.float64(1.0)}), ValueError, "leading \\(model\\) axis"),
        (lambda: tree.unstack({"w": np.ones((3, 2)), "b": np.ones(2)}), ValueError, "same lead"),
        (lambda: tree.stack([{"w": np.ones(2)}, {"w": np.ones(3)}]), ValueError, "different sh"),
        (lambda: t.stack({"w": np.ones(2)}), ValueError, "non-empty list"),
        (lambda: tree.vdot([np.ones((2, 1))], [np.ones(2)]), ValueError, "equal shapes"),
        (lambda: tree.global_norm([np.ones(2)], model_axes=2), ValueError, "2 model axes"),
        (lambda: tree.ravel([], model_axes=0), ValueError, "no leaves"),
        (lambda: tree.ravel([np.ones(2)], model_axes=-1), ValueError, "model_axes"),
        (lambda: tree.at(lambda x: x[5], [np.ones(1)], 0), ValueError, "could not select"),
        (lambda: t.unflatten("x", [1]), TypeError, "must be a TreeDef"),
        (lambda: t.pytree(3), TypeError, "not an attrs class"),
        (lambda: tree.leaves({1: np.ones(1), "a": np.ones(1)}), TypeError, "sortable"),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind, match=text):
            call()


def test_norms_and_scales_keep_their_meaning_at_the_edges() -> None:
    assert float(tree.global_norm([np.array([np.inf, 1.0])])) == np.inf  # no NaN, no warning
    assert np.isnan(tree.global_norm([np.array([np.nan, 1.0])]))
    stacked = tree.global_norm([np.array([[np.inf, 0.0], [3.0, 4.0]])], model_axes=1)
    assert stacked.tolist() == [np.inf, 5.0]  # the other model is unaffected
    scaled = tree.scale([np.ones(2, np.float32)], np.float64(0.5))  # a numpy float scalar
    assert scaled[0].dtype == np.float32
