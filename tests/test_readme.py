"""The README's tour is scripts/tour.py verbatim, and it runs and prints what the README shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _between(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_tour_in_readme_is_the_script() -> None:
    readme = (ROOT / "README.md").read_text()
    block = _between(readme, "<!-- tour:begin -->\n```python\n", "```\n<!-- tour:end -->")
    assert block == (ROOT / "scripts" / "tour.py").read_text()


def test_tour_runs_and_its_output_is_in_the_readme() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tour.py")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    readme = (ROOT / "README.md").read_text()
    shown = _between(readme, "It prints (`python scripts/tour.py`):\n\n```\n", "```")
    # Words must match exactly; numbers to 0.1%: another BLAS kernel may round differently.
    assert _words(out) == _words(shown)
    for got, want in zip(_numbers(out), _numbers(shown), strict=True):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-8)


def test_faq_examples_run() -> None:
    """The FAQ's python blocks run in order after the tour (sharing its namespace)."""
    readme = (ROOT / "README.md").read_text()
    faq = readme.split("\n## FAQ\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", faq, flags=re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "faq"}
    exec(compile((ROOT / "scripts" / "tour.py").read_text(), "tour.py", "exec"), namespace)
    for i, block in enumerate(blocks):
        exec(compile(block, f"README FAQ block {i + 1}", "exec"), namespace)


def _words(text: str) -> list[str]:
    return re.sub(NUMBER, "#", text).split()


def _numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(NUMBER, text)]


NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def test_included_result_pages_are_current() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import update_readme

    text = (ROOT / "README.md").read_text()
    assert update_readme.INCLUDE.search(text), "the README includes no result page"
    assert update_readme.updated(text) == text, "run python scripts/update_readme.py"
