"""Many small models in one program: a stack of M XOR networks vs a Python loop over M models.

M = 1, 10, 100, 1000 lab networks (2-4-4-1, sigmoid, MSE, SGD lr 1.0, full batch on the 21 XOR
points, data shared by the stack), each initialised with its own key. "stack" is one
``train.make_step`` on params from ``layers.init_stack`` (every leaf has a leading model axis);
"loop" calls M single-model steps. Both layouts are timed: the default params tree and the opt-in
``layers.flat_params`` vector. The cells are µs per model-step (time of one step of all M models
divided by M); the speed-up is loop / stack, measured in interleaved rounds.

    python scripts/bench_stack.py [--quick] [--keep-openblas-env]
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from reference_numpy import Array

from fnnet import data, layers, losses, optim, train

SIZES = [2, 4, 4, 1]


def model(flat: bool) -> layers.Layer[Any, Any]:
    net = layers.mlp(SIZES, hidden=layers.sigmoid, output=layers.sigmoid)
    return layers.flat_params(net, (2,)) if flat else net


def stacked(flat: bool, m: int, x: Array, y: Array) -> Callable[[], None]:
    net = model(flat)
    _, params = layers.init_stack(net, list(range(m)), (2,))
    opt = optim.sgd(1.0)
    step = train.make_step(net, losses.mse, opt)
    state = [train.init_state(opt, params)]

    def run() -> None:
        state[0] = step(state[0], (x, y))[0]

    return run


def looped(flat: bool, m: int, x: Array, y: Array) -> Callable[[], None]:
    net = model(flat)
    opt = optim.sgd(1.0)
    step = train.make_step(net, losses.mse, opt)
    states = [train.init_state(opt, net.init(k, (2,))[1]) for k in range(m)]
    batch = (x, y)

    def run() -> None:
        for i in range(m):
            states[i] = step(states[i], batch)[0]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~15 s)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 0.02 if args.quick else 0.1
    models = (1, 10, 100, 1000)

    t0 = time.perf_counter()
    print(benchlib.header("Stacked models: one program vs a loop (bench_stack.py)"))
    x, y = data.xor()
    rows = []
    for m in models:
        cells: list[str] = [str(m)]
        for flat in (False, True):
            fns = [stacked(flat, m, x, y), looped(flat, m, x, y)]
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                number = max(benchlib.calibrate(fn, min_time=min_time) for fn in fns)
                stack_t, loop_t = benchlib.interleaved(fns, repeat=repeat, number=number)
            speedups = [lt / st for st, lt in zip(stack_t.runs, loop_t.runs, strict=True)]
            cells += [
                benchlib.fmt_num(stack_t.median * 1e6 / m),
                benchlib.fmt_num(loop_t.median * 1e6 / m),
                f"{statistics.median(speedups):.1f}× ({min(speedups):.1f}–{max(speedups):.1f})",
            ]
        rows.append(cells)
    headers = [
        "M models",
        "stack µs/model-step",
        "loop µs/model-step",
        "speed-up",
        "flat stack µs/model-step",
        "flat loop µs/model-step",
        "flat speed-up",
    ]
    print()
    print(benchlib.markdown_table(headers, rows))
    print(
        f"\nXOR 2-4-4-1, SGD lr 1.0, float64, full batch (21 points shared by the stack); "
        f"{repeat} interleaved rounds. Target (issue 5): M = 100 at ≥ 8× the loop (and ≤ 4 µs "
        "per model-step on the issue's machine)."
    )
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
