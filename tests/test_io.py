"""fnnet.io: round trips, structure checks, atomic writes, refusing tampered files."""

from __future__ import annotations

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
    import io as pyio

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
    with pytest.raises(TypeError, match="object/void arrays cannot be saved"):
        io.save(tmp_path / "o.npz", [np.array([{}], dtype=object)])
    with pytest.raises(TypeError, match="leaves must be numpy arrays or numbers"):
        io.save(tmp_path / "s.npz", ["text"])
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.npz"
    io.save(path, [np.ones(3)])

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
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
    back = io.load(path, like=like)  # never a half-written file
    assert back["i"] > 0  # some save completed before the kill
    assert all(np.all(b == float(k)) for k, b in enumerate(back["big"]))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ckpt.npz"]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most the killed temp file
