"""``AutoGenClient``: any modelport client as an ``autogen_core.models.ChatCompletionClient``, for AutoGen's agents.

::

    from autogen_agentchat.agents import AssistantAgent
    from modelport import OpenAIChatCompletionClient
    from modelport.integrations.autogen import AutoGenClient

    agent = AssistantAgent("assistant", model_client=AutoGenClient(OpenAIChatCompletionClient(model="gpt-4o")))

The wrapped client may be any modelport client: an HTTP client, a :class:`~modelport.ChatCompletionCache`, a
:class:`~modelport.testing.ReplayChatCompletionClient`. What crosses the boundary:

- **In**: AutoGen's messages, tools (``Tool`` objects and ``ToolSchema`` dicts), ``tool_choice`` (a ``Tool``,
  ``"auto"``, ``"required"``, ``"none"``), ``json_output`` (``bool`` or a pydantic model) and ``extra_create_args``
  go to the modelport client as they are: it converts them itself.
- **Out**: modelport's ``CreateResult`` becomes AutoGen's (``finish_reason``, ``content`` as ``str`` or a list of
  ``autogen_core.FunctionCall``, ``RequestUsage``, ``cached``, ``logprobs``, ``thought``); usage totals and
  ``model_info`` (an AutoGen ``ModelInfo``: vision, function_calling, json_output, family, structured_output,
  multiple_system_messages) likewise.
- **Cancellation**: AutoGen's ``CancellationToken`` cancels ``create`` (its task) and ``create_stream`` at any point:
  while the request waits for the server's first bytes (the opening step runs as a task that the token cancels)
  and mid-stream (through a modelport ``CancellationToken``, which closes the socket at once). Either way the
  caller gets ``asyncio.CancelledError``, as with autogen-ext's clients.
- **Reasoning in streams**, as autogen-ext 0.7.5's ``OpenAIChatCompletionClient`` shows it (read from its
  ``create_stream``): reasoning deltas are plain ``str`` chunks in the same stream as the answer, the first one
  prefixed with ``"<think>"``, followed by a separate ``"</think>"`` chunk when the reasoning ends; the final
  ``CreateResult`` carries the reasoning, without the tags, in ``thought`` and the answer alone in ``content``.
  ``AssistantAgent`` turns each chunk into a ``ModelClientStreamingChunkEvent`` and the thought into a
  ``ThoughtEvent``. Two autogen-ext faults are not copied: it cuts the tags with ``str.lstrip("<think>")`` (which
  strips those characters, eating the start of a thought such as "kite...") and it drops the reasoning of a turn
  that ends in tool calls. ``reasoning_in_stream=False`` leaves reasoning out of the stream (it stays on
  ``thought``).
- **Config**: ``dump_component()`` nests the modelport client's own ``dump_component()`` (secrets left out, as
  modelport always does unless asked), and ``AutoGenClient.load_component(...)`` (or AutoGen's
  ``ChatCompletionClient.load_component``) loads it back through :func:`modelport.load_component`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

try:
    import autogen_core as agc
    from autogen_core import models as agm
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("modelport.integrations.autogen needs AutoGen's core package: pip install autogen-core") from exc

from .._convert import as_messages
from ..cancellation import CancellationToken
from ..client import ChatCompletionClient
from ..components import load_component, nested_dump
from ..messages import AssistantMessage, ChatCompletionTokenLogprob, CreateResult, RequestUsage, ThoughtChunk

__all__ = ["AutoGenClient", "AutoGenClientConfig", "to_autogen_model_info", "to_autogen_result"]

T = TypeVar("T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class AutoGenClientConfig(BaseModel):
    """The saved form of an :class:`AutoGenClient`."""

    model_config = ConfigDict(extra="forbid")

    client: dict[str, Any] = Field(description="The wrapped modelport client's own component config.")
    reasoning_in_stream: bool = True


def to_autogen_result(result: CreateResult) -> agm.CreateResult:
    """modelport's ``CreateResult`` as AutoGen's (modelport's own extra fields, such as ``model``, are dropped)."""
    content: str | list[agc.FunctionCall]
    if isinstance(result.content, str):
        content = result.content
    else:
        content = [agc.FunctionCall(id=call.id, arguments=call.arguments, name=call.name) for call in result.content]
    return agm.CreateResult.model_construct(  # every field is built to its type here: no validation pass needed
        finish_reason=result.finish_reason,
        content=content,
        usage=to_autogen_usage(result.usage),
        cached=result.cached,
        logprobs=_logprobs(result.logprobs),
        thought=result.thought,
    )


def to_autogen_usage(usage: RequestUsage) -> agm.RequestUsage:
    return agm.RequestUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)


def _logprobs(logprobs: list[ChatCompletionTokenLogprob] | None) -> list[agm.ChatCompletionTokenLogprob] | None:
    if logprobs is None:
        return None
    return [
        agm.ChatCompletionTokenLogprob(
            token=entry.token,
            logprob=entry.logprob,
            top_logprobs=(
                None
                if entry.top_logprobs is None
                else [agm.TopLogprob(logprob=top.logprob, bytes=top.bytes) for top in entry.top_logprobs]
            ),
            bytes=entry.bytes,
        )
        for entry in logprobs
    ]


def to_autogen_model_info(info: Mapping[str, Any]) -> agm.ModelInfo:
    """modelport's ``ModelInfo`` as AutoGen's: the fields AutoGen knows (modelport's ``context_window`` and
    ``reasoning`` have no place there). ``structured_output`` absent means ``False``."""
    converted = agm.ModelInfo(
        vision=bool(info.get("vision", False)),
        function_calling=bool(info.get("function_calling", False)),
        json_output=bool(info.get("json_output", False)),
        family=str(info.get("family", agm.ModelFamily.UNKNOWN)),
        structured_output=bool(info.get("structured_output", False)),
    )
    if "multiple_system_messages" in info:
        converted["multiple_system_messages"] = bool(info["multiple_system_messages"])
    return converted


class _Relay:
    """AutoGen's cancellation token, relayed for one call: it cancels a modelport token (which a stream honours at
    once, closing its socket) and the call's pending step, a task (a request still waiting for its answer). Once the
    call is over the relay goes quiet, so a token cancelled later touches nothing of it."""

    __slots__ = ("active", "pending", "source", "token")

    def __init__(self, source: agc.CancellationToken | None, *, with_token: bool) -> None:
        self.source = source
        self.active = True
        self.pending: asyncio.Future[Any] | None = None
        self.token = CancellationToken() if source is not None and with_token else None
        if source is not None:
            source.add_callback(self._fire)

    def _fire(self) -> None:
        if not self.active:
            return
        if self.token is not None:
            self.token.cancel()
        pending = self.pending
        if pending is not None:
            pending.get_loop().call_soon_threadsafe(pending.cancel)

    async def run(self, step: Awaitable[T]) -> T:
        """Await ``step``; as a task that the source token cancels, when there is a source."""
        if self.source is None:
            return await step
        if self.source.is_cancelled():
            if asyncio.iscoroutine(step):
                step.close()
            raise asyncio.CancelledError
        task = asyncio.ensure_future(step)
        self.pending = task
        if self.source.is_cancelled():  # cancelled from another thread while the task was being made
            task.cancel()
        try:
            return await task
        finally:
            self.pending = None


class AutoGenClient(agm.ChatCompletionClient, agc.Component[AutoGenClientConfig]):
    """An AutoGen ``ChatCompletionClient`` over a modelport client.

    Args:
        client: any modelport :class:`~modelport.ChatCompletionClient`; ``close()`` closes it.
        reasoning_in_stream: show reasoning deltas in ``create_stream`` between ``<think>`` and ``</think>``, as
            autogen-ext's OpenAI client does (``False``: only on the final result's ``thought``).
    """

    component_type = "model"
    component_provider_override = "modelport.integrations.autogen.AutoGenClient"
    component_config_schema = AutoGenClientConfig

    def __init__(self, client: ChatCompletionClient, *, reasoning_in_stream: bool = True) -> None:
        if not isinstance(client, ChatCompletionClient):
            raise TypeError(f"AutoGenClient wraps a modelport ChatCompletionClient, not {type(client).__name__}")
        self._client = client
        self._reasoning_in_stream = reasoning_in_stream
        self._call_fields: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _remember(self, result: CreateResult) -> None:
        """AutoGen's ``FunctionCall`` cannot carry a call's ``provider_fields`` (Anthropic's thinking blocks and
        signatures, Gemini's thought signature), and the provider wants them back with the call next turn: keep
        them by call id (the last 1,024 calls)."""
        if isinstance(result.content, list):
            for call in result.content:
                if call.provider_fields:
                    self._call_fields[call.id] = call.provider_fields
                    while len(self._call_fields) > 1024:
                        self._call_fields.popitem(last=False)

    def _restore(self, messages: Sequence[Any]) -> Sequence[Any]:
        """``messages`` with the remembered ``provider_fields`` put back on the calls they belong to."""
        if not self._call_fields:
            return messages
        restored = []
        for message in as_messages(messages):
            if isinstance(message, AssistantMessage) and isinstance(message.content, list):
                calls = [
                    call.model_copy(update={"provider_fields": self._call_fields[call.id]})
                    if call.id in self._call_fields and not call.provider_fields
                    else call
                    for call in message.content
                ]
                message = message.model_copy(update={"content": calls})
            restored.append(message)
        return restored

    @property
    def client(self) -> ChatCompletionClient:
        """The modelport client underneath."""
        return self._client

    async def create(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: agc.CancellationToken | None = None,
    ) -> agm.CreateResult:
        """One completion, as AutoGen's ``CreateResult``. AutoGen's token cancels the call's task."""
        relay = _Relay(cancellation_token, with_token=False)
        try:
            result = await relay.run(
                self._client.create(
                    self._restore(messages),
                    tools=tools,
                    tool_choice=tool_choice,
                    json_output=json_output,
                    extra_create_args=extra_create_args,
                )
            )
        finally:
            relay.active = False
        self._remember(result)
        return to_autogen_result(result)

    async def create_stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: agc.CancellationToken | None = None,
    ) -> AsyncGenerator[str | agm.CreateResult, None]:
        """``str`` chunks (reasoning between ``<think>`` and ``</think>``), then AutoGen's ``CreateResult``."""
        relay = _Relay(cancellation_token, with_token=True)
        try:
            stream = self._client.create_stream(
                self._restore(messages),
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=relay.token,
            )
            async with stream:
                thinking = False
                item = await relay.run(anext(stream, None))  # the request, the answer's head, the first delta
                while item is not None:
                    if isinstance(item, CreateResult):
                        if thinking:
                            yield THINK_CLOSE
                        self._remember(item)
                        yield to_autogen_result(item)
                        return
                    if isinstance(item, ThoughtChunk):
                        if self._reasoning_in_stream:
                            yield str(item) if thinking else THINK_OPEN + item
                            thinking = True
                    else:
                        if thinking:
                            yield THINK_CLOSE
                            thinking = False
                        yield item
                    item = await anext(stream, None)
        finally:
            relay.active = False

    async def close(self) -> None:
        await self._client.close()

    def actual_usage(self) -> agm.RequestUsage:
        return to_autogen_usage(self._client.actual_usage())

    def total_usage(self) -> agm.RequestUsage:
        return to_autogen_usage(self._client.total_usage())

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> int:
        return self._client.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> int:
        return self._client.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> agm.ModelCapabilities:  # deprecated in AutoGen
        """Deprecated in AutoGen (use :attr:`model_info`): vision, function_calling and json_output."""
        info = self.model_info
        return {
            "vision": info["vision"],
            "function_calling": info["function_calling"],
            "json_output": info["json_output"],
        }

    @property
    def model_info(self) -> agm.ModelInfo:
        return to_autogen_model_info(self._client.model_info)

    def __repr__(self) -> str:
        return f"AutoGenClient({self._client!r})"

    def _to_config(self) -> AutoGenClientConfig:
        return AutoGenClientConfig(
            client=nested_dump(self._client, include_secrets=False, field="client"),
            reasoning_in_stream=self._reasoning_in_stream,
        )

    @classmethod
    def _from_config(cls, config: AutoGenClientConfig) -> AutoGenClient:
        client = load_component(config.client, expected=ChatCompletionClient)
        return cls(client, reasoning_in_stream=config.reasoning_in_stream)
