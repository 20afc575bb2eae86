"""Reference numbers for this machine: the hand-written numpy networks alone (no fnnet).

Times ``reference_numpy.LabNet`` (XOR, 2-4-4-1, full batch, SGD and Adam, µs per step) and
``reference_numpy.FashionMLP`` (784-392-128-10, one epoch of 60,000 random Fashion-MNIST-shaped
examples, batch 100 and 1000, s per epoch), in float32 and float64, and prints them as markdown
tables beside the measured matmul peak and the BLAS kernel in use. Configurations of one table are
timed in interleaved rounds, so slow drift hits them all alike. Runs in well under two minutes.

    python scripts/bench_reference_only.py [--keep-openblas-env] [--mlp-repeat N]
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from reference_numpy import Array, FashionMLP, LabNet

from fnnet import data

# Figures measured earlier for the same hand-written numpy on a 2-core AMD EPYC, for orientation.
EARLIER_XOR_US = {("sgd", "float64"): 32.7, ("adam", "float64"): 61.7}
EARLIER_MLP_S = {(100, "float32"): 0.553, (1000, "float32"): 0.451}

MLP_SIZES = (784, 392, 128, 10)
N_TRAIN = 60_000


def mlp_epoch_flops(sizes: Sequence[int], n: int, batch: int) -> int:
    """Executed matmul FLOPs of one epoch: per step the forward matmuls, dW of every layer and
    dx of every layer but the first (8 matmuls for three layers)."""
    total = 0
    for start in range(0, n, batch):
        b = min(batch, n - start)
        for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            total += benchlib.matmul_flops(b, k, m)  # forward: x @ W
            total += benchlib.matmul_flops(k, b, m)  # dW = x.T @ dz
            if i > 0:
                total += benchlib.matmul_flops(b, m, k)  # dx = dz @ W.T
    return total


def bench_xor(repeat: int) -> str:
    optimizers: tuple[Literal["sgd", "adam"], ...] = ("sgd", "adam")
    configs = [(opt, dt) for opt in optimizers for dt in ("float32", "float64")]
    fns: list[Callable[[], object]] = []
    for opt, dt in configs:
        x, y = data.xor(dt)
        net = LabNet(seed=0, dtype=dt, optimizer=opt, lr=0.5 if opt == "sgd" else 0.05)

        def step(net: LabNet = net, x: Array = x, y: Array = y) -> float:
            return net.step(x, y)

        fns.append(step)
    number = max(benchlib.calibrate(fn, min_time=0.1) for fn in fns)
    timings = benchlib.interleaved(fns, repeat=repeat, number=number, warmup=1)
    rows = []
    for (opt, dt), t in zip(configs, timings, strict=True):
        med, rng = benchlib.fmt_timing(t, scale=1e6)
        ref = EARLIER_XOR_US.get((opt, dt))
        earlier = f"{ref} ({t.median * 1e6 / ref:.2f}×)" if ref else "–"
        name = {"sgd": "SGD lr 0.5", "adam": "Adam lr 0.05"}[opt]
        rows.append([f"XOR 2-4-4-1 {name}", dt, med, rng, earlier])
    table = benchlib.markdown_table(
        [
            "workload (full batch, 21 points)",
            "dtype",
            "µs/step",
            "min–max",
            "earlier figure (this/earlier)",
        ],
        rows,
    )
    return f"{table}\n\n{repeat} interleaved rounds of {number} steps each."


def bench_mlp(repeat: int, peaks: dict[str, float]) -> str:
    rng = np.random.default_rng(0)
    x32 = rng.random((N_TRAIN, MLP_SIZES[0]), dtype=np.float32)  # pixel-like values in [0, 1)
    xs: dict[str, Array] = {"float32": x32, "float64": x32.astype(np.float64)}
    y = rng.integers(0, MLP_SIZES[-1], size=N_TRAIN)
    configs = [(b, dt) for b in (100, 1000) for dt in ("float32", "float64")]
    fns: list[Callable[[], object]] = []
    for batch, dt in configs:
        net = FashionMLP(MLP_SIZES, seed=0, dtype=dt)
        epoch_rng = np.random.default_rng(1)

        def epoch(
            net: FashionMLP = net,
            x: Array = xs[dt],
            b: int = batch,
            r: np.random.Generator = epoch_rng,
        ) -> float:
            return net.train_epoch(x, y, batch_size=b, lr=0.01, rng=r)

        fns.append(epoch)
    timings = benchlib.interleaved(fns, repeat=repeat, number=1, warmup=1)
    rows = []
    for (batch, dt), t in zip(configs, timings, strict=True):
        flops = mlp_epoch_flops(MLP_SIZES, N_TRAIN, batch)
        gflops = flops / t.median / 1e9
        med, rng_s = benchlib.fmt_timing(t)
        ref = EARLIER_MLP_S.get((batch, dt))
        earlier = f"{ref} ({t.median / ref:.2f}×)" if ref else "–"
        rows.append(
            [
                f"MLP batch {batch}",
                dt,
                med,
                rng_s,
                f"{gflops:.1f}",
                f"{100 * gflops / peaks[dt]:.0f}%",
                benchlib.fmt_num(flops / (peaks[dt] * 1e9)),
                earlier,
            ]
        )
    headers = [
        "workload (60,000 examples)",
        "dtype",
        "s/epoch",
        "min–max",
        "GFLOP/s",
        "of peak",
        "floor s/epoch",
        "earlier figure (this/earlier)",
    ]
    flops_b100 = mlp_epoch_flops(MLP_SIZES, N_TRAIN, 100)
    return (
        f"{benchlib.markdown_table(headers, rows)}\n\n{repeat} interleaved rounds of one epoch; "
        f"SGD lr 0.01 on uniform random inputs and labels. Executed FLOPs per epoch: "
        f"{flops_b100:.3e} (8 matmuls per step, counted 2mkn; the input layer's dx is skipped). "
        f"Floor = FLOPs / measured matmul peak."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--xor-repeat", type=int, default=7, help="interleaved rounds (XOR)")
    parser.add_argument("--mlp-repeat", type=int, default=3, help="interleaved rounds (MLP)")
    parser.add_argument("--peak-n", type=int, default=2048, help="matrix size for the peak")
    args = parser.parse_args()

    t0 = time.perf_counter()
    print(benchlib.header("Hand-written numpy references (no fnnet)"))
    peaks = {dt: benchlib.matmul_peak(dt, n=args.peak_n) for dt in ("float32", "float64")}
    print(
        f"- matmul peak ({args.peak_n}×{args.peak_n}, median of 5): "
        f"float32 {peaks['float32']:.0f} GFLOP/s, float64 {peaks['float64']:.0f} GFLOP/s"
    )
    print("\n## XOR lab network\n")
    print(bench_xor(args.xor_repeat))
    print("\n## Fashion-MNIST-shaped MLP 784-392-128-10\n")
    print(bench_mlp(args.mlp_repeat, peaks))
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
