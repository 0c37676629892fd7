"""``Request``: one call's input, converted and checked once at the boundary, then read by every layer.

``client.prepare(messages, ...)`` makes it: messages and tools in any accepted form are converted to modelport's
(:mod:`modelport._convert`), ``response_format=<model>`` is resolved into ``json_output``, and an HTTP client builds
and encodes its body. The cache key, the router's token estimate, ``modelport batch``'s check and dry run, telemetry
and the transport all read this one value; ``client.send(request)`` sends it as it is. A request another client
prepared (a router's fallback deployment, say) is built again only for the client that sends it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from ._convert import as_messages, as_tools
from .errors import InvalidRequestError

__all__ = [
    "EMPTY_ARGS",
    "Request",
    "call_timeout",
    "call_tool_choice",
    "checked_args",
    "merged_args",
    "model_format",
    "sent_args",
]

EMPTY_ARGS: Mapping[str, Any] = MappingProxyType({})


class Request:
    """What one call asks for, in modelport's own forms; read-only once made (every layer reads the same value).

    ``messages`` and ``tools`` are converted (OpenAI dicts and AutoGen objects become modelport's messages, OpenAI's
    tool dicts become tool schemas); ``args`` are the call's create arguments as given (the client's own defaults are
    merged when it builds the body); ``json_output`` is as given.

    The client that prepared the request (:meth:`~modelport.ChatCompletionClient.prepare`) also set ``output`` (what
    the answer is parsed into: ``json_output``, else a ``response_format=<model>`` of the call or of the client's
    defaults), ``payload`` (the body of a non-streamed call as a dict: what the cache keys on and telemetry reports)
    and ``body`` (the bytes to send, streamed or not as ``stream`` says); ``builder`` is that client.

    A plain class with slots rather than a frozen dataclass: one is made for every call, and a frozen dataclass costs
    a ``object.__setattr__`` per field to make and much more to copy.
    """

    __slots__ = (
        "args",
        "body",
        "builder",
        "json_output",
        "messages",
        "output",
        "payload",
        "stream",
        "tool_choice",
        "tools",
    )

    def __init__(
        self,
        messages: Sequence[Any],
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        args: Mapping[str, Any] = EMPTY_ARGS,
        stream: bool = False,
        *,
        output: bool | type[BaseModel] | None = None,
        builder: object | None = None,
        payload: dict[str, Any] | None = None,
        body: bytes | None = None,
    ) -> None:
        self.messages = messages
        self.tools = tools
        self.tool_choice = tool_choice
        self.json_output = json_output
        self.args = args
        self.stream = stream
        self.output = output
        self.builder = builder
        self.payload = payload
        self.body = body

    @classmethod
    def of(
        cls,
        messages: Sequence[Any],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = EMPTY_ARGS,
        stream: bool = False,
        **create_args: Any,
    ) -> Request:
        """A request from the arguments ``create`` takes, converted; not yet built for any client."""
        args, tool_choice = call_tool_choice(merged_args(extra_create_args, create_args), tool_choice)
        return cls(as_messages(messages), as_tools(tools), tool_choice, json_output, args, stream)

    def for_stream(self, stream: bool) -> Request:
        """This request sent the other way (streamed or not); it must be built again to be sent."""
        if stream == self.stream:
            return self
        return Request(self.messages, self.tools, self.tool_choice, self.json_output, self.args, stream)

    def call_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``create`` that this request stands for (for clients that only have those)."""
        return {
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "json_output": self.json_output,
            "extra_create_args": self.args,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (self.messages, self.tools, self.tool_choice, self.json_output, self.args, self.stream) == (
            other.messages,
            other.tools,
            other.tool_choice,
            other.json_output,
            other.args,
            other.stream,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        built = f", built by {type(self.builder).__name__}" if self.builder is not None else ""
        return f"Request({len(self.messages)} messages, {len(self.tools)} tools, stream={self.stream}{built})"


def checked_args(extra_create_args: Any) -> Mapping[str, Any]:
    """``extra_create_args`` as a mapping (``None`` means none), or an error naming it."""
    if type(extra_create_args) is dict or isinstance(extra_create_args, Mapping):
        return extra_create_args
    if extra_create_args is None:
        return EMPTY_ARGS
    raise InvalidRequestError(
        f"extra_create_args must be a dict of create arguments, not {type(extra_create_args).__name__}"
    )


def merged_args(extra_create_args: Any, keywords: Mapping[str, Any]) -> Mapping[str, Any]:
    """A call's create arguments: ``extra_create_args`` and those given as keywords of ``create``
    (``temperature=0``), checked later by the same rules. A name given both ways is refused."""
    args = checked_args(extra_create_args)
    if not keywords:
        return args
    if "max_consecutive_empty_chunk_tolerance" in keywords:
        keywords = _without_empty_chunk_tolerance(keywords)
    both = [name for name in keywords if name in args]
    if both:
        raise InvalidRequestError(f"create argument {both[0]!r} is given both as a keyword and in extra_create_args")
    return {**args, **keywords}


def _without_empty_chunk_tolerance(keywords: Mapping[str, Any]) -> Mapping[str, Any]:
    """``keywords`` without AutoGen's ``max_consecutive_empty_chunk_tolerance`` of ``create_stream``, which is not
    needed (empty stream chunks are always skipped) and is checked, then dropped."""
    value = keywords["max_consecutive_empty_chunk_tolerance"]
    if type(value) is not int or value < 0:
        raise InvalidRequestError(
            f"max_consecutive_empty_chunk_tolerance must be a whole number of 0 or more, got {value!r} (it is not "
            "needed: empty stream chunks are always skipped)"
        )
    return {name: value for name, value in keywords.items() if name != "max_consecutive_empty_chunk_tolerance"}


def call_tool_choice(args: Mapping[str, Any], tool_choice: Any) -> tuple[Mapping[str, Any], Any]:
    """A call's create arguments and its ``tool_choice``: one given among the create arguments (AutoGen passes
    ``extra_create_args={"tool_choice": ...}`` through to OpenAI) is taken as the call's ``tool_choice`` when
    ``tool_choice=`` was left at ``"auto"``; a different one given both ways is refused."""
    if "tool_choice" not in args:
        return args, tool_choice
    given = args["tool_choice"]
    if not (isinstance(tool_choice, str) and tool_choice == "auto") and tool_choice != given:
        raise InvalidRequestError(
            "tool_choice is given both as tool_choice= and in extra_create_args, with different values; give it once"
        )
    return {name: value for name, value in args.items() if name != "tool_choice"}, given


def model_format(create_args: Mapping[str, Any]) -> type[BaseModel] | None:
    """The pydantic model a ``response_format`` create argument names (AutoGen's guide writes it so), or ``None``."""
    value = create_args.get("response_format") if create_args else None
    return value if isinstance(value, type) and issubclass(value, BaseModel) else None


def call_timeout(args: Mapping[str, Any]) -> float | None:
    """A call's own ``timeout`` create argument (seconds, as the client's ``timeout`` means), if it has one."""
    timeout = args.get("timeout")
    if timeout is None:
        return None
    if type(timeout) not in (int, float) or not math.isfinite(timeout) or timeout <= 0:
        raise InvalidRequestError(f"create argument 'timeout' must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def sent_args(args: Mapping[str, Any]) -> Mapping[str, Any]:
    """A call's create arguments as a request carries them: its own ``timeout`` checked and taken out."""
    if "timeout" not in args:
        return args
    call_timeout(args)
    return {name: value for name, value in args.items() if name != "timeout"}
