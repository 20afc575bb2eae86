"""Tiny networks: fnnet's training step vs the hand-written numpy reference, in one process.

The lab network 2-4-4-1 (sigmoid everywhere, MSE, full batch) on the XOR points (21) and on the
linear data set (100 points), with SGD and Adam, in float32 and float64. Each configuration times
three loops in interleaved rounds (order reversed every other round):

- reference: ``EPOCHS`` calls of ``reference_numpy.LabNet.step`` (mutable, updates in place);
- fnnet: one ``train.fit(mlp, losses.mse, opt, params, (x, y), epochs=EPOCHS)`` — the default
  call, so its per-epoch bookkeeping, its checks and its choice of kernels all count;
- fnnet reference tier: the same call with ``kernels=False`` (the plain layers and optimizers).

Cells are µs per epoch (one full-batch step); the ratio columns are the median over rounds of
(fnnet time / reference time) in the same round: below 1 fnnet is faster. PyTorch and JAX rows
are added only when they are importable.

    python scripts/bench_tiny.py [--quick] [--repeat N] [--keep-openblas-env]
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, Literal

from reference_numpy import Array, LabNet

from fnnet import data, layers, losses, optim, train

OptName = Literal["sgd", "adam"]
LR: dict[OptName, float] = {"sgd": 1.0, "adam": 0.05}
SIZES = [2, 4, 4, 1]


def dataset(name: str, dtype: str) -> tuple[Array, Array]:
    if name == "XOR":
        return data.xor(dtype)
    return data.linear(100, 0, dtype)


def make_optimizer(name: OptName) -> optim.Optimizer[Any]:
    return optim.sgd(LR[name]) if name == "sgd" else optim.adam(LR[name])


EPOCHS = 500


def fnnet_fit(kernels: bool, opt: OptName, dtype: str, x: Array, y: Array) -> Callable[[], None]:
    """One ``fit`` of ``EPOCHS`` epochs per call."""
    net = layers.mlp(SIZES, hidden=layers.sigmoid, output=layers.sigmoid, dtype=dtype)
    _, params = net.init(0, (2,))
    optimizer = make_optimizer(opt)

    def run() -> None:
        train.fit(net, losses.mse, optimizer, params, (x, y), epochs=EPOCHS, kernels=kernels)

    return run


def reference_loop(opt: OptName, dtype: str, x: Array, y: Array) -> Callable[[], None]:
    net = LabNet(SIZES, seed=0, dtype=dtype, optimizer=opt, lr=LR[opt])

    def run() -> None:
        for _ in range(EPOCHS):
            net.step(x, y)

    return run


def kernels_used(opt: OptName, dtype: str, x: Array, y: Array) -> str:
    net = layers.mlp(SIZES, hidden=layers.sigmoid, output=layers.sigmoid, dtype=dtype)
    _, params = net.init(0, (2,))
    r = train.fit(net, losses.mse, make_optimizer(opt), params, (x, y), epochs=1)
    return ", ".join(r.kernels) or "none"


def optional_rows() -> list[str]:
    """Notes on the optional frameworks (rows would be added here when importable)."""
    notes = []
    for mod in ("torch", "jax"):
        if importlib.util.find_spec(mod) is None:
            notes.append(f"{mod} not importable: no {mod} rows")
        else:
            notes.append(f"{mod} importable, but its rows are not implemented in this script yet")
    return notes


def ratio_cell(ref: benchlib.Timing, other: benchlib.Timing) -> str:
    ratios = [o / r for r, o in zip(ref.runs, other.runs, strict=True)]
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def load() -> str:
    """The 1, 5 and 15-minute load averages: the timings depend on what else runs."""
    return " ".join(f"{a:.2f}" for a in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~20 s)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds")
    args = parser.parse_args()
    repeat = args.repeat or (5 if args.quick else 9)
    min_time = 0.03 if args.quick else 0.1

    t0 = time.perf_counter()
    print(benchlib.header("Tiny networks: fnnet vs hand-written numpy (bench_tiny.py)"))
    print(f"- load average at the start: {load()}")
    for note in optional_rows():
        print(f"- {note}")
    rows = []
    opts: tuple[OptName, ...] = ("sgd", "adam")
    configs = [
        (ds, opt, dt) for ds in ("XOR", "linear") for opt in opts for dt in ("float64", "float32")
    ]
    for ds, opt, dt in configs:
        x, y = dataset(ds, dt)
        fns = [
            reference_loop(opt, dt, x, y),
            fnnet_fit(True, opt, dt, x, y),
            fnnet_fit(False, opt, dt, x, y),
        ]
        with train.quiet_floats():  # as fit runs its loop
            number = max(benchlib.calibrate(fn, min_time=min_time) for fn in fns)
            ref, default, plain = benchlib.interleaved(fns, repeat=repeat, number=number, warmup=1)
        name = {"sgd": f"SGD lr {LR['sgd']}", "adam": f"Adam lr {LR['adam']}"}[opt]
        rows.append(
            [
                f"{ds} ({x.shape[0]} points) {name}",
                dt,
                *benchlib.fmt_timing(ref, 1e6 / EPOCHS),
                benchlib.fmt_num(default.median * 1e6 / EPOCHS),
                ratio_cell(ref, default),
                kernels_used(opt, dt, x, y),
                benchlib.fmt_num(plain.median * 1e6 / EPOCHS),
                ratio_cell(ref, plain),
            ]
        )
    headers = [
        "2-4-4-1 sigmoid/MSE, full batch",
        "dtype",
        "reference µs/epoch",
        "min–max",
        "fit µs/epoch",
        "fit / ref",
        "kernels",
        "fit(kernels=False) µs/epoch",
        "kernels=False / ref",
    ]
    print()
    print(benchlib.markdown_table(headers, rows))
    print(
        f"\n{repeat} interleaved rounds per row; ratios are medians of per-round ratios "
        f"(min–max); {EPOCHS} epochs per timed call. Targets: XOR SGD ≤ 0.65×, XOR Adam ≤ 0.6× the "
        "reference, through the default fit."
    )
    print(f"\n(total {time.perf_counter() - t0:.0f} s; load average at the end: {load()})")


if __name__ == "__main__":
    main()
