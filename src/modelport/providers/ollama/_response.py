"""Reading Ollama ``/api/chat`` answers: a whole answer, and each line of a stream, into the assembler. Tool calls
arrive whole, in a line of their own or in the ``done`` line (B-79); an error mid-stream is a line
``{"error": "..."}``; the ``done: true`` line carries ``done_reason``, the usage counts and the timings."""

from __future__ import annotations

from typing import Any

import orjson

from ..._assembly import Assembler
from ..._sse import SSEEvent
from ...errors import ResponseValidationError
from .._errors import error_from_payload
from ..dialect import PROGRESS, TERMINAL, decode_event

__all__ = ["METADATA_FIELDS", "parse_event", "parse_response"]

METADATA_FIELDS = (
    "created_at",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
"""What the ``done`` line reports beside the answer: timestamps, token counts, and durations in nanoseconds."""


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) ``/api/chat`` answer into ``asm``."""
    if isinstance(body, dict) and body.get("error"):
        raise error_from_payload(body, provider=provider, request_id=request_id)
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise ResponseValidationError(
            f"{provider} returned an answer without a message", provider=provider, request_id=request_id, body=body
        )
    _line(body, asm)
    _done(body, asm)


def _line(line: dict[str, Any], asm: Assembler) -> None:
    """The message part of one line (or of a whole answer)."""
    if asm.model is None and isinstance(line.get("model"), str):
        asm.model = line["model"] or None
    message = line.get("message")
    if not isinstance(message, dict):
        return
    thinking = message.get("thinking")
    if thinking and isinstance(thinking, str):
        asm.add_thought(0, thinking)
    content = message.get("content")
    if content and isinstance(content, str):
        asm.add_text(0, content)
    calls = message.get("tool_calls")
    if calls and isinstance(calls, list):
        _tool_calls(calls, asm)
    logprobs = line.get("logprobs")
    if logprobs and isinstance(logprobs, list):
        asm.add_logprobs(0, logprobs)


def _tool_calls(calls: list[Any], asm: Assembler) -> None:
    """Each call arrives whole: it is a new call, numbered in arrival order (an id seen before is not repeated)."""
    state = asm.dialect_state
    seen: set[str] = state.setdefault("call_ids", set())
    for call in calls:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        if call_id is not None:
            if call_id in seen:
                continue
            seen.add(call_id)
        position = state.get("calls", 0)
        state["calls"] = position + 1
        name = function.get("name")
        asm.add_tool_call(
            0, position, call_id, name if isinstance(name, str) else None, function.get("arguments") or {}
        )


def _done(line: dict[str, Any], asm: Assembler) -> None:
    """The end of an answer: its finish reason, usage and timings."""
    reason = line.get("done_reason")
    asm.finish(0, reason if isinstance(reason, str) and reason else "stop")
    prompt, completion = line.get("prompt_eval_count"), line.get("eval_count")
    if prompt is not None or completion is not None:
        # Ollama leaves out a count that is 0 (a prompt served wholly from its cache has no prompt_eval_count).
        asm.set_usage({"prompt_tokens": prompt or 0, "completion_tokens": completion or 0})
    metadata = {key: line[key] for key in METADATA_FIELDS if key in line}
    if isinstance(reason, str):
        metadata["done_reason"] = reason
    asm.dialect_state["metadata"] = metadata


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """One line of an ``/api/chat`` stream into ``asm``: the ``done: true`` line ends it; an error line raises."""
    try:
        line: Any = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        line = decode_event(event, asm, provider=provider)  # raises StreamProtocolError with the raw text
    if type(line) is not dict:
        raise ResponseValidationError(
            f"{provider} sent a stream line that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=line,
            partial=asm.result(),
        )
    if line.get("error"):
        raise error_from_payload(line, provider=provider, request_id=asm.request_id, partial=asm.result())
    _line(line, asm)
    if line.get("done") is True:
        _done(line, asm)
        return TERMINAL
    return PROGRESS
