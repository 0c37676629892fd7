"""The Anthropic Messages dialect, sans I/O: our types to a ``/v1/messages`` body, and bytes back to deltas.

Requests (wire-behaviour B-97, B-98): system messages become the top-level ``system`` (one contiguous run, hoisted);
consecutive turns of one role are merged; tool results become ``tool_result`` blocks of a user turn; names are never
sent; a final assistant prefill is right-stripped; empty or blank text is never sent as a block; a tool call without
its result (or a result without its call) is refused before sending. ``max_tokens``, which the API requires,
defaults to the model's longest answer (``ModelInfo.max_output_tokens``), else :data:`DEFAULT_MAX_TOKENS`.

Structured output: Anthropic's own (``output_config.format``) where the model has it (``model_info
["structured_output"]``), else a forced tool named :data:`OUTPUT_TOOL` whose input is routed into the answer *text*,
so the shared finish step parses it like any JSON answer. A user tool of that name is refused.

Thinking round trip (B-85): when a turn with thinking ends in tool calls, the turn's thinking, redacted-thinking and
later text blocks are kept verbatim, signatures included, in the first call's ``FunctionCall.provider_fields
["anthropic_content"]``. ``AssistantMessage(content=result.content, thought=result.thought)`` therefore carries them
to the next request, which sends them back unchanged before the ``tool_use`` blocks. Without them (a call made by
hand, or by another provider) ``thought`` is sent as a text block.

Responses and streams: ``tool_use`` input becomes ``FunctionCall.arguments`` as compact JSON text, the same whether
streamed or not (streamed ``partial_json`` is joined per block and parsed once, at ``content_block_stop``: B-77; a
block cut off by ``max_tokens`` keeps its raw text, so it does not parse: B-78). Usage maps to OpenAI's names for the
assembler: ``prompt_tokens`` is input plus cache reads plus cache writes, ``cached_tokens`` the cache reads; in a
stream each field takes its latest value, never a sum. ``ping`` is a keep-alive; ``message_stop`` ends the stream,
and a stream without it is incomplete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from .._assembly import Assembler
from .._sse import SSEEvent
from .._validate import check_json_value
from ..errors import CapabilityError, InvalidRequestError, ResponseValidationError
from ..messages import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from ..model_info import ModelInfo
from ..tools import TOOL_NAME_PATTERN, strict_schema
from ._status import error_from_payload
from .dialect import KEEPALIVE, PROGRESS, TERMINAL, decode_event

__all__ = [
    "ANTHROPIC_VERSION",
    "CREATE_ARGUMENTS",
    "DEFAULT_MAX_TOKENS",
    "OUTPUT_TOOL",
    "PROVIDER_FIELD",
    "AnthropicDialect",
    "map_usage",
    "wire_messages",
]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` for a model whose longest answer modelport does not know."""
OUTPUT_TOOL = "modelport_output"
"""The tool that carries structured output on models without Anthropic's own; reserved."""
PROVIDER_FIELD = "anthropic_content"
"""The ``FunctionCall.provider_fields`` key holding a tool turn's thinking blocks, verbatim."""
_OUTPUT_DESCRIPTION = "Give your complete answer by calling this tool once, with the answer as its input."
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_SIGNED = ("thinking", "redacted_thinking")

CREATE_ARGUMENTS = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stop",
        "metadata",
        "thinking",
        "service_tier",
        "prompt_caching",
        "parallel_tool_calls",
        "response_format",
        "output_config",
        "inference_geo",
        "container",
        "cache_control",
        "extra_body",
    }
)
_LOCAL_ARGUMENTS = frozenset(
    {"max_tokens", "prompt_caching", "parallel_tool_calls", "response_format", "stop", "stop_sequences", "extra_body"}
)
"""Create arguments that shape the body rather than being copied into it."""
_FORBIDDEN_ARGUMENTS = {
    "model": "set the model on the client",
    "messages": "pass messages as the first argument",
    "system": "pass a SystemMessage",
    "stream": "call create_stream() to stream",
    "tools": "pass tools=...",
    "tool_choice": "pass tool_choice=...",
    "n": "only one answer per call is supported; make several calls",
}
_COUNT_FIELDS = ("model", "system", "messages", "tools", "tool_choice", "thinking", "output_config", "cache_control")
"""What ``/v1/messages/count_tokens`` accepts of a request body."""


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and low <= v <= high


def _number(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: type(v) in (int, float) and math.isfinite(v) and low <= v <= high


def _is_stop(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value))


def _is_thinking(value: Any) -> bool:
    if not isinstance(value, Mapping) or value.get("type") not in ("enabled", "adaptive", "disabled"):
        return False
    if value.get("display") not in (None, "summarized", "omitted"):
        return False
    budget = value.get("budget_tokens")
    if value["type"] == "enabled":
        return type(budget) is int and budget >= 1024
    return budget is None


def _is_response_format(value: Any) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseModel)
    return isinstance(value, Mapping) and value.get("type") in ("text", "json_object")


_ARGUMENT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (_whole(0, 2**31 - 1), "a whole number from 0 to 2147483647"),
    "temperature": (_number(0, 1), "a number from 0 to 1"),
    "top_p": (_number(0, 1), "a number from 0 to 1"),
    "top_k": (_whole(0, 2**31 - 1), "a whole number of 0 or more"),
    "stop_sequences": (_is_stop, "a str or a list of str"),
    "stop": (_is_stop, "a str or a list of str"),
    "metadata": (lambda v: isinstance(v, Mapping), "a dict"),
    "thinking": (
        _is_thinking,
        "{'type': 'enabled', 'budget_tokens': N} with N >= 1024, {'type': 'adaptive'} or {'type': 'disabled'}, "
        "optionally with 'display': 'summarized' or 'omitted'",
    ),
    "service_tier": (lambda v: v in ("auto", "standard_only"), "'auto' or 'standard_only'"),
    "prompt_caching": (lambda v: type(v) is bool or v in ("5m", "1h"), "True, False, '5m' or '1h'"),
    "parallel_tool_calls": (lambda v: type(v) is bool, "true or false"),
    "response_format": (_is_response_format, "a pydantic model class or {'type': 'json_object'}"),
    "output_config": (lambda v: isinstance(v, Mapping), "a dict"),
    "cache_control": (lambda v: isinstance(v, Mapping), "a dict"),
    "extra_body": (lambda v: isinstance(v, Mapping), "a dict"),
}


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known to the Messages API (or to modelport), of its type and range, and sendable as JSON."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in _FORBIDDEN_ARGUMENTS:
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {_FORBIDDEN_ARGUMENTS[key]}")
        if key not in CREATE_ARGUMENTS:
            raise InvalidRequestError(
                f"unknown {where} {key!r} for Anthropic; other fields of the Messages API go in extra_body={{...}}"
            )
        rule = _ARGUMENT_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {_shown(value)}")
        if not isinstance(value, type):
            check_json_value(value, f"{where} {key!r}")
    if "stop" in args and "stop_sequences" in args:
        raise InvalidRequestError(f"{where}s 'stop' and 'stop_sequences' cannot both be given")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- messages --


def wire_messages(messages: Sequence[Any], info: ModelInfo) -> tuple[str | None, list[dict[str, Any]]]:
    """modelport's messages as the ``system`` text and the ``messages`` of a Messages request, checked and shaped
    by the rules in the module doc."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    calls: dict[str, int] = {}  # the last assistant turn's call ids, and the message that made them
    answered: set[str] = set()
    system_run = 0  # 0: none yet, 1: in the run, 2: the run is over
    for i, message in enumerate(messages):
        if calls and not isinstance(message, FunctionExecutionResultMessage):
            _check_answered(calls, answered)
            calls, answered = {}, set()
        if isinstance(message, SystemMessage):
            _check_str(message.content, f"messages[{i}].content")
            if system_run == 2:
                raise InvalidRequestError(
                    f"messages[{i}]: Anthropic takes one system prompt and the system messages are not consecutive, "
                    "so they cannot be merged"
                )
            system_run = 1
            if message.content.strip():
                system.append(message.content)
            continue
        system_run = 2 if system_run else 0
        if isinstance(message, UserMessage):
            _append(turns, "user", _user_blocks(message, i, info))
        elif isinstance(message, AssistantMessage):
            blocks, ids = _assistant_blocks(message, i)
            _append(turns, "assistant", blocks)
            calls, answered = dict.fromkeys(ids, i), set()
        elif isinstance(message, FunctionExecutionResultMessage):
            _append(turns, "user", _result_blocks(message, i, calls, answered))
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    _check_answered(calls, answered)
    _rstrip_prefill(turns)
    if not turns:
        raise InvalidRequestError("messages: Anthropic needs at least one user or assistant message with content")
    return ("\n".join(system) or None), turns


def _check_answered(calls: dict[str, int], answered: set[str]) -> None:
    missing = [call_id for call_id in calls if call_id not in answered]
    if missing:
        raise InvalidRequestError(
            f"messages[{calls[missing[0]]}]: tool calls without results: {', '.join(sorted(missing))}; every tool "
            "call must be followed by a FunctionExecutionResultMessage answering it"
        )


def _check_str(value: Any, field: str) -> None:
    """Text that JSON can carry: a ``str`` (pydantic can be bypassed) without a lone surrogate."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError(
                f"{field} contains a lone surrogate character, which is not valid Unicode"
            ) from None


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add ``blocks`` as a turn of ``role``, merged into the last turn when it has the same role."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_block(text: str) -> list[dict[str, Any]]:
    """A text block, or none for blank text (Anthropic rejects text blocks without visible characters)."""
    return [{"type": "text", "text": text}] if text.strip() else []


def _user_blocks(message: UserMessage, i: int, info: ModelInfo) -> list[dict[str, Any]]:
    content = message.content
    if isinstance(content, str):
        _check_str(content, f"messages[{i}].content")
        return _text_block(content)
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a str or a list, not {type(content).__name__}")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            _check_str(part, f"messages[{i}].content[{j}]")
            blocks += _text_block(part)
        elif isinstance(part, Image):
            blocks.append(_image_block(part, f"messages[{i}].content[{j}]", info))
        else:
            raise InvalidRequestError(f"messages[{i}].content[{j}]: expected str or Image, got {type(part).__name__}")
    return blocks


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
        return {"type": "image", "source": {"type": "url", "url": url}}
    if media_type not in _IMAGE_TYPES:
        raise InvalidRequestError(f"{field}: Anthropic takes JPEG, PNG, GIF and WebP images, not {media_type!r}")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: AssistantMessage, i: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The blocks of an assistant turn and the ids of its tool calls."""
    if message.thought is not None:
        _check_str(message.thought, f"messages[{i}].thought")
    content = message.content
    if isinstance(content, str):
        _check_str(content, f"messages[{i}].content")
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
    """The thinking (and text) blocks a tool turn came with, as Anthropic sent them (see the module doc)."""
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
    if not isinstance(call, FunctionCall):
        raise InvalidRequestError(f"{field} must be a FunctionCall, not {type(call).__name__}")
    _check_str(call.id, f"{field}.id")
    _check_str(call.arguments, f"{field}.arguments")
    if not isinstance(call.name, str) or not TOOL_NAME_PATTERN.match(call.name):
        raise InvalidRequestError(
            f"{field}: tool call name {call.name!r} is invalid: it must be 1 to 64 characters of letters, digits, "
            "'_' or '-'"
        )
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise InvalidRequestError(
            f"{field}.arguments must be a JSON object: Anthropic takes a tool call's input as an object "
            f"(got {call.arguments[:40]!r})"
        )
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _result_blocks(
    message: FunctionExecutionResultMessage, i: int, calls: dict[str, int], answered: set[str]
) -> list[dict[str, Any]]:
    if not isinstance(message.content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
    blocks = []
    for j, result in enumerate(message.content):
        call_id = getattr(result, "call_id", None)
        _check_str(call_id, f"messages[{i}].content[{j}].call_id")
        _check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
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


# -- tools, tool choice and structured output --


def _tools(tools: Sequence[Any], info: ModelInfo) -> list[dict[str, Any]]:
    if not info["function_calling"]:
        raise CapabilityError(
            "tools were given but the model does not support function calling (model_info['function_calling'] is False)"
        )
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise InvalidRequestError(f"tools must be a list of tools, not {type(tools).__name__}")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        schema = tool if isinstance(tool, Mapping) else getattr(tool, "schema", None)
        if not isinstance(schema, Mapping):
            raise InvalidRequestError(f"tools[{i}] must be a Tool or a ToolSchema dict, not {type(tool).__name__}")
        definition = _tool(schema, i)
        if any(d["name"] == definition["name"] for d in out):
            raise InvalidRequestError(f"tools[{i}].name {definition['name']!r} is given twice")
        out.append(definition)
    return out


def _tool(schema: Mapping[str, Any], i: int) -> dict[str, Any]:
    name = schema.get("name")
    if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            f"tools[{i}].name {name!r} is invalid: it must be 1 to 64 characters of letters, digits, '_' or '-'"
        )
    if name == OUTPUT_TOOL:
        raise InvalidRequestError(f"tools[{i}].name {name!r} is reserved by modelport for structured output")
    definition: dict[str, Any] = {"name": name}
    description = schema.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRequestError(f"tools[{i}].description must be a str, not {type(description).__name__}")
    if description:
        definition["description"] = description
    parameters = schema.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise InvalidRequestError(f"tools[{i}].parameters must be a JSON schema of an object (a dict)")
    check_json_value(parameters, f"tools[{i}].parameters")
    strict = bool(schema.get("strict"))
    definition["input_schema"] = {"type": "object", **(strict_schema(parameters) if strict else parameters)}
    if strict:
        definition["strict"] = True
    return definition


def _choice_name(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("name")
        if name is None and isinstance(tool_choice.get("function"), Mapping):
            name = tool_choice["function"].get("name")
    else:
        name = getattr(tool_choice, "name", None)
    return name if isinstance(name, str) else None


def _choice(tool_choice: Any, names: list[str]) -> dict[str, Any] | None:
    """The ``tool_choice`` for the caller's tools: ``auto`` (None), ``required`` / ``any``, ``none``, or a tool."""
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") in ("auto", "any", "none"):
        tool_choice = tool_choice["type"]
    if tool_choice in ("auto", None):
        return None
    if tool_choice in ("required", "any"):
        return {"type": "any"}
    if tool_choice == "none":
        return {"type": "none"}
    name = _choice_name(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {tool_choice!r}")
    if name not in names:
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return {"type": "tool", "name": name}


def _output_schema(json_output: bool | type[BaseModel], info: ModelInfo) -> tuple[str, dict[str, Any]]:
    """How to ask for structured output: ``("native", format)`` or ``("tool", input_schema)``."""
    if json_output is True:
        if not info["json_output"]:
            raise CapabilityError(
                "json_output=True was given but the model does not support JSON output "
                "(model_info['json_output'] is False)"
            )
        return "tool", {"type": "object"}
    if not (isinstance(json_output, type) and issubclass(json_output, BaseModel)):
        raise InvalidRequestError(
            f"json_output must be True, False, None or a pydantic model class, not {json_output!r}"
        )
    if json_output is BaseModel:
        raise InvalidRequestError("json_output must be a subclass of pydantic.BaseModel, not BaseModel itself")
    try:
        schema = json_output.model_json_schema()
    except Exception as exc:  # pydantic refuses some types (callables, arbitrary classes) with its own errors
        raise InvalidRequestError(
            f"json_output={json_output.__name__} cannot be described as JSON schema: {type(exc).__name__}: {exc}"
        ) from None
    check_json_value(schema, f"json_output={json_output.__name__}: its JSON schema")
    if info.get("structured_output"):
        return "native", {"type": "json_schema", "schema": native_schema(schema)}
    return "tool", schema


_NATIVE_KEYS = frozenset({"type", "required", "enum", "const", "description", "title", "$ref"})
_NATIVE_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def native_schema(node: Any) -> Any:
    """``node`` as Anthropic's structured output takes it: objects closed (``additionalProperties: false``),
    ``oneOf`` as ``anyOf``, and keywords it does not enforce (``minimum``, ``maxLength``, ``default``, ...) moved
    into the description, as Anthropic's SDK does; the answer is validated against the full model afterwards."""
    if isinstance(node, list):
        return [native_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: native_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "allOf", "oneOf"):
            out["anyOf" if key == "oneOf" else key] = native_schema(value)
        elif (
            key in _NATIVE_KEYS
            or (key == "format" and value in _NATIVE_FORMATS)
            or (key == "minItems" and value in (0, 1))
        ):
            out[key] = value
        elif key != "additionalProperties":
            extra[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
    if extra:
        note = "{" + ", ".join(f"{key}: {value}" for key, value in extra.items()) + "}"
        out["description"] = f"{out['description']}\n\n{note}" if out.get("description") else note
    return out


# -- the request --


@dataclass(frozen=True)
class _Plan:
    """What the create arguments decide beyond the fields copied into the body."""

    json_output: bool | type[BaseModel] | None
    caching: Any
    parallel: bool | None
    thinking: bool


def _plan(create_args: Mapping[str, Any], json_output: bool | type[BaseModel] | None) -> _Plan:
    response_format = create_args.get("response_format")
    if isinstance(response_format, type) or (
        isinstance(response_format, Mapping) and response_format.get("type") == "json_object"
    ):
        wanted = response_format if isinstance(response_format, type) else True
        if json_output not in (None, False, wanted):
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        json_output = wanted
    thinking = create_args.get("thinking")
    return _Plan(
        json_output=json_output if json_output is not False else None,
        caching=create_args.get("prompt_caching"),
        parallel=create_args.get("parallel_tool_calls"),
        thinking=isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"),
    )


def build_request(
    messages: Sequence[Any],
    *,
    model: str,
    model_info: ModelInfo,
    tools: Sequence[Any],
    tool_choice: Any,
    json_output: bool | type[BaseModel] | None,
    create_args: Mapping[str, Any],
    stream: bool,
) -> dict[str, Any]:
    """The JSON body of a Messages request. ``create_args`` must already be validated."""
    plan = _plan(create_args, json_output)
    system, turns = wire_messages(messages, model_info)
    body: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(create_args, model_info)}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    _add_tools(body, tools, tool_choice, plan, model_info)
    for key, value in create_args.items():
        if key not in _LOCAL_ARGUMENTS and value is not None:
            body[key] = value
    stop = create_args.get("stop") or create_args.get("stop_sequences")
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if plan.json_output is not None:
        _add_output(body, plan, model_info)
    _check_thinking(body, plan)
    if plan.caching:
        _place_cache_breakpoints(body, plan.caching)
    if stream:
        body["stream"] = True
    extra = create_args.get("extra_body")
    if extra:
        body.update(extra)
    return body


def _max_tokens(create_args: Mapping[str, Any], info: ModelInfo) -> int:
    value = create_args.get("max_tokens")
    if value is not None:
        return int(value)
    return int(info.get("max_output_tokens") or DEFAULT_MAX_TOKENS)


def _add_tools(body: dict[str, Any], tools: Sequence[Any], tool_choice: Any, plan: _Plan, info: ModelInfo) -> None:
    if not tools:
        if tool_choice not in ("auto", None, "none"):
            raise InvalidRequestError(
                f"tool_choice={_choice_name(tool_choice) or tool_choice!r} was given without tools"
            )
        return
    body["tools"] = _tools(tools, info)
    choice = _choice(tool_choice, [t["name"] for t in body["tools"]])
    if choice is not None:
        body["tool_choice"] = choice
    if plan.parallel is False and (choice is None or choice["type"] != "none"):
        body["tool_choice"] = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}


def _add_output(body: dict[str, Any], plan: _Plan, info: ModelInfo) -> None:
    """Structured output: ``output_config.format``, or the forced :data:`OUTPUT_TOOL`."""
    assert plan.json_output is not None
    how, schema = _output_schema(plan.json_output, info)
    if how == "native":
        config = dict(body.get("output_config") or {})
        if "format" in config:
            raise InvalidRequestError("json_output and the create argument 'output_config.format' cannot both be given")
        body["output_config"] = {**config, "format": schema}
        return
    choice = body.get("tool_choice") or {"type": "auto"}
    if choice["type"] in ("any", "tool"):
        return  # the turn must call the caller's tools: there is no answer to shape
    if not info["function_calling"]:
        raise CapabilityError(
            "structured output on this model needs a forced tool, and the model does not support function calling"
        )
    if plan.thinking:
        raise InvalidRequestError(
            "json_output with thinking needs Anthropic's own structured output (model_info['structured_output']), "
            "which this model lacks: Anthropic does not force a tool while thinking; turn thinking off"
        )
    tools = body.setdefault("tools", [])
    tools.append({"name": OUTPUT_TOOL, "description": _OUTPUT_DESCRIPTION, "input_schema": schema})
    forced: dict[str, Any] = {"type": "tool", "name": OUTPUT_TOOL}
    if choice["type"] == "auto" and len(tools) > 1:
        forced = {"type": "any"}  # the caller's tools or the answer, as OpenAI's tools + response_format
    if choice.get("disable_parallel_tool_use"):
        forced["disable_parallel_tool_use"] = True
    body["tool_choice"] = forced


def _check_thinking(body: dict[str, Any], plan: _Plan) -> None:
    """What Anthropic refuses for certain while thinking: a forced tool, and a budget not below ``max_tokens``."""
    if not plan.thinking:
        return
    choice = body.get("tool_choice")
    if choice is not None and choice["type"] in ("any", "tool"):
        raise InvalidRequestError(
            "tool_choice 'required' or a named tool cannot be combined with thinking: Anthropic allows only "
            "'auto' and 'none' while thinking"
        )
    budget = body["thinking"].get("budget_tokens")
    if budget is not None and budget >= body["max_tokens"]:
        raise InvalidRequestError(
            f"thinking budget_tokens ({budget}) must be less than max_tokens ({body['max_tokens']})"
        )


def _place_cache_breakpoints(body: dict[str, Any], caching: Any) -> None:
    """Prompt caching: a breakpoint after the tools, after the system prompt and at the end of the conversation."""
    control: dict[str, Any] = {"type": "ephemeral"}
    if isinstance(caching, str):
        control["ttl"] = caching
    if body.get("tools"):
        body["tools"][-1] = {**body["tools"][-1], "cache_control": control}
    if body.get("system"):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": control}]
    content = body["messages"][-1]["content"]
    for position in range(len(content) - 1, -1, -1):
        if content[position]["type"] not in _SIGNED:
            content[position] = {**content[position], "cache_control": control}
            return


def count_tokens_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a Messages body that ``/v1/messages/count_tokens`` accepts."""
    return {key: body[key] for key in _COUNT_FIELDS if key in body}


# -- responses --


def map_usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic's usage in the OpenAI names the assembler reads: all input (uncached, cache reads, cache writes) is
    the prompt, and the cache reads are its cached part."""
    parts = [raw.get(key) for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
    known = [part for part in parts if isinstance(part, int)]
    usage: dict[str, Any] = {
        "prompt_tokens": sum(known) if known else None,
        "completion_tokens": raw.get("output_tokens"),
    }
    cached, written = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
    if isinstance(cached, int) or isinstance(written, int):
        usage["prompt_tokens_details"] = {
            "cached_tokens": cached if isinstance(cached, int) else None,
            "cache_write_tokens": written if isinstance(written, int) else None,
        }
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping) and isinstance(details.get("thinking_tokens"), int):
        usage["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return usage


def _finish(asm: Assembler, delta: Mapping[str, Any]) -> None:
    """The stop reason, kept raw (the assembler maps it); a refusal also fills ``refusal`` (B-90)."""
    reason = delta.get("stop_reason")
    if not isinstance(reason, str) or not reason:
        return
    asm.finish(0, reason)
    if reason == "refusal":
        details = delta.get("stop_details")
        details = details if isinstance(details, Mapping) else {}
        explanation = details.get("explanation")
        category = details.get("category")
        text = explanation if isinstance(explanation, str) and explanation else "the model refused to answer"
        asm.add_refusal(0, f"{text} ({category})" if isinstance(category, str) and category else text)


def _compact(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) message into ``asm``."""
    if isinstance(body, dict) and (body.get("type") == "error" or body.get("error")):
        raise error_from_payload(body, provider=provider, request_id=request_id)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, list):
        raise ResponseValidationError(
            f"{provider} returned a message without content", provider=provider, request_id=request_id, body=body
        )
    asm.model = body.get("model") or None
    if asm.request_id is None:
        identifier = body.get("id")
        asm.request_id = identifier if isinstance(identifier, str) and identifier else None
    kept: list[dict[str, Any]] | None = None
    first_call: int | None = None
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_use":
            if block.get("name") == OUTPUT_TOOL:
                asm.add_text(0, _compact(block.get("input")))
                continue
            asm.add_tool_call(0, index, block.get("id"), block.get("name"), block.get("input") or None)
            first_call = index if first_call is None else first_call
        elif kind in ("text", "thinking", "redacted_thinking"):
            wire = _content_block(block, asm)
            if kind in _SIGNED and kept is None:
                kept = []
            if kept is not None and wire is not None:
                kept.append(wire)
    if kept and first_call is not None:
        asm.add_tool_call(0, first_call, None, None, None, {PROVIDER_FIELD: kept})
    _finish(asm, body)
    usage = body.get("usage")
    if isinstance(usage, dict):
        asm.set_usage(map_usage(usage))


def _content_block(block: dict[str, Any], asm: Assembler) -> dict[str, Any] | None:
    """Feed a whole text or thinking block to ``asm``; the block as it must be sent back, if it can be."""
    kind = block["type"]
    if kind == "redacted_thinking":
        return {"type": kind, "data": block.get("data", "")}
    key = "text" if kind == "text" else "thinking"
    text = block.get(key)
    text = text if isinstance(text, str) else ""
    if kind == "text":
        if text:
            asm.add_text(0, text)
        return {"type": "text", "text": text} if text.strip() else None
    if text:
        asm.add_thought(0, text)
    return {"type": "thinking", "thinking": text, "signature": block.get("signature", "")}


# -- streams --


class _Open:
    """A content block being streamed: its kind, the pieces so far, and a signature or redacted data."""

    __slots__ = ("done", "extra", "kind", "parts", "start")

    def __init__(self, kind: str, start: Any = None, extra: str = "") -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.extra = extra
        self.start = start
        self.done = False


def _state(asm: Assembler) -> dict[str, Any]:
    state = asm.dialect_state
    if not state:
        state.update(blocks={}, kept=False, first_call=None, usage={})
    return state


def _block_start(chunk: dict[str, Any], asm: Assembler) -> None:
    index, block = chunk.get("index"), chunk.get("content_block")
    if not isinstance(index, int) or not isinstance(block, dict):
        return
    state = _state(asm)
    kind = block.get("type")
    if kind == "tool_use":
        name = block.get("name")
        if name == OUTPUT_TOOL:
            state["blocks"][index] = _Open("output", block.get("input"))
            return
        state["blocks"][index] = _Open("tool_use", block.get("input"))
        asm.add_tool_call(0, index, block.get("id"), name, None)
        if state["first_call"] is None:
            state["first_call"] = index
    elif kind in ("text", "thinking"):
        opened = state["blocks"][index] = _Open(kind, extra=block.get("signature") or "")
        if kind == "thinking":
            state["kept"] = True
        _block_text(opened, kind, block.get(kind), asm)
    elif kind == "redacted_thinking":
        state["blocks"][index] = _Open(kind, extra=block.get("data") or "")
        state["kept"] = True


def _block_text(opened: _Open, kind: str, text: Any, asm: Assembler) -> None:
    if not isinstance(text, str) or not text:
        return
    opened.parts.append(text)
    if kind == "text":
        asm.add_text(0, text)
    else:
        asm.add_thought(0, text)


def _block_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    """The hot path: one ``content_block_delta``."""
    delta = chunk.get("delta")
    if type(delta) is not dict:
        return
    kind = delta.get("type")
    opened = asm.dialect_state["blocks"].get(chunk.get("index")) if asm.dialect_state else None
    if kind == "text_delta":
        text = delta.get("text")
        if opened is not None:
            _block_text(opened, "text", text, asm)
        elif isinstance(text, str) and text:
            asm.add_text(0, text)
    elif kind == "input_json_delta" and opened is not None:
        piece = delta.get("partial_json")
        if isinstance(piece, str) and piece:
            opened.parts.append(piece)
            if opened.kind == "tool_use":
                asm.add_tool_call(0, chunk["index"], None, None, piece)
    elif kind == "thinking_delta" and opened is not None:
        _block_text(opened, "thinking", delta.get("thinking"), asm)
    elif kind == "signature_delta" and opened is not None:
        signature = delta.get("signature")
        if isinstance(signature, str):
            opened.extra += signature


def _block_stop(chunk: dict[str, Any], asm: Assembler) -> None:
    """A tool block is whole: its JSON is parsed once, and kept as compact text like a non-streamed input (B-77)."""
    index = chunk.get("index")
    opened = asm.dialect_state["blocks"].get(index) if asm.dialect_state else None
    if opened is None or opened.done or opened.kind not in ("tool_use", "output"):
        return
    opened.done = True
    value: Any = opened.start
    raw = "".join(opened.parts)
    if raw:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None  # the raw text stays: it does not parse, so it is never run
    if opened.kind == "output":
        asm.add_text(0, raw if value is None and raw else _compact(value))
    elif isinstance(value, dict) and value:
        asm.add_tool_call(0, index, None, None, value)


def _message_start(chunk: dict[str, Any], asm: Assembler) -> None:
    message = chunk.get("message")
    if not isinstance(message, dict):
        return
    asm.model = message.get("model") or asm.model
    identifier = message.get("id")
    if asm.request_id is None and isinstance(identifier, str) and identifier:
        asm.request_id = identifier
    _usage_update(message.get("usage"), asm)


def _usage_update(usage: Any, asm: Assembler) -> None:
    """Stream usage is cumulative: each field takes its latest value, never a sum."""
    if not isinstance(usage, dict):
        return
    latest = _state(asm)["usage"]
    latest.update((key, value) for key, value in usage.items() if value is not None)
    asm.set_usage(map_usage(latest))


def _message_delta(chunk: dict[str, Any], asm: Assembler) -> None:
    """The end of the content: unfinished output is released, the thinking blocks are attached to the first call."""
    state = _state(asm)
    for opened in state["blocks"].values():
        if opened.kind == "output" and not opened.done and opened.parts:
            opened.done = True
            asm.add_text(0, "".join(opened.parts))
    if state["kept"] and state["first_call"] is not None:
        asm.add_tool_call(0, state["first_call"], None, None, None, {PROVIDER_FIELD: _kept(state["blocks"])})
    delta = chunk.get("delta")
    if isinstance(delta, dict):
        _finish(asm, delta)
    _usage_update(chunk.get("usage"), asm)


def _kept(blocks: dict[int, _Open]) -> list[dict[str, Any]]:
    """The streamed blocks to send back with the tool calls, the same as :func:`parse_response` keeps."""
    out: list[dict[str, Any]] = []
    for index in sorted(blocks):
        opened = blocks[index]
        if opened.kind == "thinking":
            out.append({"type": "thinking", "thinking": "".join(opened.parts), "signature": opened.extra})
        elif opened.kind == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": opened.extra})
        elif opened.kind == "text" and out and "".join(opened.parts).strip():
            out.append({"type": "text", "text": "".join(opened.parts)})
    return out


_HANDLERS: dict[str, Callable[[dict[str, Any], Assembler], None]] = {
    "content_block_start": _block_start,
    "content_block_stop": _block_stop,
    "message_start": _message_start,
    "message_delta": _message_delta,
}


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """Feed one stream event into ``asm``. Dispatched on the data's ``type`` (present in every event), so a proxy
    that drops the ``event:`` lines still works (B-110)."""
    chunk = decode_event(event, asm, provider=provider)
    if type(chunk) is not dict:
        raise ResponseValidationError(
            f"{provider} sent a stream event that is not a JSON object",
            provider=provider,
            request_id=asm.request_id,
            body=chunk,
            partial=asm.result(),
        )
    kind = chunk.get("type")
    if kind == "content_block_delta":
        _block_delta(chunk, asm)
        return PROGRESS
    if kind == "ping":
        return KEEPALIVE
    if kind == "message_stop":
        return TERMINAL
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is not None:
        handler(chunk, asm)
    return PROGRESS


@dataclass(frozen=True)
class AnthropicDialect:
    """The Messages dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`)."""

    name: str = "anthropic"
    framing: Literal["sse", "ndjson"] = "sse"
    split_think_tags: bool = False

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def build(
        self,
        messages: Sequence[Any],
        *,
        model: str,
        model_info: ModelInfo,
        tools: Sequence[Any],
        tool_choice: Any,
        json_output: bool | type[BaseModel] | None,
        create_args: Mapping[str, Any],
        stream: bool,
    ) -> dict[str, Any]:
        return build_request(
            messages,
            model=model,
            model_info=model_info,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            create_args=create_args,
            stream=stream,
        )

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    def parse_event(self, event: SSEEvent, asm: Assembler, *, provider: str) -> int:
        return parse_event(event, asm, provider=provider)

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Never: a Messages stream is whole only at ``message_stop``."""
        return False
