"""Messages for Anthropic: modelport's messages to the ``system`` text and the ``messages`` of a Messages request,
checked and shaped by the request rules in :mod:`modelport.providers.anthropic.dialect`."""

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
from .._checks import append_turn, call_input, check_answered, check_call, check_str, check_web_image, user_blocks
from ._names import PROVIDER_FIELD

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def wire_messages(messages: Sequence[Any], info: ModelInfo) -> tuple[str | None, list[dict[str, Any]]]:
    """modelport's messages as the ``system`` text and the ``messages`` of a Messages request, checked and shaped
    by the rules in :mod:`modelport.providers.anthropic.dialect`."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    built = _Conversation(info)
    calls: dict[str, int] = {}  # the last assistant turn's call ids, and the message that made them
    answered: set[str] = set()
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            if not (calls and built.later_in_place):  # a later one waits for its place, after the results
                check_answered(calls, answered)
                calls, answered = {}, set()
            built.system_message(message, i)
            continue
        if calls and not isinstance(message, FunctionExecutionResultMessage):
            check_answered(calls, answered)
            calls, answered = {}, set()
        built.start_turns()
        if isinstance(message, UserMessage):
            append_turn(built.turns, "user", _user_blocks(message, i, info))
        elif isinstance(message, AssistantMessage):
            blocks, ids = _assistant_blocks(message, i)
            built.assistant(blocks)
            calls, answered = dict.fromkeys(ids, i), set()
        elif isinstance(message, FunctionExecutionResultMessage):
            append_turn(built.turns, "user", _result_blocks(message, i, calls, answered))
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    check_answered(calls, answered)
    return built.finish()


class _Conversation:
    """The ``system`` text and the turns of a request, built message by message.

    System messages before the first turn are the top-level ``system``. A system message after it, on a model
    that takes one (``model_info["multiple_system_messages"]`` true: Claude Opus 4.8, and models modelport does not
    know; a ``model_info`` of the caller's that does not say is taken as not), becomes a ``{"role": "system"}``
    turn as near its place as Anthropic allows, which is right after a user turn (or tool results) and before the
    next assistant turn or the end: it still comes before the answer it was meant to shape. Consecutive ones make
    one such turn. Other models take one run of system messages, wherever it stands, as the top-level ``system``,
    and refuse a second."""

    __slots__ = ("_in_place", "_run", "_started", "later", "system", "turns")

    def __init__(self, info: ModelInfo) -> None:
        self.system: list[str] = []
        self.turns: list[dict[str, Any]] = []
        self.later: list[tuple[int, str]] = []  # system messages after the first turn, waiting for their place
        self._in_place = info.get("multiple_system_messages") is True
        self._started = False
        self._run = 0  # other models' one run of system messages: 0 not yet, 1 in it, 2 over

    @property
    def later_in_place(self) -> bool:
        """Whether a system message now would be sent as a turn of its own."""
        return self._in_place and self._started

    def start_turns(self) -> None:
        self._started = True
        self._run = 2 if self._run else 0

    def system_message(self, message: SystemMessage, i: int) -> None:
        check_str(message.content, f"messages[{i}].content")
        if self.later_in_place:
            if message.content.strip():
                self.later.append((i, message.content))
            return
        if self._run == 2:
            raise InvalidRequestError(
                f"messages[{i}]: this model takes one system prompt and the system messages are not consecutive, "
                "so they cannot be merged (Anthropic takes system messages later in a conversation from Claude "
                "Opus 4.8 on)"
            )
        self._run = 1
        if message.content.strip():
            self.system.append(message.content)

    def assistant(self, blocks: list[dict[str, Any]]) -> None:
        if blocks and self.later:
            self._place_later()
        append_turn(self.turns, "assistant", blocks)

    def finish(self) -> tuple[str | None, list[dict[str, Any]]]:
        _rstrip_prefill(self.turns)
        if not self.turns:
            raise InvalidRequestError("messages: Anthropic needs at least one user or assistant message with content")
        if self.later:
            self._place_later()
        return ("\n".join(self.system) or None), self.turns

    def _place_later(self) -> None:
        if not self.turns or self.turns[-1]["role"] != "user":
            raise InvalidRequestError(
                f"messages[{self.later[0][0]}]: Anthropic takes a system message after the first turn only right "
                "after a user message or tool results, and this one has an assistant message (or nothing) before "
                "it with no user message in between"
            )
        self.turns.append({"role": "system", "content": [{"type": "text", "text": text} for _, text in self.later]})
        self.later.clear()


def _text_block(text: str) -> list[dict[str, Any]]:
    """A text block, or none for blank text (Anthropic rejects text blocks without visible characters)."""
    return [{"type": "text", "text": text}] if text.strip() else []


def _user_blocks(message: UserMessage, i: int, info: ModelInfo) -> list[dict[str, Any]]:
    return user_blocks(message, i, _text_block, lambda image, field: _image_block(image, field, info))


def _image_block(image: Image, field: str, info: ModelInfo) -> dict[str, Any]:
    if not info["vision"]:
        raise CapabilityError(
            f"{field}: an image was given but the model does not support vision (model_info['vision'] is False)"
        )
    data, media_type = image.data, image.media_type
    url = image.url or ""
    if data is None and url[:5].lower() == "data:":  # an inline image written as a data: URL
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
    if data is None:
        if not url:
            raise InvalidRequestError(
                f"{field}: the image has neither data nor url (was it made with model_construct?)"
            )
        check_web_image(url, field, "Anthropic")
        return {"type": "image", "source": {"type": "url", "url": url}}
    if media_type not in _IMAGE_TYPES:
        raise InvalidRequestError(f"{field}: Anthropic takes JPEG, PNG, GIF and WebP images, not {media_type!r}")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: AssistantMessage, i: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The blocks of an assistant turn and the ids of its tool calls."""
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return _text_block(content), []
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(content).__name__}"
        )
    uses = [_tool_use(call, f"messages[{i}].content[{j}]") for j, call in enumerate(content)]
    kept = _kept_blocks(content, i)
    if kept is None:
        kept = _text_block(message.thought) if message.thought else []
    return kept + uses, [use["id"] for use in uses]


def _kept_blocks(calls: list[FunctionCall], i: int) -> list[dict[str, Any]] | None:
    """The thinking (and text) blocks a tool turn came with, as Anthropic sent them (see the thinking round trip in
    :mod:`modelport.providers.anthropic.dialect`)."""
    fields = calls[0].provider_fields if calls else None
    kept = fields.get(PROVIDER_FIELD) if isinstance(fields, Mapping) else None
    if kept is None:
        return None
    if not isinstance(kept, list) or not all(isinstance(block, Mapping) and "type" in block for block in kept):
        raise InvalidRequestError(
            f"messages[{i}].content[0].provider_fields[{PROVIDER_FIELD!r}] must be the list of content blocks "
            "Anthropic sent; pass it back unchanged"
        )
    return [dict(block) for block in kept]


def _tool_use(call: Any, field: str) -> dict[str, Any]:
    call = check_call(call, field)
    arguments = call_input(call, field, takes="Anthropic takes a tool call's input")
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


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
                "message before it; Anthropic takes results only right after the turn that made the calls"
            )
        answered.add(call_id)
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
        if result.content.strip():
            block["content"] = result.content
        if result.is_error:
            block["is_error"] = True
        blocks.append(block)
    return blocks


def _rstrip_prefill(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn (a prefill) cannot end with white space: strip it, dropping what empties (B-98)."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    content = turns[-1]["content"]
    while content and content[-1]["type"] == "text":
        text = content[-1]["text"].rstrip()
        if text:
            content[-1] = {**content[-1], "text": text}
            return
        content.pop()
    if not content:
        turns.pop()
