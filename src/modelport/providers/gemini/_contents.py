"""Messages for Gemini: modelport's messages to the ``systemInstruction`` and the ``contents`` of a
``generateContent`` request, checked and shaped by the rules in :mod:`modelport.providers.gemini.dialect`."""

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
from .._checks import append_turn, call_input, check_call, check_str, user_blocks
from ._names import GENERATED_ID_PREFIX, PARTS_FIELD, SIGNATURE_FIELD

_FILE_SCHEMES = ("gs://", "https://", "http://")


def wire_contents(messages: Sequence[Any], info: ModelInfo) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """modelport's messages as Gemini's ``systemInstruction`` (or None) and ``contents``."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, tuple[int, str]] = {}  # the open calls of the last model turn: id -> (message, name)
    answered: dict[str, None] = {}  # the calls answered so far, in the order of their responses
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            check_str(message.content, f"messages[{i}].content")
            if message.content.strip():
                system.append({"text": message.content})
            continue
        if calls and not isinstance(message, FunctionExecutionResultMessage):
            _close_turn(contents, calls, answered)
            calls, answered = {}, {}
        if isinstance(message, UserMessage):
            append_turn(contents, "user", _user_parts(message, i, info), "parts")
        elif isinstance(message, AssistantMessage):
            parts, calls = _model_parts(message, i)
            answered = {}
            append_turn(contents, "model", parts, "parts")
        elif isinstance(message, FunctionExecutionResultMessage):
            append_turn(contents, "user", _response_parts(message, i, calls, answered), "parts")
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    _close_turn(contents, calls, answered)
    if not contents:
        raise InvalidRequestError("messages: Gemini needs at least one user or assistant message with content")
    return ({"parts": system} if system else None), contents


def _close_turn(contents: list[dict[str, Any]], calls: dict[str, tuple[int, str]], answered: dict[str, None]) -> None:
    """Every call of the last model turn answered, and its answers (the last turn) in the order of the calls:
    Gemini pairs a response without an id with a call by its place (two calls of one function told apart only
    so), whatever order the results were given in."""
    _check_answered(calls, answered)
    if calls and contents and contents[-1]["role"] == "user":
        order = {call_id: n for n, call_id in enumerate(calls)}
        placed = sorted(zip(answered, contents[-1]["parts"], strict=True), key=lambda pair: order[pair[0]])
        contents[-1]["parts"] = [part for _, part in placed]


def _check_answered(calls: dict[str, tuple[int, str]], answered: dict[str, None]) -> None:
    missing = [call_id for call_id in calls if call_id not in answered]
    if missing:
        raise InvalidRequestError(
            f"messages[{calls[missing[0]][0]}]: tool calls without results: {', '.join(sorted(missing))}; Gemini "
            "needs one function response for each function call, in the turn right after it"
        )


def _user_parts(message: UserMessage, i: int, info: ModelInfo) -> list[dict[str, Any]]:
    return user_blocks(message, i, _text_part, lambda image, field: _image_part(image, field, info))


def _text_part(text: str) -> list[dict[str, Any]]:
    """A text part, or none for empty text."""
    return [{"text": text}] if text else []


def _image_part(image: Image, field: str, info: ModelInfo) -> dict[str, Any]:
    """An image as ``inlineData`` (base64), or ``fileData`` for a ``gs://`` or web URL."""
    if not info["vision"]:
        raise CapabilityError(
            f"{field}: an image was given but the model does not support vision (model_info['vision'] is False)"
        )
    data, media_type = image.data, image.media_type
    url = image.url or ""
    if data is None and url[:5].lower() == "data:":
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or media_type
    if data is not None:
        return {"inlineData": {"mimeType": media_type, "data": data}}
    if not url.lower().startswith(_FILE_SCHEMES):
        raise InvalidRequestError(f"{field}: the image has neither data nor a gs://, https:// or data: URL")
    return {"fileData": {"mimeType": media_type, "fileUri": url}}


def _model_parts(message: AssistantMessage, i: int) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """The parts of a model turn, and its calls by id (with the message index and the function's name)."""
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return ([{"text": content}] if content else []), {}
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(content).__name__}"
        )
    calls = [_function_call(call, f"messages[{i}].content[{j}]") for j, call in enumerate(content)]
    by_id = {call.id: (i, call.name) for call in content}
    kept = _kept_parts(content, calls, i)
    if kept is not None:
        return kept, by_id
    thought = [{"text": message.thought}] if message.thought else []
    return thought + calls, by_id


def _function_call(call: Any, field: str) -> dict[str, Any]:
    """A ``functionCall`` part: arguments as an object, the id where Gemini gave one, the call's signature."""
    call = check_call(call, field)
    arguments = call_input(call, field, takes="Gemini takes a function call's args")
    function: dict[str, Any] = {"name": call.name, "args": arguments}
    if call.id and not call.id.startswith(GENERATED_ID_PREFIX):
        function["id"] = call.id
    part: dict[str, Any] = {"functionCall": function}
    fields = call.provider_fields
    signature = fields.get(SIGNATURE_FIELD) if isinstance(fields, Mapping) else None
    if signature is not None:
        if not isinstance(signature, str):
            raise InvalidRequestError(
                f"{field}.provider_fields[{SIGNATURE_FIELD!r}] must be the signature Gemini sent (a str); pass it "
                "back unchanged"
            )
        part["thoughtSignature"] = signature
    return part


def _kept_parts(content: list[FunctionCall], calls: list[dict[str, Any]], i: int) -> list[dict[str, Any]] | None:
    """The turn's parts as Gemini sent them (see the thought signatures in :mod:`.dialect`), when the first call
    carries them and they hold the same calls; else None (the parts are built from the calls)."""
    fields = content[0].provider_fields if content else None
    kept = fields.get(PARTS_FIELD) if isinstance(fields, Mapping) else None
    if kept is None:
        return None
    if not isinstance(kept, list) or not all(isinstance(part, Mapping) for part in kept):
        raise InvalidRequestError(
            f"messages[{i}].content[0].provider_fields[{PARTS_FIELD!r}] must be the list of parts Gemini sent; "
            "pass it back unchanged"
        )
    sent = [part["functionCall"] for part in kept if isinstance(part.get("functionCall"), Mapping)]
    same = len(sent) == len(calls) and all(
        kept_call.get("name") == call["functionCall"]["name"]
        and (kept_call.get("args") or {}) == call["functionCall"]["args"]
        for kept_call, call in zip(sent, calls, strict=True)
    )
    return [dict(part) for part in kept] if same else None


def _response_parts(
    message: FunctionExecutionResultMessage, i: int, calls: dict[str, tuple[int, str]], answered: dict[str, None]
) -> list[dict[str, Any]]:
    if not isinstance(message.content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
    parts = []
    for j, result in enumerate(message.content):
        call_id = getattr(result, "call_id", None)
        check_str(call_id, f"messages[{i}].content[{j}].call_id")
        check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
        if call_id not in calls or call_id in answered:
            raise InvalidRequestError(
                f"messages[{i}].content[{j}]: call_id {call_id!r} answers no open tool call of the assistant "
                "message before it; Gemini takes function responses only right after the turn that made the calls"
            )
        answered[call_id] = None
        name = calls[call_id][1]
        response: dict[str, Any] = {
            "name": name,
            "response": {"error" if result.is_error else "result": result.content},
        }
        if not call_id.startswith(GENERATED_ID_PREFIX):
            response["id"] = call_id
        parts.append({"functionResponse": response})
    return parts
