"""Study 7, capacity: the growing-data test on the linear set (reported earlier with ½-MSE at
lr 0.5).

Start with 100 linear points. Whenever the model makes no error (an error is a point with
|prediction − label| > 0.1) add 100 points (and test again); otherwise train 200 more epochs.
Stop at 1,000 points solved or 10,000 epochs. The table gives, for each data size, the epoch at
which the model first solved it.

Each seed draws its own points (``data.linear(1000, seed)``, used in order) and its own initial
weights, and its data grows on its own schedule, so the seeds are a loop, not a stack.

    python scripts/study_capacity.py [--seeds 5] [--epochs 10000] [--out ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from common import fmt_int
from lab_studies import Findings, LossFn, Study, lab_net, markdown_table

from fnnet import data, losses, optim, plot, train
from fnnet.arrays import Array

START, STEP, MAX_POINTS, CHUNK, TOLERANCE = 100, 100, 1000, 200, 0.1
REPORTED = (
    (1000, 100),
    (1200, 200),
    (1600, 300),
    (1600, 400),
    (2000, 500),
    (2600, 600),
    (3600, 700),
    (3600, 800),
    (4000, 900),
    (4000, 1000),
)
"""The growing-data run reported earlier (2-4-4-1 sigmoid, ½-MSE, lr 0.5): (epoch at which
that many points were solved, points)."""
REPORTED_LABEL = "reported (½-MSE, lr 0.5)"
REPORTS = (
    "2-4-4-1 sigmoid, ½-MSE, lr 0.5, (epochs, points): "
    + " ".join(f"({e:,}, {p})" for e, p in REPORTED)
    + "."
)


def half_sse(pred: Array, target: Array) -> tuple[Array, Array]:
    """½(label − y)² summed over the points (a user-defined loss: fnnet's losses are means).

    Summed, the gradient grows with the number of points, so the step does too — the likely
    reading of the loss of the reported run, whose numbers fit it (see the discussion).
    """
    value, grad = losses.half_mse(pred, target)
    n = pred.shape[-2] * pred.shape[-1]
    return value * n, grad * n


@attrs.frozen
class Setup:
    label: str
    loss: LossFn
    lr: float


@attrs.frozen
class Growth:
    """One seed's run: ``solved[p]`` = epoch at which ``p`` points were first solved."""

    solved: dict[int, int]
    points: Array  # (T,) points trained on in each epoch
    loss: Array  # (T,)
    final_points: int
    params: Any
    x: Array
    y: Array


def grow(setup: Setup, seed: int, max_epochs: int, max_points: int) -> Growth:
    x_all, y_all = data.linear(max_points, seed)
    net = lab_net()
    _, params = net.init(seed, (2,))
    opt = optim.sgd(setup.lr)
    opt_state = None
    n, epochs = START, 0
    solved: dict[int, int] = {}
    points: list[Array] = []
    loss: list[Array] = []
    while True:
        x, y = x_all[:n], y_all[:n]
        errors = int(np.sum(np.abs(net.apply(params, x) - y) > TOLERANCE))
        if errors == 0:
            solved[n] = epochs
            if n >= max_points:
                break
            n = min(n + STEP, max_points)
            continue
        if epochs >= max_epochs:
            break
        r = train.fit(net, setup.loss, opt, params, (x, y), epochs=CHUNK, opt_state=opt_state)
        params, opt_state = r.params, r.opt_state
        epochs += r.epochs
        points.append(np.full(r.epochs, float(n)))
        loss.append(np.asarray(r.history.loss, dtype=np.float64))
    empty = np.zeros(0)
    return Growth(
        solved,
        np.concatenate(points) if points else empty,
        np.concatenate(loss) if loss else empty,
        max(solved) if solved else 0,
        params,
        x_all[: max(solved, default=START)],
        y_all[: max(solved, default=START)],
    )


def report_points(length: int) -> Array:
    """The reported run's schedule as points trained on per epoch (a step curve)."""
    e = np.arange(1, length + 1)
    solved = np.array([ep for ep, _ in REPORTED])
    n = START + STEP * np.searchsorted(solved, e, side="right")
    return np.minimum(n, MAX_POINTS).astype(np.float64)


def run(args: argparse.Namespace, seeds: int, cap: int) -> Findings:
    max_points = 300 if args.fast else MAX_POINTS
    setups = [
        Setup("½-MSE summed over points, lr 0.5", half_sse, 0.5),
        Setup("½-MSE (mean), lr 0.5", losses.half_mse, 0.5),
        Setup("MSE (mean), lr 5", losses.mse, 5.0),
    ]
    if args.fast:
        setups = setups[2:]
    runs = {s.label: [grow(s, seed, cap, max_points) for seed in range(seeds)] for s in setups}
    setup = (
        f"2-4-4-1, sigmoid/sigmoid, gradient descent in chunks of {CHUNK} epochs, up to "
        f"{fmt_int(cap)} epochs and {max_points:,} points; {seeds} seeds per setup, each "
        "with its own points and initial weights (a loop: every seed's data grows on its own "
        "schedule). Cells: the epoch at which that many points were first solved (no point "
        f"off by more than {TOLERANCE:g}), median [range] over the seeds that got there."
    )
    return Findings(
        setup,
        growth_table(setups, runs, seeds, cap, max_points),
        discussion(setups, runs, seeds),
        figures_for(setups, runs, args.out),
    )


def growth_table(
    setups: Sequence[Setup], runs: dict[str, list[Growth]], seeds: int, cap: int, max_points: int
) -> str:
    """One row per data size: the reported epoch, then each setup's epochs over its seeds."""
    rows = []
    for p in range(START, max_points + 1, STEP):
        row = [str(p), next((f"{e:,}" for e, q in REPORTED if q == p), "–")]
        for s in setups:
            hit = np.array([g.solved[p] for g in runs[s.label] if p in g.solved])
            if hit.size == 0:
                row.append(f"not in {fmt_int(cap)} (0/{seeds})")
                continue
            text = fmt_int(float(np.median(hit)))
            if hit.size > 1:
                text += f" [{fmt_int(hit.min())}–{fmt_int(hit.max())}]"
            if hit.size < seeds:
                text += f" ({hit.size}/{seeds})"
            row.append(text)
        rows.append(row)
    headers = ["points", f"{REPORTED_LABEL}: epochs"] + [f"{s.label}: epochs" for s in setups]
    return markdown_table(headers, rows)


def figures_for(setups: Sequence[Setup], runs: dict[str, list[Growth]], out: Path) -> list[Path]:
    curves = [g.points for s in setups for g in runs[s.label]]
    length = max(max((c.shape[0] for c in curves), default=1), REPORTED[-1][0])
    series = [np.pad(c, (0, length - c.shape[0]), constant_values=np.nan) for c in curves]
    labels = [s.label for s in setups for _ in runs[s.label]]
    series.append(report_points(length))
    labels.append(REPORTED_LABEL)
    path = out / "capacity_points.png"
    plot.stacked_curves(
        np.stack(series, axis=1),
        labels,
        log_scale=False,
        median=False,
        ylabel="points trained on",
        legend_title="setup (one line per seed)",
        colors={REPORTED_LABEL: "black"},
        title="Capacity: the linear set grows by 100 points\nwhenever no point is off by > 0.1",
        path=path,
        dpi=80,
    )
    best = max((g for s in setups for g in runs[s.label]), key=lambda g: g.final_points)
    net = lab_net()
    params = best.params
    boundary = out / "capacity_boundary.png"
    plot.decision_boundary(
        lambda g: net.apply(params, g),
        best.x,
        best.y,
        title=f"Capacity: the model that solved the most points ({best.final_points})",
        path=boundary,
        dpi=80,
    )
    return [path, boundary]


def discussion(setups: Sequence[Setup], runs: dict[str, list[Growth]], seeds: int) -> str:
    def finals(s: Setup) -> str:
        f = [g.final_points for g in runs[s.label]]
        top = max(runs[s.label], key=lambda g: (g.final_points, -g.solved.get(g.final_points, 0)))
        best = (
            f"; best seed {top.final_points:,} points at epoch {top.solved[top.final_points]:,}"
            if top.final_points
            else ""
        )
        return f"{s.label}: median {int(np.median(f)):,} points (range {min(f):,}–{max(f):,}{best})"

    return (
        "Points solved at the end of the run: "
        + "; ".join(finals(s) for s in setups)
        + ". 'No point off by more than 0.1' is a hard rule on uniform points: every new batch "
        "brings points closer to the diagonal, where the output must still be within 0.1 of 0 "
        "or 1, so the weights must grow steep. With fnnet's mean ½-MSE at the reported rate, "
        "0.5, the model never gets there in 10,000 epochs. Summed over the points, "
        "½(label − y)² makes the step grow with the data, and the reported kind of growth "
        "appears — but the seeds spread widely, so the reported single run (1,000 points at "
        "4,000 epochs) was a lucky one. The summed reading also fits the same run's other "
        "number: on XOR's 21 points it is MSE at lr ≈ 5, which reaches the threshold in about "
        "1,000 epochs (the learning-rate study), the reported '1,000 epochs'."
    )


STUDY = Study(
    __file__,
    __doc__,
    "7. Capacity (growing data)",
    REPORTS,
    run,
    seeds=5,
    epochs=10_000,
    fast=(2, 400),
)

if __name__ == "__main__":
    sys.exit(STUDY.main())
