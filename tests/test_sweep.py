"""fnnet.sweep: grids, stacking inside a task, saving and resuming, and the real engines — a
process pool and a Dask ``LocalCluster`` (2 worker processes) started here: the same records
in-process and on the cluster, a worker killed mid-sweep, a resumed sweep, a failing cell.

The task functions live at module level so worker processes can import them by reference.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import data, layers, losses, optim, train, tree
from fnnet.sweep import Cell, Fit, Setup, Table, cached, grid, init_stack, label, run, zip_axes

NET = layers.mlp([2, 3, 1], hidden=layers.tanh, output=layers.sigmoid)
WIDE = layers.mlp([2, 5, 1], hidden=layers.tanh, output=layers.sigmoid)


# --- task functions (module level: worker processes import them) ------------------------------


def xor_setup(cell: Cell) -> Setup:
    """The XOR net; ``width`` picks the net, ``lr`` is per model. A negative rate raises (in
    ``optim.sgd``), which is how the tests make one cell fail; a ``kill`` field names a marker
    file: the first process to see it missing creates it and SIGKILLs itself."""
    kill = cell.get("kill")
    if kill and not os.path.exists(kill):
        Path(kill).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    net = WIDE if cell.get("width", 3) == 5 else NET
    return Setup(net, losses.mse, optim.sgd(cell["lr"]), data.xor())


XOR_FIT = Fit(xor_setup, epochs=40, threshold=0.2)


def square(cell: Cell) -> dict[str, Any]:
    """A plain per-cell function. It leaves a file ``x<x>-<pid>`` per computed cell in
    ``cell["log"]``, raises ``KeyboardInterrupt`` (an interruption, not a cell error) while a
    file ``stop<x>`` exists there, and fails on ``x == 7``."""
    log = Path(cell["log"])
    if (log / f"stop{cell['x']}").exists():
        raise KeyboardInterrupt
    (log / f"x{cell['x']}-{os.getpid()}").touch()
    if cell["x"] == 7:
        raise ValueError("seven is not allowed")
    return {"y": cell["x"] ** 2, "curve": np.arange(cell["x"], dtype=np.float32)}


def computed(log: Path) -> list[int]:
    """The cells computed since the last call (their files are removed)."""
    done = sorted(int(p.name[1:].split("-")[0]) for p in log.glob("x*"))
    for p in log.glob("x*"):
        p.unlink()
    return done


def outputs(table: Table, skip: Sequence[str] = ("seconds", "kill", "log", "stop")) -> list[Any]:
    """The records without wall-time and test-plumbing fields, for exact comparison."""
    return [{k: v for k, v in r.items() if k not in skip} for r in table]


def same(a: Table, b: Table) -> bool:
    ra, rb = outputs(a), outputs(b)
    if len(ra) != len(rb):
        return False
    for x, y in zip(ra, rb, strict=True):
        if x.keys() != y.keys():
            return False
        for k in x:
            u, v = x[k], y[k]
            if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
                if not (u.dtype == v.dtype and np.array_equal(u, v, equal_nan=True)):
                    return False
            elif u != v:
                return False
    return True


CELLS = grid(width=[3, 5], lr=[0.5, 2.0], seed=range(3))


@pytest.fixture(scope="module")
def reference() -> Table:
    return run(XOR_FIT, CELLS, progress=False)


# --- cells --------------------------------------------------------------------------------------


def test_grid_is_nested_loops_in_argument_order_and_zip_varies_together() -> None:
    cells = grid(zip_axes(opt=["sgd", "adam"], lr=[1.0, 0.01]), seed=[0, 1])
    assert [(c["opt"], c["lr"], c["seed"]) for c in cells] == [
        ("sgd", 1.0, 0), ("sgd", 1.0, 1), ("adam", 0.01, 0), ("adam", 0.01, 1)]  # fmt: skip
    assert grid(a=range(2)) == [{"a": 0}, {"a": 1}]
    assert label(cells[0]) == "opt='sgd', lr=1.0, seed=0"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: grid(lr=[]), ValueError, "axis 'lr' has no values"),
        (
            lambda: grid(lr=0.1),  # type: ignore[arg-type]  # the bad input under test
            TypeError,
            "axis 'lr' must be a list",
        ),
        (lambda: grid(zip_axes(lr=[1]), lr=[2]), ValueError, "'lr' is given twice"),
        (lambda: zip_axes(a=[1, 2], b=[1]), ValueError, "equal lengths"),
        (lambda: run(square, []), ValueError, "'cells' is empty"),
        (
            lambda: run(square, [1]),  # type: ignore[list-item]  # the bad input under test
            TypeError,
            r"cells\[0\] must be a dict",
        ),
        (lambda: run(square, [{}], task_size=0), ValueError, "'task_size'"),
        (lambda: run(square, [{}], executor="dask"), TypeError, "'executor' must be"),
    ],
)
def test_bad_input_is_named(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# --- stacking -----------------------------------------------------------------------------------


def test_a_stacked_cell_equals_its_own_single_fit(reference: Table) -> None:
    """The library's per-model rates and keyed stack give each cell its own model."""
    for r in reference.where(width=5):
        _, p = WIDE.init(r["seed"], (2,))
        alone = train.fit(WIDE, losses.mse, optim.sgd(r["lr"]), p, data.xor(), epochs=40)
        assert r["epochs"] == 40 and r["stop_reason"] == "epochs"
        np.testing.assert_allclose(r["loss"], alone.history.loss, rtol=1e-12, atol=0)
        assert r["reached"] == int(train.first_below(alone.history.loss, 0.2))


def test_cells_differing_in_the_net_train_as_separate_stacks_and_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = run(XOR_FIT, CELLS, task_size=4)
    progress = capsys.readouterr().err
    assert "sweep: 12/12 cells, 4/4 tasks" in progress  # two nets × (4 + 2 cells)
    assert len(table) == 12 and table.errors == []
    assert [r["width"] for r in table] == [c["width"] for c in CELLS]


def test_init_stack_builds_several_model_axes() -> None:
    p = init_stack(NET, list(range(6)), (2,), axes=(2, 3))
    assert p[0].w.shape == (2, 3, 2, 3)
    assert np.array_equal(tree.index(p, (1, 2))[0].w, NET.init(5, (2,))[1][0].w)
    with pytest.raises(ValueError, match="holds 4 models but 6 keys"):
        init_stack(NET, list(range(6)), (2,), axes=(2, 2))


def test_a_failing_cell_is_recorded_and_its_stack_mates_finish() -> None:
    table = run(XOR_FIT, grid(lr=[0.5, -1.0, 2.0], seed=[0]), progress=False)
    assert [r["error"] is None for r in table] == [True, False, True]
    assert "learning_rate" in table[1]["error"] or "lr" in table[1]["error"]
    assert table[0]["loss"].shape == (40,) and "loss" not in table[1]


def test_cached_loads_once_per_process() -> None:
    calls: list[int] = []

    def load(n: int) -> int:
        calls.append(n)
        return n

    get = cached(load)
    assert [get(1), get(1), get(2)] == [1, 1, 2] and calls == [1, 2]


# --- tables -------------------------------------------------------------------------------------


def test_table_writes_csv_and_markdown_and_pivots(reference: Table, tmp_path: Path) -> None:
    text = reference.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["width", "lr", "seed"] and "loss" not in header  # curves stay out
    assert (
        float(text.splitlines()[1].split(",")[header.index("final_loss")])
        == reference[0]["final_loss"]
    )  # full precision
    assert reference.to_markdown(["lr"]).splitlines()[:3] == ["| lr |", "|---|", "| 0.5 |"]
    rows, cols, m = reference.pivot("width", "lr", "final_loss")
    assert rows == [3, 5] and cols == [0.5, 2.0] and m.shape == (2, 2)
    assert m[1, 0] == np.median(reference.where(width=5, lr=0.5).column("final_loss"))


# --- saving and resuming ------------------------------------------------------------------------


def interrupted(log: Path, directory: Path) -> list[Cell]:
    """Six cells of ``square``, interrupted at the fifth after saving four tasks."""
    cells = grid(x=range(6), log=[str(log)])
    (log / "stop4").touch()
    with pytest.raises(KeyboardInterrupt):
        run(square, cells, directory=directory, progress=False)
    (log / "stop4").unlink()
    assert computed(log) == [0, 1, 2, 3] and len(list(directory.glob("task-*.npz"))) == 4
    return cells


def test_an_interrupted_sweep_resumes_and_recomputes_nothing_saved(tmp_path: Path) -> None:
    cells = interrupted(tmp_path, tmp_path / "sweep")
    resumed = run(square, cells, directory=tmp_path / "sweep", progress=False)
    assert computed(tmp_path) == [4, 5]
    assert same(resumed, run(square, cells, progress=False))
    assert resumed[2]["curve"].dtype == np.float32 and isinstance(resumed[2]["y"], int)


def test_a_directory_belongs_to_one_sweep(tmp_path: Path) -> None:
    run(square, grid(x=[1], log=[str(tmp_path)]), directory=tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="holds another sweep"):
        run(square, grid(x=[2], log=[str(tmp_path)]), directory=tmp_path / "s", progress=False)


def test_a_failed_cell_is_recorded_and_runs_again_on_a_rerun(tmp_path: Path) -> None:
    cells = grid(x=[6, 7, 8], log=[str(tmp_path)])
    first = run(square, cells, directory=tmp_path / "s", progress=False)
    assert [r["error"] for r in first] == [None, "ValueError: seven is not allowed", None]
    assert computed(tmp_path) == [6, 7, 8]
    again = run(square, cells, directory=tmp_path / "s", progress=False)
    assert computed(tmp_path) == [7] and same(again, first)


def test_fit_records_survive_saving_bit_for_bit(reference: Table, tmp_path: Path) -> None:
    run(XOR_FIT, CELLS, directory=tmp_path, progress=False)
    assert same(run(XOR_FIT, CELLS, directory=tmp_path, progress=False), reference)


# --- a process pool -----------------------------------------------------------------------------


def test_a_process_pool_gives_the_same_records(reference: Table) -> None:
    with cf.ProcessPoolExecutor(2) as pool:
        assert same(run(XOR_FIT, CELLS, executor=pool, task_size=2, progress=False), reference)


def test_a_dead_pool_worker_costs_its_tasks_and_a_rerun_finishes_them(
    reference: Table, tmp_path: Path
) -> None:
    """A process pool cannot replace a dead worker: the pool breaks, the unfinished tasks are
    reported (not saved), and a rerun on a new pool completes the sweep identically."""
    cells = [{**c, "kill": str(tmp_path / "killed")} for c in CELLS]
    with cf.ProcessPoolExecutor(1) as pool:
        broken = run(XOR_FIT, cells, executor=pool, directory=tmp_path / "s", progress=False)
    assert broken.errors and all("run again" in r["error"] for r in broken.errors)
    with cf.ProcessPoolExecutor(2) as pool:
        done = run(XOR_FIT, cells, executor=pool, directory=tmp_path / "s", progress=False)
    assert same(done, reference)


# --- Dask distributed ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A ``LocalCluster`` of 2 single-threaded worker processes, no dashboard."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_dask_gives_the_same_records_as_in_process(client: Any, reference: Table) -> None:
    assert same(run(XOR_FIT, CELLS, executor=client, task_size=2, progress=False), reference)
    executor = client.get_executor()
    assert same(run(XOR_FIT, CELLS, executor=executor, progress=False), reference)


def test_dask_reports_a_failing_cell_and_finishes_the_rest(client: Any, tmp_path: Path) -> None:
    table = run(square, grid(x=[6, 7, 8], log=[str(tmp_path)]), executor=client, progress=False)
    assert [r.get("y") for r in table] == [36, None, 64]
    assert table[1]["error"] == "ValueError: seven is not allowed"


def test_dask_resumes_an_interrupted_sweep(client: Any, tmp_path: Path) -> None:
    cells = interrupted(tmp_path, tmp_path / "sweep")
    resumed = run(square, cells, executor=client, directory=tmp_path / "sweep", progress=False)
    assert computed(tmp_path) == [4, 5]
    assert same(resumed, run(square, cells, progress=False))


def test_dask_survives_a_worker_killed_mid_sweep(
    client: Any, reference: Table, tmp_path: Path
) -> None:
    """The first worker process to reach a task SIGKILLs itself; Dask reschedules that task on
    a live worker (the nanny restarts the dead one) and the sweep completes, identically."""
    cells = [{**c, "kill": str(tmp_path / "killed")} for c in CELLS]
    table = run(XOR_FIT, cells, executor=client, task_size=2, directory=tmp_path / "s")
    killed = int((tmp_path / "killed").read_text())
    assert killed != os.getpid() and table.errors == []
    assert same(table, reference)
    assert len(list((tmp_path / "s").glob("task-*.npz"))) == 6


class _CancelsFirstTries(cf.ThreadPoolExecutor):
    """An executor that cancels the first submission of every task, as Dask does when the
    cluster loses what a task needs (a killed worker's data)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.seen: set[str] = set()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        key = repr(args[1])
        if key not in self.seen:
            self.seen.add(key)
            cancelled: cf.Future[Any] = cf.Future()
            cancelled.cancel()
            cancelled.set_running_or_notify_cancel()  # waiters see it done, as an executor's
            return cancelled
        return super().submit(fn, *args, **kwargs)


def test_a_cancelled_task_is_sent_again_and_the_sweep_completes(reference: Table) -> None:
    with _CancelsFirstTries() as ex:
        table = run(XOR_FIT, CELLS, executor=ex, task_size=2, progress=False)
    assert table.errors == [] and same(table, reference)
