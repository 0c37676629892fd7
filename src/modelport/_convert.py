"""Every input form converted once, at the boundary: OpenAI chat-format dicts and AutoGen's message objects become
modelport's messages, OpenAI's tool dicts become tool schemas. After this, the rest of the pipeline sees one form,
so the same conversation in any form gives the same request body and the same cache key.

Public through :func:`modelport.messages.from_openai`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import orjson

from ._validate import check_json_value, shown
from .errors import InvalidRequestError
from .messages import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    Image,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

CUSTOM_CALL: Mapping[str, str] = MappingProxyType({"tool_type": "custom"})
"""``FunctionCall.provider_fields`` of a call to an OpenAI custom tool: ``arguments`` is the tool's free-form
input, and the call is sent back as ``{"type": "custom", "custom": {"name", "input"}}``."""


def is_custom_call(provider_fields: Mapping[str, Any] | None) -> bool:
    """Whether a call's ``provider_fields`` mark it as a call to an OpenAI custom tool."""
    return provider_fields is not None and provider_fields.get("tool_type") == "custom"


__all__ = ["CUSTOM_CALL", "as_message", "as_messages", "as_tools", "from_openai", "is_custom_call"]

OWN_TYPES = (SystemMessage, UserMessage, AssistantMessage, FunctionExecutionResultMessage)
_AUTOGEN_TYPES = frozenset({"SystemMessage", "UserMessage", "AssistantMessage", "FunctionExecutionResultMessage"})


def as_messages(messages: Any) -> Any:
    """``messages`` as modelport's messages. A list that holds only modelport's messages is returned as it is (the
    common case costs one type check per message); anything that is not a list is returned for the request builder
    to refuse by name."""
    kind = type(messages)
    if (
        kind is not list
        and kind is not tuple
        and (isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence))
    ):
        return messages
    for message in messages:
        if not isinstance(message, OWN_TYPES):
            return _convert(messages)
    return messages


def as_message(message: Any, history: Sequence[Any] = ()) -> Any:
    """One message in any form as modelport's, for a chat history: a ``tool`` dict takes its result's name from the
    last tool call in ``history`` that it answers."""
    if isinstance(message, OWN_TYPES):
        return message
    last_calls = next((m for m in reversed(history) if isinstance(m, AssistantMessage)), None)
    return _convert([last_calls, message] if last_calls is not None else [message])[-1]


def from_openai(messages: Sequence[Mapping[str, Any]]) -> list[LLMMessage]:
    """OpenAI chat-format dicts (``system``, ``developer``, ``user`` with text and ``image_url`` parts, ``assistant``
    with ``tool_calls``, ``tool``) as modelport's messages; AutoGen's message objects and modelport's own pass too.
    Consecutive ``tool`` messages become one :class:`~modelport.FunctionExecutionResultMessage`, each result named
    after the call it answers. A malformed message raises :class:`~modelport.InvalidRequestError` naming its index and
    field. Every client call does this itself: pass OpenAI dicts straight to ``create`` if you like."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    return _convert(messages)


def _convert(messages: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        if isinstance(message, OWN_TYPES):
            converted: Any = message
        elif isinstance(message, Mapping):
            converted = _from_dict(message, i, call_names)
            if isinstance(converted, FunctionExecutionResultMessage) and out and _is_open_results(out[-1], messages, i):
                out[-1] = FunctionExecutionResultMessage(content=[*out[-1].content, *converted.content])
                continue
        elif getattr(message, "type", None) in _AUTOGEN_TYPES and hasattr(message, "content"):
            converted = _from_autogen(message, i)
        else:
            converted = message  # the request builder names it: "not a message type modelport knows"
        if isinstance(converted, AssistantMessage) and isinstance(converted.content, list):
            # a message built with model_construct may hold anything: the request builder names what is not a call
            call_names.update((c.id, c.name) for c in converted.content if isinstance(c, FunctionCall))
        out.append(converted)
    return out


def _is_open_results(previous: Any, messages: Sequence[Any], i: int) -> bool:
    """Whether a ``tool`` dict at ``i`` continues the results message built from the ``tool`` dict before it."""
    before = messages[i - 1]
    return (
        isinstance(previous, FunctionExecutionResultMessage)
        and isinstance(before, Mapping)
        and (before.get("role") == "tool")
    )


# -- OpenAI dicts --


def _from_dict(message: Mapping[str, Any], i: int, call_names: Mapping[str, str]) -> Any:
    role = message.get("role")
    where = f"messages[{i}]"
    if role in ("system", "developer"):
        return SystemMessage(content=_text(message.get("content"), f"{where}.content"))
    if role == "user":
        return UserMessage(content=_user_content(message.get("content"), where), source=_source(message, "user", i))
    if role == "assistant":
        return _assistant(message, where, i)
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(f"{where}.tool_call_id is required for a tool message and must be a str")
        name = message.get("name") or call_names.get(call_id, "")
        content = _text(message.get("content"), f"{where}.content")
        return FunctionExecutionResultMessage(
            content=[FunctionExecutionResult(content=content, name=str(name), call_id=call_id)]
        )
    if role == "function":
        raise InvalidRequestError(f"{where}.role 'function' is the legacy functions API; send 'tool' messages")
    raise InvalidRequestError(
        f"{where}.role must be system, developer, user, assistant or tool, not {shown(role)}"
        if role is not None
        else f"{where}: a dict message needs a 'role' (OpenAI's chat format)"
    )


def _source(message: Mapping[str, Any], default: str, i: int) -> str:
    name = message.get("name")
    if name is None:  # absent, or ``null`` as SDKs serialise an unset field
        return default
    if not isinstance(name, str):
        raise InvalidRequestError(f"messages[{i}].name must be a str, not {type(name).__name__}")
    return name or default


def _text(content: Any, where: str) -> str:
    """A content that must be text: a str, or a list of text parts."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise InvalidRequestError(f"{where}[{j}] must be a text part {{'type': 'text', 'text': ...}}")
        return "".join(texts)
    raise InvalidRequestError(f"{where} must be a str or a list of text parts, not {type(content).__name__}")


def _user_content(content: Any, where: str) -> str | list[str | Image]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a str or a list of parts, not {type(content).__name__}")
    parts: list[str | Image] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "image_url":
            parts.append(_image(part.get("image_url"), f"{where}.content[{j}].image_url"))
        else:
            raise InvalidRequestError(f"{where}.content[{j}] must be a text or image_url part, not {shown(part)}")
    return parts


def _image(spec: Any, where: str) -> Image:
    url = spec.get("url") if isinstance(spec, Mapping) else spec
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"{where}.url is required")
    detail = spec.get("detail", "auto") if isinstance(spec, Mapping) else "auto"
    try:
        return Image.from_url(url, detail=detail)
    except ValueError as exc:
        raise InvalidRequestError(f"{where}: {str(exc).splitlines()[0]}") from None


def _assistant(message: Mapping[str, Any], where: str, i: int) -> AssistantMessage:
    source = _source(message, "assistant", i)
    text = _text(message.get("content"), f"{where}.content")
    reasoning = message.get("reasoning_content")
    tool_calls = message.get("tool_calls")
    if not tool_calls:
        thought = reasoning if isinstance(reasoning, str) and reasoning else None
        return AssistantMessage(content=text, thought=thought, source=source)
    if not isinstance(tool_calls, list):
        raise InvalidRequestError(f"{where}.tool_calls must be a list")
    calls = [_call(call, f"{where}.tool_calls[{j}]") for j, call in enumerate(tool_calls)]
    thought = "\n".join(t for t in (reasoning if isinstance(reasoning, str) else "", text) if t) or None
    return AssistantMessage(content=calls, thought=thought, source=source)


def _call(call: Any, where: str) -> FunctionCall:
    if isinstance(call, Mapping) and call.get("type") == "custom":
        return _custom_call(call, where)
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        raise InvalidRequestError(f"{where}.function is required: {{'name': ..., 'arguments': ...}}")
    call_id, name, arguments = call.get("id"), function.get("name"), function.get("arguments", "")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError(f"{where}.id is required and must be a str")
    if not isinstance(name, str):
        raise InvalidRequestError(f"{where}.function.name is required and must be a str")
    if isinstance(arguments, Mapping):  # some producers keep arguments as an object
        check_json_value(arguments, f"{where}.function.arguments")  # orjson would raise, or write NaN as null
        arguments = orjson.dumps(dict(arguments)).decode()
    if not isinstance(arguments, str):
        raise InvalidRequestError(f"{where}.function.arguments must be a JSON str")
    return FunctionCall(id=call_id, name=name, arguments=arguments)


def _custom_call(call: Mapping[str, Any], where: str) -> FunctionCall:
    """A call to an OpenAI custom tool, ``{"type": "custom", "custom": {"name", "input"}}``: its raw input is the
    arguments, and the call stays marked as custom."""
    custom = call.get("custom")
    if not isinstance(custom, Mapping):
        raise InvalidRequestError(f"{where}.custom is required for a custom tool call: {{'name': ..., 'input': ...}}")
    call_id, name, raw = call.get("id"), custom.get("name"), custom.get("input", "")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError(f"{where}.id is required and must be a str")
    if not isinstance(name, str) or not isinstance(raw, str):
        raise InvalidRequestError(f"{where}.custom.name and {where}.custom.input must be str")
    return FunctionCall(id=call_id, name=name, arguments=raw, provider_fields=dict(CUSTOM_CALL))


# -- AutoGen's objects --


def _from_autogen(message: Any, i: int) -> Any:
    kind = message.type
    if kind == "SystemMessage":
        return SystemMessage(content=message.content)
    if kind == "UserMessage":
        content = message.content
        if isinstance(content, list):
            content = [part if isinstance(part, str) else _autogen_image(part, i, j) for j, part in enumerate(content)]
        return UserMessage(content=content, source=getattr(message, "source", "user") or "user")
    if kind == "AssistantMessage":
        content = message.content
        if isinstance(content, list):
            content = [FunctionCall(id=c.id, name=c.name, arguments=c.arguments) for c in content]
        return AssistantMessage(
            content=content, thought=getattr(message, "thought", None), source=getattr(message, "source", "assistant")
        )
    results = [
        FunctionExecutionResult(
            content=r.content, name=getattr(r, "name", ""), call_id=r.call_id, is_error=getattr(r, "is_error", None)
        )
        for r in message.content
    ]
    return FunctionExecutionResultMessage(content=results)


def _autogen_image(part: Any, i: int, j: int) -> Image:
    if isinstance(part, Image):
        return part
    to_base64 = getattr(part, "to_base64", None)
    if not callable(to_base64):
        raise InvalidRequestError(f"messages[{i}].content[{j}]: expected str or Image, got {type(part).__name__}")
    return Image.from_base64(to_base64())


# -- tools --


def as_tools(tools: Any) -> Any:
    """``tools`` with OpenAI's ``{"type": "function", "function": {...}}`` form unwrapped to a tool schema; anything
    else is returned as it is for the request builder to check."""
    if not tools or isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        return tools
    if not any(isinstance(t, Mapping) and "function" in t for t in tools):
        return tools
    return [_unwrap_tool(t, i) for i, t in enumerate(tools)]


def _unwrap_tool(tool: Any, i: int) -> Any:
    if not (isinstance(tool, Mapping) and "function" in tool):
        return tool
    if tool.get("type", "function") != "function":
        raise InvalidRequestError(f"tools[{i}].type must be 'function', not {shown(tool.get('type'))}")
    function = tool["function"]
    if not isinstance(function, Mapping):
        raise InvalidRequestError(f"tools[{i}].function must be a dict with name, description and parameters")
    return dict(function)
