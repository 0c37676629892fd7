"""The ```python blocks of the README and the documentation pages, with the marks that say how each is run.

A block runs as written unless the line right before its fence marks it:

- ``<!-- not run: why -->``: never run (it needs something no machine offline has, such as a real cloud account);
  the test lists these, and there should be few.
- ``<!-- requires: module -->``: run only where ``module`` imports (an optional package), left out elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_MARK = re.compile(r"<!--\s*(not run|requires):\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One ```python block: where it starts (the line of its first line of code), its code, and its mark."""

    page: str
    line: int
    code: str
    not_run: str | None = None
    requires: str | None = None


def pages() -> list[Path]:
    """The README and every Markdown page of the documentation."""
    return [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if not p.name.startswith("_"))]


def blocks(page: Path) -> list[Block]:
    """The ```python blocks of ``page`` in order, each with the mark on the line before its fence."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = _MARK.search(before)
        kind, value = (mark.group(1), mark.group(2)) if mark else (None, None)
        found.append(Block(page=_name(page), line=text.count("\n", 0, match.start(1)) + 1,
                           code=match.group(1), not_run=value if kind == "not run" else None,
                           requires=value if kind == "requires" else None))
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def section(page: Path, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, such as ``## Tools and structured output``) in ``page``,
    up to the next heading of the same or a higher level (a ``#`` line inside a code block is not a heading)."""
    level = len(heading.split(" ", 1)[0])
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    fenced = False
    for number in range(start, len(lines)):
        line = lines[number]
        fenced = fenced != line.startswith("```")
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < marks <= level and line[marks : marks + 1] == " ":
            return "".join(lines[start:number])
    return "".join(lines[start:])
