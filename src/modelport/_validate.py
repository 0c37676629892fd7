"""Checks that what the caller gave can be sent as JSON, naming the field when it cannot.

orjson refuses what JSON cannot hold (lone surrogates, sets, bytes, integers beyond 64 bits, keys that are not
strings, cycles) with a ``TypeError`` that names no field, and it writes NaN and infinities as ``null`` without a
word. :func:`check_json_value` walks a value the caller gave (create arguments, tool schemas) and refuses all of
these, naming the path; :func:`unencodable_field` finds the path after orjson refused a whole request body.
:func:`shown` writes a value into an error message, however deeply it is nested; :data:`UNREADABLE` is what
reading a server's value too deep or of an unexpected type raises.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError

__all__ = ["UNREADABLE", "check_json_value", "shown", "unencodable_field", "why_unreadable"]

UNREADABLE = (RecursionError, TypeError)
"""What a dialect's reader raises on a server's value it cannot use: Python's recursion limit, orjson's when it
encodes a value again (it decodes 1,024 levels but encodes only 255; orjson's ``JSONEncodeError`` is ``TypeError``
itself), or a ``TypeError`` on a value of a type the reader did not expect. Each becomes a typed error that says
which (:func:`why_unreadable`)."""


def why_unreadable(exc: BaseException) -> str:
    """What an error message says of a value on which :data:`UNREADABLE` was raised."""
    if isinstance(exc, RecursionError) or str(exc) == "Recursion limit reached":
        return "is nested too deeply to read"
    return f"holds a value of a type the client did not expect ({type(exc).__name__}: {exc})"


_SHALLOW = reprlib.Repr()
_SHALLOW.maxlevel = 3

_INT64 = (-(2**63), 2**64 - 1)
_MAX_DEPTH = 64


def _problem(value: Any) -> str | None:
    """What makes a single (non-container) value unfit for JSON, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate character, which is not valid Unicode"
        return None
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            return f"an integer too large for JSON numbers ({value.bit_length()} bits)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value}, which JSON cannot hold (it would be sent as null)"
    return f"a {type(value).__name__}, which JSON cannot hold"


def shown(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters for an error message. A value nested too deeply for ``repr``
    (a list a thousand levels deep raises :class:`RecursionError` there) is shown to three levels instead."""
    try:
        text = repr(value)
    except RecursionError:
        text = _SHALLOW.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def check_json_value(value: Any, field: str) -> None:
    """:class:`InvalidRequestError` naming the first place in ``value`` that cannot be sent as JSON, if any."""
    where = _first_problem(value, field, [], 0)
    if where is not None:
        raise InvalidRequestError(where)


def _first_problem(value: Any, path: str, parents: list[int], depth: int) -> str | None:
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in parents:
            return f"{path} contains itself (a cycle), which JSON cannot hold"
        if depth > _MAX_DEPTH:
            return f"{path} is nested more than {_MAX_DEPTH} levels deep"
        parents.append(id(value))
        try:
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not isinstance(key, str):
                        return f"{path} has a key {key!r} that is not a str"
                    found = _problem(key) and f"{path} has a key with {_problem(key)}"
                    found = found or _first_problem(item, f"{path}[{key!r}]", parents, depth + 1)
                    if found:
                        return found
            else:
                for i, item in enumerate(value):
                    found = _first_problem(item, f"{path}[{i}]", parents, depth + 1)
                    if found:
                        return found
        finally:
            parents.pop()
        return None
    problem = _problem(value)
    return f"{path} is {problem}" if problem else None


def unencodable_field(body: Mapping[str, Any]) -> str | None:
    """After orjson refused ``body``: a message naming the first field it could not hold, or None."""
    for key, value in body.items():
        found = _first_problem(value, key, [], 0)
        if found:
            return f"request field {found}"
    return None
