"""Fashion-MNIST with a small ResNet: residual blocks, batch norm with explicit running statistics.

    python scripts/fashion_mnist_resnet.py [--epochs N] [--threads T] [--quick] [--time-steps K]

The network (float32, channels last, input ``(28, 28, 1)``; ``--width w`` scales it, default 16)::

    stem     conv2d(w, 3, same) batch_norm relu                          28x28x1  -> 28x28xw
    block 1  relu(x + bn(conv(relu(bn(conv(x))))))                       28x28xw  -> 28x28xw
    block 2  the same with stride 2 and 2w channels, a 1x1 strided conv +
             batch norm on the skip path                                 28x28xw  -> 14x14x2w
    block 3  likewise                                                    14x14x2w -> 7x7x4w
    head     avg_pool2d(7) (global average pooling) flatten dense(10)

trained with Adam (learning rate ``--lr``, cosine decay to 0) on minibatches of 100 shuffled by
key each epoch, softmax cross-entropy on the logits. Batch norm normalizes by each minibatch's
statistics in training and keeps running statistics as an explicit state value threaded from
step to step (``fnnet.layers.state``); evaluation uses the running statistics. 6,000 training
images are held out for validation: the epoch with the best validation accuracy is kept (params
and its running statistics), and only that one model is scored on the 10,000 test images, once.

The training fold is written out here (``train_epoch``: forward with state, loss, backward,
update) because ``fnnet.train.fit`` does not thread layer state yet; once it does, the fold is
``fit(net, loss, optimizer, params, data, model_state=st, ...)``.

``--quick`` trains on 1,000 images for 1 epoch and scores 500 validation/test images (a smoke
test of the whole pipeline, about a minute); ``--time-steps K`` only times K training steps of
the full-size network and prints the estimated epoch time. ``--threads`` limits BLAS threads.
The data are found as in ``scripts/fashion_mnist_cnn.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's fnnet, uninstalled

import argparse
import json
import time
from typing import Any, Final

import numpy as np
from fashion_mnist_cnn import blas_threads, load, say

from fnnet import data, layers, losses, metrics, optim, tree
from fnnet.arrays import Array, IntArray
from fnnet.layers import Layer, state
from fnnet.layers.branches import residual
from fnnet.layers.normalization import batch_norm
from fnnet.random import Key, fold_in

BATCH: Final = 100
EVAL_BATCH: Final = 500
QUICK_TRAIN: Final = 1_000
QUICK_EVAL: Final = 500
F32: Final = np.float32
DEFAULT_OUT: Final = Path("results") / "fashion_mnist_resnet"
SPLITS: Final = ("train", "validation", "test")


def chain(*parts: Layer[Any, Any]) -> Layer[Any, Any]:
    """``layers.serial`` with the parts' state composed (``serial`` does this itself once it
    calls ``state.compose``; then ``chain`` is just ``layers.serial``)."""
    return state.attach(layers.serial(*parts), state.compose(parts))


def conv_bn(channels: int, kernel: int, stride: int = 1) -> Layer[Any, Any]:
    """conv2d -> batch_norm (the conv's bias is redundant before batch norm: its gradient is 0)."""
    conv = layers.conv2d(channels, kernel, stride, padding="same", dtype=F32)
    return chain(conv, batch_norm(dtype=F32))


def block(channels: int, stride: int) -> Layer[Any, Any]:
    """A basic residual block: ``relu(skip(x) + bn(conv(relu(bn(conv(x))))))``; the skip path
    is the identity, or a strided 1x1 conv + batch norm when the shape changes."""
    inner = chain(conv_bn(channels, 3, stride), layers.relu, conv_bn(channels, 3))
    if stride == 1:
        return chain(residual(inner), layers.relu)
    return chain(residual(inner, conv_bn(channels, 1, stride)), layers.relu)


def resnet(width: int) -> Layer[Any, Any]:
    """stem, three residual blocks (the last two halve H and W), global average pooling, dense."""
    return chain(
        conv_bn(width, 3),
        layers.relu,
        block(width, 1),
        block(2 * width, 2),
        block(4 * width, 2),
        layers.avg_pool2d(7),
        layers.flatten(),
        layers.dense(10, dtype=F32),
    )


# --- the training fold, with the state threaded ---------------------------------------------------


def train_epoch(
    net: Layer[Any, Any], opt: optim.Optimizer[Any], carry: tuple[Any, Any, Any], x: Array,
    y: IntArray, key: Key | None, limit: int | None = None,
) -> tuple[tuple[Any, Any, Any], float]:  # fmt: skip
    """One epoch of ``(params, opt_state, model_state)`` updates; the mean training loss.

    Per step: ``pred, res, st = state.forward(...)`` (batch statistics; the new running
    statistics come back as a value), the loss and its gradient, ``net.backward`` (the state
    is not differentiated), the optimizer update."""
    params, opt_state, st = carry
    total, seen = 0.0, 0
    for i, (xb, yb) in enumerate(data.batches(x, y, BATCH, key)):
        if limit is not None and i >= limit:
            break
        pred, res, st = state.forward(net, params, st, xb)
        loss, dpred = losses.softmax_cross_entropy(pred, yb)
        grads = net.backward(params, res, dpred)[0]
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optim.apply_updates(params, updates)
        total, seen = total + float(loss) * len(yb), seen + len(yb)
    return (params, opt_state, st), total / max(seen, 1)


def predict(net: Layer[Any, Any], params: Any, st: Any, x: Array) -> Array:
    """Evaluation-mode logits (running statistics), in batches."""
    starts = range(0, len(x), EVAL_BATCH)
    return np.concatenate([state.apply(net, params, st, x[s : s + EVAL_BATCH]) for s in starts])


def accuracy(net: Layer[Any, Any], params: Any, st: Any, x: Array, y: IntArray) -> float:
    return float(metrics.accuracy(predict(net, params, st, x), y))


def time_steps(net: Layer[Any, Any], steps: int, n_train: int, seed: int) -> float:
    """Seconds per training step of batch 100 (after one warm-up step), on random images;
    prints the estimated epoch time for ``n_train`` images."""
    _, params, st = state.init(net, (seed, 0), (28, 28, 1))
    opt = optim.adam(1e-3)
    carry = (params, opt.init(params), st)
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH * (steps + 1), 28, 28, 1), dtype=F32)
    y = rng.integers(0, 10, BATCH * (steps + 1))
    carry, _ = train_epoch(net, opt, carry, x[:BATCH], y[:BATCH], None)
    start, cpu = time.perf_counter(), time.process_time()
    train_epoch(net, opt, carry, x[BATCH:], y[BATCH:], None)
    wall, cpu = (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps
    n = -(-n_train // BATCH)
    say(
        f"per step of {BATCH}: {wall:.3f} s wall, {cpu:.3f} s CPU; an epoch of {n_train} images: "
        f"about {wall * n:.0f} s wall, {cpu * n:.0f} s CPU"
    )
    return wall


def fit_resnet(
    net: Layer[Any, Any], args: argparse.Namespace, ds: Any
) -> tuple[tuple[Any, Any], list[dict[str, float]], int]:
    """Train for ``args.epochs`` epochs; ``(params, state)`` of the epoch with the best
    validation accuracy, the per-epoch records and that epoch (1-based)."""
    (x_fit, y_fit), (x_val, y_val), _ = ds
    _, params, st = state.init(net, (args.seed, 0), (28, 28, 1))
    steps = args.epochs * -(-len(y_fit) // BATCH)
    opt = optim.adam(optim.schedules.cosine_decay(args.lr, steps))
    carry: tuple[Any, Any, Any] = (params, opt.init(params), st)
    history: list[dict[str, float]] = []
    best: tuple[float, int, tuple[Any, Any]] = (-1.0, 0, (params, st))
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        carry, loss = train_epoch(net, opt, carry, x_fit, y_fit, fold_in((args.seed, 1), epoch))
        seconds = time.perf_counter() - start
        val_acc = accuracy(net, carry[0], carry[2], x_val, y_val)
        history.append({"epoch": epoch, "loss": loss, "val_accuracy": val_acc, "seconds": seconds})
        say(f"epoch {epoch:3d}  loss {loss:.4f}  val accuracy {val_acc:.4f}  {seconds:.0f} s")
        if val_acc > best[0]:
            best = (val_acc, epoch, (carry[0], carry[2]))
    return best[2], history, best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="1,000 images, 1 epoch")
    parser.add_argument("--time-steps", type=int, default=0, help="only time this many steps")
    args = parser.parse_args(argv)
    net = resnet(args.width)
    with blas_threads(args.threads) as threads:
        _, p0 = net.init(0, (28, 28, 1))
        size = sum(a.size for a in tree.leaves(p0))
        say(f"model: ResNet of width {args.width}, {size} params", f"BLAS threads: {threads}")
        if args.time_steps:
            time_steps(net, args.time_steps, 54_000, args.seed)
            return 0
        ds, source = load(args.data, args.download, args.quick, args.seed)
        if args.quick:
            args.epochs = 1
            (xf, yf), (xv, yv), (xt, yt) = ds
            n, m = QUICK_TRAIN, QUICK_EVAL
            ds = ((xf[:n], yf[:n]), (xv[:m], yv[:m]), (xt[:m], yt[:m]))
        sizes = " / ".join(f"{len(part[1])} {name}" for part, name in zip(ds, SPLITS, strict=True))
        say(f"data: {source}", f"{sizes} images; adam({args.lr}, cosine), batch {BATCH}", "")
        (params, st), history, best_epoch = fit_resnet(net, args, ds)
        test_acc = accuracy(net, params, st, *ds[2])  # the test set, once, for the chosen model
    summary = {
        "best_epoch": best_epoch,
        "val_accuracy": history[best_epoch - 1]["val_accuracy"],
        "test_accuracy": test_acc,
        "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
        "history": history,
        "quick": args.quick,
    }
    val_acc = summary["val_accuracy"]
    say(
        "",
        f"best epoch {best_epoch} of {len(history)} (validation accuracy {val_acc:.4f}); "
        f"test accuracy {test_acc:.4f} (evaluated once)",
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
