"""``CamelModel``: any modelport client as a CAMEL model backend, for CAMEL's agents and societies.

::

    from camel.agents import ChatAgent
    from modelport import OpenAIChatCompletionClient
    from modelport.integrations.camel import CamelModel

    agent = ChatAgent("You are a helpful assistant.", model=CamelModel(OpenAIChatCompletionClient(model="gpt-4o")))

The wrapped client may be any modelport client: an HTTP client of any provider (Anthropic, Gemini and Bedrock
speak their own dialects underneath), a :class:`~modelport.Router`, a :class:`~modelport.ChatCompletionCache`.
CAMEL's ``BaseModelBackend`` (camel-ai 0.2.90) speaks OpenAI's SDK objects; what crosses the boundary:

- **In**: CAMEL's OpenAI-format message dicts become modelport's messages (:func:`modelport.from_openai`); the tool
  schemas CAMEL makes from its ``FunctionTool``s go as they are; ``response_format`` (a pydantic model, as
  ``ChatAgent.step(..., response_format=...)`` passes it) becomes ``json_output``, and a ``{"type": "json_object"}``
  in the config ``json_output=True``. The rest of ``model_config_dict`` (``temperature``, ``max_tokens``,
  ``tool_choice``...) goes to the client, which checks it by its own rules; ``stream`` says whether to stream.
- **Out**: modelport's ``CreateResult`` becomes an OpenAI ``ChatCompletion`` (a ``ParsedChatCompletion`` with
  ``message.parsed`` for a structured answer), tool calls as ``tool_calls``, reasoning as the message's
  ``reasoning_content`` (CAMEL's field), usage as ``CompletionUsage``. A stream is a generator (sync) or an async
  generator of ``ChatCompletionChunk``: the text deltas (reasoning deltas as ``reasoning_content``), then the tool
  calls, the finish chunk and a usage chunk, which is what CAMEL's streaming loop reads.
- **Provider data on tool calls** (Anthropic's thinking blocks, Gemini's thought signature) rides in the tool call's
  ``extra_content``, which CAMEL keeps in its memory and sends back, so the provider gets it next turn.
- **Tokens**: ``token_counter`` counts with the wrapped client's own ``count_tokens`` (exact and offline, cached per
  message); ``token_limit`` is the client's ``context_window``.
- **Sync and async**: ``arun`` awaits the client in the caller's loop (cancelling the task, or ``step_timeout`` in
  ``astep``, cancels the request and closes its connection); ``run`` uses the client's synchronous face, which runs
  the call on the client's own loop in a worker thread, so it works from plain scripts and from code already
  inside a running event loop (a notebook, an async handler calling ``agent.step``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

try:
    from camel.models import BaseModelBackend
    from camel.utils import BaseTokenCounter
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("modelport.integrations.camel needs CAMEL: pip install 'modelport[camel]'") from exc

from .._convert import as_tools, from_openai
from ..client import ChatCompletionClient
from ..errors import InvalidRequestError
from ..messages import AssistantMessage, CreateResult, FunctionCall, RequestUsage, ThoughtChunk
from ..tokens import encoding_name, tokenizer

__all__ = ["CamelModel", "CamelTokenCounter", "to_chat_completion"]

_NOT_CREATE_ARGS = frozenset({"stream", "stream_options", "tools", "tool_choice", "response_format"})
_FINISH_REASONS = {"function_calls": "tool_calls", "unknown": "stop"}
_EXTRA_KEY = "modelport"  # the key under a tool call's extra_content that holds modelport's provider_fields


class CamelTokenCounter(BaseTokenCounter):  # type: ignore[misc, unused-ignore]  # Any where camel is absent
    """CAMEL's ``BaseTokenCounter`` over a modelport client: its ``count_tokens``, and its model's encoding."""

    def __init__(self, client: ChatCompletionClient) -> None:
        self._client = client

    def count_tokens_from_messages(self, messages: list[Any]) -> int:
        """Tokens of OpenAI-format ``messages`` as the client counts them (its own encoding, cached per message)."""
        return int(self._client.count_tokens(from_openai(messages)))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` in the model's encoding (CAMEL measures a text by their number). Without the
        encoding's file at hand (see :mod:`modelport.tokens`) the ids are zeros, as many as the estimate counts."""
        tok = tokenizer(encoding_name(self._client.model_info))
        if tok.encoding is None:
            return [0] * tok.text(text)
        return list(tok.encoding.encode(text, disallowed_special=()))

    def decode(self, token_ids: list[int]) -> str:
        tok = tokenizer(encoding_name(self._client.model_info))
        if tok.encoding is None:
            raise ValueError("no encoding file is at hand to decode token ids (see modelport.tokens)")
        return str(tok.encoding.decode(token_ids))


class CamelModel(BaseModelBackend):  # type: ignore[misc, unused-ignore]  # Any where camel is absent
    """A CAMEL model backend over a modelport client: ``ChatAgent(system_message, model=CamelModel(client))``.

    ``model_type`` names the model for CAMEL's logs (default: the client's model, else ``"modelport"``);
    ``model_config_dict`` holds create arguments for every call (``{"temperature": 0}``) and ``"stream"``;
    ``stream=True`` is short for ``model_config_dict={"stream": True}``. ``token_limit`` overrides the client's
    context window for CAMEL's memory."""

    _token_counter: BaseTokenCounter | None

    def __init__(
        self,
        client: ChatCompletionClient,
        *,
        model_type: str | None = None,
        model_config_dict: Mapping[str, Any] | None = None,
        stream: bool | None = None,
        token_limit: int | None = None,
        token_counter: BaseTokenCounter | None = None,
    ) -> None:
        if not isinstance(client, ChatCompletionClient):
            raise TypeError(f"CamelModel wraps a modelport ChatCompletionClient, not {type(client).__name__}")
        config = dict(model_config_dict or {})
        if stream is not None:
            config["stream"] = stream
        name = model_type or getattr(client, "_model", None) or "modelport"
        super().__init__(name, config, token_counter=token_counter, timeout=None, max_retries=0)
        self._client = client
        self._token_limit = token_limit
        self._model_name = str(name)

    @property
    def client(self) -> ChatCompletionClient:
        """The modelport client underneath."""
        return self._client

    @property
    def token_counter(self) -> BaseTokenCounter:
        if self._token_counter is None:
            self._token_counter = CamelTokenCounter(self._client)
        return self._token_counter

    @property
    def token_limit(self) -> int:
        """The context window CAMEL's memory fills: ``token_limit`` if given, else the client's ``context_window``."""
        if self._token_limit is not None:
            return self._token_limit
        return int(self._client.model_info.get("context_window") or 128_000)

    @property
    def stream(self) -> bool:
        return bool(self.model_config_dict.get("stream", False))

    # CAMEL's types name the SDK's Stream and stream managers; it reads any generator (or context manager) alike.
    def _run(  # type: ignore[override, unused-ignore]
        self,
        messages: list[Any],
        response_format: type[BaseModel] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatCompletion | Iterator[ChatCompletionChunk] | _SyncStructuredStream:
        """CAMEL's synchronous call: on the client's synchronous face, so it also works inside a running loop."""
        call = self._call(messages, response_format, tools)
        if not self.stream:
            return to_chat_completion(self._client.create_sync(call.messages, **call.kwargs), call.model)
        items = self._client.create_stream_sync(call.messages, **call.kwargs)
        if call.structured:
            return _SyncStructuredStream(items, call.model)
        return _sync_chunks(items, call)

    async def _arun(  # type: ignore[override, unused-ignore]
        self,
        messages: list[Any],
        response_format: type[BaseModel] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk] | _AsyncStructuredStream:
        """CAMEL's asynchronous call, awaited in the caller's loop."""
        call = self._call(messages, response_format, tools)
        if self.stream:
            return _AsyncStructuredStream(self._client, call) if call.structured else _async_chunks(self._client, call)
        return to_chat_completion(await self._client.create(call.messages, **call.kwargs), call.model)

    def _call(
        self, messages: list[Any], response_format: type[BaseModel] | None, tools: list[dict[str, Any]] | None
    ) -> _Call:
        config = self.model_config_dict
        kwargs: dict[str, Any] = {
            "extra_create_args": {
                k: v
                for k, v in config.items()
                if v is not None and k not in _NOT_CREATE_ARGS and (tools or k != "parallel_tool_calls")
            }
        }
        if tools:
            kwargs["tools"] = as_tools(tools)
            if config.get("tool_choice") is not None:
                kwargs["tool_choice"] = config["tool_choice"]
        output = _json_output(response_format or config.get("response_format"))
        if output is not None:
            kwargs["json_output"] = output
        return _Call(_messages(messages), kwargs, self._model_name)

    def __repr__(self) -> str:
        return f"CamelModel({self._client!r})"


class _Call:
    """One request, converted once: modelport's messages, the keywords for ``create``, the model name to report."""

    __slots__ = ("kwargs", "messages", "model")

    def __init__(self, messages: list[Any], kwargs: dict[str, Any], model: str) -> None:
        self.messages = messages
        self.kwargs = kwargs
        self.model = model

    @property
    def structured(self) -> bool:
        """The call asks for a pydantic model (CAMEL then expects the SDK's structured stream, not chunks)."""
        return isinstance(self.kwargs.get("json_output"), type)


def _json_output(response_format: Any) -> bool | type[BaseModel] | None:
    """CAMEL's ``response_format`` (a pydantic model, or OpenAI's ``{"type": ...}`` dict) as ``json_output``."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return response_format
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
        return True
    if isinstance(response_format, Mapping) and response_format.get("type") == "text":
        return None
    raise InvalidRequestError(
        f"response_format must be a pydantic model class or {{'type': 'json_object'}}, not {response_format!r:.80}"
    )


def _messages(messages: Sequence[Mapping[str, Any]]) -> list[Any]:
    """CAMEL's OpenAI-format history as modelport's messages, each tool call's provider data put back from the
    ``extra_content`` this module gave it."""
    converted = from_openai(messages)
    if not any(isinstance(m, Mapping) and m.get("tool_calls") for m in messages):
        return converted
    fields: dict[str, dict[str, Any]] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            extra = call.get("extra_content") if isinstance(call, Mapping) else None
            if isinstance(extra, Mapping) and isinstance(extra.get(_EXTRA_KEY), Mapping):
                fields[call["id"]] = dict(extra[_EXTRA_KEY])
    if not fields:
        return converted
    return [_with_fields(m, fields) for m in converted]


def _with_fields(message: Any, fields: Mapping[str, dict[str, Any]]) -> Any:
    if not (isinstance(message, AssistantMessage) and isinstance(message.content, list)):
        return message
    calls = [
        c.model_copy(update={"provider_fields": fields[c.id]}) if c.id in fields and not c.provider_fields else c
        for c in message.content
    ]
    return message.model_copy(update={"content": calls})


# -- modelport's results as OpenAI's objects --


def _tool_call(call: FunctionCall, index: int | None = None) -> dict[str, Any]:
    tool_call: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if index is not None:
        tool_call["index"] = index
    if call.provider_fields:
        tool_call["extra_content"] = {_EXTRA_KEY: call.provider_fields}
    return tool_call


def _usage(usage: RequestUsage) -> CompletionUsage:
    details: dict[str, Any] = {}
    if usage.cached_prompt_tokens is not None:
        details["prompt_tokens_details"] = {"cached_tokens": usage.cached_prompt_tokens}
    if usage.reasoning_tokens is not None:
        details["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        **details,
    )


def _finish_reason(result: CreateResult) -> str:
    if isinstance(result.content, list):
        return "tool_calls"
    return _FINISH_REASONS.get(result.finish_reason, result.finish_reason)


def to_chat_completion(result: CreateResult, model: str = "modelport") -> ChatCompletion:
    """modelport's ``CreateResult`` as the OpenAI ``ChatCompletion`` CAMEL reads (a ``ParsedChatCompletion`` whose
    ``message.parsed`` is the validated object when the call asked for a pydantic model)."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": result.refusal}
    if isinstance(result.content, list):
        message["tool_calls"] = [_tool_call(call) for call in result.content]
    else:
        message["content"] = result.content
    if result.thought:
        message["reasoning_content"] = result.thought
    body = {
        "id": result.request_id or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(result), "logprobs": None}],
        "usage": _usage(result.usage),
    }
    if result.parsed is not None:
        message["parsed"] = result.parsed
        return ParsedChatCompletion[Any].model_validate(body)
    return ChatCompletion.model_validate(body)


class _ChunkMaker:
    """Builds the ``ChatCompletionChunk``s of one streamed answer, all with one id."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk.model_validate(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
        )

    def delta(self, item: str) -> ChatCompletionChunk:
        if isinstance(item, ThoughtChunk):
            return self.chunk({"role": "assistant", "reasoning_content": str(item)})
        return self.chunk({"role": "assistant", "content": item})

    def ending(self, result: CreateResult) -> list[ChatCompletionChunk]:
        """The tool calls (if any), the finish chunk and the usage chunk."""
        if result.model:
            self.model = result.model
        chunks = []
        if isinstance(result.content, list):
            calls = [_tool_call(call, i) for i, call in enumerate(result.content)]
            chunks.append(self.chunk({"role": "assistant", "tool_calls": calls}))
        chunks.append(self.chunk({}, _finish_reason(result)))
        usage = ChatCompletionChunk.model_validate(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": _usage(result.usage),
            }
        )
        chunks.append(usage)
        return chunks


def _sync_chunks(items: Iterator[str | CreateResult], call: _Call) -> Iterator[ChatCompletionChunk]:
    """A synchronous stream as CAMEL's chunks; closing the generator early closes the response."""
    maker = _ChunkMaker(call.model)
    try:
        for item in items:
            if isinstance(item, CreateResult):
                yield from maker.ending(item)
            else:
                yield maker.delta(item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


class _StructuredEvents:
    """A streamed structured answer as the OpenAI SDK's ``ChatCompletionStreamManager`` gives it to CAMEL (its own
    backend returns one for ``stream`` with a ``response_format``): a context manager whose stream yields a
    ``content.delta`` event per text delta and ``content.done`` with the parsed object, then answers
    ``get_final_completion()``. Reasoning deltas are not events (CAMEL reads none there)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.final: CreateResult | None = None

    def event(self, item: str | CreateResult) -> SimpleNamespace | None:
        if isinstance(item, CreateResult):
            self.final = item
            return SimpleNamespace(type="content.done", content=item.content, parsed=item.parsed)
        if isinstance(item, ThoughtChunk):
            return None
        return SimpleNamespace(type="content.delta", delta=str(item))

    def completion(self) -> ChatCompletion:
        if self.final is None:
            raise RuntimeError("the stream ended without its final result")
        return to_chat_completion(self.final, self.model)


class _SyncStructuredStream(_StructuredEvents):
    def __init__(self, items: Iterator[str | CreateResult], model: str) -> None:
        super().__init__(model)
        self._items = items

    def __enter__(self) -> _SyncStructuredEvents:
        return _SyncStructuredEvents(self)

    def __exit__(self, *exc: object) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


class _SyncStructuredEvents:
    """The iterable a ``with`` on :class:`_SyncStructuredStream` gives (the manager itself must not iterate)."""

    def __init__(self, owner: _SyncStructuredStream) -> None:
        self._owner = owner

    def __iter__(self) -> Iterator[SimpleNamespace]:
        for item in self._owner._items:
            event = self._owner.event(item)
            if event is not None:
                yield event

    def get_final_completion(self) -> ChatCompletion:
        for _ in self:  # the rest of the stream, if the caller stopped at content.done
            pass
        return self._owner.completion()


class _AsyncStructuredStream(_StructuredEvents):
    def __init__(self, client: ChatCompletionClient, call: _Call) -> None:
        super().__init__(call.model)
        self._client = client
        self._call = call
        self._stream: Any = None

    async def __aenter__(self) -> _AsyncStructuredEvents:
        self._stream = self._client.create_stream(self._call.messages, **self._call.kwargs)
        return _AsyncStructuredEvents(self)

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.aclose()


class _AsyncStructuredEvents:
    def __init__(self, owner: _AsyncStructuredStream) -> None:
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[SimpleNamespace]:
        async for item in self._owner._stream:
            event = self._owner.event(item)
            if event is not None:
                yield event

    async def get_final_completion(self) -> ChatCompletion:
        async for _ in self:
            pass
        return self._owner.completion()


async def _async_chunks(client: ChatCompletionClient, call: _Call) -> AsyncIterator[ChatCompletionChunk]:
    """An asynchronous stream as CAMEL's chunks; the response is released however the loop ends."""
    maker = _ChunkMaker(call.model)
    async with client.create_stream(call.messages, **call.kwargs) as stream:
        async for item in stream:
            if isinstance(item, CreateResult):
                for chunk in maker.ending(item):
                    yield chunk
            else:
                yield maker.delta(item)
