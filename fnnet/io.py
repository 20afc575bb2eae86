"""Saving and loading any pytree as ``.npz``: no pickle, atomic writes, checked structure.

The file holds one array per leaf (``leaf_00000``, ...) and ``__fnnet__``: a JSON description of
the format version, the tree's structure (container kinds, attrs class names, field names, dict
keys) and each leaf's kind, so :func:`load` can say exactly where a file and the expected
structure differ. Writing goes to a temporary file in the same folder, synced, then renamed over
the target: an interrupted save leaves the previous file intact. Loading never unpickles.

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
>>> save(path, {"w": np.ones(2), "step": 3})
>>> load(path, like={"w": np.zeros(2), "step": 0})
{'step': 3, 'w': array([1., 1.])}
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fnnet import tree
from fnnet.tree import PyTree, TreeDef

__all__ = ["save", "load", "FORMAT_VERSION", "describe"]

FORMAT_VERSION = 1
_META = "__fnnet__"
T = TypeVar("T")


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(treedef: TreeDef) -> Any:
    """A JSON-able description of a tree structure.

    >>> describe(tree.structure({"w": np.ones(2), "b": None}))
    {'type': 'builtins.dict', 'aux': ['b', 'w'], 'children': [{'type': 'builtins.NoneType',
    'aux': None, 'children': []}, '*']}
    """
    if treedef.node is None:
        return "*"
    aux = treedef.aux
    if treedef.node is dict:
        aux = [str(k) for k in aux]
    elif treedef.node in (tuple, list) or aux is None:
        aux = None
    else:
        aux = repr(aux)
    return {
        "type": _type_name(treedef.node),
        "aux": aux,
        "children": [describe(c) for c in treedef.children],
    }


def _leaf_kind(leaf: Any) -> str:
    if isinstance(leaf, bool | np.bool_):
        return "bool"
    if isinstance(leaf, int | np.integer):
        return "int"
    if isinstance(leaf, float | np.floating):
        return "float"
    if isinstance(leaf, np.ndarray):
        if leaf.dtype.kind in "OV":
            raise TypeError(f"fnnet.io.save: object/void arrays cannot be saved ({leaf.dtype})")
        return "array"
    raise TypeError(
        f"fnnet.io.save: leaves must be numpy arrays or numbers, got {type(leaf).__name__}"
    )


def save(path: str | os.PathLike[str], tree_: PyTree) -> None:
    """Write ``tree_`` to ``path`` (``.npz``) atomically.

    >>> import tempfile
    >>> from fnnet import layers
    >>> _, params = layers.mlp([2, 3, 1]).init(0, (2,))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save(os.path.join(d, "params.npz"), params)
    ...     back = load(os.path.join(d, "params.npz"), like=params)
    >>> bool(np.all(back[0].w == params[0].w)), type(back[0]).__name__
    (True, 'DenseParams')
    """
    leaves, treedef = tree.flatten(tree_)
    kinds = [_leaf_kind(x) for x in leaves]
    meta = {
        "format": "fnnet-pytree",
        "version": FORMAT_VERSION,
        "structure": describe(treedef),
        "kinds": kinds,
        "paths": tree.paths(tree_),
    }
    arrays = {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays[_META] = np.array(json.dumps(meta))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub rejects **dict of arrays
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if a == b:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if a["type"] != b["type"]:
            return f"at {path or '<root>'}: file has {a['type']}, expected {b['type']}"
        if a["aux"] != b["aux"] or len(a["children"]) != len(b["children"]):
            return (
                f"at {path or '<root>'} ({a['type']}): file has fields/keys {a['aux']} with "
                f"{len(a['children'])} children, expected {b['aux']} with {len(b['children'])}"
            )
        for i, (ca, cb) in enumerate(zip(a["children"], b["children"], strict=True)):
            found = _first_difference(ca, cb, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"at {path or '<root>'}: file has {_node_name(a)}, expected {_node_name(b)}"


def _node_name(d: Any) -> str:
    return "a leaf" if d == "*" else str(d["type"])


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[np.ndarray[Any, Any]]]:
    fn = "fnnet.io.load"
    try:
        # open the file ourselves: np.load leaks its handle when the zip is unreadable
        with open(path, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile) or _META not in z.files:
                raise ValueError(f"{fn}: {path} is not an fnnet pytree file (no {_META} entry)")
            meta = json.loads(str(z[_META]))
            n = len(meta["kinds"])
            names = [f"leaf_{i:05d}" for i in range(n)]
            missing = [k for k in names if k not in z.files]
            if missing:
                raise ValueError(f"{fn}: {path} is missing leaves {missing[:3]}")
            leaves = [z[k] for k in names]
            z.close()
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{fn}: {path} is truncated or corrupted ({type(e).__name__}: {e})") from e
    if meta.get("format") != "fnnet-pytree" or meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{fn}: {path} has format {meta.get('format')} version {meta.get('version')}, "
            f"expected fnnet-pytree version {FORMAT_VERSION}"
        )
    return meta, leaves


def _restore(kind: str, a: np.ndarray[Any, Any]) -> Any:
    if kind == "int":
        return int(a)
    if kind == "float":
        return float(a)
    if kind == "bool":
        return bool(a)
    return a


def load(path: str | os.PathLike[str], like: T, *, strict: bool = True) -> T:
    """Read a tree saved by :func:`save` into the structure of ``like``.

    Raises ``ValueError`` naming the first place where the file's structure, a leaf's shape or
    its dtype differs from ``like``; a truncated or tampered file is refused the same way. With
    ``strict=False`` array leaves may have any shape and dtype (a growing history, say); the
    structure and the kind of every leaf are still checked.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "h.npz")
    ...     save(path, {"loss": np.ones(2)})
    ...     print(load(path, like={"loss": np.ones(5)}, strict=False))  # any shape
    ...     try:
    ...         load(path, like={"loss": np.ones(5)})
    ...     except ValueError as e:
    ...         print(str(e).replace(d, "..."))
    {'loss': array([1., 1.])}
    fnnet.io.load: leaf ['loss'] in .../h.npz has shape (2,) dtype float64, expected shape (5,)
    dtype float64
    """
    fn = "fnnet.io.load"
    meta, leaves = _read(path)
    like_leaves, treedef = tree.flatten(like)
    expected = describe(treedef)
    diff = _first_difference(meta["structure"], expected)
    if diff is not None:
        raise ValueError(f"{fn}: {path} does not match the expected structure {diff}")
    paths = tree.paths(like)
    out = []
    for kind, a, ref, where in zip(meta["kinds"], leaves, like_leaves, paths, strict=True):
        ref_kind = _leaf_kind(ref)
        if kind != ref_kind:
            raise ValueError(f"{fn}: leaf {where} in {path} is a {kind}, expected a {ref_kind}")
        if strict and ref_kind == "array" and (a.shape != ref.shape or a.dtype != ref.dtype):
            raise ValueError(
                f"{fn}: leaf {where} in {path} has shape {a.shape} dtype {a.dtype}, expected "
                f"shape {ref.shape} dtype {ref.dtype}"
            )
        out.append(_restore(kind, a))
    result: T = tree.unflatten(treedef, out)
    return result
