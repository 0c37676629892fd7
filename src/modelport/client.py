"""``ChatCompletionClient``, the one interface every client implements (HTTP providers through the pipeline they
share, :class:`~modelport._wire_client.WireClient`), and ``ChatCompletionStream``, what ``create_stream`` returns."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel

from ._request import Request, merged_args
from .cancellation import CancellationTokenLike
from .messages import CreateResult, RequestUsage
from .model_info import ModelInfo
from .tools import Tool, ToolSchema

__all__ = ["ChatCompletionClient", "ChatCompletionStream"]

T = TypeVar("T")
C = TypeVar("C", bound="ChatCompletionClient")
_EMPTY: Mapping[str, Any] = {}


class ChatCompletionClient(ABC):
    """The async interface every modelport client implements (AutoGen's shape), plus a synchronous face."""

    @classmethod
    def load_component(cls: type[C], model: Any, *, allow_env: Iterable[str] = ()) -> C:
        """The client a component config describes (a ``ComponentModel``, a dict, JSON text or a file path), as
        AutoGen's ``ChatCompletionClient.load_component(config)``; it must be a ``cls``. ``allow_env``: the
        environment variables the config may read beyond its provider's own key (see
        :func:`modelport.load_component`)."""
        from .components import load_component

        return load_component(model, expected=cls, allow_env=allow_env)

    @abstractmethod
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
        """One answer to ``messages``. Create arguments go in ``extra_create_args`` or as keywords
        (``create(messages, temperature=0, max_tokens=100)``), both checked by the client's rules."""

    @abstractmethod
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
        """The answer to ``messages`` as a stream; create arguments as :meth:`create` takes them."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def actual_usage(self) -> RequestUsage: ...

    @abstractmethod
    def total_usage(self) -> RequestUsage: ...

    @abstractmethod
    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int: ...

    @abstractmethod
    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int: ...

    @property
    @abstractmethod
    def model_info(self) -> ModelInfo: ...

    def prepare(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        stream: bool = False,
        **create_args: Any,
    ) -> Request:
        """The request a ``create`` (``create_stream`` with ``stream=True``) of these arguments makes: the input
        converted once, checked, and (by clients that speak HTTP) built and encoded, with nothing sent. The cache,
        the router and ``modelport batch`` prepare a request once and read it; :meth:`send` sends it."""
        return Request.of(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            stream=stream,
            **create_args,
        )

    async def send(self, request: Request, *, cancellation_token: CancellationTokenLike | None = None) -> CreateResult:
        """Send a request from :meth:`prepare` and return its result (``create`` of the same arguments)."""
        return await self.create(request.messages, cancellation_token=cancellation_token, **request.call_arguments())

    def send_stream(
        self, request: Request, *, cancellation_token: CancellationTokenLike | None = None
    ) -> ChatCompletionStream:
        """Stream a request from :meth:`prepare` (``create_stream`` of the same arguments)."""
        return self.create_stream(request.messages, cancellation_token=cancellation_token, **request.call_arguments())

    def request_fingerprint(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        **create_args: Any,
    ) -> dict[str, Any]:
        """A JSON-ready description of everything that decides the answer to this request (what a response cache
        keys on). HTTP clients give their exact request body; this default describes the call generically."""
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            output: Any = json_output.model_json_schema()
        else:
            output = json_output
        return {
            "client": f"{type(self).__module__}.{type(self).__qualname__}",
            "model_info": dict(self.model_info),
            "messages": [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in messages],
            "tools": [dict(t) if isinstance(t, Mapping) else dict(t.schema) for t in tools],
            "tool_choice": tool_choice if isinstance(tool_choice, str) else getattr(tool_choice, "name", tool_choice),
            "json_output": output,
            "extra_create_args": dict(merged_args(extra_create_args, create_args)),
        }

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- the synchronous face: a private event loop on a worker thread, so scripts never manage one --

    def create_sync(self, messages: Sequence[Any], **kwargs: Any) -> CreateResult:
        """``create`` for synchronous code (also inside a notebook whose loop is running)."""
        result: CreateResult = _runner_for(self).run(self.create(messages, **kwargs))
        return result

    def create_stream_sync(self, messages: Sequence[Any], **kwargs: Any) -> Iterator[str | CreateResult]:
        """``create_stream`` as a plain iterator. Leaving the loop early closes the response."""
        runner = _runner_for(self)
        stream = runner.run(_make_stream(self, messages, kwargs))
        try:
            while True:
                try:
                    yield runner.run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            runner.run(stream.aclose())

    def close_sync(self) -> None:
        """Release everything the synchronous face opened (its connections and its worker thread)."""
        runner = self.__dict__.pop("_sync_runner", None)
        if runner is not None:
            runner.run(self.close())
            runner.stop()

    def __enter__(self: T) -> T:
        """``with client:`` for synchronous code: :meth:`close_sync` on leaving."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close_sync()


async def _make_stream(
    client: ChatCompletionClient, messages: Sequence[Any], kwargs: dict[str, Any]
) -> ChatCompletionStream:
    return client.create_stream(messages, **kwargs)


class _SyncRunner:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="modelport-sync", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


_runner_lock = threading.Lock()


def _runner_for(client: ChatCompletionClient) -> _SyncRunner:
    with _runner_lock:
        runner = client.__dict__.get("_sync_runner")
        if runner is None:
            runner = client.__dict__["_sync_runner"] = _SyncRunner()
        return runner


class ChatCompletionStream(AsyncIterator["str | CreateResult"]):
    """What ``create_stream`` returns: an async iterator of ``str`` deltas ending with one ``CreateResult``, and an
    async context manager that always releases the connection."""

    __slots__ = ()  # so that a subclass with slots has no per-instance dict (thousands of streams may be open)

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def aclose(self) -> None: ...
