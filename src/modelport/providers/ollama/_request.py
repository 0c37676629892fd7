"""The Ollama ``/api/chat`` dialect's requests, sans I/O: our types to a request body (the rules of the whole
dialect are here; answers are read in :mod:`._response` and :mod:`.dialect`).

Ollama's native API differs from the OpenAI one in ways a client has to know:
- sampling settings live in ``options`` (``num_ctx``, ``temperature``, ``top_p``, ``top_k``, ``seed``,
  ``num_predict``, ``stop``...). Create arguments with OpenAI names (``max_tokens`` -> ``num_predict``,
  ``temperature``, ``top_p``, ``seed``, ``stop``, the penalties) and Ollama option names given as create arguments
  (``num_ctx=8192``) are moved into ``options``; the same setting given twice with different values is refused;
- ``stream`` defaults to true on the server, so it is always sent;
- ``format`` is ``"json"`` or a JSON schema (``json_output=True`` / ``json_output=Model``); ``think`` is a bool or a
  level (``"low"``, ``"medium"``, ``"high"``; OpenAI's ``reasoning_effort`` maps onto it) and the answer's
  ``thinking`` is the result's ``thought``;
- tool-call arguments are JSON objects, both ways; images are bare base64 in the message's ``images``; tool results
  are ``tool`` messages with ``tool_name``; there is no ``tool_choice`` (``"none"`` sends no tools, a named tool sends
  only that one, ``"required"`` cannot be honoured and is refused);
- a stream is one JSON object per line and ends with the line that has ``done: true`` (with ``done_reason``, the
  usage counts ``prompt_eval_count`` / ``eval_count`` and the timings). Tool calls arrive whole, in a line of their
  own or in the ``done`` line (B-79); an error mid-stream is a line ``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

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
from ...model_info import ModelInfo
from .._checks import (
    FORBIDDEN_ARGUMENTS,
    check_str,
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

__all__ = ["CREATE_ARGUMENTS", "OPTION_NAMES", "build_request", "fold_options", "validate_create_args", "wire_messages"]

OPTION_NAMES = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "use_mmap",
        "use_mlock",
        "num_thread",
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "top_p",
        "min_p",
        "typical_p",
        "repeat_last_n",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "penalize_newline",
        "tfs_z",
        "numa",
    }
)
"""Ollama's model options, accepted as create arguments and moved into ``options``."""

_RENAMED = {"max_tokens": "num_predict", "max_completion_tokens": "num_predict"}
"""OpenAI names whose Ollama option has another name (the others, ``temperature``, ``top_p``, ``seed``, ``stop`` and
the penalties, are spelled the same)."""

_REQUEST_FIELDS = frozenset(
    {"options", "keep_alive", "think", "format", "truncate", "shift", "logprobs", "top_logprobs"}
)
_OPENAI_FIELDS = frozenset({"response_format", "reasoning_effort", "extra_body"})
CREATE_ARGUMENTS = _REQUEST_FIELDS | OPTION_NAMES | set(_RENAMED) | _OPENAI_FIELDS


_THINK_LEVELS = ("low", "medium", "high")
_INT_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "num_keep",
    "top_k",
    "repeat_last_n",
    "mirostat",
)
_FLOAT_OPTIONS = (
    "top_p",
    "min_p",
    "typical_p",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "mirostat_tau",
    "mirostat_eta",
    "tfs_z",
)
_BOOL = (lambda v: type(v) is bool, "true or false")
_RULES: dict[str, tuple[Any, str]] = {
    **{name: (whole(-(2**31), 2**31 - 1), "a whole number") for name in _INT_OPTIONS},
    **{name: (number(-1e9, 1e9), "a number") for name in _FLOAT_OPTIONS},
    **{name: _BOOL for name in ("use_mmap", "use_mlock", "penalize_newline", "numa", "truncate", "shift", "logprobs")},
    "max_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),
    "max_completion_tokens": (whole(1, 2**31 - 1), "a whole number from 1 to 2147483647"),
    "num_predict": (whole(-2, 2**31 - 1), "a whole number (-1: no limit, -2: fill the context)"),
    "seed": (whole(-(2**63), 2**63 - 1), "a whole number that fits in 64 bits"),
    "top_logprobs": (whole(0, 20), "a whole number from 0 to 20"),
    "stop": (is_stop, "a str or a list of str"),
    "options": (lambda v: isinstance(v, Mapping), "a dict of Ollama options"),
    "extra_body": (lambda v: isinstance(v, Mapping), "a dict"),
    "keep_alive": (
        lambda v: isinstance(v, str) or (type(v) in (int, float)),
        "a duration such as '5m' or '1h', or a number of seconds (0 unloads, -1 keeps it loaded)",
    ),
    "think": (lambda v: type(v) is bool or v in _THINK_LEVELS, "true, false, 'low', 'medium' or 'high'"),
    "reasoning_effort": (lambda v: v in _THINK_LEVELS, "'low', 'medium' or 'high'"),
    "format": (lambda v: v == "json" or isinstance(v, Mapping), "'json' or a JSON schema (a dict)"),
    "response_format": (
        lambda v: isinstance(v, Mapping) or (isinstance(v, type) and issubclass(v, BaseModel)),
        "a dict or a pydantic model class (the same as json_output=...)",
    ),
}


def validate_create_args(args: Mapping[str, Any], *, where: str = "create argument") -> None:
    """Every argument known, of its type, and sendable as JSON; else an error naming it."""
    if not isinstance(args, Mapping):
        raise InvalidRequestError(f"{where}s must be a dict, not {type(args).__name__}")
    for key, value in args.items():
        if key in FORBIDDEN_ARGUMENTS:
            raise InvalidRequestError(f"{where} {key!r} is not allowed: {FORBIDDEN_ARGUMENTS[key]}")
        if key not in CREATE_ARGUMENTS:
            hint = "Ollama options go in options={...}, other request fields in extra_body={...}"
            raise unknown_argument(key, CREATE_ARGUMENTS, where, hint)
        rule = _RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            raise InvalidRequestError(f"{where} {key!r} must be {rule[1]}, got {shown(value)}")
        if not isinstance(value, type):  # a pydantic model class as response_format
            check_json_value(value, f"{where} {key!r}")
    options = args.get("options")
    if isinstance(options, Mapping):
        for key, value in options.items():
            if not isinstance(key, str):
                raise InvalidRequestError(f"{where} 'options' has a key that is not a str: {key!r}")
            rule = _RULES.get(key) if key in OPTION_NAMES else None
            if rule is not None and value is not None and not rule[0](value):
                raise InvalidRequestError(f"{where} 'options' {key!r} must be {rule[1]}, got {shown(value)}")


def fold_options(args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with every option given as a create argument moved into ``options`` (``max_tokens`` as
    ``num_predict``; a ``stop`` string as a list). A setting given twice with different values is refused."""
    options = dict(args.get("options") or {})
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    out: dict[str, Any] = {}
    moved: dict[str, tuple[str, Any]] = {}
    for key, value in args.items():
        if key == "options":
            continue
        target = _RENAMED.get(key, key if key in OPTION_NAMES else None)
        if target is None:
            out[key] = value
            continue
        if value is None:
            continue
        if target == "stop" and isinstance(value, str):
            value = [value]
        earlier = moved.get(target)
        if earlier is not None and earlier[1] != value:
            raise InvalidRequestError(
                f"create arguments {earlier[0]!r} and {key!r} both set Ollama's option {target!r}, differently"
            )
        moved[target] = (key, value)
    for target, (key, value) in moved.items():
        if target in options and options[target] != value:
            raise InvalidRequestError(
                f"create argument {key!r} and options[{target!r}] disagree ({shown(value)} and "
                f"{shown(options[target])}); give it once"
            )
        options[target] = value
    if options or "options" in args:
        out["options"] = options
    return out


def build_request(
    request: Request, *, model: str, model_info: ModelInfo, create_args: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a non-streamed ``POST /api/chat``. ``create_args`` must already be validated."""
    tools, tool_choice = request.tools, request.tool_choice
    args = fold_options(create_args)
    body: dict[str, Any] = {"model": model, "messages": wire_messages(request.messages, model_info)}
    if tools:
        wired = [_function_only(tool) for tool in function_tools(tools, model_info, server="ollama")]
        wired = _apply_tool_choice(tool_choice, wired)
        if wired:
            body["tools"] = wired
    elif tool_choice not in ("auto", None, "none"):
        raise InvalidRequestError(f"tool_choice={shown(_choice_name(tool_choice))} was given without any tools")
    extra_body = args.pop("extra_body", None)
    effort = args.pop("reasoning_effort", None)
    if effort is not None:
        if args.get("think") not in (None, effort):
            raise InvalidRequestError("the create arguments 'think' and 'reasoning_effort' disagree; give one")
        args["think"] = effort
    output_format = _format(request.json_output, args.pop("response_format", None), args.pop("format", None))
    if output_format is not None:
        body["format"] = output_format
    body.update({key: value for key, value in args.items() if value is not None})
    body["stream"] = False  # Ollama streams unless told not to
    if extra_body:
        body.update(extra_body)
    return body


def _function_only(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped tool as Ollama takes it: no ``strict`` (Ollama does not know it)."""
    function = {key: value for key, value in tool["function"].items() if key != "strict"}
    return {"type": "function", "function": function}


def _choice_name(tool_choice: Any) -> str:
    return getattr(tool_choice, "name", tool_choice) if not isinstance(tool_choice, str) else tool_choice


def _apply_tool_choice(tool_choice: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ollama has no ``tool_choice``: ``auto`` sends the tools, ``none`` sends none, a named tool sends only it."""
    if tool_choice in ("auto", None):
        return tools
    if tool_choice == "none":
        return []
    if tool_choice == "required":
        raise InvalidRequestError(
            "tool_choice='required' cannot be honoured: Ollama has no tool_choice (name one tool to send only it)"
        )
    name = tool_choice.get("name") if isinstance(tool_choice, Mapping) else getattr(tool_choice, "name", None)
    if isinstance(tool_choice, Mapping) and name is None:
        name = (tool_choice.get("function") or {}).get("name")
    if not isinstance(name, str):
        raise InvalidRequestError(f"tool_choice must be 'auto', 'none' or a tool, not {shown(tool_choice)}")
    chosen = [tool for tool in tools if tool["function"]["name"] == name]
    if not chosen:
        raise InvalidRequestError(f"tool_choice names tool {name!r}, which is not among the tools given")
    return chosen


def _format(json_output: bool | type[BaseModel] | None, response_format: Any, given: Any) -> Any:
    """The ``format`` field: from ``json_output``, OpenAI's ``response_format`` or Ollama's own ``format``."""
    if isinstance(response_format, type):
        if json_output not in (None, False, response_format):
            raise InvalidRequestError("json_output and the create argument 'response_format' cannot both be given")
        json_output, response_format = response_format, None
    sources = []
    if json_output is not None and json_output is not False:
        sources.append(("json_output", _from_json_output(json_output)))
    if response_format is not None:
        converted = _from_response_format(response_format)
        if converted is not None:
            sources.append(("response_format", converted))
    if given is not None:
        sources.append(("format", given))
    if len(sources) > 1:
        raise InvalidRequestError(f"{sources[0][0]} and {sources[1][0]} cannot both be given")
    return sources[0][1] if sources else None


def _from_json_output(json_output: bool | type[BaseModel]) -> Any:
    if json_output is True:
        return "json"
    if isinstance(json_output, type) and issubclass(json_output, BaseModel):
        if json_output is BaseModel:
            raise InvalidRequestError("json_output must be a subclass of pydantic.BaseModel, not BaseModel itself")
        schema = model_schema(json_output)
        return schema
    raise InvalidRequestError(
        f"json_output must be True, False, None or a pydantic model class, not {shown(json_output)}"
    )


def _from_response_format(response_format: Mapping[str, Any]) -> Any:
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, Mapping):
            return dict(schema)
    raise InvalidRequestError(
        "create argument 'response_format' must be {'type': 'json_object'}, {'type': 'json_schema', 'json_schema': "
        "{'schema': {...}}} or a pydantic model class"
    )


def wire_messages(messages: Sequence[Any], info: ModelInfo) -> list[dict[str, Any]]:
    """modelport's messages as the ``messages`` of ``/api/chat``, checked."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(f"messages must be a list of messages, not {type(messages).__name__}")
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            check_str(message.content, f"messages[{i}].content")
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            out.append(_user(message, i, info))
        elif isinstance(message, AssistantMessage):
            out.append(_assistant(message, i))
        elif isinstance(message, FunctionExecutionResultMessage):
            if not isinstance(message.content, list):
                raise InvalidRequestError(f"messages[{i}].content must be a list of FunctionExecutionResult")
            for j, result in enumerate(message.content):
                check_str(getattr(result, "call_id", None), f"messages[{i}].content[{j}].call_id")
                check_str(getattr(result, "content", None), f"messages[{i}].content[{j}].content")
                wire = {"role": "tool", "content": result.content, "tool_call_id": result.call_id}
                if isinstance(getattr(result, "name", None), str) and result.name:
                    wire["tool_name"] = result.name
                out.append(wire)
        else:
            raise InvalidRequestError(f"messages[{i}]: not a message type modelport knows: {type(message).__name__}")
    return out


def _user(message: UserMessage, i: int, info: ModelInfo) -> dict[str, Any]:
    content = message.content
    if isinstance(content, str):
        check_str(content, f"messages[{i}].content")
        return {"role": "user", "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{i}].content must be a str or a list, not {type(content).__name__}")
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            check_str(part, f"messages[{i}].content[{j}]")
            texts.append(part)
        elif isinstance(part, Image):
            if not info["vision"]:
                raise CapabilityError(
                    f"messages[{i}].content[{j}]: an image was given but the model does not support vision "
                    "(model_info['vision'] is False)"
                )
            if not part.data:
                raise InvalidRequestError(
                    f"messages[{i}].content[{j}]: Ollama takes images as base64 data, not URLs; load the image "
                    "with Image.from_file or Image.from_bytes"
                )
            images.append(part.data)
        else:
            raise InvalidRequestError(f"messages[{i}].content[{j}]: expected str or Image, got {type(part).__name__}")
    wire: dict[str, Any] = {"role": "user", "content": "\n".join(texts)}
    if images:
        wire["images"] = images
    return wire


def _assistant(message: AssistantMessage, i: int) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": "assistant", "content": ""}
    if message.thought is not None:
        check_str(message.thought, f"messages[{i}].thought")
    if isinstance(message.content, str):
        check_str(message.content, f"messages[{i}].content")
        wire["content"] = message.content
    elif isinstance(message.content, list):
        wire["tool_calls"] = [_call(call, i, j) for j, call in enumerate(message.content)]
    else:
        raise InvalidRequestError(
            f"messages[{i}].content must be a str or a list of FunctionCall, not {type(message.content).__name__}"
        )
    if message.thought:
        wire["thinking"] = message.thought
    return wire


def _call(call: Any, i: int, j: int) -> dict[str, Any]:
    if not isinstance(call, FunctionCall):
        raise InvalidRequestError(f"messages[{i}].content[{j}] must be a FunctionCall, not {type(call).__name__}")
    check_str(call.name, f"messages[{i}].content[{j}].name")
    check_str(call.arguments, f"messages[{i}].content[{j}].arguments")
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise InvalidRequestError(
            f"messages[{i}].content[{j}].arguments must be a JSON object (Ollama takes tool-call arguments as "
            f"objects), got {shown(call.arguments)}"
        )
    wire: dict[str, Any] = {"function": {"index": j, "name": call.name, "arguments": arguments}}
    if call.id:
        wire["id"] = call.id
    return wire


# -- answers --
