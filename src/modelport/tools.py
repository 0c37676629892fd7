"""Tools the model may call: ``ToolSchema`` (what is sent), ``Tool`` (what can run) and ``FunctionTool``.

``FunctionTool`` builds the JSON schema of a Python function from its type hints, with pydantic, and checks
everything a provider would reject (the name's pattern and length, a schema that cannot be serialised) when the
tool is made, not deep inside a request. :func:`strict_schema` rewrites a schema for OpenAI's strict mode.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypedDict, get_args, get_type_hints, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict, create_model
from typing_extensions import NotRequired

from .cancellation import CancellationToken

__all__ = ["FunctionTool", "ParametersSchema", "Tool", "ToolSchema", "strict_schema", "validate_tool_name"]

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ParametersSchema(TypedDict):
    type: str
    properties: dict[str, Any]
    required: NotRequired[Sequence[str]]
    additionalProperties: NotRequired[bool]


class ToolSchema(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: NotRequired[ParametersSchema]
    strict: NotRequired[bool]


@runtime_checkable
class Tool(Protocol):
    """Anything with a name, a description and a schema that can be run from JSON arguments."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def schema(self) -> ToolSchema: ...

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any: ...

    def return_value_as_string(self, value: Any) -> str: ...


def validate_tool_name(name: str, *, field: str = "tool name") -> None:
    """``ValueError`` unless ``name`` matches ``^[a-zA-Z0-9_-]{1,64}$``, the pattern every major provider enforces."""
    if not TOOL_NAME_PATTERN.match(name):
        raise ValueError(f"{field} {name!r} is invalid: it must be 1 to 64 characters of letters, digits, '_' or '-'")


class FunctionTool:
    """A Python function (sync or async) as a tool. Its parameters' type hints become the JSON schema.

    A parameter annotated ``CancellationToken`` receives the call's token and is left out of the schema. Sync
    functions run in a worker thread so they never block the event loop.
    """

    def __init__(
        self, func: Callable[..., Any], description: str, name: str | None = None, *, strict: bool = False
    ) -> None:
        self._func = func
        self._name = func.__name__ if name is None else name
        validate_tool_name(self._name)
        self._description = description
        self._strict = strict
        self._args_model, self._token_param = _arguments_model(func, self._name)
        try:
            parameters = self._args_model.model_json_schema()
            orjson.dumps(parameters)
        except Exception as exc:
            raise ValueError(f"tool {self._name!r}: its parameters cannot be described as JSON schema: {exc}") from None
        parameters.pop("title", None)
        for prop in parameters.get("properties", {}).values():
            if isinstance(prop, dict):
                prop.pop("title", None)
        self._parameters = strict_schema(parameters) if strict else parameters

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def schema(self) -> ToolSchema:
        schema = ToolSchema(name=self._name, description=self._description, parameters=copy.deepcopy(self._parameters))  # type: ignore[typeddict-item]
        if self._strict:
            schema["strict"] = True
        return schema

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any:
        validated = self._args_model.model_validate(dict(args))
        kwargs = {field: getattr(validated, field) for field in type(validated).model_fields}
        if self._token_param:
            kwargs[self._token_param] = cancellation_token
        if inspect.iscoroutinefunction(self._func):
            future = asyncio.ensure_future(self._func(**kwargs))
        else:
            future = asyncio.ensure_future(asyncio.to_thread(functools.partial(self._func, **kwargs)))
        cancellation_token.link_future(future)
        return await future

    def return_value_as_string(self, value: Any) -> str:
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        if isinstance(value, str):
            return value
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            return str(value)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self._name!r})"


def _arguments_model(func: Callable[..., Any], tool_name: str) -> tuple[type[BaseModel], str | None]:
    signature = inspect.signature(func)
    try:
        hints = get_type_hints(func)
    except Exception as exc:
        raise ValueError(f"tool {tool_name!r}: cannot resolve the type hints of {func.__name__}: {exc}") from None
    fields: dict[str, Any] = {}
    token_param = None
    for pname, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ValueError(f"tool {tool_name!r}: *args and **kwargs cannot be described as JSON schema")
        annotation = hints.get(pname, Any)
        if annotation is CancellationToken or CancellationToken in get_args(annotation):
            token_param = pname
            continue
        default = ... if param.default is param.empty else param.default
        fields[pname] = (annotation, default)
    try:
        model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(arbitrary_types_allowed=False), **fields)
    except Exception as exc:
        raise ValueError(f"tool {tool_name!r}: its parameters cannot be described as JSON schema: {exc}") from None
    return model, token_param


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that OpenAI's strict mode accepts: every object closed (``additionalProperties: false``)
    with every property required, optional ones made nullable, and no ``default``."""
    return _strict_node(copy.deepcopy(dict(schema)))  # type: ignore[no-any-return]


def _strict_node(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    node.pop("default", None)
    node.pop("title", None)
    for key in ("$defs", "definitions", "properties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict_node(sub) for name, sub in node[key].items()}
    for key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties"):
        if key in node and not isinstance(node[key], bool):
            node[key] = _strict_node(node[key])
    if node.get("type") == "object" or "properties" in node:
        props = node.setdefault("properties", {})
        required = set(node.get("required", ()))
        for name in props:
            if name not in required:
                props[name] = _nullable(props[name])
        node["required"] = list(props)
        node["additionalProperties"] = False
    return node


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("type") == "null" or any(
        isinstance(alt, dict) and alt.get("type") == "null" for alt in node.get("anyOf", ())
    ):
        return node
    return {"anyOf": [node, {"type": "null"}]}
