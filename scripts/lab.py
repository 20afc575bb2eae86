"""The lab: its 2-4-4-1 sigmoid network trained on the linear and XOR data sets.

``mlp([2, 4, 4, 1])`` with sigmoid hidden and output layers, MSE, plain (full-batch) gradient
descent, stopping when the loss is below 0.01 or at the epoch cap. For each data set it prints the
epoch/loss log every ``--log-every`` epochs, the per-point "ground truth | prediction" table and
the accuracy, and writes ``<data>_comparison.png``, ``<data>_learning_curve.png`` and
``<data>_decision_boundary.png`` into ``--out``.

    python scripts/lab.py                                   # lr 1: about a second per data set
    python scripts/lab.py --lr 0.001 --max-epochs 5000000   # the lab's original rate: ~15 min

The default rate, 1.0, is the largest of the learning-rate study at which the loss falls
monotonically for every seed on both data sets (``scripts/study_lr.py``). fnnet's ``mse`` is a
mean over the points, so a rate here is not the same number as a rate on a summed loss; at
lr 0.001 gradient descent needs about 970,000 (linear) and 4,600,000 (XOR) epochs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import common
from lab_studies import DATASET_TITLES, DATASETS, LAB_LR, LAB_SIZES, THRESHOLD, dataset, lab_net

from fnnet import layers, losses, metrics, optim, plot, train
from fnnet.arrays import Array


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--data", choices=[*DATASETS, "both"], default="both", help="data set(s)")
    p.add_argument("--lr", type=float, default=LAB_LR, help=f"learning rate (default {LAB_LR:g})")
    p.add_argument("--max-epochs", type=int, default=100_000, help="epoch cap (default 100,000)")
    p.add_argument(
        "--threshold", type=float, default=THRESHOLD, help=f"stop below this loss ({THRESHOLD})"
    )
    p.add_argument("--seed", type=int, default=0, help="init key of the weights (default 0)")
    p.add_argument("--points", type=int, default=100, help="points of the linear set (100)")
    p.add_argument("--log-every", type=int, default=1000, help="epochs between log lines")
    p.add_argument("--out", type=Path, default=Path("results/lab"), help="folder for the figures")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    args = p.parse_args(argv)
    if args.max_epochs < 1 or args.log_every < 1 or args.points < 1:
        p.error("--max-epochs, --log-every and --points must be positive")
    return args


def point_table(x: Array, y: Array, pred: Array) -> str:
    """The per-point "ground truth | prediction" table, one row per point."""
    lines = ["    # |   x0    x1 | ground truth | prediction | class | ok"]
    lines.append("  " + "-" * (len(lines[0]) - 2))
    for i, (xi, yi, pi) in enumerate(zip(x, y[:, 0], pred[:, 0], strict=True)):
        cls = int(pi >= 0.5)
        ok = "" if cls == int(yi >= 0.5) else "WRONG"
        row = f"  {i:>3} | {xi[0]:.2f}  {xi[1]:.2f} | {yi:>12.0f} | {pi:>10.4f} | {cls:>5} | {ok}"
        lines.append(row.rstrip())
    return "\n".join(lines)


@attrs.frozen
class LabRun:
    """What one data set's run gave (for ``scripts/lab_all.py``)."""

    name: str
    epochs: int
    stop_reason: str
    final_loss: float
    accuracy: float
    seconds: float
    figures: list[Path]


def run(name: str, args: argparse.Namespace) -> LabRun:
    """Train on one data set, print the log, table and accuracy, write the figures."""
    x, y = dataset(name, args.points)
    net = lab_net()
    title = DATASET_TITLES[name] if name != "linear" else f"linear ({args.points} points)"
    print(f"== {title}: mlp {list(LAB_SIZES)}, sigmoid/sigmoid, MSE, gradient descent, "
          f"lr {args.lr:g}, until loss < {args.threshold:g} or {args.max_epochs:,} epochs, "
          f"seed {args.seed}")  # fmt: skip
    _, params = net.init(args.seed, (2,))
    start = time.perf_counter()
    r = train.fit(
        net,
        losses.mse,
        optim.sgd(args.lr),
        params,
        (x, y),
        epochs=args.max_epochs,
        until=train.loss_below(args.threshold),
        metrics={"accuracy": metrics.accuracy},
        log_every=args.log_every,
    )
    seconds = time.perf_counter() - start
    pred = net.apply(r.params, x)
    final_loss = float(losses.mse(pred, y)[0])
    acc = float(metrics.accuracy(pred, y))
    outcome = (
        f"loss < {args.threshold:g} reached at epoch {r.epochs:,}"
        if r.stop_reason == "until"
        else f"stopped at the cap of {r.epochs:,} epochs without reaching loss < {args.threshold:g}"
    )
    print(f"{outcome} ({seconds:.2f} s); final loss {final_loss:.5f}\n")
    print(point_table(x, y, pred))
    correct = int(round(acc * x.shape[0]))
    print(f"\naccuracy ({name}): {100 * acc:.1f}% ({correct}/{x.shape[0]} points)\n")
    paths = [] if args.no_figures else figures(name, title, net, r, (x, y), args)
    return LabRun(name, r.epochs, r.stop_reason, final_loss, acc, seconds, paths)


def figures(
    name: str,
    title: str,
    net: layers.Serial,
    r: train.FitResult[Any, Any],
    xy: tuple[Array, Array],
    args: argparse.Namespace,
) -> list[Path]:
    """The comparison, learning curve and decision boundary of one data set's run."""
    x, y = xy
    out: Path = args.out
    paths = [out / f"{name}_{kind}.png" for kind in ("comparison", "learning_curve")]
    paths.append(out / f"{name}_decision_boundary.png")
    setup = f"lr {args.lr:g}, seed {args.seed}"
    pred = net.apply(r.params, x)
    plot.comparison(
        x, y, pred, title=f"{title}: ground truth vs prediction ({setup})", path=paths[0]
    )
    plot.learning_curve(
        r.history,
        threshold=args.threshold,
        loss_name="MSE",
        title=f"{title}: learning curve ({setup}, {r.epochs:,} epochs)",
        path=paths[1],
    )
    plot.decision_boundary(
        lambda g: net.apply(r.params, g),
        x,
        y,
        title=f"{title}: decision boundary after {r.epochs:,} epochs",
        path=paths[2],
    )
    common.say(*(f"figure: {p}" for p in paths), "")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    names = DATASETS if args.data == "both" else (args.data,)
    runs = [run(name, args) for name in names]
    print("summary: " + ", ".join(f"{r.name} {100 * r.accuracy:.1f}%" for r in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
