"""A user's script in another directory is type-checked against the installed fnnet.

After the README's install command (an editable install in setuptools' ``strict`` mode: a
``.pth`` file naming a directory, which mypy follows, where the default mode's import hook hides
the package), ``mypy --strict my_script.py`` run outside the repository must find fnnet's types:
it accepts a correct script and reports a wrong one.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """\
import numpy as np
from fnnet import data, layers, losses, optim, train

x, y = data.xor()
net = layers.mlp([2, 4, 1], hidden=layers.tanh, output=layers.sigmoid)
_, params = net.init(0, (2,))
result = train.fit(net, losses.mse, optim.adam(0.05), params, (x, y), epochs=2)
loss: np.ndarray = result.history.loss
"""

BAD = GOOD + "epochs: str = result.epochs\n"


def _installed() -> bool:
    try:
        importlib.metadata.distribution("fnnet")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="fnnet is not installed (run from a checkout)")
def test_mypy_finds_fnnet_from_another_directory(tmp_path: Path) -> None:
    for name, source in (("good.py", GOOD), ("bad.py", BAD)):
        (tmp_path / name).write_text(source)
    run = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    good = subprocess.run([*run, "good.py"], cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run([*run, "bad.py"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and "bad.py:9: error: Incompatible types" in bad.stdout, bad.stdout
