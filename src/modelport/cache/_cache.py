"""``ChatCompletionCache``: any client, with its answers kept in a store.

The key is ``<namespace>:<sha256>`` of a canonical JSON of the client's :meth:`request_fingerprint`: provider,
endpoint (base URL, or Azure deployment and API version), model, and the exact request body (messages, full tool
definitions, ``tool_choice``, the output schema, every create argument including the client's defaults and
``extra_body``). Canonical means sorted keys, fixed separators, integral floats written as integers (``1.0`` and
``1`` are one key), strings in Unicode NFC, and the key format's version (``modelport-cache-v1``) hashed in; so keys
are stable across processes, machines and Python versions. Streamed and non-streamed calls share keys.

Only complete answers (``finish_reason`` ``stop`` or ``function_calls``) are stored: never a failed, cancelled,
partial or truncated one. A hit is a fresh copy with ``cached=True`` that adds nothing to usage; a stream hit
replays the recorded deltas (text and reasoning, in order) and then the result. Identical concurrent misses make
one request. A stored entry that cannot be read is a logged miss, and the next answer overwrites it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._request import Request, merged_args
from ..cancellation import CancellationTokenLike
from ..client import ChatCompletionClient, ChatCompletionStream
from ..components import Component, ComponentConfigError, load_component, nested_dump
from ..messages import CreateResult, RequestUsage, ThoughtChunk
from ..model_info import ModelInfo
from ..telemetry import _hooks
from ..tools import Tool, ToolSchema
from ._stores import CacheStore, InMemoryStore


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client: dict[str, Any] = Field(description="The wrapped client's own component config.")
    store: dict[str, Any] | None = Field(default=None, description="The store's component config (in memory if none).")
    ttl: float | None = Field(default=None, gt=0)
    namespace: str | None = None


__all__ = ["CHAT_CACHE_VALUE_TYPE", "KEY_VERSION", "ChatCompletionCache", "canonical_json"]

CHAT_CACHE_VALUE_TYPE = Union[CreateResult, list[Union[str, CreateResult]]]  # noqa: UP007 (a runtime alias)
"""AutoGen's name for what a chat cache holds (a result, or a stream's chunks and result), for code that subscripts
a store with it (``DiskCacheStore[CHAT_CACHE_VALUE_TYPE](...)``). modelport's stores hold the same as JSON bytes."""

logger = logging.getLogger("modelport.cache")
KEY_VERSION = "modelport-cache-v1"
ENTRY_VERSION = 1
STORABLE_FINISH = frozenset({"stop", "function_calls"})
_EMPTY: Mapping[str, Any] = {}


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {unicodedata.normalize("NFC", str(k)): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot make a cache key of {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value``: sorted keys, no spaces, NFC strings, integral floats as integers."""
    return orjson.dumps(_canonical(value), option=orjson.OPT_SORT_KEYS)


def _encode(result: CreateResult, deltas: list[str] | None) -> bytes:
    recorded = (
        None if deltas is None else [["thought" if isinstance(d, ThoughtChunk) else "text", str(d)] for d in deltas]
    )
    return orjson.dumps(
        {"version": ENTRY_VERSION, "result": result.model_dump(mode="json", exclude={"parsed"}), "deltas": recorded}
    )


class _Entry:
    __slots__ = ("deltas", "result")

    def __init__(self, result: CreateResult, deltas: list[str]) -> None:
        self.result = result
        self.deltas = deltas


def _decode(raw: bytes, key: str, json_output: Any) -> _Entry | None:
    try:
        data = orjson.loads(raw)
        if data.get("version") != ENTRY_VERSION:
            return None
        result = CreateResult.model_validate(data["result"])
        recorded = data.get("deltas")
        if recorded is None:  # stored by create(): make the stream's deltas from the result
            deltas: list[str] = [ThoughtChunk(result.thought)] if result.thought else []
            if isinstance(result.content, str) and result.content:
                deltas.append(result.content)
        else:
            deltas = [ThoughtChunk(text) if kind == "thought" else str(text) for kind, text in recorded]
        if isinstance(json_output, type) and issubclass(json_output, BaseModel) and isinstance(result.content, str):
            result.parsed = json_output.model_validate_json(result.content)
    except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError, AttributeError, ValueError) as exc:
        logger.warning("cache entry %s could not be read (%s): treated as a miss", key, type(exc).__name__)
        return None
    result.cached = True
    if result.cost is not None:
        result.cost = Decimal(0)  # a hit costs nothing: the stored cost was the first call's
    return _Entry(result, deltas)


class ChatCompletionCache(ChatCompletionClient, Component):
    """A :class:`~modelport.ChatCompletionClient` that answers repeated requests from ``store``.

    Args:
        client: the client whose answers are cached.
        store: an :class:`InMemoryStore` (the default), :class:`DiskCacheStore`, :class:`RedisStore` or any object
            with async ``get``, ``set(key, value, ttl)`` and ``delete``.
        ttl: seconds an entry lives (``None``: as long as the store keeps it).
        namespace: the key prefix, to keep projects or test runs apart (default ``"modelport"``).
    """

    component_type = "chat_completion_cache"
    component_provider = "chat_completion_cache"
    component_config_schema = CacheConfig

    def __init__(
        self,
        client: ChatCompletionClient,
        store: CacheStore | None = None,
        *,
        ttl: float | None = None,
        namespace: str | None = None,
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.client = client
        self.store: CacheStore = store if store is not None else InMemoryStore()
        self.ttl = ttl
        self.namespace = namespace or "modelport"
        self._inflight: dict[str, asyncio.Future[bytes | None]] = {}

    # -- the key --

    def cache_key(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
    ) -> str:
        """The store key of a request (validating it as ``create`` would)."""
        return self.key_of(
            self.prepare(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
            )
        )

    def key_of(self, request: Request) -> str:
        """The store key of a prepared request: the same for it streamed or not."""
        fingerprint = self.fingerprint(request)
        digest = hashlib.sha256(KEY_VERSION.encode() + b"\n" + canonical_json(fingerprint)).hexdigest()
        return f"{self.namespace}:{digest}"

    def prepare(self, messages: Sequence[Any], **kwargs: Any) -> Request:
        """The wrapped client's request (built once: its key and, on a miss, what is sent)."""
        return self.client.prepare(messages, **kwargs)

    def fingerprint(self, request: Request) -> dict[str, Any]:
        """The wrapped client's fingerprint of ``request`` (a generic description for a client that has none)."""
        fingerprint = getattr(self.client, "fingerprint", None)
        if callable(fingerprint):
            return dict(fingerprint(request))
        return self.client.request_fingerprint(request.messages, **request.call_arguments())

    def request_fingerprint(self, messages: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
        return self.client.request_fingerprint(messages, **kwargs)

    # -- lookups, single flight, storing --

    async def _lookup(self, key: str, json_output: Any) -> _Entry | None:
        raw = await self.store.get(key)
        return _decode(raw, key, json_output) if raw is not None else None

    async def _wait_for_leader(self, key: str, json_output: Any) -> _Entry | None:
        """If an identical request is under way, wait for it and take its answer."""
        leader = self._inflight.get(key)
        if leader is None:
            return None
        raw = await asyncio.shield(leader)
        return _decode(raw, key, json_output) if raw is not None else None

    def _lead(self, key: str) -> asyncio.Future[bytes | None]:
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        return future

    def _release(self, key: str, future: asyncio.Future[bytes | None], value: bytes | None) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if not future.done():
            future.set_result(value)

    async def _store(self, key: str, result: CreateResult, deltas: list[str] | None) -> bytes | None:
        if result.finish_reason not in STORABLE_FINISH:
            return None
        value = _encode(result, deltas)
        await self.store.set(key, value, self.ttl)
        return value

    # -- the interface --

    async def create(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> CreateResult:
        request = self.prepare(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
        )
        return await self.send(request, cancellation_token=cancellation_token)

    async def send(self, request: Request, *, cancellation_token: CancellationTokenLike | None = None) -> CreateResult:
        """The stored answer to ``request``, or the wrapped client's (stored when it is complete)."""
        key = self.key_of(request)
        output = _output(request)
        entry = await self._lookup(key, output) or await self._wait_for_leader(key, output)
        if entry is not None:
            _observe_hit(self.client, request.messages, entry.result, stream=False)
            return entry.result
        future = self._lead(key)
        value: bytes | None = None
        try:
            result = await self.client.send(request.for_stream(False), cancellation_token=cancellation_token)
            value = await self._store(key, result, None)
            return result
        finally:
            self._release(key, future, value)

    def create_stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> ChatCompletionStream:
        request = self.prepare(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
            stream=True,
        )
        return self.send_stream(request, cancellation_token=cancellation_token)

    def send_stream(
        self, request: Request, *, cancellation_token: CancellationTokenLike | None = None
    ) -> ChatCompletionStream:
        """The stored answer to ``request`` replayed as a stream, or the wrapped client's stream, recorded."""
        return _CacheStream(self, self.key_of(request), request.for_stream(True), cancellation_token)

    async def close(self) -> None:
        await self.client.close()

    def total_usage(self) -> RequestUsage:
        return self.client.total_usage()

    def actual_usage(self) -> RequestUsage:
        return self.client.actual_usage()

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return self.client.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return self.client.remaining_tokens(messages, tools=tools)

    @property
    def model_info(self) -> ModelInfo:
        return self.client.model_info

    def __repr__(self) -> str:
        return f"ChatCompletionCache({self.client!r}, store={self.store!r}, namespace={self.namespace!r})"

    def _to_config(self, *, include_secrets: bool) -> CacheConfig:
        return CacheConfig(
            client=nested_dump(self.client, include_secrets=include_secrets, field="client"),
            store=nested_dump(self.store, include_secrets=include_secrets, field="store"),
            ttl=self.ttl,
            namespace=None if self.namespace == "modelport" else self.namespace,
        )

    @classmethod
    def _from_config(cls, config: CacheConfig) -> ChatCompletionCache:
        client = load_component(config.client, expected=ChatCompletionClient)
        store = load_component(config.store) if config.store is not None else None
        if store is not None and not all(callable(getattr(store, name, None)) for name in ("get", "set", "delete")):
            raise ComponentConfigError(
                f"chat_completion_cache config: store: the config describes a {type(store).__name__}, "
                "not a cache store (get, set and delete)"
            )
        return cls(client, store, ttl=config.ttl, namespace=config.namespace)


def _output(request: Request) -> Any:
    """What a stored answer to ``request`` is parsed into (as the client's own finish step would)."""
    return request.output if request.output is not None else request.json_output


def _observe_hit(client: Any, messages: Sequence[Any], result: CreateResult, *, stream: bool) -> None:
    """A hit, for the call observers (the call events among them): a call that sent nothing."""
    if not _hooks.observing():
        return
    info = _hooks.CallInfo(
        provider=getattr(client, "provider_name", "unknown"),
        model=result.model or str(getattr(client, "_model", "") or ""),
        stream=stream,
        messages=messages,
        cache_hit=True,
    )
    observation = _hooks.start(info)
    if observation is not None:
        observation.end(result, None)


class _CacheStream(ChatCompletionStream):
    """A stream answered from the cache (a replay), or from the client and recorded as it passes."""

    def __init__(
        self,
        cache: ChatCompletionCache,
        key: str,
        request: Request,
        token: CancellationTokenLike | None,
    ) -> None:
        self._cache = cache
        self._key = key
        self._request = request
        self._token = token
        self._replay: list[str | CreateResult] | None = None
        self._inner: ChatCompletionStream | None = None
        self._recorded: list[str] = []
        self._future: asyncio.Future[bytes | None] | None = None
        self._done = False

    def __aiter__(self) -> _CacheStream:
        return self

    async def _start(self) -> None:
        output = _output(self._request)
        entry = await self._cache._lookup(self._key, output)
        if entry is None:
            entry = await self._cache._wait_for_leader(self._key, output)
        if entry is not None:
            _observe_hit(self._cache.client, self._request.messages, entry.result, stream=True)
            self._replay = [*entry.deltas, entry.result]
            self._replay.reverse()
            return
        self._future = self._cache._lead(self._key)
        self._inner = self._cache.client.send_stream(self._request, cancellation_token=self._token)

    async def __anext__(self) -> str | CreateResult:
        if self._done:
            raise StopAsyncIteration
        if self._replay is None and self._inner is None:
            await self._start()
        if self._replay is not None:
            if not self._replay:
                self._done = True
                raise StopAsyncIteration
            return self._replay.pop()
        assert self._inner is not None
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except BaseException:
            self._finish(None)
            raise
        if isinstance(item, CreateResult):
            self._done = True
            value = None
            try:
                value = await self._cache._store(self._key, item, self._recorded)
            finally:
                self._finish(value)
        else:
            self._recorded.append(item)
        return item

    def _finish(self, value: bytes | None) -> None:
        """Tell identical requests waiting on this one what it stored (``None``: nothing, ask yourselves)."""
        if self._future is not None:
            self._cache._release(self._key, self._future, value)
            self._future = None

    async def aclose(self) -> None:
        self._done = True
        self._finish(None)
        if self._inner is not None:
            await self._inner.aclose()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a dropped stream must not leave waiters waiting
            self._finish(None)
