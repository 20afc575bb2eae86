"""Fashion-MNIST with a small ResNet: residual blocks, batch norm with explicit running statistics.

    python scripts/fashion_mnist_resnet.py [--epochs N] [--width W] [--lr LR] [--threads T]
                                           [--crop P] [--flip | --no-flip] [--weight-decay WD]
                                           [--patience P] [--deadline HH:MM] [--validation-only]
                                           [--quick] [--time-steps K]

The network (float32, channels last, input ``(28, 28, 1)``; ``--width w`` scales it, default 16)::

    augment  random_crop(P) random_flip()  (training only; identity at evaluation)
    stem     conv2d(w, 3, same) batch_norm relu                          28x28x1  -> 28x28xw
    block 1  relu(x + bn(conv(relu(bn(conv(x))))))                       28x28xw  -> 28x28xw
    block 2  the same with stride 2 and 2w channels, a 1x1 strided conv +
             batch norm on the skip path                                 28x28xw  -> 14x14x2w
    block 3  likewise                                                    14x14x2w -> 7x7x4w
    head     avg_pool2d(7) (global average pooling) flatten dense(10)

trained by ``fnnet.train.fit`` with Adam (AdamW with ``--weight-decay`` > 0; learning rate
``--lr``, cosine decay to 0 over ``--epochs``) on minibatches of 100 shuffled by key each
epoch, softmax cross-entropy on the logits. The augmentation layers shift each training image
by up to ``--crop`` pixels (zero-padded; default 2, 0 for none) and mirror it left-right with
probability 1/2 (``--no-flip`` for none), drawn from the training step's key. Batch norm's
running statistics are an explicit state value (``fnnet.layers.state.init``) that ``fit``
threads from step to step (``model_state=``); validation after each epoch uses the running
statistics. 6,000 training images are held out
for validation: with ``--patience P``, ``fit`` keeps the epoch with the lowest validation loss
(params and its running statistics) and ends the run after P epochs without a lower one
(without it: the last epoch's model); only that one model is scored on the 10,000 test
images, once. ``--validation-only`` trains and validates without touching the test set (to
choose between configurations); the same command without it then resumes the finished run from
its checkpoint and scores the test set once.

``fit`` saves a checkpoint after every epoch into ``--out`` (default
``results/fashion_mnist_resnet/``); running the same command again resumes a killed run from
its last finished epoch. ``--deadline HH:MM`` (UTC) ends training early when another epoch
would not end before that time (the best epoch so far is then scored). The script prints the
configuration, one line per epoch, a table of the epochs and the results, and writes
``summary.json``, the learning curves and the test confusion matrix into ``--out`` (and, with
``--figures-dir``, the two figures there too).

``--quick`` trains on 1,000 images for 1 epoch and scores 500 validation and 500 test images
(a smoke test of the whole pipeline, written into ``<out>/quick/``); ``--time-steps K`` only
times K training steps of the full-size network on random images and prints the estimated
epoch time. ``--threads`` limits the BLAS threads. The data are found as in
``scripts/fashion_mnist_cnn.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's fnnet, uninstalled
sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py beside this script

import argparse
import datetime
import shutil
import time
from typing import Any, Final

import common
import numpy as np

from fnnet import data, layers, losses, metrics, optim, train, tree
from fnnet.arrays import Array, IntArray
from fnnet.layers import Layer, state
from fnnet.layers.activations import softmax_fn

BATCH: Final = 100
EVAL_BATCH: Final = 500
VAL_SIZE: Final = 6_000
QUICK_TRAIN: Final = 1_000
QUICK_EVAL: Final = 500
F32: Final = np.float32
CLASSES: Final = data.FASHION_MNIST_CLASSES
DEFAULT_OUT: Final = Path("results") / "fashion_mnist_resnet"
DEADLINE_MARGIN: Final = 120.0  # seconds kept for the test evaluation and the figures
STOPPED: Final = {
    "epochs": "every epoch asked for has run",
    "patience": "the validation loss stopped improving (--patience)",
    "until": "another epoch would have ended after --deadline",
    "diverged": "the loss became NaN or infinite",
}
FULL_TRAIN: Final = 60_000 - VAL_SIZE

Split = tuple[Array, IntArray]
Dataset = tuple[Split, Split, Split]


# --- the network -----------------------------------------------------------------------------


def conv_bn(channels: int, kernel: int, stride: int = 1) -> Layer[Any, Any]:
    """conv2d -> batch_norm (the conv's bias is redundant before batch norm: its gradient is 0)."""
    conv = layers.conv2d(channels, kernel, stride, padding="same", dtype=F32)
    return layers.serial(conv, layers.batch_norm(dtype=F32))


def block(channels: int, stride: int) -> Layer[Any, Any]:
    """A basic residual block: ``relu(skip(x) + bn(conv(relu(bn(conv(x))))))``; the skip path
    is the identity, or a strided 1x1 conv + batch norm when the shape changes."""
    inner = layers.serial(conv_bn(channels, 3, stride), layers.relu, conv_bn(channels, 3))
    if stride == 1:
        return layers.serial(layers.residual(inner), layers.relu)
    return layers.serial(layers.residual(inner, conv_bn(channels, 1, stride)), layers.relu)


def augmentation(crop: int, flip: bool) -> list[Layer[Any, Any]]:
    """The training-time augmentation layers (identity at evaluation): a random shift of up to
    ``crop`` pixels (zero-padded) and a random left-right flip."""
    return [layers.random_crop(crop)] * (crop > 0) + [layers.random_flip()] * flip


def resnet(width: int, crop: int = 0, flip: bool = False) -> Layer[Any, Any]:
    """augmentation, stem, three residual blocks (the last two halve H and W), global average
    pooling, dense."""
    return layers.serial(
        *augmentation(crop, flip),
        conv_bn(width, 3),
        layers.relu,
        block(width, 1),
        block(2 * width, 2),
        block(4 * width, 2),
        layers.avg_pool2d(7),
        layers.flatten(),
        layers.dense(10, dtype=F32),
    )


# --- data ------------------------------------------------------------------------------------


def load(explicit: Path | None, download: bool, quick: bool, seed: int) -> tuple[Dataset, str]:
    """``((x_train, y_train), (x_val, y_val), (x_test, y_test))``: float32 ``(N, 28, 28, 1)``
    images in [0, 1] and int labels (a keyed split of 6,000 validation images), and the source."""
    (xtr, ytr), (xte, yte), source = common.load_fashion_mnist(explicit, download)
    (x_fit, y_fit), (x_val, y_val) = data.train_val_split(xtr, ytr, VAL_SIZE, (seed, 2))
    if quick:
        x_fit, y_fit = x_fit[:QUICK_TRAIN], y_fit[:QUICK_TRAIN]
        x_val, y_val = x_val[:QUICK_EVAL], y_val[:QUICK_EVAL]
        xte, yte = xte[:QUICK_EVAL], yte[:QUICK_EVAL]
    ds = ((data.images(x_fit), y_fit), (data.images(x_val), y_val), (data.images(xte), yte))
    return ds, source


# --- training --------------------------------------------------------------------------------


def epoch_clock(ends: list[float], deadline: float | None) -> train.StopRule:
    """A stopping rule that notes when each epoch (training and validation) of this process
    ended, for the seconds per epoch; with a ``deadline`` (seconds since the epoch, UTC) it stops
    when another epoch as long as the longest so far, and the test evaluation, would end after
    it."""

    def note(epoch: int, loss: Array) -> bool:
        ends.append(time.perf_counter())
        if deadline is None:
            return False
        longest = float(np.max(np.diff(ends)))
        return time.time() + longest + DEADLINE_MARGIN > deadline

    return note


def train_resnet(
    net: Layer[Any, Any],
    args: argparse.Namespace,
    ds: Dataset,
    checkpoint: Path | None,
    ends: list[float],
) -> train.FitResult[Any, Any]:
    """``fit`` with the running statistics threaded, validation each epoch, early stopping on
    the validation loss and a checkpoint every epoch (resumed when it exists)."""
    (x_fit, y_fit), val, _ = ds
    _, params, st = state.init(net, (args.seed, 0), (28, 28, 1))
    steps = args.epochs * -(-len(y_fit) // BATCH)
    return train.fit(
        net,
        losses.softmax_cross_entropy,
        optimizer(args.lr, steps, args.weight_decay),
        params,
        (x_fit, y_fit),
        epochs=args.epochs,
        batch_size=BATCH,
        key=(args.seed, 1),
        val_data=val,
        until=epoch_clock(ends, args.deadline),
        patience=args.patience,
        metrics={"accuracy": metrics.accuracy},
        log_every=1,
        checkpoint=checkpoint,
        resume=checkpoint is not None,
        model_state=st,
    )


def optimizer(lr: float, steps: int, weight_decay: float) -> optim.Optimizer[Any]:
    """Adam (AdamW when ``weight_decay`` > 0) with the learning rate decayed to 0 by a cosine."""
    schedule = optim.schedules.cosine_decay(lr, steps)
    if weight_decay > 0:
        return optim.adamw(schedule, weight_decay=weight_decay)
    return optim.adam(schedule)


def time_steps(net: Layer[Any, Any], steps: int, seed: int) -> float:
    """Seconds per training step of batch 100 through ``fit`` (after a one-step warm-up), on
    random images; prints the estimated epoch time for the 54,000 training images."""
    _, params, st = state.init(net, (seed, 0), (28, 28, 1))
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH * steps, 28, 28, 1), dtype=F32)
    y = rng.integers(0, 10, BATCH * steps)
    opt, loss = optim.adam(1e-3), losses.softmax_cross_entropy
    warm = (x[:BATCH], y[:BATCH])
    train.fit(net, loss, opt, params, warm, epochs=1, batch_size=BATCH, model_state=st)
    start, cpu = time.perf_counter(), time.process_time()
    train.fit(net, loss, opt, params, (x, y), epochs=1, batch_size=BATCH, model_state=st)
    wall, cpu = (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps
    n = -(-FULL_TRAIN // BATCH)
    common.say(
        f"time per training step of {BATCH} images: {wall:.3f} s wall clock, {cpu:.3f} s CPU",
        f"estimated time per epoch ({FULL_TRAIN} images, {n} steps): "
        f"{wall * n:.0f} s wall clock, {cpu * n:.0f} s CPU",
    )
    return wall


# --- evaluation and output -------------------------------------------------------------------


def logits(net: Layer[Any, Any], params: Any, st: Any, x: Array) -> Array:
    """Evaluation-mode outputs (batch norm uses the running statistics), in batches."""
    starts = range(0, len(x), EVAL_BATCH)
    return np.concatenate([state.apply(net, params, st, x[s : s + EVAL_BATCH]) for s in starts])


def scores(net: Layer[Any, Any], params: Any, st: Any, x: Array, flip_average: bool) -> Array:
    """Evaluation-mode class probabilities ``softmax(z)``; with ``flip_average`` the mean of
    each image's and its mirror image's (left-right)."""
    p = softmax_fn(logits(net, params, st, x))
    if not flip_average:
        return p
    return 0.5 * (p + softmax_fn(logits(net, params, st, x[:, :, ::-1])))


def epoch_table(history: train.History) -> str:
    """Train and validation loss and accuracy, one row per epoch."""
    names = ["loss", "accuracy", "val_loss", "val_accuracy"]
    rows = [[str(e + 1), *(f"{history[n][e]:.4f}" for n in names)] for e in range(len(history))]
    header = ["epoch", "train loss", "train accuracy", "validation loss", "validation accuracy"]
    return common.markdown_table(header, rows, align="rrrrr")


def figures(out: Path, history: train.History, matrix: IntArray, width: int) -> list[Path]:
    """Learning curves and the test confusion matrix (if matplotlib is installed)."""
    try:
        from fnnet import plot

        paths = [out / "resnet_learning_curves.png", out / "resnet_confusion_matrix.png"]
        title = f"ResNet (width {width}) on Fashion-MNIST"
        plot.learning_curve(history, title=title, path=paths[0], dpi=120)
        plot.confusion_matrix(matrix, CLASSES, title="ResNet, test set", path=paths[1], dpi=120)
    except ImportError:
        return []
    return paths


def timing(per_epoch: float | None, epochs: int) -> str:
    """The seconds per epoch as a sentence (none when every epoch came from the checkpoint)."""
    if per_epoch is None:
        return "seconds per epoch: not measured (every epoch was restored from the checkpoint)"
    return (
        f"seconds per epoch (wall clock, training and validation; mean over the {epochs} "
        f"epochs this process ran): {per_epoch:.0f}"
    )


def utc_time(text: str) -> float:
    """``HH:MM`` (today, UTC) as seconds since the epoch."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        now = datetime.datetime.now(datetime.UTC)
        when = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected HH:MM (UTC), got {text!r}") from e
    return when.timestamp()


def checkpoint_path(args: argparse.Namespace) -> Path:
    """One checkpoint per configuration, so another configuration never resumes from it."""
    name = f"checkpoint-w{args.width}-lr{args.lr:g}-e{args.epochs}-s{args.seed}"
    name += f"-c{args.crop}{'-flip' if args.flip else ''}-wd{args.weight_decay:g}"
    return Path(args.out) / f"{name}{'-quick' if args.quick else ''}.npz"


def run(args: argparse.Namespace, net: Layer[Any, Any], ds: Dataset) -> dict[str, Any]:
    """Train, print the epochs and the validation results, score the test set once (unless
    ``--validation-only``); the summary."""
    ckpt = checkpoint_path(args)
    ends = [time.perf_counter()]
    result = train_resnet(net, args, ds, None if args.no_checkpoint else ckpt, ends)
    per_epoch = float(np.mean(np.diff(ends))) if len(ends) > 1 else None
    history = result.history
    best = (result.best_epoch or result.epochs) - 1
    val_acc = float(history["val_accuracy"][best])
    reason = STOPPED.get(result.stop_reason, result.stop_reason)
    common.say("", epoch_table(history), "", f"training stopped: {reason}")
    common.say(
        f"epochs run: {result.epochs}; chosen epoch (lowest validation loss): {best + 1}",
        f"validation accuracy of the chosen epoch: {val_acc:.4f}",
        timing(per_epoch, len(ends) - 1),
    )
    summary = {
        **{k: getattr(args, k) for k in ("width", "lr", "epochs", "patience", "seed", "quick")},
        **{k: getattr(args, k) for k in ("crop", "flip", "weight_decay")},
        "batch_size": BATCH,
        "epochs_run": result.epochs,
        "best_epoch": best + 1,
        "stop_reason": result.stop_reason,
        "val_accuracy": val_acc,
        "seconds_per_epoch": per_epoch,
        "epochs_timed": len(ends) - 1,
        "history": {name: history[name].tolist() for name in history.names()},
        "_history": history,
    }
    if args.flip_average:
        p_val = scores(net, result.params, result.model_state, ds[1][0], flip_average=True)
        summary["val_accuracy_flip_average"] = float(metrics.accuracy(p_val, ds[1][1]))
        common.say(
            "validation accuracy of the chosen epoch, averaged with the mirror images: "
            f"{summary['val_accuracy_flip_average']:.4f}"
        )
    if args.validation_only:
        common.say("the test set was not used (--validation-only)")
        return summary
    return summary | score_test(net, result, ds[2], args.flip_average)


def score_test(
    net: Layer[Any, Any], result: train.FitResult[Any, Any], test: Split, flip_average: bool
) -> dict[str, Any]:
    """The chosen model's accuracy on the test set (computed once), per class, and the
    confusion matrix."""
    x_test, y_test = test
    p = scores(net, result.params, result.model_state, x_test, flip_average)
    test_acc = float(metrics.accuracy(p, y_test))
    matrix = metrics.confusion_matrix(metrics.predicted_class(p), y_test, len(CLASSES))
    how = ", averaged with the mirror images" if flip_average else ""
    common.say(
        f"TEST ACCURACY of the chosen model{how}, computed once on {len(y_test)} images: "
        f"{test_acc:.4f}",
        "",
        "test accuracy per class:",
    )
    per_class = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    common.say(*(f"  {name:<12} {acc:.3f}" for name, acc in zip(CLASSES, per_class, strict=True)))
    return {"test_accuracy": test_acc, "confusion_matrix": matrix.tolist(), "_matrix": matrix}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fashion_mnist_resnet.py", description=__doc__.split("\n")[0])
    common.add_data_args(p)
    common.add_output_args(p, DEFAULT_OUT)
    p.add_argument("--epochs", type=common.positive_int, default=20, help="at most (default 20)")
    p.add_argument("--width", type=common.positive_int, default=16, help="channels of the stem")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's first learning rate")
    p.add_argument("--crop", type=int, default=2, help="random shifts of up to this many pixels")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True, help="flips")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decay (0: Adam)")
    p.add_argument(
        "--validation-only", action="store_true", help="train and validate; leave the test set"
    )
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="evaluate each image as the mean of its and its mirror image's probabilities",
    )
    p.add_argument("--patience", type=common.positive_int, default=None, help="early stopping")
    p.add_argument("--quick", action="store_true", help="1,000 images, 1 epoch (a smoke test)")
    p.add_argument("--time-steps", type=int, default=0, help="only time this many steps")
    p.add_argument(
        "--deadline",
        type=utc_time,
        default=None,
        metavar="HH:MM",
        help="end training before this time of day (UTC); the best epoch so far is scored",
    )
    p.add_argument("--no-checkpoint", action="store_true", help="no checkpoint, no resume")
    p.add_argument("--figures-dir", type=Path, default=None, help="also write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = common.script_argv(argv)
    args = parser().parse_args(args_list)
    if args.quick:
        args.epochs, args.out = 1, args.out / "quick"
    net = resnet(args.width, args.crop, args.flip)
    with common.blas_threads(args.threads) as threads:
        _, p0 = net.init(0, (28, 28, 1))
        size = sum(a.size for a in tree.leaves(p0))
        common.say(
            f"command: {common.command_line('fashion_mnist_resnet.py', args_list)}",
            f"network: ResNet of width {args.width} ({size} parameters)",
            f"BLAS threads: {threads}",
        )
        if args.time_steps:
            time_steps(net, args.time_steps, args.seed)
            return 0
        ds, source = load(args.data, args.download, args.quick, args.seed)
        sizes = f"{len(ds[0][1])} training / {len(ds[1][1])} validation / {len(ds[2][1])} test"
        common.say(
            f"data: {source}: {sizes} images",
            f"training: {'adamw' if args.weight_decay > 0 else 'adam'}, learning rate {args.lr} "
            f"with cosine decay to 0, weight decay {args.weight_decay}, batch {BATCH}, up to "
            f"{args.epochs} epochs, patience {args.patience}; augmentation: random shifts of up "
            f"to {args.crop} pixels, {'random flips' if args.flip else 'no flips'}",
            "",
        )
        summary = run(args, net, ds)
    history, matrix = summary.pop("_history"), summary.pop("_matrix", None)
    summary["command"] = common.command_line("fashion_mnist_resnet.py", args_list)
    summary["blas_threads"] = threads
    common.write_json(args.out / "summary.json", summary)
    written = [args.out / "summary.json"]
    if args.figures and matrix is not None:
        written += figures(args.out, history, matrix, args.width)
        if args.figures_dir is not None:
            args.figures_dir.mkdir(parents=True, exist_ok=True)
            written += [Path(shutil.copy(p, args.figures_dir)) for p in written[1:]]
    common.say("", "wrote: " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
