"""fnnet.io: round trips, structure checks, atomic writes, refusing tampered files."""

from __future__ import annotations

import io as pyio
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fnnet import io, layers, optim, tree


def lab_state() -> tuple[Any, Any]:
    net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    _, params = net.init(0, (2,))
    return params, optim.adam(0.1).init(params)


def test_round_trip_of_params_and_optimizer_state(tmp_path: Path) -> None:
    params, opt_state = lab_state()
    path = tmp_path / "ckpt.npz"
    io.save(path, {"params": params, "opt": opt_state})
    back = io.load(path, like={"params": params, "opt": opt_state})
    assert tree.structure(back) == tree.structure({"params": params, "opt": opt_state})
    for a, b in zip(
        tree.leaves(back), tree.leaves({"params": params, "opt": opt_state}), strict=True
    ):
        assert type(a) is type(b)
        assert np.array_equal(a, b)
    assert back["opt"][0].count == 0 and isinstance(back["opt"][0].count, int)


def test_wrong_structure_says_what_differs(tmp_path: Path) -> None:
    params, _ = lab_state()
    path = tmp_path / "p.npz"
    io.save(path, params)
    other = layers.mlp([2, 4, 1]).init(0, (2,))[1]
    with pytest.raises(ValueError, match="does not match the expected structure"):
        io.load(path, like=other)
    wider = layers.mlp([2, 5, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid).init(0, (2,))[1]
    with pytest.raises(
        ValueError, match=r"leaf \[0\]\.w .* has shape \(2, 4\).*expected shape \(2, 5\)"
    ):
        io.load(path, like=wider)
    f32 = tree.astype(params, np.float32)
    with pytest.raises(ValueError, match="dtype float64, expected shape .* dtype float32"):
        io.load(path, like=f32)


def test_truncated_and_tampered_files_are_refused(tmp_path: Path) -> None:
    params, _ = lab_state()
    path = tmp_path / "p.npz"
    io.save(path, params)
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        io.load(tmp_path / "cut.npz", like=params)
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    meta = np.load(path)["__fnnet__"]
    changed = json.loads(str(meta))
    changed["version"] = 99
    buf = pyio.BytesIO()
    np.save(buf, np.array(json.dumps(changed)))
    entries["__fnnet__.npy"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "tampered.npz", "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match="version 99, expected fnnet-pytree version 1"):
        io.load(tmp_path / "tampered.npz", like=params)
    np.savez(tmp_path / "plain.npz", a=np.ones(1))
    with pytest.raises(ValueError, match="not an fnnet pytree file"):
        io.load(tmp_path / "plain.npz", like=params)


def test_object_arrays_and_unknown_leaves_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object/void array"):
        io.save(tmp_path / "o.npz", [np.array([{}], dtype=object)])
    with pytest.raises(TypeError, match="leaves must be numpy arrays or numbers"):
        io.save(tmp_path / "s.npz", ["text"])
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.npz"
    io.save(path, [np.ones(3)])

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save(path, [np.zeros(3)])
    monkeypatch.undo()
    assert np.array_equal(io.load(path, like=[np.zeros(3)])[0], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]


WRITER = """
import sys, numpy as np
from fnnet import io
path, = sys.argv[1:]
big = [np.full((1000, 1000), float(i)) for i in range(8)]  # 64 MB per save
print("ready", flush=True)
i = 0
while True:
    i += 1
    io.save(path, {"i": i, "big": big})
"""


def test_a_save_killed_midway_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "ckpt.npz"
    io.save(path, {"i": 0, "big": [np.zeros((1000, 1000)) for _ in range(8)]})
    like: dict[str, Any] = {"i": 0, "big": [np.zeros((1000, 1000)) for _ in range(8)]}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"ready")
    time.sleep(0.7)  # several saves in, and very likely in the middle of one
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    back = io.load(path, like=like)  # never a half-written file (perhaps still the first one)
    fill = [float(k) if back["i"] > 0 else 0.0 for k in range(8)]  # a complete save, any one
    assert all(np.all(b == f) for b, f in zip(back["big"], fill, strict=True))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ckpt.npz"]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most the killed temp file
    io.save(path, {"i": 0, "big": [np.zeros(1)]})  # the next save removes what the kill left
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_nothing_that_needs_pickle_is_saved(tmp_path: Path) -> None:
    bad: list[tuple[Any, str]] = [
        ({"n": 10**30}, r"leaf \['n'\] is the int 10+, which does not fit in 64 bits"),
        ({"n": -(2**63) - 1}, "does not fit in 64 bits"),
        ([np.array([10**30])], "object/void array"),
        ([np.array([1, "a"], dtype=object)], "object/void array"),
        ([object()], "leaves must be numpy arrays or numbers, got object at \\[0\\]"),
        ([np.ma.masked_array([1.0, 2.0], mask=[False, True])], "mask would be lost"),
        ([1 + 2j], "got complex"),
    ]
    for t, message in bad:
        with pytest.raises(TypeError, match=message):
            io.save(tmp_path / "x.npz", t)
    assert not list(tmp_path.iterdir())  # refused before anything was written
    io.save(tmp_path / "ok.npz", {"n": 2**63 - 1, "s": np.array(["text"]), "b": np.bool_(True)})
    back: Any = io.load(tmp_path / "ok.npz", like={"n": 0, "s": np.array(["xxxx"]), "b": False})
    assert back["n"] == 2**63 - 1 and back["s"].tolist() == ["text"]
    assert back["b"] is np.True_  # a numpy scalar comes back as it was saved


def test_missing_files_directories_and_pickles_are_named_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"fnnet.io.load: there is no file .*nope\.npz"):
        io.load(tmp_path / "nope.npz", like=[np.ones(1)])
    with pytest.raises(IsADirectoryError, match="is a directory"):
        io.load(tmp_path, like=[np.ones(1)])
    np.savez(tmp_path / "pickled.npz", leaf_00000=np.array([{}], dtype=object))
    with pytest.raises(ValueError) as info:
        io.load(tmp_path / "pickled.npz", like=[np.ones(1)])
    assert "allow_pickle" not in str(info.value)
    io.save(tmp_path / "p.npz", [np.ones(1)])
    with zipfile.ZipFile(tmp_path / "p.npz") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    buf = pyio.BytesIO()
    np.save(buf, np.array([{}], dtype=object), allow_pickle=True)
    entries["leaf_00000.npy"] = buf.getvalue()  # a leaf swapped for a pickle
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match="holds Python objects.*never unpickles") as info:
        io.load(tmp_path / "evil.npz", like=[np.ones(1)], strict=False)
    assert "allow_pickle" not in str(info.value)


def test_a_file_of_another_model_or_optimizer_is_described_in_words(tmp_path: Path) -> None:
    params, opt_state = lab_state()
    path = tmp_path / "ckpt.npz"
    io.save(path, {"params": params, "opt": opt_state})
    other = layers.mlp([2, 4, 1]).init(0, (2,))[1]
    like = {"params": other, "opt": optim.adam(0.1).init(other)}
    with pytest.raises(ValueError, match="written by a different model or optimizer") as info:
        io.load(path, like=like)
    assert "file has a tuple of 6, expected a tuple of 4" in str(info.value).replace(
        "list", "tuple"
    )
    assert "None with" not in str(info.value) and "fields/keys" not in str(info.value)
    with pytest.raises(ValueError, match="file has a dict with keys \\['opt', 'params'\\]"):
        io.load(path, like=params)


def _compressed_copy(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(src) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in entries.items():
            z.writestr(n, b)


def test_shapes_are_checked_from_the_headers_before_any_leaf_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io.save(tmp_path / "big.npz", [np.zeros((1000, 1000)), np.zeros(3)])  # 8 MB of zeros
    _compressed_copy(tmp_path / "big.npz", tmp_path / "small.npz")
    assert (tmp_path / "small.npz").stat().st_size < 100_000
    reads: list[int] = []
    real = np.lib.format.read_array

    def counting(fp: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "read_array", counting)
    with pytest.raises(ValueError, match=r"leaf \[1\] .* has shape \(3,\).*expected shape \(4,\)"):
        io.load(tmp_path / "small.npz", like=[np.zeros((1000, 1000)), np.zeros(4)])
    assert len(reads) == 1  # only the description was read, no leaf was inflated
    back = io.load(tmp_path / "small.npz", like=[np.zeros((1000, 1000)), np.zeros(3)])
    assert back[0].shape == (1000, 1000)


def test_a_header_that_promises_more_data_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    io.save(tmp_path / "p.npz", [np.zeros(4)])
    with zipfile.ZipFile(tmp_path / "p.npz") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    header = entries["leaf_00000.npy"]
    entries["leaf_00000.npy"] = header.replace(b"(4,)", b"(10000000000000,)".ljust(4))
    with zipfile.ZipFile(tmp_path / "lie.npz", "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        io.load(tmp_path / "lie.npz", like=[np.zeros(4)], strict=False)


def test_stale_temp_files_of_the_target_are_removed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead = int(proc.stdout)
    host = io._host()
    path = tmp_path / "ckpt.npz"
    left = tmp_path / f".ckpt.npz.{dead}-{host}.abcd1234.tmp"  # a killed save on this host
    old = tmp_path / ".ckpt.npz.k2j4h5g6.tmp"  # an older naming, two days old
    live = tmp_path / f".ckpt.npz.{os.getppid()}-{host}.zzzz9999.tmp"  # a save still running
    other = tmp_path / f".other.npz.{dead}-{host}.abcd1234.tmp"  # another target's
    for p in (left, old, live, other):
        p.write_bytes(b"partial")
    os.utime(old, (os.path.getmtime(old) - 2 * 86400,) * 2)
    io.save(path, [np.ones(1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.npz", live.name, other.name])


def test_check_writable(tmp_path: Path) -> None:
    import os

    assert io.check_writable(tmp_path / "a" / "b" / "c.npz") == tmp_path / "a" / "b" / "c.npz"
    assert not (tmp_path / "a").exists()  # nothing created
    assert io.check_writable(str(tmp_path / "c.npz")).name == "c.npz"
    assert not list(tmp_path.iterdir())  # the probe file is gone
    with pytest.raises(IsADirectoryError, match="check_writable: .* is a directory"):
        io.check_writable(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        io.check_writable(tmp_path / "f" / "c.npz")
    with pytest.raises(NotADirectoryError, match="save: cannot write .* is a file"):
        io.save(tmp_path / "f" / "c.npz", [np.ones(1)])
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(PermissionError, match="check_writable"):
            io.check_writable(ro / "c.npz")
        ro.chmod(0o700)
