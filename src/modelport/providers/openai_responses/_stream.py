"""A Responses stream, one event at a time, fed into the assembler. Every event carries its ``type`` and a
``sequence_number``; there is no ``[DONE]``: ``response.completed``, ``response.incomplete`` and
``response.failed`` end the stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..._assembly import Assembler
from ..._sse import SSEEvent
from ...errors import ResponseValidationError, StreamProtocolError
from ..dialect import PROGRESS, TERMINAL, decode_event
from ._response import attach_kept, finish, read_item, thought, typed_error

__all__ = ["parse_event"]

_TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _index(chunk: dict[str, Any], state: dict[str, Any]) -> int:
    """The event's ``output_index``; a server that leaves it out (llama.cpp) means the item opened last."""
    index = chunk.get("output_index")
    return index if type(index) is int else state.get("current", 0)


def _item_added(chunk: dict[str, Any], asm: Assembler) -> None:
    """An output item opens: a function call brings its id and name. What the assembler has received is noted (as
    at each item's end), so the item's end can tell whether its deltas came."""
    item, index = chunk.get("item"), chunk.get("output_index")
    if not isinstance(item, dict):
        return
    state = asm.dialect_state
    if type(index) is not int:  # items are numbered in the order they open
        index = state.get("opened", 0)
    state["current"], state["opened"] = index, index + 1
    if item.get("type") == "function_call":
        asm.add_tool_call(0, index, item.get("call_id"), item.get("name"), None)
    state["mark"] = asm.received


def _item_done(chunk: dict[str, Any], asm: Assembler) -> None:
    """An output item is whole: kept as it came (reasoning goes back with the calls); read whole if its deltas
    never came (a server that sends only whole items)."""
    item = chunk.get("item")
    if not isinstance(item, dict):
        return
    state = asm.dialect_state
    index = _index(chunk, state)
    items = state.get("items")
    if items is None:
        items = state["items"] = {}
    items[index] = item
    if state.get("mark", 0) == asm.received:
        read_item(item, index, asm)
    state["mark"] = asm.received


def _started(chunk: dict[str, Any], asm: Assembler) -> None:
    response = chunk.get("response")
    if not isinstance(response, dict):
        return
    asm.model = response.get("model") or asm.model
    identifier = response.get("id")
    if asm.request_id is None and isinstance(identifier, str) and identifier:
        asm.request_id = identifier


def _summary_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    index = _index(chunk, asm.dialect_state)
    thought(asm, (index, "summary", chunk.get("summary_index", 0)), chunk.get("delta"))


def _reasoning_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    index = _index(chunk, asm.dialect_state)
    thought(asm, (index, "content", chunk.get("content_index", 0)), chunk.get("delta"))


def _refusal_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    delta = chunk.get("delta")
    if isinstance(delta, str) and delta:
        asm.add_refusal(0, delta)
        asm.dialect_state["refused"] = True


_HANDLERS: dict[str, Callable[[dict[str, Any], Assembler], None]] = {
    "response.output_item.added": _item_added,
    "response.output_item.done": _item_done,
    "response.created": _started,
    "response.in_progress": _started,
    "response.reasoning_summary_text.delta": _summary_delta,
    "response.reasoning_text.delta": _reasoning_delta,
    "response.refusal.delta": _refusal_delta,
}


def _end(chunk: dict[str, Any], asm: Assembler, *, provider: str) -> None:
    """The terminal event: the kept items attached to their calls, then the status and usage of its response."""
    response = chunk.get("response")
    if not isinstance(response, dict):
        raise ResponseValidationError(
            f"{provider} ended the stream with a {chunk.get('type')} event without its response",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    _started(chunk, asm)
    state = asm.dialect_state
    items = state.get("items")
    output = response.get("output")
    if items is None and "opened" not in state and not asm.has_output and isinstance(output, list):
        # neither item events nor deltas came: the terminal response holds the answer
        for index, item in enumerate(output):
            read_item(item, index, asm)
        attach_kept(enumerate(output), asm)
    elif items:
        attach_kept(sorted(items.items()), asm)
    finish(response, asm, provider=provider)


def _sequence_error(number: Any, last: int, chunk: dict[str, Any], asm: Assembler, provider: str) -> None:
    """Events are numbered one by one: a gap (an event lost) or a repeat is a broken stream."""
    what = "repeated" if isinstance(number, int) and number <= last else "out of sequence"
    raise StreamProtocolError(
        f"{provider} sent event {number} after event {last}: an event was {what} or lost",
        raw=orjson.dumps(chunk)[:500].decode("utf-8", "replace"),
        provider=provider,
        request_id=asm.request_id,
        partial=asm.result(),
    )


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """Feed one stream event into ``asm``. Dispatched on the data's ``type``; an ``error`` event raises its typed
    error with what arrived."""
    try:
        chunk: Any = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        chunk = decode_event(event, asm, provider=provider)  # raises the typed error
    if type(chunk) is not dict:
        raise ResponseValidationError(
            f"{provider} sent a stream event that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    number = chunk.get("sequence_number")
    if number is not None:  # checked inline: this runs once per streamed event
        state = asm.dialect_state
        last = state.get("sequence")
        if last is not None and number != last + 1:
            _sequence_error(number, last, chunk, asm, provider)
        state["sequence"] = number
    kind = chunk.get("type")
    if kind == "response.output_text.delta":  # the hot path first
        delta = chunk.get("delta")
        if type(delta) is str:
            asm.add_text(0, delta)
        return PROGRESS
    if kind == "response.function_call_arguments.delta":
        delta = chunk.get("delta")
        if type(delta) is str:
            asm.add_tool_call(0, _index(chunk, asm.dialect_state), None, None, delta)
        return PROGRESS
    if kind in _TERMINAL_TYPES:
        _end(chunk, asm, provider=provider)
        return TERMINAL
    if kind == "error" or event.event == "error":
        raise typed_error(
            chunk.get("error") or chunk, provider=provider, request_id=asm.request_id, partial=asm.result()
        )
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        handler(chunk, asm)
    return PROGRESS
