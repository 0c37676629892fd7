"""Argument checks every dialect shares: the typed create-argument rules, text fields, and tools checked and shaped
as OpenAI's function tools (the form several dialects send or start from). Nothing here is one provider's."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from .._validate import check_json_value, shown
from ..errors import CapabilityError, InvalidRequestError
from ..messages import FunctionCall, Image
from ..model_info import ModelInfo
from ..tools import TOOL_NAME_PATTERN, strict_schema

__all__ = [
    "FORBIDDEN_ARGUMENTS",
    "check_str",
    "function_tools",
    "is_stop",
    "number",
    "shown",
    "tool_schema",
    "unknown_argument",
    "whole",
]

FORBIDDEN_ARGUMENTS = {
    # What no dialect takes as a create argument, and what to do instead.
    "model": "set the model on the client",
    "messages": "pass messages as the first argument",
    "stream": "call create_stream() to stream",
    "tools": "pass tools=...",
    "tool_choice": "pass tool_choice=...",
    "n": "only one choice per call is supported; make several calls",
    "functions": "the legacy functions API is not supported; pass tools=...",
    "function_call": "the legacy functions API is not supported; pass tool_choice=...",
}


def unknown_argument(key: Any, known: Iterable[str], where: str, hint: str) -> InvalidRequestError:
    """The error for a create argument no dialect rule knows: its name, the closest known name (a typo such as
    ``temprature`` is told ``temperature``) and ``hint``, where other fields go."""
    close = difflib.get_close_matches(key, sorted(known), n=1) if isinstance(key, str) else []
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return InvalidRequestError(f"unknown {where} {key!r}{suggestion}; {hint}")


def whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and low <= v <= high


def number(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: type(v) in (int, float) and math.isfinite(v) and low <= v <= high


def is_stop(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value))


def check_web_image(url: str, field: str, provider: str) -> None:
    """An image URL this provider can fetch: a ``gs://`` (Cloud Storage) URL only Gemini reads."""
    if url[:5].lower() == "gs://":
        raise InvalidRequestError(
            f"{field}: {provider} cannot read a gs:// image URL (only Gemini reads Cloud Storage); pass an https:// "
            "URL, or the image's bytes with Image.from_file or Image.from_bytes"
        )


def check_str(value: Any, field: str) -> None:
    """A field that must be text, checked where pydantic could have been bypassed (``model_construct``); a lone
    surrogate is never valid text, even where the text would be rewritten (a message name)."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError(
                f"{field} contains a lone surrogate character, which is not valid Unicode"
            ) from None


def check_call(call: Any, field: str) -> FunctionCall:
    """A tool call sent back to the provider: a ``FunctionCall`` whose id and arguments are text and whose name a
    provider takes, else :class:`InvalidRequestError` naming ``field``."""
    if not isinstance(call, FunctionCall):
        raise InvalidRequestError(f"{field} must be a FunctionCall, not {type(call).__name__}")
    check_str(call.id, f"{field}.id")
    check_str(call.arguments, f"{field}.arguments")
    if not isinstance(call.name, str) or not TOOL_NAME_PATTERN.match(call.name):
        raise InvalidRequestError(
            f"{field}: tool call name {call.name!r} is invalid: it must be 1 to 64 characters of letters, digits, "
            "'_' or '-'"
        )
    return call


def call_input(call: FunctionCall, field: str, *, takes: str) -> dict[str, Any]:
    """A checked call's arguments as the JSON object a provider takes as its input (empty text is ``{}``); ``takes``
    says what the provider takes, for the error ("Anthropic takes a tool call's input")."""
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise InvalidRequestError(
            f"{field}.arguments must be a JSON object: {takes} as an object (got {call.arguments[:40]!r})"
        )
    return arguments


def check_answered(calls: Mapping[str, int], answered: Iterable[str]) -> None:
    """Every tool call (its id to the index of the message that made it) has a result among ``answered``, else
    :class:`InvalidRequestError` naming the first message left unanswered."""
    missing = [call_id for call_id in calls if call_id not in answered]
    if missing:
        raise InvalidRequestError(
            f"messages[{calls[missing[0]]}]: tool calls without results: {', '.join(sorted(missing))}; every tool "
            "call must be followed by a FunctionExecutionResultMessage answering it"
        )


def append_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], key: str = "content") -> None:
    """Add ``blocks`` as a turn of ``role`` (its blocks under ``key``), merged into the last turn when it has the
    same role; nothing for no blocks."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a ``json_output`` model, once pydantic can describe it and JSON can carry it, else
    :class:`InvalidRequestError` naming ``json_output``."""
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # pydantic refuses some types (callables, arbitrary classes) with its own errors
        raise InvalidRequestError(
            f"json_output={model.__name__} cannot be described as JSON schema: {type(exc).__name__}: {exc}"
        ) from None
    check_json_value(schema, f"json_output={model.__name__}: its JSON schema")
    return schema


def user_blocks(
    message: Any,
    i: int,
    text: Callable[[str], list[dict[str, Any]]],
    image: Callable[[Image, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A user message's content in a provider's blocks: ``text`` makes the blocks of a piece of text (none for text
    the provider refuses), ``image`` the block of an image (given its field); anything else is refused by field."""
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return text(content)
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a str or a list, not {type(content).__name__}")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            check_str(part, f"messages[{i}].content[{j}]")
            blocks += text(part)
        elif isinstance(part, Image):
            blocks.append(image(part, f"messages[{i}].content[{j}]"))
        else:
            raise InvalidRequestError(f"messages[{i}].content[{j}]: expected str or Image, got {type(part).__name__}")
    return blocks


def tool_choice_name(tool_choice: Any) -> str | None:
    """The tool a ``tool_choice`` names: a tool, ``{"name": ...}`` or OpenAI's ``{"function": {"name": ...}}``."""
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("name")
        if name is None and isinstance(tool_choice.get("function"), Mapping):
            name = tool_choice["function"].get("name")
    else:
        name = getattr(tool_choice, "name", None)
    return name if isinstance(name, str) else None


def function_tools(
    tools: Sequence[Any], info: ModelInfo, *, server: str = "openai", max_description: int | None = None
) -> list[dict[str, Any]]:
    """``tools`` checked (names, descriptions, parameters as JSON schema) and shaped as OpenAI's function tools,
    ``{"type": "function", "function": {...}}``, which several dialects send or start from."""
    if not info["function_calling"]:
        raise CapabilityError(
            "tools were given but the model does not support function calling (model_info['function_calling'] is False)"
        )
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise InvalidRequestError(f"tools must be a list of tools, not {type(tools).__name__}")
    out = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        schema = tool_schema(tool, i)
        name = schema.get("name")
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
            raise InvalidRequestError(
                f"tools[{i}].name {name!r} is invalid: it must be 1 to 64 characters of letters, digits, '_' or '-'"
            )
        if name in seen:
            raise InvalidRequestError(f"tools[{i}].name {name!r} is given twice")
        seen.add(name)
        function: dict[str, Any] = {"name": name}
        description = schema.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidRequestError(f"tools[{i}].description must be a str, not {type(description).__name__}")
        if description:
            limit = max_description
            if limit is not None and len(description) > limit:
                raise InvalidRequestError(
                    f"tools[{i}] ({name}): description is {len(description)} characters; "
                    f"{server} accepts at most {limit}"
                )
            function["description"] = description
        parameters = schema.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                raise InvalidRequestError(
                    f"tools[{i}].parameters must be a JSON schema object (a dict), not {type(parameters).__name__}"
                )
            check_json_value(parameters, f"tools[{i}].parameters")
        strict = bool(schema.get("strict"))
        if parameters is not None:
            function["parameters"] = strict_schema(parameters) if strict else parameters
        if strict:
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


def tool_schema(tool: Any, i: int) -> Mapping[str, Any]:
    """The schema of ``tools[i]``: a ``ToolSchema`` dict, or a ``Tool``'s ``schema``."""
    if isinstance(tool, Mapping):
        return tool
    schema = getattr(tool, "schema", None)
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(f"tools[{i}] must be a Tool or a ToolSchema dict, not {type(tool).__name__}")
    return schema
