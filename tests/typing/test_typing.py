"""mypy --strict accepts a user's correct extensions and rejects wrong ones.

Every file in ``cases/`` is checked by one mypy run with the project's configuration:
``pass_*`` files must type-check, ``fail_*`` files must have errors exactly on the lines marked
``# E``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((Path(__file__).parent / "cases").glob("*.py"))


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[int]]:
    """File name -> lines with an error, from one mypy run over every case."""
    cache = tmp_path_factory.mktemp("mypy-cache")
    out, err, _ = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--strict", "--cache-dir", str(cache),
         *map(str, CASES)]
    )  # fmt: skip
    found: dict[str, set[int]] = defaultdict(set)
    for line in (out + err).splitlines():
        if ": error:" in line:
            path, lineno = line.split(":")[:2]
            found[Path(path).name].add(int(lineno))
    assert not (set(found) - {p.name for p in CASES}), out + err  # errors only in the cases
    return found


def test_there_are_cases() -> None:
    names = {p.name for p in CASES}
    assert any(n.startswith("pass_") for n in names) and any(n.startswith("fail_") for n in names)


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_case(case: Path, errors: dict[str, set[int]]) -> None:
    marked = {i + 1 for i, line in enumerate(case.read_text().splitlines()) if "# E" in line}
    if case.name.startswith("pass_"):
        assert errors.get(case.name, set()) == set()
    else:
        assert marked, f"{case.name} marks no line with # E"
        assert errors.get(case.name, set()) == marked
