"""Fashion-MNIST: a hyperparameter table for the 784-392-128-10 MLP, chosen on validation.

    python scripts/fashion_mnist_table.py [--checkpoints 5,10,20,40] [--threads T] [--fast] ...

Batch {100, 1000} x hidden activation {ReLU, sigmoid} x optimizer {SGD lr 0.1, momentum lr 0.01
with beta 0.9, Adam lr 0.001} x epochs {5, 10, 20, 40}; softmax cross-entropy, Glorot-uniform
init, float32. Every (batch, activation, optimizer) is one training run on 50,000 training
images, scored on the other 10,000 (a keyed validation split) after each epoch count (``fit``
resumed from the previous optimizer state). The cell with the best validation accuracy is
chosen, and only its test accuracy is computed, once.

Prints a line per cell and the whole table (train accuracy, validation accuracy, seconds per
epoch); writes ``table.json`` and ``fashion_table_val_accuracy.png`` into ``--out``. The options
every Fashion-MNIST script takes are described in ``fashion_mnist.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import common
import fashion_mnist as fm

from fnnet import losses, metrics, optim, train

CHECKPOINTS: Final = (5, 10, 20, 40)
"""Epoch counts at which every run is scored (one training run per cell, resumed)."""

BATCHES: Final = (100, 1000)
ACTIVATIONS: Final = ("relu", "sigmoid")
OPTIMIZERS: Final[Mapping[str, tuple[str, Callable[[], optim.Optimizer[Any]]]]] = {
    "sgd": ("SGD lr 0.1", lambda: optim.sgd(0.1)),
    "momentum": ("momentum lr 0.01, beta 0.9", lambda: optim.momentum(0.01, 0.9)),
    "adam": ("Adam lr 0.001", lambda: optim.adam(1e-3)),
}
"""The table's optimizers. Momentum's rate is 0.01 so that its long-run step (lr / (1 - beta))
equals SGD's 0.1; Adam uses its usual default."""


@attrs.frozen
class Cell:
    """One (batch, activation, optimizer) run, scored after ``epochs`` epochs."""

    batch: int
    activation: str
    optimizer: str
    epochs: int
    train_accuracy: float
    val_accuracy: float
    seconds_per_epoch: float

    def setting(self) -> str:
        return f"batch {self.batch}, {self.activation}, {self.optimizer}, {self.epochs} epochs"


Scored = tuple[Cell, fm.Net, fm.Params]


def train_run(
    opts: fm.Options,
    fit: fm.Split,
    val: fm.Split,
    setting: tuple[int, str, str],
    checkpoints: Sequence[int],
) -> list[Scored]:
    """One training run of ``(batch, activation, optimizer)``, scored at every checkpoint."""
    batch, activation, name = setting
    net = fm.mlp(fm.SIZES, activation, None)
    _, params = net.init((opts.seed, 0), (fm.SIZES[0],))
    opt = OPTIMIZERS[name][1]()
    opt_state: Any = None
    done, seconds, scored = 0, 0.0, []
    for epochs in checkpoints:
        start = time.perf_counter()
        result = train.fit(
            net,
            losses.softmax_cross_entropy,
            opt,
            params,
            (fit.x, fit.y),
            epochs=epochs - done,
            batch_size=batch,
            key=(opts.seed, 1, epochs),
            metrics={"accuracy": metrics.accuracy},
            progress=opts.verbose,
            opt_state=opt_state,
        )
        seconds += time.perf_counter() - start
        params, opt_state, done = result.params, result.opt_state, epochs
        train_acc, val_acc = fm.evaluate(net, params, fit)[1], fm.evaluate(net, params, val)[1]
        cell = Cell(batch, activation, name, epochs, train_acc, val_acc, seconds / epochs)
        common.say(
            f"  {cell.setting():<42} train acc {cell.train_accuracy:.4f}  "
            f"val acc {cell.val_accuracy:.4f}  {cell.seconds_per_epoch:.2f} s/epoch"
        )
        scored.append((cell, net, params))
    return scored


def table(cells: Sequence[Cell], chosen: Cell) -> str:
    """All cells, the chosen one's validation accuracy in bold."""
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
    header = ["batch", "activation", "optimizer", "epochs", "train acc", "val acc", "s/epoch"]
    return common.markdown_table(header, rows, align="rllrrrr")


def run(opts: fm.Options, ds: fm.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Train every run, print the table, score the chosen cell on test, write the results."""
    checkpoints = args.checkpoints or ((1, 2) if opts.fast else CHECKPOINTS)
    fit, val = fm.held_out(ds, opts)
    common.say(
        "## Batch x activation x optimizer x epochs for 784-392-128-10, chosen on validation",
        f"softmax cross-entropy, Glorot-uniform init, float32; trained on {len(fit)} training "
        f"images, scored on {len(val)} held-out training images (validation, split by key "
        f"{(opts.seed, 2)}). Optimizers: "
        + "; ".join(f"{k} = {label}" for k, (label, _) in OPTIMIZERS.items())
        + f". Each cell is one run, scored after {', '.join(map(str, checkpoints))} epochs.",
    )
    scored = [
        s
        for setting in ((b, a, o) for b in BATCHES for a in ACTIVATIONS for o in OPTIMIZERS)
        for s in train_run(opts, fit, val, setting, checkpoints)
    ]
    cells = [cell for cell, _, _ in scored]
    chosen, net, params = max(scored, key=lambda s: s[0].val_accuracy)  # the first of equals
    test_loss, test_acc = fm.evaluate(net, params, ds.test)
    common.say(
        "",
        table(cells, chosen),
        "",
        "(train acc: the params at that point on the training part; s/epoch: training time only, "
        "averaged over the epochs so far)",
        f"chosen on validation: {chosen.setting()} (val accuracy {chosen.val_accuracy:.4f})",
        f"TEST ACCURACY of the chosen 784-392-128-10 ({chosen.setting()}), computed once: "
        f"{test_acc:.4f} (test loss {test_loss:.4f})",
    )
    summary: dict[str, Any] = {
        "command": opts.invocation,
        "data": ds.source,
        "train_examples": len(fit),
        "val_examples": len(val),
        "cells": [attrs.asdict(c) for c in cells],
        "chosen": attrs.asdict(chosen),
        "chosen_test_accuracy": test_acc,
        "chosen_test_loss": test_loss,
    }
    if opts.figures:
        path = plot_table(cells, opts.out / "fashion_table_val_accuracy.png")
        common.say("", f"figures: {path}")
    common.write_json(opts.out / "table.json", summary)
    return summary


def plot_table(cells: Sequence[Cell], path: Path) -> Path:
    """Validation accuracy against epochs, one line per (batch, activation, optimizer)."""
    from matplotlib.ticker import NullLocator

    ticks = sorted({c.epochs for c in cells})
    fig = fm.figure(9.0, 4.0)
    axes = fig.subplots(1, 2, sharey=True)
    colors = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}
    for ax, batch in zip(axes, BATCHES, strict=True):
        for activation, style in zip(ACTIVATIONS, ("-", ":"), strict=True):
            for name in OPTIMIZERS:
                key = (batch, activation, name)
                run = [c for c in cells if (c.batch, c.activation, c.optimizer) == key]
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
    return fm.save(fig, path, dpi=90)


def parser() -> argparse.ArgumentParser:
    p = fm.parser(
        "fashion_mnist_table.py",
        "Fashion-MNIST: batch x activation x optimizer x epochs for 784-392-128-10, chosen on "
        "validation.",
    )
    p.add_argument(
        "--checkpoints",
        type=common.comma_ints,
        default=None,
        help="epoch counts to score, comma-separated (default "
        + ",".join(map(str, CHECKPOINTS))
        + "; --fast: 1,2)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return fm.main("fashion_mnist_table.py", parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
