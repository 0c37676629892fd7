"""The Converse request: create arguments checked, the tool configuration, structured output and the JSON body
(with prompt-caching points), by the rules in :mod:`modelport.providers.bedrock.dialect`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..._validate import check_json_value
from ...errors import CapabilityError, InvalidRequestError
from ...model_info import ModelInfo
from .._checks import FORBIDDEN_ARGUMENTS, function_tools, is_stop, model_schema, number, shown, tool_choice_name, whole
from ._messages import Conversation, wire_messages
from ._names import OUTPUT_TOOL

if TYPE_CHECKING:
    from ..._request import Request

_OUTPUT_DESCRIPTION = "Give your complete answer by calling this tool once, with the answer as its input."
_CACHE_POINT = {"cachePoint": {"type": "default"}}

_INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP"}
"""Create arguments that go into ``inferenceConfig``, and their names there."""
_PASSED = {
    "guardrail_config": "guardrailConfig",
    "performance_config": "performanceConfig",
    "request_metadata": "requestMetadata",
    "prompt_variables": "promptVariables",
    "additional_model_response_field_paths": "additionalModelResponseFieldPaths",
    "service_tier": "serviceTier",
}
"""Create arguments copied into the body as they are, under Converse's names."""


def _is_thinking(value: Any) -> bool:
    if not isinstance(value, Mapping) or value.get("type") not in ("enabled", "adaptive", "disabled"):
        return False
    budget = value.get("budget_tokens")
    return (type(budget) is int and budget >= 1024) if value["type"] == "enabled" else budget is None


def _is_response_format(value: Any) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseModel)
    return isinstance(value, Mapping) and value.get("type") in ("text", "json_object")


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


_ARGUMENT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),
    "temperature": (number(0, 1), "a number from 0 to 1"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "stop_sequences": (is_stop, "a str or a list of str"),
    "stop": (is_stop, "a str or a list of str"),
    "thinking": (
        _is_thinking,
        "{'type': 'enabled', 'budget_tokens': N} with N >= 1024, {'type': 'adaptive'} or {'type': 'disabled'}",
    ),
    "prompt_caching": (lambda v: type(v) is bool, "True or False"),
    "response_format": (_is_response_format, "a pydantic model class or {'type': 'json_object'}"),
    "additional_model_request_fields": (_is_mapping, "a dict"),
    "additional_model_response_field_paths": (
        lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
        "a list of str",
    ),
    "guardrail_config": (_is_mapping, "a dict"),
    "performance_config": (_is_mapping, "a dict"),
    "request_metadata": (_is_mapping, "a dict"),
    "prompt_variables": (_is_mapping, "a dict"),
    "service_tier": (_is_mapping, "a dict"),
    "extra_body": (_is_mapping, "a dict"),
}
CREATE_ARGUMENTS = frozenset(_ARGUMENT_RULES)


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known to Converse (or to modelport), of its type and range, and sendable as JSON."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in FORBIDDEN_ARGUMENTS or key == "system":
            why = FORBIDDEN_ARGUMENTS.get(key, "pass a SystemMessage")
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {why}")
        if key not in CREATE_ARGUMENTS:
            raise InvalidRequestError(
                f"unknown {where} {key!r} for Bedrock; model-specific fields go in "
                "additional_model_request_fields={...}, other fields of the Converse API in extra_body={...}"
            )
        rule = _ARGUMENT_RULES[key]
        if value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):
            check_json_value(value, f"{where} {key!r}")
    if "stop" in args and "stop_sequences" in args:
        raise InvalidRequestError(f"{where}s 'stop' and 'stop_sequences' cannot both be given")


def build_request(request: Request, *, model_info: ModelInfo, create_args: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a non-streamed Converse request (the model is in the URL). ``create_args`` are validated."""
    conversation = wire_messages(request.messages, model_info)
    body: dict[str, Any] = {"messages": conversation.turns}
    if conversation.system:
        body["system"] = conversation.system
    inference = _inference(create_args)
    if inference:
        body["inferenceConfig"] = inference
    extra_fields = dict(create_args.get("additional_model_request_fields") or {})
    thinking = create_args.get("thinking")
    if thinking is not None:
        extra_fields["thinking"] = dict(thinking)
    thinking_on = isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive")
    config = _tool_config(request.tools, request.tool_choice, conversation, model_info)
    json_output = _json_output(create_args, request.json_output)
    if json_output is not None:
        config = _with_output(config, json_output, model_info, thinking_on)
    if (
        thinking_on
        and config is not None
        and ("any" in config.get("toolChoice", {}) or "tool" in config.get("toolChoice", {}))
    ):
        raise InvalidRequestError(
            "tool_choice 'required' or a named tool cannot be combined with thinking: Bedrock's Claude models allow "
            "only 'auto' while thinking"
        )
    if config is not None:
        body["toolConfig"] = config
    if extra_fields:
        body["additionalModelRequestFields"] = extra_fields
    for key, name in _PASSED.items():
        if create_args.get(key) is not None:
            body[name] = create_args[key]
    if create_args.get("prompt_caching"):
        _place_cache_points(body)
    extra = create_args.get("extra_body")
    if extra:
        body.update(extra)
    return body


def _inference(create_args: Mapping[str, Any]) -> dict[str, Any]:
    inference = {name: create_args[key] for key, name in _INFERENCE.items() if create_args.get(key) is not None}
    stop = create_args.get("stop") or create_args.get("stop_sequences")
    if stop is not None:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    return inference


def _tool_config(
    tools: Sequence[Any], tool_choice: Any, conversation: Conversation, info: ModelInfo
) -> dict[str, Any] | None:
    """``toolConfig``: the caller's tools and choice. ``none`` leaves the tools out, as some models refuse a
    choice of none; a history with tool calls keeps a ``toolConfig`` all the same (Converse refuses such a history
    without one), naming the tools it called when the caller gave none."""
    names: list[str] = []
    specs: list[dict[str, Any]] = []
    if tools:
        for tool in function_tools(tools, info, server="Bedrock"):
            function = tool["function"]
            if function["name"] == OUTPUT_TOOL:
                raise InvalidRequestError(f"tool name {OUTPUT_TOOL!r} is reserved by modelport for structured output")
            names.append(function["name"])
            specs.append({"toolSpec": _spec(function)})
    elif tool_choice not in ("auto", None, "none"):
        raise InvalidRequestError(
            f"tool_choice={shown(tool_choice_name(tool_choice) or tool_choice)} was given without tools"
        )
    choice = _choice(tool_choice, names) if specs else None
    if tool_choice == "none" or (isinstance(tool_choice, Mapping) and tool_choice.get("type") == "none"):
        choice = None
        if not conversation.called:  # the caller's tools stay only where the history needs a toolConfig
            specs = []
    if not specs and conversation.called:
        specs = [_history_tool(name) for name in conversation.called]
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    if choice is not None:
        config["toolChoice"] = choice
    return config


def _spec(function: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        spec["description"] = function["description"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    spec["inputSchema"] = {"json": {"type": "object", **parameters}}
    return spec


def _history_tool(name: str) -> dict[str, Any]:
    return {"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object", "properties": {}}}}}


def _choice(tool_choice: Any, names: list[str]) -> dict[str, Any] | None:
    """``toolChoice`` for the caller's tools: ``auto`` (left out), ``any`` for required, or a named ``tool``."""
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") in ("auto", "any", "none", "required"):
        tool_choice = tool_choice["type"]
    if tool_choice in ("auto", None, "none"):
        return None
    if tool_choice in ("required", "any"):
        return {"any": {}}
    name = tool_choice_name(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {shown(tool_choice)}")
    if name not in names:
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return {"tool": {"name": name}}


def _json_output(create_args: Mapping[str, Any], json_output: Any) -> bool | type[BaseModel] | None:
    response_format = create_args.get("response_format")
    if isinstance(response_format, type) or (
        isinstance(response_format, Mapping) and response_format.get("type") == "json_object"
    ):
        wanted = response_format if isinstance(response_format, type) else True
        if json_output not in (None, False, wanted):
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        json_output = wanted
    return json_output if json_output is not False else None


def _output_schema(json_output: bool | type[BaseModel], info: ModelInfo) -> dict[str, Any]:
    if json_output is True:
        if not info["json_output"]:
            raise CapabilityError(
                "json_output=True was given but the model does not support JSON output "
                "(model_info['json_output'] is False)"
            )
        return {"type": "object"}
    if not (isinstance(json_output, type) and issubclass(json_output, BaseModel)) or json_output is BaseModel:
        raise InvalidRequestError(
            f"json_output must be True, False, None or a subclass of pydantic.BaseModel, not {shown(json_output)}"
        )
    schema = model_schema(json_output)
    return schema


def _with_output(
    config: dict[str, Any] | None, json_output: bool | type[BaseModel], info: ModelInfo, thinking: bool
) -> dict[str, Any] | None:
    """Structured output through the forced :data:`OUTPUT_TOOL` (its input is routed into the answer text)."""
    choice = (config or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        return config  # the turn must call the caller's tools: there is no answer to shape
    schema = _output_schema(json_output, info)
    if not info["function_calling"]:
        raise CapabilityError(
            "structured output on Bedrock needs a forced tool, and the model does not support function calling"
        )
    if thinking:
        raise InvalidRequestError(
            "json_output with thinking needs a forced tool, which Bedrock's Claude models refuse while thinking; "
            "turn thinking off"
        )
    tools = list((config or {}).get("tools") or [])
    caller_tools = bool(config and "toolChoice" in config) or bool(tools)
    tools.append(
        {"toolSpec": {"name": OUTPUT_TOOL, "description": _OUTPUT_DESCRIPTION, "inputSchema": {"json": schema}}}
    )
    forced: dict[str, Any] = {"any": {}} if caller_tools else {"tool": {"name": OUTPUT_TOOL}}
    return {"tools": tools, "toolChoice": forced}


def _place_cache_points(body: dict[str, Any]) -> None:
    """Prompt caching: a cache point after the system blocks, after the tools and at the end of the conversation."""
    if body.get("system"):
        body["system"] = [*body["system"], _CACHE_POINT]
    config = body.get("toolConfig")
    if config:
        body["toolConfig"] = {**config, "tools": [*config["tools"], _CACHE_POINT]}
    last = body["messages"][-1]
    body["messages"][-1] = {**last, "content": [*last["content"], _CACHE_POINT]}
