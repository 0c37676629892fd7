"""The Responses request: create arguments checked, tools, tool choice, structured output and the JSON body, by the
rules in :mod:`modelport.providers.openai_responses.dialect`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..._validate import check_json_value
from ...errors import CapabilityError, InvalidRequestError
from ...model_info import ModelInfo
from ...tools import strict_schema
from .._checks import FORBIDDEN_ARGUMENTS, function_tools, model_schema, number, shown, whole
from ._input import verifiable_only, wire_input

if TYPE_CHECKING:
    from ..._request import Request

__all__ = ["CREATE_ARGUMENTS", "ENCRYPTED_REASONING", "build_request", "validate_create_args"]

ENCRYPTED_REASONING = "reasoning.encrypted_content"

CREATE_ARGUMENTS = frozenset(
    {
        "max_output_tokens",
        "temperature",
        "top_p",
        "truncation",
        "service_tier",
        "prompt_cache_key",
        "metadata",
        "safety_identifier",
        "include",
        "reasoning",
        "reasoning_effort",
        "store",
        "previous_response_id",
        "parallel_tool_calls",
        "max_tool_calls",
        "top_logprobs",
        "response_format",
        "text",
        "user",
        "extra_body",
    }
)
_LOCAL_ARGUMENTS = frozenset({"reasoning_effort", "response_format", "include", "text", "extra_body", "store"})
"""Create arguments that shape the body rather than being copied into it."""
_FORBIDDEN = {
    **FORBIDDEN_ARGUMENTS,
    "input": "pass messages as the first argument",
    "instructions": "pass a SystemMessage",
    "max_tokens": "the Responses API calls it max_output_tokens",
    "max_completion_tokens": "the Responses API calls it max_output_tokens",
    "background": "background responses are polled, which this client does not do",
}
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SUMMARIES = ("auto", "concise", "detailed")


def _is_reasoning(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) <= {"effort", "summary", "generate_summary"}
        and value.get("effort") in (None, *_EFFORTS)
        and value.get("summary", value.get("generate_summary")) in (None, *_SUMMARIES)
    )


def _is_response_format(value: Any) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseModel)
    return isinstance(value, Mapping) and value.get("type") in ("text", "json_object")


_ARGUMENT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_output_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),  # OpenAI's least is 16
    "temperature": (number(0, 2), "a number from 0 to 2"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "truncation": (lambda v: v in ("auto", "disabled"), "'auto' or 'disabled'"),
    "service_tier": (
        lambda v: v in ("auto", "default", "flex", "scale", "priority"),
        "'auto', 'default', 'flex', 'scale' or 'priority'",
    ),
    "prompt_cache_key": (lambda v: isinstance(v, str), "a str"),
    "safety_identifier": (lambda v: isinstance(v, str), "a str"),
    "user": (lambda v: isinstance(v, str), "a str"),
    "previous_response_id": (lambda v: isinstance(v, str) and v != "", "a response id (a str)"),
    "metadata": (lambda v: isinstance(v, Mapping), "a dict"),
    "include": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v), "a list of str"),
    "reasoning": (_is_reasoning, f"a dict of 'effort' ({', '.join(_EFFORTS)}) and 'summary' ({', '.join(_SUMMARIES)})"),
    "reasoning_effort": (lambda v: v in _EFFORTS, f"one of {', '.join(_EFFORTS)}"),
    "store": (lambda v: type(v) is bool, "true or false"),
    "parallel_tool_calls": (lambda v: type(v) is bool, "true or false"),
    "max_tool_calls": (whole(1, 2**31 - 1), "a whole number of 1 or more"),
    "top_logprobs": (whole(0, 20), "a whole number from 0 to 20"),
    "response_format": (_is_response_format, "a pydantic model class or {'type': 'json_object'}"),
    "text": (lambda v: isinstance(v, Mapping), "a dict (its 'verbosity'; the format comes from json_output)"),
    "extra_body": (lambda v: isinstance(v, Mapping), "a dict"),
}


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known to the Responses API (or to modelport), of its type and range, and sendable as JSON."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in _FORBIDDEN:
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {_FORBIDDEN[key]}")
        if key not in CREATE_ARGUMENTS:
            raise InvalidRequestError(
                f"unknown {where} {key!r} for the Responses API; other fields go in extra_body={{...}}"
            )
        rule = _ARGUMENT_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):
            check_json_value(value, f"{where} {key!r}")


def build_request(
    request: Request, *, model: str, model_info: ModelInfo, create_args: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a non-streamed Responses request. ``create_args`` must already be validated."""
    instructions, items = wire_input(request.messages, model_info)
    body: dict[str, Any] = {"model": model}
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    _add_tools(body, request.tools, request.tool_choice, model_info)
    for key, value in create_args.items():
        if key not in _LOCAL_ARGUMENTS and value is not None:
            body[key] = value
    store = create_args.get("store") is True
    body["store"] = store  # the API stores by default: modelport does not, unless asked
    if not store:
        body["input"] = verifiable_only(items)
    if "previous_response_id" in body and not store:
        raise InvalidRequestError(
            "create argument 'previous_response_id' needs store=True: a response not stored cannot be continued"
        )
    _add_reasoning(body, create_args, model_info, store)
    _add_text(body, create_args, request.json_output, model_info)
    extra = create_args.get("extra_body")
    if extra:
        body.update(extra)
    return body


def _add_reasoning(body: dict[str, Any], args: Mapping[str, Any], info: ModelInfo, store: bool) -> None:
    """``reasoning`` (``reasoning_effort`` is its ``effort``), and, when nothing is stored, the encrypted reasoning
    asked for so that it can come back with the calls it led to."""
    reasoning = dict(args.get("reasoning") or {})
    effort = args.get("reasoning_effort")
    if effort is not None:
        reasoning["effort"] = effort
    if reasoning:
        body["reasoning"] = reasoning
    include = list(args.get("include") or ())
    if not store and (reasoning or info.get("reasoning")) and ENCRYPTED_REASONING not in include:
        include.append(ENCRYPTED_REASONING)
    if include:
        body["include"] = include


def _add_text(body: dict[str, Any], args: Mapping[str, Any], json_output: Any, info: ModelInfo) -> None:
    """``text``: the caller's (``verbosity``), with the format that ``json_output`` or ``response_format`` asks."""
    text = dict(args.get("text") or {})
    response_format = args.get("response_format")
    if response_format is not None and not (isinstance(response_format, Mapping) and response_format["type"] == "text"):
        wanted = response_format if isinstance(response_format, type) else True
        if json_output not in (None, False, wanted):
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        json_output = wanted
    if json_output is not None and json_output is not False:
        if "format" in text:
            raise InvalidRequestError("json_output and the create argument text['format'] cannot both be given")
        text["format"] = _format(json_output, info)
    if text:
        body["text"] = text


def _format(json_output: Any, info: ModelInfo) -> dict[str, Any]:
    if json_output is True:
        if not info["json_output"]:
            raise CapabilityError(
                "json_output=True was given but the model does not support JSON output "
                "(model_info['json_output'] is False)"
            )
        return {"type": "json_object"}
    if not (isinstance(json_output, type) and issubclass(json_output, BaseModel)):
        raise InvalidRequestError(
            f"json_output must be True, False, None or a pydantic model class, not {shown(json_output)}"
        )
    if json_output is BaseModel:
        raise InvalidRequestError("json_output must be a subclass of pydantic.BaseModel, not BaseModel itself")
    if not info.get("structured_output", False):
        raise CapabilityError(
            f"json_output={json_output.__name__} was given but the model does not support structured output "
            "(model_info['structured_output'] is False)"
        )
    schema = model_schema(json_output)
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in json_output.__name__)[:64]
    return {"type": "json_schema", "name": name, "schema": strict_schema(schema), "strict": True}


def _add_tools(body: dict[str, Any], tools: Sequence[Any], tool_choice: Any, info: ModelInfo) -> None:
    """Function tools, flat as the Responses API takes them, ``strict`` always said (the API's default is true)."""
    if not tools:
        if tool_choice not in ("auto", None, "none"):
            raise InvalidRequestError(
                f"tool_choice={shown(_named(tool_choice) or tool_choice)} was given without any tools"
            )
        return
    body["tools"] = [
        {"type": "function", "parameters": {"type": "object", "properties": {}}, "strict": False, **tool["function"]}
        for tool in function_tools(tools, info, server="openai")
    ]
    choice = _tool_choice(tool_choice, [tool["name"] for tool in body["tools"]])
    if choice is not None:
        body["tool_choice"] = choice


def _named(tool_choice: Any) -> str | None:
    """The tool a ``tool_choice`` names: a tool's ``name``, ``{"name": ...}``, or the chat form's ``function``."""
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool_choice.get("name")
    else:
        name = None if isinstance(tool_choice, str) else getattr(tool_choice, "name", None)
    return name if isinstance(name, str) else None


def _tool_choice(tool_choice: Any, names: list[str]) -> Any:
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") in ("auto", "required", "none"):
        tool_choice = tool_choice["type"]
    if tool_choice in ("auto", None):
        return None
    if tool_choice in ("required", "none"):
        return tool_choice
    name = _named(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {shown(tool_choice)}")
    if name not in names:
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return {"type": "function", "name": name}
