"""``WireClient``: the pipeline every HTTP provider shares, under :class:`~modelport.ChatCompletionClient`.

One call flows one way: messages → :meth:`WireClient.prepare` (convert, validate, build, encode; no I/O) → the
:class:`~modelport._request.Request`, read by every layer → transport (retries, timeouts) → decoder → assembler →
:meth:`WireClient._finish` → ``CreateResult``. ``create`` and ``create_stream`` share every step but reading the
body, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import weakref
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from yarl import URL

from ._assembly import Assembler
from ._convert import as_messages, as_tools
from ._http import Signer, Transport, request_id_from
from ._redact import SecretValues, is_secret_header, scrub_error
from ._request import Request, call_timeout, call_tool_choice, merged_args, model_format, sent_args
from ._stream import WireStream
from ._validate import UNREADABLE, unencodable_field, why_unreadable
from .cancellation import CancellationTokenLike, is_cancellation_token
from .client import ChatCompletionClient, ChatCompletionStream
from .errors import (
    APIError,
    APITimeoutError,
    ContentFilterError,
    InvalidRequestError,
    LengthLimitError,
    OutputParseError,
    ResponseValidationError,
)
from .messages import CreateResult, RequestUsage
from .model_info import DEFAULT_CONTEXT_WINDOW, UNKNOWN_MODEL_INFO, ModelInfo
from .pricing import check_prices, cost_of, price_for
from .providers.dialect import Decoder, Dialect
from .telemetry import _hooks
from .telemetry._hooks import observing
from .tokens import TokenCounter, count_message_tokens
from .tools import Tool, ToolSchema

__all__ = ["WireClient", "encode_body"]

_EMPTY: Mapping[str, Any] = {}


class WireClient(ChatCompletionClient):
    """The shared create/stream pipeline for providers that speak over HTTP. Subclasses give the server's base URL,
    the dialect and the authentication (headers, and a signature over each attempt where the provider needs one)."""

    provider_name = "openai"
    _secrets: SecretValues = SecretValues()
    """The credential values this client sends, scrubbed from every error it raises."""
    _sign: Signer | None = None
    """Signs each attempt over its method, URL, headers and body (none by default)."""
    _query: Mapping[str, str] = MappingProxyType({})
    """Query parameters added to every request's URL (``default_query``; none by default)."""

    def __init__(
        self,
        *,
        model: str,
        model_info: ModelInfo,
        transport: Transport,
        dialect: Dialect,
        base: URL,
        create_args: Mapping[str, Any],
        token_counter: TokenCounter | None = None,
        prices: Mapping[str, Any] | None = None,
    ) -> None:
        dialect.validate_create_args(create_args, where="client create argument")
        if token_counter is not None and not callable(token_counter):
            raise InvalidRequestError("token_counter must be a callable (messages, tools) -> int")
        self._token_counter = token_counter
        self._server_windows: dict[str, int] = {}
        self._model = model
        self._model_info = model_info
        self._transport = transport
        self._dialect = dialect
        self._urls = (dialect.url(base, model=model, stream=False), dialect.url(base, model=model, stream=True))
        self._create_args = dict(create_args)
        self._total_usage = RequestUsage()
        self._actual_usage = RequestUsage()
        self._prices = check_prices(prices)
        self._total_cost = Decimal(0)
        self._call = WireCall(self)

    # -- what a provider supplies --

    @abstractmethod
    async def _headers(self) -> dict[str, str]: ...

    def _url(self, stream: bool = False) -> URL:
        """Where this client's calls go (the dialect's URL for its model), streamed or not."""
        return self._urls[stream]

    # -- the interface --

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info

    def total_usage(self) -> RequestUsage:
        return self._total_usage

    def actual_usage(self) -> RequestUsage:
        return self._actual_usage

    def total_cost(self) -> Decimal:
        """What this client's calls have cost in US dollars, summed over those whose model has a price."""
        return self._total_cost

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """Prompt tokens of ``messages`` and ``tools``: the client's ``token_counter`` if one was given, else
        OpenAI's recipe (exact with tiktoken's files on disk, a :class:`~modelport.TokenCount` marked
        ``estimated`` otherwise)."""
        messages, tools = as_messages(messages), as_tools(tools)
        if self._token_counter is not None:
            return int(self._token_counter(messages, tools))
        return count_message_tokens(messages, self._model_info, tools=tools)

    @property
    def context_window(self) -> int:
        """The model's context window: what the server's ``/models`` listing reported for it (after
        :meth:`list_models`; a server knows what it really serves, as vLLM's ``max_model_len``), else its
        ``ModelInfo``, else ``DEFAULT_CONTEXT_WINDOW``."""
        served = self._server_windows.get(self._model)
        if served:
            return served
        if self._model_info is not UNKNOWN_MODEL_INFO:
            window = self._model_info.get("context_window")
            if window:
                return window
        return DEFAULT_CONTEXT_WINDOW

    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """Tokens left in the context window after ``messages`` and ``tools``; never raises for unknown models."""
        return self.context_window - self.count_tokens(messages, tools=tools)

    async def close(self) -> None:
        await self._transport.close()

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
        (``create(messages, temperature=0, max_tokens=100)``), both checked by the dialect's rules."""
        check_token(cancellation_token)
        request = self.prepare(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
        )
        if cancellation_token is None:
            return await self._create(request)
        return await self._cancellable(request, cancellation_token)

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
        """Yields ``str`` deltas (reasoning as :class:`~modelport.ThoughtChunk`), then one ``CreateResult``; create
        arguments as :meth:`create` takes them.

        Use it as ``async with client.create_stream(...) as stream: async for chunk in stream``; a plain
        ``async for`` works too and closes the response as soon as the stream object is dropped."""
        check_token(cancellation_token)
        request = self.prepare(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
            stream=True,
        )
        return WireStream(self._call_for(request), request, cancellation_token)

    # -- the request, built once --

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
        """The request ``create`` (or, with ``stream=True``, ``create_stream``) would send, converted, checked,
        built and encoded, with nothing sent: bad input raises here. :meth:`send` sends it as it is."""
        args, tool_choice = call_tool_choice(merged_args(extra_create_args, create_args), tool_choice)
        request = Request(as_messages(messages), as_tools(tools), tool_choice, json_output, args, stream)
        self._build_into(request)
        return request

    def build(self, request: Request) -> Request:
        """``request`` built for this client: its payload and encoded body (a request this client built already is
        returned as it is; one built by another is copied, not changed)."""
        if request.builder is self:
            return request
        copy = Request(
            request.messages, request.tools, request.tool_choice, request.json_output, request.args, request.stream
        )
        self._build_into(copy)
        return copy

    def _build_into(self, request: Request) -> None:
        """Build ``request`` (made for this, held by nobody else yet) for this client."""
        sent = sent_args(request.args) if request.args else request.args
        args = self._call_args(sent) if sent else self._create_args
        try:
            payload = self._dialect.build(request, model=self._model, info=self._model_info, args=args)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            if isinstance(exc, InvalidRequestError):
                raise
            # A shape the checks above did not foresee: still the caller's input, and still nothing sent.
            raise InvalidRequestError(
                f"the request could not be built from the input: {type(exc).__name__}: {exc}"
            ) from None
        output = request.json_output
        if output is None:  # response_format=<model> as a create argument asks for what json_output does
            output = model_format(request.args) or model_format(self._create_args)
        request.body = encode_body(self._dialect.streamed(payload) if request.stream else payload)
        request.output, request.payload, request.builder = output, payload, self

    def _call_args(self, args: Mapping[str, Any]) -> Mapping[str, Any]:
        """The create arguments of a call (not empty, and without its own ``timeout``, which is not sent: see
        :meth:`_call_for`): the call's, checked, over the client's defaults."""
        self._dialect.validate_create_args(args)
        return {**self._create_args, **args}

    def _call_for(self, request: Request) -> WireCall:
        """The call that sends ``request``: this client's, or (for a request with its own ``timeout`` create
        argument, as AutoGen passes it in ``extra_create_args``) one whose transport waits that long instead."""
        timeout = call_timeout(request.args) if request.args else None
        if timeout is None:
            return self._call
        return self._call.with_transport(self._transport.with_timeout(timeout))

    async def send(self, request: Request, *, cancellation_token: CancellationTokenLike | None = None) -> CreateResult:
        """Send a prepared request (built again first if another client prepared it) and return its result. A
        subclass that overrides ``create`` gets the call through its ``create``."""
        if type(self).create is not WireClient.create:
            return await super().send(request, cancellation_token=cancellation_token)
        check_token(cancellation_token)
        request = self.build(request.for_stream(False))
        if cancellation_token is None:
            return await self._create(request)
        return await self._cancellable(request, cancellation_token)

    async def _cancellable(self, request: Request, cancellation_token: CancellationTokenLike) -> CreateResult:
        """:meth:`_create` in a task the token cancels (from any thread)."""
        task = asyncio.ensure_future(self._create(request))
        cancel = _canceller(task)
        cancellation_token.add_callback(cancel)
        try:
            return await task
        finally:
            remove = getattr(cancellation_token, "remove_callback", None)  # modelport's has it, AutoGen's not
            if callable(remove):
                remove(cancel)

    def send_stream(
        self, request: Request, *, cancellation_token: CancellationTokenLike | None = None
    ) -> ChatCompletionStream:
        """Stream a prepared request (built again first if another client prepared it); through the subclass's
        ``create_stream`` if it overrides it."""
        if type(self).create_stream is not WireClient.create_stream:
            return super().send_stream(request, cancellation_token=cancellation_token)
        check_token(cancellation_token)
        return WireStream(self._call_for(request), self.build(request.for_stream(True)), cancellation_token)

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
        """The provider, the endpoint (base URL, or Azure deployment and API version; with ``default_query``'s
        parameters, those that carry a credential left out), the model and the exact
        request body that a non-streamed ``create`` would send: every create argument, the full tool definitions,
        ``tool_choice`` and the output schema. Raises what ``create`` would raise for bad input."""
        return self.fingerprint(
            self.prepare(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=merged_args(extra_create_args, create_args),
            )
        )

    def fingerprint(self, request: Request) -> dict[str, Any]:
        """:meth:`request_fingerprint` of a prepared request: the same for it streamed or not."""
        payload = self.build(request).payload
        return {"provider": self.provider_name, "endpoint": self._endpoint(), "model": self._model, "request": payload}

    def _endpoint(self) -> str:
        """The URL a request goes to, as a fingerprint names it: with the ``default_query`` parameters that can
        change an answer (a tenant, a version), without those that carry a credential."""
        url = self._url()
        kept = {name: value for name, value in self._query.items() if not is_secret_header(name)}
        return str(url.update_query(kept) if kept else url)

    # -- the pipeline --

    async def _create(self, request: Request) -> CreateResult:
        call = self._call_for(request)
        loop = asyncio.get_running_loop()
        deadline_at = call.transport.call_deadline(loop)
        retries = 0
        observation = call.observe(request) if observing() else None
        try:
            while True:
                response, retries = await call.send(request, deadline_at, retries)
                try:
                    asm = await self._read_response(response, loop, deadline_at, call.transport)
                    break
                except APIError as exc:  # a body cut off, or an error inside a 200: retried by the same rule
                    await call.transport.sleep_before_retry(exc, {}, retries, loop, deadline_at)
                    retries += 1
            result = self._finish(asm, request)
        except APIError as exc:
            exc.attempts = max(exc.attempts, retries + 1)
            self._fail(exc)
            if observation is not None:
                observation.end(None, exc, retries=exc.attempts - 1)
            raise
        except BaseException as exc:  # cancelled, or an output that did not parse
            if observation is not None:
                observation.end(None, exc, retries=retries)
            raise
        if observation is not None:
            observation.end(result, None, retries=retries)
        return result

    async def _request_json(self, url: URL, body: bytes | None) -> Any:
        """One JSON request beside the chat endpoint (POST ``body``, or GET when it is ``None``): the models list,
        a token count. Retried like a call; its errors leave through :meth:`_fail` (hints added, secrets scrubbed)."""
        loop = asyncio.get_running_loop()
        deadline_at = self._transport.call_deadline(loop)
        headers = await self._headers()
        if self._query:
            url = url.update_query(self._query)
        if body is None:
            headers = {k: v for k, v in headers.items() if k != "content-type"}
        try:
            response, _ = await self._transport.send(
                url, body, headers, deadline_at=deadline_at, error=self._call.error, sign=self._sign
            )
            raw = await self._transport.read_body(response, loop, deadline_at)
        except APIError as exc:
            self._fail(exc)
            raise
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ResponseValidationError(
                f"{self.provider_name} answered {url.path} with a body that is not JSON",
                provider=self.provider_name,
                body=raw[:2000],
            ) from None

    async def _read_response(
        self, response: Any, loop: asyncio.AbstractEventLoop, deadline_at: float | None, transport: Transport
    ) -> Assembler:
        request_id = request_id_from(response.headers)
        raw = await transport.read_body(response, loop, deadline_at)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ResponseValidationError(
                f"{self.provider_name} answered 200 with a body that is not JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                provider=self.provider_name,
                request_id=request_id,
                body=raw[:2000],
            ) from None
        asm = Assembler(split_think_tags=self._dialect.split_think_tags)
        asm.request_id = request_id
        try:
            self._dialect.parse_response(body, asm, provider=self.provider_name, request_id=request_id)
        except UNREADABLE as exc:
            raise ResponseValidationError(
                f"{self.provider_name} answered 200 with JSON that {why_unreadable(exc)}",
                provider=self.provider_name,
                request_id=request_id,
                body=raw[:2000],
            ) from None
        return asm

    def _finish(self, asm: Assembler, request: Request) -> CreateResult:
        """The one finish step of ``create`` and ``create_stream``: result, content filter, output parsing, usage."""
        result = asm.result()
        self._total_usage = self._total_usage + result.usage
        self._actual_usage = self._actual_usage + result.usage
        if result.usage_reported:
            price = price_for(result.model, self.provider_name, self._prices)
            if price is None and self._model != result.model:
                price = price_for(self._model, self.provider_name, self._prices)
            if price is not None:
                result.cost = cost_of(result.usage, price)
                self._total_cost += result.cost
        if result.finish_reason == "content_filter" and not result.content:
            raise ContentFilterError(
                f"{self.provider_name} filtered the completion (finish_reason=content_filter)",
                stage="completion",
                status_code=200,
                provider=self.provider_name,
                request_id=result.request_id,
                partial=result,
            )
        output = request.output
        if (
            isinstance(output, type)
            and issubclass(output, BaseModel)
            and result.refusal is None
            and isinstance(result.content, str)  # an answer of tool calls has no output to parse
        ):
            result.parsed = _parse_output(output, result)
        return result

    def _hint(self, exc: APIError) -> str | None:
        """What the caller can do about ``exc``, added to its message; providers add their own."""
        if isinstance(exc, APITimeoutError) and exc.attempts > 1 and exc.phase != "deadline":
            return (
                f"after {exc.attempts} attempts: the timeout applies to each attempt; "
                "set deadline= to bound the whole call"
            )
        return None

    def _fail(self, exc: APIError) -> None:
        """Every error leaves the client through here: the provider's hint is added, and the client's secrets are
        scrubbed from it and from its cause chain (before any observer sees it)."""
        hint = self._hint(exc)
        if hint:
            exc.message = f"{exc.message} ({hint})"
            exc.args = (exc.message, *exc.args[1:])
        scrub_error(exc, self._secrets)


class WireCall:
    """What one call of a :class:`WireClient` needs, and all that its stream sees of the client: the transport, the
    dialect, sending, the finish step, failures and observation."""

    __slots__ = ("_client", "dialect", "error", "provider", "transport")

    def __init__(self, client: WireClient) -> None:
        self._client = client
        self.transport = client._transport
        self.dialect = client._dialect
        self.provider = client.provider_name
        self.error = functools.partial(client._dialect.error, provider=client.provider_name)

    async def send(self, request: Request, deadline_at: float | None, retries: int = 0) -> tuple[Any, int]:
        """Send ``request`` (head read, body not), with the transport's retries; returns (response, retries)."""
        client = self._client
        assert request.body is not None
        url = client._url(request.stream)
        return await self.transport.send(
            url.update_query(client._query) if client._query else url,
            request.body,
            await client._headers(),
            deadline_at=deadline_at,
            retries=retries,
            error=self.error,
            sign=client._sign,
        )

    def with_transport(self, transport: Transport) -> WireCall:
        """This call (of its kind) over another transport: one call's own timeout."""
        call = copy.copy(self)
        call.transport = transport
        return call

    def assembler(self) -> Assembler:
        return Assembler(split_think_tags=self.dialect.split_think_tags)

    def decoder(self) -> Decoder:
        """A decoder for one stream's body, bounded by the transport's limit on one event."""
        return self.dialect.decoder(self.transport.max_event_bytes)

    def finish(self, asm: Assembler, request: Request) -> CreateResult:
        return self._client._finish(asm, request)

    def fail(self, exc: APIError) -> None:
        self._client._fail(exc)

    def observe(self, request: Request) -> _hooks.CallObservation | None:
        """The observation of a call, for the observers (asked only while some are listening)."""
        client = self._client
        url = client._url(request.stream)
        info = _hooks.CallInfo(
            provider=client.provider_name,
            model=client._model,
            stream=request.stream,
            server_address=url.host,
            server_port=url.port,
            request=request.payload or {},
            messages=request.messages,
            tools=request.tools,
        )
        return _hooks.start(info)


def check_token(token: Any) -> None:
    """A cancellation token is modelport's, or anything with its methods (AutoGen's ``CancellationToken``)."""
    if token is not None and not is_cancellation_token(token):
        raise InvalidRequestError(
            "cancellation_token must be a CancellationToken (modelport's or AutoGen's: an object with add_callback, "
            f"is_cancelled and link_future) or None, not {type(token).__name__}"
        )


def _canceller(task: asyncio.Task[Any]) -> Callable[[], None]:
    """A token callback that cancels ``task`` from any thread (not ``link_future``: AutoGen's cancels the task on
    the thread that cancels the token), and does nothing once its loop is closed. It holds the task weakly: AutoGen's
    token keeps every callback it is given, and must not keep every finished call's result with it."""
    call = weakref.ref(task)

    def cancel() -> None:
        task = call()
        if task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed since
                task.get_loop().call_soon_threadsafe(task.cancel)

    return cancel


def encode_body(body: dict[str, Any]) -> bytes:
    """The request body as JSON bytes, or :class:`InvalidRequestError` naming the field that JSON cannot hold."""
    try:
        return orjson.dumps(body)
    except (TypeError, RecursionError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidRequestError(unencodable_field(body) or f"the request cannot be encoded as JSON: {exc}") from None


def _parse_output(model: type[BaseModel], result: CreateResult) -> BaseModel | None:
    text = result.content if isinstance(result.content, str) else ""
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        cls = LengthLimitError if result.finish_reason == "length" else OutputParseError
        why = " (the completion was cut at the token limit)" if cls is LengthLimitError else ""
        raise cls(
            f"the completion does not validate as {model.__name__}{why}: {exc.error_count()} error(s); "
            f"first: {exc.errors()[0]['msg']}",
            result=result,
        ) from None
