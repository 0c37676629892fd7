"""Messages for Converse: modelport's messages to the ``system`` blocks and the ``messages`` of a Converse request,
by the rules in :mod:`modelport.providers.bedrock.dialect`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import CapabilityError, InvalidRequestError
from ...messages import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from ...model_info import ModelInfo
from .._checks import append_turn, call_input, check_answered, check_call, check_str, user_blocks
from ._names import PROVIDER_FIELD

_IMAGE_FORMATS = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


class Conversation:
    """What :func:`wire_messages` made: the system blocks, the turns, and the names of the tools the history
    called (a history with tool calls needs a ``toolConfig`` naming them)."""

    __slots__ = ("called", "system", "turns")

    def __init__(self) -> None:
        self.system: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []
        self.called: dict[str, None] = {}


def wire_messages(messages: Sequence[Any], info: ModelInfo) -> Conversation:
    """modelport's messages as a Converse conversation, checked: system messages (wherever they stand) become the
    ``system`` blocks in order; consecutive turns of one role are merged, so every result of one assistant turn
    is in one user turn; a tool call without its result, or a result without its call, is refused."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    built = Conversation()
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            check_str(message.content, f"messages[{i}].content")
            if message.content.strip():
                built.system.append({"text": message.content})
            continue
        if calls and not isinstance(message, FunctionExecutionResultMessage):
            check_answered(calls, answered)
            calls, answered = {}, set()
        if isinstance(message, UserMessage):
            append_turn(built.turns, "user", _user_blocks(message, i, info))
        elif isinstance(message, AssistantMessage):
            blocks = _assistant_blocks(message, i)
            ids = [block["toolUse"]["toolUseId"] for block in blocks if "toolUse" in block]
            built.called.update((block["toolUse"]["name"], None) for block in blocks if "toolUse" in block)
            append_turn(built.turns, "assistant", blocks)
            calls, answered = dict.fromkeys(ids, i), set()
        elif isinstance(message, FunctionExecutionResultMessage):
            append_turn(built.turns, "user", _result_blocks(message, i, calls, answered))
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    check_answered(calls, answered)
    _rstrip_prefill(built.turns)
    if not built.turns:
        raise InvalidRequestError("messages: Converse needs at least one user message with content")
    if built.turns[0]["role"] != "user":
        raise InvalidRequestError("messages: a Converse conversation must start with a user message")
    return built


def _text_block(text: str) -> list[dict[str, Any]]:
    """A text block, or none for blank text (Converse refuses a blank text field)."""
    return [{"text": text}] if text.strip() else []


def _user_blocks(message: UserMessage, i: int, info: ModelInfo) -> list[dict[str, Any]]:
    return user_blocks(message, i, _text_block, lambda image, field: _image_block(image, field, info))


def _image_block(image: Image, field: str, info: ModelInfo) -> dict[str, Any]:
    """An image as Converse takes it: its ``format`` and base64 ``bytes`` (a ``data:`` URL is read as such), or
    an ``s3://`` location; Converse fetches no web URL."""
    if not info["vision"]:
        raise CapabilityError(
            f"{field}: an image was given but the model does not support vision (model_info['vision'] is False)"
        )
    data, media_type, url = image.data, image.media_type, image.url or ""
    if data is None and url[:5].lower() == "data:":
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
    if data is None and url.startswith("s3://"):
        source: dict[str, Any] = {"s3Location": {"uri": url}}
    elif data is None:
        raise InvalidRequestError(
            f"{field}: Converse takes an image's bytes or an s3:// location, not a web URL; load it with "
            "Image.from_file or Image.from_bytes"
        )
    else:
        source = {"bytes": data}
    image_format = _IMAGE_FORMATS.get(media_type)
    if image_format is None:
        raise InvalidRequestError(f"{field}: Converse takes JPEG, PNG, GIF and WebP images, not {media_type!r}")
    return {"image": {"format": image_format, "source": source}}


def _assistant_blocks(message: AssistantMessage, i: int) -> list[dict[str, Any]]:
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return _text_block(content)
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(content).__name__}"
        )
    uses = [_tool_use(call, f"messages[{i}].content[{j}]") for j, call in enumerate(content)]
    kept = _kept_blocks(content, i)
    if kept is None:
        kept = _text_block(message.thought) if message.thought else []
    return kept + uses


def _kept_blocks(calls: list[FunctionCall], i: int) -> list[dict[str, Any]] | None:
    """The reasoning (and text) blocks a tool turn came with, as Converse sent them, signatures included."""
    fields = calls[0].provider_fields if calls else None
    kept = fields.get(PROVIDER_FIELD) if isinstance(fields, Mapping) else None
    if kept is None:
        return None
    if not isinstance(kept, list) or not all(isinstance(block, Mapping) and len(block) == 1 for block in kept):
        raise InvalidRequestError(
            f"messages[{i}].content[0].provider_fields[{PROVIDER_FIELD!r}] must be the list of content blocks "
            "Converse sent; pass it back unchanged"
        )
    return [dict(block) for block in kept]


def _tool_use(call: Any, field: str) -> dict[str, Any]:
    call = check_call(call, field)
    arguments = call_input(call, field, takes="Converse takes a tool call's input")
    return {"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}}


def _result_blocks(
    message: FunctionExecutionResultMessage, i: int, calls: dict[str, int], answered: set[str]
) -> list[dict[str, Any]]:
    if not isinstance(message.content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
    blocks = []
    for j, result in enumerate(message.content):
        call_id = getattr(result, "call_id", None)
        check_str(call_id, f"messages[{i}].content[{j}].call_id")
        check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
        if call_id not in calls or call_id in answered:
            raise InvalidRequestError(
                f"messages[{i}].content[{j}]: call_id {call_id!r} answers no open tool call of the assistant "
                "message before it; Converse takes results only right after the turn that made the calls"
            )
        answered.add(call_id)
        text = result.content if result.content.strip() else "(no output)"
        block: dict[str, Any] = {"toolUseId": call_id, "content": [{"text": text}]}
        block["status"] = "error" if result.is_error else "success"
        blocks.append({"toolResult": block})
    return blocks


def _rstrip_prefill(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn (a prefill) cannot end with white space: strip it, dropping what empties."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    content = turns[-1]["content"]
    while content and "text" in content[-1]:
        text = content[-1]["text"].rstrip()
        if text:
            content[-1] = {"text": text}
            return
        content.pop()
    if not content:
        turns.pop()
