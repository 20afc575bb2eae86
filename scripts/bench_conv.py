"""One training epoch of the Fashion-MNIST CNN in float32: time, achieved GFLOP/s, and a profile.

The network is ``scripts/fashion_mnist_cnn.py``'s (conv32-pool-conv64-pool-dense128-dropout-
dense10, Adam, minibatches of 100) on 60,000 random Fashion-MNIST-shaped images (timing does not
depend on the pixel values). The FLOPs are those of the matmuls the layers execute, convolutions
counted as the im2col matmuls they become: per step and layer ``2·rows·k·out`` for the forward,
the same for ``dW``, and again for ``dx`` on every layer but the first (whose ``dx`` training
skips). The floor is FLOPs ÷ the square-matmul peak measured in this process with the same BLAS
threads; the target is an epoch within 2.5× of it.

Two clocks, because the machine may be shared: **wall** time against ``benchlib.matmul_peak``
(median wall time of a 2048² matmul), and **CPU** time of this process (``time.process_time``,
all threads) against the peak measured the same way (best of 5). With one BLAS thread the CPU
row is what an idle core would take; the wall row includes waiting for other jobs. Each peak is
measured before and after the epoch and the higher one is used (the stricter floor).

Measured (``--threads 1``, 2-core Xeon @ 2.5 GHz, SkylakeX kernel, shared): 1.50 TFLOP per
epoch; 57.4 CPU-s (26 GFLOP/s, 0.21 of the 123 GFLOP/s peak, 4.7x the 12.2 s floor) and 76.8 s
wall. The matmuls take 54% of the time (at 40-60% of the square-matmul peak: narrow outputs of
32 and 64 channels, and K = 9 for the first layer), max pooling 19%, im2col and col2im 14%.

A cProfile run (on CPU time) over ``--profile-steps`` steps then attributes the time to what the
layers do (matmuls, im2col copies, col2im scatter-adds, pooling, ReLU, Adam, ...): NumPy calls
cProfile sees (``reshape`` copies, ``zeros``) are charged to the fnnet function that made them.

    python scripts/bench_conv.py [--examples N] [--threads T] [--profile-steps S]
                                 [--keep-openblas-env]
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import cProfile
import math
import os
import pstats
import time
from typing import Any

import numpy as np
from fashion_mnist_cnn import BATCH, blas_threads, cnn

from fnnet import data, losses, optim, train
from fnnet.arrays import Array, IntArray

CHANNELS = (32, 64)
HIDDEN = 128
N_TRAIN = 60_000


def step_flops(batch: int) -> int:
    """Matmul FLOPs of one training step on ``batch`` images (see the module docstring)."""
    mm = benchlib.matmul_flops
    c1, c2 = CHANNELS
    # (rows, k, out, needs dx) per layer: conv rows are output pixels, k the im2col width
    layers = [
        (batch * 28 * 28, 3 * 3 * 1, c1, False),  # conv1, the first layer: no dx
        (batch * 14 * 14, 3 * 3 * c1, c2, True),  # conv2
        (batch, 7 * 7 * c2, HIDDEN, True),  # dense
        (batch, HIDDEN, 10, True),  # logits
    ]
    total = 0
    for rows, k, out, needs_dx in layers:
        total += mm(rows, k, out) + mm(k, rows, out)  # forward, dW
        if needs_dx:
            total += mm(rows, out, k)
    return total


def epoch_flops(n: int, batch: int) -> int:
    full, rest = divmod(n, batch)
    return full * step_flops(batch) + (step_flops(rest) if rest else 0)


CATEGORIES: list[tuple[str, str, str]] = [
    # (file suffix, function name or "*", category)
    ("layers/conv.py", "_forward", "conv forward matmul (+ bias)"),
    ("layers/windows.py", "patches", "conv im2col copy"),
    ("layers/windows.py", "pad", "conv zero padding"),
    ("layers/conv.py", "_dw", "conv dW matmul"),
    ("layers/conv.py", "_backward", "conv db"),
    ("layers/conv.py", "_dx_by_correlation", "conv dx matmul (stride 1: a correlation of dy)"),
    ("layers/conv.py", "_dx_by_col2im", "conv dx matmuls (per kernel offset)"),
    ("layers/windows.py", "col2im_add", "conv col2im scatter-add"),
    ("layers/windows.py", "padded_zeros", "conv col2im scatter-add"),
    ("layers/pool.py", "*", "max-pool forward + backward"),
    ("layers/activations.py", "*", "relu forward + backward"),
    ("layers/dense.py", "*", "dense (matmuls)"),
    ("layers/dropout.py", "*", "dropout (mask draw)"),
    ("losses.py", "*", "softmax cross-entropy"),
    ("fnnet/data.py", "*", "batching (shuffled copies)"),
    ("/optim/", "*", "adam update"),
]


def _category(filename: str, func: str) -> str | None:
    path = filename.replace(os.sep, "/")
    for suffix, name, category in CATEGORIES:
        if suffix in path and name in ("*", func):
            return category
    return None


def profile_summary(stats: pstats.Stats) -> list[tuple[str, float]]:
    """``(category, fraction of the profiled time)``, largest first.

    A built-in (NumPy method, ``zeros``, ...) is charged to its callers, in proportion to the
    time each caller spent in it; Python functions outside the categories count as "other".
    """
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    totals: dict[str, float] = {}
    for (filename, _, func), (_, _, tottime, _, callers) in raw.items():
        if filename == "~":  # a built-in: charge its callers
            for (cfile, _, cfunc), caller_stats in callers.items():
                cat = _category(cfile, cfunc) or "other (loop, tree, NumPy glue)"
                totals[cat] = totals.get(cat, 0.0) + caller_stats[2]
            continue
        cat = _category(filename, func) or "other (loop, tree, NumPy glue)"
        totals[cat] = totals.get(cat, 0.0) + tottime
    whole = sum(totals.values())
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])


def cpu_matmul_peak(n: int = 2048, repeat: int = 5) -> float:
    """GFLOP/s of an ``n x n`` float32 matmul per CPU-second of this process, best of
    ``repeat``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        np.matmul(a, a, out=out)
        best = min(best, time.process_time() - start)
    return benchlib.matmul_flops(n, n, n) / best / 1e9


def run(n: int, profile_steps: int, threads_note: str) -> None:
    rng = np.random.default_rng(0)
    x: Array = rng.random((n, 28, 28, 1), dtype=np.float32)
    y: IntArray = rng.integers(0, 10, n)
    net = cnn(CHANNELS, HIDDEN, 0.3)
    _, params = net.init(0, (28, 28, 1))
    opt = optim.adam(1e-3)
    step = train.make_step(net, losses.softmax_cross_entropy, opt)
    state = train.init_state(opt, params, key=1)
    state, _ = step(state, (x[:BATCH], y[:BATCH]))  # warm-up

    peaks = [benchlib.matmul_peak("float32")], [cpu_matmul_peak()]
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in data.batches(x, y, BATCH, 0):
        state, _ = step(state, batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peaks[0].append(benchlib.matmul_peak("float32"))
    peaks[1].append(cpu_matmul_peak())

    flops = epoch_flops(n, BATCH)
    print(f"- BLAS threads: {threads_note}")
    print(f"- {n} images, batch {BATCH}: {-(-n // BATCH)} steps, {flops / 1e12:.3f} TFLOP")
    print(
        "- float32 matmul peak (2048², before / after the epoch): "
        f"wall {peaks[0][0]:.1f} / {peaks[0][1]:.1f} GFLOP/s, "
        f"CPU {peaks[1][0]:.1f} / {peaks[1][1]:.1f} GFLOP/s per CPU-second"
    )
    print()
    rows = []
    for clock, seconds, peak in (("wall", wall, max(peaks[0])), ("CPU", cpu, max(peaks[1]))):
        floor = flops / (peak * 1e9)
        achieved = flops / seconds / 1e9
        rows.append(
            [
                clock,
                f"{seconds:.1f}",
                f"{achieved:.1f}",
                f"{peak:.1f}",
                f"{achieved / peak:.2f}",
                f"{floor:.1f}",
                f"{seconds / floor:.2f}",
            ]
        )
    print(
        benchlib.markdown_table(
            ["clock", "epoch (s)", "GFLOP/s", "peak", "of peak", "floor (s)", "epoch / floor"],
            rows,
        )
    )

    if profile_steps:
        profiler = cProfile.Profile(time.process_time)
        batches = data.batches(x[: profile_steps * BATCH], y[: profile_steps * BATCH], BATCH, 1)
        t0 = time.process_time()
        profiler.enable()
        for batch in batches:
            state, _ = step(state, batch)
        profiler.disable()
        per_step = (time.process_time() - t0) / profile_steps
        summary = profile_summary(pstats.Stats(profiler))
        print()
        print(
            f"Profile of {profile_steps} steps ({per_step * 1e3:.0f} CPU-ms/step under cProfile):"
        )
        print()
        print(
            benchlib.markdown_table(
                ["where the time goes", "share", "CPU-ms/step"],
                [[k, f"{v:.1%}", f"{v * per_step * 1e3:.1f}"] for k, v in summary],
            )
        )


def main() -> int:
    p = argparse.ArgumentParser(prog="bench_conv.py", description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=N_TRAIN, help="images per epoch (60,000)")
    p.add_argument("--threads", type=int, default=None, help="limit the BLAS threads")
    p.add_argument("--profile-steps", type=int, default=100, help="steps to profile (0: none)")
    args = p.parse_args()
    with blas_threads(args.threads) as threads:
        print(benchlib.header("bench_conv: one CNN training epoch, float32"))
        run(args.examples, args.profile_steps, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
