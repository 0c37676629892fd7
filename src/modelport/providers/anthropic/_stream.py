"""A Messages stream, one event at a time, fed into the assembler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..._assembly import Assembler
from ..._sse import SSEEvent
from ...errors import ResponseValidationError
from ..dialect import KEEPALIVE, PROGRESS, TERMINAL, decode_event
from ._names import OUTPUT_TOOL, PROVIDER_FIELD
from ._response import _compact, _finish, map_usage


class _Open:
    """A content block being streamed: its kind, the pieces so far, and a signature or redacted data."""

    __slots__ = ("done", "extra", "kind", "parts", "start")

    def __init__(self, kind: str, start: Any = None, extra: str = "") -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.extra = extra
        self.start = start
        self.done = False


def _state(asm: Assembler) -> dict[str, Any]:
    state = asm.dialect_state
    if not state:
        state.update(blocks={}, kept=False, first_call=None, usage={})
    return state


def _block_start(chunk: dict[str, Any], asm: Assembler) -> None:
    index, block = chunk.get("index"), chunk.get("content_block")
    if not isinstance(index, int) or not isinstance(block, dict):
        return
    state = _state(asm)
    kind = block.get("type")
    if kind == "tool_use":
        name = block.get("name")
        if name == OUTPUT_TOOL:
            state["blocks"][index] = _Open("output", block.get("input"))
            return
        state["blocks"][index] = _Open("tool_use", block.get("input"))
        asm.add_tool_call(0, index, block.get("id"), name, None)
        if state["first_call"] is None:
            state["first_call"] = index
    elif kind in ("text", "thinking"):
        opened = state["blocks"][index] = _Open(kind, extra=block.get("signature") or "")
        if kind == "thinking":
            state["kept"] = True
        _block_text(opened, kind, block.get(kind), asm)
    elif kind == "redacted_thinking":
        state["blocks"][index] = _Open(kind, extra=block.get("data") or "")
        state["kept"] = True
        asm.mark_received()


def _block_text(opened: _Open, kind: str, text: Any, asm: Assembler) -> None:
    if not isinstance(text, str) or not text:
        return
    opened.parts.append(text)
    if kind == "text":
        asm.add_text(0, text)
    else:
        asm.add_thought(0, text)


def _block_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    """The hot path: one ``content_block_delta``."""
    delta = chunk.get("delta")
    if type(delta) is not dict:
        return
    kind = delta.get("type")
    opened = asm.dialect_state["blocks"].get(chunk.get("index")) if asm.dialect_state else None
    if kind == "text_delta":
        text = delta.get("text")
        if opened is not None:
            _block_text(opened, "text", text, asm)
        elif isinstance(text, str) and text:
            asm.add_text(0, text)
    elif kind == "input_json_delta" and opened is not None:
        piece = delta.get("partial_json")
        if isinstance(piece, str) and piece:
            opened.parts.append(piece)
            if opened.kind == "tool_use":
                asm.add_tool_call(0, chunk["index"], None, None, piece)
            else:  # structured output, handed over whole at the block's end
                asm.mark_received()
    elif kind == "thinking_delta" and opened is not None:
        _block_text(opened, "thinking", delta.get("thinking"), asm)
    elif kind == "signature_delta" and opened is not None:
        signature = delta.get("signature")
        if isinstance(signature, str) and signature:
            opened.extra += signature
            asm.mark_received()


def _block_stop(chunk: dict[str, Any], asm: Assembler) -> None:
    """A tool block is whole: its JSON is parsed once, and kept as compact text like a non-streamed input (B-77)."""
    index = chunk.get("index")
    opened = asm.dialect_state["blocks"].get(index) if asm.dialect_state else None
    if opened is None or opened.done or opened.kind not in ("tool_use", "output"):
        return
    opened.done = True
    value: Any = opened.start
    raw = "".join(opened.parts)
    if raw:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None  # the raw text stays: it does not parse, so it is never run
    if opened.kind == "output":
        asm.add_text(0, raw if value is None and raw else _compact(value))
    elif isinstance(value, dict) and value:
        asm.add_tool_call(0, index, None, None, value)


def _message_start(chunk: dict[str, Any], asm: Assembler) -> None:
    message = chunk.get("message")
    if not isinstance(message, dict):
        return
    asm.model = message.get("model") or asm.model
    identifier = message.get("id")
    if asm.request_id is None and isinstance(identifier, str) and identifier:
        asm.request_id = identifier
    _usage_update(message.get("usage"), asm)


def _usage_update(usage: Any, asm: Assembler) -> None:
    """Stream usage is cumulative: each field takes its latest value, never a sum."""
    if not isinstance(usage, dict):
        return
    latest = _state(asm)["usage"]
    latest.update((key, value) for key, value in usage.items() if value is not None)
    asm.set_usage(map_usage(latest))


def _message_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    """The end of the content: unfinished output is released, the thinking blocks are attached to the first call."""
    state = _state(asm)
    for opened in state["blocks"].values():
        if opened.kind == "output" and not opened.done and opened.parts:
            opened.done = True
            asm.add_text(0, "".join(opened.parts))
    if state["kept"] and state["first_call"] is not None:
        asm.add_tool_call(0, state["first_call"], None, None, None, {PROVIDER_FIELD: _kept(state["blocks"])})
    delta = chunk.get("delta")
    if isinstance(delta, dict):
        _finish(asm, delta)
    _usage_update(chunk.get("usage"), asm)


def _kept(blocks: dict[int, _Open]) -> list[dict[str, Any]]:
    """The streamed blocks to send back with the tool calls, the same as :func:`parse_response` keeps."""
    out: list[dict[str, Any]] = []
    for index in sorted(blocks):
        opened = blocks[index]
        if opened.kind == "thinking":
            out.append({"type": "thinking", "thinking": "".join(opened.parts), "signature": opened.extra})
        elif opened.kind == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": opened.extra})
        elif opened.kind == "text" and out and "".join(opened.parts).strip():
            out.append({"type": "text", "text": "".join(opened.parts)})
    return out


_HANDLERS: dict[str, Callable[[dict[str, Any], Assembler], None]] = {
    "content_block_start": _block_start,
    "content_block_stop": _block_stop,
    "message_start": _message_start,
    "message_delta": _message_delta,
}


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """Feed one stream event into ``asm``. Dispatched on the data's ``type`` (present in every event), so a proxy
    that drops the ``event:`` lines still works (B-110)."""
    chunk = decode_event(event, asm, provider=provider)
    if type(chunk) is not dict:
        raise ResponseValidationError(
            f"{provider} sent a stream event that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    kind = chunk.get("type")
    if kind == "content_block_delta":
        _block_delta(chunk, asm)
        return PROGRESS
    if kind == "ping":
        return KEEPALIVE
    if kind == "message_stop":
        return TERMINAL
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        handler(chunk, asm)
    return PROGRESS
