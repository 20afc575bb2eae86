"""Glue shared by the scripts in ``scripts/``: printing, markdown tables, number formatting, BLAS
thread limits, the checkout's version, command-line bits, and where Fashion-MNIST is found.

Importing it puts the checkout on ``sys.path``, so a script that imports ``common`` before
``fnnet`` runs from a fresh clone without installing. Nothing here is part of fnnet. numpy and
fnnet are imported lazily, inside the functions that need them, so that ``benchlib`` can
re-export the formatters and still be imported before numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from fnnet.arrays import IntArray
    from fnnet.data import U8Array

__all__ = [
    "ROOT",
    "SHARED_DATA",
    "add_data_args",
    "add_output_args",
    "blas_threads",
    "comma_ints",
    "command_line",
    "fashion_mnist_dirs",
    "fmt_int",
    "fmt_num",
    "fnnet_version",
    "load_fashion_mnist",
    "markdown_table",
    "positive_int",
    "say",
    "script_argv",
    "write_json",
]

ROOT: Final = Path(__file__).resolve().parents[1]
"""The checkout: the folder that holds ``fnnet/`` and ``scripts/``."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # scripts import the checkout's fnnet, installed or not

SHARED_DATA: Final = ROOT.parent / "shared" / "data" / "fashion-mnist"
"""The project's copy of the four Fashion-MNIST files, beside the checkout (``../shared``)."""


# --- printing and formatting -------------------------------------------------------------------


def say(*lines: str) -> None:
    """Print each line and flush, so a log file shows progress as it happens."""
    for line in lines:
        print(line, flush=True)


def markdown_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    align: str | None = None,
    *,
    compact: bool = False,
) -> str:
    """A GitHub markdown table; ``align`` is one of ``l``/``r``/``c`` per column (default:
    first column left, the rest right). ``compact``: cells unpadded and a plain ``---`` rule
    (for cells that are long phrases, as in the lab's results document).

    >>> print(markdown_table(["lr", "epochs"], [["0.1", "1,004"]]))
    | lr  | epochs |
    | :-- | -----: |
    | 0.1 |  1,004 |
    >>> print(markdown_table(["lr", "epochs"], [["0.1", "1,004"]], compact=True))
    | lr | epochs |
    |---|---|
    | 0.1 | 1,004 |
    """
    ncol = len(headers)
    for row in rows:
        if len(row) != ncol:
            raise ValueError(f"markdown_table: row {row!r} has {len(row)} cells, expected {ncol}")
    if compact:
        if align is not None:
            raise ValueError("markdown_table: a compact table has no alignment, got align")
        lines = [" | ".join(map(str, r)) for r in [headers, *rows]]
        rule = "|" + "|".join("---" for _ in headers) + "|"
        return "\n".join([f"| {lines[0]} |", rule, *(f"| {line} |" for line in lines[1:])])
    if align is None:
        align = "l" + "r" * (ncol - 1)
    if len(align) != ncol or set(align) - set("lrc"):
        raise ValueError(f"markdown_table: align must be {ncol} of 'l', 'r', 'c', got {align!r}")
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(3, *(len(r[j]) for r in cells)) for j in range(ncol)]
    pad = {"l": str.ljust, "r": str.rjust, "c": str.center}

    def line(row: Sequence[str]) -> str:
        parts = [pad[al](text, w) for text, w, al in zip(row, widths, align, strict=True)]
        return "| " + " | ".join(parts) + " |"

    sep = [
        (":" if al in "lc" else "-") + "-" * (w - 2) + (":" if al in "rc" else "-")
        for w, al in zip(widths, align, strict=True)
    ]
    return "\n".join([line(cells[0]), "| " + " | ".join(sep) + " |", *map(line, cells[1:])])


def fmt_int(n: float) -> str:
    """``n`` rounded to an int, with thousands separators: ``fmt_int(4635.4) == "4,635"``."""
    return f"{round(n):,}"


def fmt_num(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, never in exponent form for ``1e-4 <= x < 1e9``."""
    if x == 0 or not 1e-4 <= abs(x) < 1e9:
        return f"{x:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """``payload`` as indented JSON at ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


# --- the machine and the checkout --------------------------------------------------------------


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[str]:
    """Limit the BLAS thread pool to ``limit`` threads while inside (threadpoolctl, if installed);
    yields a description of the threads in use."""
    try:
        import threadpoolctl
    except ImportError:
        yield "default (threadpoolctl is not installed" + (", --threads ignored)" if limit else ")")
        return
    with threadpoolctl.threadpool_limits(limit, user_api="blas"):
        counts = [
            str(info["num_threads"])
            for info in threadpoolctl.threadpool_info()
            if info.get("user_api") == "blas"
        ]
        yield ", ".join(counts) or "unknown"


def fnnet_version() -> str:
    """The checkout's git commit, and the files of ``fnnet/`` that differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.rstrip("\n")

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = [line[3:] for line in git("status", "--porcelain", "--", "fnnet").splitlines()]
    except OSError:
        return "not a git checkout"
    return f"git {head}" + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


# --- command lines -----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """An ``argparse`` type: an int >= 1."""
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def comma_ints(text: str) -> tuple[int, ...]:
    """An ``argparse`` type: comma-separated positive ints, sorted and deduplicated."""
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from e
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return values


def add_output_args(p: argparse.ArgumentParser, out: Path) -> None:
    """``--out``, ``--seed``, ``--threads``, ``--no-figures`` and ``--quiet``."""
    p.add_argument("--out", type=Path, default=out, help=f"where results go (default {out}/)")
    p.add_argument("--seed", type=int, default=0, help="the root key (default 0)")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="limit the BLAS threads (threadpoolctl); on a shared machine 1 is often fastest",
    )
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress display while training")


def command_line(script: str, argv: Sequence[str]) -> str:
    """How the script was run, as a reader would type it."""
    return " ".join([f"python scripts/{script}", *argv])


def script_argv(argv: Sequence[str] | None) -> list[str]:
    """``argv``, or the process's arguments when it is ``None``."""
    return sys.argv[1:] if argv is None else list(argv)


# --- Fashion-MNIST -----------------------------------------------------------------------------


def fashion_mnist_dirs(explicit: Path | None) -> list[Path]:
    """Where to look, in order: ``explicit`` alone, else fnnet's search order then ``shared/``."""
    from fnnet import data

    if explicit is not None:
        return [explicit]
    return [*data.fashion_mnist_dirs(), SHARED_DATA]


def load_fashion_mnist(
    explicit: Path | None, download: bool
) -> tuple[tuple[U8Array, IntArray], tuple[U8Array, IntArray], str]:
    """``(train, test, source)``: the images and labels, and the folder they came from.

    Raises ``FileNotFoundError`` naming every place searched when the files are nowhere and
    ``download`` is false.
    """
    from fnnet import data

    dirs = fashion_mnist_dirs(explicit)
    found = next((d for d in dirs if all((d / f).is_file() for f in data.FASHION_MNIST_MD5)), None)
    if found is None and not download:
        raise FileNotFoundError(
            "the Fashion-MNIST files are in none of "
            + ", ".join(map(str, dirs))
            + " and --no-download was given (apt-get install dataset-fashion-mnist, or --data DIR)"
        )
    train, test = data.fashion_mnist(found or explicit, download=download)
    source = found or explicit or data.cache_dir() / "fashion-mnist"
    return train, test, str(source)


def add_data_args(p: argparse.ArgumentParser) -> None:
    """``--data DIR`` and ``--no-download``."""
    p.add_argument("--data", type=Path, default=None, help="directory with the four IDX files")
    p.add_argument(
        "--no-download", dest="download", action="store_false", help="fail if no copy is found"
    )
