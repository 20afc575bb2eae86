"""Copy ``scripts/tour.py`` into the README's tour, and (with ``--run``) what it prints.

    python scripts/update_readme.py          # the tour's code, between its markers
    python scripts/update_readme.py --run    # and its output, from a fresh run of the tour
    python scripts/update_readme.py --check  # exit 1 if the README's tour is not the script

``<!-- tour:begin -->`` ... ``<!-- tour:end -->`` in README.md is replaced by the script in a
python code block; the code block after ``It prints (`python scripts/tour.py`):`` by its output.
``tests/test_readme.py`` fails when the README and the script disagree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "scripts" / "tour.py"
BLOCK = re.compile(r"(<!-- tour:begin -->\n)(.*?)(<!-- tour:end -->)", re.S)
OUTPUT = re.compile(r"(It prints \(`python scripts/tour.py`\):\n\n```\n)(.*?)(```)", re.S)


def updated(readme: str, output: str | None = None) -> str:
    """The README text with the tour's code refreshed (and its output, when given)."""
    if not BLOCK.search(readme) or not OUTPUT.search(readme):
        raise ValueError("update_readme: README.md has no tour markers or no output block")
    code = TOUR.read_text()
    readme = BLOCK.sub(lambda m: f"{m.group(1)}```python\n{code}```\n{m.group(3)}", readme)
    if output is not None:
        readme = OUTPUT.sub(lambda m: m.group(1) + output + m.group(3), readme)
    return readme


def tour_output() -> str:
    """What ``python scripts/tour.py`` prints."""
    done = subprocess.run(
        [sys.executable, str(TOUR)], capture_output=True, text=True, check=True, timeout=600
    )
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = ROOT / "README.md"
    text = path.read_text()
    new = updated(text, tour_output() if "--run" in args else None)
    if "--check" in args:
        return 0 if new == text else 1
    path.write_text(new)
    print(f"README.md: tour {'and its output ' if '--run' in args else ''}refreshed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
