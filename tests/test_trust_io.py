"""Regression tests: io round-trips numpy scalars with their dtype, and still reads the files of
format version 1 (which stored them as Python numbers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import io, tree

SCALARS: dict[str, Any] = {
    "f32": np.float32(0.1),
    "f64": np.float64(0.25),
    "i64": np.int64(-3),
    "i32": np.int32(7),
    "u8": np.uint8(200),
    "b": np.bool_(True),
    "c": np.complex64(1 + 2j),
    "py_float": 0.5,
    "py_int": 3,
    "py_bool": False,
}


def test_numpy_scalars_come_back_with_their_type_and_dtype(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    io.save(path, SCALARS)
    back = io.load(path, like=SCALARS)
    for k, v in SCALARS.items():
        assert type(back[k]) is type(v), k
        assert back[k] == v, k
    assert back["f32"] == np.float32(0.1)  # not the float64 0.1 a Python float would give


def test_a_python_number_like_still_loads_a_numpy_scalar_and_back(tmp_path: Path) -> None:
    io.save(tmp_path / "a.npz", {"step": np.int64(4), "lr": np.float32(0.5)})
    back: Any = io.load(tmp_path / "a.npz", like={"step": 0, "lr": 0.0})  # as saved
    assert back == {"step": 4, "lr": 0.5} and type(back["lr"]) is np.float32
    io.save(tmp_path / "b.npz", {"step": 4})
    like: dict[str, Any] = {"step": np.int64(0)}
    assert type(io.load(tmp_path / "b.npz", like=like)["step"]) is int


def test_kinds_and_dtypes_are_still_checked(tmp_path: Path) -> None:
    io.save(tmp_path / "a.npz", {"x": np.float32(1.0)})
    with pytest.raises(ValueError, match=r"fnnet.io.load: leaf \['x'\] .* is a float, expected an"):
        io.load(tmp_path / "a.npz", like={"x": 0})
    with pytest.raises(ValueError, match=r"numpy float32 scalar, expected float64"):
        io.load(tmp_path / "a.npz", like={"x": np.float64(0)})
    assert io.load(tmp_path / "a.npz", like={"x": np.float64(0)}, strict=False)["x"] == 1.0
    with pytest.raises(TypeError, match="fnnet.io.save: leaf .* numpy <U1 scalar"):
        io.save(tmp_path / "s.npz", {"x": np.str_("a")})


def _write_v1(path: Path, values: dict[str, Any], kinds: list[str]) -> None:
    meta = {
        "format": "fnnet-pytree",
        "version": 1,
        "structure": io.describe(tree.structure(values)),
        "kinds": kinds,
        "paths": tree.paths(values),
    }
    arrays = {f"leaf_{i:05d}": np.asarray(v) for i, v in enumerate(tree.leaves(values))}
    arrays["__fnnet__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)  # type: ignore[arg-type]  # names and arrays


def test_version_1_files_are_still_read(tmp_path: Path) -> None:
    old = {"lr": np.float32(0.5), "n": np.int64(3), "w": np.ones(2)}
    _write_v1(tmp_path / "v1.npz", old, ["float", "int", "array"])  # as version 1 wrote them
    back = io.load(tmp_path / "v1.npz", like=old)
    assert type(back["lr"]) is np.float32 and type(back["n"]) is np.int64
    assert back["lr"] == 0.5 and back["n"] == 3
    assert io.load(tmp_path / "v1.npz", like={"lr": 0.0, "n": 0, "w": np.ones(2)})["n"] == 3


def test_files_are_written_as_version_2(tmp_path: Path) -> None:
    io.save(tmp_path / "a.npz", {"w": np.ones(2), "n": 3})
    with np.load(tmp_path / "a.npz") as z:
        assert json.loads(str(z["__fnnet__"]))["version"] == io.FORMAT_VERSION == 2
