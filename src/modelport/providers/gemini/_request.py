"""The ``generateContent`` request: create arguments checked, tools, tool config, structured output, thinking and
the JSON body, by the rules in :mod:`modelport.providers.gemini.dialect`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..._validate import check_json_value
from ...errors import CapabilityError, InvalidRequestError
from ...model_info import ModelInfo
from .._checks import FORBIDDEN_ARGUMENTS, function_tools, is_stop, model_schema, number, shown, whole
from ._contents import wire_contents
from ._schema import openapi_schema

if TYPE_CHECKING:
    from ..._request import Request

_GENERATION = {
    # create argument -> generationConfig field
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "candidate_count": "candidateCount",
    "media_resolution": "mediaResolution",
}
_THINKING_KEYS = {
    "thinking_budget": "thinkingBudget",
    "thinkingBudget": "thinkingBudget",
    "thinking_level": "thinkingLevel",
    "thinkingLevel": "thinkingLevel",
    "include_thoughts": "includeThoughts",
    "includeThoughts": "includeThoughts",
}
_LEVELS = ("minimal", "low", "medium", "high", "MINIMAL", "LOW", "MEDIUM", "HIGH")
CREATE_ARGUMENTS = frozenset(
    {
        *_GENERATION,
        "stop",
        "stop_sequences",
        "thinking",
        "safety_settings",
        "cached_content",
        "response_format",
        "generation_config",
        "labels",
        "schema_format",
        "extra_body",
    }
)
_FORBIDDEN = {
    **FORBIDDEN_ARGUMENTS,
    "system_instruction": "pass a SystemMessage",
    "contents": "pass messages as the first argument",
    "tool_config": "pass tool_choice=...",
}


def _is_thinking(value: Any) -> bool:
    if not isinstance(value, Mapping) or not value or any(key not in _THINKING_KEYS for key in value):
        return False
    for key, item in value.items():
        field = _THINKING_KEYS[key]
        if field == "thinkingBudget" and not (type(item) is int and -1 <= item <= 2**31 - 1):
            return False
        if field == "thinkingLevel" and item not in _LEVELS:
            return False
        if field == "includeThoughts" and type(item) is not bool:
            return False
    return True


def _is_safety(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and all(isinstance(item, Mapping) and isinstance(item.get("category"), str) for item in value)
    )


def _is_response_format(value: Any) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseModel)
    return isinstance(value, Mapping) and value.get("type") in ("text", "json_object")


_ARGUMENT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "temperature": (number(0, 2), "a number from 0 to 2"),
    "top_p": (number(0, 1), "a number from 0 to 1"),
    "top_k": (whole(1, 2**31 - 1), "a whole number of 1 or more"),
    "max_tokens": (whole(1, 2**31 - 1), "a whole number of 1 or more"),
    "max_output_tokens": (whole(1, 2**31 - 1), "a whole number of 1 or more"),
    "seed": (whole(-(2**31), 2**31 - 1), "a whole number (32 bits)"),
    "presence_penalty": (number(-2, 2), "a number from -2 to 2"),
    "frequency_penalty": (number(-2, 2), "a number from -2 to 2"),
    "candidate_count": (lambda v: v == 1 and type(v) is int, "1 (one answer per call; make several calls)"),
    "media_resolution": (lambda v: isinstance(v, str), "a str"),
    "stop": (is_stop, "a str or a list of str"),
    "stop_sequences": (is_stop, "a str or a list of str"),
    "thinking": (
        _is_thinking,
        "a dict of thinking_budget (a whole number; -1 lets the model choose, 0 turns thinking off), thinking_level "
        "('minimal', 'low', 'medium' or 'high') and include_thoughts (true or false)",
    ),
    "safety_settings": (_is_safety, "a list of {'category': ..., 'threshold': ...} dicts"),
    "cached_content": (lambda v: isinstance(v, str) and bool(v), "the cached content's name (cachedContents/...)"),
    "response_format": (_is_response_format, "a pydantic model class or {'type': 'json_object'}"),
    "generation_config": (lambda v: isinstance(v, Mapping), "a dict"),
    "labels": (lambda v: isinstance(v, Mapping), "a dict of str"),
    "schema_format": (lambda v: v in ("json_schema", "openapi"), "'json_schema' (the default) or 'openapi'"),
    "extra_body": (lambda v: isinstance(v, Mapping), "a dict"),
}


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known to ``generateContent`` (or to modelport), of its type and range, and sendable as JSON."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in _FORBIDDEN:
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {_FORBIDDEN[key]}")
        if key not in CREATE_ARGUMENTS:
            raise InvalidRequestError(
                f"unknown {where} {key!r} for Gemini; other generationConfig fields go in generation_config={{...}}, "
                "other request fields in extra_body={...}"
            )
        rule = _ARGUMENT_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):
            check_json_value(value, f"{where} {key!r}")
    for pair in (("stop", "stop_sequences"), ("max_tokens", "max_output_tokens")):
        if all(args.get(key) is not None for key in pair):
            raise InvalidRequestError(f"{where}s {pair[0]!r} and {pair[1]!r} cannot both be given")


# -- tools and tool config --


def _declarations(tools: Sequence[Any], info: ModelInfo, openapi: bool) -> list[dict[str, Any]]:
    """The caller's tools as ``functionDeclarations``, their parameters as JSON schema (``parametersJsonSchema``),
    or with ``openapi`` as Gemini's OpenAPI subset (``parameters``)."""
    out: list[dict[str, Any]] = []
    for tool in function_tools(tools, info, server="gemini"):
        function = tool["function"]
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        if parameters is not None and (parameters.get("properties") or parameters.get("type") != "object"):
            if openapi:
                declaration["parameters"] = openapi_schema(parameters, f"tools[{len(out)}].parameters")
            else:
                declaration["parametersJsonSchema"] = dict(parameters)
        out.append(declaration)
    return out


def _named(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("name")
        if name is None and isinstance(tool_choice.get("function"), Mapping):
            name = tool_choice["function"].get("name")
    else:
        name = getattr(tool_choice, "name", None)
    return name if isinstance(name, str) else None


def _tool_config(tool_choice: Any, names: list[str]) -> dict[str, Any] | None:
    """``toolConfig.functionCallingConfig``: ``auto`` (none sent), ``ANY`` for required, ``NONE``, or ``ANY`` with
    ``allowedFunctionNames`` for a named tool."""
    if tool_choice in ("auto", None):
        return None
    if tool_choice in ("required", "any"):
        return {"functionCallingConfig": {"mode": "ANY"}}
    if tool_choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    name = _named(tool_choice)
    if name is None:
        raise InvalidRequestError(f"tool_choice must be 'auto', 'required', 'none' or a tool, not {shown(tool_choice)}")
    if name not in names:
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


# -- structured output --


def _output(json_output: Any, args: Mapping[str, Any], info: ModelInfo) -> dict[str, Any] | None:
    """``responseMimeType`` (and ``responseJsonSchema`` for a pydantic model) for structured output, or None."""
    response_format = args.get("response_format")
    if isinstance(response_format, type) or (
        isinstance(response_format, Mapping) and response_format.get("type") == "json_object"
    ):
        wanted = response_format if isinstance(response_format, type) else True
        if json_output not in (None, False, wanted):
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        json_output = wanted
    if json_output in (None, False):
        return None
    if not info["json_output"]:
        raise CapabilityError(
            "json_output was given but the model does not support JSON output (model_info['json_output'] is False)"
        )
    if json_output is True:
        return {"responseMimeType": "application/json"}
    if not (isinstance(json_output, type) and issubclass(json_output, BaseModel)) or json_output is BaseModel:
        raise InvalidRequestError(
            f"json_output must be True, False, None or a subclass of pydantic.BaseModel, not {shown(json_output)}"
        )
    schema = model_schema(json_output)
    if args.get("schema_format") == "openapi":
        return {"responseMimeType": "application/json", "responseSchema": openapi_schema(schema, "json_output")}
    return {"responseMimeType": "application/json", "responseJsonSchema": schema}


# -- the request --


def _generation_config(args: Mapping[str, Any], output: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, field in _GENERATION.items():
        value = args.get(key)
        if value is not None:
            config[field] = value
    stop = args.get("stop") if args.get("stop") is not None else args.get("stop_sequences")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    thinking = args.get("thinking")
    if thinking:
        config["thinkingConfig"] = {_THINKING_KEYS[key]: value for key, value in thinking.items()}
    if output:
        config.update(output)
    extra = args.get("generation_config")
    if extra:
        clash = sorted(key for key in extra if key in config)
        if clash:
            raise InvalidRequestError(
                f"generation_config sets {', '.join(clash)}, which other create arguments (or json_output) set too"
            )
        config.update(extra)
    return config


def build_request(
    request: Request, *, model: str, model_info: ModelInfo, create_args: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a ``generateContent`` request. ``create_args`` must already be validated."""
    system, contents = wire_contents(request.messages, model_info)
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    tools, tool_choice = request.tools, request.tool_choice
    if tools:
        if not model_info["function_calling"]:
            raise CapabilityError(
                "tools were given but the model does not support function calling "
                "(model_info['function_calling'] is False)"
            )
        declarations = _declarations(tools, model_info, create_args.get("schema_format") == "openapi")
        body["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(tool_choice, [d["name"] for d in declarations])
        if config is not None:
            body["toolConfig"] = config
    elif tool_choice not in ("auto", None, "none"):
        raise InvalidRequestError(f"tool_choice={shown(_named(tool_choice) or tool_choice)} was given without tools")
    generation = _generation_config(create_args, _output(request.json_output, create_args, model_info))
    if generation:
        body["generationConfig"] = generation
    if create_args.get("safety_settings"):
        body["safetySettings"] = [dict(item) for item in create_args["safety_settings"]]
    if create_args.get("cached_content"):
        body["cachedContent"] = create_args["cached_content"]
    if create_args.get("labels"):
        body["labels"] = dict(create_args["labels"])
    extra = create_args.get("extra_body")
    if extra:
        body.update(extra)
    return body


_VERTEX_COUNTED = ("contents", "systemInstruction", "tools", "generationConfig")


def count_tokens_body(body: Mapping[str, Any], model_path: str, *, vertex: bool = False) -> dict[str, Any]:
    """The ``:countTokens`` body for a ``generateContent`` body: on the Gemini API the whole request under
    ``generateContentRequest`` (so tools and the system instruction are counted too); Vertex AI takes the fields
    it counts at the top level."""
    if vertex:
        return {key: body[key] for key in _VERTEX_COUNTED if key in body}
    return {"generateContentRequest": {"model": model_path, **body}}
