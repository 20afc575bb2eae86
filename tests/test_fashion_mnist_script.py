"""The Fashion-MNIST MLP scripts run end to end in --fast mode, on small synthetic IDX files and on
the real files when they are present, and keep the test set out of every choice."""

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

import common  # noqa: E402
import fashion_mnist as fm  # noqa: E402
import fashion_mnist_best  # noqa: E402
import fashion_mnist_mlp  # noqa: E402
import fashion_mnist_table  # noqa: E402

NAMES = list(data.FASHION_MNIST_MD5)
FIGURES = {
    "mlp": ["fashion_mlp_curves", "fashion_mlp_confusion", "fashion_mlp_misclassified"],
    "table": ["fashion_table_val_accuracy"],
    "best": ["fashion_best_curves", "fashion_best_confusion", "fashion_best_misclassified"],
}
SCRIPTS = {"mlp": fashion_mnist_mlp, "table": fashion_mnist_table, "best": fashion_mnist_best}


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
    monkeypatch.setattr(common, "SHARED_DATA", tmp_path / "shared")
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


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_every_script_runs_fast_on_synthetic_files(
    name: str, synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--fast", "--threads", "1", "--data", str(synthetic), "--out", str(out)]
    argv += ["--no-download"]
    assert SCRIPTS[name].main(argv) == 0
    printed = capsys.readouterr().out
    assert f"command: python scripts/fashion_mnist_{name}.py {' '.join(argv)}" in printed
    assert printed.count("TEST ACCURACY") == 1
    for label in ("report", "issue", "LAB-REPORTS"):
        assert label not in printed, f"{name} prints the internal label {label!r}"
    for figure in FIGURES[name]:
        png = (out / f"{figure}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 150_000, figure
    CHECKS[name](_json(out / f"{name}.json"))


def _check_mlp(mlp: dict[str, Any]) -> None:
    assert mlp["epochs"] == 2 and len(mlp["history"]["val_loss"]) == 2
    assert mlp["test_accuracy"] > 0.5  # the bands are easy: far above chance (0.1)
    assert np.sum(mlp["confusion_matrix"]) == fm.FAST_TEST


def _check_table(table: dict[str, Any]) -> None:
    cells = table["cells"]
    assert table["train_examples"] + table["val_examples"] == fm.FAST_TRAIN
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


def _check_best(best: dict[str, Any]) -> None:
    assert [c["name"] for c in best["candidates"]] == [
        c.name for c in fashion_mnist_best.CANDIDATES
    ]
    winner = max(best["candidates"], key=lambda c: c["val_accuracy"])
    assert best["chosen"] == winner["name"]
    assert best["test_accuracy"] > 0.5


CHECKS = {"mlp": _check_mlp, "table": _check_table, "best": _check_best}


def test_mlp_is_reproducible_by_seed(synthetic: Path, tmp_path: Path) -> None:
    def history(seed: int, out: str) -> dict[str, list[float]]:
        argv = ["--fast", "--quiet", "--no-figures", "--threads", "1", "--seed", str(seed)]
        assert (
            fashion_mnist_mlp.main([*argv, "--data", str(synthetic), "--out", str(tmp_path / out)])
            == 0
        )
        h: dict[str, list[float]] = _json(tmp_path / out / "mlp.json")["history"]
        return h

    first = history(0, "a")
    assert history(0, "b") == first
    assert history(1, "c") != first


def test_unknown_candidates_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        fashion_mnist_best.main(["--candidates", "adam,nope"])
    assert "nope" in capsys.readouterr().err


def test_missing_files_give_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--fast", "--data", str(empty), "--out", str(tmp_path / "out"), "--no-download"]
    assert fashion_mnist_mlp.main(argv) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "--no-download" in err
    assert not (tmp_path / "out").exists()


def test_shared_data_is_searched_last_when_no_path_is_given() -> None:
    dirs = common.fashion_mnist_dirs(None)
    assert dirs[:-1] == data.fashion_mnist_dirs()
    assert dirs[-1] == Path(common.__file__).resolve().parents[2] / "shared/data/fashion-mnist"
    assert common.fashion_mnist_dirs(Path("/x")) == [Path("/x")]


def test_validation_split_is_keyed_disjoint_and_complete() -> None:
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    split = fm.Split(data.flatten_images(images), np.arange(50), images)
    fit, val = fm.validation_split(split, 10, (0, 2))
    assert len(val) == 10 and len(fit) == 40
    assert sorted([*fit.y.tolist(), *val.y.tolist()]) == list(range(50))
    again = fm.validation_split(split, 10, (0, 2))[1]
    other = fm.validation_split(split, 10, (1, 2))[1]
    assert again.y.tolist() == val.y.tolist() and other.y.tolist() != val.y.tolist()


def test_smoothed_targets_are_distributions() -> None:
    t = fashion_mnist_best.smoothed_targets(np.array([3, 0]), 0.1)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t[0, 3], 0.91, rtol=1e-6)
    np.testing.assert_allclose(t[0, 0], 0.01, rtol=1e-6)


def _real_dir() -> Path | None:
    for d in (common.SHARED_DATA, data.SYSTEM_DATA_DIR / "fashion-mnist"):
        if all((d / name).is_file() for name in NAMES):
            return d
    return None


@pytest.mark.skipif(
    _real_dir() is None,
    reason="the real Fashion-MNIST files are neither in ../shared/data/fashion-mnist nor in "
    "/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)",
)
def test_mlp_fast_on_the_real_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _real_dir()
    assert directory is not None
    out = tmp_path / "out"
    argv = ["--fast", "--quiet", "--threads", "1", "--data", str(directory), "--out", str(out)]
    assert fashion_mnist_mlp.main(argv) == 0
    mlp = _json(out / "mlp.json")
    assert str(directory) in mlp["data"]
    assert mlp["test_accuracy"] > 0.3  # 2 epochs on 600 real images: above chance (0.1)
    assert (out / "fashion_mlp_misclassified.png").is_file()
    assert "TEST ACCURACY" in capsys.readouterr().out
