"""The Messages request: create arguments checked, tools, tool choice and structured output, and the JSON body
(with prompt-caching breakpoints), by the rules in :mod:`modelport.providers.anthropic.dialect`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..._validate import check_json_value
from ...errors import CapabilityError, InvalidRequestError
from ...model_info import ModelInfo
from ...tools import TOOL_NAME_PATTERN, strict_schema
from .._checks import is_stop, model_schema, number, shown, tool_choice_name, unknown_argument, whole
from ._messages import wire_messages
from ._names import _SIGNED, OUTPUT_TOOL

if TYPE_CHECKING:
    from ..._request import Request

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` for a model whose longest answer modelport does not know."""
_OUTPUT_DESCRIPTION = "Give your complete answer by calling this tool once, with the answer as its input."

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
    "max_tokens": (whole(0, 2**31 - 1), "a whole number from 0 to 2147483647"),
    "temperature": (number(0, 1), "a number from 0 to 1"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "top_k": (whole(0, 2**31 - 1), "a whole number of 0 or more"),
    "stop_sequences": (is_stop, "a str or a list of str"),
    "stop": (is_stop, "a str or a list of str"),
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
            raise unknown_argument(
                key, CREATE_ARGUMENTS, where, "Anthropic's other Messages API fields go in extra_body={...}"
            )
        rule = _ARGUMENT_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):
            check_json_value(value, f"{where} {key!r}")
    if "stop" in args and "stop_sequences" in args:
        raise InvalidRequestError(f"{where}s 'stop' and 'stop_sequences' cannot both be given")


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
    name = tool_choice_name(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {shown(tool_choice)}")
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
            f"json_output must be True, False, None or a pydantic model class, not {shown(json_output)}"
        )
    if json_output is BaseModel:
        raise InvalidRequestError("json_output must be a subclass of pydantic.BaseModel, not BaseModel itself")
    schema = model_schema(json_output)
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
    request: Request, *, model: str, model_info: ModelInfo, create_args: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a non-streamed Messages request. ``create_args`` must already be validated."""
    plan = _plan(create_args, request.json_output)
    system, turns = wire_messages(request.messages, model_info)
    body: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(create_args, model_info)}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    _add_tools(body, request.tools, request.tool_choice, plan, model_info)
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
                f"tool_choice={shown(tool_choice_name(tool_choice) or tool_choice)} was given without tools"
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
