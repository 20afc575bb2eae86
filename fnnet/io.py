"""Saving and loading any pytree as ``.npz``: no pickle, atomic writes, checked structure.

The file holds one array per leaf (``leaf_00000``, ...) and ``__fnnet__``: a JSON description of
the format version, the tree's structure (container kinds, attrs class names, field names, dict
keys) and each leaf's kind, so :func:`load` can say exactly where a file and the expected
structure differ. Nothing is ever pickled: a leaf that numpy could only store by pickling (an
object array, a Python int beyond int64, an arbitrary object) is refused with ``TypeError``
before anything is written, and :func:`load` never unpickles.

Writing goes to a temporary file in the target's folder, synced, then renamed over the target:
an interrupted save leaves the previous file intact. The temporary file is named
``.<target name>.<pid>-<host>.<random>.tmp``; it is removed when the save fails, and a save
removes the temporary files of the same target that a killed process left behind (those of a
process of this host that no longer runs, and any older than a day). :func:`check_writable`
tells before a long run whether a path can be saved to at all.

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
>>> save(path, {"w": np.ones(2), "step": 3})
>>> load(path, like={"w": np.zeros(2), "step": 0})
{'step': 3, 'w': array([1., 1.])}
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from fnnet import tree
from fnnet.arrays import _got, require_path
from fnnet.tree import PyTree, TreeDef

__all__ = ["save", "load", "check_writable", "FORMAT_VERSION", "describe"]

FORMAT_VERSION = 2
"""The format written: version 2 adds the leaf kind ``numpy-scalar`` (a numpy scalar kept with its
dtype; version 1 stored numpy scalars as Python numbers). Both versions are read."""
_READ_VERSIONS = (1, 2)
_NUMBER_KINDS = {"bool": "bool", "int": "int", "float": "float"}
_META = "__fnnet__"
_MAX_META_BYTES = 64 << 20  # the JSON description of even a huge tree is far smaller
_STALE_AFTER = 24 * 3600.0  # seconds after which any temporary file of a target is stale
T = TypeVar("T")


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(treedef: TreeDef) -> Any:
    """A JSON-able description of a tree structure.

    >>> describe(tree.structure({"w": np.ones(2), "b": None}))
    {'type': 'builtins.dict', 'aux': ['b', 'w'], 'children': [{'type': 'builtins.NoneType',
    'aux': None, 'children': []}, '*']}
    """
    if not isinstance(treedef, TreeDef):
        raise TypeError(
            "fnnet.io.describe: argument 'treedef' must be a tree structure "
            f"(fnnet.tree.structure(params)), got {_got(treedef)}"
        )
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


# --- saving ------------------------------------------------------------------------------------


def _leaf_kind(fn: str, leaf: Any, where: str) -> str:
    """``"bool"``, ``"int"``, ``"float"`` (Python numbers), ``"numpy-scalar"`` (kept with its
    dtype) or ``"array"``; ``TypeError`` for what needs pickle."""
    if isinstance(leaf, np.generic):
        if leaf.dtype.kind not in "biufc":
            raise TypeError(
                f"{fn}: leaf {where} is a numpy {leaf.dtype} scalar; only numeric scalars are "
                "saved (nothing is pickled): store it as a numeric array"
            )
        return "numpy-scalar"
    if isinstance(leaf, bool):
        return "bool"
    if isinstance(leaf, int):
        if not -(2**63) <= leaf < 2**63:
            raise TypeError(
                f"{fn}: leaf {where} is the int {leaf}, which does not fit in 64 bits and could "
                "only be saved by pickling; store it as a float or a string array"
            )
        return "int"
    if isinstance(leaf, float):
        return "float"
    if isinstance(leaf, np.ma.MaskedArray):
        raise TypeError(f"{fn}: leaf {where} is a masked array; its mask would be lost")
    if isinstance(leaf, np.ndarray):
        if leaf.dtype.hasobject or leaf.dtype.kind == "V":
            raise TypeError(
                f"{fn}: leaf {where} is an object/void array (dtype {leaf.dtype}), which could "
                "only be saved by pickling; convert it to a numeric array"
            )
        return "array"
    raise TypeError(
        f"{fn}: leaves must be numpy arrays or numbers, got {type(leaf).__name__} at {where}; "
        "nothing is pickled"
    )


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _temp_prefix(target: Path) -> str:
    """``.<name>.<pid>-<host>.``: the start of this process's temporary files for ``target``."""
    return f".{target.name}.{os.getpid()}-{_host()}."


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it: assume alive, the age rule still applies
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _is_stale(file: Path, tail: str, host: str, now: float) -> bool:
    """Whether ``file``, a temporary file of some target (``tail``: its name after
    ``.<target name>.``), was left by a process that is gone."""
    found = re.fullmatch(r"(\d+)-([A-Za-z0-9-]*)\.[^.]+\.tmp", tail)
    if found and found[2] == host and int(found[1]) != os.getpid() and not _alive(int(found[1])):
        return True
    try:
        return now - file.stat().st_mtime > _STALE_AFTER
    except OSError:
        return False


def _remove_stale_temps(target: Path) -> None:
    """Delete the temporary files of ``target`` that killed saves left (never a live one)."""
    prefix, host, now = f".{target.name}.", _host(), time.time()
    try:
        candidates = [
            p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.suffix == ".tmp"
        ]
    except OSError:
        return
    for p in candidates:
        if _is_stale(p, p.name[len(prefix) :], host, now):
            p.unlink(missing_ok=True)


def _ensure_folder(fn: str, target: Path) -> None:
    """Create ``target``'s folder if needed; a clear ``OSError`` when that is impossible."""
    if target.is_dir():
        raise IsADirectoryError(f"{fn}: {target} is a directory; give a file name such as x.npz")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise NotADirectoryError(
            f"{fn}: cannot write {target}: a part of its folder {target.parent} is a file"
        ) from e
    except PermissionError as e:
        raise PermissionError(f"{fn}: cannot create the folder {target.parent}: {e}") from e


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Check now that :func:`save` can write ``path``; return it as a ``Path``.

    Raises ``IsADirectoryError`` (``path`` is a directory), ``NotADirectoryError`` (a part of its
    folder is a file) or ``PermissionError`` (the folder cannot be written or created), each
    naming the path, so a long run can fail before it starts rather than when it saves. Nothing
    is left behind (the folder is not created; a probe file in an existing folder is removed).

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_writable(os.path.join(d, "runs", "ckpt.npz")).name  # runs/ would be created
    'ckpt.npz'
    >>> open(os.path.join(d, "file"), "w").close()
    >>> check_writable(os.path.join(d, "file", "ckpt.npz"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    NotADirectoryError: fnnet.io.check_writable: cannot write .../file/ckpt.npz: .../file is a
    file, not a folder
    """
    fn = "fnnet.io.check_writable"
    path = require_path(fn, "path", path)
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{fn}: {target} is a directory; give a file name such as x.npz")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{fn}: cannot write {target}: {folder} is a file, not a folder")
    if folder != target.parent:  # the folder would be created: can it be?
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{fn}: cannot create {target.parent}: {folder} is read-only")
        return target
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=folder)
    except OSError as e:
        raise PermissionError(f"{fn}: cannot write in {folder}: {e}") from e
    os.close(fd)
    os.unlink(probe)
    return target


def _write_npz(f: IO[bytes], arrays: dict[str, np.ndarray[Any, Any]]) -> None:
    """The ``.npz`` layout of ``np.savez`` (stored zip of ``.npy`` members), never pickling."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, a, allow_pickle=False)


def save(path: str | os.PathLike[str], tree_: PyTree) -> None:
    """Write ``tree_`` to ``path`` (``.npz``) atomically; every leaf is checked first.

    A leaf that could only be stored by pickling (an object array, a Python int beyond int64,
    any other object) raises ``TypeError`` naming its path before anything is written.

    >>> import tempfile
    >>> from fnnet import layers
    >>> _, params = layers.mlp([2, 3, 1]).init(0, (2,))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save(os.path.join(d, "params.npz"), params)
    ...     back = load(os.path.join(d, "params.npz"), like=params)
    >>> bool(np.all(back[0].w == params[0].w)), type(back[0]).__name__
    (True, 'DenseParams')
    >>> save("never-written.npz", {"n": 10**30})
    Traceback (most recent call last):
    TypeError: fnnet.io.save: leaf ['n'] is the int 1000000000000000000000000000000, which does
    not fit in 64 bits and could only be saved by pickling; store it as a float or a string array
    """
    fn = "fnnet.io.save"
    path = require_path(fn, "path", path)
    leaves, treedef = tree.flatten(tree_)
    paths = tree.paths(tree_)
    kinds = [_leaf_kind(fn, x, where) for x, where in zip(leaves, paths, strict=True)]
    meta = {
        "format": "fnnet-pytree",
        "version": FORMAT_VERSION,
        "structure": describe(treedef),
        "kinds": kinds,
        "paths": paths,
    }
    arrays = {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays[_META] = np.array(json.dumps(meta))
    target = Path(path)
    _ensure_folder(fn, target)
    _remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- loading -----------------------------------------------------------------------------------


def _short(d: Any) -> str:
    """A node of a :func:`describe` description in words."""
    if d == "*":
        return "an array or number"
    name = str(d["type"]).rsplit(".", 1)[-1]
    n = len(d["children"])
    if name in ("tuple", "list"):
        return f"a {name} of {n}"
    if name == "dict":
        return f"a dict with keys {d['aux']}"
    if name == "NoneType":
        return "None (an empty part, such as a layer without parameters)"
    return f"{name} ({n} fields)"


def _first_difference(a: Any, b: Any, expected: TreeDef, path: str = "") -> str | None:
    """Where and how the described structures ``a`` (file) and ``b`` (``describe(expected)``)
    differ, the place named as in :func:`fnnet.tree.paths`."""
    if a == b:
        return None
    where = path or "the top level"
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return f"at {where} the file has {_short(a)}, expected {_short(b)}"
    if a["type"] != b["type"] or a["aux"] != b["aux"] or len(a["children"]) != len(b["children"]):
        return f"at {where} the file has {_short(a)}, expected {_short(b)}"
    assert expected.node is not None
    kind = tree._kind(expected.node)  # noqa: SLF001 - the same package's child naming
    steps = kind.child_names(expected.aux) if kind else []
    for step, ca, cb, td in zip(
        steps, a["children"], b["children"], expected.children, strict=True
    ):
        found = _first_difference(ca, cb, td, path + step)
        if found:
            return found
    return None


def _open_zip(fn: str, path: str | os.PathLike[str]) -> zipfile.ZipFile:
    """The zip archive at ``path``; clear errors for a missing file, a folder, not a zip."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{fn}: {path} is a directory, not a file written by fnnet.io.save")
    if not p.exists():
        raise FileNotFoundError(f"{fn}: there is no file {path}")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"{fn}: {path} is truncated or corrupted, or not an fnnet .npz file ({e})"
        ) from e


def _member_header(fn: str, path: Any, z: zipfile.ZipFile, name: str) -> tuple[Any, np.dtype[Any]]:
    """``(shape, dtype)`` of member ``name`` from its ``.npy`` header, without reading its data."""
    info = z.getinfo(name + ".npy")
    with z.open(info) as m:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        declared = math.prod(shape) * dtype.itemsize
        if dtype.hasobject:
            raise ValueError(
                f"{fn}: {path}: entry {name} holds Python objects (pickled data); fnnet never "
                "unpickles: this file was not written by fnnet.io.save, or was altered"
            )
        if declared != info.file_size - m.tell():
            raise ValueError(f"its header declares {declared} bytes of data")
    return shape, dtype


def _read_meta(fn: str, path: Any, z: zipfile.ZipFile) -> dict[str, Any]:
    if _META + ".npy" not in z.namelist():
        raise ValueError(f"{fn}: {path} is not an fnnet pytree file (no {_META} entry)")
    if z.getinfo(_META + ".npy").file_size > _MAX_META_BYTES:
        raise ValueError(f"{fn}: {path}: its {_META} entry is implausibly large")
    with z.open(_META + ".npy") as m:
        meta = json.loads(str(np.lib.format.read_array(m, allow_pickle=False)))
    if not isinstance(meta, dict):
        raise ValueError(f"{fn}: {path}: its {_META} entry is not a description")
    if meta.get("format") != "fnnet-pytree" or meta.get("version") not in _READ_VERSIONS:
        raise ValueError(
            f"{fn}: {path} has format {meta.get('format')} version {meta.get('version')}, "
            f"expected fnnet-pytree version {' or '.join(map(str, _READ_VERSIONS))}"
        )
    return meta


def _check_leaves(
    fn: str, path: Any, headers: list[Any], kinds: list[str], like_leaves: list[Any], strict: bool
) -> None:
    """Each leaf's kind (and with ``strict`` its shape and dtype) against ``like``'s."""
    paths_ = [f"#{i}" for i in range(len(like_leaves))]
    for (shape, dtype), kind, ref, where in zip(headers, kinds, like_leaves, paths_, strict=True):
        ref_kind = _leaf_kind(fn, ref, where)
        got, want = _number_kind(kind, dtype), _number_kind(ref_kind, np.asarray(ref).dtype)
        if got != want:
            raise ValueError(f"{fn}: leaf {where} in {path} is {got}, expected {want}")
        if strict and kind == ref_kind == "numpy-scalar" and dtype != ref.dtype:
            raise ValueError(
                f"{fn}: leaf {where} in {path} is a numpy {dtype} scalar, expected {ref.dtype}"
            )
        if kind != "array" and shape != ():
            raise ValueError(f"{fn}: {path} is corrupted: the {kind} {where} has shape {shape}")
        if strict and kind == "array" and (shape != ref.shape or dtype != ref.dtype):
            raise ValueError(
                f"{fn}: leaf {where} in {path} has shape {shape} dtype {dtype}, expected "
                f"shape {ref.shape} dtype {ref.dtype}"
            )


def _number_kind(kind: str, dtype: np.dtype[Any]) -> str:
    """What a leaf is, in words, for comparing a file's leaf with ``like``'s: a number's
    category (a Python float and a numpy float scalar are both "a float"), or an array."""
    if kind == "numpy-scalar":
        category = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}
        kind = category.get(dtype.kind, str(dtype))
    article = {"array": "an array", "int": "an int", "float": "a float", "bool": "a bool"}
    return article.get(kind, repr(kind))


def _restore(kind: str, a: np.ndarray[Any, Any], ref: Any, legacy: bool) -> Any:
    """The leaf as saved: a numpy scalar keeps its dtype; a number in a version-1 (``legacy``)
    file, which stored numpy scalars as Python numbers, becomes ``like``'s numpy scalar type when
    ``like`` has one there."""
    if kind == "numpy-scalar":
        return a[()]
    if legacy and isinstance(ref, np.generic) and kind in _NUMBER_KINDS:
        return a.astype(ref.dtype)[()]
    if kind == "int":
        return int(a)
    if kind == "float":
        return float(a)
    if kind == "bool":
        return bool(a)
    return a


def _load(fn: str, path: Any, z: zipfile.ZipFile, like: Any, strict: bool) -> Any:
    meta = _read_meta(fn, path, z)
    like_leaves, treedef = tree.flatten(like)
    try:
        diff = _first_difference(meta.get("structure"), describe(treedef), treedef)
    except (KeyError, TypeError, IndexError) as e:  # a description that is not one of ours
        raise ValueError(f"{fn}: {path} is corrupted: unreadable structure ({e!r})") from e
    if diff is not None:
        raise ValueError(
            f"{fn}: {path} does not match the expected structure: it was written by a different "
            f"model or optimizer (or with other settings): {diff}. Load it with a `like` of the "
            "structure it was saved from, or start fresh"
        )
    kinds = meta.get("kinds")
    if not isinstance(kinds, list) or len(kinds) != len(like_leaves):
        raise ValueError(f"{fn}: {path} is corrupted: its leaf list does not match its structure")
    names = [f"leaf_{i:05d}" for i in range(len(kinds))]
    headers = [_member_header(fn, path, z, name) for name in names]
    paths = tree.paths(like)
    try:
        _check_leaves(fn, path, headers, kinds, like_leaves, strict)
    except ValueError as e:  # name the leaves by their paths
        raise ValueError(re.sub(r"#(\d+)", lambda m: paths[int(m[1])], str(e))) from None
    out = []
    legacy = meta.get("version") == 1
    for name, kind, ref in zip(names, kinds, like_leaves, strict=True):
        with z.open(name + ".npy") as m:
            a = np.lib.format.read_array(m, allow_pickle=False)
            out.append(_restore(kind, a, ref, legacy))
    return tree.unflatten(treedef, out)


def load(path: str | os.PathLike[str], like: T, *, strict: bool = True) -> T:
    """Read a tree saved by :func:`save` into the structure of ``like``.

    Every leaf comes back as it was saved: an array with its dtype, a numpy scalar
    (``np.float32(0.5)``) as that numpy scalar, a Python number as a Python number; ``like`` must
    have a number of the same kind there (a Python or numpy float for a float, and so on).

    Raises ``FileNotFoundError`` for a missing file, ``IsADirectoryError`` for a directory and
    ``ValueError`` naming the first place where the file's structure, a leaf's shape or its dtype
    differs from ``like`` (a file written by a different model or optimizer); a truncated or
    tampered file is refused the same way. Shapes and dtypes are compared from the file's
    headers before any leaf is read. With ``strict=False`` array leaves may have any shape and
    dtype (a growing history, say); the structure and the kind of every leaf are still checked.

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
    path = require_path(fn, "path", path)
    z = _open_zip(fn, path)
    try:
        with z:
            result: T = _load(fn, path, z, like, strict)
    except (zipfile.BadZipFile, EOFError, KeyError, zlib.error, UnicodeDecodeError) as e:
        raise ValueError(f"{fn}: {path} is truncated or corrupted ({type(e).__name__}: {e})") from e
    except ValueError as e:
        if str(e).startswith(fn):
            raise
        raise ValueError(f"{fn}: {path} is truncated or corrupted ({e})") from e
    except OSError as e:
        if isinstance(e, PermissionError | IsADirectoryError | FileNotFoundError):
            raise
        raise ValueError(f"{fn}: {path} is truncated or corrupted ({type(e).__name__}: {e})") from e
    return result
