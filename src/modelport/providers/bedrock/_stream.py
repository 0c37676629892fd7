"""A ConverseStream, one event-stream message at a time, fed into the assembler."""

from __future__ import annotations

from typing import Any

import orjson

from ... import errors
from ..._assembly import Assembler
from ..._eventstream import EventMessage
from ..dialect import PROGRESS, TERMINAL
from ._names import OUTPUT_TOOL, PROVIDER_FIELD
from ._response import bedrock_error, compact, error_message, finish, map_usage


class _Open:
    """A content block being streamed: its kind (``text``, ``reasoning``, ``tool``, ``output``), its pieces, and a
    reasoning block's signature or redacted content."""

    __slots__ = ("done", "kind", "parts", "redacted", "signature")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.signature: str | None = None
        self.redacted: str | None = None
        self.done = False


def _blocks(asm: Assembler) -> dict[int, _Open]:
    state = asm.dialect_state
    if not state:
        state.update(blocks={}, first_call=None)
    blocks: dict[int, _Open] = state["blocks"]
    return blocks


def _block_start(chunk: dict[str, Any], asm: Assembler) -> None:
    index, start = chunk.get("contentBlockIndex"), chunk.get("start")
    use = start.get("toolUse") if isinstance(start, dict) else None
    if not isinstance(index, int) or not isinstance(use, dict):
        return
    name = use.get("name")
    if name == OUTPUT_TOOL:
        _blocks(asm)[index] = _Open("output")
        asm.mark_received()
        return
    _blocks(asm)[index] = _Open("tool")
    asm.add_tool_call(0, index, use.get("toolUseId"), name, None)
    if asm.dialect_state["first_call"] is None:
        asm.dialect_state["first_call"] = index


def _block_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    """The hot path: one ``contentBlockDelta``."""
    delta, index = chunk.get("delta"), chunk.get("contentBlockIndex")
    if type(delta) is not dict or not isinstance(index, int):
        return
    text = delta.get("text")
    if text is not None:
        if isinstance(text, str) and text:
            opened = _opened(asm, index, "text")
            opened.parts.append(text)
            asm.add_text(0, text)
        return
    use = delta.get("toolUse")
    if isinstance(use, dict):
        piece = use.get("input")
        tool = _blocks(asm).get(index)
        if tool is not None and isinstance(piece, str) and piece:
            tool.parts.append(piece)
            if tool.kind == "tool":
                asm.add_tool_call(0, index, None, None, piece)
            else:  # structured output, handed over whole at the block's end
                asm.mark_received()
        return
    reasoning = delta.get("reasoningContent")
    if isinstance(reasoning, dict):
        _reasoning_delta(reasoning, _opened(asm, index, "reasoning"), asm)


def _opened(asm: Assembler, index: int, kind: str) -> _Open:
    blocks = _blocks(asm)
    opened = blocks.get(index)
    if opened is None:
        opened = blocks[index] = _Open(kind)
    return opened


def _reasoning_delta(reasoning: dict[str, Any], opened: _Open, asm: Assembler) -> None:
    text, signature, redacted = reasoning.get("text"), reasoning.get("signature"), reasoning.get("redactedContent")
    if isinstance(text, str) and text:
        opened.parts.append(text)
        asm.add_thought(0, text)
    if isinstance(signature, str) and signature:
        opened.signature = (opened.signature or "") + signature
        asm.mark_received()
    if isinstance(redacted, str) and redacted:
        opened.redacted = (opened.redacted or "") + redacted
        asm.mark_received()


def _block_stop(chunk: dict[str, Any], asm: Assembler) -> None:
    """A tool block is whole: its JSON input, joined from its fragments, is parsed once and kept as compact text,
    as a non-streamed input is (a block whose JSON does not parse keeps its raw text, so it is never run)."""
    index = chunk.get("contentBlockIndex")
    opened = _blocks(asm).get(index) if isinstance(index, int) else None
    if opened is None or opened.done or opened.kind not in ("tool", "output"):
        return
    opened.done = True
    raw = "".join(opened.parts)
    value: Any = {}
    if raw:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
    if opened.kind == "output":
        asm.add_text(0, raw if value is None else compact(value))
    elif isinstance(value, dict) and value:
        asm.add_tool_call(0, index, None, None, value)


def _message_stop(chunk: dict[str, Any], asm: Assembler, provider: str) -> None:
    """The end of the content: unfinished output is released, the reasoning blocks go to the first call."""
    blocks = _blocks(asm)
    for opened in blocks.values():
        if opened.kind == "output" and not opened.done and opened.parts:
            opened.done = True
            asm.add_text(0, "".join(opened.parts))
    first_call = asm.dialect_state["first_call"]
    kept = _kept(blocks)
    if kept and first_call is not None:
        asm.add_tool_call(0, first_call, None, None, None, {PROVIDER_FIELD: kept})
    finish(asm, chunk.get("stopReason"), provider=provider)


def _kept(blocks: dict[int, _Open]) -> list[dict[str, Any]]:
    """The streamed reasoning blocks (and the text after them) to send back, as a non-streamed answer keeps them."""
    out: list[dict[str, Any]] = []
    for index in sorted(blocks):
        opened = blocks[index]
        if opened.kind == "reasoning":
            if opened.redacted is not None:
                out.append({"reasoningContent": {"redactedContent": opened.redacted}})
                continue
            text: dict[str, Any] = {"text": "".join(opened.parts)}
            if opened.signature is not None:
                text["signature"] = opened.signature
            out.append({"reasoningContent": {"reasoningText": text}})
        elif opened.kind == "text" and out and "".join(opened.parts).strip():
            out.append({"text": "".join(opened.parts)})
    return out


def _payload(message: EventMessage, asm: Assembler, provider: str) -> Any:
    try:
        return orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError:
        raise errors.StreamProtocolError(
            f"{provider} sent an event whose payload is not valid JSON",
            raw=message.payload[:500].decode("utf-8", "replace"),
            provider=provider,
            request_id=asm.request_id,
            partial=asm.result(),
        ) from None


def _in_band_error(message: EventMessage, asm: Assembler, provider: str) -> errors.APIStatusError:
    """An exception (or error) frame as its typed error, with what arrived before it."""
    if message.message_type == "error":
        text = message.headers.get(":error-message")
        body: Any = {"message": text}
    else:
        body = _payload(message, asm, provider)
        text = error_message(body)
    return bedrock_error(
        message.event,
        text if isinstance(text, str) else None,
        status=None,
        provider=provider,
        request_id=asm.request_id,
        body=body,
        partial=asm.result(),
    )


def parse_event(message: EventMessage, asm: Assembler, *, provider: str) -> int:
    """Feed one message of a ConverseStream into ``asm``. ``metadata`` (usage, after ``messageStop``) ends it."""
    if message.message_type != "event":
        raise _in_band_error(message, asm, provider)
    chunk = _payload(message, asm, provider)
    if type(chunk) is not dict:
        raise errors.ResponseValidationError(
            f"{provider} sent a stream event that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    kind = message.event
    if kind == "contentBlockDelta":
        _block_delta(chunk, asm)
    elif kind == "contentBlockStart":
        _block_start(chunk, asm)
    elif kind == "contentBlockStop":
        _block_stop(chunk, asm)
    elif kind == "messageStop":
        _message_stop(chunk, asm, provider)
    elif kind == "metadata":
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            asm.set_usage(map_usage(usage))
        return TERMINAL
    return PROGRESS
