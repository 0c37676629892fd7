"""``modelport batch`` lines whose ``url`` is ``/v1/responses``: their body (``instructions``, ``input`` items,
flat function tools) read into modelport's messages, and a result written back as a Responses ``response``
object (the ``body`` of the output line's ``response``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidRequestError
from ...messages import (
    AssistantMessage,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from ._input import PROVIDER_FIELD

__all__ = ["read_body", "response_body"]

_CALL_KEYS = ("input", "instructions", "tools", "tool_choice", "model", "stream")


def read_body(body: Mapping[str, Any], where: str) -> tuple[list[Any], list[Any], Any, dict[str, Any]]:
    """(messages, tools, tool_choice, create arguments) of a Responses request body; ``where`` prefixes a field."""
    if "input" not in body:
        raise InvalidRequestError(f"{where}input: required")
    messages: list[Any] = []
    instructions = body.get("instructions")
    if instructions is not None:
        messages.append(SystemMessage(content=_text(instructions, f"{where}instructions")))
    raw = body["input"]
    if isinstance(raw, str):
        messages.append(UserMessage(content=raw, source="user"))
    elif isinstance(raw, list):
        messages += _messages(raw, f"{where}input")
    else:
        raise InvalidRequestError(f"{where}input: a str or a list of items, not {type(raw).__name__}")
    tools = [_tool(tool, f"{where}tools[{i}]") for i, tool in enumerate(body.get("tools") or [])]
    args = {key: value for key, value in body.items() if key not in _CALL_KEYS}
    return messages, tools, body.get("tool_choice", "auto"), args


def _text(value: Any, where: str) -> str:
    """Text given as a str or as a list of text parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, Mapping) and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    raise InvalidRequestError(f"{where}: text (a str or a list of text parts) is required")


def _user(content: Any, where: str) -> UserMessage:
    if isinstance(content, str):
        return UserMessage(content=content, source="user")
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content: a str or a list of parts, not {type(content).__name__}")
    parts: list[str | Image] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "input_text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append(Image.from_url(part["image_url"], detail=part.get("detail") or "auto"))
        else:
            raise InvalidRequestError(f"{where}.content[{j}]: an input_text or input_image part is expected")
    return UserMessage(content=parts, source="user")


def _messages(items: list[Any], where: str) -> list[Any]:
    """Input items as messages: consecutive function calls make one assistant turn, consecutive outputs one result
    message; reasoning items ride on the call after them, as a Responses answer's do."""
    out: list[Any] = []
    kept: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        field = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidRequestError(f"{field}: an item (a JSON object) is expected")
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "reasoning":
            kept.append(dict(item))
        elif kind == "function_call":
            out, kept = _call(out, item, kept, field), []
        elif kind == "function_call_output":
            result = FunctionExecutionResult(
                call_id=str(item.get("call_id")), content=_text(item.get("output"), f"{field}.output"), name=""
            )
            if out and isinstance(out[-1], FunctionExecutionResultMessage):
                out[-1] = FunctionExecutionResultMessage(content=[*out[-1].content, result])
            else:
                out.append(FunctionExecutionResultMessage(content=[result]))
        elif kind == "message" and role in ("system", "developer"):
            out.append(SystemMessage(content=_text(item.get("content"), f"{field}.content")))
        elif kind == "message" and role == "user":
            out.append(_user(item.get("content"), field))
        elif kind == "message" and role == "assistant":
            out.append(AssistantMessage(content=_text(item.get("content"), f"{field}.content"), source="assistant"))
        else:
            raise InvalidRequestError(f"{field}: an item of type {kind!r} (role {role!r}) cannot be read")
    return out


def _call(out: list[Any], item: Mapping[str, Any], kept: list[dict[str, Any]], field: str) -> list[Any]:
    arguments = item.get("arguments")
    fields = {PROVIDER_FIELD: {"items": kept, "id": item.get("id"), "call_id": item.get("call_id")}} if kept else None
    call = FunctionCall(
        id=str(item.get("call_id")),
        name=str(item.get("name")),
        arguments=arguments if isinstance(arguments, str) else "{}",
        provider_fields=fields,
    )
    last = out[-1] if out else None
    if isinstance(last, AssistantMessage) and isinstance(last.content, list):
        out[-1] = AssistantMessage(content=[*last.content, call], source="assistant")
    else:
        out.append(AssistantMessage(content=[call], source="assistant"))
    return out


def _tool(tool: Any, where: str) -> dict[str, Any]:
    """A flat Responses function tool as a tool schema."""
    if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
        raise InvalidRequestError(f"{where}: a function tool ({{'type': 'function', 'name': ...}}) is expected")
    return {key: value for key, value in tool.items() if key != "type"}


def response_body(result: CreateResult, request_id: str) -> dict[str, Any]:
    """``result`` as the ``response`` object the Responses API returns."""
    output: list[dict[str, Any]] = []
    if isinstance(result.content, list):
        for call in result.content:
            kept = (call.provider_fields or {}).get(PROVIDER_FIELD)
            output += kept["items"] if isinstance(kept, Mapping) else []
            output.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": "completed",
                }
            )
    else:
        parts: list[dict[str, Any]] = [{"type": "output_text", "text": result.content, "annotations": []}]
        if result.refusal:
            parts.append({"type": "refusal", "refusal": result.refusal})
        output.append({"type": "message", "role": "assistant", "status": "completed", "content": parts})
    cut = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(result.finish_reason)
    usage = result.usage
    return {
        "id": request_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": cut} if cut else None,
        "model": result.model,
        "output": output,
        "usage": {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_prompt_tokens or 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }
