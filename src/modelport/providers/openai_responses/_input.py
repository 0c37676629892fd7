"""Messages for the Responses API: modelport's messages to the ``instructions`` and the ``input`` items of a
``/v1/responses`` request, checked by the rules in :mod:`modelport.providers.openai_responses.dialect`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import CapabilityError, InvalidRequestError
from ...messages import (
    AssistantMessage,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from ...model_info import ModelInfo
from .._checks import check_call, check_str

__all__ = ["PROVIDER_FIELD", "verifiable_only", "wire_input"]

PROVIDER_FIELD = "openai_responses"
"""The ``FunctionCall.provider_fields`` key holding what a call came with: the reasoning items (and any message
item between them and the call) verbatim, under ``"items"``, and the call item's own ``"id"``."""


def wire_input(messages: Sequence[Any], info: ModelInfo) -> tuple[str | None, list[dict[str, Any]]]:
    """The ``instructions`` (system messages before the first other message) and the ``input`` items."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    open_calls: dict[str, int] = {}  # the last assistant turn's call ids, and the message that made them
    for i, message in enumerate(messages):
        if open_calls and not isinstance(message, FunctionExecutionResultMessage):
            _check_answered(open_calls)
        if isinstance(message, SystemMessage):
            check_str(message.content, f"messages[{i}].content")
            if items:  # a later system message keeps its place
                items.append({"role": "system", "content": message.content})
            elif message.content.strip():
                instructions.append(message.content)
        elif isinstance(message, UserMessage):
            items.append({"role": "user", "content": _user_content(message, i, info)})
        elif isinstance(message, AssistantMessage):
            items += _assistant_items(message, i)
            if isinstance(message.content, list):
                open_calls = {call.id: i for call in message.content}
        elif isinstance(message, FunctionExecutionResultMessage):
            items += _outputs(message, i, open_calls)
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    _check_answered(open_calls)
    return ("\n".join(instructions) or None), items


def verifiable_only(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items without the reasoning that nothing stored can verify: with ``store=False`` a kept reasoning item
    without its ``encrypted_content`` (none was asked: the model was not known to reason) would be refused, so it
    is left out, and the call that followed it goes without its item id (which named it as that reasoning's)."""
    kept: list[dict[str, Any]] = []
    dropped = False
    for item in items:
        if item.get("type") == "reasoning" and not isinstance(item.get("encrypted_content"), str):
            dropped = True
            continue
        if dropped and item.get("type") == "function_call":
            item.pop("id", None)
            dropped = False
        kept.append(item)
    return kept


def _check_answered(open_calls: dict[str, int]) -> None:
    if open_calls:
        index = next(iter(open_calls.values()))
        raise InvalidRequestError(
            f"messages[{index}]: tool calls without results: {', '.join(sorted(open_calls))}; every tool call must "
            "be followed by a FunctionExecutionResultMessage answering it"
        )


def _user_content(message: UserMessage, i: int, info: ModelInfo) -> str | list[dict[str, Any]]:
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a str or a list, not {type(content).__name__}")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        field = f"messages[{i}].content[{j}]"
        if isinstance(part, str):
            check_str(part, field)
            parts.append({"type": "input_text", "text": part})
        elif isinstance(part, Image):
            parts.append(_image(part, field, info))
        else:
            raise InvalidRequestError(f"{field}: expected str or Image, got {type(part).__name__}")
    return parts


def _image(image: Image, field: str, info: ModelInfo) -> dict[str, Any]:
    if not info["vision"]:
        raise CapabilityError(
            f"{field}: an image was given but the model does not support vision (model_info['vision'] is False)"
        )
    if not image.data_uri or image.detail not in ("auto", "low", "high"):
        raise InvalidRequestError(
            f"{field}: the image has no data nor url, or a detail other than 'auto', 'low' or 'high' "
            "(was it made with model_construct?)"
        )
    return {"type": "input_image", "image_url": image.data_uri, "detail": image.detail}


def _assistant_items(message: AssistantMessage, i: int) -> list[dict[str, Any]]:
    """An assistant turn: its text, or its calls, each after the items it came with (its reasoning, sent back as
    it arrived); a turn of calls made elsewhere sends its ``thought`` as text in front of them."""
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return [{"role": "assistant", "content": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(content).__name__}"
        )
    items: list[dict[str, Any]] = []
    kept_any = False
    for j, call in enumerate(content):
        kept, call_item = _call_items(call, f"messages[{i}].content[{j}]")
        kept_any = kept_any or bool(kept)
        items += kept
        items.append(call_item)
    if not kept_any and message.thought:
        items.insert(0, {"role": "assistant", "content": message.thought})
    return items


def _call_items(call: Any, field: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The items a call came with (verbatim) and its ``function_call`` item."""
    call = check_call(call, field)
    item: dict[str, Any] = {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments}
    fields = call.provider_fields
    kept = fields.get(PROVIDER_FIELD) if isinstance(fields, Mapping) else None
    if kept is None:
        return [], item
    items, item_id, follows = _kept(kept, field)
    if follows is not None and follows != call.id:
        raise InvalidRequestError(
            f"{field}: the reasoning this call carries came before call {follows!r}, not {call.id!r}; a reasoning "
            "item must be sent back right before the item that followed it (pass the calls back unchanged)"
        )
    if item_id is not None:
        item["id"] = item_id
    return items, item


def _kept(kept: Any, field: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """(the kept items, the call item's id, the call id they came before) from ``provider_fields``."""
    items = kept.get("items") if isinstance(kept, Mapping) else None
    item_id = kept.get("id") if isinstance(kept, Mapping) else None
    follows = kept.get("call_id") if isinstance(kept, Mapping) else None
    if (
        not isinstance(items, list)
        or not all(isinstance(item, Mapping) and isinstance(item.get("type"), str) for item in items)
        or not isinstance(item_id, (str, type(None)))
        or not isinstance(follows, (str, type(None)))
    ):
        raise InvalidRequestError(
            f"{field}.provider_fields[{PROVIDER_FIELD!r}] must be what the Responses API sent with the call "
            "(its items and ids); pass it back unchanged"
        )
    return [dict(item) for item in items], item_id, follows


def _outputs(message: FunctionExecutionResultMessage, i: int, open_calls: dict[str, int]) -> list[dict[str, Any]]:
    if not isinstance(message.content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
    items = []
    for j, result in enumerate(message.content):
        call_id = getattr(result, "call_id", None)
        check_str(call_id, f"messages[{i}].content[{j}].call_id")
        assert isinstance(call_id, str)
        check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
        if open_calls.pop(call_id, None) is None:
            raise InvalidRequestError(
                f"messages[{i}].content[{j}]: call_id {call_id!r} answers no open tool call of the assistant "
                "message before it; the Responses API takes a function_call_output only after its function_call"
            )
        items.append({"type": "function_call_output", "call_id": call_id, "output": result.content})
    return items
