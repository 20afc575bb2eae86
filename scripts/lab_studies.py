"""What the lab and its studies share: the lab's setup, stacked sweeps, summaries, the study
record and its command line (printing and markdown tables come from ``scripts/common.py``).

The study scripts (``scripts/study_*.py``) import this module; each extends one question of the
lab, built only from fnnet's public API, and defines a :class:`Study` (``STUDY``) with
``main(argv) -> int`` and a ``--fast`` mode. Running a study gives a :class:`StudyResult` (its
markdown tables, the command that prints them, a few sentences on what they show beside the
numbers reported earlier for the lab, and its figures), which ``scripts/lab_all.py`` gathers
into ``docs/RESULTS-lab.md``.

Conventions of every study:

- the lab network ``mlp([2, 4, 4, 1])``, sigmoid hidden and output, MSE, plain gradient descent,
  full batch, stopping at loss < 0.01 (:data:`THRESHOLD`) or an epoch cap stated in the table;
- every model of a stack stops on its own when its loss is below the threshold, frozen where it
  would have stopped alone (its history repeating its last epoch), and a stack ends when every
  model has stopped or at the cap: a stacked fit gives the numbers of separate fits, and a
  model's final loss and accuracy are where it stopped; a model whose loss turns NaN/inf is
  frozen and recorded as NaN from that epoch while the others train on;
- the data sets: ``linear`` (100 points, key 0) and the lab's 21 ``xor`` points, the same for
  every seed; seeds vary the initial weights (``net.init(seed, ...)``);
- every study is a :mod:`fnnet.sweep` grid: cells that differ only in seed and learning rate
  train as one stacked fit (``sweep.Fit``); architectures, losses and data sets are separate
  stacks;
- "epochs" is :func:`fnnet.train.first_below` on the loss history: the first epoch whose loss
  (measured before that epoch's update) is below the threshold.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import common
import numpy as np
from common import fmt_int

from fnnet import data, layers, losses, metrics, optim, plot, sweep
from fnnet.arrays import Array, IntArray
from fnnet.layers import Layer
from fnnet.optim import Optimizer

THRESHOLD = 0.01
"""The lab's stopping rule: training loss below 0.01."""
LAB_SIZES = (2, 4, 4, 1)
LAB_LR = 1.0
"""The default learning rate of ``scripts/lab.py`` and the fixed-rate studies: the largest rate
of the learning-rate study at which every seed's loss falls monotonically on both data sets."""
LINEAR_POINTS = 100
DATA_KEY = 0
DATASETS = ("linear", "xor")
DATASET_TITLES = {"linear": "linear (100 points)", "xor": "XOR (21 points)"}
TABLE_DPI = 80

STOPPED_NOTE = (
    f"Each model stops at loss < {THRESHOLD:g}, frozen there as it would be alone, so "
    "'accuracy' is where it stopped and 'epochs to 100% acc.' counts only the seeds at 100% by "
    "then."
)
"""How a study with an epochs-to-100%-accuracy column says what stopping at the threshold does."""

LossFn = Callable[[Array, Any], tuple[Array, Array]]


def dataset(name: str, points: int = LINEAR_POINTS, key: int = DATA_KEY) -> tuple[Array, Array]:
    """The lab's data set ``name``: ``"linear"`` (``points`` points, ``key``) or ``"xor"``."""
    if name == "linear":
        return data.linear(points, key)
    if name == "xor":
        return data.xor()
    raise ValueError(f"dataset: unknown data set {name!r}; use one of {DATASETS}")


def lab_net(
    hidden_sizes: Sequence[int] = LAB_SIZES[1:-1],
    hidden: Layer[None, Array] = layers.sigmoid,
    output: Layer[None, Array] = layers.sigmoid,
) -> layers.Serial:
    """The lab network ``2 -> hidden_sizes -> 1``."""
    return layers.mlp([2, *hidden_sizes, 1], hidden=hidden, output=output)


# --- the seeds of one setting ------------------------------------------------------------------


def _lab_setup(cell: sweep.Cell) -> sweep.Setup:
    """A study cell as one experiment: its net, loss, optimizer (``cell["lr"]`` is one rate per
    stacked model) and data set."""
    return sweep.Setup(cell["net"], cell["loss"], cell["opt"](cell["lr"]), dataset(cell["data"]))


def lab_fit(epochs: int, threshold: float = THRESHOLD, stop_early: bool = True) -> sweep.Fit:
    """The studies' task: full batch, each model stopping when its loss is below ``threshold``
    (as it would alone; with ``stop_early=False`` every model trains to ``epochs``), training
    accuracy recorded, params kept for the boundary figures."""
    metrics_ = {"accuracy": metrics.accuracy}
    return sweep.Fit(
        _lab_setup,
        epochs,
        threshold=threshold,
        stop_early=stop_early,
        metrics=metrics_,
        keep_params=True,
    )


@attrs.frozen
class Seeds:
    """The seeds of one setting (cells of one stacked fit), one column per seed."""

    loss: Array  # (T, M) training loss per epoch (a stopped model's repeats; NaN once diverged)
    accuracy: Array  # (T, M) training accuracy per epoch
    final_loss: Array  # (M,) loss of the final params (where each model stopped)
    final_accuracy: Array  # (M,)
    reached: IntArray  # (M,) first epoch with loss < threshold, -1 if never
    perfect: IntArray  # (M,) first epoch with 100% accuracy, -1 if never
    params: list[Any]  # each seed's final params
    epochs: int  # epochs the whole stack ran (until its last model stopped)
    stop_reason: str
    seconds: float  # wall time of the whole stacked fit these seeds were part of

    @property
    def models(self) -> int:
        return int(self.loss.shape[1])

    @property
    def diverged_at(self) -> IntArray:
        """Per model, the first epoch whose loss is not finite (NaN/inf), -1 if none."""
        bad = ~np.isfinite(self.loss)
        out: IntArray = np.where(bad.any(axis=0), bad.argmax(axis=0) + 1, -1)
        return out

    @property
    def diverged(self) -> Any:
        """Per model, whether its loss turned NaN/inf."""
        return self.diverged_at > 0

    def accuracy_at_reached(self) -> Array:
        """Per model, the training accuracy at the epoch it reached the threshold (NaN if it
        never did): what stopping there would have given."""
        at = np.maximum(self.reached, 1) - 1
        acc = self.accuracy[at, np.arange(self.models)]
        out: Array = np.where(self.reached > 0, acc, np.nan)
        return out

    def predict(self, net: Layer[Any, Any], i: int) -> Callable[[Array], Array]:
        """Model ``i``'s probability function, for a decision-boundary figure."""
        p = self.params[i]
        return lambda g: net.apply(p, g)

    def rising(self, i: int) -> float:
        """Fraction of model ``i``'s epochs (up to reaching the threshold) whose loss rose."""
        stop = int(self.reached[i]) if self.reached[i] > 0 else self.loss.shape[0]
        d = np.diff(self.loss[:stop, i])
        return float(np.mean(d > 0)) if d.size else 0.0


def seeds_of(part: sweep.Table) -> Seeds:
    """The records of one setting's seeds as columns."""
    if part.errors or not len(part):
        raise RuntimeError(f"lab_studies: a study cell failed: {part.errors[:1] or 'no cells'}")
    loss = np.stack(part.column("loss"), axis=1)
    accuracy = np.stack(part.column("accuracy"), axis=1)
    return Seeds(
        loss=loss,
        accuracy=accuracy,
        final_loss=np.asarray(part.column("final_loss"), dtype=np.float64),
        final_accuracy=np.asarray(part.column("final_accuracy"), dtype=np.float64),
        reached=np.asarray(part.column("reached"), dtype=np.int64),
        perfect=first_at_least(accuracy, 1.0),
        params=part.column("params"),
        epochs=int(part[0]["epochs"]),
        stop_reason=str(part[0]["stop_reason"]),
        seconds=float(part[0]["seconds"]),
    )


def first_at_least(series: Array, value: float) -> IntArray:
    """Per model, the 1-based first epoch where ``series`` (``(T, M)``) is ``>= value``, or -1."""
    hit = series >= value
    out: IntArray = np.where(hit.any(axis=0), hit.argmax(axis=0) + 1, -1)
    return out


# --- summaries ---------------------------------------------------------------------------------


def median_epochs(reached: IntArray, none: str = "not reached") -> str:
    """The median of the epochs > 0 (the models that reached), or ``none`` when none did."""
    ok = reached[reached > 0]
    return fmt_int(float(np.median(ok))) if ok.size else none


def epochs_summary(reached: IntArray, cap: int) -> str:
    """``median [min–max]`` of the models that reached, and how many did, e.g.
    ``1,004 [891–1,134]`` or ``4,189 [3,998–9,115] (9/10)`` or ``not in 20,000 (0/10)``."""
    ok = reached[reached > 0]
    n = reached.shape[0]
    if ok.size == 0:
        return f"not in {fmt_int(cap)} (0/{n})"
    core = fmt_int(float(np.median(ok)))
    if ok.size > 1:
        core += f" [{fmt_int(ok.min())}–{fmt_int(ok.max())}]"
    return core if ok.size == n else f"{core} ({ok.size}/{n})"


def percent(v: float) -> str:
    return f"{100 * v:.0f}%" if abs(100 * v - round(100 * v)) < 0.05 else f"{100 * v:.1f}%"


def accuracy_summary(acc: Array) -> str:
    """``100%`` when every model is perfect, else ``median [min–max]``."""
    if np.all(acc >= 1.0):
        return "100%"
    lo, med, hi = float(acc.min()), float(np.median(acc)), float(acc.max())
    if lo == hi:
        return percent(lo)
    return f"{percent(med)} [{percent(lo)}–{percent(hi)}]"


def loss_summary(values: Array) -> str:
    """Median loss and range, 3 significant digits."""
    lo, med, hi = float(np.min(values)), float(np.median(values)), float(np.max(values))
    if not np.isfinite(hi):
        return f"{med:.3g} (some non-finite)"
    return f"{med:.3g} [{lo:.3g}–{hi:.3g}]" if values.size > 1 else f"{med:.3g}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A study's table: :func:`common.markdown_table`, compact (its cells are long phrases)."""
    return common.markdown_table(headers, rows, compact=True)


def pad_columns(series: Sequence[Array]) -> Array:
    """Concatenate ``(T_i, M_i)`` series along models, padding shorter runs with NaN."""
    t = max(s.shape[0] for s in series)
    out = [np.pad(s, ((0, t - s.shape[0]), (0, 0)), constant_values=np.nan) for s in series]
    return np.concatenate(out, axis=1)


# --- the study record and command line ---------------------------------------------------------


@attrs.frozen
class StudyResult:
    """What a study produced: tables, the command that printed them, prose, figures."""

    name: str
    title: str
    command: str
    setup: str
    tables: str
    discussion: str
    reports: str
    figures: list[Path]
    seconds: float

    def markdown(self, heading: str = "###", figure_dir: Path | None = None) -> str:
        """The study as a markdown section (figures linked relative to ``figure_dir``)."""
        parts = [
            f"{heading} {self.title}",
            f"`{self.command}` ({self.seconds:.0f} s). {self.setup}",
            self.tables,
            f"{REPORTED} {self.reports}",
            self.discussion,
        ]
        return "\n\n".join(parts) + "\n"


REPORTED = "**Reported earlier for this lab:**"
"""How a study introduces the numbers earlier runs of the lab reported, beside its own."""


@attrs.frozen
class Findings:
    """What one run of a study found: its setup in words, its tables, what they show, figures."""

    setup: str
    tables: str
    discussion: str
    figures: list[Path]


@attrs.frozen
class Study:
    """A study script: where it is and what it says it does (``__file__``, ``__doc__``), its
    heading, the numbers reported earlier that it compares with, ``run(args, seeds, cap) ->
    Findings`` (``seeds`` and the epoch ``cap`` already chosen: ``fast`` with ``--fast``, else
    ``--seeds`` and ``--epochs``) and its defaults."""

    path: str  # the script's __file__
    doc: str | None  # its docstring: the first paragraph describes it in --help
    title: str  # its heading in the results document
    reports: str
    run: Callable[[argparse.Namespace, int, int], Findings]
    seeds: int = attrs.field(kw_only=True)
    epochs: int = attrs.field(kw_only=True)
    fast: tuple[int, int] = attrs.field(kw_only=True)  # seeds and epoch cap of --fast

    @property
    def script(self) -> str:
        """The file in ``scripts/``, e.g. ``study_lr.py``."""
        return Path(self.path).name

    @property
    def name(self) -> str:
        """The stem of its outputs, e.g. ``lr``."""
        return Path(self.path).stem.removeprefix("study_")

    def result(self, args: argparse.Namespace, cmd: str) -> StudyResult:
        """Run the study with parsed options; ``cmd`` is the command line that reproduces it."""
        seeds, cap = self.fast if args.fast else (args.seeds, args.epochs)
        start = time.perf_counter()
        found = self.run(args, seeds, cap)
        return StudyResult(
            name=self.name,
            title=self.title,
            command=cmd,
            setup=found.setup,
            tables=found.tables,
            discussion=found.discussion,
            reports=self.reports,
            figures=found.figures,
            seconds=time.perf_counter() - start,
        )

    def parse(self, argv: Sequence[str] | None) -> tuple[argparse.Namespace, str]:
        """Parse the study's options; returns them and the command line that reproduces it."""
        args_list = common.script_argv(argv)
        p = parser((self.doc or self.script).split("\n\n")[0], self.seeds, self.epochs)
        args = p.parse_args(args_list)
        if args.seeds < 1 or args.epochs < 1:
            p.error("--seeds and --epochs must be positive")
        return args, command(self.script, args_list)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """The script's ``main``: parse the options, run, print the tables, save them."""
        args, cmd = self.parse(argv)
        emit(self.result(args, cmd), args.out)
        return 0


def parser(description: str, seeds: int, epochs: int) -> argparse.ArgumentParser:
    """The options every study shares: ``--fast``, ``--out``, ``--seeds``, ``--epochs``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--out", type=Path, default=Path("results/lab/studies"), help="folder for the figures"
    )
    p.add_argument("--seeds", type=int, default=seeds, help=f"init seeds (default {seeds})")
    p.add_argument(
        "--epochs", type=int, default=epochs, help=f"epoch cap per fit (default {epochs:,})"
    )
    p.add_argument("--fast", action="store_true", help="few epochs and seeds (for the tests)")
    return p


def command(script: str, argv: Sequence[str]) -> str:
    """The command line that reproduces a run (without ``--out``)."""
    shown: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--out":
            skip = True
            continue
        if a.startswith("--out="):
            continue
        shown.append(a)
    return common.command_line(script, shown)


def emit(result: StudyResult, out: Path) -> None:
    """Print the study's tables and write them to ``<out>/<name>.md``."""
    out.mkdir(parents=True, exist_ok=True)
    text = result.markdown()
    (out / f"{result.name}.md").write_text(text)
    common.say(text, *(f"figure: {f}" for f in result.figures))


def diverged_summary(part: Seeds) -> str:
    """The seeds whose loss turned NaN/inf and when, e.g. ``diverged (6/6): loss NaN/inf at
    epoch 5 [4–6]``."""
    at = part.diverged_at[part.diverged]
    when = fmt_int(float(np.median(at)))
    if at.size > 1 and at.min() != at.max():
        when += f" [{fmt_int(at.min())}–{fmt_int(at.max())}]"
    return f"diverged ({at.size}/{part.models}): loss NaN/inf at epoch {when}"


def short_note(part: Seeds) -> str:
    """A panel note: how many seeds reached the threshold, the median epochs, the accuracy
    (or when they diverged)."""
    if np.all(part.diverged):
        return diverged_summary(part).replace(": ", "\n", 1)
    ok = part.reached[part.reached > 0]
    n = part.reached.shape[0]
    where = (
        f", median {fmt_int(float(np.median(ok)))} ep"
        if ok.size
        else f" in {fmt_int(part.epochs)} ep"
    )
    return f"{ok.size}/{n} < {THRESHOLD:g}{where}\nacc {accuracy_summary(part.final_accuracy)}"


def panel(label: str, part: Seeds, net: Layer[Any, Any]) -> plot.StudyPanel:
    """A study-grid panel for one setting: every seed's curve, seed 0's decision boundary."""
    return plot.StudyPanel(label, part.loss, part.predict(net, 0), note=short_note(part))


# --- studies that loop over settings -----------------------------------------------------------


def sgd(rates: Array) -> Optimizer[Any]:
    """Plain gradient descent with one rate per stacked model."""
    return optim.sgd(rates)


@attrs.frozen
class Setting:
    """One setting of a study that loops: a network, a loss, an optimizer and its rates.

    The rates (and the seeds) of a setting are stacked: ``make_opt`` gets one learning rate per
    model and the setting trains as one fit per data set.
    """

    label: str
    net: Layer[Any, Any]
    loss: LossFn = losses.mse
    make_opt: Callable[[Array], Optimizer[Any]] = sgd
    rates: tuple[float, ...] = (LAB_LR,)


Results = dict[str, list[dict[float, Seeds]]]
"""Per data set, per setting (in order), per learning rate: the seeds' sweep."""


def run_settings(
    settings: Sequence[Setting],
    seeds: int,
    cap: int,
    names: Sequence[str] = DATASETS,
    stop_early: bool = True,
) -> Results:
    """Train every setting on every data set: one stacked fit of ``rates × seeds`` models each
    (a sweep whose cells differ in data set and setting, and in rate and seed within a stack);
    each model stops at the threshold, or with ``stop_early=False`` trains to ``cap``."""
    cells = [
        cell
        for name in names
        for i, s in enumerate(settings)
        for cell in sweep.grid(
            data=[name], setting=[i], net=[s.net], loss=[s.loss], opt=[s.make_opt],
            lr=s.rates, seed=range(seeds),
        )
    ]  # fmt: skip
    table = sweep.run(lab_fit(cap, stop_early=stop_early), cells, progress=False)
    return {
        name: [
            {lr: seeds_of(table.where(data=name, setting=i, lr=lr)) for lr in s.rates}
            for i, s in enumerate(settings)
        ]
        for name in names
    }


def settings_table(
    settings: Sequence[Setting],
    results: Results,
    perfect: bool = False,
    timing: bool = False,
) -> str:
    """One row per (setting, rate); per data set: epochs to the threshold and accuracy (and,
    with ``perfect``, epochs to 100% accuracy; with ``timing``, ms per epoch of the stack)."""
    headers = ["setting", "lr"]
    for name in results:
        title = DATASET_TITLES[name].split(" (")[0]
        headers.append(f"{title}: epochs to loss < {THRESHOLD:g}")
        if perfect:
            headers.append(f"{title}: epochs to 100% acc.")
        headers.append(f"{title}: accuracy")
        if timing:
            headers.append(f"{title}: ms/epoch")
    rows = [
        [s.label, f"{lr:g}"]
        + [cell for name in results for cell in _cells(results[name][i][lr], perfect, timing)]
        for i, s in enumerate(settings)
        for lr in s.rates
    ]
    return markdown_table(headers, rows)


def _cells(part: Seeds, perfect: bool, timing: bool) -> list[str]:
    """One data set's cells in a :func:`settings_table` row (models that diverged are counted
    apart; the others' epochs and accuracy follow)."""
    live = ~part.diverged
    if not np.any(live):
        return [
            diverged_summary(part),
            *(["–"] if perfect else []),
            "–",
            *(["–"] if timing else []),
        ]
    gone = f"{diverged_summary(part)}; the others: " if np.any(part.diverged) else ""
    cells = [gone + epochs_summary(part.reached[live], part.epochs)]
    if perfect:
        cells.append(epochs_summary(part.perfect[live], part.epochs))
    cells.append(accuracy_summary(part.final_accuracy[live]))
    if timing:
        cells.append(f"{1e3 * part.seconds / max(part.epochs, 1):.2f}")
    return cells


def settings_study(
    settings: Sequence[Setting],
    seeds: int,
    cap: int,
    out: Path,
    stem: str,
    title: str,
    *,
    perfect: bool = False,
    timing: bool = False,
    best: bool = False,
    loss_name: str = "MSE",
    stop_early: bool = True,
) -> tuple[Results, str, list[Path]]:
    """A study that loops over settings: train them (:func:`run_settings`), their table
    (:func:`settings_table`) and their grids (:func:`settings_figures`, titled ``title``, files
    ``<out>/<stem>_<data>_grid.png``)."""
    results = run_settings(settings, seeds, cap, stop_early=stop_early)
    table = settings_table(settings, results, perfect=perfect, timing=timing)
    figures = settings_figures(settings, results, out, stem, title, best, loss_name)
    return results, table, figures


def grid_columns(n: int) -> int:
    """Columns for ``n`` study-grid panels: rows as full as possible, at most 5 wide."""
    return {5: 5, 6: 3, 9: 5, 10: 5}.get(n, min(n, 4))


def best_rate(parts: dict[float, Seeds]) -> float:
    """The rate at which the most seeds reached the threshold, then the fewest median epochs."""

    def score(lr: float) -> tuple[int, float]:
        ok = parts[lr].reached[parts[lr].reached > 0]
        return (-ok.size, float(np.median(ok)) if ok.size else float("inf"))

    return min(parts, key=score)


def settings_figures(
    settings: Sequence[Setting],
    results: Results,
    out: Path,
    stem: str,
    title: str,
    best: bool = False,
    loss_name: str = "MSE",
) -> list[Path]:
    """A study grid per data set: one panel per (setting, rate), or with ``best`` one panel per
    setting at its :func:`best_rate` on that data set."""
    paths = []
    for name, per_setting in results.items():
        panels = []
        for s, parts in zip(settings, per_setting, strict=True):
            for lr in (best_rate(parts),) if best else s.rates:
                label = s.label if len(s.rates) == 1 or best else f"{s.label}, lr {lr:g}"
                if best and len(s.rates) > 1:
                    label += f" (lr {lr:g})"
                panels.append(panel(label, parts[lr], s.net))
        path = out / f"{stem}_{name}_grid.png"
        plot.study_grid(
            panels,
            *dataset(name),
            columns=grid_columns(len(panels)),
            threshold=THRESHOLD,
            loss_name=loss_name,
            title=f"{title} on {DATASET_TITLES[name]}: every seed's loss, seed 0's boundary",
            path=path,
        )
        paths.append(path)
    return paths
