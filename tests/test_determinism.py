"""The same key gives bit-identical results across runs and processes; other keys differ."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fnnet import data, layers, losses, optim, train, tree

PROGRAM = """
import sys
sys.path.insert(0, {here!r})
from test_determinism import fingerprint
print(fingerprint({key}))
"""


def fingerprint(key: int) -> str:
    """A hash of everything keyed: data, initializers, shuffling, dropout, a whole fit."""
    parts: list[Any] = []
    x, y = data.linear(64, key=key)
    parts += [x, y]
    (xt, yt), (xv, yv) = data.train_val_split(x, y, 0.25, key=key)
    parts += [xt, xv]
    parts += [xb for xb, _ in data.batches(xt, yt, 10, key=key)]
    for make in (layers.initializers.glorot_uniform, layers.initializers.he_normal):
        parts.append(make()(key, (5, 3), np.float64))
    net = layers.serial(layers.dense(8), layers.relu, layers.dropout(0.3), layers.dense(1),
                        layers.sigmoid)  # fmt: skip
    _, params = net.init(key, (2,))
    assert net.forward_keyed is not None
    parts.append(net.forward_keyed(params, xt, key)[0])
    result = train.fit(net, losses.binary_cross_entropy, optim.adam(0.05), params, (xt, yt),
                       epochs=3, batch_size=8, key=key, val_data=(xv, yv))  # fmt: skip
    parts += tree.leaves(result.params) + [result.history.loss]
    digest = hashlib.sha256()
    for p in parts:
        digest.update(np.ascontiguousarray(p).tobytes())
    return digest.hexdigest()


def test_bit_identical_across_processes() -> None:
    here = str(Path(__file__).parent)
    runs = {
        subprocess.run(
            [sys.executable, "-c", PROGRAM.format(here=here, key=7)],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()
        for _ in range(2)
    }  # fmt: skip
    assert runs == {fingerprint(7)}


def test_different_keys_differ() -> None:
    assert len({fingerprint(k) for k in (1, 2, 3)}) == 3
