"""How a request finds its recording: method, path (with the query, key parameters left out) and the body
normalised (key order, and the fields named volatile removed); and what a request that finds none is told."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from yarl import URL

from .._redact import is_secret_header
from ._cassette_errors import CassetteError, CassetteMismatchError
from ._cassette_file import body_bytes

__all__ = ["CassetteError", "CassetteMismatchError", "match_key", "mismatch_error"]

_DIFF_LINES = 60


def match_key(method: str, url: str, body: Mapping[str, Any] | None, volatile: Iterable[str]) -> tuple[str, str, str]:
    """What must be equal for a recording to answer a request: method, path with query, and normalised body."""
    return method.upper(), _path(url), normalised_body(body, tuple(volatile))


def _path(url: str) -> str:
    parsed = URL(url)
    query = sorted((name, value) for name, value in parsed.query.items() if not is_secret_header(name))
    return str(URL.build(path=parsed.raw_path, query=query, encoded=False)) if query else parsed.raw_path


def normalised_body(body: Mapping[str, Any] | None, volatile: tuple[str, ...]) -> str:
    """A stored body as comparable text: JSON with sorted keys, indented, the volatile fields removed."""
    if body is None:
        return ""
    if "json" in body:
        data = _without(body["json"], volatile)
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()
    return (body_bytes(body) or b"").decode("utf-8", "replace")


def _without(data: Any, volatile: tuple[str, ...], prefix: str = "") -> Any:
    """``data`` without the fields named in ``volatile``: a bare name anywhere, a dotted path from the top."""
    if isinstance(data, dict):
        kept = {}
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if key in volatile or dotted in volatile:
                continue
            kept[key] = _without(value, volatile, dotted + ".")
        return kept
    if isinstance(data, list):
        return [_without(item, volatile, prefix) for item in data]
    return data


def mismatch_error(
    path: str, mode: str, key: tuple[str, str, str], recorded: list[tuple[tuple[str, str, str], bool]]
) -> CassetteMismatchError:
    """The error for a request (``key``) that no unused recording matches, showing the closest recording."""
    method, where, _ = key
    if any(other == key for other, _ in recorded):
        return CassetteMismatchError(
            f"cassette {path} (mode {mode!r}): {method} {where} was recorded, but every recording of it has been "
            "replayed already; record again (--record-mode=new_episodes, or mode='new_episodes') to add one more"
        )
    if not recorded:
        return CassetteMismatchError(
            f"cassette {path} (mode {mode!r}) holds no recordings, and {method} {where} cannot be recorded in this "
            "mode; record it with mode='once' (the file absent) or mode='new_episodes'"
        )
    closest = max(recorded, key=lambda entry: _likeness(key, entry[0]))[0]
    diff = difflib.unified_diff(
        _lines(closest), _lines(key), fromfile="closest recording", tofile="this request", lineterm="", n=2
    )
    shown = list(diff)
    if len(shown) > _DIFF_LINES:
        shown = [*shown[:_DIFF_LINES], f"... ({len(shown) - _DIFF_LINES} more lines)"]
    return CassetteMismatchError(
        f"cassette {path} (mode {mode!r}) has no recording for {method} {where}; the closest one differs:\n"
        + "\n".join(shown)
    )


def _lines(key: tuple[str, str, str]) -> list[str]:
    method, where, body = key
    return [f"{method} {where}", *body.splitlines()]


def _likeness(key: tuple[str, str, str], other: tuple[str, str, str]) -> tuple[bool, bool, float]:
    same_method, same_path = key[0] == other[0], key[1] == other[1]
    return same_method, same_path, difflib.SequenceMatcher(None, key[2], other[2], autojunk=False).ratio()
