"""Fashion-MNIST with a small convolutional network: fnnet's conv2d, pooling and dropout at work.

    python scripts/fashion_mnist_cnn.py [--epochs N] [--patience P] [--threads T] [--fast]

The network (float32, channels last, input ``(28, 28, 1)``)::

    conv2d(32, 3, same) max_pool2d(2) relu     28x28x1  -> 14x14x32
    conv2d(64, 3, same) max_pool2d(2) relu     14x14x32 -> 7x7x64
    flatten dense(128) relu dropout(0.3) dense(10)

(the usual conv-relu-pool blocks with the ReLU after the pooling: max and ReLU commute, so the
function and its gradient are the same, ties included, with 4x fewer ReLU elements; 20 Adam
steps of both orders give bitwise equal params)

trained with Adam on minibatches of 100 shuffled by key each epoch, with softmax cross-entropy
on the logits; the learning rate starts at 1e-3 and follows a cosine decay to 0 over ``--epochs``
(``--schedule constant`` keeps it). 6,000 of the 60,000 training images are held out (a keyed
split) for early stopping: training stops after ``--patience`` epochs without a lower validation
loss, and the params of the best epoch are kept. Only that one configuration is then scored on
the 10,000 test images, once.

An epoch costs about 58 s of CPU time (92-150 s wall on a 2-core machine shared with other
jobs), so the default budget is 6 epochs. Measured with ``--threads 1`` and the defaults: test
accuracy 0.9149 (validation 0.9180, best epoch 6 of 6), 92 s per epoch.

The script prints the configuration, a progress bar, a table of the epochs and a summary table
(epochs run, best epoch, validation and test accuracy, seconds per epoch), and writes
``summary.json``, the learning curves and the test confusion matrix (when matplotlib is
installed) into ``--out`` (default ``results/fashion_mnist_cnn/``). ``--fast`` trains on 2,000
images for 2 epochs (a smoke test of the whole pipeline, under a minute). ``--threads`` limits
the BLAS threads (threadpoolctl): on a machine shared with other jobs, 1 thread was measured
several times faster than 2 (the two OpenBLAS threads wait on each other).

The data are looked up in ``--data`` if given, else where :func:`fnnet.data.fashion_mnist`
looks, else in ``shared/data/fashion-mnist`` beside the repository, else downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Final

import common
import numpy as np

from fnnet import data, layers, losses, metrics, optim, train
from fnnet.arrays import Array, IntArray
from fnnet.tree import PyTree

Serial = layers.Serial
blas_threads = common.blas_threads  # scripts/bench_conv.py imports it from here
say = common.say

DEFAULT_OUT: Final = Path("results") / "fashion_mnist_cnn"
CLASSES: Final = data.FASHION_MNIST_CLASSES
VAL_SIZE: Final = 6_000
BATCH: Final = 100
EVAL_BATCH: Final = 1_000
FAST_TRAIN: Final = 2_000
FAST_VAL: Final = 500
FAST_TEST: Final = 1_000

Dataset = tuple[tuple[Array, IntArray], tuple[Array, IntArray], tuple[Array, IntArray]]


def cnn(channels: tuple[int, int], hidden: int, rate: float) -> Serial:
    """Two conv-pool-relu blocks, a hidden dense layer with dropout, 10 logits; float32.

    ``max_pool2d`` before ``relu`` computes ``relu(max(x)) = max(relu(x))``, with the same
    gradient (ties included), on a quarter of the elements.
    """
    f32 = np.float32
    return layers.serial(
        layers.conv2d(channels[0], 3, padding="same", dtype=f32),
        layers.max_pool2d(2),
        layers.relu,
        layers.conv2d(channels[1], 3, padding="same", dtype=f32),
        layers.max_pool2d(2),
        layers.relu,
        layers.flatten(),
        layers.dense(hidden, init=layers.initializers.he_uniform(), dtype=f32),
        layers.relu,
        layers.dropout(rate),
        layers.dense(10, dtype=f32),
    )


# --- data --------------------------------------------------------------------------------------


def load(explicit: Path | None, download: bool, fast: bool, seed: int) -> tuple[Dataset, str]:
    """``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` as float32 ``(N, 28, 28, 1)``
    images in [0, 1] and int labels, and where they came from."""
    (xtr, ytr), (xte, yte), source = common.load_fashion_mnist(explicit, download)
    n_val = VAL_SIZE
    if fast:
        pick = np.random.default_rng(seed).permutation(len(ytr))[: FAST_TRAIN + FAST_VAL]
        xtr, ytr, n_val = xtr[np.sort(pick)], ytr[np.sort(pick)], FAST_VAL
        xte, yte = xte[:FAST_TEST], yte[:FAST_TEST]
        source += f" (--fast: {FAST_TRAIN} train / {FAST_VAL} val / {FAST_TEST} test)"
    (x_fit, y_fit), (x_val, y_val) = data.train_val_split(xtr, ytr, n_val, (seed, 2))
    ds = (
        (data.images(x_fit), y_fit),
        (data.images(x_val), y_val),
        (data.images(xte), yte),
    )
    return ds, source


# --- evaluation --------------------------------------------------------------------------------


def logits(net: Serial, params: PyTree, x: Array) -> Array:
    """The network's outputs on ``x``, in batches (inference: dropout off)."""
    parts = [net.apply(params, x[s : s + EVAL_BATCH]) for s in range(0, x.shape[0], EVAL_BATCH)]
    return np.concatenate(parts)


# --- output ---------------------------------------------------------------------------------


def figures(out: Path, history: train.History, matrix: IntArray) -> list[Path]:
    """Learning curves and the test confusion matrix, if fnnet.plot (matplotlib) is available."""
    try:
        from fnnet import plot
    except ImportError:
        return []
    paths = [out / "learning_curves.png", out / "confusion_matrix.png"]
    try:
        plot.learning_curve(
            history, log_scale=True, title="CNN on Fashion-MNIST (train: running mean, dropout on)"
        ).savefig(paths[0], dpi=120)
        plot.confusion_matrix(matrix, CLASSES, title="CNN, test set").savefig(paths[1], dpi=120)
    except ImportError:  # fnnet.plot imports matplotlib lazily
        return []
    return paths


# --- main --------------------------------------------------------------------------------------


def train_cnn(
    args: argparse.Namespace, ds: Dataset
) -> tuple[Serial, train.FitResult[Any, Any], str, float]:
    """The network trained with early stopping on the validation split; and the seconds."""
    (x_fit, y_fit), val, (_, y_test) = ds
    net = cnn((args.channels[0], args.channels[1]), args.hidden, args.dropout)
    _, params = net.init((args.seed, 0), (28, 28, 1))
    epochs = 2 if args.fast else args.epochs
    steps = epochs * -(-len(y_fit) // BATCH)
    lr: float | optim.schedules.Schedule = args.lr
    if args.schedule == "cosine":
        lr = optim.schedules.cosine_decay(args.lr, steps)
    optimizer = f"adam({args.lr}{', cosine decay to 0' if args.schedule == 'cosine' else ''})"
    say(
        f"model: {net.name}",
        f"{optimizer}, batch {BATCH}, up to {epochs} epochs, patience {args.patience}; "
        f"{len(y_fit)} train / {len(val[1])} validation / {len(y_test)} test images",
        "",
    )
    start = time.perf_counter()
    result = train.fit(
        net,
        losses.softmax_cross_entropy,
        optim.adam(lr),
        params,
        (x_fit, y_fit),
        epochs=epochs,
        batch_size=BATCH,
        key=(args.seed, 1),
        val_data=val,
        patience=args.patience,
        metrics={"accuracy": metrics.accuracy},
        progress=not args.quiet,
    )
    return net, result, optimizer, time.perf_counter() - start


def epoch_table(history: train.History) -> str:
    """Train and validation loss and accuracy, one row per epoch."""
    names = ["loss", "accuracy", "val_loss", "val_accuracy"]
    rows = [[str(e + 1), *(f"{history[n][e]:.4f}" for n in names)] for e in range(len(history))]
    header = ["epoch", "train loss", "train accuracy", "val loss", "val accuracy"]
    return common.markdown_table(header, rows, align="rrrrr")


def run(args: argparse.Namespace, ds: Dataset) -> dict[str, Any]:
    """Train, print the epochs and the summary, score the test set once; the summary."""
    net, result, optimizer, seconds = train_cnn(args, ds)
    history, (x_test, y_test) = result.history, ds[2]
    best = int(np.argmin(history["val_loss"]))
    z = logits(net, result.params, x_test)
    test_acc = float(metrics.accuracy(z, y_test))
    test_loss = float(losses.softmax_cross_entropy(z, y_test)[0])
    matrix = metrics.confusion_matrix(metrics.predicted_class(z), y_test, len(CLASSES))
    per_epoch = seconds / result.epochs
    model = f"conv{args.channels[0]}-conv{args.channels[1]}-{args.hidden}, dropout {args.dropout}"
    row = [model, result.epochs, best + 1, f"{history['val_accuracy'][best]:.4f}"]
    row += [f"{test_acc:.4f}", f"{test_loss:.4f}", f"{per_epoch:.1f}"]
    header = ["model", "epochs run", "best epoch", "val accuracy", "test accuracy", "test loss"]
    table = common.markdown_table([*header, "s/epoch"], [row])
    per_class = np.diag(matrix) / matrix.sum(axis=1)
    say("", epoch_table(history), "", f"stopped: {result.stop_reason}", "", table, "")
    say(f"TEST ACCURACY of the CNN ({model}), computed once: {test_acc:.4f}", "")
    say("test accuracy per class:")
    say(*(f"  {name:<12} {acc:.3f}" for name, acc in zip(CLASSES, per_class, strict=True)))
    return {
        "model": net.name,
        "optimizer": optimizer,
        "batch_size": BATCH,
        "seed": args.seed,
        "epochs_run": result.epochs,
        "best_epoch": best + 1,
        "stop_reason": result.stop_reason,
        "val_accuracy": float(history["val_accuracy"][best]),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "seconds_per_epoch": per_epoch,
        "seconds_total": seconds,
        "history": {name: history[name].tolist() for name in history.names()},
        "confusion_matrix": matrix.tolist(),
        "table": table.splitlines(),
        "_history": history,
        "_matrix": matrix,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fashion_mnist_cnn.py", description=__doc__.split("\n")[0])
    common.add_data_args(p)
    common.add_output_args(p, DEFAULT_OUT)
    p.add_argument("--fast", action="store_true", help="2,000 images, 2 epochs (a smoke test)")
    p.add_argument("--epochs", type=common.positive_int, default=6, help="at most (default 6)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument("--patience", type=common.positive_int, default=3, help="default 3")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    p.add_argument("--channels", type=int, nargs=2, default=(32, 64), metavar=("C1", "C2"))
    p.add_argument("--hidden", type=int, default=128, help="dense units (default 128)")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout rate (default 0.3)")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = common.script_argv(argv)
    args = parser().parse_args(args_list)
    invocation = common.command_line("fashion_mnist_cnn.py", args_list)
    try:
        ds, source = load(args.data, args.download, args.fast, args.seed)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"fashion_mnist_cnn.py: error: {e}", file=sys.stderr)
        return 2
    with blas_threads(args.threads) as threads:
        say(f"command: {invocation}", f"data: {source}", f"BLAS threads: {threads}")
        summary = run(args, ds)
    history, matrix = summary.pop("_history"), summary.pop("_matrix")
    summary["command"] = invocation
    summary["blas_threads"] = threads
    common.write_json(args.out / "summary.json", summary)
    written = [args.out / "summary.json"]
    if args.figures:
        written += figures(args.out, history, matrix)
    say("", "wrote: " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
