"""Fashion-MNIST with fnnet: report D's MLP reproduced, a hyperparameter table, and a better MLP.

    python scripts/fashion_mnist.py [report|table|best|all] [--out DIR] [--data DIR] [--fast]

``report`` (the default)
    Report D's configuration: 784-392-128-10, ReLU, softmax cross-entropy, minibatches of 100,
    plain SGD with learning rate 0.1, float32, trained on all 60,000 training images. The test
    set is passed as ``val_data`` only to draw the per-epoch curves (train and test loss and
    accuracy, with the epoch of lowest test loss marked); nothing is chosen on it.
``table``
    Report D's hyperparameter table, done with a validation split: batch {100, 1000} x hidden
    activation {ReLU, sigmoid} x optimizer {SGD, momentum, Adam} x epochs. Every cell is trained
    on 50,000 training images and scored on the 10,000 held out (a keyed split); the table shows
    train accuracy, validation accuracy and seconds per epoch. The cell with the best validation
    accuracy is chosen, and only its test accuracy is computed, once.
``best``
    Beyond the report: He initialisation, Adam/AdamW with weight decay, a cosine learning-rate
    schedule, label smoothing and early stopping on validation loss (``patience``). A few
    candidate configurations are trained on the same 50,000/10,000 split; the one with the best
    validation accuracy is evaluated on the test set, once.
``all``
    The three above, in that order.

Every command prints its numbers (markdown tables), writes a JSON summary and figures (learning
curves, test confusion matrix, a grid of misclassified test images) into ``--out`` (default
``results/fashion_mnist/``) and shows a progress bar and a line per epoch while training.
``--fast`` runs everything on a few hundred images for one or two epochs (the tests use it).

The data are looked up in ``--data`` if given, else where :func:`fnnet.data.fashion_mnist`
looks (``$FNNET_DATA/fashion-mnist``, the user cache, ``/usr/share/datasets/fashion-mnist``),
else in ``shared/data/fashion-mnist`` beside the repository; if none has them they are
downloaded into the cache (unless ``--no-download``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's fnnet, uninstalled

import argparse
import contextlib
import json
import math
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt

from fnnet import data, layers, losses, metrics, optim, train
from fnnet.arrays import Array, IntArray
from fnnet.random import Key, generator
from fnnet.tree import PyTree

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SHARED_DATA: Final = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"
"""The project's copy of the four files, beside the repository (``../shared`` of the checkout)."""

DEFAULT_OUT: Final = Path("results") / "fashion_mnist"
CLASSES: Final = data.FASHION_MNIST_CLASSES
REPORT_SIZES: Final = (784, 392, 128, 10)
REPORT_TEST_ACCURACY: Final = 0.8732
"""Report D's best test accuracy, the bar the reproduction must reach."""

REPORT_EPOCHS: Final = 40
"""Epochs for ``report``: measured, the test loss bottoms out after about 15-25 epochs (then
rises while the training loss keeps falling) and each epoch takes 1.5-2 s on 2 cores."""

TABLE_CHECKPOINTS: Final = (5, 10, 20, 40)
"""Epoch counts at which every table cell is scored (one training run per cell, resumed)."""

VAL_SIZE: Final = 10_000
FAST_TRAIN: Final = 600
FAST_TEST: Final = 200
FAST_VAL: Final = 100
EVAL_BATCH: Final = 5_000

Net = layers.Serial
Params = tuple[PyTree, ...]
Labels = IntArray
Command = Literal["report", "table", "best", "all"]

ACTIVATIONS: Final[Mapping[str, layers.Layer[None, Array]]] = {
    "relu": layers.relu,
    "sigmoid": layers.sigmoid,
}

TABLE_OPTIMIZERS: Final[Mapping[str, tuple[str, Callable[[], optim.Optimizer[Any]]]]] = {
    "sgd": ("SGD lr 0.1", lambda: optim.sgd(0.1)),
    "momentum": ("momentum lr 0.01, beta 0.9", lambda: optim.momentum(0.01, 0.9)),
    "adam": ("Adam lr 0.001", lambda: optim.adam(1e-3)),
}
"""The table's optimizers. Momentum's rate is 0.01 so that its long-run step (lr / (1 - beta))
equals SGD's 0.1; Adam uses its usual default."""


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


def _has_files(directory: Path) -> bool:
    return all((directory / name).is_file() for name in data.FASHION_MNIST_MD5)


def data_dirs(explicit: Path | None) -> list[Path]:
    """Where to look, in order: ``explicit`` alone, else fnnet's search order then ``shared/``."""
    if explicit is not None:
        return [explicit]
    return [*data.fashion_mnist_dirs(), SHARED_DATA]


def load(explicit: Path | None, download: bool, fast: bool, seed: int) -> Dataset:
    """The data set (a keyed subset of a few hundred examples when ``fast``).

    Raises ``FileNotFoundError`` naming every place searched when the files are nowhere and
    ``download`` is false.
    """
    dirs = data_dirs(explicit)
    found = next((d for d in dirs if _has_files(d)), None)
    if found is not None:
        (x_train, y_train), (x_test, y_test) = data.fashion_mnist(found, download=False)
        source = str(found)
    elif download:
        (x_train, y_train), (x_test, y_test) = data.fashion_mnist(explicit, download=True)
        source = str(explicit if explicit is not None else data.cache_dir() / "fashion-mnist")
    else:
        raise FileNotFoundError(
            "fashion_mnist.py: the Fashion-MNIST files are in none of "
            + ", ".join(map(str, dirs))
            + " and --no-download was given (apt-get install dataset-fashion-mnist, or --data DIR)"
        )
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


# --- models and evaluation ---------------------------------------------------------------------


def mlp(sizes: Sequence[int], activation: str, init: layers.initializers.Initializer | None) -> Net:
    return layers.mlp(sizes, hidden=ACTIVATIONS[activation], init=init, dtype=np.float32)


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


def smoothed_targets(labels: Labels, smoothing: float) -> Array:
    """One-hot rows with label smoothing: ``(1 - s) onehot + s / C``, float32."""
    onehot = data.one_hot(labels, len(CLASSES), np.float32)
    return onehot * np.float32(1.0 - smoothing) + np.float32(smoothing / len(CLASSES))


def mirrored(images: data.U8Array) -> Array:
    """The images flipped left-right, as float32 rows (a mirrored item keeps its class)."""
    return data.flatten_images(np.ascontiguousarray(images[..., ::-1]), np.float32)


# --- printing ----------------------------------------------------------------------------------


@attrs.frozen
class Options:
    command: Command
    out: Path
    data: Path | None
    download: bool
    fast: bool
    seed: int
    epochs: int | None
    checkpoints: tuple[int, ...] | None
    figures: bool
    verbose: bool
    invocation: str
    threads: int | None = None
    candidates: tuple[str, ...] | None = None


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


# --- figures (matplotlib, imported only here) --------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_curves(history: train.History, held_out: str, title: str, path: Path) -> Path:
    """Loss and accuracy per epoch, train and ``held_out`` ("test" or "validation"), with the
    epoch of lowest held-out loss marked on both panels."""
    loss = np.asarray(history.loss)
    epochs = np.arange(1, loss.shape[0] + 1)
    fig = _figure(10.0, 4.0)
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
    from matplotlib.ticker import MaxNLocator

    ax_loss.set_ylabel("softmax cross-entropy")
    ax_acc.set_ylabel("accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return _save(fig, path, dpi=90)


def plot_confusion(matrix: IntArray, title: str, path: Path) -> Path:
    """Test-set confusion matrix: colour = fraction of the true class, text = count."""
    counts = np.asarray(matrix)
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = _figure(7.0, 6.0)
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
    return _save(fig, path, dpi=90)


def plot_misclassified(
    images: data.U8Array, labels: Labels, probs: Array, title: str, path: Path, n: int = 24
) -> Path:
    """The ``n`` most confidently misclassified images, with true and predicted class names."""
    pred = np.argmax(probs, axis=-1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n]
    cols = 6
    rows = max(1, math.ceil(len(order) / cols))
    fig = _figure(1.55 * cols, 1.75 * rows + 0.3)
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
    return _save(fig, path, dpi=80)


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


# --- report: report D's configuration ----------------------------------------------------------


def run_report(opts: Options, ds: Dataset) -> dict[str, Any]:
    epochs = opts.epochs or (2 if opts.fast else REPORT_EPOCHS)
    net = mlp(REPORT_SIZES, "relu", None)
    _, params = net.init((opts.seed, 0), (REPORT_SIZES[0],))
    say(
        "## report: report D's configuration",
        f"784-392-128-10, ReLU, softmax cross-entropy, batch 100, SGD lr 0.1, float32, "
        f"Glorot-uniform init (fnnet's default), {epochs} epochs on {len(ds.train)} training "
        f"images; the {len(ds.test)} test images are evaluated after every epoch only to draw "
        "the curves (val_data), nothing is chosen on them.",
    )
    start = time.perf_counter()
    result = train.fit(
        net,
        losses.softmax_cross_entropy,
        optim.sgd(0.1),
        params,
        (ds.train.x, ds.train.y),
        epochs=epochs,
        batch_size=100,
        key=(opts.seed, 1),
        val_data=(ds.test.x, ds.test.y),
        metrics={"accuracy": metrics.accuracy},
        log_every=1 if opts.verbose else None,
        progress=opts.verbose,
    )
    seconds = time.perf_counter() - start
    h = result.history
    assert h.val_loss is not None
    train_loss, train_acc = evaluate(net, result.params, ds.train)
    test_loss, test_acc = evaluate(net, result.params, ds.test)
    best = int(np.argmin(h.val_loss)) + 1
    rows = [
        [
            str(e + 1),
            f"{float(h.loss[e]):.4f}",
            f"{float(h['accuracy'][e]):.4f}",
            f"{float(h.val_loss[e]):.4f}",
            f"{float(h['val_accuracy'][e]):.4f}",
        ]
        for e in range(len(h))
    ]
    say(
        "",
        "Per epoch (train columns: running mean over the epoch's minibatches; test columns: "
        "after the epoch):",
        "",
        *markdown_table(["epoch", "train loss", "train acc", "test loss", "test acc"], rows),
        "",
        f"lowest test loss {float(h.val_loss[best - 1]):.4f} at epoch {best}; after it the "
        f"train loss went {float(h.loss[best - 1]):.4f} -> {float(h.loss[-1]):.4f} and the "
        f"test loss {float(h.val_loss[best - 1]):.4f} -> {float(h.val_loss[-1]):.4f}",
        f"final (epoch {len(h)}): train loss {train_loss:.4f}, train accuracy {train_acc:.4f} "
        f"(all {len(ds.train)} images, final params); test loss {test_loss:.4f}, "
        f"TEST ACCURACY {test_acc:.4f}",
        f"report D's best test accuracy {REPORT_TEST_ACCURACY}: "
        + ("reached" if test_acc >= REPORT_TEST_ACCURACY else "NOT reached"),
        f"time: {seconds:.1f} s for {epochs} epochs = {seconds / epochs:.2f} s per epoch "
        "(training + the per-epoch test evaluation)",
    )
    summary: dict[str, Any] = {
        "command": opts.invocation,
        "data": ds.source,
        "epochs": epochs,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "lowest_test_loss_epoch": best,
        "seconds_per_epoch": seconds / epochs,
        "history": {k: np.asarray(h[k]).tolist() for k in h.names()},
    }
    if opts.figures:
        paths = [
            plot_curves(
                h,
                "test",
                "report D's MLP (784-392-128-10, ReLU, SGD 0.1, batch 100): "
                "test set drawn per epoch, not used for any choice",
                opts.out / "fashion_report_curves.png",
            )
        ]
        matrix, more = figures_on_test(
            net, result.params, ds.test, "report", "report D's MLP", opts.out
        )
        summary["confusion_matrix"] = matrix.tolist()
        say("", "figures: " + ", ".join(map(str, [*paths, *more])))
    write_json(opts.out / "report.json", summary)
    return summary


# --- table: the hyperparameter grid, chosen on validation --------------------------------------


@attrs.frozen
class Cell:
    batch: int
    activation: str
    optimizer: str
    epochs: int
    train_accuracy: float
    val_accuracy: float
    seconds_per_epoch: float

    def setting(self) -> str:
        return f"batch {self.batch}, {self.activation}, {self.optimizer}, {self.epochs} epochs"


def run_table(opts: Options, ds: Dataset) -> dict[str, Any]:
    checkpoints = opts.checkpoints or ((1, 2) if opts.fast else TABLE_CHECKPOINTS)
    n_val = FAST_VAL if opts.fast else VAL_SIZE
    fit_split, val_split = validation_split(ds.train, n_val, (opts.seed, 2))
    say(
        "## table: batch x activation x optimizer x epochs, chosen on validation",
        f"784-392-128-10, softmax cross-entropy, Glorot-uniform init, float32; trained on "
        f"{len(fit_split)} training images, scored on {len(val_split)} held-out training images "
        f"(validation, split by key {(opts.seed, 2)}). Optimizers: "
        + "; ".join(f"{k} = {label}" for k, (label, _) in TABLE_OPTIMIZERS.items())
        + f". Each cell is one run, scored after {', '.join(map(str, checkpoints))} epochs.",
    )
    cells: list[Cell] = []
    best: tuple[Cell, Net, Params] | None = None
    for batch in (100, 1000):
        for activation in ACTIVATIONS:
            for name, (_, make_opt) in TABLE_OPTIMIZERS.items():
                net = mlp(REPORT_SIZES, activation, None)
                _, params = net.init((opts.seed, 0), (REPORT_SIZES[0],))
                opt = make_opt()
                opt_state: Any = None
                done, seconds = 0, 0.0
                for epochs in checkpoints:
                    start = time.perf_counter()
                    result = train.fit(
                        net,
                        losses.softmax_cross_entropy,
                        opt,
                        params,
                        (fit_split.x, fit_split.y),
                        epochs=epochs - done,
                        batch_size=batch,
                        key=(opts.seed, 1, epochs),
                        metrics={"accuracy": metrics.accuracy},
                        progress=opts.verbose,
                        opt_state=opt_state,
                    )
                    seconds += time.perf_counter() - start
                    params, opt_state, done = result.params, result.opt_state, epochs
                    cell = Cell(
                        batch,
                        activation,
                        name,
                        epochs,
                        evaluate(net, params, fit_split)[1],
                        evaluate(net, params, val_split)[1],
                        seconds / epochs,
                    )
                    cells.append(cell)
                    say(
                        f"  {cell.setting():<42} train acc {cell.train_accuracy:.4f}  "
                        f"val acc {cell.val_accuracy:.4f}  {cell.seconds_per_epoch:.2f} s/epoch"
                    )
                    if best is None or cell.val_accuracy > best[0].val_accuracy:
                        best = (cell, net, params)
    assert best is not None
    chosen, net, params = best
    test_loss, test_acc = evaluate(net, params, ds.test)
    rows = [
        [
            str(c.batch),
            c.activation,
            c.optimizer,
            str(c.epochs),
            f"{c.train_accuracy:.4f}",
            f"**{c.val_accuracy:.4f}**" if c is chosen else f"{c.val_accuracy:.4f}",
            f"{c.seconds_per_epoch:.2f}",
        ]
        for c in cells
    ]
    say(
        "",
        *markdown_table(
            ["batch", "activation", "optimizer", "epochs", "train acc", "val acc", "s/epoch"],
            rows,
        ),
        "",
        "(train acc: the final params on the training part; s/epoch: training time only, "
        "averaged over the epochs so far)",
        f"chosen on validation: {chosen.setting()} (val accuracy {chosen.val_accuracy:.4f})",
        f"its TEST ACCURACY, computed once: {test_acc:.4f} (test loss {test_loss:.4f})",
    )
    summary: dict[str, Any] = {
        "command": opts.invocation,
        "data": ds.source,
        "train_examples": len(fit_split),
        "val_examples": len(val_split),
        "cells": [attrs.asdict(c) for c in cells],
        "chosen": attrs.asdict(chosen),
        "chosen_test_accuracy": test_acc,
        "chosen_test_loss": test_loss,
    }
    if opts.figures:
        paths = [plot_table(cells, opts.out / "fashion_table_val_accuracy.png")]
        say("", "figures: " + ", ".join(map(str, paths)))
    write_json(opts.out / "table.json", summary)
    return summary


def plot_table(cells: Sequence[Cell], path: Path) -> Path:
    """Validation accuracy against epochs, one line per (batch, activation, optimizer)."""
    from matplotlib.ticker import NullLocator

    ticks = sorted({c.epochs for c in cells})
    fig = _figure(9.0, 4.0)
    axes = fig.subplots(1, 2, sharey=True)
    colors = {name: f"C{i}" for i, name in enumerate(TABLE_OPTIMIZERS)}
    for ax, batch in zip(axes, (100, 1000), strict=True):
        for activation, style in (("relu", "-"), ("sigmoid", ":")):
            for name in TABLE_OPTIMIZERS:
                run = [
                    c
                    for c in cells
                    if (c.batch, c.activation, c.optimizer) == (batch, activation, name)
                ]
                ax.plot(
                    [c.epochs for c in run],
                    [c.val_accuracy for c in run],
                    style,
                    marker="o",
                    color=colors[name],
                    label=f"{activation}, {name}",
                )
        ax.set_title(f"batch {batch}", fontsize="medium")
        ax.set_xlabel("epochs (log scale)")
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(e) for e in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy")
    axes[1].legend(fontsize="small")
    return _save(fig, path, dpi=90)


# --- best: beyond the report -------------------------------------------------------------------


@attrs.frozen
class Candidate:
    """One configuration tried by ``best``."""

    name: str
    sizes: tuple[int, ...]
    optimizer: Literal["adam", "adamw"]
    learning_rate: float
    weight_decay: float
    batch: int
    epochs: int
    patience: int
    label_smoothing: float = 0.0
    flip: bool = False

    def describe(self) -> str:
        opt = f"{self.optimizer} lr {self.learning_rate:g}" + (
            f", weight decay {self.weight_decay:g}" if self.optimizer == "adamw" else ""
        )
        smooth = f", label smoothing {self.label_smoothing:g}" if self.label_smoothing else ""
        flip = ", training images plus their mirror images" if self.flip else ""
        return (
            f"{'-'.join(map(str, self.sizes))}, ReLU, He-normal init, {opt} with cosine decay "
            f"over {self.epochs} epochs, batch {self.batch}{smooth}{flip}, early stopping on "
            f"validation loss (patience {self.patience})"
        )

    def make_optimizer(self, steps_per_epoch: int) -> optim.Optimizer[Any]:
        schedule = optim.schedules.cosine_decay(self.learning_rate, self.epochs * steps_per_epoch)
        if self.optimizer == "adamw":
            return optim.adamw(schedule, weight_decay=self.weight_decay)
        return optim.adam(schedule)


CANDIDATES: Final = (
    Candidate("adam", REPORT_SIZES, "adam", 1e-3, 0.0, 100, 30, 10),
    Candidate("adamw-smooth", REPORT_SIZES, "adamw", 1e-3, 0.05, 100, 30, 10, 0.1),
    Candidate("wide-adamw-smooth", (784, 512, 256, 10), "adamw", 1e-3, 0.1, 100, 30, 10, 0.1),
    Candidate("adamw-smooth-flip", REPORT_SIZES, "adamw", 1e-3, 0.05, 100, 20, 10, 0.1, True),
)
"""What ``best`` tries, picked while developing on the validation split (never on test):
plain Adam stops early at its lowest validation loss (epoch ~9) because the loss then rises while
the accuracy still improves; weight decay and label smoothing keep the validation loss falling
until the learning rate has decayed, a wider net or mirrored training images add a little more.
The patience (10) lets the noisy validation loss of the smoothed runs fall until the cosine
schedule has brought the learning rate down. A mirrored epoch is twice as long, hence 20 epochs."""


def run_best(opts: Options, ds: Dataset) -> dict[str, Any]:
    n_val = FAST_VAL if opts.fast else VAL_SIZE
    fit_split, val_split = validation_split(ds.train, n_val, (opts.seed, 2))
    say(
        "## best: beyond the report, chosen on validation",
        f"each candidate is trained on {len(fit_split)} training images with the "
        f"{len(val_split)} held-out ones as validation (early stopping on validation loss, the "
        "params of the lowest validation loss are kept); the best validation accuracy wins and "
        "only the winner is evaluated on the test set.",
    )
    runs: list[dict[str, Any]] = []
    best: tuple[float, Candidate, Net, Params, train.History] | None = None
    for cand in CANDIDATES:
        if opts.candidates is not None and cand.name not in opts.candidates:
            continue
        epochs = opts.epochs or (2 if opts.fast else cand.epochs)
        cand = attrs.evolve(cand, epochs=epochs, patience=min(cand.patience, epochs))
        say("", f"### {cand.name}: {cand.describe()}")
        net = mlp(cand.sizes, "relu", layers.initializers.he_normal())
        _, params = net.init((opts.seed, 0), (cand.sizes[0],))
        x, labels = fit_split.x, fit_split.y
        if cand.flip:
            x = np.concatenate([x, mirrored(fit_split.images)])
            labels = np.concatenate([labels, labels])
        targets: Array | Labels = (
            smoothed_targets(labels, cand.label_smoothing) if cand.label_smoothing else labels
        )
        steps = data.num_batches(labels.shape[0], cand.batch)
        start = time.perf_counter()
        result = train.fit(
            net,
            losses.softmax_cross_entropy,
            cand.make_optimizer(steps),
            params,
            (x, targets),
            epochs=cand.epochs,
            batch_size=cand.batch,
            key=(opts.seed, 1),
            val_data=(val_split.x, val_split.y),
            patience=cand.patience,
            metrics={"accuracy": metrics.accuracy},
            log_every=1 if opts.verbose else None,
            progress=opts.verbose,
        )
        seconds = time.perf_counter() - start
        val_loss, val_acc = evaluate(net, result.params, val_split)
        run = {
            "name": cand.name,
            "description": cand.describe(),
            "epochs_run": result.epochs,
            "stop_reason": result.stop_reason,
            "best_epoch": result.best_epoch,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "seconds_per_epoch": seconds / result.epochs,
        }
        runs.append(run)
        say(
            f"{cand.name}: stopped after {result.epochs} epochs ({result.stop_reason}); kept "
            f"epoch {result.best_epoch} (lowest validation loss {val_loss:.4f}), validation "
            f"accuracy {val_acc:.4f}; {seconds / result.epochs:.2f} s per epoch (training + "
            "validation)"
        )
        if best is None or val_acc > best[0]:
            best = (val_acc, cand, net, result.params, result.history)
    assert best is not None
    val_acc, chosen, net, params, history = best
    test_loss, test_acc = evaluate(net, params, ds.test)
    rows = [
        [
            r["name"],
            str(r["epochs_run"]),
            str(r["best_epoch"]),
            f"{r['val_loss']:.4f}",
            f"{r['val_accuracy']:.4f}",
            f"{r['seconds_per_epoch']:.2f}",
        ]
        for r in runs
    ]
    say(
        "",
        *markdown_table(
            ["candidate", "epochs run", "kept epoch", "val loss", "val acc", "s/epoch"], rows
        ),
        "",
        f"chosen on validation: {chosen.name}: {chosen.describe()}",
        f"its TEST ACCURACY, computed once: {test_acc:.4f} (test loss {test_loss:.4f}); "
        f"target 0.90 " + ("reached" if test_acc >= 0.90 else "NOT reached"),
    )
    summary: dict[str, Any] = {
        "command": opts.invocation,
        "data": ds.source,
        "train_examples": len(fit_split),
        "val_examples": len(val_split),
        "candidates": runs,
        "chosen": chosen.name,
        "chosen_description": chosen.describe(),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
    }
    if opts.figures:
        paths = [
            plot_curves(
                history,
                "validation",
                f"best MLP ({chosen.name}): train and validation per epoch",
                opts.out / "fashion_best_curves.png",
            )
        ]
        matrix, more = figures_on_test(
            net, params, ds.test, "best", f"best MLP ({chosen.name})", opts.out
        )
        summary["confusion_matrix"] = matrix.tolist()
        say("", "figures: " + ", ".join(map(str, [*paths, *more])))
    write_json(opts.out / "best.json", summary)
    return summary


# --- command line ------------------------------------------------------------------------------


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[str]:
    """Limit the BLAS thread pool to ``limit`` threads while inside (threadpoolctl, if installed);
    yields a description of the threads in use."""
    try:
        import threadpoolctl
    except ImportError:
        yield "default (threadpoolctl is not installed" + (", --threads ignored)" if limit else ")")
        return
    with threadpoolctl.threadpool_limits(limit, user_api="blas"):
        counts = [
            str(info["num_threads"])
            for info in threadpoolctl.threadpool_info()
            if info.get("user_api") == "blas"
        ]
        yield ", ".join(counts) or "unknown"


def fnnet_version() -> str:
    """The checkout's git commit, and the files of ``fnnet/`` that differ from it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.rstrip("\n")

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = [line[3:] for line in git("status", "--porcelain", "--", "fnnet").splitlines()]
    except OSError:
        return "not a git checkout"
    return f"git {head}" + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


def _checkpoints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs, got {text!r}") from e
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"epochs must be positive, got {text!r}")
    return values


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashion_mnist.py",
        description="Fashion-MNIST MLP studies with fnnet (report D reproduced and extended).",
    )
    p.add_argument(
        "command",
        nargs="?",
        default="report",
        choices=("report", "table", "best", "all"),
        help="what to run (default: report)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}/")
    p.add_argument("--data", type=Path, default=None, help="directory with the four IDX files")
    p.add_argument("--no-download", dest="download", action="store_false")
    p.add_argument(
        "--fast",
        action="store_true",
        help=f"{FAST_TRAIN} train / {FAST_TEST} test images, 1-2 epochs (a smoke test)",
    )
    p.add_argument("--seed", type=int, default=0, help="the root key (default 0)")
    p.add_argument("--epochs", type=_positive, default=None, help="epochs for report and best")
    p.add_argument(
        "--checkpoints",
        type=_checkpoints,
        default=None,
        help="table epochs, comma-separated (default "
        + ",".join(map(str, TABLE_CHECKPOINTS))
        + ")",
    )
    p.add_argument(
        "--candidates",
        type=lambda text: tuple(v.strip() for v in text.split(",") if v.strip()),
        default=None,
        help="best: which candidates to train, comma-separated (default all: "
        + ",".join(c.name for c in CANDIDATES)
        + ")",
    )
    p.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="limit the BLAS threads (threadpoolctl); on a shared machine 1 is often fastest",
    )
    p.add_argument("--no-figures", dest="figures", action="store_false")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(args_list)
    opts = Options(
        command=args.command,
        out=args.out,
        data=args.data,
        download=args.download,
        fast=args.fast,
        seed=args.seed,
        epochs=args.epochs,
        checkpoints=args.checkpoints,
        figures=args.figures,
        verbose=not args.quiet,
        invocation=" ".join(["python scripts/fashion_mnist.py", *args_list]),
        threads=args.threads,
        candidates=args.candidates,
    )
    unknown = set(opts.candidates or ()) - {c.name for c in CANDIDATES}
    if unknown:
        print(f"error: unknown --candidates {sorted(unknown)}", file=sys.stderr)
        return 2
    try:
        ds = load(opts.data, opts.download, opts.fast, opts.seed)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with blas_threads(opts.threads) as threads:
        say(
            f"command: {opts.invocation}",
            f"fnnet: {fnnet_version()}",
            f"data: {ds.source}",
            f"BLAS threads: {threads}",
            "",
        )
        run_commands(opts, ds)
    return 0


def run_commands(opts: Options, ds: Dataset) -> None:
    runs: dict[str, Callable[[Options, Dataset], dict[str, Any]]] = {
        "report": run_report,
        "table": run_table,
        "best": run_best,
    }
    for name, run in runs.items():
        if opts.command in (name, "all"):
            start = time.perf_counter()
            run(opts, ds)
            say(f"{name}: {time.perf_counter() - start:.0f} s wall-clock in total", "")


if __name__ == "__main__":
    raise SystemExit(main())
