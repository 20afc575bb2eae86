"""PyTorch's side of ``scripts/bench_resnet.py``: times training steps of the same networks.

Plain Python (torch and numpy only, no fnnet): it runs in whatever interpreter has torch, which
need not be the one with fnnet's dependencies. mypy skips this folder (torch has no stubs in
fnnet's environment). It speaks JSON lines on stdin/stdout:

- at start it prints ``{"torch": version, "blas": ..., "interop_threads": ...}``, or
  ``{"error": "..."}`` and exits when torch cannot be imported;
- each request ``{"model": "resnet" | "cnn", "threads": T, "steps": n, "warmup": w}`` runs ``w``
  untimed then ``n`` timed training steps of batch 100 with ``torch.set_num_threads(T)`` and
  answers ``{"wall": [seconds per step], "cpu": [CPU seconds per step]}``; an empty line ends.

The networks mirror ``scripts/fashion_mnist_resnet.py`` (width 16, conv biases kept as fnnet's
conv2d has them) and ``scripts/fashion_mnist_cnn.py``, in float32 and NCHW, trained with Adam
(0.003 for the ResNet, 0.001 for the CNN) and softmax cross-entropy. One model and optimizer per
``(model, threads)`` is built on first use and keeps training across requests.
"""

from __future__ import annotations

import json
import re
import sys
import time

BATCH = 100
N_BATCHES = 8  # distinct random batches, cycled


def _reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    from torch import nn
except ImportError as e:  # the caller prints "torch not installed"
    _reply({"error": f"torch not importable: {e}"})
    raise SystemExit(0) from None


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2), nn.BatchNorm2d(c_out)
    )


class Block(nn.Module):
    """``relu(skip(x) + bn(conv(relu(bn(conv(x))))))``; skip: identity or strided 1x1 conv + bn."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.inner = nn.Sequential(
            conv_bn(c_in, c_out, 3, stride), nn.ReLU(), conv_bn(c_out, c_out, 3)
        )
        self.skip = nn.Identity() if stride == 1 else conv_bn(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.skip(x) + self.inner(x))


def resnet(width: int = 16) -> nn.Module:
    w = width
    return nn.Sequential(
        conv_bn(1, w, 3),
        nn.ReLU(),
        Block(w, w, 1),
        Block(w, 2 * w, 2),
        Block(2 * w, 4 * w, 2),
        nn.AvgPool2d(7),
        nn.Flatten(),
        nn.Linear(4 * w, 10),
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(7 * 7 * 64, 128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


MODELS = {"resnet": (resnet, 3e-3), "cnn": (cnn, 1e-3)}


class Trainer:
    def __init__(self, name: str, seed: int = 0) -> None:
        build, lr = MODELS[name]
        torch.manual_seed(seed)
        self.model = build().train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.loss = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.rand((N_BATCHES, BATCH, 1, 28, 28), generator=gen)
        self.y = torch.randint(0, 10, (N_BATCHES, BATCH), generator=gen)
        self.i = 0

    def step(self) -> None:
        x, y = self.x[self.i % N_BATCHES], self.y[self.i % N_BATCHES]
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.opt.step()


def blas() -> str:
    found = re.findall(r"BLAS_INFO=(\w+)", torch.__config__.show())
    mkl = torch.backends.mkl.is_available()
    onednn = torch.backends.mkldnn.is_available()
    return f"BLAS {found[0] if found else '?'} (MKL {mkl}), oneDNN {onednn}"


def main() -> int:
    torch.set_num_interop_threads(1)
    _reply(
        {"torch": torch.__version__, "blas": blas(), "interop_threads": 1,
         "default_threads": torch.get_num_threads()}
    )  # fmt: skip
    trainers: dict[tuple[str, int], Trainer] = {}
    for line in sys.stdin:
        if not line.strip():
            break
        req = json.loads(line)
        threads = int(req["threads"])
        torch.set_num_threads(threads)
        key = (req["model"], threads)
        if key not in trainers:
            trainers[key] = Trainer(req["model"])
        trainer = trainers[key]
        for _ in range(int(req.get("warmup", 0))):
            trainer.step()
        wall, cpu = [], []
        for _ in range(int(req["steps"])):
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.step()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        _reply({"wall": wall, "cpu": cpu, "threads": torch.get_num_threads()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
