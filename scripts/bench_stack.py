"""Many small models in one program: a stack of M XOR networks vs a Python loop over M models.

M = 1, 10, 100, 1000 lab networks (2-4-4-1, sigmoid, MSE, SGD lr 1.0, full batch on the 21 XOR
points, data shared by the stack), each initialised with its own key. "stack" is one default
``train.fit`` of ``EPOCHS`` epochs on params from ``layers.init_stack`` (every leaf has a leading
model axis); "loop" is M such fits of single models. The cells are µs per model-step (the time of
the fit divided by M × EPOCHS); the speed-up is loop / stack, measured in interleaved rounds.

    python scripts/bench_stack.py [--quick] [--keep-openblas-env]
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from reference_numpy import Array

from fnnet import data, layers, losses, optim, train

SIZES = [2, 4, 4, 1]


EPOCHS = 100
NET = layers.mlp(SIZES, hidden=layers.sigmoid, output=layers.sigmoid)


def stacked(m: int, x: Array, y: Array) -> Callable[[], None]:
    _, params = layers.init_stack(NET, list(range(m)), (2,))

    def run() -> None:
        train.fit(NET, losses.mse, optim.sgd(1.0), params, (x, y), epochs=EPOCHS)

    return run


def looped(m: int, x: Array, y: Array) -> Callable[[], None]:
    params = [NET.init(k, (2,))[1] for k in range(m)]

    def run() -> None:
        for p in params:
            train.fit(NET, losses.mse, optim.sgd(1.0), p, (x, y), epochs=EPOCHS)

    return run


def load() -> str:
    """The 1, 5 and 15-minute load averages: the timings depend on what else runs."""
    return " ".join(f"{a:.2f}" for a in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~15 s)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 0.02 if args.quick else 0.1
    models: tuple[int, ...] = (1, 10, 100, 1000)
    if args.quick:
        models = (1, 10, 100)

    t0 = time.perf_counter()
    print(benchlib.header("Stacked models: one program vs a loop (bench_stack.py)"))
    print(f"- load average at the start: {load()}")
    x, y = data.xor()
    rows = []
    for m in models:
        cells: list[str] = [str(m)]
        fns = [stacked(m, x, y), looped(m, x, y)]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            number = max(benchlib.calibrate(fn, min_time=min_time) for fn in fns)
            stack_t, loop_t = benchlib.interleaved(fns, repeat=repeat, number=number)
        speedups = [lt / st for st, lt in zip(stack_t.runs, loop_t.runs, strict=True)]
        cells += [
            benchlib.fmt_num(stack_t.median * 1e6 / (m * EPOCHS)),
            benchlib.fmt_num(loop_t.median * 1e6 / (m * EPOCHS)),
            f"{statistics.median(speedups):.1f}× ({min(speedups):.1f}–{max(speedups):.1f})",
        ]
        rows.append(cells)
    headers = [
        "M models",
        "stack µs/model-step",
        "loop µs/model-step",
        "speed-up",
    ]
    print()
    print(benchlib.markdown_table(headers, rows))
    print(
        f"\nXOR 2-4-4-1, SGD lr 1.0, float64, full batch (21 points shared by the stack); "
        f"{repeat} interleaved rounds, {EPOCHS} epochs per fit. Target: M = 100 at ≤ 4 µs per "
        "model-step on an idle machine."
    )
    print(f"\n(total {time.perf_counter() - t0:.0f} s; load average at the end: {load()})")


if __name__ == "__main__":
    main()
