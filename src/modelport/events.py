"""Call events on the standard ``logging`` logger named :data:`EVENT_LOGGER_NAME`.

Each finished call logs one event at INFO: ``LLMCallEvent`` for ``create``, ``LLMStreamStartEvent`` and
``LLMStreamEndEvent`` around a stream, ``LLMCallErrorEvent`` when a call fails. ``str(event)`` is one JSON object;
``event.kwargs`` holds the fields. Beyond AutoGen's fields, events say which model was asked for and which answered,
the latency, the time to the first token, the retries, whether the cache answered, the request id and, on failure,
the error class. They never hold API keys or headers: the client never hands them any. The events are built only
when the logger is enabled for INFO, so they cost nothing otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

__all__ = [
    "EVENT_LOGGER_NAME",
    "LLMCallErrorEvent",
    "LLMCallEvent",
    "LLMEvent",
    "LLMStreamEndEvent",
    "LLMStreamStartEvent",
]

EVENT_LOGGER_NAME = "modelport.events"
event_logger = logging.getLogger(EVENT_LOGGER_NAME)


class LLMEvent:
    """Base of the call events: a name and a dict of JSON-ready fields."""

    name = "LLMEvent"

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __str__(self) -> str:
        return orjson.dumps({"type": self.name, **self.kwargs}, default=str).decode()

    def __repr__(self) -> str:
        return f"{self.name}({self.kwargs!r})"


class LLMCallEvent(LLMEvent):
    """One completed ``create``: ``messages``, ``response``, ``prompt_tokens``, ``completion_tokens`` and more."""

    name = "LLMCall"

    @property
    def prompt_tokens(self) -> int:
        return int(self.kwargs.get("prompt_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        return int(self.kwargs.get("completion_tokens") or 0)


class LLMStreamStartEvent(LLMEvent):
    """A stream began: ``messages`` and the request's model."""

    name = "LLMStreamStart"


class LLMStreamEndEvent(LLMCallEvent):
    """A stream completed: the same fields as ``LLMCallEvent`` plus ``ttft_ms``."""

    name = "LLMStreamEnd"


class LLMCallErrorEvent(LLMEvent):
    """A call failed: ``error`` (the class name), ``message``, ``status_code``, ``request_id``, ``attempts``."""

    name = "LLMCallError"


def events_enabled() -> bool:
    return event_logger.isEnabledFor(logging.INFO)


def emit(event: LLMEvent) -> None:
    event_logger.info(event)
