"""Pytrees: nested containers of arrays, and the few functions that walk them.

A pytree is a leaf (an array or scalar) or a container of pytrees. The containers fnnet knows
are frozen attrs classes (decorate with :func:`pytree`, or any attrs class is picked up on first
use), tuples, lists, dicts (walked in sorted key order, as JAX does), NamedTuples, and ``None``
(an empty subtree). Each container type's flatten/unflatten pair is computed once and cached, so
walking a tree costs a few hundred nanoseconds per node, far less than the numpy calls it
organises. Unflattening an attrs class bypasses ``__init__``: a gradient tree reuses the params
class without re-running validators.

The functions are meant to be called through the module, as ``jax.tree`` is: ``tree.map``,
``tree.at``, ``tree.add``, ``tree.sub``, ``tree.scale``, ``tree.vdot``. The older names
``tree_map``, ``tree_at``, ``tree_add``, ``tree_sub``, ``tree_scale`` and ``tree_vdot`` are
aliases of these and keep working. (Inside this module ``map`` is the tree map, not the builtin.)

>>> import attrs, numpy as np
>>> from fnnet import tree
>>> @tree.pytree
... @attrs.frozen
... class P:
...     w: np.ndarray
...     b: np.ndarray
>>> p = P(np.ones(2), np.zeros(1))
>>> tree.leaves(p)
[array([1., 1.]), array([0.])]
>>> tree.map(lambda a: a + 1, p).b
array([1.])
>>> tree.at(lambda t: t.b, p, np.full(1, 5.0)).b
array([5.])
>>> tree.tree_map is tree.map  # the old name, an alias
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeAlias, TypeVar

import attrs
import numpy as np

from fnnet.arrays import Array, _got, require_int

__all__ = [
    "PyTree",
    "TreeDef",
    "TreeMismatchError",
    "pytree",
    "register",
    "leaves",
    "flatten",
    "unflatten",
    "structure",
    "map",
    "at",
    "add",
    "sub",
    "scale",
    "vdot",
    "global_norm",
    "zeros_like",
    "stack",
    "unstack",
    "index",
    "paths",
    "prefix_leaves",
    "size",
    "astype",
    "Raveled",
    "ravel",
]

PyTree: TypeAlias = Any
"""Any pytree. A precise recursive type is not expressible for user-defined attrs classes, so this
is the one deliberate ``Any`` in fnnet; signatures that preserve structure use a ``TypeVar``."""

T = TypeVar("T")
C = TypeVar("C", bound=type)

_Flatten: TypeAlias = Callable[[Any], tuple[list[Any], Any]]
_Unflatten: TypeAlias = Callable[[Any, list[Any]], Any]


class _Kind(NamedTuple):
    """How one container type is taken apart and put back together."""

    flatten: _Flatten  # node -> (children, aux data)
    unflatten: _Unflatten  # (aux data, children) -> node
    child_names: Callable[[Any], list[str]]  # aux data -> a path step per child
    fields: tuple[str, ...] | None = None  # attrs fields, read by name in compiled codecs


_KINDS: dict[type, _Kind | None] = {}


class TreeMismatchError(ValueError):
    """Two pytrees that should have the same structure do not; the message says where.

    >>> from fnnet import tree
    >>> tree.add((np.ones(1), np.ones(1)), (np.ones(1), [np.ones(1)]))
    Traceback (most recent call last):
    fnnet.tree.TreeMismatchError: tree structures differ at [1]: a leaf vs list
    """

    def __init__(self, what: str, path: tuple[str, ...] = ()) -> None:
        self.what = what
        self.path = path
        where = "".join(path) or "<root>"
        super().__init__(f"tree structures differ at {where}: {what}")

    def under(self, step: str) -> TreeMismatchError:
        return TreeMismatchError(self.what, (step, *self.path))


def register(cls: type, flatten: _Flatten, unflatten: _Unflatten) -> None:
    """Register a container type with its ``flatten(node) -> (children, aux)`` and
    ``unflatten(aux, children) -> node`` functions.

    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> register(Pair, lambda p: ((p.a, p.b), None), lambda aux, children: Pair(*children))
    >>> leaves(scale(Pair(np.ones(1), np.ones(2)), 2.0))  # tree.scale
    [array([2.]), array([2., 2.])]
    """
    if not isinstance(cls, type):
        raise TypeError(f"fnnet.tree.register: argument 'cls' must be a class, got {_got(cls)}")
    for arg, fn in (("flatten", flatten), ("unflatten", unflatten)):
        if not callable(fn):
            raise TypeError(
                f"fnnet.tree.register: argument {arg!r} must be a function, got {_got(fn)}"
            )
    _KINDS[cls] = _Kind(flatten, unflatten, lambda aux: [f"[{i}]" for i in range(len(aux or ()))])


def _attrs_kind(cls: type) -> _Kind:
    names = tuple(f.name for f in attrs.fields(cls))
    new = object.__new__
    setattr_ = object.__setattr__

    def flatten(node: Any) -> tuple[list[Any], Any]:
        return [getattr(node, n) for n in names], None

    def unflatten(aux: Any, children: list[Any]) -> Any:
        node: Any = new(cls)
        for name, child in zip(names, children, strict=True):
            setattr_(node, name, child)
        return node

    return _Kind(flatten, unflatten, lambda aux: [f".{n}" for n in names], names)


def pytree(cls: C) -> C:
    """Class decorator: register a (frozen) attrs class as a pytree node, fields in order.

    >>> @pytree
    ... @attrs.frozen
    ... class Affine:
    ...     w: np.ndarray
    ...     b: np.ndarray
    >>> from fnnet import tree
    >>> tree.map(np.shape, Affine(np.ones((2, 3)), np.zeros(3)))
    Affine(w=(2, 3), b=(3,))
    """
    is_attrs = isinstance(cls, type) and attrs.has(cls)  # (a variable: keeps mypy from narrowing)
    if not is_attrs:
        name = getattr(cls, "__name__", repr(cls))
        raise TypeError(
            f"fnnet.tree.pytree: {name} is not an attrs class; decorate a class with "
            "@attrs.frozen first"
        )
    _KINDS[cls] = _attrs_kind(cls)
    return cls


def _seq_names(aux: Any) -> list[str]:
    return [f"[{i}]" for i in range(aux)]


_TUPLE = _Kind(lambda t: (list(t), len(t)), lambda aux, c: tuple(c), _seq_names)
_LIST = _Kind(lambda t: (list(t), len(t)), lambda aux, c: list(c), _seq_names)
_NONE = _Kind(lambda t: ([], None), lambda aux, c: None, lambda aux: [])


def _dict_flatten(d: dict[Any, Any]) -> tuple[list[Any], Any]:
    try:
        keys = sorted(d)
    except TypeError:
        raise TypeError(
            f"fnnet.tree: the keys of a dict in a tree must be sortable (all str, or all int), "
            f"got {list(d)!r}"
        ) from None
    return [d[k] for k in keys], tuple(keys)


_DICT = _Kind(
    _dict_flatten,
    lambda keys, c: dict(zip(keys, c, strict=True)),
    lambda keys: [f"[{k!r}]" for k in keys],
)
_KINDS.update({tuple: _TUPLE, list: _LIST, dict: _DICT, type(None): _NONE})


def _kind(cls: type) -> _Kind | None:
    """The cached kind of ``cls``; ``None`` for a leaf."""
    try:
        return _KINDS[cls]
    except KeyError:
        pass
    kind: _Kind | None = None
    if attrs.has(cls):
        kind = _attrs_kind(cls)
    elif issubclass(cls, tuple) and hasattr(cls, "_fields"):  # NamedTuple
        fields: tuple[str, ...] = cls._fields
        kind = _Kind(
            lambda t: (list(t), None),
            lambda aux, c: cls(*c),
            lambda aux: [f".{n}" for n in fields],
        )
    _KINDS[cls] = kind
    return kind


@attrs.frozen(cache_hash=True)
class TreeDef:
    """The structure of a pytree without its leaves. ``node`` is ``None`` for a leaf.

    >>> structure((np.ones(2), {"w": np.ones(1), "b": [np.ones(1)]}))
    tuple(*, dict(list(*), *))
    """

    node: type | None
    aux: Any
    children: tuple[TreeDef, ...]
    num_leaves: int

    def __repr__(self) -> str:
        if self.node is None:
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        return f"{self.node.__name__}({inner})"


_LEAF = TreeDef(None, None, (), 1)


def _collect(tree: Any, out: list[Any]) -> None:
    kind = _kind(type(tree))
    if kind is None:
        out.append(tree)
        return
    for child in kind.flatten(tree)[0]:
        _collect(child, out)


def leaves(tree: PyTree) -> list[Any]:
    """The leaves of ``tree`` in flatten order (depth first, fields/keys in order).

    >>> leaves({"w": np.ones(2), "b": (np.zeros(1), None)})  # dict keys sorted; None is empty
    [array([0.]), array([1., 1.])]
    """
    hit = _known(tree)
    if hit is not None:
        return hit[0]
    out: list[Any] = []
    _collect(tree, out)
    return out


def _structure(tree: Any, out: list[Any]) -> TreeDef:
    kind = _kind(type(tree))
    if kind is None:
        out.append(tree)
        return _LEAF
    children, aux = kind.flatten(tree)
    defs = tuple(_structure(c, out) for c in children)
    return TreeDef(type(tree), aux, defs, sum(d.num_leaves for d in defs))


def flatten(tree: PyTree) -> tuple[list[Any], TreeDef]:
    """``(leaves, treedef)`` such that ``unflatten(treedef, leaves)`` rebuilds ``tree``.

    >>> xs, treedef = flatten([np.ones(1), {"a": np.zeros(2)}])
    >>> xs, treedef
    ([array([1.]), array([0., 0.])], list(*, dict(*)))
    >>> unflatten(treedef, [x + 1 for x in xs])
    [array([2.]), {'a': array([1., 1.])}]
    """
    hit = _known(tree)
    if hit is not None:
        return hit[0], hit[1].treedef
    out: list[Any] = []
    treedef = _structure(tree, out)
    _learn(type(tree), treedef)
    return out, treedef


# Structures seen again and again (a params tree, an optimizer state) are flattened by a compiled
# codec (see _Codec) instead of the recursive walk: after the second walk of one structure, its
# codec is remembered under the root's type (a few per type), and tried first from then on. A
# codec checks the whole structure (types, lengths, keys) and declines anything else, so the
# results are exactly the walk's.
_KNOWN: dict[type, list[_Codec]] = {}
_SEEN: dict[TreeDef, int] = {}


def _known(tree: Any) -> tuple[list[Any], _Codec] | None:
    """``(leaves, codec)`` when a remembered codec has the structure of ``tree``, else None."""
    codecs = _KNOWN.get(type(tree))
    if codecs:
        for c in codecs:
            try:
                found = c.leaves(tree)
            except TypeError:  # a dict with unsortable keys: the walk explains it
                return None
            if found is not None:
                return found, c
    return None


def _learn(root: type, treedef: TreeDef) -> None:
    """Count a walk of the container structure ``treedef``; remember its codec at the second."""
    if treedef.node is None:
        return
    seen = _SEEN.get(treedef, 0) + 1
    if seen < 2:
        if len(_SEEN) > 4096:
            _SEEN.clear()
        _SEEN[treedef] = seen
        return
    codecs = _KNOWN.setdefault(root, [])
    if len(codecs) >= 8:
        codecs.pop(0)
    codecs.append(_codec(treedef))
    _SEEN.pop(treedef, None)


def structure(tree: PyTree) -> TreeDef:
    """The ``TreeDef`` of ``tree``.

    >>> structure((np.ones(1), np.ones(2))) == structure((np.zeros(3), np.zeros(4)))
    True
    """
    return flatten(tree)[1]


def _build(treedef: TreeDef, it: Iterator[Any]) -> Any:
    if treedef.node is None:
        return next(it)
    kind = _kind(treedef.node)
    assert kind is not None
    return kind.unflatten(treedef.aux, [_build(c, it) for c in treedef.children])


def unflatten(treedef: TreeDef, leaves: list[Any]) -> PyTree:
    """Rebuild a tree of structure ``treedef`` from ``leaves`` (in flatten order).

    >>> unflatten(structure({"a": 0, "b": (0, 0)}), [1, 2, 3])
    {'a': 1, 'b': (2, 3)}
    """
    if not isinstance(treedef, TreeDef):
        raise TypeError(
            f"fnnet.tree.unflatten: argument 'treedef' must be a TreeDef (from tree.flatten or "
            f"tree.structure), got {type(treedef).__name__}"
        )
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"fnnet.tree.unflatten: treedef {treedef!r} has {treedef.num_leaves} leaves, "
            f"got {len(leaves)}"
        )
    codec = _CODECS.get(treedef)
    if codec is not None:
        return codec.unflatten(leaves)
    return _build(treedef, iter(leaves))


def _map(f: Callable[..., Any], tree: Any, rest: tuple[Any, ...]) -> Any:
    kind = _kind(type(tree))
    if kind is None:
        for other in rest:
            if _kind(type(other)) is not None:
                raise TreeMismatchError(f"a leaf vs {type(other).__name__}")
        return f(tree, *rest)
    children, aux = kind.flatten(tree)
    rest_children = []
    for other in rest:
        if type(other) is not type(tree):
            raise TreeMismatchError(f"{type(tree).__name__} vs {type(other).__name__}")
        other_children, other_aux = kind.flatten(other)
        if other_aux != aux or len(other_children) != len(children):
            raise TreeMismatchError(
                f"{type(tree).__name__} with {kind.child_names(aux)} vs "
                f"{kind.child_names(other_aux)}"
            )
        rest_children.append(other_children)
    out = []
    for i, child in enumerate(children):
        try:
            out.append(_map(f, child, tuple(rc[i] for rc in rest_children)))
        except TreeMismatchError as e:
            raise e.under(kind.child_names(aux)[i]) from None
    return kind.unflatten(aux, out)


def map(f: Callable[..., Any], tree: T, *rest: T) -> T:
    """Apply ``f`` leafwise: ``f(leaf, *corresponding leaves of rest)``; same structure out.

    Raises :class:`TreeMismatchError` (a ``ValueError``) naming the path where the structures
    differ.

    >>> from fnnet import tree
    >>> tree.map(lambda p, g: p - 0.1 * g, {"w": np.ones(2)}, {"w": np.array([1.0, -1.0])})
    {'w': array([0.9, 1.1])}
    """
    if not callable(f):
        raise TypeError(
            f"fnnet.tree.map: argument 'f' must be a function of the leaves, got {_got(f)}"
        )
    hit = _known(tree)
    if hit is not None:
        xs, codec = hit
        columns = [xs]
        for other in rest:
            found = _known_as(codec, other)
            if found is None:
                break  # the walk below says where the structures differ
            columns.append(found)
        else:
            rebuilt: T = codec.unflatten(_apply(f, columns, codec.treedef))
            return rebuilt
    result: T = _map(f, tree, rest)
    if rest or _kind(type(tree)) is not None:
        out: list[Any] = []
        _learn(type(tree), _structure(tree, out))
    return result


def _known_as(codec: _Codec, tree: Any) -> list[Any] | None:
    try:
        return codec.leaves(tree)
    except TypeError:
        return None


def _apply(f: Callable[..., Any], columns: list[list[Any]], treedef: TreeDef) -> list[Any]:
    """``f`` on each leaf with its partners; a mismatch raised inside ``f`` gets the leaf's path
    (as the walk in :func:`_map` reports it)."""
    out: list[Any] = []
    try:
        if len(columns) == 1:
            for x in columns[0]:
                out.append(f(x))
        else:
            for args in zip(*columns, strict=True):
                out.append(f(*args))
    except TreeMismatchError as e:
        raise TreeMismatchError(e.what, (*_leaf_steps(treedef)[len(out)], *e.path)) from None
    return out


def _leaf_steps(treedef: TreeDef) -> list[tuple[str, ...]]:
    """Each leaf's path as the steps :meth:`TreeMismatchError.under` adds, in flatten order."""
    if treedef.node is None:
        return [()]
    kind = _kind(treedef.node)
    assert kind is not None
    steps: list[tuple[str, ...]] = []
    for name, child in zip(kind.child_names(treedef.aux), treedef.children, strict=True):
        steps.extend((name, *s) for s in _leaf_steps(child))
    return steps


def prefix_leaves(prefix: PyTree, tree: PyTree) -> list[Any]:
    """One value of ``prefix`` per leaf of ``tree``: ``prefix`` has ``tree``'s structure down to
    some depth, and a leaf of ``prefix`` stands for every leaf of the subtree below it (as in
    optax's masks: ``(True, None, False, None)`` for the params of a 4-layer ``serial``).

    >>> prefix_leaves((True, [False]), ([1, 2], [(3, 4)]))
    [True, True, False, False]
    """
    out: list[Any] = []

    def walk(p: Any, t: Any, path: str) -> None:
        kind = _kind(type(p))
        if kind is None:
            out.extend([p] * len(leaves(t)))
            return
        if type(t) is not type(p):
            raise TreeMismatchError(
                f"prefix has {type(p).__name__}, tree has {type(t).__name__}", (path,)
            )
        pc, pa = kind.flatten(p)
        tc, ta = kind.flatten(t)
        if pa != ta or len(pc) != len(tc):
            raise TreeMismatchError(
                f"prefix {kind.child_names(pa)} vs {kind.child_names(ta)}", (path,)
            )
        for name, a, b in zip(kind.child_names(pa), pc, tc, strict=True):
            walk(a, b, path + name)

    walk(prefix, tree, "")
    return out


def paths(tree: PyTree) -> list[str]:
    """A readable path (``[0].w``) for every leaf, in flatten order.

    >>> paths((np.ones(1), {"w": np.ones(1), "b": np.ones(1)}))
    ['[0]', "[1]['b']", "[1]['w']"]
    """
    out: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        kind = _kind(type(node))
        if kind is None:
            out.append(prefix or "<root>")
            return
        children, aux = kind.flatten(node)
        for name, child in zip(kind.child_names(aux), children, strict=True):
            walk(child, prefix + name)

    walk(tree, "")
    return out


class _Marker:
    """A unique stand-in for a node of the tree, used by :func:`at`."""

    __slots__ = ("path",)

    def __init__(self, path: tuple[int, ...]) -> None:
        self.path = path


def at(where: Callable[[T], Any], tree: T, replace: Any) -> T:
    """A copy of ``tree`` with the node that ``where`` selects replaced by ``replace``.

    ``where`` is a function that picks a part of the tree, such as ``lambda p: p[0].w``; the
    original tree is not mutated. ``where`` may select a leaf or a whole subtree.

    >>> from fnnet import tree
    >>> params = ({"w": np.ones(2)}, None)
    >>> tree.at(lambda p: p[0]["w"], params, np.zeros(2)), params  # the original is unchanged
    (({'w': array([0., 0.])}, None), ({'w': array([1., 1.])}, None))
    """
    ids: dict[int, tuple[int, ...]] = {}

    def mark(node: Any, path: tuple[int, ...]) -> Any:
        kind = _kind(type(node))
        if kind is None:
            marker = _Marker(path)
            ids[id(marker)] = path
            return marker
        children, aux = kind.flatten(node)
        rebuilt = kind.unflatten(aux, [mark(c, (*path, i)) for i, c in enumerate(children)])
        if children:  # empty containers may be shared singletons: not selectable
            ids[id(rebuilt)] = path
        return rebuilt

    marked = mark(tree, ())
    try:
        chosen = where(marked)
    except (IndexError, KeyError, AttributeError, TypeError) as e:
        raise ValueError(
            f"fnnet.tree.at (tree_at): `where` could not select a part of the tree "
            f"{structure(tree)!r}: {type(e).__name__}: {e}"
        ) from e
    if id(chosen) not in ids:
        raise ValueError(
            "fnnet.tree.at (tree_at): `where` must return a leaf or non-empty subtree of its "
            f"argument, got {type(chosen).__name__}"
        )
    target = ids[id(chosen)]

    def rebuild(node: Any, path: tuple[int, ...]) -> Any:
        if path == target:
            return replace
        kind = _kind(type(node))
        assert kind is not None
        children, aux = kind.flatten(node)
        i = target[len(path)]
        children[i] = rebuild(children[i], (*path, i))
        return kind.unflatten(aux, children)

    result: T = rebuild(tree, ())
    return result


def add(a: T, b: T) -> T:
    """Leafwise ``a + b``.

    >>> from fnnet import tree
    >>> tree.add({"w": np.ones(2)}, {"w": np.array([1.0, 2.0])})
    {'w': array([2., 3.])}
    """
    try:
        return map(np.add, a, b)
    except (TypeError, AttributeError) as e:
        raise _not_numeric("add", e, a=a, b=b) from None


def sub(a: T, b: T) -> T:
    """Leafwise ``a - b``.

    >>> from fnnet import tree
    >>> tree.sub({"w": np.ones(2)}, {"w": np.array([1.0, 2.0])})
    {'w': array([ 0., -1.])}
    """
    try:
        return map(np.subtract, a, b)
    except (TypeError, AttributeError) as e:
        raise _not_numeric("sub", e, a=a, b=b) from None


def scale(a: T, s: float) -> T:
    """Leafwise ``s * a``; a numpy float scalar ``s`` is taken as a Python float, so float32
    stays float32.

    >>> from fnnet import tree
    >>> tree.scale([np.ones(2, np.float32)], 0.5)
    [array([0.5, 0.5], dtype=float32)]
    """
    if isinstance(s, np.floating):
        s = float(s)
    try:
        return map(lambda x: x * s, a)
    except (TypeError, AttributeError) as e:
        raise _not_numeric("scale", e, a=a, s=s) from None


def _numeric(x: object) -> bool:
    """Whether ``x`` is a leaf tree arithmetic can use: a number or a numeric numpy array."""
    if isinstance(x, np.ndarray | np.generic):
        return x.dtype.kind in "biufc"
    return isinstance(x, int | float | complex)


def _not_numeric(fn: str, error: BaseException, **args: object) -> TypeError:
    """The error for tree arithmetic that failed inside numpy (only built on failure): names the
    first argument with a leaf that is not a number or a numeric array, and that leaf's path."""
    for arg, t in args.items():
        try:
            found = [(p, x) for p, x in zip(paths(t), leaves(t), strict=True) if not _numeric(x)]
        except Exception:  # noqa: BLE001 - a container that cannot even be walked
            found = [("<root>", t)]
        if found:
            where, x = found[0]
            return TypeError(
                f"fnnet.tree.{fn}: argument {arg!r} must be a tree of numeric arrays, but its "
                f"leaf {where} is {_got(x)}"
            )
    names = ", ".join(repr(a) for a in args)
    return TypeError(f"fnnet.tree.{fn}: arguments {names} could not be combined: {error}")


def _model_sum(x: Array, model_axes: int) -> Array:
    """Sum over every axis after the first ``model_axes``."""
    axes = tuple(range(model_axes, np.ndim(x)))
    return np.add.reduce(x, axis=axes) if axes else x


def vdot(a: PyTree, b: PyTree, model_axes: int = 0) -> Array:
    """``sum(a * b)`` over all leaves; per model (shape of the first ``model_axes`` axes).

    >>> from fnnet import tree
    >>> float(tree.vdot((np.ones(2), np.array([3.0])), (np.array([1.0, 2.0]), np.array([2.0]))))
    9.0
    >>> tree.vdot([np.ones((2, 3))], [np.ones((2, 3))], model_axes=1)  # 2 stacked models
    array([3., 3.])
    """
    la, lb = leaves(a), leaves(b)
    model_axes = require_int("fnnet.tree.vdot", "model_axes", model_axes, minimum=0)
    if not all(_numeric(x) for x in la) or not all(_numeric(x) for x in lb):
        raise _not_numeric("vdot", TypeError("not numeric"), a=a, b=b)
    if len(la) != len(lb):
        raise TreeMismatchError(f"{len(la)} leaves vs {len(lb)}")
    for x, y in zip(la, lb, strict=True):
        if np.shape(x) != np.shape(y) or np.ndim(x) < model_axes:
            raise ValueError(
                f"fnnet.tree.vdot: leaves must have equal shapes with at least {model_axes} "
                f"(model) axes, got {np.shape(x)} and {np.shape(y)}"
            )
    total: Array = sum(
        (_model_sum(x * y, model_axes) for x, y in zip(la, lb, strict=True)),
        start=np.zeros((), np.result_type(la[0])) if la else np.zeros(()),
    )
    return total


def global_norm(tree: PyTree, model_axes: int = 0) -> Array:
    """``sqrt(sum of squares of every leaf)``; per model when ``model_axes`` > 0.

    Computed as ``s · sqrt(Σ (x / s)²)`` with ``s`` the largest magnitude, so no square
    overflows: huge leaves (beyond √max of the dtype) still give their finite norm.

    >>> float(global_norm([np.array([3.0]), {"b": np.array([4.0])}]))
    5.0
    >>> global_norm([np.array([[3.0, 4.0], [1e200, 1e200]])], model_axes=1)  # no overflow
    array([5.00000000e+000, 1.41421356e+200])
    """
    xs = leaves(tree)
    model_axes = require_int("fnnet.tree.global_norm", "model_axes", model_axes, minimum=0)
    if not all(_numeric(x) for x in xs):
        raise _not_numeric("global_norm", TypeError("not numeric"), tree=tree)
    if not xs:
        return np.zeros(())
    if model_axes < 0 or any(np.ndim(x) < model_axes for x in xs):
        raise ValueError(
            f"fnnet.tree.global_norm: every leaf needs the {model_axes} model axes, got shapes "
            f"{[np.shape(x) for x in xs]}"
        )
    scale = np.maximum.reduce(
        [np.max(np.abs(x), axis=tuple(range(model_axes, np.ndim(x))), initial=0.0) for x in xs]
    ).astype(np.result_type(xs[0]), copy=False)
    safe = np.where((scale > 0) & np.isfinite(scale), scale, 1)  # inf and NaN: not scaled
    scaled = [x / safe.reshape(safe.shape + (1,) * (np.ndim(x) - safe.ndim)) for x in xs]
    norm: Array = np.sqrt(vdot(scaled, scaled, model_axes)) * safe
    return norm


def zeros_like(tree: T) -> T:
    """A tree of zeros shaped like ``tree``.

    >>> zeros_like({"w": np.ones((2, 2)), "b": None})
    {'b': None, 'w': array([[0., 0.],
           [0., 0.]])}
    """
    return map(np.zeros_like, tree)


def stack(trees: list[T]) -> T:
    """Stack same-structured trees along a new leading (model) axis.

    >>> from fnnet import tree
    >>> tree.stack([{"w": np.ones(2)}, {"w": np.zeros(2)}])  # 2 models on a leading axis
    {'w': array([[1., 1.],
           [0., 0.]])}
    """
    if not isinstance(trees, list | tuple) or not trees:
        raise ValueError(
            f"fnnet.tree.stack: need a non-empty list of trees, got {type(trees).__name__} "
            f"{trees!r}"[:200]
        )

    def stack_leaf(*xs: Any) -> Any:
        shapes = {np.shape(x) for x in xs}
        if len(shapes) > 1:
            raise ValueError(f"fnnet.tree.stack: a leaf has different shapes {sorted(shapes)}")
        return np.stack(xs)

    return map(stack_leaf, trees[0], *trees[1:])


def _models(fn: str, tree: PyTree) -> int:
    """The number of models (the leading axis shared by every leaf) of a stacked tree."""
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves(tree)}
    if not sizes or None in sizes or len(sizes) > 1:
        raise ValueError(
            f"{fn}: every leaf of a stacked tree needs the same leading (model) axis, got shapes "
            f"{[np.shape(x) for x in leaves(tree)]}"
        )
    return int(sizes.pop() or 0)


def index(tree: T, i: int | tuple[int, ...]) -> T:
    """Model ``i`` of a stacked tree: every leaf indexed on its leading axes.

    >>> from fnnet import tree
    >>> tree.index({"w": np.arange(6.0).reshape(3, 2)}, 1)  # model 1 of a stack of 3
    {'w': array([2., 3.])}
    """
    parts = i if isinstance(i, tuple) else (i,)
    if not all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in parts):
        raise TypeError(f"fnnet.tree.index: argument 'i' must be an int or ints, got {i!r}")
    try:
        return map(lambda x: x[i], tree)
    except IndexError as e:
        raise ValueError(
            f"fnnet.tree.index: there is no model {i} in a stack whose leaves have shapes "
            f"{[np.shape(x) for x in leaves(tree)]}"
        ) from e


def unstack(tree: T) -> list[T]:
    """The inverse of :func:`stack`: one tree per index of the leading axis.

    >>> from fnnet import tree
    >>> tree.unstack({"w": np.arange(4.0).reshape(2, 2)})
    [{'w': array([0., 1.])}, {'w': array([2., 3.])}]
    """
    if not leaves(tree):
        raise ValueError("fnnet.tree.unstack: the tree has no leaves")
    return [index(tree, i) for i in range(_models("fnnet.tree.unstack", tree))]


def size(tree: PyTree) -> int:
    """Total number of scalars in the tree's leaves.

    >>> size((np.ones((2, 3)), {"b": np.ones(3)}))
    9
    """
    return sum(math.prod(np.shape(x)) for x in leaves(tree))


def astype(tree: T, dtype: np.dtype[Any] | type[np.floating[Any]]) -> T:
    """The tree with every floating leaf cast to ``dtype`` (others unchanged).

    >>> astype({"w": np.ones(2), "n": np.arange(2)}, np.float32)  # integer leaves unchanged
    {'n': array([0, 1]), 'w': array([1., 1.], dtype=float32)}
    """

    def cast(x: Any) -> Any:
        if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
            return x.astype(dtype, copy=False)
        return x

    return map(cast, tree)


class _Codec:
    """Flatten and unflatten compiled for one structure: straight-line code, no recursion.

    ``leaves(t)`` returns the leaves of ``t``, or ``None`` when ``t`` does not have this
    structure (every container's type, length, keys are checked); ``unflatten(leaves)`` builds the
    tree. Internal: :class:`Raveled` and the training loop keep one per params structure, so a
    step costs a few hundred nanoseconds of tree bookkeeping instead of a recursive walk.

    >>> t = (np.ones(2), {"b": np.zeros(1)})
    >>> c = _codec(structure(t))
    >>> c.leaves(t), c.leaves((np.ones(2), np.zeros(1)))  # None: not this structure
    ([array([1., 1.]), array([0.])], None)
    >>> c.unflatten([np.ones(1), np.ones(1)])
    (array([1.]), {'b': array([1.])})
    """

    def __init__(self, treedef: TreeDef) -> None:
        self.treedef = treedef
        source = _CodecSource()
        source.emit_get("t", treedef)
        source.get.append(f"  return [{', '.join(source.out)}]")
        source.positions = iter(range(treedef.num_leaves))
        source.build.append(f"  return {source.emit_build(treedef)}")
        env = source.env
        exec(source.text(), env)  # noqa: S102 - generated from a TreeDef, no user strings
        self.leaves: Callable[[Any], list[Any] | None] = env["leaves"]
        self.unflatten: Callable[[list[Any]], Any] = env["unflatten"]


class _CodecSource:
    """The Python source of one :class:`_Codec`: ``leaves(t)`` and ``unflatten(L)``.

    Values (types, dict keys, flatten functions) are never printed into the source: each is bound
    to a fresh name ``_cN`` in ``env``, so only generated identifiers and integers appear in it.
    """

    def __init__(self) -> None:
        self.env: dict[str, Any] = {
            "_kind": _kind,
            "_nd": np.ndarray,
            "_new": object.__new__,
            "_sa": object.__setattr__,
        }
        self.names = iter(range(1 << 62))
        self.get: list[str] = ["def leaves(t):"]
        self.out: list[str] = []  # the variables holding the leaves, in order
        self.build: list[str] = ["def unflatten(L):"]
        self.positions: Iterator[int] = iter(())

    def text(self) -> str:
        return "\n".join(self.get) + "\n\n" + "\n".join(self.build)

    def const(self, value: Any) -> str:
        name = f"_c{next(self.names)}"
        self.env[name] = value
        return name

    def _parts(self, var: str, td: TreeDef, kind: _Kind) -> list[str]:
        """Expressions for the children of node ``var`` (after emitting its structure checks)."""
        node = td.node
        n = len(td.children)
        if node is dict:
            self.get.append(f"  if tuple(sorted({var})) != {self.const(td.aux)}: return None")
            return [f"{var}[{self.const(k)}]" for k in td.aux]
        if kind.fields is not None and node not in (tuple, list):
            return [f"{var}.{f}" for f in kind.fields]
        if node in (tuple, list) or hasattr(node, "_fields"):
            self.get.append(f"  if len({var}) != {n}: return None")
            return [f"{var}[{i}]" for i in range(n)]
        c = f"_v{next(self.names)}"
        self.get.append(f"  {c}, _aux = {self.const(kind.flatten)}({var})")
        self.get.append(f"  if _aux != {self.const(td.aux)} or len({c}) != {n}: return None")
        return [f"{c}[{i}]" for i in range(n)]

    def emit_get(self, var: str, td: TreeDef) -> None:
        """Checks that ``var`` has structure ``td`` and collects its leaves into ``self.out``."""
        if td.node is None:
            self.get.append(
                f"  if type({var}) is not _nd and _kind(type({var})) is not None: return None"
            )
            self.out.append(var)
            return
        kind = _kind(td.node)
        assert kind is not None
        self.get.append(f"  if type({var}) is not {self.const(td.node)}: return None")
        for part, child in zip(self._parts(var, td, kind), td.children, strict=True):
            v = f"_v{next(self.names)}"
            self.get.append(f"  {v} = {part}")
            self.emit_get(v, child)

    def emit_build(self, td: TreeDef) -> str:
        """An expression building a node of structure ``td`` from the list ``L``."""
        if td.node is None:
            return f"L[{next(self.positions)}]"
        kind = _kind(td.node)
        assert kind is not None
        children = [self.emit_build(c) for c in td.children]
        if td.node is type(None):
            return "None"
        if td.node is tuple:
            return "(" + "".join(f"{c}, " for c in children) + ")"
        if td.node is list:
            return "[" + ", ".join(children) + "]"
        if td.node is dict:
            pairs = zip(td.aux, children, strict=True)
            return "{" + ", ".join(f"{self.const(k)}: {c}" for k, c in pairs) + "}"
        if kind.fields is not None and attrs.has(td.node):
            o = f"_o{next(self.names)}"
            self.build.append(f"  {o} = _new({self.const(td.node)})")
            for f, c in zip(kind.fields, children, strict=True):
                self.build.append(f"  _sa({o}, {f!r}, {c})")
            return o
        if hasattr(td.node, "_fields"):
            return f"{self.const(td.node)}({', '.join(children)})"
        return f"{self.const(kind.unflatten)}({self.const(td.aux)}, [{', '.join(children)}])"


_CODECS: dict[TreeDef, _Codec] = {}


def _codec(treedef: TreeDef) -> _Codec:
    """The (cached) compiled :class:`_Codec` of ``treedef``.

    >>> t = [np.ones(1), np.ones(1)]
    >>> _codec(structure(t)) is _codec(structure([np.zeros(3), np.zeros(3)]))  # cached
    True
    """
    try:
        return _CODECS[treedef]
    except KeyError:
        c = _CODECS[treedef] = _Codec(treedef)
        return c


def _flatten_like(t: PyTree, hint: _Codec | None) -> tuple[list[Any], _Codec]:
    """``(leaves, codec)`` of ``t``, reusing ``hint`` when ``t`` has its structure.

    A loop that flattens trees of one structure over and over keeps the returned codec and
    passes it back in as the next ``hint``.

    >>> xs, c = _flatten_like([np.ones(1), np.ones(2)], None)
    >>> xs2, c2 = _flatten_like([np.zeros(1), np.zeros(2)], c)  # same structure: hint reused
    >>> c2 is c, xs2
    (True, [array([0.]), array([0., 0.])])
    """
    if hint is not None:
        found = hint.leaves(t)
        if found is not None:
            return found, hint
    out, treedef = flatten(t)
    return out, _codec(treedef)


class Raveled:
    """The layout of a pytree raveled into one vector per model (see :func:`ravel`).

    ``ravel(t)`` concatenates the leaves of ``t`` (leading ``model`` axes kept) into an array of
    shape ``(*models, size)``; ``unravel(v)`` is the inverse, a tree of *views* into ``v`` (no
    copy), for any leading model axes of ``v``. Leaf order is :func:`leaves` order, each leaf
    row-major, so a ``DenseParams(w, b)`` becomes ``[w.ravel(), b]``.

    >>> v, layout = ravel((np.ones((3, 2)), np.zeros((3, 1))), model_axes=1)  # 3 models
    >>> v.shape, layout
    ((3, 3), Raveled(tuple(*, *), size 3, float64))
    >>> t = layout.unravel(v)
    >>> t[0].shape, bool(np.shares_memory(t[0], v))  # views into v
    ((3, 2), True)
    """

    def __init__(self, treedef: TreeDef, shapes: list[tuple[int, ...]], dtype: Any) -> None:
        self.treedef = treedef
        self.shapes = shapes
        self.dtype = np.dtype(dtype)
        self.sizes = [math.prod(s) for s in shapes]
        self.offsets = [0]
        for n in self.sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.size = self.offsets[-1]
        self._codec = _codec(treedef)
        self._slices = [
            slice(a, b) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)
        ]

    def __repr__(self) -> str:
        return f"Raveled({self.treedef!r}, size {self.size}, {self.dtype})"

    def unravel(self, v: Array) -> PyTree:
        """The tree whose leaves are views into ``v`` (shape ``(*models, size)``)."""
        if type(v) is not np.ndarray or v.ndim < 1 or v.shape[-1] != self.size:
            raise ValueError(
                f"fnnet.tree.Raveled.unravel: expected an array of shape (..., {self.size}), "
                f"got {getattr(v, 'shape', type(v).__name__)}"
            )
        if v.ndim == 1:
            return self._codec.unflatten(
                [v[sl].reshape(sh) for sl, sh in zip(self._slices, self.shapes)]  # noqa: B905
            )
        lead = v.shape[:-1]
        return self._codec.unflatten(
            [
                v[..., sl].reshape(*lead, *sh)
                for sl, sh in zip(self._slices, self.shapes)  # noqa: B905
            ]
        )

    def ravel_leaves(self, leaves_: list[Array], lead: tuple[int, ...]) -> Array:
        """The vector of a list of leaves in flatten order with leading model axes ``lead``."""
        if len(leaves_) != len(self.shapes):
            raise TreeMismatchError(f"{len(leaves_)} leaves vs {len(self.shapes)} in the layout")
        for leaf, shape in zip(leaves_, self.shapes, strict=True):
            if type(leaf) is not np.ndarray or leaf.shape != (*lead, *shape):
                raise ValueError(
                    f"fnnet.tree.Raveled.ravel: a leaf has shape "
                    f"{getattr(leaf, 'shape', type(leaf).__name__)}, the layout wants "
                    f"{(*lead, *shape)}"
                )
        if not lead:
            out: Array = np.concatenate(leaves_, axis=None)
            return out
        return np.concatenate([leaf.reshape(*lead, -1) for leaf in leaves_], axis=-1)

    def ravel(self, t: PyTree, model_axes: int = 0) -> Array:
        """``t`` (of this layout's structure, with ``model_axes`` leading axes) as one array of
        shape ``(*models, size)``, a copy."""
        found = self._codec.leaves(t)
        if found is None:
            raise TreeMismatchError(
                f"fnnet.tree.Raveled.ravel: {structure(t)!r} vs the layout's {self.treedef!r}"
            )
        lead = tuple(np.shape(found[0])[:model_axes]) if found else ()
        return self.ravel_leaves(found, lead)


def ravel(tree: PyTree, model_axes: int = 0) -> tuple[Array, Raveled]:
    """``(vector, layout)``: the leaves of ``tree`` concatenated into one array of shape
    ``(*models, size)`` (the first ``model_axes`` axes of every leaf kept), and the
    :class:`Raveled` layout whose ``unravel`` gives the tree back as views.

    Every leaf must be a floating array of one dtype.

    >>> import numpy as np
    >>> v, layout = ravel({"w": np.ones((2, 2)), "b": np.zeros(2)})
    >>> v.tolist(), layout.unravel(v)["w"].shape
    ([0.0, 0.0, 1.0, 1.0, 1.0, 1.0], (2, 2))
    """
    found, treedef = flatten(tree)
    if not found:
        raise ValueError("fnnet.tree.ravel: the tree has no leaves")
    if isinstance(model_axes, bool) or not isinstance(model_axes, int) or model_axes < 0:
        raise ValueError(f"fnnet.tree.ravel: model_axes must be an int >= 0, got {model_axes!r}")
    arrays = [np.asarray(x) for x in found]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) > 1 or any(a.dtype.kind != "f" for a in arrays):
        raise TypeError(
            f"fnnet.tree.ravel: every leaf must be a floating array of one dtype, got "
            f"{sorted(str(d) for d in dtypes)}"
        )
    if any(a.ndim < model_axes for a in arrays):
        raise ValueError(f"fnnet.tree.ravel: a leaf has fewer than {model_axes} axes")
    lead = arrays[0].shape[:model_axes] if arrays else ()
    layout = Raveled(
        treedef, [a.shape[model_axes:] for a in arrays], arrays[0].dtype if arrays else np.float64
    )
    return layout.ravel_leaves(arrays, lead), layout


# The names before the redundant prefix was dropped: aliases, so existing scripts keep working.
tree_map = map
tree_at = at
tree_add = add
tree_sub = sub
tree_scale = scale
tree_vdot = vdot
