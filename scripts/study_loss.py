"""Study 6, loss: MSE, half-MSE and binary cross-entropy on the lab network.

The same network and rate; the losses differ in scale and gradient, so besides the lab's rule
(loss < 0.01, which means a different fit for each loss) the table gives the epochs to 100%
accuracy. A loop over the losses, the seeds of each stacked into one fit per data set.

    python scripts/study_loss.py [--seeds 6] [--epochs 20000] [--out ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lab_studies import (
    LAB_LR,
    THRESHOLD,
    Results,
    Setting,
    StudyResult,
    accuracy_summary,
    fmt_int,
    lab_net,
    run_settings,
    settings_figures,
    settings_table,
    study_main,
)

from fnnet import losses

REPORTS = (
    "A and B: MSE; E: ½(label − y)² (½-MSE), lr 0.5, 1,000 epochs → predictions within 0.1 of "
    "the labels; C: binary cross-entropy, linear lr 0.01, 500 epochs → 100%, loss 0.0428; XOR "
    "[2,5,3,1] lr 0.1, 1,000 epochs → 100%, loss 0.0084."
)


SEEDS = 6
EPOCHS = 20_000


def run(args: argparse.Namespace, cmd: str) -> StudyResult:
    seeds, cap = (2, 200) if args.fast else (args.seeds, args.epochs)
    out: Path = args.out
    start = time.perf_counter()
    net = lab_net()
    chosen = [
        Setting("MSE (lab)", net, losses.mse),
        Setting("half-MSE (E)", net, losses.half_mse),
        Setting("binary cross-entropy (C)", net, losses.binary_cross_entropy),
    ]
    if args.fast:
        chosen = chosen[1:]
    results = run_settings(chosen, seeds, cap)
    table = settings_table(chosen, results, cap, perfect=True)
    figures = settings_figures(chosen, results, cap, out, "loss", "Loss", loss_name="loss")
    return StudyResult(
        name="loss",
        title="6. Loss",
        command=cmd,
        setup=(
            f"2-4-4-1, sigmoid/sigmoid, gradient descent at lr {LAB_LR:g}, stopping when the "
            f"loss is below {THRESHOLD:g} or at {fmt_int(cap)} epochs; a loop over the losses, "
            f"each one stacked fit of {seeds} seeds per data set. 'Epochs to 100% acc.' is the "
            "first epoch at which every point is on the right side of 0.5."
        ),
        tables=table,
        discussion=discussion(chosen, results),
        reports=REPORTS,
        figures=figures,
        seconds=time.perf_counter() - start,
    )


def discussion(chosen: Sequence[Setting], results: Results) -> str:
    def med(name: str, i: int, perfect: bool) -> str:
        part = results[name][i][LAB_LR]
        values = part.perfect if perfect else part.reached
        ok = values[values > 0]
        return fmt_int(float(np.median(ok))) if ok.size else "not reached"

    rows = "; ".join(
        f"{s.label} {med('linear', i, False)} / {med('xor', i, False)} to the threshold, "
        f"{med('linear', i, True)} / {med('xor', i, True)} to 100%"
        for i, s in enumerate(chosen)
    )
    half = next((i for i, s in enumerate(chosen) if s.label.startswith("half")), None)
    note = ""
    if half is not None:
        acc = results["linear"][half][LAB_LR].final_accuracy
        if np.any(acc < 1.0):
            note = (
                f" Stopping at half-MSE < {THRESHOLD:g} (MSE < {2 * THRESHOLD:g}) ends the linear "
                f"runs at {accuracy_summary(acc)} accuracy: the lab's rule is looser for E's loss."
            )
    return (
        f"Median epochs (linear / XOR): {rows}. Half-MSE is MSE with half the gradient, so at "
        f"the same rate it is gradient descent at half the rate.{note} Cross-entropy's gradient "
        "with respect to the output's pre-activation is (p − t), without MSE's extra factor "
        "p(1 − p), so outputs that are confidently wrong still learn: it classifies every point "
        "correctly in fewer epochs than MSE. The lab's threshold 0.01 is a different bar for "
        "each loss, so only the 100% column compares the losses fairly."
    )


def main(argv: Sequence[str] | None = None) -> int:
    return study_main("study_loss.py", __doc__, SEEDS, EPOCHS, run, argv)


if __name__ == "__main__":
    sys.exit(main())
