"""The README is a front page that stays true: its tour is scripts/tour.py verbatim and prints what
it shows, its check command is CI's, its links resolve, and the FAQ's examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OWN_DOCS = ["README.md", "docs/FAQ.md", "docs/ARCHITECTURE.md", "docs/RESULTS-fashion-mnist.md"]
OWN_DOCS += ["docs/RESULTS-cnn.md"]


def _between(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_tour_in_readme_is_the_script() -> None:
    readme = README.read_text()
    block = _between(readme, "<!-- tour:begin -->\n```python\n", "```\n<!-- tour:end -->")
    assert block == (ROOT / "scripts" / "tour.py").read_text(), "python scripts/update_readme.py"


def test_tour_runs_and_its_output_is_in_the_readme() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tour.py")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    shown = _between(README.read_text(), "It prints (`python scripts/tour.py`):\n\n```\n", "```")
    # Words must match exactly; numbers to 0.1%: another BLAS kernel may round differently.
    assert _words(out) == _words(shown), "python scripts/update_readme.py --run"
    for got, want in zip(_numbers(out), _numbers(shown), strict=True):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-8)


def test_faq_examples_run() -> None:
    """The FAQ's python blocks run in order after the tour (sharing its namespace)."""
    faq = (ROOT / "docs" / "FAQ.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", faq, flags=re.S)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "faq"}
    exec(compile((ROOT / "scripts" / "tour.py").read_text(), "tour.py", "exec"), namespace)
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/FAQ.md block {i + 1}", "exec"), namespace)


def test_readme_is_a_front_page() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_check_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[ci.index("# The README's check command, verbatim:") + 1]
    assert f"```sh\n{command}\n```" in README.read_text()


@pytest.mark.parametrize("name", OWN_DOCS)
def test_relative_links_resolve(name: str) -> None:
    page = ROOT / name
    links = re.findall(r"\]\((?!https?:|#)([^)#]+)(?:#[^)]*)?\)", page.read_text())
    missing = [link for link in links if not (page.parent / link).exists()]
    assert not missing, f"{name} links to missing files: {missing}"


@pytest.mark.parametrize("name", OWN_DOCS)
def test_no_internal_labels(name: str) -> None:
    """Configurations are described by what they are, not by labels a reader cannot look up."""
    text = (ROOT / name).read_text()
    labels = re.findall(r"\b[Rr]eports? [A-E]\b|\bissue \d+|LAB-REPORTS", text)
    assert not labels, f"{name} uses internal labels: {sorted(set(labels))}"


def test_update_readme_check_agrees() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import update_readme

    text = README.read_text()
    assert update_readme.updated(text) == text, "python scripts/update_readme.py"


def _words(text: str) -> list[str]:
    return re.sub(NUMBER, "#", text).split()


def _numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(NUMBER, text)]


NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
