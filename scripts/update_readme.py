"""Copy the generated result pages into the README between include markers.

``<!-- include docs/X.md -->`` ... ``<!-- end include -->`` in README.md is replaced by the
current text of ``docs/X.md`` (which the study and benchmark scripts write), its relative links
rewritten to start from the README's folder. Run it after
regenerating a page; ``tests/test_readme.py`` fails when the README and the pages disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\((?!https?:|#|/)([^)]+)\)")
INCLUDE = re.compile(r"(<!-- include (\S+) -->\n)(.*?)(<!-- end include -->)", re.S)


def updated(readme: str) -> str:
    """The README text with every include block refreshed from its page."""

    def fill(m: re.Match[str]) -> str:
        page = (ROOT / m.group(2)).read_text()
        folder = Path(m.group(2)).parent.as_posix()
        page = LINK.sub(lambda link: f"]({folder}/{link.group(1)})", page)  # relative to the README
        return m.group(1) + page.rstrip("\n") + "\n" + m.group(4)

    return INCLUDE.sub(fill, readme)


def main(argv: list[str] | None = None) -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = updated(text)
    if "--check" in (argv if argv is not None else sys.argv[1:]):
        return 0 if new == text else 1
    path.write_text(new)
    print(f"README.md: {len(INCLUDE.findall(text))} include blocks refreshed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
