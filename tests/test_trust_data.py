"""Regression tests: read_idx refuses a huge gzip of the wrong kind without inflating it, and
file functions refuse a path that is not a path."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from fnnet import data, io


def test_read_idx_refuses_a_bad_magic_before_inflating_the_file(tmp_path: Path) -> None:
    path = tmp_path / "zeros-idx.gz"
    with gzip.open(path, "wb") as f:  # 64 MB of zeros, written without holding them
        for _ in range(64):
            f.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="read_idx: .*bad magic number"):
            data.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # at most a chunk or two, never the 64 MB


@pytest.mark.parametrize("path", [None, [1.0, 2.0], object(), 3, b"a.npz", ""])
def test_a_path_that_is_not_a_path_is_a_type_error(tmp_path: Path, path: Any) -> None:
    with pytest.raises(TypeError, match="read_idx: argument 'path' must be a file path"):
        data.read_idx(path)
    with pytest.raises(TypeError, match="fnnet.io.save: argument 'path' must be a file path"):
        io.save(path, {"w": 1.0})
    with pytest.raises(TypeError, match="fnnet.io.load: argument 'path' must be a file path"):
        io.load(path, like={"w": 1.0})
    with pytest.raises(TypeError, match="check_writable: argument 'path' must be a file path"):
        io.check_writable(path)
    assert not list(tmp_path.iterdir())
