"""Reading OpenAI chat-completions answers: a whole response body and stream chunks, into the assembler. Part of
the OpenAI dialect (:mod:`modelport.providers.openai`), whose request module holds the rules.

Thought is read from ``reasoning_content`` or ``reasoning`` (DeepSeek, vLLM, Groq, OpenRouter), else from
OpenRouter's ``reasoning_details`` (``reasoning.text`` and ``reasoning.summary`` entries; they repeat ``reasoning``
when both come, so only one is read), and from ``thinking`` content parts (Mistral's Magistral). A call to an OpenAI
custom tool is a :class:`~modelport.FunctionCall` whose arguments are the tool's raw input, marked
:data:`CUSTOM_CALL`."""

from __future__ import annotations

from typing import Any

from ..._assembly import Assembler
from ..._convert import CUSTOM_CALL
from ...errors import ResponseValidationError
from .._errors import error_from_payload

__all__ = ["parse_chunk", "parse_response"]


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) completion into ``asm``."""
    if isinstance(body, dict) and body.get("error"):
        raise error_from_payload(body, provider=provider, request_id=request_id)
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices, list):
        raise ResponseValidationError(
            f"{provider} returned a completion without choices", provider=provider, request_id=request_id, body=body
        )
    asm.model = body.get("model") or None
    if asm.request_id is None:  # llama.cpp and others send no request-id header: the completion's id stands in
        asm.request_id = _text_or_none(body.get("id"))
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise ResponseValidationError(
                f"{provider} returned a choice without a message", provider=provider, request_id=request_id, body=body
            )
        index = choice.get("index") or 0
        _delta(message, index, asm)
        _choice_end(choice, index, asm)
    usage = body.get("usage")
    if usage:
        asm.set_usage(usage)


def parse_chunk(chunk: Any, asm: Assembler, *, provider: str) -> None:
    """Feed one decoded stream chunk into ``asm``. Chunks without choices (Azure's filter results, the usage-only
    chunk) and unknown fields are fine; a chunk carrying ``error`` raises it."""
    if type(chunk) is not dict:
        raise ResponseValidationError(
            f"{provider} sent a stream chunk that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    choices = chunk.get("choices")
    if choices:
        for choice in choices:
            index = choice.get("index") or 0
            delta = choice.get("delta")
            if delta:
                _delta(delta, index, asm)
            _choice_end(choice, index, asm)
    elif chunk.get("error"):
        raise error_from_payload(chunk, provider=provider, request_id=asm.request_id, partial=asm.result())
    usage = chunk.get("usage")
    if usage:
        asm.set_usage(usage)
    if asm.model is None:
        asm.model = chunk.get("model") or None
        if asm.request_id is None:
            asm.request_id = _text_or_none(chunk.get("id"))


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _choice_end(choice: dict[str, Any], index: int, asm: Assembler) -> None:
    """What follows the message or delta in a choice: its logprobs and its finish reason."""
    logprobs = choice.get("logprobs")
    if logprobs:
        asm.add_logprobs(index, logprobs.get("content"))
    finish = choice.get("finish_reason")
    if finish:
        asm.finish(index, finish)


def _delta(delta: dict[str, Any], index: int, asm: Assembler) -> None:
    content = delta.get("content")
    if content:
        if type(content) is str:
            asm.add_text(index, content)
        else:
            _content_parts(content, index, asm)
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning and isinstance(reasoning, str):
        asm.add_thought(index, reasoning)
    elif delta.get("reasoning_details"):  # the same text again when ``reasoning`` came too: read only one
        _reasoning_details(delta["reasoning_details"], index, asm)
    tool_calls = delta.get("tool_calls")
    if tool_calls:
        for position, call in enumerate(tool_calls):
            _tool_call(call, position, index, asm)
    refusal = delta.get("refusal")
    if refusal:
        asm.add_refusal(index, refusal)


def _tool_call(call: dict[str, Any], position: int, index: int, asm: Assembler) -> None:
    """A function call, or a custom tool's call (GPT-5): its free-form ``input`` is the arguments, kept raw, and
    the call is marked (:data:`CUSTOM_CALL`) so that it goes back as a custom call."""
    call_index = call.get("index", position if "id" in call else None)
    custom = call.get("custom")
    if isinstance(custom, dict):
        asm.add_tool_call(
            index, call_index, call.get("id"), custom.get("name"), custom.get("input"), CUSTOM_CALL, free_form=True
        )
        return
    function = call.get("function") or {}
    extra = call.get("extra_content")
    asm.add_tool_call(
        index,
        call_index,
        call.get("id"),
        function.get("name"),
        function.get("arguments"),
        {"extra_content": extra} if extra else None,
    )


def _content_parts(content: Any, index: int, asm: Assembler) -> None:
    """Content as a list of parts: text parts are answer, ``thinking`` (Mistral's Magistral) and ``reasoning``
    parts are thought."""
    if not isinstance(content, list):
        asm.add_text(index, str(content))
        return
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") in ("thinking", "reasoning"):
            _thinking_part(part, index, asm)
        elif isinstance(part.get("text"), str) and part["text"]:
            asm.add_text(index, part["text"])


def _thinking_part(part: dict[str, Any], index: int, asm: Assembler) -> None:
    """A thinking part's text: ``{"thinking": [{"type": "text", "text": ...}, ...]}`` as Mistral sends it, or the
    text itself under ``thinking`` or ``text``."""
    inner = part.get("thinking", part.get("text"))
    if isinstance(inner, str):
        if inner:
            asm.add_thought(index, inner)
        return
    if isinstance(inner, list):
        for piece in inner:
            text = piece.get("text") if isinstance(piece, dict) else None
            if isinstance(text, str) and text:
                asm.add_thought(index, text)


def _reasoning_details(details: Any, index: int, asm: Assembler) -> None:
    """OpenRouter's ``reasoning_details``: the text of ``reasoning.text`` and ``reasoning.summary`` entries is
    thought; ``reasoning.encrypted`` carries none."""
    if not isinstance(details, list):
        return
    for detail in details:
        if not isinstance(detail, dict) or detail.get("type") == "reasoning.encrypted":
            continue
        text = detail.get("summary") if detail.get("type") == "reasoning.summary" else detail.get("text")
        if isinstance(text, str) and text:
            asm.add_thought(index, text)
