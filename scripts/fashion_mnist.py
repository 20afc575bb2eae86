"""What the Fashion-MNIST MLP scripts share: the data and its splits, the network, evaluation,
figures, and the command line every one of them takes.

The scripts themselves:

- ``fashion_mnist_mlp.py``: 784-392-128-10 ReLU, SGD 0.1, batch 100, on all 60,000 training
  images, with the per-epoch test curves (nothing chosen on the test set).
- ``fashion_mnist_table.py``: batch x hidden activation x optimizer x epochs, chosen on a
  validation split; only the chosen setting is scored on the test set, once.
- ``fashion_mnist_best.py``: He init, Adam/AdamW, cosine decay, label smoothing, early
  stopping; a few candidates chosen on validation, the winner scored on the test set, once.

Each takes ``--out DIR`` (default ``results/fashion_mnist/``), ``--data DIR``,
``--no-download``, ``--seed K``, ``--threads N``, ``--no-figures``, ``--quiet`` and ``--fast``
(a few hundred images for one or two epochs: a smoke test of every code path). The data are
looked up in ``--data`` if given, else where :func:`fnnet.data.fashion_mnist` looks, else in
``shared/data/fashion-mnist`` beside the checkout; else downloaded into the cache.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import common
import numpy as np
import numpy.typing as npt

from fnnet import data, layers, losses, metrics, train
from fnnet.arrays import Array, IntArray
from fnnet.random import Key, generator
from fnnet.tree import PyTree

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_OUT: Final = Path("results") / "fashion_mnist"
CLASSES: Final = data.FASHION_MNIST_CLASSES
SIZES: Final = (784, 392, 128, 10)
"""The network of the first two studies: 784 inputs, hidden layers of 392 and 128, 10 logits."""

VAL_SIZE: Final = 10_000
FAST_TRAIN: Final = 600
FAST_TEST: Final = 200
FAST_VAL: Final = 100
EVAL_BATCH: Final = 5_000

Net = layers.Serial
Params = tuple[PyTree, ...]
Labels = IntArray


# --- data --------------------------------------------------------------------------------------


@attrs.frozen
class Split:
    """One part of the data set: float32 rows in [0, 1], int labels, and the raw images."""

    x: Array
    y: Labels
    images: data.U8Array

    def __len__(self) -> int:
        return int(self.y.shape[0])


@attrs.frozen
class Dataset:
    """The training and test splits, and where they were read from."""

    train: Split
    test: Split
    source: str


def _split(images: data.U8Array, labels: Labels) -> Split:
    return Split(data.flatten_images(images, np.float32), labels, images)


def _subset(images: data.U8Array, labels: Labels, n: int, key: Key) -> Split:
    """``n`` examples drawn by ``key`` (all of them if there are fewer), in their original order."""
    if n >= labels.shape[0]:
        return _split(images, labels)
    idx = np.sort(generator(key).permutation(labels.shape[0])[:n])
    return _split(images[idx], labels[idx])


def load(explicit: Path | None, download: bool, fast: bool, seed: int) -> Dataset:
    """The data set (a keyed subset of a few hundred examples when ``fast``)."""
    (x_train, y_train), (x_test, y_test), source = common.load_fashion_mnist(explicit, download)
    if fast:
        return Dataset(
            _subset(x_train, y_train, FAST_TRAIN, (seed, 3, 0)),
            _subset(x_test, y_test, FAST_TEST, (seed, 3, 1)),
            source + f" (--fast: {FAST_TRAIN} train / {FAST_TEST} test examples)",
        )
    return Dataset(_split(x_train, y_train), _split(x_test, y_test), source)


def validation_split(train_split: Split, n_val: int, key: Key) -> tuple[Split, Split]:
    """A keyed split of the training set into (fit, validation)."""
    idx = np.arange(len(train_split))
    (fit_idx, _), (val_idx, _) = data.train_val_split(idx, idx, n_val, key)

    def part(i: npt.NDArray[np.int64]) -> Split:
        return Split(train_split.x[i], train_split.y[i], train_split.images[i])

    return part(fit_idx), part(val_idx)


def held_out(ds: Dataset, opts: Options) -> tuple[Split, Split]:
    """``(fit, validation)``: the 10,000 (``--fast``: 100) validation images split off by key."""
    return validation_split(ds.train, FAST_VAL if opts.fast else VAL_SIZE, (opts.seed, 2))


# --- the network and its evaluation ------------------------------------------------------------


def mlp(sizes: Sequence[int], hidden: str, init: layers.initializers.Initializer | None) -> Net:
    """``layers.mlp(sizes)`` in float32 with ``hidden`` ("relu" or "sigmoid") between layers."""
    activation = {"relu": layers.relu, "sigmoid": layers.sigmoid}[hidden]
    return layers.mlp(sizes, hidden=activation, init=init, dtype=np.float32)


def evaluate(net: Net, params: Params, split: Split) -> tuple[float, float]:
    """``(mean softmax cross-entropy, accuracy)`` of ``params`` on ``split``."""
    out = train.evaluate(
        net,
        losses.softmax_cross_entropy,
        params,
        (split.x, split.y),
        batch_size=EVAL_BATCH,
        metrics={"accuracy": metrics.accuracy},
    )
    return float(out["loss"]), float(out["accuracy"])


def predict(net: Net, params: Params, x: Array) -> Array:
    """Class probabilities (softmax of the logits), in batches."""
    parts = []
    for start in range(0, x.shape[0], EVAL_BATCH):
        z = net.apply(params, x[start : start + EVAL_BATCH])
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        parts.append(e / e.sum(axis=-1, keepdims=True))
    return np.concatenate(parts) if parts else np.zeros((0, len(CLASSES)), np.float32)


# --- the command line --------------------------------------------------------------------------


@attrs.frozen
class Options:
    """What every Fashion-MNIST MLP script is told on its command line."""

    out: Path
    fast: bool
    seed: int
    figures: bool
    verbose: bool
    invocation: str


def parser(script: str, description: str) -> argparse.ArgumentParser:
    """The options every Fashion-MNIST MLP script takes; each adds its own."""
    p = argparse.ArgumentParser(prog=script, description=description)
    common.add_data_args(p)
    common.add_output_args(p, DEFAULT_OUT)
    p.add_argument(
        "--fast",
        action="store_true",
        help=f"{FAST_TRAIN} train / {FAST_TEST} test images, 1-2 epochs (a smoke test)",
    )
    return p


Run = Callable[[Options, Dataset, argparse.Namespace], dict[str, Any]]


def main(script: str, p: argparse.ArgumentParser, run: Run, argv: list[str] | None) -> int:
    """Parse ``argv``, load the data, print where everything came from, and ``run``."""
    args_list = common.script_argv(argv)
    args = p.parse_args(args_list)
    opts = Options(
        out=args.out,
        fast=args.fast,
        seed=args.seed,
        figures=args.figures,
        verbose=not args.quiet,
        invocation=common.command_line(script, args_list),
    )
    try:
        ds = load(args.data, args.download, args.fast, args.seed)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        return 2
    with common.blas_threads(args.threads) as threads:
        common.say(
            f"command: {opts.invocation}",
            f"fnnet: {common.fnnet_version()}",
            f"data: {ds.source}",
            f"BLAS threads: {threads}",
            "",
        )
        start = time.perf_counter()
        run(opts, ds, args)
        common.say(f"{time.perf_counter() - start:.0f} s wall-clock in total")
    return 0


# --- figures (matplotlib, imported only here) --------------------------------------------------


def figure(width: float, height: float) -> Figure:
    """A matplotlib figure with a constrained layout (no pyplot state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: Path, dpi: int) -> Path:
    """``fig`` written to ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_curves(history: train.History, held_out: str, title: str, path: Path) -> Path:
    """Loss and accuracy per epoch, train and ``held_out`` ("test" or "validation"), with the
    epoch of lowest held-out loss marked on both panels."""
    from matplotlib.ticker import MaxNLocator

    loss = np.asarray(history.loss)
    epochs = np.arange(1, loss.shape[0] + 1)
    fig = figure(10.0, 4.0)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, loss, color="C0", label="train")
    ax_acc.plot(epochs, history["accuracy"], color="C0", label="train")
    if history.val_loss is not None:
        val = np.asarray(history.val_loss)
        best = int(np.argmin(val)) + 1
        ax_loss.plot(epochs, val, color="C1", label=held_out)
        ax_acc.plot(epochs, history["val_accuracy"], color="C1", label=held_out)
        for ax in (ax_loss, ax_acc):
            ax.axvline(best, color="grey", linestyle="--", linewidth=1)
        ax_loss.plot(
            [best], [val[best - 1]], "o", color="C3", label=f"lowest {held_out} loss (epoch {best})"
        )
    ax_loss.set_ylabel("softmax cross-entropy")
    ax_acc.set_ylabel("accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return save(fig, path, dpi=90)


def plot_confusion(matrix: IntArray, title: str, path: Path) -> Path:
    """Test-set confusion matrix: colour = fraction of the true class, text = count."""
    counts = np.asarray(matrix)
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = figure(7.0, 6.0)
    ax = fig.subplots()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    k = counts.shape[0]
    for i in range(k):
        for j in range(k):
            color = "white" if frac[i, j] > 0.6 else "black"
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(k), CLASSES, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(k), CLASSES, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize="medium")
    return save(fig, path, dpi=90)


def plot_misclassified(
    images: data.U8Array, labels: Labels, probs: Array, title: str, path: Path, n: int = 24
) -> Path:
    """The ``n`` most confidently misclassified images, with true and predicted class names."""
    pred = np.argmax(probs, axis=-1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n]
    cols = 6
    rows = max(1, math.ceil(len(order) / cols))
    fig = figure(1.55 * cols, 1.75 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, order, strict=False):
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(
            f"true: {CLASSES[labels[i]]}\npred: {CLASSES[pred[i]]} ({probs[i, pred[i]]:.2f})",
            fontsize=7,
        )
    fig.suptitle(title, fontsize="medium")
    return save(fig, path, dpi=80)


def figures_on_test(
    net: Net, params: Params, test: Split, name: str, label: str, out: Path
) -> tuple[IntArray, list[Path]]:
    """Confusion matrix and misclassified grid of ``params`` on the test set."""
    probs = predict(net, params, test.x)
    pred = np.argmax(probs, axis=-1)
    matrix = metrics.confusion_matrix(pred, test.y, len(CLASSES))
    acc = float(np.mean(pred == test.y))
    paths = [
        plot_confusion(
            matrix,
            f"{label}: test confusion matrix (accuracy {acc:.4f})",
            out / f"fashion_{name}_confusion.png",
        ),
        plot_misclassified(
            test.images,
            test.y,
            probs,
            f"{label}: the most confident test mistakes (true / predicted, probability)",
            out / f"fashion_{name}_misclassified.png",
        ),
    ]
    return matrix, paths
