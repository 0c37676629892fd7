"""A whole (non-streamed) Responses answer fed into the assembler, and what a stream's terminal event shares with
it: the status, the usage in the assembler's names, the items kept with each call, and ``failed`` as a typed
error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..._assembly import Assembler
from ...errors import APIStatusError, ResponseValidationError
from .._errors import error_from_payload
from ._input import PROVIDER_FIELD

__all__ = [
    "attach_kept",
    "cut_at_limit",
    "finish",
    "map_usage",
    "parse_response",
    "read_item",
    "response_error",
    "thought",
    "typed_error",
]

_STATUS_BY_CODE = {
    "server_error": 500,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "vector_store_timeout": 504,
    "invalid_prompt": 400,
    "context_length_exceeded": 400,
    "content_filter": 400,
}
"""The HTTP status an error ``code`` of a failed response (or an ``error`` event) stands for; other codes (the
many ``invalid_image...`` ones among them) are the caller's input, 400, unless they say ``server``."""
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def typed_error(error: Any, *, provider: str, request_id: str | None, partial: Any) -> APIStatusError:
    """The typed error of a Responses ``error`` object (a failed response's, or an ``error`` event's)."""
    data = dict(error) if isinstance(error, Mapping) else {"message": str(error)}
    if data.get("type") == "error":  # an ``error`` event: its fields are the error's
        del data["type"]
    data.pop("sequence_number", None)
    code = data.get("code")
    if isinstance(code, str):
        data.setdefault("type", code)
        default = 500 if "server" in code or "timeout" in code else 400
        data["status"] = _STATUS_BY_CODE.get(code, default)
    else:
        data["status"] = 500
    return error_from_payload(data, provider=provider, request_id=request_id, partial=partial)


def response_error(response: Mapping[str, Any], asm: Assembler, *, provider: str) -> APIStatusError:
    """A ``failed`` response as its typed error, with what it held as ``partial``."""
    error = response.get("error") or {"code": "server_error", "message": "the response failed"}
    return typed_error(error, provider=provider, request_id=asm.request_id, partial=asm.result())


def map_usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Responses usage in the names the assembler reads: ``input_tokens`` (of which ``cached_tokens`` read from the
    cache and ``cache_write_tokens`` written to it) is the prompt, ``output_tokens`` (of which ``reasoning_tokens``)
    the completion."""
    usage: dict[str, Any] = {"prompt_tokens": raw.get("input_tokens"), "completion_tokens": raw.get("output_tokens")}
    details = raw.get("input_tokens_details")
    if isinstance(details, Mapping):
        usage["prompt_tokens_details"] = {
            "cached_tokens": details.get("cached_tokens"),
            "cache_write_tokens": details.get("cache_write_tokens"),
        }
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping) and "reasoning_tokens" in details:
        usage["completion_tokens_details"] = {"reasoning_tokens": details["reasoning_tokens"]}
    return usage


def thought(asm: Assembler, key: tuple[int, str, int], text: Any) -> None:
    """Reasoning text into ``asm``; a new summary part or reasoning item starts after a blank line, the same
    whether it arrives whole or in deltas."""
    if not isinstance(text, str) or not text:
        return
    state = asm.dialect_state
    last = state.get("thought_key")
    if last != key:
        if last is not None:
            text = "\n\n" + text
        state["thought_key"] = key
    asm.add_thought(0, text)


def _reasoning(item: Mapping[str, Any], index: int, asm: Assembler) -> None:
    for kind in ("summary", "content"):  # summaries (OpenAI), reasoning text (open-weight models behind vLLM)
        parts = item.get(kind)
        for position, part in enumerate(parts if isinstance(parts, list) else ()):
            if isinstance(part, Mapping):
                thought(asm, (index, kind, position), part.get("text"))


def _message(item: Mapping[str, Any], asm: Assembler) -> None:
    content = item.get("content")
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "output_text" and isinstance(part.get("text"), str):
            asm.add_text(0, part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            asm.add_refusal(0, part["refusal"])
            asm.dialect_state["refused"] = True


def attach_kept(items: Iterable[tuple[int, Any]], asm: Assembler) -> None:
    """Each function call after reasoning keeps, in ``provider_fields``, the items since the previous call
    (reasoning, and any message between), verbatim, with its own item id and call id, to go back in front of it
    next turn. ``items``: (output index, item) in order."""
    since: list[dict[str, Any]] = []
    for index, item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind != "function_call":
            if kind in ("reasoning", "message"):
                since.append(item)
            continue
        if any(kept.get("type") == "reasoning" for kept in since):
            kept = {"items": since, "id": item.get("id"), "call_id": item.get("call_id")}
            asm.add_tool_call(0, index, None, None, None, {PROVIDER_FIELD: kept})
        since = []


def finish(response: Mapping[str, Any], asm: Assembler, *, provider: str) -> None:
    """The status of a whole response (or of a stream's terminal event) and its usage, into ``asm``; ``failed``
    raises its typed error."""
    usage = response.get("usage")
    if isinstance(usage, Mapping):
        asm.set_usage(map_usage(usage))
    status = response.get("status")
    asm.dialect_state["status"] = status
    if status == "failed":
        raise response_error(response, asm, provider=provider)
    if asm.dialect_state.get("refused"):
        asm.finish(0, "refusal")
    elif status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        asm.finish(0, _INCOMPLETE.get(reason, reason) if isinstance(reason, str) else "incomplete")
    elif status == "completed":
        asm.finish(0, "stop")
    elif isinstance(status, str) and status:
        asm.finish(0, status)


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) response into ``asm``: its ``output`` items in order."""
    if isinstance(body, dict) and body.get("error") and body.get("status") != "failed":
        raise error_from_payload(body, provider=provider, request_id=request_id)
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, list):
        raise ResponseValidationError(
            f"{provider} returned a response without output", provider=provider, request_id=request_id, body=body
        )
    asm.model = body.get("model") or None
    if asm.request_id is None:
        identifier = body.get("id")
        asm.request_id = identifier if isinstance(identifier, str) and identifier else None
    for index, item in enumerate(output):
        read_item(item, index, asm)
    attach_kept(enumerate(output), asm)
    finish(body, asm, provider=provider)


def read_item(item: Any, index: int, asm: Assembler) -> None:
    """One whole output item into ``asm``."""
    if not isinstance(item, dict):
        return
    kind = item.get("type")
    if kind == "message":
        _message(item, asm)
    elif kind == "function_call":
        asm.add_tool_call(0, index, item.get("call_id"), item.get("name"), item.get("arguments") or None)
    elif kind == "reasoning":
        _reasoning(item, index, asm)


def cut_at_limit(asm: Assembler, payload: Mapping[str, Any] | None) -> None:
    """A ``completed`` answer whose output reached the request's ``max_output_tokens`` was cut there: llama.cpp's
    ``/v1/responses`` says ``completed`` where OpenAI says ``incomplete``. Read by the client's finish step, the one
    place that has both the request and the answer."""
    limit = payload.get("max_output_tokens") if payload else None
    usage = asm.usage
    spent = usage.get("completion_tokens") if usage else None
    if type(limit) is int and type(spent) is int and spent >= limit and asm.dialect_state.get("status") == "completed":
        asm.finish(0, "length")
