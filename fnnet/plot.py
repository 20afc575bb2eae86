"""Figures for the lab and the studies (matplotlib, imported lazily).

Install with ``pip install -e ".[plot]"``. The rest of fnnet never imports matplotlib, and this
module imports it only inside its functions, so ``import fnnet.plot`` is free.

Every function builds a fresh :class:`matplotlib.figure.Figure` (no pyplot, no global state, no
display needed: it works headless without choosing a backend), returns it, saves it when given
``path`` (parent folders are created; the format follows the suffix, PNG by default), and shows it
through pyplot only when asked with ``show=True``.

=====================  ===================================================================
function               figure
=====================  ===================================================================
``comparison``         ground truth and prediction side by side, points coloured by class
``learning_curve``     loss per epoch (train, validation), accuracy on a second axis
``decision_boundary``  the model's probability over a grid behind the data points
``study_grid``         one small curve + boundary panel per setting of a study
``confusion_matrix``   counts (or row fractions) with class names
``stacked_curves``     per-model curves of a stacked run: a whole sweep in one figure
``heatmap``            a metric of a sweep over two of its axes (median over the rest)
``cell_curves``        every cell's curve of a sweep, coloured by one axis
=====================  ===================================================================

>>> import numpy as np
>>> fig = learning_curve(np.array([0.3, 0.1, 0.05]), threshold=0.01)
>>> [ax.get_ylabel() for ax in fig.axes]
['loss (log scale)']
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from fnnet.arrays import Array, IntArray, _got, require_int
from fnnet.train import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fnnet.sweep import Table

__all__ = [
    "StudyPanel",
    "comparison",
    "learning_curve",
    "decision_boundary",
    "study_grid",
    "confusion_matrix",
    "stacked_curves",
    "heatmap",
    "cell_curves",
    "class_colors",
]

PathLike = str | os.PathLike[str]
Predict = Callable[[Array], Array]
"""``predict(x) -> probabilities``: ``x`` is ``(N, 2)``, the result ``(N, 1)`` or ``(N,)``
(probability of class 1) or ``(N, C)`` (class probabilities, the argmax is drawn)."""

_CLASS_COLORS = ("#1f77b4", "#d62728")  # class 0 blue, class 1 red (matches the 'coolwarm' map)
_BOUNDARY_CMAP = "coolwarm"


def class_colors(num_classes: int) -> list[str]:
    """The colour of each class: blue and red for two classes, matplotlib's tab10/tab20 beyond.

    >>> class_colors(2)
    ['#1f77b4', '#d62728']
    """
    num_classes = require_int("fnnet.plot.class_colors", "num_classes", num_classes, minimum=0)
    if num_classes <= 2:
        return list(_CLASS_COLORS[:num_classes])
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10" if num_classes <= 10 else "tab20"]
    return [mpl.colors.to_hex(cmap(i % cmap.N)) for i in range(num_classes)]


# --- helpers -----------------------------------------------------------------------------------


def _new_figure(figsize: tuple[float, float], show: bool) -> Figure:
    """A constrained-layout figure: through pyplot when it will be shown, else a bare one."""
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _finish(fig: Figure, path: PathLike | None, show: bool, dpi: float) -> Figure:
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi, format=p.suffix[1:] or "png")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return fig


def _points(fn: str, x: npt.ArrayLike) -> Array:
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[1] != 2 or a.dtype.kind not in "fiu":
        raise ValueError(
            f"fnnet.plot.{fn}: argument 'x' must be numeric points of shape (N, 2), got "
            f"shape {a.shape} and dtype {a.dtype}"
        )
    return a


def _classes(fn: str, arg: str, y: npt.ArrayLike, n: int, threshold: float = 0.5) -> IntArray:
    """Class per point from integer labels ``(N,)``, one probability ``(N, 1)``/``(N,)`` floats
    (``>= threshold``), or one-hot/probability rows ``(N, C)`` (argmax)."""
    a = np.asarray(y)
    if a.shape[:1] != (n,) or a.ndim > 2:
        raise ValueError(
            f"fnnet.plot.{fn}: argument '{arg}' must have {n} rows (one per point in 'x'), "
            f"shape (N,), (N, 1) or (N, C); got {a.shape}"
        )
    if a.dtype.kind in "iub":
        if a.ndim != 1:
            raise ValueError(f"fnnet.plot.{fn}: integer '{arg}' must be 1-D labels, got {a.shape}")
        labels: IntArray = a.astype(np.int64)
        return labels
    if a.ndim == 1 or a.shape[1] == 1:
        out: IntArray = (a.reshape(n) >= threshold).astype(np.int64)
        return out
    arg_max: IntArray = np.argmax(a, axis=1)
    return arg_max


def _series(fn: str, arg: str, s: npt.ArrayLike | None, length: int | None = None) -> Array | None:
    if s is None:
        return None
    a = _float_array(fn, arg, s)
    if a.ndim != 1:
        raise ValueError(
            f"fnnet.plot.{fn}: argument '{arg}' must be one series of shape (T,), got {a.shape}; "
            "draw the models of a stacked run with fnnet.plot.stacked_curves"
        )
    if length is not None and a.shape[0] != length:
        raise ValueError(
            f"fnnet.plot.{fn}: argument '{arg}' has {a.shape[0]} epochs but 'loss' has {length}"
        )
    return _finite_only(a)


def _float_array(fn: str, arg: str, s: object) -> Array:
    """``s`` as a float64 array, or a ``TypeError`` naming ``fn`` and ``arg``."""
    try:
        return np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"fnnet.plot.{fn}: argument {arg!r} must be a numeric array, got {_got(s)}"
        ) from None


def _records(fn: str, table: object, pivot: bool = False) -> None:
    """Raise ``TypeError`` unless ``table`` is a sweep's :class:`~fnnet.sweep.Table` (or, without
    ``pivot``, any sequence of records: dicts)."""
    from fnnet.sweep import Table

    if isinstance(table, Table):
        return
    if (
        not pivot
        and isinstance(table, Sequence)
        and not isinstance(table, str)
        and all(isinstance(r, Mapping) for r in table)
    ):
        return
    raise TypeError(
        f"fnnet.plot.{fn}: argument 'table' must be a fnnet.sweep.Table (sweep.run(...).table), "
        f"got {_got(table)}"
    )


def _field(fn: str, arg: str, name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(
            f"fnnet.plot.{fn}: argument {arg!r} must be a field name (str), got {_got(name)}"
        )


def _finite_only(a: Array) -> Array:
    """``a`` with inf replaced by NaN: a diverged run leaves a gap instead of breaking the axes."""
    return np.where(np.isfinite(a), a, np.nan)


def _can_log(*arrays: Array | None) -> bool:
    """Whether a log axis has something to show: some finite positive value."""
    return any(a is not None and bool(np.any(np.isfinite(a) & (a > 0))) for a in arrays)


def _limit_divergence(ax: Axes, log: bool, threshold: float | None, *curves: Array | None) -> None:
    """Show the loss axis up to 10x the largest starting value: a diverging curve leaves through
    the top instead of stretching the axis over hundreds of decades. Call before setting a log
    scale (the scale's autoscaling would overflow on such values)."""
    starts, tops, lows = [], [], []
    for c in curves:
        if c is None:
            continue
        cols = c.reshape(c.shape[0], -1)
        for j in range(cols.shape[1]):
            finite = cols[np.isfinite(cols[:, j]), j]
            if finite.size:
                starts.append(abs(float(finite[0])))
                tops.append(float(finite.max()))
                shown = finite[finite > 0] if log else finite
                if shown.size:
                    lows.append(float(shown.min()))
    if not starts or not lows or not max(tops) > 10 * max(starts) > 0:
        return
    top = 10 * max(starts)
    low = min(lows + ([threshold] if threshold is not None and (threshold > 0 or not log) else []))
    low = min(low, top / 10)
    ax.set_ylim(low / 1.5 if log else low - 0.05 * (top - low), top)


def _epochs(n: int) -> npt.NDArray[np.int64]:
    return np.arange(1, n + 1)


def _loss_scale(ax: Axes, log_scale: bool, threshold: float | None, *curves: Array | None) -> bool:
    """The loss axis of a curve figure: the dotted ``threshold`` line (labelled for the legend),
    a log scale when asked and there is something positive to show (returned), and the top
    limited so a diverging curve leaves through it (:func:`_limit_divergence`)."""
    if threshold is not None:
        ax.axhline(
            threshold, color="grey", linestyle=":", linewidth=1.2, label=f"threshold {threshold:g}"
        )
    log_scale = log_scale and _can_log(*curves)
    _limit_divergence(ax, log_scale, threshold, *curves)
    if log_scale:
        ax.set_yscale("log")
    return log_scale


def _scatter_classes(
    ax: Axes,
    x: Array,
    classes: IntArray,
    names: Sequence[str],
    colors: Sequence[str],
    size: float,
    counts: bool = True,
) -> None:
    for c, (name, color) in enumerate(zip(names, colors, strict=True)):
        pts = x[classes == c]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=size,
            color=color,
            edgecolors="black",
            linewidths=0.6,
            label=f"{name} ({len(pts)})" if counts else name,
            zorder=3,
        )


def _class_names(
    fn: str, class_names: Sequence[str] | None, classes: Sequence[IntArray]
) -> list[str]:
    top = max((int(c.max()) for c in classes if c.size), default=0)
    k = max(top + 1, 2)
    if class_names is None:
        return [f"class {i}" for i in range(k)]
    if len(class_names) < k:
        raise ValueError(
            f"fnnet.plot.{fn}: argument 'class_names' has {len(class_names)} names but the "
            f"labels go up to class {top}"
        )
    return list(class_names)


def _square_axes(ax: Axes, x: Array, margin: float) -> tuple[float, float, float, float]:
    lo = x.min(axis=0) - margin
    hi = x.max(axis=0) + margin
    ax.set_xlim(float(lo[0]), float(hi[0]))
    ax.set_ylim(float(lo[1]), float(hi[1]))
    ax.set_aspect("equal")
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


# --- comparison --------------------------------------------------------------------------------


def comparison(
    x: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
    feature_names: tuple[str, str] = ("x₀", "x₁"),
    title: str | None = "ground truth vs prediction",
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """Ground truth (left) and prediction (right) side by side, points coloured by class.

    ``y_true`` and ``y_pred`` are integer labels ``(N,)``, probabilities ``(N, 1)`` (class 1 where
    ``>= threshold``) or class scores ``(N, C)`` (argmax). Misclassified points are ringed in the
    prediction panel, whose title gives the accuracy.

    >>> from fnnet import data
    >>> x, y = data.xor()  # x (21, 2), y (21, 1)
    >>> fig = comparison(x, y, 1.0 - y)  # every prediction wrong
    >>> [ax.get_title() for ax in fig.axes]
    ['ground truth', 'prediction (accuracy 0.0%)']
    """
    pts = _points("comparison", x)
    n = pts.shape[0]
    truth = _classes("comparison", "y_true", y_true, n, threshold)
    pred = _classes("comparison", "y_pred", y_pred, n, threshold)
    names = _class_names("comparison", class_names, [truth, pred])
    colors = class_colors(len(names))
    wrong = pred != truth
    accuracy = 1.0 - float(wrong.mean()) if n else float("nan")

    fig = _new_figure((9.0, 4.8), show)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    size = 40.0 if n <= 200 else 12.0
    for ax, classes, sub in (
        (axes[0], truth, "ground truth"),
        (axes[1], pred, f"prediction (accuracy {100 * accuracy:.1f}%)"),
    ):
        _scatter_classes(ax, pts, classes, names, colors, size, counts=False)
        _square_axes(ax, pts, 0.05 * float(np.ptp(pts)) if n else 0.1)
        ax.set_title(sub)
        ax.set_xlabel(feature_names[0])
        ax.set_ylabel(feature_names[1])
        ax.grid(alpha=0.3)
    if wrong.any():
        axes[1].scatter(
            pts[wrong, 0],
            pts[wrong, 1],
            s=size * 4,
            facecolors="none",
            edgecolors="black",
            linewidths=1.5,
            label=f"misclassified ({int(wrong.sum())})",
            zorder=4,
        )
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
    if title:
        fig.suptitle(title)
    return _finish(fig, path, show, dpi)


# --- learning curve ----------------------------------------------------------------------------


def learning_curve(
    loss: History | npt.ArrayLike,
    val_loss: npt.ArrayLike | None = None,
    *,
    accuracy: npt.ArrayLike | None = None,
    val_accuracy: npt.ArrayLike | None = None,
    log_scale: bool = True,
    threshold: float | None = None,
    loss_name: str = "loss",
    title: str | None = "learning curve",
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """Loss per epoch, train and validation on one axis; accuracy on a second axis when given.

    ``loss`` is a series ``(T,)`` or a :class:`fnnet.train.History` of one model, from which
    ``val_loss``, ``accuracy`` and ``val_accuracy`` are read when recorded (arguments given
    explicitly win). ``threshold`` draws the stopping threshold as a dotted line.

    >>> loss, val_loss, acc = np.array([0.3, 0.1]), np.array([0.4, 0.2]), np.array([0.5, 0.9])
    >>> fig = learning_curve(loss, val_loss, accuracy=acc)
    >>> [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    [('epoch', 'loss (log scale)'), ('', 'accuracy')]
    """
    fn = "learning_curve"
    if isinstance(loss, History):
        history = loss
        loss = history.loss
        if val_loss is None:
            val_loss = history.val_loss
        if accuracy is None:
            accuracy = history.metrics.get("accuracy")
        if val_accuracy is None:
            val_accuracy = history.metrics.get("val_accuracy")
    train_loss = _series(fn, "loss", loss)
    if train_loss is None:
        raise TypeError(
            f"fnnet.plot.{fn}: argument 'loss' must be a series (T,) or a History, got None"
        )
    t = train_loss.shape[0]
    val = _series(fn, "val_loss", val_loss, t)
    acc = _series(fn, "accuracy", accuracy, t)
    val_acc = _series(fn, "val_accuracy", val_accuracy, t)

    fig = _new_figure((7.0, 4.8), show)
    ax = fig.subplots()
    epochs = _epochs(t)
    ax.plot(epochs, train_loss, color="C0", label=f"train {loss_name}")
    if val is not None:
        ax.plot(epochs, val, color="C1", label=f"validation {loss_name}")
    log_scale = _loss_scale(ax, log_scale, threshold, train_loss, val)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{loss_name} (log scale)" if log_scale else loss_name)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if acc is not None or val_acc is not None:
        ax2 = ax.twinx()
        if acc is not None:
            ax2.plot(epochs, acc, color="C2", linestyle="--", label="train accuracy")
        if val_acc is not None:
            ax2.plot(epochs, val_acc, color="C3", linestyle="--", label="validation accuracy")
        ax2.set_ylabel("accuracy")
        ax2.set_ylim(-0.02, 1.02)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
    if title:
        ax.set_title(title)
    return _finish(fig, path, show, dpi)


# --- decision boundary -------------------------------------------------------------------------


def _grid_probability(
    fn: str,
    predict: Predict,
    bounds: tuple[float, float, float, float],
    resolution: int,
    dtype: Any,
) -> tuple[Array, Array, Array]:
    x0, x1, y0, y1 = bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(dtype)
    with np.errstate(all="ignore"):  # a diverged model's boundary is drawn blank, not warned
        out = np.asarray(predict(grid))
    m = resolution * resolution
    if out.shape == (m, 1) or out.shape == (m,):
        prob = _finite_only(out.reshape(resolution, resolution).astype(np.float64))
    elif out.ndim == 2 and out.shape[0] == m:
        prob = np.argmax(out, axis=1).reshape(resolution, resolution).astype(np.float64)
    else:
        raise ValueError(
            f"fnnet.plot.{fn}: 'predict' must map ({m}, 2) points to ({m}, 1), ({m},) or "
            f"({m}, C), got {out.shape}; to draw one model of a stack, index its params first "
            "(fnnet.tree.index(params, i))"
        )
    return gx, gy, prob


def _draw_boundary(
    ax: Axes,
    predict: Predict,
    x: Array,
    classes: IntArray,
    names: Sequence[str],
    *,
    resolution: int,
    threshold: float,
    margin: float,
    size: float,
    fn: str,
) -> Any:
    """Probability image, the ``threshold`` contour and the points; returns the image."""
    bounds = _square_axes(ax, x, margin)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    gx, gy, prob = _grid_probability(fn, predict, bounds, resolution, dtype)
    binary = len(names) <= 2
    image = ax.pcolormesh(
        gx,
        gy,
        prob,
        cmap=_BOUNDARY_CMAP if binary else "tab10",
        vmin=0.0,
        vmax=1.0 if binary else 9.0,
        shading="auto",
        alpha=0.75,
        rasterized=True,
    )
    if binary and prob.min() < threshold < prob.max():
        ax.contour(gx, gy, prob, levels=[threshold], colors="black", linewidths=1.2)
    _scatter_classes(ax, x, classes, names, class_colors(len(names)), size)
    return image


def decision_boundary(
    predict: Predict,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    resolution: int = 150,
    threshold: float = 0.5,
    margin: float = 0.1,
    class_names: Sequence[str] | None = None,
    feature_names: tuple[str, str] = ("x₀", "x₁"),
    title: str | None = "decision boundary",
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """The model's probability of class 1 over a grid behind the data points.

    ``predict`` maps ``(M, 2)`` points (in ``x``'s float dtype) to probabilities ``(M, 1)``; e.g.
    ``lambda g: net.apply(params, g)``. The black line is the ``threshold`` contour, where the
    predicted class changes. ``y`` colours the points (labels or probabilities, as in
    :func:`comparison`).

    >>> from fnnet import data
    >>> x, y = data.xor()
    >>> fig = decision_boundary(lambda g: g[:, :1], x, y, resolution=20)  # P(class 1) = x₀
    >>> [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]  # the plot and its colour bar
    [('x₀', 'x₁'), ('', 'model output: P(class 1)')]
    """
    fn = "decision_boundary"
    pts = _points(fn, x)
    classes = _classes(fn, "y", y, pts.shape[0])
    names = _class_names(fn, class_names, [classes])
    if resolution < 2:
        raise ValueError(f"fnnet.plot.{fn}: argument 'resolution' must be >= 2, got {resolution}")
    fig = _new_figure((6.2, 5.6), show)
    ax = fig.subplots()
    image = _draw_boundary(
        ax,
        predict,
        pts,
        classes,
        names,
        resolution=resolution,
        threshold=threshold,
        margin=margin,
        size=40.0 if pts.shape[0] <= 200 else 12.0,
        fn=fn,
    )
    if len(names) <= 2:
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label(f"model output: P({names[1] if len(names) > 1 else 'class 1'})")
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linewidth=1.2))
    labels.append(f"boundary (p = {threshold:g})")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    if title:
        ax.set_title(title)
    return _finish(fig, path, show, dpi)


def _few_ticks(ax: Axes, log_y: bool) -> None:
    """At most ~4 ticks per axis and no minor ticks: small panels stay readable and fast to draw
    (tick layout dominates the drawing time of a grid of many small axes)."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=log_y))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(numticks=4) if log_y else MaxNLocator(nbins=3))
    ax.yaxis.set_minor_locator(NullLocator())


# --- study grid --------------------------------------------------------------------------------


@attrs.frozen
class StudyPanel:
    """One setting of a study: its label, its loss curve(s) and (optionally) a model to draw.

    ``loss`` is ``(T,)`` or ``(T, M)`` (the seeds of a stacked run: one thin line each, the one
    of ``highlight`` drawn bold); ``predict`` draws that model's decision boundary below.

    >>> from fnnet import data
    >>> x, y = data.xor()
    >>> panel = StudyPanel("lr 0.1", np.array([[0.3, 0.4], [0.2, 0.1]]), highlight=1)  # 2 seeds
    >>> [ax.get_title() for ax in study_grid([panel], x, y).axes]
    ['lr 0.1']
    """

    label: str
    loss: npt.ArrayLike
    predict: Predict | None = None
    note: str = ""
    highlight: int = 0


def study_grid(
    panels: Sequence[StudyPanel],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    columns: int = 4,
    log_scale: bool = True,
    threshold: float | None = None,
    resolution: int = 80,
    loss_name: str = "loss",
    title: str | None = None,
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 80,
) -> Figure:
    """One small panel per setting of a study: the loss curve above, the decision boundary below.

    All curves share the epoch and loss axes, so the settings compare at a glance; the points
    ``x``, ``y`` (the study's data set) are drawn behind every boundary.

    >>> from fnnet import data
    >>> x, y = data.xor()
    >>> panel = StudyPanel("lr 0.1", np.array([0.3, 0.2]), predict=lambda g: g[:, :1])
    >>> fig = study_grid([panel], x, y, resolution=5)
    >>> [(ax.get_title(), ax.get_xlabel()) for ax in fig.axes]  # the curve, then the boundary
    [('lr 0.1', 'epoch'), ('', 'x₀')]
    """
    fn = "study_grid"
    if not panels:
        raise ValueError(f"fnnet.plot.{fn}: argument 'panels' must not be empty")
    if columns < 1:
        raise ValueError(f"fnnet.plot.{fn}: argument 'columns' must be >= 1, got {columns}")
    pts = _points(fn, x)
    classes = _classes(fn, "y", y, pts.shape[0])
    names = _class_names(fn, None, [classes])
    curves = _panel_curves(fn, panels)
    boundaries = any(p.predict is not None for p in panels)
    log_scale = log_scale and _can_log(*curves)
    cols = min(columns, len(panels))
    rows = math.ceil(len(panels) / cols)
    per_row = 2 if boundaries else 1
    fig = _new_figure((2.9 * cols, (5.4 if boundaries else 2.6) * rows + 0.4), show)
    grid = fig.add_gridspec(rows * per_row, cols)
    first_curve: Axes | None = None
    for i, (panel, c) in enumerate(zip(panels, curves, strict=True)):
        r, col = divmod(i, cols)
        ax = fig.add_subplot(grid[r * per_row, col], sharex=first_curve, sharey=first_curve)
        first_curve = first_curve or ax
        _draw_panel_curves(ax, panel, c, curves, log_scale, threshold, loss_name)
        if panel.predict is not None:
            bx = fig.add_subplot(grid[r * per_row + 1, col])
            _draw_panel_boundary(bx, panel.predict, pts, classes, names, resolution, fn)
    handles, labels = _grid_legend(names, threshold, boundaries)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
    if title:
        fig.suptitle(title)
    return _finish(fig, path, show, dpi)


def _panel_curves(fn: str, panels: Sequence[StudyPanel]) -> list[Array]:
    """Each panel's loss as ``(T, M)`` (one column for a single run), inf shown as a gap."""
    curves = []
    for i, p in enumerate(panels):
        c = _finite_only(np.asarray(p.loss, dtype=np.float64))
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2:
            raise ValueError(
                f"fnnet.plot.{fn}: panels[{i}].loss must be (T,) or (T, M), got {c.shape}"
            )
        curves.append(c)
    return curves


def _draw_panel_curves(
    ax: Axes,
    panel: StudyPanel,
    c: Array,
    every_curve: Sequence[Array],
    log_scale: bool,
    threshold: float | None,
    loss_name: str,
) -> None:
    """A panel's seeds as thin lines, the ``highlight`` one bold, on the grid's shared axes."""
    epochs = _epochs(c.shape[0])
    for m in range(c.shape[1]):
        if m != panel.highlight:
            ax.plot(epochs, c[:, m], color="C0", alpha=0.35, linewidth=0.8)
    if 0 <= panel.highlight < c.shape[1]:
        ax.plot(epochs, c[:, panel.highlight], color="C0", linewidth=1.6)
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle=":", linewidth=1.0)
    _limit_divergence(ax, log_scale, threshold, *every_curve)
    if log_scale:
        ax.set_yscale("log")
    _few_ticks(ax, log_scale)
    ax.set_title(panel.label + (f"\n{panel.note}" if panel.note else ""), fontsize="small")
    ax.set_xlabel("epoch", fontsize="small")
    ax.set_ylabel(loss_name, fontsize="small")
    ax.tick_params(labelsize="x-small")
    ax.grid(alpha=0.3)


def _draw_panel_boundary(
    bx: Axes,
    predict: Predict,
    pts: Array,
    classes: IntArray,
    names: Sequence[str],
    resolution: int,
    fn: str,
) -> None:
    """A panel's decision boundary (p = 0.5) behind the data points, with small ticks."""
    _draw_boundary(
        bx,
        predict,
        pts,
        classes,
        names,
        resolution=resolution,
        threshold=0.5,
        margin=0.05 * float(np.ptp(pts)),
        size=14.0 if pts.shape[0] <= 200 else 5.0,
        fn=fn,
    )
    bx.set_xlabel("x₀", fontsize="small")
    bx.set_ylabel("x₁", fontsize="small")
    bx.tick_params(labelsize="x-small")
    _few_ticks(bx, False)


def _grid_legend(
    names: Sequence[str], threshold: float | None, boundaries: bool
) -> tuple[list[Any], list[str]]:
    """One legend for the whole grid: the line styles, then the classes and the boundary."""
    from matplotlib.lines import Line2D

    handles: list[Any] = [
        Line2D([], [], color="C0", linewidth=1.6),
        Line2D([], [], color="C0", alpha=0.35, linewidth=0.8),
    ]
    labels = ["drawn model", "other seeds"]
    if threshold is not None:
        handles.append(Line2D([], [], color="grey", linestyle=":"))
        labels.append(f"threshold {threshold:g}")
    if boundaries:
        for name, color in zip(names, class_colors(len(names)), strict=True):
            handles.append(
                Line2D([], [], marker="o", linestyle="", color=color, markeredgecolor="black")
            )
            labels.append(name)
        handles.append(Line2D([], [], color="black", linewidth=1.2))
        labels.append("boundary p = 0.5")
    return handles, labels


# --- confusion matrix --------------------------------------------------------------------------


def confusion_matrix(
    matrix: npt.ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    normalize: bool = False,
    title: str | None = "confusion matrix",
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """A confusion matrix ``m[true, predicted]`` (as :func:`fnnet.metrics.confusion_matrix`
    returns) with class names on both axes and the count (or, with ``normalize``, the fraction
    of the true class) in every cell.

    >>> fig = confusion_matrix(np.array([[5, 1], [0, 4]]), ["cat", "dog"])
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel(), ax.get_ylabel(), [t.get_text() for t in ax.get_xticklabels()]
    ('predicted class', 'true class', ['cat', 'dog'])
    """
    fn = "confusion_matrix"
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"fnnet.plot.{fn}: argument 'matrix' must be square (C, C), got {m.shape}")
    k = m.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    if len(names) != k:
        raise ValueError(
            f"fnnet.plot.{fn}: argument 'class_names' has {len(names)} names for {k} classes"
        )
    values = m.astype(np.float64)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    side = max(4.5, 0.55 * k + 2.5)
    fig = _new_figure((side + 1.0, side), show)
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("fraction of the true class" if normalize else "count")
    top = float(values.max()) if values.size else 0.0
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            text = f"{v:.2f}" if normalize else f"{int(m[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize="small" if k <= 10 else "x-small",
                color="white" if top and v > 0.6 * top else "black",
            )
    ax.set_xticks(range(k), names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return _finish(fig, path, show, dpi)


# --- stacked curves ----------------------------------------------------------------------------


def stacked_curves(
    series: npt.ArrayLike,
    labels: Sequence[str] | None = None,
    *,
    log_scale: bool = True,
    log_epochs: bool = False,
    median: bool = True,
    cmap: str | None = None,
    colors: Mapping[str, str] | None = None,
    threshold: float | None = None,
    ylabel: str = "loss",
    legend_title: str | None = None,
    marks: Mapping[str, npt.ArrayLike] | None = None,
    title: str | None = "stacked run",
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """Every model's curve of a stacked run in one figure: a sweep at a glance.

    ``series`` is ``(T, M)`` (e.g. ``history.loss`` of a stacked ``fit``); ``labels`` names each
    model's setting, and models with the same label (the seeds of one setting) share a colour and
    one legend entry, labels keeping their first-seen order. With ``median``, a setting of several
    models is drawn as thin lines (one per model) under a bold line, their median. ``cmap`` (e.g.
    ``"viridis"``) colours ordered settings such as learning rates along a colormap;
    ``log_epochs`` puts the epochs on a log axis; ``colors`` fixes the colour of some labels
    (e.g. a reference curve in black). NaN (a diverged model) leaves a gap. ``marks``
    adds per-model points ``{name: epochs (M,)}`` (``-1`` = none), e.g. the epoch each model
    first reached the threshold.

    >>> loss = np.array([[0.5, 0.4, 0.3], [0.2, 0.2, 0.1]])  # (T=2 epochs, M=3 models)
    >>> fig = stacked_curves(loss, ["lr 0.1", "lr 0.1", "lr 1"])  # two seeds share a colour
    >>> fig.axes[0].get_ylabel(), [t.get_text() for t in fig.legends[0].get_texts()]
    ('loss (log scale)', ['lr 0.1', 'lr 1'])
    """
    fn = "stacked_curves"
    s = _finite_only(_float_array(fn, "series", series))
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2:
        raise ValueError(f"fnnet.plot.{fn}: argument 'series' must be (T, M), got {s.shape}")
    t, m = s.shape
    names = [f"model {i}" for i in range(m)] if labels is None else [str(v) for v in labels]
    if len(names) != m:
        raise ValueError(f"fnnet.plot.{fn}: argument 'labels' has {len(names)} for {m} models")
    groups = list(dict.fromkeys(names))
    fig = _new_figure((8.2, 4.6), show)
    ax = fig.subplots()
    for name, color in zip(groups, _group_colors(groups, cmap, colors), strict=True):
        columns = [i for i, n in enumerate(names) if n == name]
        _draw_group(ax, s, columns, name, color, median and len(columns) > 1)
    for k, (mark_name, where) in enumerate((marks or {}).items()):
        _draw_marks(ax, fn, s, mark_name, where, "ox^sD"[k % 5])
    log_scale = _loss_scale(ax, log_scale, threshold, s)
    if log_epochs:
        ax.set_xscale("log")
    ax.set_xlabel("epoch (log scale)" if log_epochs else "epoch")
    ax.set_ylabel(f"{ylabel} (log scale)" if log_scale else ylabel)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize="small", title=legend_title)
    if title:
        ax.set_title(title)
    return _finish(fig, path, show, dpi)


def _group_colors(
    groups: Sequence[str], cmap: str | None, colors: Mapping[str, str] | None
) -> list[str]:
    """A colour per group: matplotlib's cycle for up to ten unordered groups, else ``cmap``
    (viridis by default) evenly along 0–0.9; ``colors`` overrides some groups."""
    import matplotlib as mpl

    if cmap is None and len(groups) <= 10:
        palette = [f"C{i}" for i in range(len(groups))]
    else:
        cm = mpl.colormaps[cmap or "viridis"]
        steps = max(len(groups) - 1, 1)
        palette = [mpl.colors.to_hex(cm(0.9 * i / steps)) for i in range(len(groups))]
    return [(colors or {}).get(g, c) for g, c in zip(groups, palette, strict=True)]


def _draw_group(
    ax: Axes, s: Array, columns: Sequence[int], name: str, color: str, summarize: bool
) -> None:
    """The models ``columns`` of ``s`` in one colour and one legend entry: each model's line,
    or, with ``summarize``, thin lines under a bold one, their median per epoch."""
    epochs = _epochs(s.shape[0])
    for i in columns:
        ax.plot(
            epochs,
            s[:, i],
            color=color,
            linewidth=0.7 if summarize else 1.0,
            alpha=0.35 if summarize else 0.9,
            label=None if summarize or i != columns[0] else name,
        )
    if summarize:
        block = s[:, columns]
        finite = np.isfinite(block)
        mid = np.full(s.shape[0], np.nan)
        rows = finite.any(axis=1)
        mid[rows] = [float(np.median(r[f])) for r, f in zip(block[rows], finite[rows])]  # noqa: B905
        ax.plot(epochs, mid, color=color, linewidth=2.0, label=name)


def _draw_marks(ax: Axes, fn: str, s: Array, name: str, where: npt.ArrayLike, marker: str) -> None:
    """A hollow ``marker`` on each model's curve at its epoch in ``where`` (``-1``: none)."""
    t, m = s.shape
    e = np.asarray(where).astype(np.int64).reshape(-1)
    if e.shape != (m,):
        raise ValueError(
            f"fnnet.plot.{fn}: marks[{name!r}] must have one epoch per model ({m}), got {e.shape}"
        )
    idx_ok = np.flatnonzero((e >= 1) & (e <= t))
    ax.scatter(
        e[idx_ok],
        s[e[idx_ok] - 1, idx_ok],
        marker=marker,
        s=22,
        facecolors="none",
        edgecolors="black",
        linewidths=0.8,
        label=name,
        zorder=3,
    )


# --- sweeps ------------------------------------------------------------------------------------


def heatmap(
    table: Table,
    rows: str,
    cols: str,
    value: str,
    *,
    reduce: Callable[[Array], Any] = np.median,
    fmt: str = ".3g",
    cmap: str = "viridis",
    title: str | None = None,
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """``value`` of a sweep over two of its axes: one annotated square per (row, column), the
    median (``reduce``) over the other axes (e.g. the seeds); blank where every cell failed.

    >>> from fnnet.sweep import Table
    >>> t = Table(tuple({"width": w, "lr": lr, "acc": w * lr, "error": None}
    ...                 for w in (16, 32) for lr in (0.1, 0.5)))
    >>> ax = heatmap(t, "width", "lr", "acc").axes[0]
    >>> ax.get_ylabel(), ax.get_xlabel(), [t.get_text() for t in ax.get_xticklabels()]
    ('width', 'lr', ['0.1', '0.5'])
    """
    fn = "heatmap"
    _records(fn, table, pivot=True)
    for arg, name in (("rows", rows), ("cols", cols), ("value", value)):
        _field(fn, arg, name)
    for arg, name in (("rows", rows), ("cols", cols), ("value", value)):
        if all(name not in r for r in table):
            raise ValueError(f"fnnet.plot.{fn}: argument {arg!r}: no record has a field {name!r}")
    row_values, col_values, m = table.pivot(rows, cols, value, reduce)
    fig = _new_figure(
        (max(4.0, 0.9 * len(col_values) + 2.5), max(3.0, 0.6 * len(row_values) + 1.8)), show
    )
    ax = fig.subplots()
    finite = m[np.isfinite(m)]
    image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.9).set_label(value)
    mid = float(np.mean([finite.min(), finite.max()])) if finite.size else 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m[i, j]
            text = format(float(v), fmt) if np.isfinite(v) else "–"
            dark = np.isfinite(v) and v < mid and cmap in ("viridis", "magma", "plasma", "inferno")
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(len(col_values)), [_tick(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [_tick(v) for v in row_values])
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.set_title(
        title
        if title is not None
        else f"{value} ({getattr(reduce, '__name__', 'reduced')} over the other axes)"
    )
    return _finish(fig, path, show, dpi)


def _tick(v: object) -> str:
    return format(v, "g") if isinstance(v, float) else str(v)


def cell_curves(
    table: Table,
    curve: str = "loss",
    *,
    by: str | None = None,
    threshold: float | None = None,
    log_scale: bool = True,
    log_epochs: bool = False,
    cmap: str | None = None,
    title: str | None = None,
    path: PathLike | None = None,
    show: bool = False,
    dpi: float = 100,
) -> Figure:
    """Every cell's ``curve`` (a per-epoch array in its record) in one figure; cells with the
    same value of ``by`` (e.g. the seeds of one learning rate) share a colour, their median
    drawn bold (:func:`stacked_curves`). Cells that failed are left out; shorter curves (a
    stack that stopped earlier) end early.

    >>> from fnnet.sweep import Table
    >>> t = Table(tuple({"lr": lr, "seed": s, "loss": np.array([1.0, lr / (s + 1)]),
    ...                  "error": None} for lr in (0.1, 0.5) for s in (0, 1)))
    >>> fig = cell_curves(t, by="lr")
    >>> [t.get_text() for t in fig.legends[0].get_texts()]
    ['0.1', '0.5']
    """
    fn = "cell_curves"
    _records(fn, table)
    _field(fn, "curve", curve)
    ok = [r for r in table if r.get("error") is None and isinstance(r.get(curve), np.ndarray)]
    if not ok:
        raise ValueError(f"fnnet.plot.{fn}: no record without an error has a curve {curve!r}")
    if by is not None and any(by not in r for r in ok):
        raise ValueError(f"fnnet.plot.{fn}: argument 'by': some records have no field {by!r}")
    series = [np.asarray(r[curve], dtype=np.float64).reshape(-1) for r in ok]
    t = max(s.shape[0] for s in series)
    padded = np.stack([np.pad(s, (0, t - s.shape[0]), constant_values=np.nan) for s in series], 1)
    labels = [_tick(r[by]) for r in ok] if by is not None else None
    return stacked_curves(
        padded,
        labels,
        log_scale=log_scale,
        log_epochs=log_epochs,
        cmap=cmap,
        threshold=threshold,
        ylabel=curve,
        legend_title=by,
        title=title if title is not None else f"{curve} of every cell ({len(ok)})",
        path=path,
        show=show,
        dpi=dpi,
    )
