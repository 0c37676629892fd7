"""The ```python blocks of the README and the documentation pages, with the marks that say how each is run.

A block is a fenced one whose language is ``python`` or ``py`` (with or without attributes after it, such as
``title="..."``), at the margin or indented inside a list item or an admonition (its code is read without that
indent); a fence inside another fence (an example of Markdown) is not a block. It runs as written unless the line
right before its fence marks it:

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

_OPENING = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
_PYTHON = {"python", "py", "python3"}
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
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    found = []
    number = 0
    while number < len(lines):
        opening = _OPENING.match(lines[number])
        if opening is None:
            number += 1
            continue
        end = _closing(lines, number + 1, opening)
        if opening["info"].lower() in _PYTHON:
            indent = len(opening["indent"])
            code = "".join(_dedent(line, indent) for line in lines[number + 1 : end])
            found.append(_block(page, lines, number, code))
        number = end + 1
    return found


def _closing(lines: list[str], start: int, opening: re.Match[str]) -> int:
    """The index of the line that closes the fence ``opening`` (the end of the page if none does)."""
    fence = opening["fence"]
    for number in range(start, len(lines)):
        stripped = lines[number].strip()
        if stripped.startswith(fence) and stripped == stripped[0] * len(stripped):
            return number
    return len(lines)


def _dedent(line: str, indent: int) -> str:
    """``line`` without up to ``indent`` spaces of the list item or admonition its block sits in."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def _block(page: Path, lines: list[str], fence: int, code: str) -> Block:
    before = next((line.strip() for line in reversed(lines[:fence]) if line.strip()), "")
    mark = _MARK.search(before)
    kind, value = (mark.group(1), mark.group(2)) if mark else (None, None)
    return Block(page=_name(page), line=fence + 2, code=code, not_run=value if kind == "not run" else None,
                 requires=value if kind == "requires" else None)


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
