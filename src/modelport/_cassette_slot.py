"""Where the transport finds the active cassette: one context variable, read once per attempt (no cassette costs
one lookup). :class:`modelport.testing.Cassette` sets it; :mod:`modelport._http` reads it."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["CASSETTE", "CASSETTE_ENV"]

CASSETTE: ContextVar[Any] = ContextVar("modelport_cassette", default=None)
"""The cassette that records or replays the requests of the code running in this context, or ``None``."""
CASSETTE_ENV = "MODELPORT_CASSETTE"
"""The environment variable naming a cassette for every client of the process (``modelport batch``, a program run
by a test); ``MODELPORT_CASSETTE_MODE`` gives its mode."""
