"""The generated catalogue of inputs to fnnet's public API: bad ones and the good ones that fool.

Every case calls one public function with one kind of input and states what must happen:

- ``raises``: a documented error type (``ValueError``, ``TypeError``, ``OSError`` such as
  ``FileNotFoundError``, ``DivergenceError``) whose message names the function and the argument;
- ``returns``: a result equal to a reference (a read-only or Fortran-ordered array gives the same
  numbers as a C-contiguous one, ``np.int64(3)`` epochs train 3 epochs, a saved file loads back);
- ``either``: a clear refusal or the reference result (where both are defensible).

Each case gets a computed verdict:

- ``ok``: what was expected happened;
- ``silently-wrong``: bad input accepted, or a wrong result for good input;
- ``internal-exception``: an internal error type (IndexError, AttributeError, KeyError,
  ZeroDivisionError, ...) or a documented type raised from deep inside, whose message does not
  name the function (an unpacking or broadcasting error);
- ``unclear-error``: a documented error type naming the function but not the argument;
- ``refused``: good input refused (with a clear error);
- ``data-loss``: a file that can never be loaded again, or a finished run lost;
- ``hang``: the case did not finish within its time budget or ran out of its memory budget.

Cases that may hang or exhaust memory run in a forked child process with a timeout and a memory
limit; network cases talk only to servers on 127.0.0.1 started for the case. ``CI`` (the test
``tests/test_bad_inputs.py``) fails on any silently-wrong, internal-exception, refused,
data-loss or hang verdict that is not listed in :data:`KNOWN_FAILURES`.

Usage: ``python scripts/bad_inputs.py [--write docs/BAD-INPUTS.md] [--known] [-k SUBSTRING]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import os
import re
import select
import signal
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VERDICTS = (
    "ok",
    "silently-wrong",
    "internal-exception",
    "unclear-error",
    "refused",
    "data-loss",
    "hang",
)
"""Every verdict, best first."""

FAILING = frozenset({"silently-wrong", "internal-exception", "refused", "data-loss", "hang"})
"""The verdicts CI refuses (unless the case is a known failure)."""


# --- what a case is --------------------------------------------------------------------------


@attrs.frozen
class Case:
    """One call of one public function with one kind of input, and what must happen.

    ``names`` are groups of words: the message of an expected error must contain one word of
    every group (the first group names the function, the others the argument). ``check`` gets
    the result of a call that returned and says what is wrong with it (``None``: nothing).
    """

    function: str
    given: str
    call: Callable[[Path], object]
    expect: str  # "raises" | "returns" | "either"
    names: tuple[tuple[str, ...], ...] = ()
    check: Callable[[Any], str | None] | None = None
    reference: str = ""
    isolate: bool = False
    timeout: float = 10.0
    memory_mb: int | None = None

    @property
    def id(self) -> str:
        return f"{self.function}: {self.given}"

    def expected(self) -> str:
        """What must happen, in words."""
        named = " and ".join("/".join(g) for g in self.names)
        if self.expect == "raises":
            return f"raises, naming {named}" if named else "raises"
        if self.expect == "returns":
            return f"returns {self.reference or 'the reference'}"
        return f"raises naming {named}, or returns {self.reference or 'the reference'}"


@attrs.frozen
class Outcome:
    """What a case did: its verdict and a one-line description."""

    verdict: str
    what: str


class DataLoss(Exception):
    """Raised by a case (or its check) when work was lost: a file that cannot be loaded."""


class Hang(Exception):
    """The case ran out of its time or memory budget."""


class Missing(Exception):
    """The public function the case calls does not exist (any more)."""


# --- classifying what happened -------------------------------------------------------------

_INTERNAL: tuple[type[BaseException], ...] = (
    IndexError,
    AttributeError,
    KeyError,
    ZeroDivisionError,
    AssertionError,
    NameError,
    RecursionError,
    StopIteration,
    NotImplementedError,
    OverflowError,
    UnicodeError,
    json.JSONDecodeError,
    zipfile.BadZipFile,
    np.linalg.LinAlgError,
    Warning,
)
_DOCUMENTED: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    OSError,
    FloatingPointError,
    LookupError,
)
_DEEP = re.compile(
    r"values to unpack|object is not subscriptable|object is not iterable|has no len|"
    r"unhashable type|could not be broadcast|not supported between instances|"
    r"unsupported operand|cannot be interpreted as an integer|object cannot be converted|"
    r"ufunc '|allow_pickle|Cannot cast ufunc|must be real number, not|missing \d+ required|"
    r"takes \d+ positional|got an unexpected keyword"
)


_OWN = re.compile(
    r"^(fnnet\.)?[A-Za-z_][\w.]*(\(.*?\))?( \(.*?\))?: |^fnnet|^tree structures differ"
)
"""fnnet's own messages start with the function's name: ``dense: argument 'x' ...``."""


_OWN_CONTEXT = re.compile(r"corrupt|truncated|tampered|not an fnnet|another|different")
"""A deep error quoted by fnnet inside a message that says what is wrong is fine."""


def _mentions(message: str, word: str) -> bool:
    if not word[:1].isalnum() and word[:1] != "_":
        return word in message
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message) is not None


def _short(text: str, limit: int = 220) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(result: object) -> str:
    if isinstance(result, np.ndarray):
        return f"array {result.shape} {result.dtype}"
    name = type(result).__name__
    return name if result is None or len(repr(result)) > 60 else f"{name} {result!r}"


def classify(case: Case, exc: BaseException | None, result: object, warned: list[str]) -> Outcome:
    """The verdict for what the case did (an exception, or a result and any warnings)."""
    if exc is not None:
        return _classify_error(case, exc)
    if case.expect == "raises":
        return Outcome("silently-wrong", f"accepted: returned {_describe(result)}")
    try:
        problem = case.check(result) if case.check is not None else None
    except DataLoss as e:
        return Outcome("data-loss", _short(str(e)))
    except Exception as e:  # noqa: BLE001 - a check that cannot even inspect the result
        return Outcome("silently-wrong", _short(f"result unusable: {type(e).__name__}: {e}"))
    if problem is not None:
        return Outcome("silently-wrong", _short(problem))
    if warned:
        return Outcome("unclear-error", _short(f"returned, but warned: {warned[0]}"))
    return Outcome("ok", f"returned {_describe(result)}")


def _classify_error(case: Case, exc: BaseException) -> Outcome:
    kind = type(exc).__name__
    message = str(exc)
    what = _short(f"{kind}: {message}")
    if isinstance(exc, DataLoss):
        return Outcome("data-loss", _short(message))
    if isinstance(exc, Hang | MemoryError):
        return Outcome("hang", what)
    if isinstance(exc, Mutated):
        return Outcome("silently-wrong", _short(message))
    if isinstance(exc, Missing):
        return Outcome("internal-exception", what)
    if isinstance(exc, _INTERNAL) or not isinstance(exc, _DOCUMENTED):
        return Outcome("internal-exception", what)
    groups = case.names or (("",),)
    if isinstance(exc, OSError) and not _OWN.match(message):
        return Outcome(
            "unclear-error" if case.expect != "returns" else "refused",
            f"from the OS, not fnnet: {what}",
        )
    if not _OWN.match(message) or (_DEEP.search(message) and not _OWN_CONTEXT.search(message)):
        return Outcome("internal-exception", what)
    if not any(_mentions(message, w) for w in groups[0]):
        return Outcome("unclear-error", f"names another function: {what}")
    if not all(any(_mentions(message, w) for w in g) for g in groups[1:]):
        return Outcome("unclear-error", what)
    if case.expect == "returns":
        return Outcome("refused", what)
    return Outcome("ok", what)


# fmt: off
# (the rest is tables of cases: one case per line reads better than the formatter's layout)

# --- running a case --------------------------------------------------------------------------


def _consume(result: object) -> object:
    """A generator's errors may only come on iteration: take everything."""
    if isinstance(result, Iterator):
        return list(result)
    return result


def run_inline(case: Case, tmp: Path) -> Outcome:
    """Run ``case`` in this process (warnings recorded, not raised)."""
    exc: BaseException | None = None
    result: object = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np_err = np.seterr(all="warn", under="ignore")  # numpy's defaults, made explicit
        try:
            result = _consume(case.call(tmp))
        except Exception as e:  # noqa: BLE001 - recording whatever comes is the point
            exc = e
        finally:
            np.seterr(**np_err)
        warned = [f"{w.category.__name__}: {w.message}" for w in caught]
        return classify(case, exc, result, warned)


def _limit_memory(extra_mb: int) -> None:
    import resource

    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    now = pages * os.sysconf("SC_PAGE_SIZE")
    limit = now + extra_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_isolated(case: Case, tmp: Path) -> Outcome:
    """Run ``case`` in a forked child with a timeout (and a memory budget): a hang is a verdict."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report, exit without cleanup handlers
        code = 0
        try:
            os.close(read_fd)
            if case.memory_mb is not None:
                _limit_memory(case.memory_mb)
            out = run_inline(case, tmp)
            os.write(write_fd, json.dumps(attrs.asdict(out)).encode())
        except BaseException:  # noqa: BLE001 - the child must always exit
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + case.timeout
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(left, 0.0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                return Outcome("hang", f"no result within {case.timeout:g} s (killed)")
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    if not chunks:
        return Outcome("hang", "the child process died without a result (memory budget?)")
    return Outcome(**json.loads(b"".join(chunks)))


def run(case: Case, tmp: Path) -> Outcome:
    """Run ``case`` (isolated when it may hang) and return its verdict."""
    return run_isolated(case, tmp) if case.isolate else run_inline(case, tmp)


# --- comparing results -----------------------------------------------------------------------


class Mutated(Exception):
    """The call wrote into an array the caller passed."""


def tree_diff(got: object, want: object, rtol: float = 1e-12) -> str | None:
    """Where ``got`` differs from ``want`` (structure, shape, dtype, values to ``rtol``)."""
    from fnnet import tree

    if tree.structure(got) != tree.structure(want):
        return f"structure {tree.structure(got)!r}, expected {tree.structure(want)!r}"
    for a, b, where in zip(tree.leaves(got), tree.leaves(want), tree.paths(want), strict=True):
        if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or a.dtype.newbyteorder("=") != b.dtype.newbyteorder("="):
                return f"leaf{where} is {a.shape} {a.dtype}, expected {b.shape} {b.dtype}"
            if a.dtype.kind in "fc":
                if not np.allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True):
                    worst = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
                    return f"leaf{where} differs from the reference by up to {worst:.3g}"
            elif not np.array_equal(a, b):
                return f"leaf{where} differs from the reference"
        elif isinstance(a, float) and isinstance(b, float):
            if not (abs(a - b) <= rtol * abs(b) or (a != a and b != b)):  # noqa: PLR0124 - NaN
                return f"leaf{where} is {a!r}, expected {b!r}"
        elif a != b:
            return f"leaf{where} is {a!r}, expected {b!r}"
    return None


def same_as(reference: Callable[[], object], view: Callable[[Any], object] = lambda r: r, rtol: float = 1e-12) -> Callable[[Any], str | None]:
    """A check: the (viewed) result equals the (viewed) reference computed fresh."""
    return lambda result: tree_diff(view(result), view(reference()), rtol)


def _guard(value: object, call: Callable[[Any], object]) -> object:
    """``call(value)``, raising :class:`Mutated` if it wrote into ``value``."""
    snap = value.copy() if isinstance(value, np.ndarray) else None
    out = call(value)
    equal_nan = snap is not None and snap.dtype.kind in "fc"
    if snap is not None and isinstance(value, np.ndarray) and not np.array_equal(snap, value, equal_nan=equal_nan):
        raise Mutated("the call wrote into the caller's array")
    return out


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def quiet(call: Callable[[], object]) -> object:
    """``call()`` with stdout and stderr swallowed (progress lines, log lines)."""
    import contextlib
    import io as _io

    with contextlib.redirect_stderr(_io.StringIO()), contextlib.redirect_stdout(_io.StringIO()):
        return call()


# --- array inputs: every array argument x every kind of array --------------------------------


@attrs.frozen
class Kind:
    """A kind of value for an array argument, made from the argument's good value ``x0``.

    ``expect`` is the default; a target's ``policy`` overrides it (or skips the kind with
    ``"skip"``). ``compare``: how a returned result is checked — ``same`` (equal to the result
    on ``x0``), ``empty`` (the result on ``x0`` with no examples), ``f16`` (close to the result
    on ``x0``, in float16), ``returned`` (anything).
    """

    key: str
    text: str
    make: Callable[[np.ndarray[Any, Any]], object]
    expect: str
    compare: str = "same"
    min_ndim: int = 0


def _readonly(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    y = x.copy()
    y.setflags(write=False)
    return y


def _strided(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.repeat(x, 2, axis=-1)[..., ::2]


def _negative_strides(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.flip(np.flip(x, 0).copy(), 0)


def _object(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return x.astype(object)


FLOAT_KINDS: tuple[Kind, ...] = (
    Kind("fortran", "Fortran-ordered", np.asfortranarray, "returns", min_ndim=2),
    Kind("strided", "non-contiguous (strided view)", _strided, "returns"),
    Kind("readonly", "read-only", _readonly, "returns"),
    Kind("negstride", "negative-strided", _negative_strides, "returns"),
    Kind("bigendian", "big-endian (>f8)", lambda x: x.astype(x.dtype.newbyteorder(">")), "either"),
    Kind("int64", "int64", lambda x: np.round(x * 3).astype(np.int64), "raises", compare="cast"),
    Kind("bool", "bool", lambda x: x > 0.3, "raises", compare="cast"),
    Kind("complex", "complex128", lambda x: x.astype(np.complex128), "raises"),
    Kind("object", "object-dtype", _object, "raises"),
    Kind("str", "string-dtype", lambda x: x.astype(str), "raises"),
    Kind("float16", "float16", lambda x: x.astype(np.float16), "raises", compare="f16"),
    Kind("0d", "0-d array as", lambda x: np.array(0.5, dtype=x.dtype), "raises"),
    Kind("rank1", "rank-1 (one example's row) as", lambda x: x.reshape(-1)[: x.shape[-1]].copy(), "raises"),
    Kind("empty", "empty (no examples)", lambda x: x[:0], "raises", compare="empty"),
    Kind("list", "nested list as", lambda x: x.tolist(), "raises"),
    Kind("tuple", "tuple of arrays as", lambda x: tuple(x), "raises"),
    Kind("dict", "dict as", lambda x: {"x": x}, "raises"),
    Kind("none", "None as", lambda x: None, "raises"),
    Kind("scalar", "Python float as", lambda x: 0.5, "raises"),
    Kind("nan", "NaN in", lambda x: np.where(np.arange(x.size).reshape(x.shape) == 1, np.nan, x), "skip"),
    Kind("inf", "inf in", lambda x: np.where(np.arange(x.size).reshape(x.shape) == 1, np.inf, x), "skip"),
)
"""Kinds of value for a float array argument."""

LABEL_KINDS: tuple[Kind, ...] = (
    Kind("int32", "int32", lambda x: x.astype(np.int32), "returns"),
    Kind("uint8", "uint8", lambda x: x.astype(np.uint8), "returns"),
    Kind("readonly", "read-only", _readonly, "returns"),
    Kind("strided", "non-contiguous (strided view)", lambda x: np.repeat(x, 2)[::2], "returns"),
    Kind("float", "float-valued", lambda x: x.astype(np.float64), "raises"),
    Kind("bool", "bool", lambda x: x > 0, "raises"),
    Kind("negative", "a negative label in", lambda x: np.where(np.arange(x.size) == 1, -1, x), "raises"),
    Kind("toolarge", "a label = number of classes in", lambda x: np.where(np.arange(x.size) == 1, 3, x), "raises"),
    Kind("0d", "0-d array as", lambda x: np.array(1), "raises", compare="any"),
    Kind("column", "(N, 1) column as", lambda x: x[:, None], "raises"),
    Kind("empty", "empty (no examples)", lambda x: x[:0], "raises", compare="empty"),
    Kind("list", "list as", lambda x: x.tolist(), "raises"),
    Kind("none", "None as", lambda x: None, "raises"),
)
"""Kinds of value for an integer-label argument (3 classes)."""

UINT8_KINDS: tuple[Kind, ...] = (
    Kind("fortran", "Fortran-ordered", np.asfortranarray, "returns"),
    Kind("strided", "non-contiguous (strided view)", _strided, "returns"),
    Kind("readonly", "read-only", _readonly, "returns"),
    Kind("float", "float64", lambda x: x.astype(np.float64), "raises"),
    Kind("int64", "int64", lambda x: x.astype(np.int64), "raises"),
    Kind("bool", "bool", lambda x: x > 100, "raises"),
    Kind("0d", "0-d array as", lambda x: np.array(1, np.uint8), "raises"),
    Kind("rank1", "rank-1 as", lambda x: x.reshape(-1), "raises"),
    Kind("list", "nested list as", lambda x: x.tolist(), "raises"),
    Kind("none", "None as", lambda x: None, "raises"),
)
"""Kinds of value for a uint8 image argument."""

KINDS = {"float": FLOAT_KINDS, "labels": LABEL_KINDS, "uint8": UINT8_KINDS}


@attrs.frozen
class Target:
    """An array argument of a public function: its good value and how to call with another."""

    function: str
    fn: tuple[str, ...]
    arg: str
    kind: str
    good: Callable[[], np.ndarray[Any, Any]]
    call: Callable[[Any], object]
    view: Callable[[Any], object] = lambda r: r
    policy: tuple[tuple[str, str], ...] = ()
    isolate: bool = False
    arg_names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    generic: bool = False


def _empty_check(t: Target) -> Callable[[Any], str | None]:
    def check(result: object) -> str | None:
        from fnnet import tree

        ref = t.view(t.call(t.good()))
        n = t.good().shape[0]
        got = t.view(result)
        want_shapes = [
            (0, *np.shape(a)[1:]) if np.ndim(a) and np.shape(a)[0] == n else np.shape(a)
            for a in tree.leaves(ref)
        ]
        shapes = [np.shape(a) for a in tree.leaves(got)]
        return None if shapes == want_shapes else f"shapes {shapes}, expected {want_shapes}"

    return check


_SHAPES = frozenset({"0d", "rank1", "empty", "list", "tuple", "dict", "none", "scalar", "column"})
"""Kinds that change the shape or the container (a generic function still refuses them)."""


def _on_good(t: Target) -> object:
    return t.call(t.good())


def _pred_first(loss: Callable[[Any, Any], object], target: Any, pred: Any) -> object:
    return loss(pred, target)


def _update_grads(update: Callable[..., object], make: Callable[[], Any], g: Any) -> object:
    return update(make, g=g)


def _run_made(make: Callable[[Any], Any], v: Any) -> object:
    return _run_optimizer(make(v))


def _schedule_values(make: Callable[[Any], Any], v: Any) -> object:
    sched = make(v)
    return [float(sched(k)) for k in range(0, 12, 3)]


def _cast_check(t: Target, k: Kind, how: str) -> Callable[[Any], str | None]:
    def reference() -> object:
        v = np.asarray(k.make(t.good()))
        return t.call(v.astype(t.good().dtype) if how == "cast" else np.ascontiguousarray(v))

    return same_as(reference, t.view)


def _f16_check(t: Target) -> Callable[[Any], str | None]:
    def check(result: object) -> str | None:
        from fnnet import tree

        ref = t.view(t.call(t.good()))
        for a, b in zip(tree.leaves(t.view(result)), tree.leaves(ref), strict=True):
            if isinstance(b, np.ndarray) and b.dtype.kind == "f":
                a = np.asarray(a)
                if a.dtype != np.float16:
                    return f"float16 in, {a.dtype} out"
                if not np.allclose(a.astype(np.float64), b, rtol=1e-2, atol=1e-2):
                    return "float16 result far from the float64 one"
        return None

    return check


def array_cases(targets: Iterable[Target]) -> Iterator[Case]:
    """Every target x every kind of its argument."""
    for t in targets:
        policy = dict(t.policy)
        for k in KINDS[t.kind]:
            expect = policy.get(k.key, "returns" if t.generic and k.key not in _SHAPES else k.expect)
            if expect == "skip" or t.good().ndim < k.min_ndim or (t.kinds and k.key not in t.kinds):
                continue
            compare = "any" if expect == "any" else "contig" if t.generic else k.compare
            expect = "either" if expect == "any" else expect
            check: Callable[[Any], str | None] | None
            if compare == "any":
                check, ref = None, "anything"
            elif compare in ("cast", "contig"):
                check, ref = _cast_check(t, k, compare), "the result on a C-contiguous float64 copy" if compare == "cast" else "the result on a C-contiguous copy"
            elif compare == "empty":
                check, ref = _empty_check(t), "the result with no examples"
            elif compare == "f16":
                check, ref = _f16_check(t), "the float64 result in float16"
            else:
                check, ref = same_as(functools.partial(_on_good, t), t.view), "the result on the C-contiguous array"

            def call(tmp: Path, t: Target = t, k: Kind = k) -> object:
                return _guard(k.make(t.good()), t.call)

            yield Case(
                t.function, f"{k.text} {t.arg}", call, expect,
                names=(t.fn, t.arg_names or (t.arg,)), check=check, reference=ref, isolate=t.isolate,
            )  # fmt: skip


# --- the array targets -----------------------------------------------------------------------

X = _rng(0).normal(size=(5, 4))
"""5 examples of 4 features."""
LABELS = np.array([0, 2, 1, 2, 0])
"""5 labels of 3 classes."""
IMAGES = _rng(1).normal(size=(2, 6, 6, 1))
FEATURE_MAPS = _rng(2).normal(size=(2, 4, 4, 3))


def _layer(make: Callable[[], Any], shape: tuple[int, ...]) -> tuple[Any, Any]:
    layer = make()
    return layer, layer.init(0, shape)[1]


def _layer_targets(name: str, make: Callable[[], Any], x0: np.ndarray[Any, Any], *, params: bool, deep: bool) -> list[Target]:
    """``apply`` for every layer; ``forward`` and ``backward`` for the ``deep`` ones."""
    shape = x0.shape[1:]
    fn = (name.split("(")[0].split(".")[-1], "serial", "mlp")
    policy = (("empty", "either"),) + ((("float16", "either"),) if not params else ())
    out = [
        Target(f"layers.{name}.apply", fn, "x", "float", lambda: x0.copy(),
               lambda x: (lambda lp: lp[0].apply(lp[1], x))(_layer(make, shape)), policy=policy),
    ]  # fmt: skip
    if deep:
        dy0 = _rng(5).normal(size=np.shape(_layer(make, shape)[0].apply(_layer(make, shape)[1], x0)))

        def backward(dy: Any) -> object:
            layer, p = _layer(make, shape)
            return layer.backward(p, layer.forward(p, x0)[1], dy)

        def forward(x: Any) -> object:
            layer, p = _layer(make, shape)
            return layer.forward(p, x)[0]

        out.append(Target(f"layers.{name}.forward", fn, "x", "float", lambda: x0.copy(), forward, policy=policy))
        out.append(Target(f"layers.{name}.backward", fn, "dy", "float", lambda: dy0.copy(), backward,
                          policy=(("empty", "raises"),), kinds=_BACKWARD_KINDS))  # fmt: skip
    return out


_BACKWARD_KINDS = ("fortran", "strided", "readonly", "int64", "complex", "rank1", "empty", "list", "none")
"""``backward`` is fed by the library: the kinds a user's own call plausibly gets wrong."""


def layer_targets() -> list[Target]:
    from fnnet import layers as L

    specs = _layer_specs()
    out = [t for name, make, x0, params, deep in specs for t in _layer_targets(name, make, x0, params=params, deep=deep)]

    def keyed(x: Any) -> object:
        return L.dropout(0.5).forward_keyed(None, x, (0, 1))  # type: ignore[misc]  # set for dropout

    out.append(Target("layers.dropout(0.5).forward_keyed", ("dropout",), "x", "float", lambda: X.copy(), keyed, policy=(("empty", "either"), ("float16", "either"))))
    for name, make in (("random_flip()", L.random_flip), ("random_crop(1)", lambda: L.random_crop(1))):
        def augment(x: Any, make: Callable[[], Any] = make) -> object:
            return make().forward_keyed(None, x, (0, 1))

        out.append(Target(f"layers.{name}.forward_keyed", (name.split("(")[0],), "x", "float", lambda: FEATURE_MAPS.copy(), augment, policy=(("empty", "either"), ("float16", "either"))))
    return out


def _layer_specs() -> list[tuple[str, Callable[[], Any], np.ndarray[Any, Any], bool, bool]]:
    """``(name, make the layer, a good x, has params, probe forward/backward too)``."""
    from fnnet import layers as L

    return [
        ("dense(3)", lambda: L.dense(3), X, True, True),
        ("mlp([4, 5, 3], tanh, sigmoid)", lambda: L.mlp([4, 5, 3], hidden=L.tanh, output=L.sigmoid), X, True, True),
        ("serial(dense(5), relu, dense(3))", lambda: L.serial(L.dense(5), L.relu, L.dense(3)), X, True, True),
        ("identity", lambda: L.identity, X, False, False),
        ("sigmoid", lambda: L.sigmoid, X, False, True),
        ("tanh", lambda: L.tanh, X, False, False),
        ("relu", lambda: L.relu, X, False, False),
        ("leaky_relu(0.1)", lambda: L.leaky_relu(0.1), X, False, False),
        ("elu(1.0)", lambda: L.elu(1.0), X, False, False),
        ("softplus", lambda: L.softplus, X, False, False),
        ("softmax", lambda: L.softmax, X, False, True),
        ("conv2d(2, 3)", lambda: L.conv2d(2, 3), IMAGES, True, True),
        ("max_pool2d(2)", lambda: L.max_pool2d(2), FEATURE_MAPS, False, True),
        ("avg_pool2d(2)", lambda: L.avg_pool2d(2), FEATURE_MAPS, False, False),
        ("flatten()", lambda: L.flatten(), FEATURE_MAPS, False, True),
        ("reshape((2, 2))", lambda: L.reshape((2, 2)), X, False, False),
        ("dropout(0.5)", lambda: L.dropout(0.5), X, False, False),
        ("random_flip()", lambda: L.random_flip(), FEATURE_MAPS, False, False),
        ("random_crop(1)", lambda: L.random_crop(1), FEATURE_MAPS, False, False),
        ("layer_norm()", lambda: L.layer_norm(), X, True, True),
        ("group_norm(2)", lambda: L.group_norm(2), FEATURE_MAPS[..., :2], True, False),
    ]


def _loss_targets() -> list[Target]:
    from fnnet import losses

    p2 = _rng(3).uniform(0.05, 0.95, size=(5, 2))
    t2 = (_rng(4).uniform(size=(5, 2)) > 0.5).astype(np.float64)
    logits = _rng(6).normal(size=(5, 3))
    onehot = np.eye(3)[LABELS]
    out: list[Target] = []
    for name in ("mse", "half_mse", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        f = getattr(losses, name)
        pred0 = p2 if name == "binary_cross_entropy" else p2 * 4 - 2
        out.append(Target(f"losses.{name}", (name,), "pred", "float", pred0.copy, functools.partial(_pred_first, f, t2)))
        out.append(Target(f"losses.{name}", (name,), "target", "float", t2.copy, functools.partial(f, pred0), policy=(("int64", "either"), ("bool", "either"))))
    sce = losses.softmax_cross_entropy
    out.append(Target("losses.softmax_cross_entropy", ("softmax_cross_entropy",), "pred", "float", lambda: logits.copy(), lambda p: sce(p, LABELS)))
    out.append(Target("losses.softmax_cross_entropy", ("softmax_cross_entropy",), "target", "labels", lambda: LABELS.copy(), lambda t: sce(logits, t)))
    out.append(Target("losses.softmax_cross_entropy", ("softmax_cross_entropy",), "soft target", "float", lambda: onehot.copy(), lambda t: sce(logits, t), arg_names=("target",)))
    return out


def _metric_data_targets() -> list[Target]:
    from fnnet import data, metrics, train

    probs = _rng(7).dirichlet(np.ones(3), size=5)
    u8 = (_rng(8).uniform(size=(3, 6, 6)) * 255).astype(np.uint8)
    loss_series = _rng(9).uniform(size=(6, 2))
    return [
        Target("metrics.accuracy", ("accuracy",), "pred", "float", lambda: probs.copy(), lambda p: metrics.accuracy(p, LABELS)),
        Target("metrics.accuracy", ("accuracy",), "target", "labels", lambda: LABELS.copy(), lambda t: metrics.accuracy(probs, t), policy=(("column", "raises"),)),
        Target("metrics.predicted_class", ("predicted_class",), "pred", "float", lambda: probs.copy(), metrics.predicted_class, policy=(("empty", "either"),)),
        Target("metrics.confusion_matrix", ("confusion_matrix",), "pred_labels", "labels", lambda: LABELS.copy(), lambda t: metrics.confusion_matrix(t, LABELS, 3), policy=(("list", "any"),)),
        Target("metrics.confusion_matrix", ("confusion_matrix",), "labels", "labels", lambda: LABELS.copy(), lambda t: metrics.confusion_matrix(LABELS, t, 3), policy=(("list", "any"),)),
        Target("data.one_hot", ("one_hot",), "labels", "labels", lambda: LABELS.copy(), lambda t: data.one_hot(t, 3), policy=(("empty", "returns"), ("column", "any"), ("0d", "any"))),
        Target("data.batches", ("batches",), "x", "float", lambda: X.copy(), lambda x: list(data.batches(x, LABELS, 2, key=0)), policy=(("rank1", "either"),), generic=True),
        Target("data.train_val_split", ("train_val_split",), "x", "float", lambda: X.copy(), lambda x: data.train_val_split(x, LABELS, 2, key=0), policy=(("rank1", "either"),), generic=True),
        Target("data.flatten_images", ("flatten_images",), "x", "uint8", lambda: u8.copy(), data.flatten_images),
        Target("data.images", ("images",), "x", "uint8", lambda: u8.copy(), data.images),
        Target("train.first_below", ("first_below",), "series", "float", lambda: loss_series.copy(), lambda s: train.first_below(s, 0.5), policy=(("rank1", "any"), ("float16", "either"))),
    ]


def _lab() -> tuple[Any, Any]:
    from fnnet import layers

    net = layers.mlp([2, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    return net, net.init(0, (2,))[1]


def fit(**kwargs: Any) -> Any:
    """A short XOR fit of the lab network; ``kwargs`` override any argument."""
    from fnnet import data, losses, optim, train

    net, params = _lab()
    args: dict[str, Any] = {"model": net, "loss": losses.mse, "optimizer": optim.sgd(0.5), "params": params, "data": data.xor(), "epochs": 3}
    args.update(kwargs)
    return quiet(lambda: train.fit(**args))


def _fit_view(r: Any) -> object:
    return (r.params, r.history.loss, r.epochs)


def _train_targets() -> list[Target]:
    from fnnet import data, losses, optim, train

    x0, y0 = data.xor()
    net, p0 = _lab()

    def step(x: Any) -> object:
        opt = optim.sgd(0.5)
        s = train.make_step(net, losses.mse, opt)
        return s(train.init_state(opt, p0), (x, y0))[0].params

    return [
        Target("train.fit", ("fit",), "x in 'data'", "float", lambda: x0.copy(), lambda x: fit(data=(x, y0)), _fit_view, arg_names=("data",)),
        Target("train.fit", ("fit",), "y in 'data'", "float", lambda: y0.copy(), lambda y: fit(data=(x0, y)), _fit_view, arg_names=("data",), policy=(("nan", "raises"), ("inf", "raises"), ("int64", "either"), ("bool", "either"))),
        Target("train.fit", ("fit",), "x in 'val_data'", "float", lambda: x0.copy(), lambda x: fit(val_data=(x, y0)), lambda r: (r.params, r.history.val_loss), arg_names=("val_data",), policy=(("nan", "raises"),)),
        Target("train.evaluate", ("evaluate",), "x in 'data'", "float", lambda: x0.copy(), lambda x: train.evaluate(net, losses.mse, p0, (x, y0)), arg_names=("data",)),
        Target("train.make_step(...)", ("step", "mlp", "dense", "serial"), "x in 'batch'", "float", lambda: x0.copy(), step, arg_names=("x", "batch")),
    ]


_DEFAULT: Any = object()
"""The good value (``None`` is one of the bad ones)."""


def _optim_targets() -> list[Target]:
    from fnnet import optim

    p0 = {"b": np.zeros(3), "w": _rng(10).normal(size=(2, 3))}
    g0 = _rng(11).normal(size=(2, 3))

    def update(make: Callable[[], Any], g: Any = _DEFAULT, w: Any = _DEFAULT) -> object:
        opt = make()
        params = {"b": p0["b"], "w": p0["w"] if w is _DEFAULT else w}
        grads = {"b": np.ones(3), "w": g0 if g is _DEFAULT else g}
        state = opt.init(params)
        for _ in range(2):
            u, state = opt.update(grads, state, params)
        return u

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("sgd(0.1)", lambda: optim.sgd(0.1)),
        ("momentum(0.1)", lambda: optim.momentum(0.1)),
        ("adam(0.1)", lambda: optim.adam(0.1)),
        ("adamw(0.1)", lambda: optim.adamw(0.1)),
        ("rmsprop(0.1)", lambda: optim.rmsprop(0.1)),
        ("adagrad(0.1)", lambda: optim.adagrad(0.1)),
        ("chain(clip_by_global_norm(1.0, model_axes=0), sgd(0.1))", lambda: optim.chain(optim.clip_by_global_norm(1.0, model_axes=0), optim.sgd(0.1))),
    ]
    pol = (("empty", "either"), ("rank1", "either"), ("0d", "either"), ("nan", "skip"))
    out = []
    for name, make in makers:
        fn = ("update", "grads", name.split("(")[0])
        out.append(Target(f"optim.{name}.update", fn, "grads leaf", "float", lambda: g0.copy(), functools.partial(_update_grads, update, make), policy=pol + (("0d", "raises"), ("rank1", "raises"), ("empty", "raises"), ("int64", "either")), arg_names=("grads", "g")))
    out.append(Target("optim.adamw(0.1).update", ("update", "params", "adamw"), "params leaf", "float", lambda: p0["w"].copy(), lambda w: update(makers[3][1], w=w), policy=pol + (("0d", "raises"), ("rank1", "raises"), ("empty", "raises")), arg_names=("params", "p")))
    return out


def all_array_targets() -> list[Target]:
    return [*layer_targets(), *_loss_targets(), *_metric_data_targets(), *_train_targets(), *_optim_targets()]


# --- hyperparameters and counts: every scalar argument x values at and past its bounds -------


@attrs.frozen
class Scalar:
    """A scalar argument: its valid range, and a call that shows what a value does.

    ``kind`` is ``float`` or ``int``; ``low``/``high`` bound the valid values (``open_low`` /
    ``open_high`` exclude the bound itself); ``build(value)`` returns something to compare with
    ``build(the same value as a plain Python number)``.
    """

    function: str
    fn: tuple[str, ...]
    arg: str
    kind: str
    low: float
    high: float
    build: Callable[[Any], object]
    open_low: bool = False
    open_high: bool = False
    none_ok: bool = False
    per_model: bool = False
    isolate: bool = False
    good: float | None = None
    skip: tuple[str, ...] = ()


_NAN, _INF = float("nan"), float("inf")


def _values(s: Scalar) -> list[tuple[str, object, object]]:
    """``(text, value, its plain Python equivalent or _BAD)`` for every value tried on ``s``."""
    if s.kind == "int":
        good = int(s.good) if s.good is not None else int(max(s.low, 0) + 2) if math_isfinite(s.low) else 2
        return [
            ("0", 0, 0), ("1", 1, 1), ("-1", -1, -1), (f"{good}", good, good),
            (f"np.int64({good})", np.int64(good), good), (f"np.int32({good})", np.int32(good), good),
            (f"{good}.0 (a float)", float(good), _BAD), (f"np.float64({good}.0)", np.float64(good), _BAD),
            ("2.5", 2.5, _BAD), ("NaN", _NAN, _BAD), ("inf", _INF, _BAD), ("True", True, _BAD),
            ("None", None, None if s.none_ok else _BAD), (f"the string '{good}'", str(good), _BAD),
            (f"[{good}] (a list)", [good], _BAD), (f"0-d array {good}", np.array(good), _EITHER),
        ]  # fmt: skip
    mid = s.good if s.good is not None else 0.5 if s.low <= 0.5 <= s.high else (s.low + 1.0 if math_isfinite(s.low) else -0.5)
    return [
        ("0", 0.0, 0.0), ("1", 1.0, 1.0), ("-1", -1.0, -1.0), (f"{mid}", mid, mid),
        ("1 (an int)", 1, 1.0), (f"np.float32({mid})", np.float32(mid), float(np.float32(mid))),
        (f"np.float64({mid})", np.float64(mid), mid), ("np.int64(1)", np.int64(1), 1.0),
        ("NaN", _NAN, _BAD), ("inf", _INF, _BAD), ("-inf", -_INF, _BAD), ("1e-300", 1e-300, 1e-300),
        ("True", True, _BAD), ("None", None, None if s.none_ok else _BAD),
        (f"the string '{mid}'", str(mid), _BAD), ("complex 0.5+0j", 0.5 + 0j, _BAD),
        (f"[{mid}] (a list)", [mid], _BAD), (f"0-d array {mid}", np.array(mid), _EITHER),
        (f"per-model array [{mid}, {mid}]", np.array([mid, mid]), np.array([mid, mid]) if s.per_model else _BAD),
    ]  # fmt: skip


def math_isfinite(v: float) -> bool:
    return bool(np.isfinite(v))


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_BAD = _Marker("bad")
_EITHER = _Marker("either")


def _in_range(s: Scalar, plain: object) -> str:
    """``returns``, ``raises`` or ``either`` (at a closed float bound: a choice either way)."""
    if plain is _BAD:
        return "raises"
    if plain is _EITHER:
        return "either"
    if plain is None or isinstance(plain, np.ndarray):
        return "returns"
    v = float(plain)  # type: ignore[arg-type]  # a plain number here
    if v < s.low or v > s.high or (v == s.low and s.open_low) or (v == s.high and s.open_high):
        return "raises"
    if v in (s.low, s.high) and s.kind == "float":
        return "either"
    return "returns"


def scalar_cases(scalars: Iterable[Scalar]) -> Iterator[Case]:
    for s in scalars:
        for text, value, plain in _values(s):
            if text in s.skip:
                continue
            expect = _in_range(s, plain)
            if expect == "either" and plain is _EITHER:
                check = None
                ref = "anything"
            elif isinstance(plain, np.ndarray) or plain is None:
                check, ref = None, "a result"
            else:
                rtol = 1e-6 if isinstance(value, np.float32) else 1e-12
                check, ref = same_as(functools.partial(s.build, plain), rtol=rtol), f"the result for {plain!r}"

            def call(tmp: Path, s: Scalar = s, value: object = value) -> object:
                return s.build(value)

            arg = s.arg.split(" ")[0].split("[")[0]
            yield Case(s.function, f"{s.arg} = {text}", call, expect, names=(s.fn, (arg,)),
                       check=check, reference=ref, isolate=s.isolate)  # fmt: skip


def _run_optimizer(opt: Any) -> object:
    """Three updates of ``opt`` on a 2-model stack of params; the last updates."""
    params = {"b": np.full((2, 3), 0.5), "w": _rng(12).normal(size=(2, 4, 3))}
    grads = {"b": np.full((2, 3), 0.1), "w": _rng(13).normal(size=(2, 4, 3))}
    state = opt.init(params)
    u: object = None
    for _ in range(3):
        u, state = opt.update(grads, state, params)
    return u


def _optim_scalars() -> list[Scalar]:
    from fnnet import optim

    o = optim
    inf = _INF
    spec: list[tuple[str, str, Callable[[Any], Any], float, float, bool, bool]] = [
        # function, arg, make(value), low, high, open_low, open_high
        ("sgd", "learning_rate", lambda v: o.sgd(v), 0, inf, False, True),
        ("momentum", "learning_rate", lambda v: o.momentum(v), 0, inf, False, True),
        ("momentum", "beta", lambda v: o.momentum(0.1, v), 0, 1, False, False),  # decay 1: a plain sum, not broken
        ("nesterov", "beta", lambda v: o.nesterov(0.1, v), 0, 1, False, False),  # decay 1: a plain sum, not broken
        ("adagrad", "learning_rate", lambda v: o.adagrad(v), 0, inf, False, True),
        ("adagrad", "eps", lambda v: o.adagrad(0.1, v), 0, inf, True, True),
        ("rmsprop", "decay", lambda v: o.rmsprop(0.1, v), 0, 1, False, True),
        ("rmsprop", "eps", lambda v: o.rmsprop(0.1, 0.9, v), 0, inf, True, True),
        ("adam", "learning_rate", lambda v: o.adam(v), 0, inf, False, True),
        ("adam", "b1", lambda v: o.adam(0.1, b1=v), 0, 1, False, True),
        ("adam", "b2", lambda v: o.adam(0.1, b2=v), 0, 1, False, True),
        ("adam", "eps", lambda v: o.adam(0.1, eps=v), 0, inf, True, True),
        ("adamw", "weight_decay", lambda v: o.adamw(0.1, weight_decay=v), 0, inf, False, True),
        ("scale", "factor", lambda v: o.scale(v), -inf, inf, True, True),
        ("scale_by_learning_rate", "learning_rate", lambda v: o.scale_by_learning_rate(v), 0, inf, False, True),
        ("trace", "decay", lambda v: o.trace(v), 0, 1, False, False),  # decay 1: a plain sum, not broken
        ("scale_by_rms", "decay", lambda v: o.scale_by_rms(v), 0, 1, False, True),
        ("scale_by_adam", "b1", lambda v: o.scale_by_adam(b1=v), 0, 1, False, True),
        ("scale_by_adagrad", "eps", lambda v: o.scale_by_adagrad(eps=v), 0, inf, True, True),
        ("add_decayed_weights", "weight_decay", lambda v: o.add_decayed_weights(v), 0, inf, False, True),
        ("clip", "max_delta", lambda v: o.clip(v), 0, inf, False, True),
        ("clip_by_global_norm", "max_norm", lambda v: o.clip_by_global_norm(v, model_axes=1), 0, inf, False, True),
    ]
    out = []
    for name, arg, make, low, high, ol, oh in spec:
        fn = (name, "scale_by_learning_rate", "scale_by_adam", "trace", "scale_by_rms", "scale_by_adagrad", "add_decayed_weights", "chain")
        out.append(Scalar(f"optim.{name}", fn, arg, "float", low, high,
                          functools.partial(_run_made, make), ol, oh, per_model=True))  # fmt: skip
    return out


def _schedule_scalars() -> list[Scalar]:
    from fnnet.optim import schedules as S

    def values(sched: Any) -> object:
        return [float(sched(k)) for k in range(0, 12, 3)]

    inf = _INF
    spec: list[tuple[str, str, str, Callable[[Any], Any], float, float]] = [
        ("constant", "value", "float", lambda v: S.constant(v), 0, inf),
        ("exponential_decay", "init_value", "float", lambda v: S.exponential_decay(v, 0.5, 2), 0, inf),
        ("exponential_decay", "decay_rate", "float", lambda v: S.exponential_decay(0.1, v, 2), 0, inf),
        ("exponential_decay", "transition_steps", "int", lambda v: S.exponential_decay(0.1, 0.5, v), 1, inf),
        ("step_decay", "init_value", "float", lambda v: S.step_decay(v, 0.5, 2), 0, inf),
        ("step_decay", "factor", "float", lambda v: S.step_decay(0.1, v, 2), 0, inf),
        ("step_decay", "every", "int", lambda v: S.step_decay(0.1, 0.5, v), 1, inf),
        ("cosine_decay", "init_value", "float", lambda v: S.cosine_decay(v, 10), 0, inf),
        ("cosine_decay", "decay_steps", "int", lambda v: S.cosine_decay(0.1, v), 1, inf),
        ("cosine_decay", "alpha", "float", lambda v: S.cosine_decay(0.1, 10, v), 0, 1),
        ("linear", "init_value", "float", lambda v: S.linear(v, 0.0, 10), 0, inf),
        ("linear", "end_value", "float", lambda v: S.linear(0.1, v, 10), 0, inf),
        ("linear", "transition_steps", "int", lambda v: S.linear(0.1, 0.0, v), 1, inf),
        ("warmup", "warmup_steps", "int", lambda v: S.warmup(0.1, v), 1, inf),
    ]
    return [Scalar(f"optim.schedules.{name}", (name,), arg, kind, low, high,
                   functools.partial(_schedule_values, make), open_high=high == inf)
            for name, arg, kind, make, low, high in spec]  # fmt: skip


def _layer_scalars() -> list[Scalar]:
    from fnnet import layers as L

    def out(layer: Any, x: np.ndarray[Any, Any], key: Any = None) -> object:
        _, p = layer.init(0, x.shape[1:])
        if key is not None:
            return layer.forward_keyed(p, x, key)[0]
        return layer.apply(p, x)

    inf = _INF
    img = _rng(14).normal(size=(2, 6, 6, 2))
    spec: list[tuple[str, str, str, Callable[[Any], object], float, float]] = [
        ("dense", "out_features", "int", lambda v: out(L.dense(v), X), 1, inf),
        ("conv2d", "out_channels", "int", lambda v: out(L.conv2d(v, 3), img), 1, inf),
        ("conv2d", "kernel_size", "int", lambda v: out(L.conv2d(2, v), img), 1, 6),
        ("conv2d", "stride", "int", lambda v: out(L.conv2d(2, 3, stride=v), img), 1, inf),
        ("conv2d", "padding", "int", lambda v: out(L.conv2d(2, 3, padding=v), img), 0, inf),
        ("max_pool2d", "size", "int", lambda v: out(L.max_pool2d(v), img), 1, 6),
        ("max_pool2d", "stride", "int", lambda v: out(L.max_pool2d(2, v), img), 1, inf),  # None: the window size
        ("avg_pool2d", "size", "int", lambda v: out(L.avg_pool2d(v), img), 1, 6),
        ("dropout", "rate", "float", lambda v: out(L.dropout(v), X, (0, 1)), 0, 1),
        ("random_crop", "padding", "int", lambda v: out(L.random_crop(v), img, (0, 1)), 0, 5),
        ("leaky_relu", "alpha", "float", lambda v: out(L.leaky_relu(v), X), -inf, inf),  # any finite slope (the layer's choice)
        ("elu", "alpha", "float", lambda v: out(L.elu(v), X), -inf, inf),  # any finite slope (the layer's choice)
        ("flatten", "ndim", "int", lambda v: out(L.flatten(v), img), 3, 3),
        ("reshape", "ndim", "int", lambda v: out(L.reshape((-1,), v), img), 3, 3),
        ("mlp", "sizes[1]", "int", lambda v: out(L.mlp([4, v, 2]), X), 1, inf),
    ]
    return [Scalar(f"layers.{name}", (name,), arg, kind, low, high, build, open_high=name == "dropout", none_ok=arg == "stride" and "pool" in name,
                   good=3 if name in ("flatten", "reshape") else None)
            for name, arg, kind, build, low, high in spec]  # fmt: skip


def _other_scalars() -> list[Scalar]:
    from fnnet import data, metrics, random, train
    from fnnet import layers as L

    inf = _INF
    x0, y0 = data.xor()
    val = (x0[:5].copy(), y0[:5].copy())
    probs = _rng(7).dirichlet(np.ones(3), size=5)
    net = L.mlp([2, 3, 1])
    p0 = net.init(0, (2,))[1]
    from fnnet import losses

    def view(r: Any) -> object:
        return _fit_view(r)

    spec: list[tuple[str, tuple[str, ...], str, str, Callable[[Any], object], float, float, bool]] = [
        ("data.linear", ("linear",), "n", "int", lambda v: data.linear(v, key=0), 0, inf, False),
        ("data.one_hot", ("one_hot",), "num_classes", "int", lambda v: data.one_hot(LABELS, v), 3, inf, False),
        ("data.num_batches", ("num_batches",), "n", "int", lambda v: data.num_batches(v, 2), 0, inf, False),
        ("data.num_batches", ("num_batches",), "batch_size", "int", lambda v: data.num_batches(10, v), 1, inf, True),
        ("data.batches", ("batches",), "batch_size", "int", lambda v: list(data.batches(X, LABELS, v, key=0)), 1, inf, True),
        ("data.train_val_split", ("train_val_split",), "val", "int", lambda v: data.train_val_split(X, LABELS, v, key=0), 1, 4, False),
        ("random.generator", ("fnnet.random", "generator"), "key", "int", lambda v: random.generator(v).random(3), 0, inf, False),
        ("random.split", ("fnnet.random", "split"), "n", "int", lambda v: random.split(0, v), 0, inf, False),
        ("random.fold_in", ("fnnet.random", "fold_in"), "i", "int", lambda v: random.fold_in(0, v), 0, inf, False),
        ("metrics.confusion_matrix", ("confusion_matrix",), "num_classes", "int", lambda v: metrics.confusion_matrix(LABELS, LABELS, v), 3, inf, False),
        ("train.fit", ("fit",), "epochs", "int", lambda v: view(fit(epochs=v)), 1, 40, False),
        ("train.fit", ("fit",), "batch_size", "int", lambda v: view(fit(batch_size=v)), 1, inf, True),
        ("train.fit", ("fit",), "patience", "int", lambda v: view(fit(patience=v, val_data=val)), 1, inf, True),
        ("train.fit", ("fit",), "log_every", "int", lambda v: view(fit(log_every=v)), 1, inf, True),
        ("train.fit", ("fit",), "key", "int", lambda v: view(fit(key=v, batch_size=7)), 0, inf, False),
        ("train.evaluate", ("evaluate",), "batch_size", "int", lambda v: train.evaluate(net, losses.mse, p0, (x0, y0), v), 1, inf, True),
    ]
    out = [Scalar(f, fn, arg, kind, low, high, build, none_ok=none_ok)
           for f, fn, arg, kind, build, low, high, none_ok in spec]  # fmt: skip
    fspec: list[tuple[str, tuple[str, ...], str, Callable[[Any], object], float, float]] = [
        ("train.loss_below", ("loss_below",), "threshold", lambda v: train.loss_below(v)(1, np.array([0.2, 0.7])), -inf, inf),
        ("metrics.accuracy", ("accuracy",), "threshold", lambda v: metrics.accuracy(probs[:, :1], (LABELS > 0)[:, None].astype(float), v), -inf, inf),
        ("metrics.predicted_class", ("predicted_class",), "threshold", lambda v: metrics.predicted_class(probs[:, :1], v), -inf, inf),
        ("data.train_val_split", ("train_val_split",), "val (a fraction)", lambda v: data.train_val_split(X, LABELS, v, key=0), 0, 1),
    ]
    ints = ("1 (an int)", "np.int64(1)")  # an int val is a number of examples
    out += [Scalar(f, fn, arg, "float", low, high, build, open_low=f.startswith("data"), open_high=f.startswith("data"), skip=ints if f.startswith("data") else ())
            for f, fn, arg, build, low, high in fspec]  # fmt: skip
    return out


def all_scalars() -> list[Scalar]:
    return [*_optim_scalars(), *_schedule_scalars(), *_layer_scalars(), *_other_scalars()]


# --- the catalogue ---------------------------------------------------------------------------

GROUPS: dict[str, Callable[[], Iterable[Case]]] = {}
"""Named groups of hand-written cases (structures, files, networks); filled below."""


def group(name: str) -> Callable[[Callable[[], Iterable[Case]]], Callable[[], Iterable[Case]]]:
    def register(f: Callable[[], Iterable[Case]]) -> Callable[[], Iterable[Case]]:
        GROUPS[name] = f
        return f

    return register


def _guarded(name: str, make: Callable[[], Iterable[Case]]) -> list[Case]:
    """The cases of one group; if building them fails, one case that reports it."""
    try:
        return list(make())
    except Exception as e:  # noqa: BLE001 - one broken group must not hide the others
        error = e

        def call(tmp: Path) -> object:
            raise error

        return [Case(f"(building the {name} cases)", "the library as it is now", call, "returns")]


def cases() -> list[Case]:
    """Every case, in a fixed order, with unique ids."""
    out = [
        *_guarded("array", lambda: array_cases(all_array_targets())),
        *_guarded("scalar", lambda: scalar_cases(all_scalars())),
    ]
    for name, make in GROUPS.items():
        out.extend(_guarded(name, make))
    ids = Counter(c.id for c in out)
    dup = [i for i, n in ids.items() if n > 1]
    assert not dup, f"duplicate case ids: {dup[:5]}"
    return out


def known_reason(case_id: str) -> str | None:
    """The reason a case is a known failure (an exact id or a glob in KNOWN_FAILURES)."""
    if case_id in KNOWN_FAILURES:
        return KNOWN_FAILURES[case_id]
    for pattern, reason in KNOWN_FAILURES.items():
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(case_id, pattern):
            return reason
    return None


def run_all(selected: list[Case]) -> list[tuple[Case, Outcome]]:
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for i, case in enumerate(selected):
            scratch = Path(tmp) / f"case{i}"
            scratch.mkdir()
            results.append((case, run(case, scratch)))
        return results


def coverage(results: list[tuple[Case, Outcome]]) -> list[str]:
    """Which public functions the cases call (by name), and which they do not."""
    counts: dict[str, int] = {}
    for name, _ in public_functions():
        short = name.split(".")[-1]
        counts[name] = sum(1 for c, _ in results if re.search(rf"(?<![A-Za-z0-9_]){re.escape(short)}(?![A-Za-z0-9_])", c.function))
    missing = sorted(n for n, k in counts.items() if k == 0)
    return [
        f"Coverage: {len(counts)} public functions in the `__all__` of the user-facing modules "
        f"(fnnet.arrays' helpers aside); {len(counts) - len(missing)} are called by at least one "
        f"case{'; not yet: ' + ', '.join(f'`{n}`' for n in missing) if missing else ''}. "
        "The download and argument-free functions are probed by hand-written cases.",
    ]


def page(results: list[tuple[Case, Outcome]], seconds: float) -> str:
    """docs/BAD-INPUTS.md."""
    counts = Counter(o.verdict for _, o in results)
    lines = [
        "# Bad inputs (and good ones that fool): the catalogue",
        "",
        f"Generated by `python scripts/bad_inputs.py --write docs/BAD-INPUTS.md`: {len(results)} "
        "cases, each one public function called with one kind of input, what must happen, what "
        "happened, and the verdict (the verdicts are defined in the script's docstring). "
        "`tests/test_bad_inputs.py` runs every case; CI fails on any silently-wrong, "
        "internal-exception, refused, data-loss or hang verdict not listed as a known failure "
        f"(`KNOWN_FAILURES` in the script). This run took {seconds:.0f} s.",
        "",
        "| verdict | cases | of which known failures |",
        "| --- | ---: | ---: |",
    ]
    known = Counter(o.verdict for c, o in results if known_reason(c.id) is not None)
    for v in VERDICTS:
        lines.append(f"| {v} | {counts.get(v, 0)} | {known.get(v, 0)} |")
    lines += ["", *coverage(results)]
    lines += [
        "",
        "| # | function | input | expected | outcome | verdict |",
        "| ---: | --- | --- | --- | --- | --- |",
    ]
    for i, (case, o) in enumerate(results, 1):
        mark = f"**{o.verdict}**" if o.verdict in FAILING else o.verdict
        lines.append(
            f"| {i} | `{case.function}` | {_short(case.given, 90)} | {_short(case.expected(), 90)} "
            f"| {_short(o.what, 160)} | {mark} |"
        )
    return "\n".join(lines) + "\n"


FINDINGS: tuple[tuple[str, str], ...] = (
    (r"required argument", "F20 junk arguments reach Python/numpy unchecked"),
    (r"\.backward: ", "F4 backward does not check dy or its residuals"),
    (r"grads leaf|params leaf|apply_updates: updates of other", "F9 optimizer updates do not check grads against params"),
    (r"^optim\.schedules\.", "F10 schedules accept inf"),
    (r"^random\.", "F13 fold_in/split arguments unchecked"),
    (r"first_below|predicted_class|^metrics\.accuracy", "F14 first_below/predicted_class/accuracy inputs unchecked"),
    (r"np\.int64|np\.int32|np\.float32", "F7 numpy scalars refused by layer constructors"),
    (r"(leaky_relu|elu): alpha", "F6 leaky_relu/elu alpha unchecked"),
    (r"(0-d array|rank-1 \(one example's row\)) as x", "F5 activations/dropout accept 0-d and rank-1 x"),
    (r"softmax_cross_entropy", "F15 softmax_cross_entropy dtypes"),
    (r"another architecture|\(1,\) bias|params of another layer", "F3 params of another architecture run"),
    (r"read_idx: 200 MB", "F2 read_idx inflates a gzip bomb"),
    (r"numpy scalars", "F16 io turns numpy scalars into Python numbers"),
    (r"hidden = a function|a function among|input_shape = 4|weight of rank 1|out_features = None", "F8 layers built from non-layers"),
    (r"opt_state made for another model", "F22 an opt_state for other params is dropped silently"),
    (r"check_gradients", "F23 check_gradients arguments unchecked"),
    (r"^stack: dropout", "F18 dropout draws one mask per stack"),
)
"""Patterns over case ids -> the finding (in /work/notes/trust-findings.md) a failure belongs to."""


def finding(case_id: str) -> str | None:
    return next((f for pattern, f in FINDINGS if re.search(pattern, case_id)), None)


def known_block(results: list[tuple[Case, Outcome]]) -> str:
    """The failing cases as ``KNOWN_FAILURES`` entries, each with its finding's reason."""
    lines = []
    for case, o in results:
        if o.verdict in FAILING:
            reason = finding(case.id) or KNOWN_FAILURES.get(case.id) or f"{o.verdict}: {o.what}"
            reason = reason if len(reason) <= 100 else reason[:99] + "…"
            lines.append(f"    {case.id!r}: {reason!r},")
    return "\n".join(lines)


def update_known(results: list[tuple[Case, Outcome]]) -> None:
    """Rewrite ``KNOWN_FAILURES`` in this file to the cases failing now (stack entries kept)."""
    broken = [c.id for c, _ in results if c.function.startswith("(building")]
    if broken:
        raise SystemExit(f"not rewriting KNOWN_FAILURES: some groups could not be built: {broken}")
    path = Path(__file__)
    text = path.read_text()
    head = "\n" + "KNOWN_FAILURES" + ": dict[str, str] = {\n"
    start = text.index(head) + len(head)
    end = text.index("\n}  # fmt: skip", start)
    stack = [f"    {k!r}: {finding(k) or v!r}," for k, v in KNOWN_FAILURES.items() if k.startswith("stack: ")]
    body = "\n".join([known_block(results), *stack])
    path.write_text(text[:start] + body + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the markdown page to this file")
    parser.add_argument("--known", action="store_true", help="print failing cases as KNOWN_FAILURES entries")
    parser.add_argument("--update-known", action="store_true", help="rewrite KNOWN_FAILURES to the cases failing now")
    parser.add_argument("-k", default="", help="only cases whose id contains this")
    parser.add_argument("-v", action="store_true", help="print every case that is not ok")
    args = parser.parse_args(argv)
    start = time.monotonic()
    selected = [c for c in cases() if args.k in c.id]
    results = run_all(selected)
    seconds = time.monotonic() - start
    counts = Counter(o.verdict for _, o in results)
    if args.known:
        print(known_block(results))
    if args.update_known and not args.k:
        update_known(results)
    for case, o in results:
        if args.v and o.verdict != "ok":
            print(f"{o.verdict:18} {case.id} -> {o.what}")
    print(f"{len(results)} cases in {seconds:.1f} s: " + ", ".join(f"{v} {counts.get(v, 0)}" for v in VERDICTS), file=sys.stderr)
    if args.write:
        args.write.write_text(page(results, seconds))
    return 0




# --- wrong structures, state from elsewhere, out-of-range values -----------------------------


def _raises(function: str, given: str, call: Callable[[], object], fn: tuple[str, ...], arg: tuple[str, ...]) -> Case:
    return Case(function, given, lambda tmp: call(), "raises", names=(fn, arg))


def _returns(function: str, given: str, call: Callable[[], object], check: Callable[[Any], str | None] | None, reference: str) -> Case:
    return Case(function, given, lambda tmp: call(), "returns", check=check, reference=reference)


def _either(function: str, given: str, call: Callable[[], object], fn: tuple[str, ...], arg: tuple[str, ...], check: Callable[[Any], str | None] | None, reference: str) -> Case:
    return Case(function, given, lambda tmp: call(), "either", names=(fn, arg), check=check, reference=reference)


def _finite(r: object) -> str | None:
    from fnnet import tree

    bad = [p for a, p in zip(tree.leaves(r), tree.paths(r), strict=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f" and not np.isfinite(a).all()]
    return f"not finite at {bad[:3]}" if bad else None


@group("layer structures")
def _layer_structure_cases() -> list[Case]:
    from fnnet import layers as L

    net, p = _lab()
    x, _ = _xor()
    other = L.mlp([2, 7, 1]).init(0, (2,))[1]
    dense = L.dense(3)
    dp = dense.init(0, (4,))[1]
    DP = L.DenseParams
    fn, arg = ("mlp", "serial", "dense"), ("params", "w", "b")
    stack3 = L.init_stack(dense, [0, 1, 2], (4,))[1]
    return [
        _raises("layers.mlp(...).apply", "params of another architecture (2-7-1 for 2-4-1)", lambda: net.apply(other, x), fn, arg),
        _either("layers.mlp(...).apply", "params as a list instead of a tuple", lambda: net.apply(list(p), x), fn, arg, same_as(lambda: net.apply(p, x)), "the tuple's result"),
        _raises("layers.mlp(...).apply", "params tuple one entry short", lambda: net.apply(p[:-1], x), fn, arg),
        _raises("layers.mlp(...).apply", "params = None", lambda: net.apply(None, x), fn, arg),
        _raises("layers.mlp(...).apply", "params as a dict", lambda: net.apply({"0": p[0]}, x), fn, arg),
        _raises("layers.mlp(...).forward", "params of another architecture", lambda: net.forward(other, x), fn, arg),
        _raises("layers.dense(3).apply", "a (1,) bias", lambda: dense.apply(DP(dp.w, np.zeros(1)), X), fn, arg),
        _raises("layers.dense(3).apply", "a transposed weight (3, 4)", lambda: dense.apply(DP(dp.w.T.copy(), dp.b), X), fn, arg + ("x",)),
        _raises("layers.dense(3).apply", "an integer weight", lambda: dense.apply(DP(dp.w.astype(np.int64), dp.b), X), fn, arg),
        _raises("layers.dense(3).apply", "a weight of rank 1", lambda: dense.apply(DP(dp.w[0], dp.b), X), fn, arg),
        _raises("layers.dense(3).apply", "params for 3 models, x for 2", lambda: dense.apply(stack3, np.ones((2, 5, 4))), fn, ("x", "params")),
        _returns("layers.dense(3).apply", "a stack of 3 models, shared x", lambda: dense.apply(stack3, X), same_as(lambda: np.stack([dense.apply(DP(stack3.w[i], stack3.b[i]), X) for i in range(3)])), "each model alone, stacked"),
        _raises("layers.dense(3).backward", "residuals of another layer (x with 2 features)", lambda: dense.backward(dp, np.ones((5, 2)), np.ones((5, 3))), fn, ("res", "x", "residuals", "dy")),
        _raises("layers.mlp", "sizes = [2] (no layer)", lambda: L.mlp([2]), ("mlp",), ("sizes",)),
        _raises("layers.mlp", "sizes = []", lambda: L.mlp([]), ("mlp",), ("sizes",)),
        _raises("layers.mlp", "sizes = 'abc'", lambda: L.mlp("abc"), ("mlp",), ("sizes",)),  # type: ignore[arg-type]  # deliberately wrong
        _raises("layers.mlp", "hidden = a function, not a layer", lambda: L.mlp([2, 3, 1], hidden=np.tanh), ("mlp",), ("hidden",)),  # type: ignore[arg-type]  # deliberately wrong
        _raises("layers.serial", "a function among the layers", lambda: L.serial(L.dense(3), np.tanh), ("serial",), ("layers", "layer")),  # type: ignore[arg-type]  # deliberately wrong
        _either("layers.serial", "no layers at all", lambda: L.serial().apply((), X), ("serial",), ("layers",), same_as(lambda: X), "x unchanged"),
        _raises("layers.init_stack", "no keys", lambda: L.init_stack(dense, [], (4,)), ("init_stack",), ("keys",)),
        _raises("layers.init_stack", "a negative key", lambda: L.init_stack(dense, [0, -1], (4,)), ("init_stack", "fnnet.random"), ("keys", "key")),
        _raises("layers.dense(3).init", "input_shape (4, 2)", lambda: dense.init(0, (4, 2)), ("dense",), ("input_shape",)),
        _raises("layers.dense(3).init", "input_shape = 4 (not a tuple)", lambda: dense.init(0, 4), ("dense",), ("input_shape",)),  # type: ignore[arg-type]  # deliberately wrong
        _either("layers.dense(3).init", "input_shape (0,)", lambda: dense.init(0, (0,)), ("dense",), ("input_shape",), None, "params with no inputs"),
        _raises("layers.dense(3).init", "key = -1", lambda: dense.init(-1, (4,)), ("dense", "fnnet.random"), ("key",)),
        _raises("layers.dense(3).init", "key = 1.5", lambda: dense.init(1.5, (4,)), ("dense", "fnnet.random"), ("key",)),  # type: ignore[arg-type]  # deliberately wrong
        _returns("layers.dense(3).init", "key = np.int64(7)", lambda: dense.init(np.int64(7), (4,)), same_as(lambda: dense.init(7, (4,))), "the params for key 7"),  # type: ignore[arg-type]  # numpy ints are ints
        _returns("layers.sigmoid.apply", "x = ±1e300", lambda: L.sigmoid.apply(None, np.array([[1e300, -1e300]])), same_as(lambda: np.array([[1.0, 0.0]])), "[1, 0], finite"),
        _returns("layers.softmax.apply", "x = [1e300, 0]", lambda: L.softmax.apply(None, np.array([[1e300, 0.0]])), same_as(lambda: np.array([[1.0, 0.0]])), "[1, 0], finite"),
        _returns("layers.softplus.apply", "x = 1e300", lambda: L.softplus.apply(None, np.array([[1e300, -1e300]])), same_as(lambda: np.array([[1e300, 0.0]])), "[1e300, 0], finite"),
        _returns("layers.tanh.apply", "float32 x stays float32", lambda: L.tanh.apply(None, X.astype(np.float32)).dtype, lambda d: None if d == np.float32 else f"dtype {d}", "float32"),
        _returns("layers.mlp(...).apply", "float32 params and x stay float32", lambda: (lambda n: n.apply(n.init(0, (2,))[1], x.astype(np.float32)).dtype)(L.mlp([2, 3, 1], dtype=np.float32)), lambda d: None if d == np.float32 else f"dtype {d}", "float32"),
    ]


def _xor() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from fnnet import data

    return data.xor()


@group("loss and metric values")
def _value_cases() -> list[Case]:
    from fnnet import losses, metrics

    p = np.array([[0.2], [0.9], [0.6]])
    t = np.array([[0.0], [1.0], [1.0]])
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.3, 0.1]])
    bce, sce = losses.binary_cross_entropy, losses.softmax_cross_entropy
    return [
        _raises("losses.binary_cross_entropy", "pred outside [0, 1] (1.5, -0.5)", lambda: bce(np.array([[1.5], [-0.5], [0.5]]), t), ("binary_cross_entropy",), ("pred",)),
        _raises("losses.binary_cross_entropy", "target outside [0, 1] (2.0)", lambda: bce(p, np.array([[0.0], [2.0], [1.0]])), ("binary_cross_entropy",), ("target",)),
        _raises("losses.binary_cross_entropy_with_logits", "target outside [0, 1] (-1.0)", lambda: losses.binary_cross_entropy_with_logits(p, -t), ("binary_cross_entropy_with_logits",), ("target",)),
        _raises("losses.softmax_cross_entropy", "a negative soft target", lambda: sce(logits, np.array([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]])), ("softmax_cross_entropy",), ("target",)),
        _either("losses.softmax_cross_entropy", "soft targets whose rows sum to 2", lambda: sce(logits, np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])), ("softmax_cross_entropy",), ("target",), same_as(lambda: (2 * sce(logits, np.array([0, 2]))[0], 2 * sce(logits, np.array([0, 2]))[1])), "twice the loss and gradient of the labels"),
        _either("losses.mse", "a NaN in pred", lambda: losses.mse(np.array([[np.nan], [1.0]]), np.ones((2, 1))), ("mse",), ("pred",), lambda r: None if np.isnan(r[0]) else "NaN hidden", "a NaN loss"),
        _returns("losses.binary_cross_entropy_with_logits", "logits ±1e300", lambda: losses.binary_cross_entropy_with_logits(np.array([[1e300], [-1e300]]), np.array([[0.0], [1.0]]))[0], lambda v: None if np.isfinite(v) and v > 1e299 else f"{v}", "a finite loss of about 1e300"),
        _returns("losses.softmax_cross_entropy", "logits of 1e300", lambda: sce(np.array([[1e300, 0.0]]), np.array([1])), _finite, "a finite loss"),
        _returns("losses.mse", "float32 pred and target stay float32", lambda: losses.mse(np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32))[1].dtype, lambda d: None if d == np.float32 else f"dtype {d}", "float32 gradient"),
        _either("metrics.accuracy", "a NaN prediction", lambda: metrics.accuracy(np.array([[np.nan, 0.0], [1.0, 0.0]]), np.array([0, 0])), ("accuracy",), ("pred",), lambda r: None if np.isnan(r) else f"{r}: the NaN counted as a prediction", "NaN"),
        _raises("metrics.accuracy", "float targets outside [0, 1]", lambda: metrics.accuracy(p, 3 * t), ("accuracy",), ("target",)),
        _raises("metrics.accuracy", "a single-output pred with label 2", lambda: metrics.accuracy(p, np.array([0, 2, 1])), ("accuracy",), ("target", "labels")),
        _raises("metrics.confusion_matrix", "num_classes = 0 with no labels", lambda: metrics.confusion_matrix(np.array([], np.int64), np.array([], np.int64), 0), ("confusion_matrix",), ("num_classes",)),
        _isolated_one_hot(),
    ]


def _isolated_one_hot() -> Case:
    from fnnet import data

    return Case("data.one_hot", "8000 classes for 5 labels (no 8000x8000 identity)", lambda tmp: data.one_hot(LABELS, 8000),
                "returns", check=lambda r: None if np.shape(r) == (5, 8000) and np.array_equal(np.argmax(r, axis=1), LABELS) else "wrong", reference="(5, 8000) one-hot rows",
                isolate=True, timeout=20, memory_mb=200)  # fmt: skip




# --- files: missing, directories, foreign, tampered, huge, half-written, shared ---------------


def _roundtrip(tree_: object, name: str = "t.npz") -> Callable[[Path], object]:
    """Save ``tree_`` and load it back: a save that succeeds and cannot be loaded is data loss."""

    def call(tmp: Path) -> object:
        from fnnet import io

        io.save(tmp / name, tree_)
        try:
            return io.load(tmp / name, like=tree_)
        except Exception as e:  # noqa: BLE001 - any failure to read back loses the data
            raise DataLoss(f"saved, but cannot be loaded back: {type(e).__name__}: {e}") from e

    return call


def _same_leaves(want: object) -> Callable[[Any], str | None]:
    def check(got: Any) -> str | None:
        from fnnet import tree

        if tree.structure(got) != tree.structure(want):
            return "another structure came back"
        for a, b in zip(tree.leaves(got), tree.leaves(want), strict=True):
            if type(a) is not type(b) and not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
                return f"a {type(b).__name__} came back as a {type(a).__name__}"
            if isinstance(b, np.ndarray) and (a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b, equal_nan=b.dtype.kind in "fc")):
                return f"{b.dtype} {b.shape} came back as {a.dtype} {a.shape}"
            if not isinstance(b, np.ndarray) and a != b:
                return f"{b!r} came back as {a!r}"
        return None

    return check


def _save_case(given: str, tree_: object) -> Case:
    return Case("io.save", f"round trip of {given}", _roundtrip(tree_), "either", names=(("save", "fnnet.io"), ("tree_", "leaf", "leaves", "tree")), check=_same_leaves(tree_), reference="the same tree, same types, dtypes and values")


def _file(tmp: Path, content: bytes, name: str = "f.npz") -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def _saved(tmp: Path, tree_: object, name: str = "p.npz") -> Path:
    from fnnet import io

    io.save(tmp / name, tree_)
    return tmp / name


def _tamper_meta(tmp: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    path = _saved(tmp, {"w": np.ones(3)})
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta_name = next(n for n in members if "__fnnet__" in n)
    arr = np.lib.format.read_array(__import__("io").BytesIO(members[meta_name]))
    meta = json.loads(str(arr))
    edit(meta)
    buf = __import__("io").BytesIO()
    np.lib.format.write_array(buf, np.array(json.dumps(meta)))
    members[meta_name] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return path


def _bomb(tmp: Path) -> Path:
    """An .npz whose one leaf inflates to 400 MB from well under 1 MB."""
    import zlib

    path = tmp / "bomb.npz"
    n = 50_000_000
    header = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    meta = __import__("io").BytesIO()
    np.lib.format.write_array(meta, np.array(json.dumps({"format": "fnnet-pytree", "version": 1, "structure": {"type": "builtins.dict", "aux": ["w"], "children": ["*"]}, "kinds": ["array"], "paths": ["['w']"]})))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("__fnnet__.npy", meta.getvalue())
        with z.open("leaf_00000.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk, left = bytes(1 << 22), n * 8
            while left:
                f.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
    del zlib
    return path


def _load_fn() -> tuple[str, ...]:
    return ("load", "fnnet.io.load", "fnnet.io")


@group("io files")
def _io_cases() -> list[Case]:
    from fnnet import io
    from fnnet import layers as L

    like = {"w": np.ones(3)}
    P = ("path", "file", "no such", "not exist", "missing", "directory", "not an fnnet", "truncated", "corrupt", "format", "version", "shape", "structure", "leaf")
    def load_case(given: str, make: Callable[[Path], Path], words: tuple[str, ...] = P, isolate: bool = False, like_: object = like) -> Case:
        return Case("io.load", given, lambda tmp: io.load(make(tmp), like=like_), "raises", names=(_load_fn(), words), isolate=isolate, timeout=20, memory_mb=150 if isolate else None)

    import io as _bio

    foreign = _bio.BytesIO()
    np.savez(foreign, w=np.ones(3))
    pickled = _bio.BytesIO()
    np.savez(pickled, __fnnet__=np.array(json.dumps({"format": "fnnet-pytree", "version": 1})), leaf_00000=np.array([object()], dtype=object))
    good = _bio.BytesIO()
    io.save(Path(tempfile.gettempdir()) / f"fnnet-catalogue-{os.getpid()}.npz", like)
    raw = (Path(tempfile.gettempdir()) / f"fnnet-catalogue-{os.getpid()}.npz").read_bytes()
    (Path(tempfile.gettempdir()) / f"fnnet-catalogue-{os.getpid()}.npz").unlink()
    del good
    dense_p = L.dense(3).init(0, (4,))[1]
    out = [
        load_case("a missing file", lambda tmp: tmp / "missing.npz", ("no such", "not exist", "missing", "not found", "path")),
        load_case("a directory", lambda tmp: tmp, ("directory",)),
        load_case("a text file", lambda tmp: _file(tmp, b"hello, world\n")),
        load_case("an empty file", lambda tmp: _file(tmp, b"")),
        load_case("an .npz not written by fnnet", lambda tmp: _file(tmp, foreign.getvalue())),
        load_case("an .npz holding a pickled object array", lambda tmp: _file(tmp, pickled.getvalue())),
        load_case("a file truncated to 10 bytes", lambda tmp: _file(tmp, raw[:10])),
        load_case("a file truncated to half", lambda tmp: _file(tmp, raw[: len(raw) // 2])),
        load_case("a file missing its last byte", lambda tmp: _file(tmp, raw[:-1])),
        load_case("a file with one byte flipped in a leaf", lambda tmp: _file(tmp, raw[:80] + bytes([raw[80] ^ 0xFF]) + raw[81:])),
        load_case("tampered metadata: version 99", lambda tmp: _tamper_meta(tmp, lambda m: m.update(version=99))),
        load_case("tampered metadata: no kinds", lambda tmp: _tamper_meta(tmp, lambda m: m.pop("kinds"))),
        load_case("tampered metadata: two leaves claimed, one stored", lambda tmp: _tamper_meta(tmp, lambda m: m.update(kinds=["array", "array"]))),
        load_case("tampered metadata: structure not a dict", lambda tmp: _tamper_meta(tmp, lambda m: m.update(structure=7))),
        load_case("like of another structure", lambda tmp: _saved(tmp, [np.ones(3)])),
        load_case("like with another leaf shape", lambda tmp: _saved(tmp, {"w": np.ones(4)}), ("shape",)),
        load_case("like with another dtype", lambda tmp: _saved(tmp, {"w": np.ones(3, np.float32)}), ("dtype", "float32")),
        load_case("DenseParams where a dict was saved", lambda tmp: _saved(tmp, {"w": np.ones(3)}), like_=dense_p),
        load_case("a 400 MB leaf (from a 0.4 MB file) where like is (3,)", _bomb, ("shape",), isolate=True),
        Case("io.load", "like = None for a file holding a dict", lambda tmp: io.load(_saved(tmp, like), like=None), "raises", names=(_load_fn(), ("structure", "like"))),
        _save_case("Python ints, floats and bools", {"i": 3, "f": 0.5, "b": True}),
        _save_case("an int beyond int64 (10**30)", {"n": 10**30}),
        _save_case("numpy scalars (np.float32, np.int64)", {"f": np.float32(0.5), "i": np.int64(7)}),
        _save_case("a float16, complex, bool and uint64 array", [np.ones(2, np.float16), np.ones(2, complex), np.ones(2, bool), np.ones(2, np.uint64)]),
        _save_case("a 0-d and an empty array", [np.array(1.5), np.zeros((0, 3))]),
        _save_case("a Fortran-ordered, a strided and a read-only array", [np.asfortranarray(X), X[:, ::2], _readonly(X)]),
        _save_case("a big-endian array", [X.astype(">f8")]),
        _save_case("a string array", [np.array(["a", "bc"])]),
        _save_case("a datetime64 array", [np.array(["2024-01-01"], dtype="datetime64[D]")]),
        _save_case("an object array", [np.array([None, 1], dtype=object)]),
        _save_case("a masked array", [np.ma.masked_array([1.0, 2.0], mask=[True, False])]),
        _save_case("a structured (void) array", [np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])]),
        _save_case("None leaves, nested tuples and lists", (None, [np.ones(1), (np.zeros(2), None)])),
        _save_case("dict keys that are ints", {1: np.ones(1), 2: np.zeros(1)}),
        _save_case("dict keys '1' and 1 together", {"1": np.ones(1), 1: np.zeros(1)}),
        _save_case("a NaN and an inf", [np.array([np.nan, np.inf, -np.inf])]),
        _save_case("DenseParams", dense_p),
        _save_case("a NamedTuple", __import__("collections").namedtuple("Pair", "a b")(np.ones(1), np.zeros(1))),
        Case("io.save", "a path under a regular file", lambda tmp: io.save(_file(tmp, b"x", "file") / "p.npz", like), "raises", names=(("save", "fnnet.io"), ("path", "directory", "file"))),
        Case("io.save", "a path that is a directory", lambda tmp: io.save(tmp, like), "raises", names=(("save", "fnnet.io"), ("path", "directory"))),
        Case("io.save", "an unsavable tree over an existing file: the old file survives", _save_over, "raises", names=(("save", "fnnet.io"), ("object", "leaf", "leaves"))),
        Case("io.save", "killed in the middle: the previous file survives, temp files are cleaned", _killed_save, "returns", check=lambda r: r, reference="the old file loads; no temp files after the next save", isolate=True, timeout=30),
        Case("io.save", "two threads saving one path at once", _racing_saves, "returns", check=lambda r: r, reference="a loadable file holding one of the two trees", timeout=30, isolate=True),
    ]
    return out


def _save_over(tmp: Path) -> object:
    from fnnet import io

    path = _saved(tmp, {"w": np.ones(3)})
    try:
        io.save(path, {"w": np.array([object()], dtype=object)})
    finally:
        try:
            io.load(path, like={"w": np.ones(3)})
        except Exception as e:  # noqa: BLE001 - the old file is gone
            raise DataLoss(f"the previous file was destroyed: {e}") from e
    return None


def _killed_save(tmp: Path) -> str | None:
    from fnnet import io

    path = _saved(tmp, {"w": np.ones(3)})
    big = {"w": np.ones(3), "big": np.ones(20_000_000)}
    for delay in (0.0, 0.01, 0.03):
        pid = os.fork()
        if pid == 0:
            try:
                io.save(path, big)
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    try:
        io.load(path, like={"w": np.ones(3)}, strict=False)
    except ValueError:
        try:
            io.load(path, like=big, strict=False)
        except Exception as e:  # noqa: BLE001 - neither the old nor the new tree
            raise DataLoss(f"after a killed save the file loads as neither tree: {e}") from e
    io.save(path, {"w": np.ones(3)})
    left = [p.name for p in tmp.iterdir() if p.name != path.name]
    return f"temp files left after the next save: {left}" if left else None


def _racing_saves(tmp: Path) -> str | None:
    import threading

    from fnnet import io

    path = tmp / "race.npz"
    a, b = {"w": np.zeros(200_000)}, {"w": np.ones(200_000)}
    errors: list[BaseException] = []

    def save(t: object) -> None:
        try:
            for _ in range(5):
                io.save(path, t)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=save, args=(t,)) for t in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        return f"a save failed: {errors[0]!r}"
    got = io.load(path, like=a)
    if not (np.all(got["w"] == 0) or np.all(got["w"] == 1)):
        raise DataLoss("the file mixes the two trees")
    return None




# --- fit: structures, state from elsewhere, checkpoints, resume, concurrency ------------------


class _Counter:
    """A metric that counts its calls: training started iff it was called."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pred: Any, target: Any) -> Any:
        if np.shape(pred)[-2] > 1:  # fit may probe the metric on one example before training
            self.calls += 1
        return np.zeros(np.shape(pred)[:-2])


def _before_training(call: Callable[[_Counter], object]) -> object:
    """``call(metric)``; an error after training started loses the run (data loss)."""
    counter = _Counter()
    try:
        return call(counter)
    except Exception as e:
        if counter.calls:
            raise DataLoss(f"failed after {counter.calls} training steps ({type(e).__name__}: {e})") from e
        raise


def _fit_raises(given: str, arg: tuple[str, ...], fn: tuple[str, ...] = ("fit",), **kwargs: Any) -> Case:
    def call(tmp: Path) -> object:
        args = {k: v() if isinstance(v, Lazy) else v for k, v in kwargs.items()}
        if "metrics" in args:  # the metrics are the bad input: no counter
            return fit(**args)
        return _before_training(lambda m: fit(metrics={"m": m}, **args))

    return Case("train.fit", given, call, "raises", names=(fn, arg))


class Lazy:
    """An argument built when the case runs (building it may already raise)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make

    def __call__(self) -> object:
        return self.make()


def _fit_same(given: str, reference: Callable[[], Any], **kwargs: Any) -> Case:
    return Case("train.fit", given, lambda tmp: fit(**kwargs), "returns", check=same_as(reference, _fit_view), reference="the plain run's params and losses")


@group("fit structures")
def _fit_cases() -> list[Case]:
    from fnnet import layers as L
    from fnnet import losses, metrics, optim, train
    from fnnet.optim import schedules

    x, y = _xor()
    other = L.mlp([2, 7, 1]).init(0, (2,))[1]
    net, p = _lab()
    D = ("data",)
    return [
        _fit_raises("data as a 3-tuple", D, data=(x, y, y)),
        _fit_raises("data as a list [x, y]", D, data=[x, y]),
        _fit_raises("data as a dict", D, data={"x": x, "y": y}),
        _fit_raises("data = None", D, data=None),
        _fit_raises("data = (x,)", D, data=(x,)),
        _fit_raises("x and y of different lengths", D, data=(x, y[:5])),
        _fit_raises("y of rank 1 for (N, 1) outputs", ("data", "target"), data=(x, y[:, 0])),
        _fit_raises("x with 3 features for a 2-input model", ("data", "x"), data=(np.ones((21, 3)), y)),
        _fit_raises("val_data as a 3-tuple", ("val_data",), val_data=(x, y, y)),
        _fit_raises("val_data as a list", ("val_data",), val_data=[x, y]),
        _fit_raises("an empty validation set", ("val_data",), val_data=(x[:0], y[:0])),
        _fit_raises("val_data with 3 features (before training)", ("val_data",), val_data=(np.ones((5, 3)), y[:5])),
        _fit_raises("val_data y of rank 1", ("val_data", "target"), val_data=(x, y[:, 0])),
        _fit_raises("params of another architecture", ("params",), params=Lazy(lambda: other)),
        _fit_raises("params as a list", ("params",), params=Lazy(lambda: list(p))),
        _fit_raises("params = None", ("params",), params=Lazy(lambda: None)),
        _fit_raises("float16 params", ("params",), params=Lazy(lambda: tuple(None if q is None else L.DenseParams(q.w.astype(np.float16), q.b.astype(np.float16)) for q in p))),
        _fit_raises("NaN in the initial params", ("params",), params=Lazy(lambda: (L.DenseParams(np.full_like(p[0].w, np.nan), p[0].b), *p[1:]))),
        _fit_raises("opt_state of another optimizer (adam's for sgd)", ("opt_state",), opt_state=Lazy(lambda: optim.adam(0.1).init(p))),
        _fit_raises("opt_state made for another model's params", ("opt_state",), optimizer=Lazy(lambda: optim.momentum(0.1)), opt_state=Lazy(lambda: optim.momentum(0.1).init(other))),
        _fit_raises("opt_state = a dict", ("opt_state",), opt_state=Lazy(lambda: {"x": 1})),
        Case("train.fit", "opt_state of sgd(0.5) with the optimizer sgd(5.0)", lambda tmp: fit(optimizer=optim.sgd(5.0), opt_state=optim.sgd(0.5).init(p)), "either", names=(("fit",), ("opt_state", "learning_rate", "optimizer")), check=same_as(lambda: fit(optimizer=optim.sgd(5.0)), _fit_view), reference="the run at the optimizer's learning rate 5.0"),
        _fit_raises("a metric named 'loss'", ("metrics", "loss"), metrics={"loss": metrics.accuracy}),
        _fit_raises("a metric named 'val_acc'", ("metrics", "val_acc"), metrics={"val_acc": metrics.accuracy}),
        _fit_raises("a metric that is not a function", ("metrics", "metric"), metrics={"acc": 3}),
        _fit_raises("metrics as a list", ("metrics",), metrics=[metrics.accuracy]),
        _fit_raises("until = 0.01 (not a function)", ("until",), until=0.01),
        _fit_raises("on_nonfinite = 'ignore'", ("on_nonfinite",), on_nonfinite="ignore"),
        _fit_raises("resume without a checkpoint", ("resume", "checkpoint"), resume=True),
        _fit_raises("checkpoint_every = 0", ("checkpoint_every",), checkpoint_every=0),
        _fit_raises("patience without val_data", ("patience",), patience=2),
        _fit_raises("a negative learning rate schedule", ("learning_rate", "schedule", "sgd"), fn=("fit", "sgd", "scale_by_learning_rate", "cosine_decay", "chain"), optimizer=Lazy(lambda: optim.sgd(lambda s: -0.5))),
        _fit_raises("cosine_decay(-0.1, 10) as the learning rate", ("init_value", "learning_rate", "schedule"), fn=("fit", "sgd", "scale_by_learning_rate", "cosine_decay", "chain"), optimizer=Lazy(lambda: optim.sgd(schedules.cosine_decay(-0.1, 10)))),
        Case("train.fit", "a schedule that turns NaN at step 2", lambda tmp: fit(optimizer=optim.sgd(lambda s: 0.1 if s < 2 else float("nan"))), "raises", names=(("fit", "sgd", "scale_by_learning_rate"), ("learning_rate", "schedule"))),
        _fit_raises("an empty chain() as the optimizer (gradient ascent)", ("chain", "optimizer"), fn=("fit", "sgd", "scale_by_learning_rate", "cosine_decay", "chain"), optimizer=Lazy(lambda: optim.chain())),
        _fit_raises("model = a function, not a layer", ("model",), model=np.tanh),
        _fit_raises("loss = a string", ("loss",), loss="mse"),
        _fit_raises("optimizer = a function", ("optimizer",), optimizer=Lazy(lambda: optim.sgd)),
        _fit_same("epochs = np.int64(3) trains 3 epochs", lambda: fit(epochs=3), epochs=np.int64(3)),
        _fit_same("batch_size = np.int64(7) gives batches of 7", lambda: fit(batch_size=7), batch_size=np.int64(7)),
        _fit_same("Fortran-ordered, read-only data", lambda: fit(), data=(np.asfortranarray(_readonly(x)), _readonly(y))),
        _fit_same("until = loss_below(1e-9) that never fires", lambda: fit(), until=train.loss_below(1e-9)),
        Case("train.fit", "on_nonfinite='stop' on a single model that diverges", lambda tmp: quiet(lambda: fit(optimizer=optim.sgd(1e300), data=(x, 1e200 * y), on_nonfinite="stop")), "returns", check=lambda r: _finite(r.params), reference="the last finite params"),
        Case("train.fit", "a DivergenceError from NaN initial params says what to do", lambda tmp: fit(params=(L.DenseParams(np.full_like(p[0].w, np.nan), p[0].b), *p[1:]), kernels=False), "raises", names=(("fit",), ("params",))),
        Case("train.fit", "adam(b2=1.0) that diverges: the message does not blame the learning rate", lambda tmp: fit(optimizer=optim.adam(0.1, b2=1.0), epochs=5), "raises", names=(("fit", "adam", "scale_by_adam"), ("b2",))),
        Case("train.make_step(...)", "optimizer state of another optimizer", lambda tmp: train.make_step(net, losses.mse, optim.sgd(0.1))(train.init_state(optim.adam(0.1), p), (x, y)), "raises", names=(("step", "update", "sgd", "scale_by_learning_rate"), ("state", "opt_state"))),
        Case("train.scan", "a batch of 3 arrays", lambda tmp: train.scan(train.make_step(net, losses.mse, optim.sgd(0.1)), train.init_state(optim.sgd(0.1), p), [(x, y, y)]), "raises", names=(("scan", "step"), ("batch",))),  # type: ignore[list-item]  # deliberately wrong
        Case("train.evaluate", "data as a list", lambda tmp: train.evaluate(net, losses.mse, p, [x, y]), "raises", names=(("evaluate",), ("data",))),  # type: ignore[arg-type]  # deliberately wrong
        Case("train.loss_below", "a stack with one NaN model and one below", lambda tmp: train.loss_below(0.1)(3, np.array([np.nan, 0.05])), "returns", check=lambda r: None if r is False else "stopped although one model is NaN", reference="False"),
    ]


def _ckpt(tmp: Path) -> Path:
    return tmp / "run" / "c.npz"


def _resume_case(given: str, words: tuple[str, ...], first: dict[str, Any], second: dict[str, Any]) -> Case:
    def call(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path, **first)
        return _before_training(lambda m: fit(checkpoint=path, resume=True, **second))

    return Case("train.fit", f"resume with {given}", call, "raises", names=(("fit",), words))


@group("checkpoints")
def _checkpoint_cases() -> list[Case]:
    from fnnet import data, optim, train
    from fnnet import layers as L

    x, y = _xor()
    net7 = L.mlp([2, 7, 1], hidden=L.sigmoid, output=L.sigmoid)
    p7 = net7.init(0, (2,))[1]
    C = ("checkpoint",)

    def resumed(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path, epochs=3)
        return fit(checkpoint=path, epochs=6, resume=True)

    def resumed_np(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path, epochs=np.int64(3), batch_size=7)
        return fit(checkpoint=path, epochs=np.int64(6), batch_size=np.int64(7), resume=True)

    def under_file(tmp: Path) -> object:
        return _before_training(lambda m: fit(metrics={"m": m}, checkpoint=_file(tmp, b"x", "afile") / "c.npz"))

    def tampered(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
        return _before_training(lambda m: fit(checkpoint=path, resume=True))

    def truncated(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path)
        path.write_bytes(path.read_bytes()[:300])
        return _before_training(lambda m: fit(checkpoint=path, resume=True))

    def text_file(tmp: Path) -> object:
        path = _ckpt(tmp)
        path.parent.mkdir()
        path.write_text("not a checkpoint")
        return fit(checkpoint=path, resume=True)

    def dir_path(tmp: Path) -> object:
        path = _ckpt(tmp)
        path.mkdir(parents=True)
        return _before_training(lambda m: fit(metrics={"m": m}, checkpoint=path))

    def live_lock(tmp: Path) -> object:
        import subprocess

        path = _ckpt(tmp)
        path.parent.mkdir()
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            path.with_name(path.name + ".lock").write_text(str(sleeper.pid))
            return fit(checkpoint=path)
        finally:
            sleeper.kill()
            sleeper.wait()

    def stale_lock(tmp: Path) -> object:
        path = _ckpt(tmp)
        path.parent.mkdir()
        path.with_name(path.name + ".lock").write_text("999999999")
        return fit(checkpoint=path)

    def threads(tmp: Path) -> object:
        import threading

        path = _ckpt(tmp)
        slow, second_done = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def metric(pred: Any, target: Any) -> Any:
            if np.shape(pred)[-2] > 1:  # training has started (not fit's one-example probe)
                slow.set()
                second_done.wait(10)  # the first run holds the path until the second has tried
            return np.zeros(())

        def first() -> None:
            try:
                fit(checkpoint=path, epochs=3, metrics={"m": metric})
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t = threading.Thread(target=first)
        t.start()
        slow.wait(10)
        try:
            return fit(checkpoint=path, epochs=2)
        finally:
            second_done.set()
            t.join()

    def load_missing(tmp: Path) -> object:
        return train.load_checkpoint(tmp / "none.npz", train.init_state(optim.sgd(0.5), _lab()[1]))

    def load_other(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path)
        return train.load_checkpoint(path, train.init_state(optim.sgd(0.5), p7))

    def load_params_like(tmp: Path) -> object:
        path = _ckpt(tmp)
        fit(checkpoint=path)
        return train.load_checkpoint(path, _lab()[1])

    def load_good(tmp: Path) -> object:
        path = _ckpt(tmp)
        r = fit(checkpoint=path)
        state = train.load_checkpoint(path, train.init_state(optim.sgd(0.5), _lab()[1]))
        return tree_diff(state.params, r.params)

    del data
    return [
        Case("train.fit", "resume: 3 epochs then 3 more equal 6 at once", resumed, "returns", check=same_as(lambda: fit(epochs=6), _fit_view), reference="the 6-epoch run"),
        Case("train.fit", "resume with np.int64 epochs and batch_size", resumed_np, "returns", check=same_as(lambda: fit(epochs=6, batch_size=7), _fit_view), reference="the 6-epoch run"),
        Case("train.fit", "resume with no checkpoint file yet (starts fresh)", lambda tmp: fit(checkpoint=_ckpt(tmp), resume=True), "returns", check=same_as(lambda: fit(), _fit_view), reference="the plain run"),
        _resume_case("another model's checkpoint", C + ("model",), {}, {"model": net7, "params": p7}),
        _resume_case("another learning rate", C + ("optimizer", "learning_rate"), {}, {"optimizer": optim.sgd(5.0)}),
        _resume_case("another optimizer", C + ("optimizer",), {}, {"optimizer": optim.adam(0.1)}),
        _resume_case("another batch_size", C + ("batch_size",), {"batch_size": 7}, {"batch_size": 5}),
        _resume_case("another key", C + ("key",), {"batch_size": 7, "key": 1}, {"batch_size": 7, "key": 2}),
        _resume_case("other data", C + ("data",), {}, {"data": (x[::-1].copy(), y[::-1].copy())}),
        _resume_case("fewer epochs than the checkpoint holds", C + ("epochs",), {"epochs": 4}, {"epochs": 2}),
        _resume_case("other metrics", C + ("metrics",), {}, {"metrics": {"acc": lambda p, t: np.zeros(())}}),
        Case("train.fit", "resume from a checkpoint with a flipped byte", tampered, "raises", names=(("fit", "fnnet.io.load"), C + ("corrupt", "truncated"))),
        Case("train.fit", "resume from a truncated checkpoint", truncated, "raises", names=(("fit", "fnnet.io.load"), C + ("corrupt", "truncated"))),
        Case("train.fit", "resume from a text file", text_file, "raises", names=(("fit", "fnnet.io.load"), C + ("not an fnnet",))),
        Case("train.fit", "a checkpoint path under a regular file", under_file, "either", names=(("fit", "check_writable"), C + ("path",)), check=lambda r: None if r.checkpoint_error else "no checkpoint written, and checkpoint_error is None", reference="a result whose checkpoint_error says why"),
        Case("train.fit", "a checkpoint path that is a directory", dir_path, "either", names=(("fit", "check_writable"), C + ("directory",)), check=lambda r: None if r.checkpoint_error else "no checkpoint written, and checkpoint_error is None", reference="a result whose checkpoint_error says why"),
        Case("train.fit", "a checkpoint locked by another live process", live_lock, "raises", names=(("fit",), C + ("in use", "lock"))),
        Case("train.fit", "a checkpoint with a stale lock (its process is gone)", stale_lock, "returns", check=same_as(lambda: fit(), _fit_view), reference="the plain run"),
        Case("train.fit", "two threads of one process on one checkpoint path", threads, "raises", names=(("fit",), C + ("in use", "lock")), isolate=True, timeout=30),
        Case("train.load_checkpoint", "a missing file", load_missing, "raises", names=(("load_checkpoint", "fnnet.io.load"), ("no such", "not exist", "missing", "not found", "path", "no file"))),
        Case("train.load_checkpoint", "like for another model", load_other, "raises", names=(("load_checkpoint", "fnnet.io.load", "fit"), ("like", "model", "params", "structure"))),
        Case("train.load_checkpoint", "like = params, not a TrainState", load_params_like, "raises", names=(("load_checkpoint",), ("like",))),
        Case("train.load_checkpoint", "the params of a finished run", load_good, "returns", check=lambda r: r, reference="the run's params"),
    ]




# --- IDX files and the Fashion-MNIST download (servers on 127.0.0.1 only) --------------------


def _idx(shape: tuple[int, ...], data: bytes | None = None, code: int = 8) -> bytes:
    import struct

    head = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return head + (data if data is not None else bytes(int(np.prod(shape))))


def _gz(raw: bytes) -> bytes:
    import gzip

    return gzip.compress(raw, compresslevel=1)


def _serve(handler: Callable[[Any], None]) -> str:
    """Start a one-thread server on 127.0.0.1 that runs ``handler(socket)`` per connection."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/"


def _silent(conn: Any) -> None:
    time.sleep(3600)


def _respond(status: str, body: bytes, length: int | None = None) -> Callable[[Any], None]:
    def handler(conn: Any) -> None:
        conn.recv(65536)
        n = len(body) if length is None else length
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n".encode() + body)
        conn.close()

    return handler


def _endless(conn: Any) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    chunk = bytes(1 << 20)
    try:
        while True:
            conn.sendall(chunk)
    except OSError:
        pass


def _download(handler: Callable[[Any], None]) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        import inspect

        from fnnet import data

        url = _serve(handler)
        extra: dict[str, Any] = {"timeout": 1.0} if "timeout" in inspect.signature(data.fashion_mnist).parameters else {}
        try:
            return data.fashion_mnist(tmp / "fm", progress=False, url=url, **extra)
        finally:
            left = [p.name for p in (tmp / "fm").glob("*")] if (tmp / "fm").exists() else []
            if left:
                raise DataLoss(f"a failed download left files behind: {left}")

    return call


@group("idx and downloads")
def _data_file_cases() -> list[Case]:
    from fnnet import data

    fn = ("read_idx",)
    W = ("magic", "IDX", "header", "length", "truncated", "corrupt", "checksum", "gzip")

    def idx_case(given: str, content: bytes | Callable[[], bytes], words: tuple[str, ...] = W, md5: str | None = None, isolate: bool = False) -> Case:
        def call(tmp: Path) -> object:
            raw = content() if callable(content) else content
            return data.read_idx(_file(tmp, raw, "f-idx"), md5)

        return Case("data.read_idx", given, call, "raises", names=(fn, words), isolate=isolate, timeout=20, memory_mb=150 if isolate else None)

    good = _idx((2, 3), bytes(range(6)))

    def big_zeros() -> bytes:
        """200 MB of zeros gzipped, made in 1 MB pieces (the case runs under a memory budget)."""
        import zlib

        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        chunk = bytes(1 << 20)
        return b"".join([*(z.compress(chunk) for _ in range(200)), z.flush()])

    net = ("fashion_mnist",)
    N = ("download", "url", "answer", "timeout", "size", "limit", "large", "checksum", "404", "not found")
    return [
        Case("data.read_idx", "a missing file", lambda tmp: data.read_idx(tmp / "none"), "raises", names=(fn, ("no such", "not exist", "missing", "no file", "path"))),
        Case("data.read_idx", "a directory", lambda tmp: data.read_idx(tmp), "raises", names=(fn, ("directory",))),
        idx_case("a text file", b"hello, world\n"),
        idx_case("an empty file", b""),
        idx_case("a truncated gzip stream", _gz(good)[:-6]),
        idx_case("a corrupt gzip stream", _gz(good)[:12] + bytes(20)),
        idx_case("data shorter than the header says", good[:-2]),
        idx_case("data longer than the header says", good + b"\0"),
        idx_case("an unknown type code 0x07", _idx((2,), b"\0\0", code=7)),
        idx_case("a header claiming 4e9 x 4e9 items", _idx((4_000_000_000, 4_000_000_000), b"")),
        idx_case("a wrong checksum", good, ("checksum", "MD5"), md5="0" * 32),
        idx_case("200 MB of zeros gzipped (bad magic): refused without inflating", big_zeros, isolate=True),
        Case("data.read_idx", "a good file, gzipped", lambda tmp: data.read_idx(_file(tmp, _gz(good), "g.gz")), "returns", check=same_as(lambda: np.arange(6, dtype=np.uint8).reshape(2, 3)), reference="the (2, 3) uint8 array"),
        Case("data.fashion_mnist", "an empty folder and download=False", lambda tmp: data.fashion_mnist(tmp, download=False), "raises", names=(net, ("download",))),
        Case("data.fashion_mnist", "a server that accepts and never answers", _download(_silent), "raises", names=(net, N), isolate=True, timeout=15),
        Case("data.fashion_mnist", "a server that answers 404", _download(_respond("404 Not Found", b"nope")), "raises", names=(net, N), isolate=True, timeout=15),
        Case("data.fashion_mnist", "a server that sends garbage", _download(_respond("200 OK", b"garbage" * 100)), "raises", names=(net, N + ("magic", "gzip")), isolate=True, timeout=15),
        Case("data.fashion_mnist", "a server that closes halfway through", _download(_respond("200 OK", _gz(good), length=10_000)), "raises", names=(net, N + ("truncated", "incomplete", "closed")), isolate=True, timeout=15),
        Case("data.fashion_mnist", "a server that sends forever", _download(_endless), "raises", names=(net, N), isolate=True, timeout=20, memory_mb=300),
        Case("data.fashion_mnist", "a truncated file in the folder", lambda tmp: data.fashion_mnist(_fm_folder(tmp), download=False), "raises", names=(net, ("truncated", "corrupt", "gzip", "checksum"))),
    ]


def _fm_folder(tmp: Path) -> Path:
    from fnnet import data

    folder = tmp / "fm"
    folder.mkdir()
    for name in data.FASHION_MNIST_MD5:
        (folder / name).write_bytes(_gz(_idx((1, 28, 28)))[:-5])
    return folder




# --- every public function: junk in every argument ------------------------------------------

_JUNK: tuple[tuple[str, Callable[[], object]], ...] = (
    ("None", lambda: None),
    ("the string 'x'", lambda: "x"),
    ("a list of floats", lambda: [0.5, 1.5]),
    ("an object()", object),
)
_NO_JUNK = frozenset({"check_input", "fashion_mnist", "cache_dir", "fashion_mnist_dirs", "xor", "quiet_floats", "is_quiet", "run", "run_task"})
"""Functions that download, need no arguments, or start an executor: probed elsewhere."""


def public_functions() -> list[tuple[str, Callable[..., object]]]:
    """``(module.name, function)`` for every function in the ``__all__`` of fnnet's user-facing
    modules (classes, type aliases and modules excluded)."""
    import importlib
    import inspect

    import fnnet

    out: dict[int, tuple[str, Callable[..., object]]] = {}
    for top in fnnet.__all__:
        if top == "arrays":  # validation helpers: their first arguments are the caller's names
            continue
        mod = importlib.import_module(f"fnnet.{top}")
        names = [(mod, n) for n in getattr(mod, "__all__", [])]
        for n in list(getattr(mod, "__all__", [])):
            sub = getattr(mod, n, None)
            if inspect.ismodule(sub) and sub.__name__.startswith("fnnet."):
                names += [(sub, m) for m in getattr(sub, "__all__", [])]
        for m, n in names:
            f = getattr(m, n, None)
            if inspect.isfunction(f) and id(f) not in out and n not in _NO_JUNK:
                out[id(f)] = (f"{m.__name__.removeprefix('fnnet.')}.{n}", f)
    return sorted(out.values(), key=lambda t: t[0])


def _required(f: Callable[..., object]) -> tuple[int, tuple[str, ...]]:
    """How many positional arguments ``f`` requires, and its required keyword-only ones."""
    import inspect

    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return 1, ()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    empty = inspect.Parameter.empty
    positional = sum(1 for p in params if p.kind in kinds and p.default is empty)
    keywords = tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is empty)
    return positional, keywords


@group("junk arguments")
def _junk_cases() -> list[Case]:
    out = []
    for name, f in public_functions():
        n, keywords = _required(f)
        if n + len(keywords) == 0:  # nothing to put junk into
            continue
        short = name.split(".")[-1]
        for text, junk in _JUNK:
            def call(tmp: Path, f: Callable[..., object] = f, n: int = n, kw: tuple[str, ...] = keywords, junk: Callable[[], object] = junk) -> object:
                return f(*[junk() for _ in range(n)], **{k: junk() for k in kw})

            out.append(Case(name, f"{text} for {'its' if n + len(keywords) == 1 else f'each of its {n + len(keywords)}'} required argument{'s' if n + len(keywords) > 1 else ''}", call, "either", names=((short, name.split(".")[0], f"fnnet.{name.split('.')[0]}"),), reference="anything (a clear error is fine)", isolate=name.split(".")[0] in ("plot", "sweep"), timeout=10))
    return out


@group("checking gradients")
def _check_cases() -> list[Case]:
    from fnnet import check, layers, tree

    @tree.pytree
    @attrs.frozen
    class Scale:
        s: Any

    def scale_layer() -> Any:
        """The tour's layer ``p.s * x`` (wrong on a stack: s (M, F) meets x (M, N, F) as (N, F))."""
        return layers.Layer(
            lambda key, shape: (shape, Scale(np.ones(shape))),
            lambda p, x: (p.s * x, x),
            lambda p, x, dy: (Scale((dy * x).sum(axis=-2)), dy * p.s),
            lambda p, x: p.s * x,
            name="scale",
        )

    stacked = Scale(_rng(20).normal(size=(3, 4)))
    x = _rng(21).normal(size=(3, 3, 4))  # 3 models, 3 examples: ambiguous
    dense = layers.dense(3)
    dp = dense.init(0, (4,))[1]
    return [
        Case("check.check_layer", "a layer wrong on stacks, checked with models == examples", lambda tmp: check.check_layer(scale_layer(), stacked, x), "either", names=(("check_layer",), ("x", "params", "models", "examples", "ambiguous")), check=lambda r: None if not r.ok else "the wrong layer passed the check", reference="a failed check (or a refusal of the ambiguous shapes)"),
        Case("check.check_layer", "params of another layer", lambda tmp: check.check_layer(dense, layers.dense(5).init(0, (4,))[1], X), "raises", names=(("check_layer", "dense"), ("params",))),
        Case("check.check_layer", "an integer x", lambda tmp: check.check_layer(dense, dp, X.astype(np.int64)), "either", names=(("check_layer", "dense"), ("x",)), check=lambda r: None if r.ok else "failed on an int x", reference="a passing check in float64"),
        Case("check.check_loss", "a (N,) target for (N, 1) predictions", lambda tmp: check.check_loss(__import__("fnnet").losses.mse, np.ones((4, 1)), np.ones(4)), "raises", names=(("check_loss", "mse"), ("target",))),
        Case("check.check_gradients", "eps = 0", lambda tmp: check.check_gradients(lambda xs: float(np.sum(xs[0] ** 2)), [np.ones(3)], [2 * np.ones(3)], ["w"], eps=0.0), "raises", names=(("check_gradients",), ("eps",))),
        Case("check.check_gradients", "eps = NaN", lambda tmp: check.check_gradients(lambda xs: float(np.sum(xs[0] ** 2)), [np.ones(3)], [2 * np.ones(3)], ["w"], eps=float("nan")), "raises", names=(("check_gradients",), ("eps",))),
        Case("check.check_gradients", "names shorter than inputs", lambda tmp: check.check_gradients(lambda xs: float(np.sum(xs[0] ** 2)), [np.ones(3), np.ones(2)], [2 * np.ones(3), 2 * np.ones(2)], ["w"]), "raises", names=(("check_gradients",), ("names",))),
        Case("check.check_gradients", "a wrong gradient is caught", lambda tmp: check.check_gradients(lambda xs: float(np.sum(xs[0] ** 2)), [np.ones(3)], [np.ones(3)], ["w"]), "returns", check=lambda r: None if not r.ok else "a wrong gradient passed", reference="ok = False"),
    ]




@group("optimizer state")
def _optimizer_state_cases() -> list[Case]:
    from fnnet import optim

    p = {"b": np.zeros(3), "w": np.ones((2, 3))}
    q = {"b": np.zeros(4), "w": np.ones((2, 4))}
    g = {"b": np.ones(3), "w": np.ones((2, 3))}
    U = ("update", "sgd", "adam", "momentum", "chain", "masked", "scale_by_learning_rate", "scale_by_adam", "trace")
    S = ("state", "opt_state")

    def upd(opt: Callable[[], Any], state: Callable[[], Any], grads: Any = g, params: Any = p) -> object:
        return opt().update(grads, state(), params)

    return [
        _raises("optim.sgd(0.1).update", "adam's state", lambda: upd(lambda: optim.sgd(0.1), lambda: optim.adam(0.1).init(p)), U, S),
        _raises("optim.adam(0.1).update", "sgd's state", lambda: upd(lambda: optim.adam(0.1), lambda: optim.sgd(0.1).init(p)), U, S),
        _raises("optim.adam(0.1).update", "a state made for params of other shapes", lambda: upd(lambda: optim.adam(0.1), lambda: optim.adam(0.1).init(q)), U, S + ("shape",)),
        _raises("optim.momentum(0.1).update", "a state made for params of other shapes", lambda: upd(lambda: optim.momentum(0.1), lambda: optim.momentum(0.1).init(q)), U, S + ("shape",)),
        _raises("optim.adam(0.1).update", "state = None", lambda: upd(lambda: optim.adam(0.1), lambda: None), U, S),
        _raises("optim.chain(clip(1.0), sgd(0.1)).update", "a state tuple one short", lambda: upd(lambda: optim.chain(optim.clip(1.0), optim.sgd(0.1)), lambda: optim.chain(optim.clip(1.0), optim.sgd(0.1)).init(p)[:1]), U, S),
        _raises("optim.masked(adam(0.1), mask)", "a mask of another structure", lambda: optim.masked(optim.adam(0.1), {"b": True}).init(p), ("masked",), ("mask",)),
        _either("optim.masked(adam(0.1), mask)", "a mask of 0/1 ints", lambda: optim.masked(optim.adam(0.1), {"b": 1, "w": 0}).init(p), ("masked",), ("mask",), None, "a state (0/1 read as bools)"),
        _raises("optim.adam(0.1).update", "grads of other shapes than params", lambda: upd(lambda: optim.adam(0.1), lambda: optim.adam(0.1).init(p), grads={"b": np.ones(4), "w": np.ones((2, 4))}), U, ("grads", "params", "shape")),
        _raises("optim.apply_updates", "updates of another structure", lambda: optim.apply_updates(p, [np.ones(3)]), ("apply_updates", "tree structures differ"), ("updates", "params")),
        _raises("optim.apply_updates", "updates of other shapes", lambda: optim.apply_updates(p, q), ("apply_updates",), ("updates", "shape")),
        _raises("optim.learning_rate", "a state with no learning rate", lambda: optim.learning_rate(optim.scale_by_adam().init(p)), ("learning_rate",), ("state",)),
        _returns("optim.learning_rate", "the state of adam(0.1) after 2 steps", lambda: optim.learning_rate(_two_steps(optim.adam(0.1), p, g)), lambda r: None if float(r) == 0.1 else f"{r}", "0.1"),
        _returns("optim.adam(0.1).update", "float32 params, grads and a float64 np.float64 learning rate stay float32", lambda: optim.adam(np.float64(0.1)).update({"w": np.ones(3, np.float32)}, optim.adam(np.float64(0.1)).init({"w": np.ones(3, np.float32)}), {"w": np.ones(3, np.float32)})[0]["w"].dtype, lambda d: None if d == np.float32 else f"dtype {d}", "float32 updates"),
        _returns("optim.sgd(0.1).update", "a bare ndarray as params", lambda: optim.sgd(0.1).update(np.ones(3), optim.sgd(0.1).init(np.ones(3)), np.ones(3))[0], same_as(lambda: np.full(3, -0.1)), "-0.1 everywhere"),
        _returns("optim.adam(per-model lr).update", "per-model learning rates on one bare (models, n) array", lambda: optim.adam(np.array([0.1, 0.2])).update(np.ones((2, 3)), optim.adam(np.array([0.1, 0.2])).init(np.ones((2, 3))), np.ones((2, 3)))[0], same_as(lambda: np.stack([optim.adam(0.1).update(np.ones(3), optim.adam(0.1).init(np.ones(3)), np.ones(3))[0], optim.adam(0.2).update(np.ones(3), optim.adam(0.2).init(np.ones(3)), np.ones(3))[0]])), "each model's own update"),
    ]


def _two_steps(opt: Any, p: Any, g: Any) -> Any:
    s = opt.init(p)
    for _ in range(2):
        _, s = opt.update(g, s, p)
    return s


@group("sweeps")
def _sweep_cases() -> list[Case]:
    from fnnet import sweep

    fn = ("grid", "zip_axes", "sweep")
    return [
        _raises("sweep.grid", "an empty axis", lambda: sweep.grid(lr=[]), fn, ("lr",)),
        _raises("sweep.grid", "an axis that is a number", lambda: sweep.grid(lr=0.1), fn, ("lr",)),  # type: ignore[arg-type]  # deliberately wrong
        _either("sweep.grid", "an axis that is a string", lambda: sweep.grid(act="relu"), fn, ("act",), lambda r: None if len(r) == 1 else f"{len(r)} cells: the string was split into letters", "one cell (or a refusal)"),
        _raises("sweep.zip_axes", "axes of different lengths", lambda: sweep.zip_axes(lr=[0.1, 0.2], seed=[0]), ("zip_axes",), ("lr", "seed", "length")),
        _returns("sweep.grid", "np.float64 and np.int64 values", lambda: sweep.grid(lr=[np.float64(0.1)], seed=[np.int64(1)]), lambda r: None if len(r) == 1 else f"{len(r)} cells", "one cell"),
        _either("sweep.grid", "the same axis in a block and as a keyword", lambda: sweep.grid(sweep.zip_axes(lr=[0.1]), lr=[0.2]), fn, ("lr",), lambda r: "a duplicate axis was accepted", "a refusal"),
    ]




@group("reported defects")
def _issue_cases() -> list[Case]:
    from fnnet import layers as L
    from fnnet import optim, tree

    net = L.serial(L.dense(3), L.tanh, L.dense(2))
    p = net.init(0, (4,))[1]
    mixed = (L.DenseParams(p[0].w.astype(np.float32), p[0].b.astype(np.float32)), *p[1:])

    @tree.pytree
    @attrs.frozen
    class MyState:
        learning_rate: float
        count: int

    return [
        _raises("layers.serial(dense(3), tanh, dense(2)).apply", "float32 params in layer 0, float64 in layer 2, float32 x", lambda: net.apply(mixed, X.astype(np.float32)), ("serial", "dense"), ("layer 2", "[2]", "params[2]", "position 2", "layer 0", "[0]", "params[0]")),
        _either("optim.learning_rate", "a user optimizer's state with a learning_rate field", lambda: optim.learning_rate(MyState(0.3, 0)), ("learning_rate",), ("state",), lambda r: None if float(r) == 0.3 else f"{r}", "0.3"),
    ]



@group("float32 end to end")
def _float32_cases() -> list[Case]:
    """Every layer: float32 params and x give float32 results close to the float64 ones."""
    from fnnet import tree

    out = []
    for name, make, x0, _, _ in _layer_specs():
        def call(tmp: Path, make: Callable[[], Any] = make, x0: np.ndarray[Any, Any] = x0) -> object:
            layer = make()
            p = layer.init(0, x0.shape[1:])[1]
            y32 = layer.apply(tree.astype(p, np.float32), x0.astype(np.float32))
            return y32, layer.apply(p, x0)

        def check(r: Any) -> str | None:
            y32, y64 = r
            if y32.dtype != np.float32:
                return f"float32 in, {y32.dtype} out"
            return None if np.allclose(y32, y64, rtol=1e-4, atol=1e-5) else "far from the float64 result"

        out.append(Case(f"layers.{name}.apply", "float32 params and x", call, "returns", check=check, reference="float32, close to the float64 result"))
    return out


KNOWN_FAILURES: dict[str, str] = {

}  # fmt: skip
"""Case id (or a glob over ids) -> the one-line reason it fails today. The ONE list of known
failures, for the catalogue and for tests/test_stack_independence.py (ids starting "stack: ").
Remove an entry when its fix lands: the tests are strict xfails and fail once the case passes."""


if __name__ == "__main__":
    raise SystemExit(main())
