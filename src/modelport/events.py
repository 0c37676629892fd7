"""Call events on the standard ``logging`` logger named :data:`EVENT_LOGGER_NAME`.

Each finished call logs one event at INFO: ``LLMCallEvent`` for ``create``, ``LLMStreamStartEvent`` and
``LLMStreamEndEvent`` around a stream, ``LLMCallErrorEvent`` when a call fails. ``str(event)`` is one JSON object;
``event.kwargs`` holds the fields. Beyond AutoGen's fields, events say which model was asked for and which answered,
the latency, the time to the first token, the retries, whether the cache answered, the request id and, on failure,
the error class. They never hold API keys or headers: the client never hands them any. The events are built only
when the logger is enabled for INFO, so they cost nothing otherwise. They are made by :data:`EVENTS`, one observer of
calls among others (OpenTelemetry's, your own): a call reports once, through one path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from .errors import APIError

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


_NOT_OF_A_HIT = ("cached_prompt_tokens", "reasoning_tokens", "cache_write_tokens", "tools")
"""Fields of a call's end event that the event of a cache hit leaves out."""


class _EventObservation:
    """One call's events: the start of a stream at once, then one event for how the call ended."""

    __slots__ = ("_first_chunk_at", "_info", "_started")

    def __init__(self, info: Any) -> None:
        self._info = info
        self._started = time.perf_counter()
        self._first_chunk_at: float | None = None

    def first_chunk(self) -> None:
        if self._first_chunk_at is None:
            self._first_chunk_at = time.perf_counter()

    def end(self, result: Any, error: BaseException | None, *, retries: int = 0) -> None:
        if not events_enabled():
            return
        event = self.event(result, error, retries=retries)
        if event is not None:
            emit(event)

    def event(
        self, result: Any, error: BaseException | None, *, retries: int = 0, content: bool = True
    ) -> LLMEvent | None:
        """The event of how the call ended (``None`` when it was cut short or failed with no ``APIError``);
        without ``content``, the fields that hold the messages and the response are left out."""
        if result is not None:
            fields = self._result_fields(result, retries, content=content)
            return LLMStreamEndEvent(**fields) if self._info.stream else LLMCallEvent(**fields)
        if isinstance(error, APIError):
            return LLMCallErrorEvent(
                model=self._info.model,
                provider=self._info.provider,
                error=type(error).__name__,
                message=str(error),
                status_code=getattr(error, "status_code", None),
                request_id=error.request_id,
                attempts=error.attempts,
                latency_ms=self._elapsed_ms(time.perf_counter()),
            )
        return None

    def _elapsed_ms(self, at: float) -> float:
        return round((at - self._started) * 1000, 3)

    def _result_fields(self, result: Any, retries: int, *, content: bool = True) -> dict[str, Any]:
        info, usage = self._info, result.usage
        fields: dict[str, Any] = (
            {"messages": _dumped(info.messages), "response": result.model_dump(mode="json")} if content else {}
        )
        fields |= {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_prompt_tokens": usage.cached_prompt_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "cost": str(result.cost) if result.cost is not None else None,
            "provider": info.provider,
            "model": info.model,
            "resolved_model": result.model,
            "latency_ms": self._elapsed_ms(time.perf_counter()),
            "retries": retries,
            "cached": result.cached,
            "request_id": result.request_id,
            "tools": [t["name"] if isinstance(t, Mapping) else t.name for t in info.tools or ()],
        }
        if self._first_chunk_at is not None:
            fields["ttft_ms"] = self._elapsed_ms(self._first_chunk_at)
        if info.cache_hit:  # a hit sent nothing: no tools were offered, and the token details are not its own
            for name in _NOT_OF_A_HIT:
                del fields[name]
        return fields


class EventsObserver:
    """The call events as an observer of every call (installed for as long as the events' logger is enabled)."""

    __slots__ = ()

    def start(self, info: Any) -> _EventObservation:
        if info.stream:
            fields: dict[str, Any] = {"messages": _dumped(info.messages), "model": info.model}
            if info.cache_hit:
                fields["cached"] = True
            emit(LLMStreamStartEvent(**fields))
        return _EventObservation(info)


EVENTS = EventsObserver()


def _dumped(messages: Any) -> list[Any]:
    return [m.model_dump(mode="json") if hasattr(m, "model_dump") else m for m in messages or ()]
