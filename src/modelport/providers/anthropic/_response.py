"""A whole (non-streamed) Messages response fed into the assembler; the stop reason and Anthropic's usage in
OpenAI's names, which streams share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..._assembly import Assembler
from ...errors import ResponseValidationError
from .._errors import error_from_payload
from ._names import _SIGNED, OUTPUT_TOOL, PROVIDER_FIELD


def map_usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic's usage in the OpenAI names the assembler reads: all input (uncached, cache reads, cache writes) is
    the prompt, and the cache reads are its cached part."""
    parts = [raw.get(key) for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
    known = [part for part in parts if isinstance(part, int)]
    usage: dict[str, Any] = {
        "prompt_tokens": sum(known) if known else None,
        "completion_tokens": raw.get("output_tokens"),
    }
    cached, written = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
    if isinstance(cached, int) or isinstance(written, int):
        usage["prompt_tokens_details"] = {
            "cached_tokens": cached if isinstance(cached, int) else None,
            "cache_write_tokens": written if isinstance(written, int) else None,
        }
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping) and isinstance(details.get("thinking_tokens"), int):
        usage["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return usage


def _finish(asm: Assembler, delta: Mapping[str, Any]) -> None:
    """The stop reason, kept raw (the assembler maps it); a refusal also fills ``refusal`` (B-90)."""
    reason = delta.get("stop_reason")
    if not isinstance(reason, str) or not reason:
        return
    asm.finish(0, reason)
    if reason == "refusal":
        details = delta.get("stop_details")
        details = details if isinstance(details, Mapping) else {}
        explanation = details.get("explanation")
        category = details.get("category")
        text = explanation if isinstance(explanation, str) and explanation else "the model refused to answer"
        asm.add_refusal(0, f"{text} ({category})" if isinstance(category, str) and category else text)


def _compact(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) message into ``asm``."""
    if isinstance(body, dict) and (body.get("type") == "error" or body.get("error")):
        raise error_from_payload(body, provider=provider, request_id=request_id)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, list):
        raise ResponseValidationError(
            f"{provider} returned a message without content", provider=provider, request_id=request_id, body=body
        )
    asm.model = body.get("model") or None
    if asm.request_id is None:
        identifier = body.get("id")
        asm.request_id = identifier if isinstance(identifier, str) and identifier else None
    kept: list[dict[str, Any]] | None = None
    first_call: int | None = None
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_use":
            if block.get("name") == OUTPUT_TOOL:
                asm.add_text(0, _compact(block.get("input")))
                continue
            asm.add_tool_call(0, index, block.get("id"), block.get("name"), block.get("input") or None)
            first_call = index if first_call is None else first_call
        elif kind in ("text", "thinking", "redacted_thinking"):
            wire = _content_block(block, asm)
            if kind in _SIGNED and kept is None:
                kept = []
            if kept is not None and wire is not None:
                kept.append(wire)
    if kept and first_call is not None:
        asm.add_tool_call(0, first_call, None, None, None, {PROVIDER_FIELD: kept})
    _finish(asm, body)
    usage = body.get("usage")
    if isinstance(usage, dict):
        asm.set_usage(map_usage(usage))


def _content_block(block: dict[str, Any], asm: Assembler) -> dict[str, Any] | None:
    """Feed a whole text or thinking block to ``asm``; the block as it must be sent back, if it can be."""
    kind = block["type"]
    if kind == "redacted_thinking":
        return {"type": kind, "data": block.get("data", "")}
    key = "text" if kind == "text" else "thinking"
    text = block.get(key)
    text = text if isinstance(text, str) else ""
    if kind == "text":
        if text:
            asm.add_text(0, text)
        return {"type": "text", "text": text} if text.strip() else None
    if text:
        asm.add_thought(0, text)
    return {"type": "thinking", "thinking": text, "signature": block.get("signature", "")}
