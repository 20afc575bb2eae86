"""fnnet.plot: every figure has its axes, labels, legend and title, saves a PNG, never shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fnnet import metrics, plot, train  # noqa: E402
from fnnet.arrays import Array  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def legend_texts(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes]
    return [t.get_text() for leg in legends if leg is not None for t in leg.get_texts()]


def xor_points() -> tuple[Array, Array]:
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([[0.0], [0.0], [1.0], [1.0]])
    return x, y


@pytest.fixture(autouse=True)
def _no_show(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("plt.show() was called without show=True")

    monkeypatch.setattr(plt, "show", fail)


def test_importing_fnnet_and_plot_does_not_import_matplotlib() -> None:
    code = "import sys, fnnet, fnnet.plot; print('matplotlib' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"


def test_comparison_side_by_side_rings_the_misclassified(tmp_path: Path) -> None:
    x, y = xor_points()
    pred = np.array([[0.1], [0.7], [0.9], [0.8]])  # point 1 wrong
    path = tmp_path / "deep" / "cmp.png"
    fig = plot.comparison(x, y, pred, title="XOR", path=path)
    assert isinstance(fig, Figure)
    assert is_png(path)
    left, right = fig.axes
    assert left.get_title() == "ground truth"
    assert right.get_title() == "prediction (accuracy 75.0%)"
    for ax in (left, right):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₀", "x₁")
    assert fig.get_suptitle() == "XOR"
    assert legend_texts(fig) == ["class 0", "class 1", "misclassified (1)"]
    # the truth panel colours by label: 2 points per class
    sizes = [
        np.asarray(c.get_offsets()).shape[0]
        for c in left.collections
        if isinstance(c, PathCollection)
    ]
    assert sizes == [2, 2]


def test_comparison_accepts_labels_and_class_scores() -> None:
    x, _ = xor_points()
    labels = np.array([0, 0, 1, 2])
    scores = np.eye(3)[[0, 0, 1, 2]]
    fig = plot.comparison(x, labels, scores, class_names=["a", "b", "c"])
    assert fig.axes[1].get_title() == "prediction (accuracy 100.0%)"
    assert legend_texts(fig) == ["a", "b", "c"]


def test_comparison_rejects_bad_shapes() -> None:
    x, y = xor_points()
    with pytest.raises(ValueError, match=r"comparison: argument 'x' must be .*\(N, 2\)"):
        plot.comparison(x[:, :1], y, y)
    with pytest.raises(ValueError, match="argument 'y_pred' must have 4 rows"):
        plot.comparison(x, y, y[:3])
    with pytest.raises(ValueError, match="'class_names' has 1 names"):
        plot.comparison(x, y, y, class_names=["only"])


def test_learning_curve_reads_a_history_with_accuracy_on_a_second_axis(tmp_path: Path) -> None:
    history = train.History(
        np.array([0.5, 0.2, 0.05]),
        np.array([0.6, 0.3, 0.1]),
        {"accuracy": np.array([0.5, 0.75, 1.0]), "val_accuracy": np.array([0.4, 0.6, 0.9])},
    )
    fig = plot.learning_curve(history, threshold=0.01, title="t", path=tmp_path / "c.png")
    assert is_png(tmp_path / "c.png")
    ax, ax2 = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss (log scale)"
    assert ax2.get_ylabel() == "accuracy"
    assert ax.get_title() == "t"
    assert legend_texts(fig) == [
        "train loss",
        "validation loss",
        "threshold 0.01",
        "train accuracy",
        "validation accuracy",
    ]
    x_data, y_data = ax.lines[0].get_data()
    assert list(np.asarray(x_data)) == [1, 2, 3]
    np.testing.assert_array_equal(y_data, history.loss)


def test_learning_curve_plain_series_linear_scale() -> None:
    fig = plot.learning_curve([0.3, 0.2], log_scale=False, loss_name="BCE")
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear"
    assert ax.get_ylabel() == "BCE"
    assert legend_texts(fig) == ["train BCE"]


def test_learning_curve_points_stacked_runs_to_stacked_curves() -> None:
    with pytest.raises(ValueError, match="stacked_curves"):
        plot.learning_curve(np.ones((5, 3)))
    with pytest.raises(ValueError, match="'val_loss' has 2 epochs but 'loss' has 3"):
        plot.learning_curve([1.0, 0.5, 0.2], [1.0, 0.5])


def test_decision_boundary_draws_the_model_probability_behind_the_points(tmp_path: Path) -> None:
    x, y = xor_points()
    x32 = x.astype(np.float32)
    seen: list[Any] = []

    def predict(g: Array) -> Array:
        seen.append(g.dtype)
        return (g[:, :1] > 0.5).astype(g.dtype) * 0.8 + 0.1  # a vertical boundary at x0 = 0.5

    fig = plot.decision_boundary(predict, x32, y, resolution=20, path=tmp_path / "b.png")
    assert is_png(tmp_path / "b.png")
    assert seen == [np.float32]  # the grid comes in the data's dtype, in one call
    ax, bar = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x₀", "x₁", "decision boundary")
    assert bar.get_ylabel() == "model output: P(class 1)"
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    values = np.asarray(mesh.get_array()).reshape(20, 20)
    assert values.min() == pytest.approx(0.1) and values.max() == pytest.approx(0.9)
    assert values[0, 0] == pytest.approx(0.1) and values[0, -1] == pytest.approx(0.9)
    assert legend_texts(fig) == ["class 0 (2)", "class 1 (2)", "boundary (p = 0.5)"]
    assert len(ax.collections) >= 4  # mesh, contour, two classes of points


def test_diverged_runs_leave_gaps_instead_of_breaking_the_axes() -> None:
    loss = np.array([0.5, 0.2, np.inf, np.nan])
    (ax,) = plot.learning_curve(loss, threshold=0.01).axes
    assert ax.get_yscale() == "log"
    assert np.isnan(np.asarray(ax.lines[0].get_ydata(), dtype=np.float64)[2])
    (ax,) = plot.learning_curve(np.array([np.inf, np.nan])).axes
    assert ax.get_yscale() == "linear"  # nothing to draw on a log axis: no warning, no error
    assert ax.get_ylabel() == "loss"
    x, y = xor_points()
    fig = plot.study_grid(
        [plot.StudyPanel("diverged", np.array([1.0, 1e10, np.inf]), lambda g: g[:, :1] * np.inf)],
        x,
        y,
        title="diverged",
    )
    fig.canvas.draw()
    exploding = np.array([[0.3, 0.5], [0.2, 1e150], [0.1, 1e301], [0.05, np.inf]])
    fig = plot.stacked_curves(exploding, path=None)
    fig.canvas.draw()
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_ylim()[1] == pytest.approx(5.0)  # 10x the largest starting loss


def test_decision_boundary_rejects_a_stacked_predict() -> None:
    x, y = xor_points()
    with pytest.raises(ValueError, match=r"fnnet.tree.index"):
        plot.decision_boundary(lambda g: np.zeros((3,) + g.shape), x, y, resolution=5)


def test_study_grid_has_a_curve_and_a_boundary_panel_per_setting(tmp_path: Path) -> None:
    x, y = xor_points()
    panels = [
        plot.StudyPanel(f"lr {lr}", np.linspace(1.0, 0.01 * lr, 50)[:, None] * [1.0, 2.0])
        for lr in (1, 2, 3)
    ]
    panels = [
        plot.StudyPanel(p.label, p.loss, lambda g: g[:, :1] * 0.5 + 0.2, note="3/3 reached")
        for p in panels
    ]
    fig = plot.study_grid(panels, x, y, columns=2, threshold=0.01, title="LR", path=tmp_path / "g")
    assert is_png(tmp_path / "g")  # no suffix: PNG
    curves = [ax for ax in fig.axes if ax.get_xlabel() == "epoch"]
    boundaries = [ax for ax in fig.axes if ax.get_xlabel() == "x₀"]
    assert len(curves) == 3 and len(boundaries) == 3
    assert [ax.get_title() for ax in curves] == [f"lr {i}\n3/3 reached" for i in (1, 2, 3)]
    assert all(len(ax.lines) == 3 for ax in curves)  # two seeds + threshold
    assert curves[0].get_shared_y_axes().joined(curves[0], curves[2])
    assert fig.get_suptitle() == "LR"
    assert "threshold 0.01" in legend_texts(fig)


def test_study_grid_without_models_draws_curves_only() -> None:
    x, y = xor_points()
    fig = plot.study_grid([plot.StudyPanel("a", [0.3, 0.2]), plot.StudyPanel("b", [0.3])], x, y)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="'panels' must not be empty"):
        plot.study_grid([], x, y)


def test_confusion_matrix_names_classes_and_writes_counts(tmp_path: Path) -> None:
    m = metrics.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    fig = plot.confusion_matrix(m, ["shirt", "coat", "bag"], path=tmp_path / "cm.png")
    assert is_png(tmp_path / "cm.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shirt", "coat", "bag"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["shirt", "coat", "bag"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    cells = [t.get_text() for t in ax.texts]
    assert cells == [str(v) for v in m.ravel()]
    frac = plot.confusion_matrix(m, normalize=True).axes[0]
    assert [t.get_text() for t in frac.texts][3:6] == ["0.00", "1.00", "0.00"]
    assert frac.get_xticklabels()[0].get_text() == "0"


def test_confusion_matrix_rejects_non_square() -> None:
    with pytest.raises(ValueError, match=r"must be square \(C, C\), got \(2, 3\)"):
        plot.confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        plot.confusion_matrix(np.eye(3), ["a", "b"])


def test_stacked_curves_groups_models_by_label(tmp_path: Path) -> None:
    t = np.arange(1, 101, dtype=np.float64)[:, None]
    series = np.hstack([1 / t, 2 / t, 4 / t, 1 / t**2, 2 / t**2])
    series[60:, 4] = np.nan  # a diverged model leaves a gap
    labels = ["lr 0.1", "lr 0.1", "lr 0.1", "lr 1", "lr 1"]
    reached = train.first_below(series, 0.01)
    fig = plot.stacked_curves(
        series,
        labels,
        threshold=0.01,
        legend_title="learning rate",
        marks={"reached 0.01": reached},
        log_epochs=True,
        path=tmp_path / "s.png",
    )
    assert is_png(tmp_path / "s.png")
    (ax,) = fig.axes
    assert len(ax.lines) == 5 + 2 + 1  # 5 models, a median per setting, the threshold
    colors = [line.get_color() for line in ax.lines]
    assert colors[0] == colors[1] == colors[2] == colors[3] != colors[4]
    # the bold line is the median of the setting's models; after the NaN, the one finite model
    median_01 = np.asarray(ax.lines[3].get_ydata(), dtype=np.float64)
    median_1 = np.asarray(ax.lines[6].get_ydata(), dtype=np.float64)
    np.testing.assert_allclose(median_01, 2 / t[:, 0])
    np.testing.assert_allclose(median_1[60:], 1 / t[60:, 0] ** 2)
    assert legend_texts(fig) == ["lr 0.1", "lr 1", "reached 0.01", "threshold 0.01"]
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "learning rate"
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert np.asarray(marks.get_offsets()).shape[0] == int((reached > 0).sum())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch (log scale)", "loss (log scale)")
    assert ax.get_xscale() == "log"


def test_stacked_curves_one_model_per_setting_and_a_colormap() -> None:
    fig = plot.stacked_curves(
        np.ones((4, 3)), ["a", "b", "c"], cmap="viridis", colors={"c": "black"}, log_scale=False
    )
    (ax,) = fig.axes
    assert len(ax.lines) == 3  # no median for single models
    assert len({line.get_color() for line in ax.lines}) == 3
    assert ax.lines[2].get_color() == "black"
    assert ax.get_ylabel() == "loss"


def test_stacked_curves_rejects_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="'labels' has 1 for 2 models"):
        plot.stacked_curves(np.ones((3, 2)), ["a"])


def test_figures_stay_out_of_pyplot_unless_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    plt.close("all")
    plot.learning_curve([0.2, 0.1])
    assert plt.get_fignums() == []
    calls: list[int] = []
    monkeypatch.setattr(plt, "show", lambda: calls.append(1))
    fig = plot.learning_curve([0.2, 0.1], show=True)
    assert calls == [1]
    assert fig.number in plt.get_fignums()
    plt.close("all")


# --- sweeps ------------------------------------------------------------------------------------


def sweep_table() -> Any:
    from fnnet.sweep import Table

    records: list[dict[str, Any]] = [
        {"width": w, "lr": lr, "seed": s, "acc": w * lr + s, "loss": np.linspace(1, lr, 3 + s),
         "error": None}
        for w in (16, 32) for lr in (0.1, 0.5) for s in (0, 1, 2)
    ]  # fmt: skip
    records[-3:] = [{"width": 32, "lr": 0.5, "seed": s, "error": "ValueError: x"} for s in range(3)]
    return Table(tuple(records))


def test_heatmap_shows_the_median_over_seeds_and_a_dash_where_every_cell_failed(
    tmp_path: Path,
) -> None:
    fig = plot.heatmap(sweep_table(), "width", "lr", "acc", path=tmp_path / "h.png")
    assert is_png(tmp_path / "h.png")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["2.6", "9", "4.2", "–"]  # median over seeds 0..2 is seed 1's value
    assert [t.get_text() for t in ax.get_yticklabels()] == ["16", "32"]
    assert fig.axes[1].get_ylabel() == "acc"  # the colour bar
    with pytest.raises(ValueError, match="argument 'value': no record has a field 'accuracy'"):
        plot.heatmap(sweep_table(), "width", "lr", "accuracy")


def test_cell_curves_colours_by_an_axis_and_skips_failed_cells(tmp_path: Path) -> None:
    fig = plot.cell_curves(sweep_table(), by="lr", threshold=0.2, path=tmp_path / "c.png")
    assert is_png(tmp_path / "c.png")
    assert legend_texts(fig)[:2] == ["0.1", "0.5"]
    lines = fig.axes[0].get_lines()
    assert max(np.size(line.get_xdata()) for line in lines) == 5  # padded to the longest curve
    with pytest.raises(ValueError, match="no record without an error has a curve 'acc'"):
        plot.cell_curves(sweep_table(), "acc")
