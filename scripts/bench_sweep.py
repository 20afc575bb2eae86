"""A sweep three ways: a loop of single fits, stacked fits in one process, a 2-worker Dask cluster.

The grid: the lab's XOR network (2-4-4-1, sigmoid/sigmoid, MSE, gradient descent, full batch on
the 21 XOR points) at 8 learning rates × 16 init seeds = 128 cells, a fixed number of epochs
each (no early stop, so every way does the same work). The ways:

- **loop**: ``fnnet.sweep.run`` of a plain function that trains one cell with one
  ``train.fit`` — what a script does without stacking;
- **stacked**: ``fnnet.sweep.run(Fit(...))`` in this process: one stacked fit of 128 models;
- **Dask**: the same ``Fit`` on a ``LocalCluster`` of 2 single-threaded worker processes,
  ``task_size=64`` (two stacks of 64, one per worker). Starting the cluster is timed apart;
  the first sweep on a fresh cluster also pays for importing numpy and fnnet in the workers,
  so the same sweep is timed a second time.

Cells per second for each, the speed-up over the loop, and whether the records equal the
in-process stacked run bit for bit (they must: tasks do not depend on the executor).

    python scripts/bench_sweep.py [--epochs 2000] [--quick] [--keep-openblas-env]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's fnnet, uninstalled

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fnnet import data, layers, losses, optim, sweep, train

RATES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
SEEDS = 16
NET = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)


def xor(cell: sweep.Cell) -> sweep.Setup:
    """One XOR experiment (``cell["lr"]`` is an array of per-model rates when stacked)."""
    return sweep.Setup(NET, losses.mse, optim.sgd(cell["lr"]), data.xor())


def single(cell: sweep.Cell) -> dict[str, Any]:
    """One cell as one plain ``fit`` of one model (the loop)."""
    _, params = NET.init(cell["seed"], (2,))
    r = train.fit(NET, losses.mse, optim.sgd(cell["lr"]), params, data.xor(), epochs=cell["epochs"])
    return {"final_loss": float(r.history.loss[-1])}


def timed(label: str, fn: Any, cells: list[sweep.Cell], **kw: Any) -> tuple[float, sweep.Table]:
    start = time.perf_counter()
    table = sweep.run(fn, cells, progress=False, **kw)
    seconds = time.perf_counter() - start
    assert not table.errors, table.errors[:1]
    print(f"{label}: {seconds:.2f} s", file=sys.stderr)
    return seconds, table


def same(a: sweep.Table, b: sweep.Table) -> bool:
    return all(
        np.array_equal(x["loss"], y["loss"]) and x["final_loss"] == y["final_loss"]
        for x, y in zip(a, b, strict=True)
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--epochs", type=int, default=2000, help="epochs per cell (default 2,000)")
    p.add_argument("--quick", action="store_true", help="200 epochs (a smoke run)")
    args = p.parse_args(argv)
    epochs = 200 if args.quick else args.epochs
    print(benchlib.header("bench_sweep: one grid as a loop, stacked, and on a Dask cluster"))
    cells = sweep.grid(lr=RATES, seed=range(SEEDS), epochs=[epochs])
    task = sweep.Fit(xor, epochs=epochs)
    loop_s, _ = timed("loop", single, cells)
    stack_s, stacked = timed("stacked", task, cells)
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,  # type: ignore[no-untyped-call]  # distributed leaves it untyped
        Client(cluster) as client,  # type: ignore[no-untyped-call]  # distributed leaves it untyped
    ):
        up = time.perf_counter() - start
        cold_s, _ = timed("dask, first sweep", task, cells, executor=client, task_size=64)
        dask_s, on_dask = timed("dask", task, cells, executor=client, task_size=64)
    n = len(cells)
    rows = [
        ["loop of single fits", f"{loop_s:.2f}", f"{n / loop_s:.1f}", "1.0×", "–"],
        ["stacked, one process", f"{stack_s:.2f}", f"{n / stack_s:.1f}",
         f"{loop_s / stack_s:.1f}×", "reference"],
        ["stacked, Dask LocalCluster (2 workers), first sweep", f"{cold_s:.2f}",
         f"{n / cold_s:.1f}", f"{loop_s / cold_s:.1f}×", "–"],
        ["stacked, Dask LocalCluster (2 workers), again", f"{dask_s:.2f}", f"{n / dask_s:.1f}",
         f"{loop_s / dask_s:.1f}×", "yes" if same(stacked, on_dask) else "NO"],
    ]  # fmt: skip
    print(
        f"\n{n} cells ({len(RATES)} rates × {SEEDS} seeds), {epochs:,} epochs each; cluster "
        f"start {up:.1f} s (not counted)\n"
    )
    print(
        benchlib.markdown_table(
            ["way", "seconds", "cells/s", "vs loop", "records equal the stacked run"], rows
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
