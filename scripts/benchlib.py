"""The shared benchmark harness for ``scripts/bench_*.py``.

Import it *first* in a benchmark script, before numpy::

    import benchlib  # first: cleans the OpenBLAS environment before numpy loads

    # isort: split
    import numpy as np

At import, if ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set, the interpreter is re-executed
(``os.execve``, same interpreter, same flags and arguments) with both removed from the
environment, so OpenBLAS picks its kernel and cache sizes for this CPU. OpenBLAS reads them once,
when numpy loads it, so removing them later in a running process would be too late. An
environment marker prevents loops; ``--keep-openblas-env`` on the command line (removed from
``sys.argv`` here) keeps them. The parent shell's environment is never touched. In an interactive
session there is no re-exec: the variables are only removed from ``os.environ`` (enough when
numpy is not loaded yet) and a warning says so when numpy already is.

API (numpy and threadpoolctl are imported lazily, never at import time):

- ``openblas_env_note() -> str``: what was done with the OpenBLAS variables.
- ``blas_info() -> str``: the BLAS libraries numpy uses (threadpoolctl): API, version, kernel,
  threads.
- ``machine_info() -> str``: CPU model, core count, Python and numpy versions.
- ``header(title) -> str``: title, machine, BLAS and env note, for the top of every bench.
- ``timeit(fn, repeat, number, warmup) -> Timing``: seconds per call (median, min, max).
- ``calibrate(fn, min_time) -> int``: a ``number`` that makes one run last at least ``min_time``.
- ``interleaved(fns, repeat, number, warmup) -> list[Timing]``: several functions timed in
  alternating rounds (order reversed every other round), so drift hits them all equally.
- ``compare(a, b, ...) -> Comparison``: the two-function case, with per-round ratios b / a.
- ``matmul_peak(dtype, n, repeat) -> float``: measured square-matmul GFLOP/s (median).
- ``matmul_flops(m, k, n) -> int``: ``2 m k n``.
- ``fmt_timing``, ``fmt_ratio``: timings and ratios as table cells; ``markdown_table`` and
  ``fmt_num`` are re-exported from ``common`` (the glue every script shares).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common import fmt_num, markdown_table  # numpy-free: safe before the environment is cleaned

__all__ = [
    "KEEP_OPENBLAS_ENV_FLAG",
    "OPENBLAS_VARS",
    "Comparison",
    "Timing",
    "blas_info",
    "calibrate",
    "clean_openblas_env",
    "compare",
    "fmt_num",
    "fmt_ratio",
    "fmt_timing",
    "header",
    "interleaved",
    "machine_info",
    "markdown_table",
    "matmul_flops",
    "matmul_peak",
    "openblas_env_note",
    "timeit",
]

OPENBLAS_VARS: tuple[str, ...] = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
KEEP_OPENBLAS_ENV_FLAG = "--keep-openblas-env"
_MARKER = "FNNET_BENCH_OPENBLAS_REMOVED"  # set in the re-executed child: what was removed

_env_note = "OpenBLAS tuning variables: none set"


def clean_openblas_env(reexec: bool = True) -> None:
    """Remove the OpenBLAS tuning variables for this process (see the module docstring).

    Runs once at import. With ``reexec`` (the default) and a script or ``-m``/``-c`` run, the
    interpreter is replaced by a fresh one with the cleaned environment; otherwise the variables
    are deleted from ``os.environ`` only.
    """
    global _env_note
    if KEEP_OPENBLAS_ENV_FLAG in sys.argv[1:]:
        sys.argv.remove(KEEP_OPENBLAS_ENV_FLAG)
        kept = [f"{k}={os.environ[k]}" for k in OPENBLAS_VARS if k in os.environ]
        _env_note = f"OpenBLAS tuning variables kept ({KEEP_OPENBLAS_ENV_FLAG}): " + (
            ", ".join(kept) or "none set"
        )
        return
    present = {k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ}
    removed_by_parent = os.environ.get(_MARKER)
    if not present:
        if removed_by_parent:
            _env_note = f"OpenBLAS tuning variables unset for this run (were {removed_by_parent})"
        return
    removed = ", ".join(f"{k}={v}" for k, v in present.items())
    interactive = bool(sys.flags.interactive) or sys.argv[0] in ("", "-")
    if reexec and not removed_by_parent and not interactive:
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env[_MARKER] = removed
        argv = [sys.executable, *sys.orig_argv[1:]]  # keeps -m/-c and interpreter flags
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)
    # No re-exec (loop guard, interactive session, or reexec=False): clean os.environ only.
    for k in present:
        del os.environ[k]
    _env_note = f"OpenBLAS tuning variables removed from os.environ (were {removed})"
    if "numpy" in sys.modules:
        _env_note += "; numpy was already loaded, so OpenBLAS still uses them"
        warnings.warn(
            f"benchlib: {removed} set and numpy already imported; import benchlib before numpy",
            RuntimeWarning,
            stacklevel=2,
        )


clean_openblas_env()


def openblas_env_note() -> str:
    """What ``clean_openblas_env`` did in this process, for the report header."""
    return _env_note


# --------------------------------------------------------------------------- machine and BLAS


def blas_info() -> str:
    """One line per BLAS/threading library loaded by numpy, via ``threadpoolctl``."""
    import numpy as np  # loads the BLAS library, so threadpoolctl can see it

    np.ones((2, 2)) @ np.ones((2, 2))
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (threadpoolctl is not installed)"
    lines = []
    for lib in threadpool_info():
        kernel = lib.get("architecture") or lib.get("corename") or "?"
        filename = os.path.basename(str(lib.get("filepath", "")))
        lines.append(
            f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('user_api')}), "
            f"kernel {kernel}, {lib.get('num_threads')} threads "
            f"({lib.get('threading_layer', '?')}), {filename}"
        )
    return "\n".join(lines) if lines else "BLAS: none found by threadpoolctl"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info() -> str:
    """CPU model, usable cores, Python and numpy versions, on one line."""
    import numpy as np

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{_cpu_model()}, {usable} usable cores ({os.cpu_count()} online), "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )


def header(title: str) -> str:
    """The block every benchmark prints first: title, machine, BLAS kernel, env note."""
    return "\n".join(
        [
            f"# {title}",
            "",
            f"- machine: {machine_info()}",
            *(f"- BLAS: {line}" for line in blas_info().splitlines()),
            f"- {openblas_env_note()}",
        ]
    )


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Seconds per call over ``runs`` runs of ``number`` calls each."""

    median: float
    min: float
    max: float
    runs: tuple[float, ...]
    number: int

    @classmethod
    def from_runs(cls, runs: Sequence[float], number: int) -> Timing:
        if not runs:
            raise ValueError("Timing.from_runs: need at least one run")
        return cls(statistics.median(runs), min(runs), max(runs), tuple(runs), number)


def _run(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def timeit(
    fn: Callable[[], object],
    repeat: int = 7,
    number: int = 1,
    warmup: int = 1,
    disable_gc: bool = False,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` runs of ``number`` calls.

    The garbage collector stays enabled by default (unlike the ``timeit`` module): a library that
    allocates many small objects per step should pay for collecting them.
    """
    if repeat < 1 or number < 1:
        raise ValueError(f"timeit: repeat and number must be >= 1, got {repeat}, {number}")
    for _ in range(warmup):
        fn()
    was_enabled = gc.isenabled()
    if disable_gc:
        gc.disable()
    try:
        runs = [_run(fn, number) for _ in range(repeat)]
    finally:
        if disable_gc and was_enabled:
            gc.enable()
    return Timing.from_runs(runs, number)


def calibrate(fn: Callable[[], object], min_time: float = 0.05, max_number: int = 10**7) -> int:
    """The smallest power-of-two-ish ``number`` for which ``number`` calls take ``>= min_time``."""
    number = 1
    while number < max_number:
        if _run(fn, number) * number >= min_time:
            return number
        number *= 2
    return max_number


def interleaved(
    fns: Sequence[Callable[[], object]],
    repeat: int = 7,
    number: int = 1,
    warmup: int = 1,
) -> list[Timing]:
    """Time several functions in alternating rounds so slow drift hits all of them equally.

    Each round runs every function once (``number`` calls); the order is reversed every other
    round (A B, B A, A B, ...) so no function always runs right after another.
    """
    if repeat < 1 or number < 1:
        raise ValueError(f"interleaved: repeat and number must be >= 1, got {repeat}, {number}")
    for fn in fns:
        for _ in range(warmup):
            fn()
    runs: list[list[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    for r in range(repeat):
        for i in order if r % 2 == 0 else reversed(order):
            runs[i].append(_run(fns[i], number))
    return [Timing.from_runs(rs, number) for rs in runs]


@dataclass(frozen=True)
class Comparison:
    """Interleaved timings of ``a`` and ``b`` and the per-round ratios ``b / a``."""

    a: Timing
    b: Timing
    ratios: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """Median over rounds of ``b / a`` (robust to drift between rounds)."""
        return statistics.median(self.ratios)

    @property
    def ratio_min(self) -> float:
        return min(self.ratios)

    @property
    def ratio_max(self) -> float:
        return max(self.ratios)


def compare(
    a: Callable[[], object],
    b: Callable[[], object],
    repeat: int = 7,
    number: int = 1,
    warmup: int = 1,
) -> Comparison:
    """``interleaved([a, b])`` plus the ratio ``b / a`` of each round (< 1: ``b`` is faster)."""
    ta, tb = interleaved([a, b], repeat=repeat, number=number, warmup=warmup)
    ratios = tuple(y / x for x, y in zip(ta.runs, tb.runs, strict=True))
    return Comparison(ta, tb, ratios)


# --------------------------------------------------------------------------- FLOPs


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an ``(m, k) @ (k, n)`` matmul, counted as ``2 m k n``."""
    return 2 * m * k * n


def matmul_peak(dtype: str = "float32", n: int = 2048, repeat: int = 5) -> float:
    """Measured GFLOP/s of an ``n x n`` matmul in ``dtype`` on all BLAS threads (median)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    t = timeit(lambda: np.matmul(a, b, out=out), repeat=repeat, number=1, warmup=1)
    return matmul_flops(n, n, n) / t.median / 1e9


# --------------------------------------------------------------------------- formatting


def fmt_timing(t: Timing, scale: float = 1.0, digits: int = 3) -> tuple[str, str]:
    """``(median, "min–max")`` of ``t`` multiplied by ``scale`` (e.g. ``1e6`` for µs)."""
    return (
        fmt_num(t.median * scale, digits),
        f"{fmt_num(t.min * scale, digits)}–{fmt_num(t.max * scale, digits)}",
    )


def fmt_ratio(c: Comparison, digits: int = 2) -> str:
    """``"0.61× (0.58–0.66)"``: median per-round ratio ``b / a`` with its range."""
    return f"{c.ratio:.{digits}f}× ({c.ratio_min:.{digits}f}–{c.ratio_max:.{digits}f})"
