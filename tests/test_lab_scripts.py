"""The lab (scripts/lab.py) and every study script run in their fast mode and leave their table
and figures behind, so none of them rots; plus the helpers the studies' numbers rest on."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

# scripts/ is not a package: make its modules importable by name, as the scripts see each other.
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

import lab  # noqa: E402
import lab_all  # noqa: E402
import lab_studies  # noqa: E402
import study_capacity  # noqa: E402
import study_no_activation  # noqa: E402

from fnnet import data  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STUDIES = [
    ("study_lr", "lr", ["lr_linear_curves", "lr_linear_grid", "lr_xor_curves", "lr_xor_grid"]),
    ("study_hidden", "hidden", ["hidden_linear_grid", "hidden_xor_grid"]),
    ("study_no_activation", "no_activation", ["noact_linear_grid", "noact_xor_grid"]),
    (
        "study_optimizers",
        "optimizers",
        ["optimizers_linear_grid", "optimizers_xor_grid", "optimizers_xor_curves"],
    ),
    ("study_activations", "activations", ["activations_linear_grid", "activations_xor_grid"]),
    ("study_loss", "loss", ["loss_linear_grid", "loss_xor_grid"]),
    ("study_capacity", "capacity", ["capacity_points", "capacity_boundary"]),
]


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_every_study_script_is_covered() -> None:
    on_disk = sorted(p.stem for p in SCRIPTS.glob("study_*.py"))
    assert on_disk == sorted(m for m, _, _ in STUDIES)
    studies = lab_all.studies()
    assert sorted(s.script.removesuffix(".py") for s in studies) == on_disk
    for module, name, _ in STUDIES:
        study = importlib.import_module(module).STUDY
        assert (study.script, study.name) == (f"{module}.py", name)


@pytest.mark.parametrize(("module", "name", "figures"), STUDIES, ids=[s[1] for s in STUDIES])
def test_study_fast_mode_prints_its_table_and_writes_its_figures(
    module: str,
    name: str,
    figures: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    study: ModuleType = importlib.import_module(module)
    assert study.STUDY.main(["--fast", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    saved = (tmp_path / f"{name}.md").read_text()
    assert saved.strip() in printed
    assert saved.startswith("### ")
    assert f"`python scripts/{module}.py --fast`" in saved  # the command that printed it
    header, rule = [line for line in saved.splitlines() if line.startswith("|")][:2]
    assert header.count("|") == rule.count("|") >= 3 and set(rule) <= {"|", "-"}
    assert lab_studies.REPORTED in saved
    # earlier runs are described by their setup, never by a label the reader does not have
    assert not re.search(r"\breports?\b [A-E]\b|\b[A-E](:|'s| \(| (saw|found))", printed)
    for stem in figures:
        assert is_png(tmp_path / f"{stem}.png"), stem
        assert f"figure: {tmp_path / stem}.png" in printed


def test_lab_writes_log_table_accuracy_and_three_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data", "xor", "--max-epochs", "300", "--log-every", "100", "--out", str(tmp_path)]
    assert lab.main(argv) == 0
    out = capsys.readouterr().out
    for epoch in (1, 100, 200, 300):
        assert f"epoch {epoch:>7}  loss" in out
    assert out.count("| ground truth | prediction |") == 1
    assert len([line for line in out.splitlines() if line.startswith("   ")]) >= 21  # the points
    assert "accuracy (xor):" in out and "accuracy (linear)" not in out
    assert "stopped at the cap of 300 epochs" in out
    for kind in ("comparison", "learning_curve", "decision_boundary"):
        assert is_png(tmp_path / f"xor_{kind}.png")
    assert not (tmp_path / "linear_comparison.png").exists()


def test_lab_defaults_solve_both_data_sets(capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "summary: linear 100.0%, xor 100.0%" in out
    assert out.count("reached at epoch") == 2
    assert out.count("| ground truth | prediction |") == 2
    assert "accuracy (linear): 100.0% (100/100 points)" in out


def test_lab_rejects_nonsense_options() -> None:
    with pytest.raises(SystemExit):
        lab.main(["--max-epochs", "0"])


def test_point_table_marks_wrong_predictions() -> None:
    x = np.array([[0.1, 0.9], [0.9, 0.1]])
    y = np.array([[1.0], [0.0]])
    table = lab.point_table(x, y, np.array([[0.8], [0.7]]))
    rows = table.splitlines()[2:]
    assert rows[0].endswith("|") and rows[1].endswith("WRONG")
    assert "0.8000" in rows[0] and "0.7000" in rows[1]


def test_summaries_give_median_range_and_how_many_reached() -> None:
    assert lab_studies.epochs_summary(np.array([3, 1, 2]), 10) == "2 [1–3]"
    assert (
        lab_studies.epochs_summary(np.array([1500, -1, 2500]), 10_000)
        == "2,000 [1,500–2,500] (2/3)"
    )
    assert lab_studies.epochs_summary(np.array([-1, -1]), 20_000) == "not in 20,000 (0/2)"
    assert lab_studies.accuracy_summary(np.array([1.0, 1.0])) == "100%"
    assert lab_studies.accuracy_summary(np.array([0.5, 1.0, 0.75])) == "75% [50%–100%]"
    reached = lab_studies.first_at_least(np.array([[0.5, 0.2], [1.0, 0.4], [1.0, 0.9]]), 1.0)
    assert reached.tolist() == [2, -1]


def test_command_drops_the_output_folder() -> None:
    cmd = lab_studies.command("study_lr.py", ["--seeds", "3", "--out", "/tmp/x", "--fast"])
    assert cmd == "python scripts/study_lr.py --seeds 3 --fast"


def test_run_settings_is_one_stacked_fit_of_every_rate_and_seed() -> None:
    setting = lab_studies.Setting("lab", lab_studies.lab_net(), rates=(0.0, 5.0))
    results = lab_studies.run_settings([setting], 2, 50, names=["xor"])
    still, moving = results["xor"][0][0.0], results["xor"][0][5.0]
    assert still.loss.shape == (50, 2) and still.accuracy.shape == (50, 2)
    # lr 0 leaves the weights alone: a flat curve; the same seed at lr 5 moves
    np.testing.assert_allclose(still.loss[:, 0], still.loss[0, 0])
    assert moving.loss[0, 0] == still.loss[0, 0] and moving.loss[-1, 0] != moving.loss[0, 0]
    assert still.seconds == moving.seconds and still.epochs == 50  # one stack
    assert moving.models == 2 and moving.final_loss.shape == (2,)


def seeds_record(loss: list[list[float]], reached: list[int]) -> lab_studies.Seeds:
    """A hand-made :class:`lab_studies.Seeds` (no training), accuracy 100% where loss < 0.01."""
    curves = np.array(loss, dtype=np.float64)
    accuracy = np.where(curves < 0.01, 1.0, 0.5)
    return lab_studies.Seeds(
        loss=curves,
        accuracy=accuracy,
        final_loss=curves[-1],
        final_accuracy=accuracy[-1],
        reached=np.array(reached),
        perfect=lab_studies.first_at_least(accuracy, 1.0),
        params=[None] * curves.shape[1],
        epochs=curves.shape[0],
        stop_reason="until",
        seconds=0.0,
    )


def test_divergence_is_counted_per_model_at_its_own_epoch() -> None:
    nan = float("nan")
    # three seeds: one reaches the threshold at epoch 2 (then frozen), one diverges at epoch 2,
    # one at epoch 3; the stack ran 4 epochs
    part = seeds_record(
        [[0.3, 0.3, 0.3], [0.005, nan, 0.2], [0.005, nan, nan], [0.005, nan, nan]], [2, -1, -1]
    )
    assert part.diverged_at.tolist() == [-1, 2, 3]
    cells = lab_studies._cells(part, perfect=True, timing=False)
    assert cells[0] == "diverged (2/3): loss NaN/inf at epoch 2 [2–3]; the others: 2"
    assert cells[1:] == ["2", "100%"]
    gone = seeds_record([[0.3, 0.3], [nan, 0.2], [nan, nan]], [-1, -1])
    assert lab_studies._cells(gone, perfect=False, timing=False) == [
        "diverged (2/2): loss NaN/inf at epoch 2 [2–3]",
        "–",
    ]
    assert lab_studies.short_note(gone).startswith("diverged (2/2)\nloss NaN/inf at epoch 2")


def test_accuracy_at_reached_is_the_accuracy_of_the_threshold_epoch() -> None:
    part = seeds_record([[0.3, 0.3], [0.005, 0.2], [0.001, 0.2]], [2, -1])
    np.testing.assert_array_equal(part.accuracy_at_reached(), [1.0, np.nan])


def test_no_straight_line_solves_xor_but_one_solves_linear() -> None:
    assert study_no_activation.best_line_accuracy(*data.xor()) == pytest.approx(16 / 21)
    assert study_no_activation.best_line_accuracy(*data.linear(100, 0)) == 1.0


def test_capacity_report_schedule_is_a_step_curve() -> None:
    points = study_capacity.report_points(4001)
    assert points[0] == 100 and points[998] == 100 and points[999] == 200
    assert points[1599] == 500 and points[-1] == 1000


def test_results_document_has_every_study_and_its_command(tmp_path: Path) -> None:
    result = lab_studies.StudyResult(
        name="x",
        title="9. X",
        command="python scripts/study_x.py",
        setup="Setup.",
        tables="| a | b |\n|---|---|\n| 1 | 2 |",
        discussion="It shows things.",
        reports="A: 1.",
        figures=[tmp_path / "x_grid.png"],
        seconds=1.0,
    )
    (tmp_path / "x_grid.png").write_bytes(PNG_MAGIC)
    doc = lab_all.document([result], {tmp_path / "x_grid.png": "figures/x_grid.png"}, 3.0)
    assert "### 9. X" in doc and "`python scripts/study_x.py`" in doc
    assert "| 1 | 2 |" in doc and "It shows things." in doc
    assert "![9. X](figures/x_grid.png)" in doc
    assert "python scripts/lab_all.py" in doc
