"""scripts/fashion_mnist.py runs end to end in --fast mode, on small synthetic IDX files and on the
real files when they are present, and keeps the test set out of every choice."""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fnnet import data

# scripts/ is not a package: import the script by its module name, as mypy sees it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import fashion_mnist as script  # noqa: E402

NAMES = list(data.FASHION_MNIST_MD5)
FIGURES = {
    "report": ["fashion_report_curves", "fashion_report_confusion", "fashion_report_misclassified"],
    "table": ["fashion_table_val_accuracy"],
    "best": ["fashion_best_curves", "fashion_best_confusion", "fashion_best_misclassified"],
}


def _idx(a: npt.NDArray[np.uint8]) -> bytes:
    """``a`` (uint8) encoded as an IDX file."""
    return bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes() + a.tobytes()


def _learnable(n: int, seed: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Images whose class ``k`` is a bright band at rows ``2k + 4 .. 2k + 6`` over faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 7, 3:25] = 220
    return images, labels


@pytest.fixture
def synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four small Fashion-MNIST-shaped IDX gzip files (700 train, 250 test) in ``tmp_path/data``,
    with their MD5s standing in for the real ones; nothing outside ``tmp_path`` is searched."""
    monkeypatch.delenv("FNNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.setattr(script, "SHARED_DATA", tmp_path / "shared")
    directory = tmp_path / "data"
    directory.mkdir()
    for split, n, seed in (("train", 700, 0), ("t10k", 250, 1)):
        images, labels = _learnable(n, seed)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte.gz"
            content = _idx(array)
            (directory / name).write_bytes(gzip.compress(content))
            monkeypatch.setitem(data.FASHION_MNIST_MD5, name, hashlib.md5(content).hexdigest())
    return directory


def _json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_all_commands_fast_on_synthetic_files(
    synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        "all",
        "--fast",
        "--threads",
        "1",
        "--data",
        str(synthetic),
        "--out",
        str(out),
        "--no-download",
    ]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"command: python scripts/fashion_mnist.py {' '.join(argv)}" in printed
    assert printed.count("TEST ACCURACY") == 3

    report = _json(out / "report.json")
    assert report["epochs"] == 2 and len(report["history"]["val_loss"]) == 2
    assert report["test_accuracy"] > 0.5  # the bands are easy: far above chance (0.1)
    assert np.sum(report["confusion_matrix"]) == script.FAST_TEST

    table = _json(out / "table.json")
    cells = table["cells"]
    assert table["train_examples"] + table["val_examples"] == script.FAST_TRAIN
    assert len(cells) == 2 * 2 * 3 * 2  # batch x activation x optimizer x checkpoints (1, 2)
    assert {(c["batch"], c["activation"], c["optimizer"]) for c in cells} == {
        (b, a, o)
        for b in (100, 1000)
        for a in ("relu", "sigmoid")
        for o in ("sgd", "momentum", "adam")
    }
    assert all("test" not in key for c in cells for key in c)  # test only for the chosen cell
    assert table["chosen"]["val_accuracy"] == max(c["val_accuracy"] for c in cells)
    assert 0.0 <= table["chosen_test_accuracy"] <= 1.0

    best = _json(out / "best.json")
    assert [c["name"] for c in best["candidates"]] == [c.name for c in script.CANDIDATES]
    winner = max(best["candidates"], key=lambda c: c["val_accuracy"])
    assert best["chosen"] == winner["name"]
    assert best["test_accuracy"] > 0.5

    for names in FIGURES.values():
        for name in names:
            png = (out / f"{name}.png").read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 150_000, name


def test_report_is_reproducible_by_seed(
    synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def history(seed: int, out: str) -> dict[str, list[float]]:
        argv = ["--fast", "--quiet", "--no-figures", "--threads", "1", "--seed", str(seed)]
        assert script.main([*argv, "--data", str(synthetic), "--out", str(tmp_path / out)]) == 0
        h: dict[str, list[float]] = _json(tmp_path / out / "report.json")["history"]
        return h

    first = history(0, "a")
    assert history(0, "b") == first
    assert history(1, "c") != first
    assert "report" in capsys.readouterr().out  # `report` is the default command


def test_missing_files_give_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--fast", "--data", str(empty), "--out", str(tmp_path / "out"), "--no-download"]
    assert script.main(argv) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "--no-download" in err
    assert not (tmp_path / "out").exists()


def test_shared_data_is_searched_last_when_no_path_is_given() -> None:
    dirs = script.data_dirs(None)
    assert dirs[:-1] == data.fashion_mnist_dirs()
    assert dirs[-1] == Path(script.__file__).resolve().parents[2] / "shared/data/fashion-mnist"
    assert script.data_dirs(Path("/x")) == [Path("/x")]


def test_validation_split_is_keyed_disjoint_and_complete() -> None:
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    split = script.Split(data.flatten_images(images), np.arange(50), images)
    fit, val = script.validation_split(split, 10, (0, 2))
    assert len(val) == 10 and len(fit) == 40
    assert sorted([*fit.y.tolist(), *val.y.tolist()]) == list(range(50))
    again = script.validation_split(split, 10, (0, 2))[1]
    other = script.validation_split(split, 10, (1, 2))[1]
    assert again.y.tolist() == val.y.tolist() and other.y.tolist() != val.y.tolist()


def test_smoothed_targets_are_distributions() -> None:
    t = script.smoothed_targets(np.array([3, 0]), 0.1)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t[0, 3], 0.91, rtol=1e-6)
    np.testing.assert_allclose(t[0, 0], 0.01, rtol=1e-6)


def _real_dir() -> Path | None:
    for d in (script.SHARED_DATA, data.SYSTEM_DATA_DIR / "fashion-mnist"):
        if all((d / name).is_file() for name in NAMES):
            return d
    return None


@pytest.mark.skipif(
    _real_dir() is None,
    reason="the real Fashion-MNIST files are neither in ../shared/data/fashion-mnist nor in "
    "/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)",
)
def test_report_fast_on_the_real_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _real_dir()
    assert directory is not None
    out = tmp_path / "out"
    argv = ["report", "--fast", "--quiet", "--threads", "1", "--data", str(directory)]
    argv += ["--out", str(out)]
    assert script.main(argv) == 0
    report = _json(out / "report.json")
    assert str(directory) in report["data"]
    assert report["test_accuracy"] > 0.3  # 2 epochs on 600 real images: above chance (0.1)
    assert (out / "fashion_report_misclassified.png").is_file()
    assert "TEST ACCURACY" in capsys.readouterr().out
