"""A whole (non-streamed) Converse response fed into the assembler; the stop reason, usage in OpenAI's names and
Bedrock's errors (an ``x-amzn-ErrorType`` response or an exception frame), which streams share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ... import errors
from ..._assembly import Assembler
from .._errors import _CONTEXT_PATTERNS
from ._names import OUTPUT_TOOL, PROVIDER_FIELD

_ERRORS: dict[str, tuple[int, type[errors.APIStatusError]]] = {
    "throttlingexception": (429, errors.RateLimitError),
    "modelnotreadyexception": (429, errors.RateLimitError),
    "servicequotaexceededexception": (429, errors.QuotaExceededError),
    "validationexception": (400, errors.BadRequestError),
    "accessdeniedexception": (403, errors.PermissionDeniedError),
    "unrecognizedclientexception": (403, errors.AuthenticationError),
    "invalidsignatureexception": (403, errors.AuthenticationError),
    "expiredtokenexception": (403, errors.AuthenticationError),
    "incompletesignatureexception": (403, errors.AuthenticationError),
    "missingauthenticationtokenexception": (403, errors.AuthenticationError),
    "resourcenotfoundexception": (404, errors.NotFoundError),
    "modeltimeoutexception": (408, errors.RequestTimeoutError),
    "conflictexception": (409, errors.ConflictError),
    "modelerrorexception": (424, errors.ServerError),
    "internalserverexception": (500, errors.ServerError),
    "modelstreamerrorexception": (500, errors.ServerError),
    "serviceunavailableexception": (503, errors.ServerError),
}
"""Bedrock's error types (``x-amzn-ErrorType``, an exception frame's ``:exception-type``, lower-cased): the status
an exception frame stands for (it has none of its own; it decides whether a stream is retried) and the class."""
CONTEXT_EXCEEDED = "model_context_window_exceeded"
_TOO_LONG = re.compile(r"input is too long|too many input tokens|prompt is too long", re.IGNORECASE)
"""How Bedrock's ``ValidationException`` says the prompt does not fit, beyond the shared patterns."""


def bedrock_error(
    kind: str,
    message: str | None,
    *,
    status: int | None,
    provider: str,
    request_id: str | None,
    body: Any,
    partial: Any = None,
) -> errors.APIStatusError:
    """The typed error of a Bedrock error type: an HTTP error (``status`` given) or an exception frame (``None``)."""
    name = kind.split(":", 1)[0].strip()
    known_status, cls = _ERRORS.get(name.lower(), (status or 500, errors.APIStatusError))
    in_stream = status is None
    status = known_status if status is None else status
    if cls is errors.APIStatusError:
        cls = errors.ServerError if status >= 500 else errors.APIStatusError
    if cls is errors.BadRequestError and message and (_CONTEXT_PATTERNS.search(message) or _TOO_LONG.search(message)):
        cls = errors.ContextLengthExceededError
    text = f"{provider} returned {status}{' (in stream)' if in_stream else ''}: {name or 'error'}"
    if message:
        text += f": {message}"
    return cls(
        text,
        status_code=status,
        code=name or None,
        type=name or None,
        in_stream=in_stream,
        provider=provider,
        request_id=request_id,
        body=body,
        partial=partial,
    )


def error_message(body: Any) -> str | None:
    """The ``message`` (or ``Message``) of an error body."""
    if not isinstance(body, Mapping):
        return None
    message = body.get("message", body.get("Message"))
    return message if isinstance(message, str) and message else None


def map_usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Converse usage in the OpenAI names the assembler reads: all input (uncached, cache reads, cache writes) is
    the prompt, and the cache reads are its cached part."""
    keys = ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    known = [raw[key] for key in keys if type(raw.get(key)) is int]
    usage: dict[str, Any] = {
        "prompt_tokens": sum(known) if known else None,
        "completion_tokens": raw.get("outputTokens"),
    }
    cached, written = raw.get("cacheReadInputTokens"), raw.get("cacheWriteInputTokens")
    if cached is not None or written is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": written}
    return usage


def finish(asm: Assembler, reason: Any, *, provider: str) -> None:
    """The stop reason, kept raw (the assembler reads ``guardrail_intervened`` and ``content_filtered`` as the
    content filter); a window exceeded is a :class:`~modelport.ContextLengthExceededError` with what arrived."""
    if not isinstance(reason, str) or not reason:
        return
    if reason == CONTEXT_EXCEEDED:
        asm.finish(0, reason)
        raise errors.ContextLengthExceededError(
            f"{provider} stopped the answer: the model's context window was exceeded ({reason})",
            status_code=400,
            code=reason,
            type=reason,
            in_stream=True,
            provider=provider,
            request_id=asm.request_id,
            partial=asm.result(),
        )
    asm.finish(0, reason)


def compact(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole Converse response into ``asm``."""
    output = body.get("output") if isinstance(body, dict) else None
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise errors.ResponseValidationError(
            f"{provider} returned a response without output.message.content",
            provider=provider,
            request_id=request_id,
            body=body,
        )
    kept: list[dict[str, Any]] | None = None
    first_call: int | None = None
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        use = block.get("toolUse")
        if isinstance(use, dict):
            if use.get("name") == OUTPUT_TOOL:
                asm.add_text(0, compact(use.get("input")))
                continue
            asm.add_tool_call(0, index, use.get("toolUseId"), use.get("name"), use.get("input") or None)
            first_call = index if first_call is None else first_call
        elif isinstance(block.get("reasoningContent"), dict):
            kept = kept or []
            kept.append(_reasoning(block["reasoningContent"], asm))
        elif isinstance(block.get("text"), str):
            asm.add_text(0, block["text"])
            if kept is not None and block["text"].strip():
                kept.append({"text": block["text"]})
    if kept and first_call is not None:
        asm.add_tool_call(0, first_call, None, None, None, {PROVIDER_FIELD: kept})
    usage = body.get("usage")
    if isinstance(usage, dict):
        asm.set_usage(map_usage(usage))
    finish(asm, body.get("stopReason"), provider=provider)


def _reasoning(reasoning: dict[str, Any], asm: Assembler) -> dict[str, Any]:
    """A whole reasoning block to ``asm``; the block as it must be sent back (text and signature, or redacted)."""
    text_block = reasoning.get("reasoningText")
    if isinstance(text_block, dict):
        text = text_block.get("text")
        if isinstance(text, str):
            asm.add_thought(0, text)
        return {"reasoningContent": {"reasoningText": dict(text_block)}}
    asm.mark_received()
    return {"reasoningContent": dict(reasoning)}
