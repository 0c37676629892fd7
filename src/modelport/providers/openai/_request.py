"""The OpenAI chat-completions dialect's requests, sans I/O: our types to a request body.

Used for OpenAI, Azure OpenAI and every OpenAI-compatible server. What differs between those servers is data, a
:class:`WireProfile`, never an ``if`` on a model name in the shared pipeline.

Everything a provider would reject for certain is rejected here first, with an :class:`InvalidRequestError`
(a ``ValueError``) that names the field, before any byte is sent: images for a model without vision, tools for a
model without function calling, invalid tool names, JSON output the model cannot do, unknown create arguments,
system messages the model cannot take apart, and tool calls without their results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..._convert import as_messages, is_custom_call
from ..._validate import check_json_value
from ...errors import CapabilityError, InvalidRequestError
from ...messages import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from ...model_info import ModelInfo, is_responses_only, lookup_model_info
from ...tools import TOOL_NAME_PATTERN, strict_schema
from .._checks import (
    FORBIDDEN_ARGUMENTS,
    check_str,
    check_web_image,
    function_tools,
    is_stop,
    model_schema,
    number,
    shown,
    unknown_argument,
    whole,
)

if TYPE_CHECKING:
    from ..._request import Request

__all__ = ["CREATE_ARGUMENTS", "WireProfile", "build_request", "streamed_body", "to_openai", "wire_messages"]


@dataclass(frozen=True)
class WireProfile:
    """How one family of servers speaks the dialect."""

    name: str = "openai"
    stream_usage: bool = True
    """Ask for a final usage chunk (``stream_options.include_usage``); some old servers reject the field."""
    send_names: bool = True
    """Send ``source`` as the message ``name`` (Mistral rejects the field)."""
    max_tool_description: int | None = None
    """Longest tool description the server accepts (OpenAI: 1024)."""
    split_think_tags: bool = True
    """Treat ``<think>...</think>`` at the start of the content as reasoning."""


# Arguments the dialect knows. Anything else is a typo until proven otherwise: put provider-specific fields in
# ``extra_body``, which is merged into the request as it is.
CREATE_ARGUMENTS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "response_format",
        "seed",
        "stop",
        "temperature",
        "top_p",
        "user",
        "stream_options",
        "parallel_tool_calls",
        "reasoning_effort",
        "service_tier",
        "store",
        "metadata",
        "modalities",
        "prediction",
        "audio",
        "verbosity",
        "web_search_options",
        "prompt_cache_key",
        "safety_identifier",
        "extra_body",
    }
)
_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_OPENAI_SERVERS = frozenset({"openai", "azure_openai"})
"""Profiles of OpenAI's own servers, where a Responses-only model is refused before sending."""


# What each typed argument must be, and how to say so. Others are checked only as JSON values.
_ARGUMENT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),
    "max_completion_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),
    "temperature": (number(0, 2), "a number from 0 to 2"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "frequency_penalty": (number(-2, 2), "a number from -2 to 2"),
    "presence_penalty": (number(-2, 2), "a number from -2 to 2"),
    "seed": (whole(-(2**63), 2**63 - 1), "a whole number that fits in 64 bits"),
    "top_logprobs": (whole(0, 20), "a whole number from 0 to 20"),
    "logprobs": (lambda v: type(v) is bool, "true or false"),
    "parallel_tool_calls": (lambda v: type(v) is bool, "true or false"),
    "store": (lambda v: type(v) is bool, "true or false"),
    "stop": (is_stop, "a str or a list of str"),
    "user": (lambda v: isinstance(v, str), "a str"),
    "reasoning_effort": (lambda v: isinstance(v, str), "a str such as 'low', 'medium' or 'high'"),
    "extra_body": (lambda v: isinstance(v, Mapping), "a dict"),
    "response_format": (
        lambda v: isinstance(v, Mapping) or (isinstance(v, type) and issubclass(v, BaseModel)),
        "a dict or a pydantic model class (the same as json_output=...)",
    ),
    "logit_bias": (lambda v: isinstance(v, Mapping), "a dict of token ids to numbers from -100 to 100"),
    "metadata": (lambda v: isinstance(v, Mapping), "a dict"),
    "stream_options": (lambda v: isinstance(v, Mapping), "a dict"),
}


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known, of its type and range, and sendable as JSON; else an error naming it."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in FORBIDDEN_ARGUMENTS:
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {FORBIDDEN_ARGUMENTS[key]}")
        if key not in CREATE_ARGUMENTS:
            raise unknown_argument(key, CREATE_ARGUMENTS, where, "provider-specific fields go in extra_body={...}")
        rule = _ARGUMENT_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):  # a pydantic model class as response_format
            check_json_value(value, f"{where} {key!r}")


def build_request(
    request: Request,
    *,
    model: str,
    model_info: ModelInfo,
    create_args: Mapping[str, Any],
    profile: WireProfile,
    add_name_prefixes: bool = False,
) -> dict[str, Any]:
    """The JSON body of a non-streamed chat-completions request. ``create_args`` must already be validated."""
    if profile.name in _OPENAI_SERVERS and is_responses_only(model):
        raise InvalidRequestError(
            f"model {model!r} is served only by OpenAI's Responses API, not chat completions: use OpenAIResponsesClient"
        )
    tools, tool_choice, json_output = request.tools, request.tool_choice, request.json_output
    body: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(request.messages, model_info, profile, add_name_prefixes),
    }
    if tools:
        body["tools"] = function_tools(
            tools, model_info, server=profile.name, max_description=profile.max_tool_description
        )
        choice = _tool_choice(tool_choice, body["tools"])
        if choice is not None:
            body["tool_choice"] = choice
    elif tool_choice not in ("auto", None, "none"):  # "none" with no tools asks for nothing: AutoGen sends it
        raise InvalidRequestError(f"tool_choice={shown(_choice_name(tool_choice))} was given without any tools")
    extra_body = None
    for key, value in create_args.items():
        if key == "extra_body":
            extra_body = value
        elif key == "response_format" and isinstance(value, type):  # AutoGen's guide: response_format=Model
            if json_output not in (None, False, value):
                raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
            json_output = value
        else:
            body[key] = value
    if json_output is not None and json_output is not False:
        if "response_format" in body:
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        body["response_format"] = _response_format(json_output, model_info)
    if model_info.get("reasoning") and "max_tokens" in body and _is_openai_reasoning(model_info):
        body["max_completion_tokens"] = body.pop("max_tokens")
    if extra_body:
        body.update(extra_body)
    return body


def streamed_body(payload: dict[str, Any], profile: WireProfile) -> dict[str, Any]:
    """The body of the same request, streamed: ``stream``, and a final usage chunk asked for where the server
    family takes ``stream_options`` (unless the request set its own)."""
    body = {**payload, "stream": True}
    if profile.stream_usage and "stream_options" not in body:
        body["stream_options"] = {"include_usage": True}
    return body


def to_openai(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Messages (in any form :func:`~modelport.messages.from_openai` takes) as OpenAI chat-format dicts, as they would
    be sent to OpenAI (names included, images as data URIs)."""
    return wire_messages(as_messages(messages), lookup_model_info("gpt-4o"), WireProfile())


def _is_openai_reasoning(model_info: ModelInfo) -> bool:
    return str(model_info.get("family", "")).startswith(("o1", "o3", "o4", "gpt-5"))


def _choice_name(tool_choice: Any) -> Any:
    """``tool_choice`` as an error message shows it: the tool it names, else the value itself."""
    return tool_choice if isinstance(tool_choice, str) else (_named_tool(tool_choice) or tool_choice)


def _named_tool(tool_choice: Any) -> str | None:
    """The tool a ``tool_choice`` names: a tool's ``name``, a ``{"name": ...}`` dict, or OpenAI's own form
    ``{"type": "function", "function": {"name": ...}}``."""
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool_choice.get("name")
    else:
        name = None if isinstance(tool_choice, str) else getattr(tool_choice, "name", None)
    return name if isinstance(name, str) else None


def wire_messages(
    messages: Sequence[Any], info: ModelInfo, profile: WireProfile, add_name_prefixes: bool = False
) -> list[dict[str, Any]]:
    """modelport's messages as the ``messages`` of a chat-completions request, checked (see the module doc)."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    out: list[dict[str, Any]] = []
    system_at: int | None = None
    single_system = info.get("multiple_system_messages") is False
    pending_calls: dict[str, int] = {}
    for i, message in enumerate(messages):
        if pending_calls and not isinstance(message, FunctionExecutionResultMessage):
            _check_results_given(pending_calls)
        if isinstance(message, SystemMessage):
            check_str(message.content, f"messages[{i}].content")
            if single_system and system_at is not None:
                if out[-1] is not out[system_at]:
                    raise InvalidRequestError(
                        f"messages[{i}]: this model takes one system message and the system messages are not "
                        "consecutive, so they cannot be merged"
                    )
                out[system_at]["content"] += "\n" + message.content
                continue
            system_at = len(out)
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            out.append(_user(message, i, info, profile, add_name_prefixes))
        elif isinstance(message, AssistantMessage):
            out.append(_assistant(message, i, profile))
            if isinstance(message.content, list):
                pending_calls = {call.id: i for call in message.content}
        elif isinstance(message, FunctionExecutionResultMessage):
            if not isinstance(message.content, list):
                raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
            for j, result in enumerate(message.content):
                check_str(getattr(result, "call_id", None), f"messages[{i}].content[{j}].call_id")
                check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
                pending_calls.pop(result.call_id, None)
                out.append({"role": "tool", "tool_call_id": result.call_id, "content": result.content})
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    _check_results_given(pending_calls)
    return out


def _check_results_given(pending_calls: dict[str, int]) -> None:
    if pending_calls:
        index = next(iter(pending_calls.values()))
        raise InvalidRequestError(
            f"messages[{index}]: tool calls without results: {', '.join(sorted(pending_calls))}; every tool call "
            "must be followed by a FunctionExecutionResultMessage answering it"
        )


def _name(source: str) -> str:
    return _NAME_INVALID.sub("_", source)[:64]


def _user(message: UserMessage, i: int, info: ModelInfo, profile: WireProfile, prefix: bool) -> dict[str, Any]:
    content = message.content
    check_str(message.source, f"messages[{i}].source")
    if isinstance(content, str):
        wire: Any = f"{message.source} said:\n{content}" if prefix else content
    elif not isinstance(content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a str or a list, not {type(content).__name__}")
    else:
        wire = []
        if prefix:
            wire.append({"type": "text", "text": f"{message.source} said:\n"})
        for j, part in enumerate(content):
            if isinstance(part, str):
                wire.append({"type": "text", "text": part})
            elif isinstance(part, Image):
                if not info["vision"]:
                    raise CapabilityError(
                        f"messages[{i}].content[{j}]: an image was given but the model does not support vision "
                        "(model_info['vision'] is False)"
                    )
                if not part.data_uri or part.detail not in ("auto", "low", "high"):
                    raise InvalidRequestError(
                        f"messages[{i}].content[{j}]: the image has no data nor url, or a detail other than "
                        "'auto', 'low' or 'high' (was it made with model_construct?)"
                    )
                check_web_image(part.data_uri, f"messages[{i}].content[{j}]", "the OpenAI API")
                image: dict[str, Any] = {"url": part.data_uri}
                if part.detail != "auto":
                    image["detail"] = part.detail
                wire.append({"type": "image_url", "image_url": image})
            else:
                raise InvalidRequestError(
                    f"messages[{i}].content[{j}]: expected str or Image, got {type(part).__name__}"
                )
    out = {"role": "user", "content": wire}
    if profile.send_names and message.source:
        out["name"] = _name(message.source)
    return out


def _assistant(message: AssistantMessage, i: int, profile: WireProfile) -> dict[str, Any]:
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    if isinstance(message.content, str):
        return {"role": "assistant", "content": message.content}
    if not isinstance(message.content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(message.content).__name__}"
        )
    calls = []
    for j, call in enumerate(message.content):
        if not isinstance(call, FunctionCall):
            raise InvalidRequestError(f"messages[{i}].content[{j}] must be a FunctionCall, not {type(call).__name__}")
        check_str(call.id, f"messages[{i}].content[{j}].id")
        check_str(call.arguments, f"messages[{i}].content[{j}].arguments")
        if not isinstance(call.name, str) or not TOOL_NAME_PATTERN.match(call.name):
            raise InvalidRequestError(
                f"messages[{i}].content[{j}]: tool call name {call.name!r} is invalid: it "
                "must be 1 to 64 characters of letters, digits, '_' or '-'"
            )
        calls.append(_call(call))
    return {"role": "assistant", "content": message.thought or None, "tool_calls": calls}


def _call(call: FunctionCall) -> dict[str, Any]:
    if is_custom_call(call.provider_fields):  # a custom tool's call goes back in its own form, input raw
        return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    wire: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    extra = call.provider_fields.get("extra_content") if call.provider_fields else None
    if extra:  # Gemini's thought signature; what other dialects keep there (Anthropic's blocks) is not sent here
        wire["extra_content"] = extra
    return wire


def _tool_choice(tool_choice: Any, tools: list[dict[str, Any]]) -> Any:
    if tool_choice in ("auto", None):
        return None
    if tool_choice in ("required", "none"):
        return tool_choice
    name = _named_tool(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {shown(tool_choice)}")
    if all(t["function"]["name"] != name for t in tools):
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return {"type": "function", "function": {"name": name}}


def _response_format(json_output: bool | type[BaseModel], info: ModelInfo) -> dict[str, Any]:
    if json_output is True:
        if not info["json_output"]:
            raise CapabilityError(
                "json_output=True was given but the model does not support JSON output "
                "(model_info['json_output'] is False)"
            )
        return {"type": "json_object"}
    if isinstance(json_output, type) and issubclass(json_output, BaseModel):
        if json_output is BaseModel:
            raise InvalidRequestError("json_output must be a subclass of pydantic.BaseModel, not BaseModel itself")
        if not info.get("structured_output", False):
            raise CapabilityError(
                f"json_output={json_output.__name__} was given but the model does not support "
                "structured output (model_info['structured_output'] is False)"
            )
        schema = model_schema(json_output)
        return {
            "type": "json_schema",
            "json_schema": {"name": _name(json_output.__name__), "schema": strict_schema(schema), "strict": True},
        }
    raise InvalidRequestError(
        f"json_output must be True, False, None or a pydantic model class, not {shown(json_output)}"
    )
