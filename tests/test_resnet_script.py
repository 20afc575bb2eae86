"""The ResNet script: the network's shapes and state, ``--time-steps`` on random images, and a
``--quick`` run through ``fit`` on the real Fashion-MNIST files (when present) that a second run
resumes from its checkpoint to the same numbers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fnnet.layers import state

# scripts/ is not a package: import the script by its module name, as mypy sees it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import common  # noqa: E402
import fashion_mnist_resnet as script  # noqa: E402


def test_resnet_shapes_and_state() -> None:
    net = script.resnet(4)
    shape, params, st = state.init(net, 0, (28, 28, 1))
    assert shape == (10,)
    assert st is not None  # batch norm's running statistics
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    y = state.apply(net, params, st, x)
    assert y.shape == (3, 10) and y.dtype == np.float32


def test_time_steps_prints_an_epoch_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--time-steps", "1", "--width", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "time per training step of 100 images" in out
    assert "estimated time per epoch (54000 images, 540 steps)" in out


def test_the_deadline_stops_before_an_epoch_would_overrun() -> None:
    ends = [0.0]
    far = script.epoch_clock(ends, time.time() + 3600)
    near = script.epoch_clock(ends, time.time() + script.DEADLINE_MARGIN + 5)
    assert not script.epoch_clock([0.0], None)(1, np.zeros(()))
    ends[0] = time.perf_counter() - 10  # an epoch of 10 s just ended
    assert not far(1, np.zeros(()))
    assert near(2, np.zeros(()))  # 10 s more would end after the deadline
    assert script.utc_time("13:45") % 3600 == 45 * 60
    with pytest.raises(argparse.ArgumentTypeError, match="HH:MM"):
        script.utc_time("soon")


def _real_data() -> Path | None:
    from fnnet import data

    for d in common.fashion_mnist_dirs(None):
        if all((d / f).is_file() for f in data.FASHION_MNIST_MD5):
            return d
    return None


@pytest.mark.skipif(_real_data() is None, reason="the Fashion-MNIST files are not installed")
def test_quick_run_through_fit_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--quick", "--width", "4", "--threads", "1", "--out", str(tmp_path), "--no-figures"]
    assert script.main(argv) == 0
    first = capsys.readouterr().out
    summary = json.loads((tmp_path / "quick" / "summary.json").read_text())
    assert summary["epochs_run"] == 1 and summary["epochs_timed"] == 1
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert "TEST ACCURACY of the chosen model, computed once on 500 images" in first
    assert list((tmp_path / "quick").glob("checkpoint-*.npz"))
    # the same command again: every epoch comes from the checkpoint, the same model is scored
    assert script.main(argv) == 0
    again = json.loads((tmp_path / "quick" / "summary.json").read_text())
    assert again["epochs_timed"] == 0 and again["seconds_per_epoch"] is None
    assert again["test_accuracy"] == summary["test_accuracy"]
    assert again["val_accuracy"] == summary["val_accuracy"]
    assert "not measured" in capsys.readouterr().out
