"""A width × learning-rate × seed sweep of the Fashion-MNIST MLP, on a Dask cluster.

The network is 784-width-10 (ReLU, float32), softmax cross-entropy, plain SGD on minibatches of
100, trained for a few epochs on a keyed subset of the training images and scored on a
held-out part of the training set (the test set is not touched). Every (width, learning rate)
pair's seeds — and, for one width, its rates — train as ONE stacked fit (``fnnet.sweep.Fit``);
tasks of ``--task-size`` cells go to the workers. Each worker reads the data once from its own
disk (``fnnet.sweep.cached``): only the cell settings travel.

    python scripts/sweep_fashion_mnist.py                              # a LocalCluster, 2 workers
    python scripts/sweep_fashion_mnist.py --scheduler tcp://host:8786  # an existing cluster
    python scripts/sweep_fashion_mnist.py --in-process                 # no Dask at all

On a cluster started with ``dask scheduler`` and ``dask worker tcp://host:8786`` on other
machines, each worker finds the data where :func:`fnnet.data.fashion_mnist` looks (or
downloads it into its cache). With ``--directory`` finished tasks are saved and a rerun resumes.
Writes the table (``.md`` and ``.csv``) and a heatmap of validation accuracy over width ×
learning rate (median over the seeds) into ``--out`` (default ``docs/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's fnnet, uninstalled

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fnnet import data, layers, losses, metrics, optim, plot, sweep
from fnnet.arrays import Array

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "fashion-mnist"
WIDTHS = (32, 64, 128)
RATES = (0.01, 0.03, 0.1, 0.3)
SEEDS = 3


def folder(explicit: str | None) -> str | None:
    """Where the IDX files are: ``explicit``, fnnet's search order, or ``shared/`` beside the
    checkout (``None``: let :func:`fnnet.data.fashion_mnist` look, and download if needed)."""
    if explicit is not None:
        return explicit
    names = list(data.FASHION_MNIST_MD5)
    for d in [*data.fashion_mnist_dirs(), SHARED]:
        if all((d / n).is_file() for n in names):
            return str(d)
    return None


def _split(where: str | None, train: int, val: int) -> tuple[Array, Array, Array, Array]:
    """A keyed ``train`` / ``val`` split of the training images (float32 rows, one-hot)."""
    (images, labels), _ = data.fashion_mnist(where, progress=False)
    idx = np.arange(images.shape[0])
    (fit_idx, _), (val_idx, _) = data.train_val_split(idx, idx, val, key=0)
    fit_idx = fit_idx[:train]

    def part(i: Any) -> tuple[Array, Array]:
        return data.flatten_images(images[i], np.float32), data.one_hot(labels[i], 10, np.float32)

    return (*part(fit_idx), *part(val_idx))


load = sweep.cached(_split)
"""The split, read once per worker process."""


def experiment(cell: sweep.Cell) -> sweep.Setup:
    """One cell: ``cell["lr"]`` holds one rate per stacked model."""
    x, y, xv, yv = load(cell["data"], cell["train"], cell["val"])
    net = layers.mlp([784, cell["width"], 10], hidden=layers.relu, dtype=np.float32)
    return sweep.Setup(net, losses.softmax_cross_entropy, optim.sgd(cell["lr"]), (x, y), (xv, yv))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--in-process", action="store_true", help="no Dask: run in this process")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per cell (default 4)")
    p.add_argument("--train", type=int, default=20_000, help="training images (default 20,000)")
    p.add_argument("--val", type=int, default=10_000, help="validation images (default 10,000)")
    p.add_argument("--seeds", type=int, default=SEEDS, help=f"init seeds (default {SEEDS})")
    p.add_argument("--task-size", type=int, default=6, help="cells per task (default 6)")
    p.add_argument("--data", help="folder with the four IDX files")
    p.add_argument("--directory", type=Path, help="save finished tasks here; a rerun resumes")
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="table and figures folder")
    p.add_argument("--fast", action="store_true", help="a tiny grid (for the tests)")
    return p.parse_args(argv)


def cells_for(args: argparse.Namespace) -> list[sweep.Cell]:
    widths, rates, seeds = (WIDTHS, RATES, args.seeds) if not args.fast else ((8, 16), (0.1,), 2)
    setting = {"data": [folder(args.data)], "train": [args.train], "val": [args.val]}
    return sweep.grid(width=widths, lr=rates, seed=range(seeds), **setting)


def engine(args: argparse.Namespace) -> tuple[Any, Any]:
    """The executor (a Dask client, or ``None``) and what to close after the sweep."""
    if args.in_process:
        return None, None
    from distributed import Client, LocalCluster

    if args.scheduler:
        client = Client(args.scheduler, timeout="30s")  # type: ignore[no-untyped-call]  # distributed leaves it untyped
        return client, client
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0")  # type: ignore[no-untyped-call]  # distributed leaves it untyped
    client = Client(cluster)  # type: ignore[no-untyped-call]  # distributed leaves it untyped
    return client, (client, cluster)


def write(table: sweep.Table, args: argparse.Namespace, seconds: float, where: str) -> None:
    out: Path = args.out
    stem = "sweep_fashion_mnist" + ("_fast" if args.fast else "")
    cols = ["width", "lr", "seed", "final_accuracy", "final_val_accuracy", "final_val_loss",
            "epochs", "error"]  # fmt: skip
    table.to_csv(out / f"{stem}.csv", cols)
    fig = out / "figures" / f"{stem}_heatmap.png"
    plot.heatmap(table, "width", "lr", "final_val_accuracy", fmt=".3f", dpi=80, path=fig,
                 title="validation accuracy, median over seeds")  # fmt: skip
    curves = out / "figures" / f"{stem}_curves.png"
    title = "validation loss per epoch, every cell (bold: median per rate)"
    plot.cell_curves(table, "val_loss", by="lr", cmap="plasma", dpi=80, path=curves, title=title)
    n = len(table)
    text = "\n\n".join([
        "## Sweep: Fashion-MNIST MLP width × learning rate × seed",
        f"<!-- generated by `python scripts/sweep_fashion_mnist.py` ({where}) in {seconds:.0f} "
        "s; edit the script, not this file -->",
        f"{n} cells: 784-width-10 ReLU MLP, float32, softmax cross-entropy, SGD, minibatches of "
        f"100, {args.epochs} epochs on {args.train:,} training images, scored on {args.val:,} "
        f"held-out training images; each (width) group of rates × seeds stacked in tasks of "
        f"{args.task_size} cells; {seconds:.0f} s on {where}.",
        f"![validation accuracy heatmap](figures/{fig.name})",
        f"![validation loss curves](figures/{curves.name})",
        table.to_markdown(cols, fmt=".4f"),
    ])  # fmt: skip
    (out / f"{stem}.md").write_text(text + "\n")
    print(f"wrote {out / f'{stem}.md'}, {out / f'{stem}.csv'}, {fig} and {curves}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.fast:
        args.train, args.val, args.epochs = 300, 200, 1
    cells = cells_for(args)
    task = sweep.Fit(experiment, epochs=args.epochs, batch_size=100,
                     metrics={"accuracy": metrics.accuracy})  # fmt: skip
    executor, closing = engine(args)
    where = (
        "this process" if executor is None
        else f"Dask at {args.scheduler}" if args.scheduler
        else f"a LocalCluster of {args.workers} workers"
    )  # fmt: skip
    start = time.perf_counter()
    try:
        table = sweep.run(
            task, cells, executor=executor, directory=args.directory, task_size=args.task_size
        )
    finally:
        for c in closing if isinstance(closing, tuple) else [closing] if closing else []:
            c.close()
    seconds = time.perf_counter() - start
    print(table.to_markdown(["width", "lr", "seed", "final_val_accuracy", "error"]))
    write(table, args, seconds, where)
    return 1 if table.errors else 0


if __name__ == "__main__":
    sys.exit(main())
