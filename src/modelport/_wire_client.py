"""``WireClient``: the pipeline every HTTP provider shares, under :class:`~modelport.ChatCompletionClient`.

One call flows one way: messages → :meth:`WireClient._prepare` (validate, build, encode; no I/O) → transport
(retries, timeouts) → decoder → assembler → :meth:`WireClient._finish` → ``CreateResult``. ``create`` and
``create_stream`` share every step but reading the body, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from yarl import URL

from . import events
from ._assembly import Assembler
from ._convert import as_messages, as_tools
from ._http import Transport
from ._redact import SecretValues, scrub_error
from ._validate import unencodable_field
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
from .providers._status import request_id_from
from .providers.dialect import Dialect
from .telemetry import _hooks
from .tokens import TokenCounter, count_message_tokens
from .tools import Tool, ToolSchema

__all__ = ["Prepared", "WireClient", "encode_body"]

_EMPTY: Mapping[str, Any] = {}


class Prepared:
    """A request ready to send: encoded body plus what the finish step needs to know."""

    __slots__ = ("body", "json_output", "messages", "model", "started", "tools")

    def __init__(
        self,
        body: bytes,
        messages: Sequence[Any],
        tools: Sequence[Any],
        model: str,
        json_output: bool | type[BaseModel] | None,
    ) -> None:
        self.body = body
        self.messages = messages
        self.tools = tools
        self.model = model
        self.json_output = json_output
        self.started = 0.0


class WireClient(ChatCompletionClient):
    """The shared create/stream pipeline for providers that speak over HTTP. Subclasses give the URL and auth."""

    provider_name = "openai"
    _secrets: SecretValues = SecretValues()
    """The credential values this client sends, scrubbed from every error it raises."""

    def __init__(
        self,
        *,
        model: str,
        model_info: ModelInfo,
        transport: Transport,
        dialect: Dialect,
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
        self._create_args = dict(create_args)
        self._total_usage = RequestUsage()
        self._actual_usage = RequestUsage()
        self._prices = check_prices(prices)
        self._total_cost = Decimal(0)

    # -- what a provider supplies --

    @abstractmethod
    def _url(self) -> URL: ...

    @abstractmethod
    async def _headers(self) -> dict[str, str]: ...

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
    ) -> CreateResult:
        _check_token(cancellation_token)
        prepared = self._prepare(messages, tools, tool_choice, json_output, extra_create_args, stream=False)
        if cancellation_token is None:
            return await self._create(prepared)
        task = asyncio.ensure_future(self._create(prepared))
        cancel = _canceller(task)
        cancellation_token.add_callback(cancel)
        try:
            return await task
        finally:
            remove = getattr(cancellation_token, "remove_callback", None)  # modelport's has it, AutoGen's not
            if callable(remove):
                remove(cancel)

    def create_stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
    ) -> ChatCompletionStream:
        """Yields ``str`` deltas (reasoning as :class:`~modelport.ThoughtChunk`), then one ``CreateResult``.

        Use it as ``async with client.create_stream(...) as stream: async for chunk in stream``; a plain
        ``async for`` works too and closes the response as soon as the stream object is dropped."""
        _check_token(cancellation_token)
        prepared = self._prepare(messages, tools, tool_choice, json_output, extra_create_args, stream=True)
        from ._stream import WireStream

        return WireStream(self, prepared, cancellation_token)

    # -- the pipeline --

    def request_fingerprint(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
    ) -> dict[str, Any]:
        """The provider, the endpoint (base URL, or Azure deployment and API version), the model and the exact
        request body that a non-streamed ``create`` would send: every create argument, the full tool definitions,
        ``tool_choice`` and the output schema. Raises what ``create`` would raise for bad input."""
        messages, tools = as_messages(messages), as_tools(tools)
        extra_create_args = _extra_args(extra_create_args)
        body = self._body(messages, tools, tool_choice, json_output, extra_create_args, stream=False)
        encode_body(body)
        return {"provider": self.provider_name, "endpoint": str(self._url()), "model": self._model, "request": body}

    def _prepare(
        self,
        messages: Sequence[Any],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: Any,
        json_output: bool | type[BaseModel] | None,
        extra_create_args: Mapping[str, Any],
        *,
        stream: bool,
    ) -> Prepared:
        messages, tools = as_messages(messages), as_tools(tools)
        extra_create_args = _extra_args(extra_create_args)
        body = self._body(messages, tools, tool_choice, json_output, extra_create_args, stream=stream)
        if json_output is None:  # response_format=<model> as a create argument asks for what json_output does
            json_output = _model_format(extra_create_args) or _model_format(self._create_args)
        return Prepared(encode_body(body), messages, tools, self._model, json_output)

    def _body(
        self,
        messages: Sequence[Any],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: Any,
        json_output: bool | type[BaseModel] | None,
        extra_create_args: Mapping[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        if extra_create_args:
            self._dialect.validate_create_args(extra_create_args)
            create_args = {**self._create_args, **extra_create_args}
        else:
            create_args = self._create_args
        try:
            return self._dialect.build(
                messages,
                model=self._model,
                model_info=self._model_info,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                create_args=create_args,
                stream=stream,
            )
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            if isinstance(exc, InvalidRequestError):
                raise
            # A shape the checks above did not foresee: still the caller's input, and still nothing sent.
            raise InvalidRequestError(
                f"the request could not be built from the input: {type(exc).__name__}: {exc}"
            ) from None

    async def _send(self, prepared: Prepared, deadline_at: float | None, retries: int = 0) -> tuple[Any, int]:
        return await self._transport.send(
            self._url(), prepared.body, await self._headers(), deadline_at=deadline_at, retries=retries
        )

    async def _create(self, prepared: Prepared) -> CreateResult:
        loop = asyncio.get_running_loop()
        prepared.started = loop.time()
        deadline_at = self._transport.call_deadline(loop)
        retries = 0
        observation = self._observe(prepared, stream=False) if _hooks.OBSERVERS else None
        try:
            while True:
                response, retries = await self._send(prepared, deadline_at, retries)
                try:
                    asm = await self._read_response(response, loop, deadline_at)
                    break
                except APIError as exc:  # a body cut off, or an error inside a 200: retried by the same rule
                    await self._transport.sleep_before_retry(exc, {}, retries, loop, deadline_at)
                    retries += 1
            result = self._finish(asm, prepared)
        except APIError as exc:
            exc.attempts = max(exc.attempts, retries + 1)
            self._fail(prepared, exc, loop)
            if observation is not None:
                observation.end(None, exc, retries=exc.attempts - 1)
            raise
        except BaseException as exc:  # cancelled, or an output that did not parse
            if observation is not None:
                observation.end(None, exc, retries=retries)
            raise
        if observation is not None:
            observation.end(result, None, retries=retries)
        if events.events_enabled():
            events.emit(events.LLMCallEvent(**self._event_fields(prepared, result, loop, retries)))
        return result

    async def _request_json(self, url: URL, body: bytes | None) -> Any:
        """One JSON request beside the chat endpoint (POST ``body``, or GET when it is ``None``): the models list,
        a token count. Retried like a call; its errors leave through :meth:`_fail` (hints added, secrets scrubbed)."""
        loop = asyncio.get_running_loop()
        deadline_at = self._transport.call_deadline(loop)
        headers = await self._headers()
        if body is None:
            headers = {k: v for k, v in headers.items() if k != "content-type"}
        try:
            response, _ = await self._transport.send(url, body, headers, deadline_at=deadline_at)
            raw = await self._transport.read_body(response, loop, deadline_at)
        except APIError as exc:
            self._fail(None, exc, loop)
            raise
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ResponseValidationError(
                f"{self.provider_name} answered {url.path} with a body that is not JSON",
                provider=self.provider_name,
                body=raw[:2000],
            ) from None

    def _observe(self, prepared: Prepared, *, stream: bool) -> _hooks.CallObservation | None:
        """The observation of a call, for the installed observers (asked only when there are some)."""
        url = self._url()
        info = _hooks.CallInfo(
            provider=self.provider_name,
            model=prepared.model,
            stream=stream,
            server_address=url.host,
            server_port=url.port,
            request=orjson.loads(prepared.body),
            messages=prepared.messages,
        )
        return _hooks.start(info)

    async def _read_response(
        self, response: Any, loop: asyncio.AbstractEventLoop, deadline_at: float | None
    ) -> Assembler:
        request_id = request_id_from(response.headers)
        raw = await self._transport.read_body(response, loop, deadline_at)
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
        self._dialect.parse_response(body, asm, provider=self.provider_name, request_id=request_id)
        return asm

    def _finish(self, asm: Assembler, prepared: Prepared) -> CreateResult:
        """The one finish step of ``create`` and ``create_stream``: result, content filter, output parsing, usage."""
        result = asm.result()
        self._total_usage = self._total_usage + result.usage
        self._actual_usage = self._actual_usage + result.usage
        if result.usage_reported:
            price = price_for(result.model, self.provider_name, self._prices)
            if price is None and prepared.model != result.model:
                price = price_for(prepared.model, self.provider_name, self._prices)
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
        json_output = prepared.json_output
        if (
            isinstance(json_output, type)
            and issubclass(json_output, BaseModel)
            and result.refusal is None
            and isinstance(result.content, str)  # an answer of tool calls has no output to parse
        ):
            result.parsed = _parse_output(json_output, result)
        return result

    def _event_fields(
        self, prepared: Prepared, result: CreateResult, loop: asyncio.AbstractEventLoop, retries: int
    ) -> dict[str, Any]:
        return {
            "messages": [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in prepared.messages],
            "response": result.model_dump(mode="json"),
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "cached_prompt_tokens": result.usage.cached_prompt_tokens,
            "reasoning_tokens": result.usage.reasoning_tokens,
            "cache_write_tokens": result.usage.cache_write_tokens,
            "cost": str(result.cost) if result.cost is not None else None,
            "provider": self.provider_name,
            "model": prepared.model,
            "resolved_model": result.model,
            "latency_ms": round((loop.time() - prepared.started) * 1000, 3),
            "retries": retries,
            "cached": result.cached,
            "request_id": result.request_id,
            "tools": [t["name"] if isinstance(t, Mapping) else t.name for t in prepared.tools],
        }

    def _hint(self, exc: APIError) -> str | None:
        """What the caller can do about ``exc``, added to its message; providers add their own."""
        if isinstance(exc, APITimeoutError) and exc.attempts > 1 and exc.phase != "deadline":
            return (
                f"after {exc.attempts} attempts: the timeout applies to each attempt; "
                "set deadline= to bound the whole call"
            )
        return None

    def _fail(self, prepared: Prepared | None, exc: APIError, loop: asyncio.AbstractEventLoop) -> None:
        """Every error leaves the client through here: the client's secrets are scrubbed from it and from its
        cause chain, then it is logged as an event (when there is a call to speak of)."""
        hint = self._hint(exc)
        if hint:
            exc.message = f"{exc.message} ({hint})"
            exc.args = (exc.message, *exc.args[1:])
        scrub_error(exc, self._secrets)
        if prepared is not None and events.events_enabled():
            events.emit(
                events.LLMCallErrorEvent(
                    model=prepared.model,
                    provider=self.provider_name,
                    error=type(exc).__name__,
                    message=str(exc),
                    status_code=getattr(exc, "status_code", None),
                    request_id=exc.request_id,
                    attempts=exc.attempts,
                    latency_ms=round((loop.time() - prepared.started) * 1000, 3),
                )
            )


def _model_format(create_args: Mapping[str, Any]) -> type[BaseModel] | None:
    value = create_args.get("response_format") if create_args else None
    return value if isinstance(value, type) and issubclass(value, BaseModel) else None


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


def _extra_args(extra_create_args: Any) -> Mapping[str, Any]:
    """``extra_create_args`` as a mapping (``None`` means none), or an error naming it."""
    if extra_create_args is None:
        return _EMPTY
    if not isinstance(extra_create_args, Mapping):
        raise InvalidRequestError(
            f"extra_create_args must be a dict of create arguments, not {type(extra_create_args).__name__}"
        )
    return extra_create_args


def _check_token(token: Any) -> None:
    if token is not None and not is_cancellation_token(token):
        raise InvalidRequestError(
            "cancellation_token must be a CancellationToken (modelport's or AutoGen's: an object with add_callback, "
            f"is_cancelled and link_future) or None, not {type(token).__name__}"
        )


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
