"""The Fashion-MNIST-shaped MLP: one epoch of fnnet's ``fit`` vs the hand-written numpy reference.

784-392-128-10, ReLU hidden layers, softmax cross-entropy on integer labels, minibatch SGD
(lr 0.01), one epoch over 60,000 examples (uniform random pixels and labels: the timing does not
depend on the values), batch 100 and 1000, float32 and float64. The reference is
``reference_numpy.FashionMLP.train_epoch``; fnnet is ``train.fit(..., epochs=1, batch_size=b)``
with ``layers.mlp`` (keyed shuffling, minibatches, history: everything a user gets). Both are timed
in interleaved rounds; the ratio is the median of the per-round ratios fnnet / reference. GFLOP/s
count the executed matmul FLOPs (8 matmuls per step: the input layer's dx is skipped by both), and
"of peak" compares them with the measured square-matmul peak of this machine.

    python scripts/bench_mlp.py [--quick] [--repeat N] [--keep-openblas-env]
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
from bench_reference_only import mlp_epoch_flops
from reference_numpy import Array, FashionMLP

from fnnet import layers, losses, optim, train

SIZES = (784, 392, 128, 10)
LR = 0.01


def reference_epoch(x: Array, y: Any, batch: int, dtype: str) -> Callable[[], None]:
    net = FashionMLP(SIZES, seed=0, dtype=dtype)
    rng = np.random.default_rng(1)

    def run() -> None:
        net.train_epoch(x, y, batch_size=batch, lr=LR, rng=rng)

    return run


def fnnet_epoch(x: Array, y: Any, batch: int, dtype: str) -> Callable[[], None]:
    net = layers.mlp(list(SIZES), hidden=layers.relu, dtype=dtype)
    _, params = net.init(0, (SIZES[0],))
    opt = optim.sgd(LR)
    state: list[Any] = [params, None, 0]

    def run() -> None:
        params, opt_state, epoch = state
        result = train.fit(
            net,
            losses.softmax_cross_entropy,
            opt,
            params,
            (x, y),
            epochs=1,
            batch_size=batch,
            key=epoch,
            opt_state=opt_state,
        )
        state[:] = [result.params, result.opt_state, epoch + 1]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="12,000 examples, 2 rounds (~30 s)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--peak-n", type=int, default=2048, help="matrix size for the peak")
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 3)
    n = 12_000 if args.quick else 60_000

    t0 = time.perf_counter()
    print(benchlib.header("Fashion-MNIST-shaped MLP: fnnet vs hand-written numpy (bench_mlp.py)"))
    peaks = {dt: benchlib.matmul_peak(dt, n=args.peak_n) for dt in ("float32", "float64")}
    print(
        f"- matmul peak ({args.peak_n}×{args.peak_n}, median of 5): "
        f"float32 {peaks['float32']:.0f} GFLOP/s, float64 {peaks['float64']:.0f} GFLOP/s"
    )
    rng = np.random.default_rng(0)
    x32 = rng.random((n, SIZES[0]), dtype=np.float32)
    xs: dict[str, Array] = {"float32": x32, "float64": x32.astype(np.float64)}
    y = rng.integers(0, SIZES[-1], size=n)
    rows = []
    for batch in (100, 1000):
        for dt in ("float32", "float64"):
            fns = [reference_epoch(xs[dt], y, batch, dt), fnnet_epoch(xs[dt], y, batch, dt)]
            ref, ours = benchlib.interleaved(fns, repeat=repeat, number=1, warmup=1)
            ratios = [o / r for r, o in zip(ref.runs, ours.runs, strict=True)]
            flops = mlp_epoch_flops(SIZES, n, batch)
            scale = 60_000 / n  # report per 60,000-example epoch
            cells = [f"MLP batch {batch}", dt]
            for t in (ref, ours):
                gflops = flops / t.median / 1e9
                cells += [
                    benchlib.fmt_num(t.median * scale),
                    f"{gflops:.0f} ({100 * gflops / peaks[dt]:.0f}%)",
                ]
            cells.append(f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})")
            cells.append(benchlib.fmt_num(flops * scale / (peaks[dt] * 1e9)))
            rows.append(cells)
    headers = [
        "784-392-128-10 ReLU, softmax CE, SGD",
        "dtype",
        "reference s/epoch",
        "ref GFLOP/s (of peak)",
        "fnnet s/epoch",
        "fnnet GFLOP/s (of peak)",
        "fnnet / ref",
        "floor s/epoch",
    ]
    print()
    print(benchlib.markdown_table(headers, rows))
    print(
        f"\n{repeat} interleaved rounds of one epoch ({n:,} examples"
        + (", scaled to 60,000" if n != 60_000 else "")
        + f"); executed FLOPs per 60,000-example epoch at batch 100: "
        f"{mlp_epoch_flops(SIZES, 60_000, 100):.3e}; floor = FLOPs / measured matmul peak. "
        "Targets: batch 100 float32 ≤ 0.6× the reference; batch 1000 ≥ 75% of peak."
    )
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
