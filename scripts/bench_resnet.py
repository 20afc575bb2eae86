"""Epoch time of the Fashion-MNIST ResNet (and CNN) in fnnet and in PyTorch, on 1 and 2 threads.

    python scripts/bench_resnet.py [--torch-python PATH] [--steps K] [--warmup W] [--rounds R]
                                   [--threads 1 2] [--models resnet cnn] [--keep-openblas-env]

The networks are ``scripts/fashion_mnist_resnet.py``'s ResNet (width 16: conv-bn-relu stem,
three residual blocks with batch norm, the last two strided with 1x1 projections, global
average pooling, dense 10; Adam 0.003) and ``scripts/fashion_mnist_cnn.py``'s CNN (Adam 0.001),
float32, softmax cross-entropy, minibatches of 100 random images. fnnet runs a
``fnnet.train.make_step`` step with the batch norm state threaded (channels last, 28x28x1), its
BLAS limited to T threads (threadpoolctl). PyTorch runs the same architectures (NCHW) in
``scripts/torch/torch_timing.py``, a subprocess started with ``--torch-python`` (default: this
interpreter), with ``torch.set_num_threads(T)`` and one inter-op thread. When that interpreter
cannot import torch, only fnnet's rows are printed.

Per model and thread count, each library runs ``W`` warm-up steps and then ``K`` timed steps in
``R`` rounds, the two libraries alternating within a round (order reversed every other round)
so drift on a shared machine hits both alike. An epoch is the median wall time per step times
540 (54,000 training images). The CPU columns are process CPU seconds per step (all threads):
on a loaded machine they say what the step costs, the wall columns what it took. The load
average is printed before and after.
"""

from __future__ import annotations

import benchlib  # first: removes OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before numpy loads

# isort: split
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from fashion_mnist_cnn import blas_threads, cnn
from fashion_mnist_resnet import resnet

from fnnet import losses, optim, train
from fnnet.layers import Layer, state

BATCH: Final = 100
EPOCH_STEPS: Final = 540  # 54,000 training images in minibatches of 100
N_BATCHES: Final = 8  # distinct random batches, cycled
WORKER: Final = Path(__file__).resolve().parent / "torch" / "torch_timing.py"
LR: Final = {"resnet": 3e-3, "cnn": 1e-3}
NAMES: Final = {"resnet": "ResNet w16", "cnn": "CNN 32-64-128"}


@dataclass
class Times:
    """Wall and CPU seconds of each timed step."""

    wall: list[float]
    cpu: list[float]

    def extend(self, other: Times) -> None:
        self.wall += other.wall
        self.cpu += other.cpu


class FnnetTimer:
    """One model's ``make_step`` fold, kept across rounds (params, Adam, batch norm state)."""

    def __init__(self, name: str, seed: int = 0) -> None:
        net: Layer[Any, Any] = resnet(16) if name == "resnet" else cnn((32, 64), 128, 0.3)
        opt = optim.adam(LR[name])
        _, params, model_state = state.init(net, (seed, 0), (28, 28, 1))
        self.step = train.make_step(net, losses.softmax_cross_entropy, opt)
        self.state = train.init_state(opt, params, key=(seed, 1), model_state=model_state)
        rng = np.random.default_rng(seed)
        self.x = rng.random((N_BATCHES, BATCH, 28, 28, 1), dtype=np.float32)
        self.y = rng.integers(0, 10, (N_BATCHES, BATCH))
        self.i = 0

    def _one(self) -> None:
        k = self.i % N_BATCHES
        self.state, _ = self.step(self.state, (self.x[k], self.y[k]))
        self.i += 1

    def run(self, steps: int, warmup: int) -> Times:
        for _ in range(warmup):
            self._one()
        out = Times([], [])
        for _ in range(steps):
            t0, c0 = time.perf_counter(), time.process_time()
            self._one()
            out.wall.append(time.perf_counter() - t0)
            out.cpu.append(time.process_time() - c0)
        return out


class TorchWorker:
    """``scripts/torch/torch_timing.py`` in a subprocess, asked over JSON lines."""

    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.proc, self.info = proc, info

    @classmethod
    def start(cls, python: str) -> TorchWorker | str:
        """The running worker, or why there is none."""
        try:
            proc = subprocess.Popen(
                [python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        except OSError as e:
            return f"cannot run {python}: {e}"
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info: dict[str, Any] = json.loads(line) if line.strip() else {"error": "no answer"}
        if "error" in info:
            proc.wait()
            return str(info["error"])
        return cls(proc, info)

    def run(self, model: str, threads: int, steps: int, warmup: int) -> tuple[Times, int]:
        """The step times and the thread count torch reports."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        req = {"model": model, "threads": threads, "steps": steps, "warmup": warmup}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return Times(answer["wall"], answer["cpu"]), int(answer["threads"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        self.proc.wait()


@dataclass
class Row:
    model: str
    threads: int
    fnnet: Times
    torch: Times
    fnnet_threads: str = "?"
    torch_threads: int = 0


def measure(args: argparse.Namespace, worker: TorchWorker | None) -> list[Row]:
    """All rows, timed in interleaved rounds (see the module docstring)."""
    rows = [Row(m, t, Times([], []), Times([], [])) for m in args.models for t in args.threads]
    timers = {m: FnnetTimer(m) for m in args.models}
    per_round = -(-args.steps // args.rounds)
    for r in range(args.rounds):
        warmup = args.warmup if r == 0 else 0
        for row in rows:
            sides = ["fnnet", "torch"] if r % 2 == 0 else ["torch", "fnnet"]
            for side in sides:
                if side == "fnnet":
                    with blas_threads(row.threads) as used:
                        row.fnnet.extend(timers[row.model].run(per_round, warmup))
                    row.fnnet_threads = used
                elif worker is not None:
                    times, row.torch_threads = worker.run(row.model, row.threads, per_round, warmup)
                    row.torch.extend(times)
    return rows


def cell(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}–{max(xs):.3f})"


def table(rows: list[Row], with_torch: bool) -> str:
    threads_col = "threads (fnnet BLAS / torch)" if with_torch else "threads (fnnet BLAS)"
    header = ["model", threads_col, "fnnet s/step (min–max)"]
    header += ["fnnet CPU-s/step", "fnnet epoch (s)"]
    if with_torch:
        header += ["PyTorch s/step (min–max)", "PyTorch CPU-s/step", "PyTorch epoch (s)"]
        header += ["fnnet/PyTorch wall", "fnnet/PyTorch CPU"]
    body = []
    for row in rows:
        f_wall, f_cpu = statistics.median(row.fnnet.wall), statistics.median(row.fnnet.cpu)
        threads = f"{row.fnnet_threads} / {row.torch_threads}" if with_torch else row.fnnet_threads
        line = [NAMES[row.model], threads, cell(row.fnnet.wall), f"{f_cpu:.3f}"]
        line.append(f"{f_wall * EPOCH_STEPS:.0f}")
        if with_torch:
            t_wall, t_cpu = statistics.median(row.torch.wall), statistics.median(row.torch.cpu)
            line += [cell(row.torch.wall), f"{t_cpu:.3f}", f"{t_wall * EPOCH_STEPS:.0f}"]
            line += [f"{f_wall / t_wall:.2f}×", f"{f_cpu / t_cpu:.2f}×"]
        body.append(line)
    return benchlib.markdown_table(header, body)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_resnet.py", description=__doc__.split("\n")[0])
    p.add_argument("--torch-python", default=sys.executable, help="an interpreter with torch")
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--models", nargs="+", choices=sorted(LR), default=["resnet", "cnn"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print(benchlib.header("bench_resnet: a training epoch, fnnet and PyTorch, float32"))
    started = TorchWorker.start(args.torch_python)
    worker = started if isinstance(started, TorchWorker) else None
    if worker is None:
        print(f"- torch not installed: no PyTorch rows ({started})")
    else:
        info = worker.info
        print(
            f"- PyTorch {info['torch']} ({args.torch_python}): {info['blas']}; "
            f"torch.set_num_threads(T) per row, {info['interop_threads']} inter-op thread"
        )
    print(
        f"- batch {BATCH}, {args.warmup} warm-up + {args.steps} timed steps per row in "
        f"{args.rounds} interleaved rounds; epoch = median wall s/step × {EPOCH_STEPS}"
    )
    print(f"- load average (1, 5, 15 min) at start: {load()}")
    sys.stdout.flush()
    start = time.perf_counter()
    try:
        rows = measure(args, worker)
    finally:
        if worker is not None:
            worker.close()
    print(f"- load average at end: {load()} ({time.perf_counter() - start:.0f} s of timing)")
    print()
    print(table(rows, worker is not None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
