"""The stream half of the pipeline: bytes → SSE events → chunks → the shared assembler → deltas, then the result.

Rules (docs/wire-behaviour.md, sections B2 to B4):
- a failure before any delta reached the caller is retried like a failed request (B-28); after that, it is raised
  with ``partial`` set to what arrived;
- ``timeout`` bounds the wait for the next event that adds to the answer: keep-alive comments, pings and events
  that carry nothing (``{"content": ""}``) do not reset it (B-27);
- one event (or line) larger than the client's ``max_response_bytes``, or 16 MiB, ends the stream with
  :class:`~modelport.ResponseTooLargeError` as soon as that much of it has arrived, and so does a whole body larger
  than ``max_response_bytes`` (events that each add a little, without end);
- a stream that ends without ``[DONE]`` and without a finish reason, or inside an event, is an
  :class:`~modelport.IncompleteStreamError` (B-38, B-39);
- the response is closed on exhaustion, error, cancellation, ``aclose()``, and as soon as the stream object is
  dropped after a plain ``break`` (B-29, B-30).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from . import errors
from ._http import request_id_from, timeout_at
from ._inflate import Inflater
from ._validate import UNREADABLE, why_unreadable
from .client import ChatCompletionStream
from .messages import CreateResult
from .providers.dialect import TERMINAL
from .telemetry import _hooks

if TYPE_CHECKING:
    import aiohttp

    from ._request import Request
    from ._sse import SSEEvent
    from ._wire_client import WireCall
    from .cancellation import CancellationTokenLike

if not TYPE_CHECKING:
    from ._http import aiohttp

__all__ = ["WireStream"]


class WireStream(ChatCompletionStream):
    __slots__ = (
        "__weakref__",  # the token's callback holds the stream weakly
        "_answered",
        "_armed",
        "_asm",
        "_call",
        "_cancelled",
        "_deadline_at",
        "_decoder",
        "_finished",
        "_first_token_at",
        "_inflater",
        "_loop",
        "_observation",
        "_opening",
        "_out",
        "_pos",
        "_reading",
        "_request",
        "_response",
        "_result",
        "_retries",
        "_room",
        "_started",
        "_timed_out",
        "_token",
        "_token_callback",
        "_wait_phase",
        "_wait_until",
        "_watchdog",
        "_yielded",
    )

    def __init__(self, call: WireCall, request: Request, token: CancellationTokenLike | None) -> None:
        self._call = call
        self._request = request
        self._token = token
        self._token_callback: Callable[[], None] | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._asm = call.assembler()
        self._decoder = call.decoder()
        self._out = self._asm.out
        self._pos = 0
        self._yielded = 0
        self._retries = 0
        self._started = False
        self._finished = False
        self._result: CreateResult | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline_at: float | None = None
        self._wait_until = 0.0
        self._wait_phase = "stream"
        self._watchdog: asyncio.TimerHandle | None = None
        self._reading = False
        self._timed_out: str | None = None
        self._armed = -1
        """The assembler's count when the wait for the next event was set; -1: set it at the next read."""
        self._answered = False
        self._room = call.transport.max_response_bytes
        """What the body may still bring: ``max_response_bytes`` less what it has (decompressed)."""
        self._inflater: Inflater | None = None
        self._opening: asyncio.Future[Any] | None = None
        self._cancelled = False
        self._first_token_at: float | None = None
        self._observation: _hooks.CallObservation | None = None

    def __aiter__(self) -> WireStream:
        return self

    async def __anext__(self) -> str | CreateResult:
        """One coroutine per item, with the read inline: a stream waits most of its life here, and every object
        alive across that wait (frames of nested coroutines included) is one more for the garbage collector to
        walk, thousands of times over when thousands of streams are open."""
        if self._cancelled:  # nothing after a cancel, not even a chunk that had already arrived
            self._finished = True
            self._out.clear()
            cancelled = asyncio.CancelledError()
            self._end_observation(None, cancelled)
            raise cancelled
        while self._pos >= len(self._out):
            if self._result is not None:
                result, self._result = self._result, None
                return result
            if self._finished:
                raise StopAsyncIteration
            self._out.clear()
            self._pos = 0
            try:  # read until the assembler has something to yield, or the stream ends
                if self._response is None:
                    await self._open()
                while not self._out and self._result is None and not self._finished:
                    content = self._start_read()
                    try:
                        chunk = await content.readany()
                    except (aiohttp.ClientError, OSError) as exc:
                        raise self._read_error(exc) from (None if self._cancelled or self._timed_out else exc)
                    finally:
                        self._reading = False
                    if self._received(chunk):  # the terminal event
                        await self._drain()
                        self._complete()
            except BaseException as exc:
                if not await self._failed(exc):
                    raise
                # retried on a fresh assembler (and a fresh output list)
        item = self._out[self._pos]
        self._pos += 1
        self._yielded += 1
        return item

    async def aclose(self) -> None:
        self._finished = True
        self._close_response()
        self._end_observation(None, None)  # cut short by the caller, unless it had ended already

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # the loop may already be closed at interpreter exit
            self._close_response()
            self._end_observation(None, None)

    def _end_observation(self, result: CreateResult | None, error: BaseException | None) -> None:
        """The stream is over (every way it ends comes here): its observation ends, and its callback leaves the
        caller's token."""
        self._forget_token()
        observation, self._observation = self._observation, None
        if observation is not None:
            observation.end(result, error, retries=self._retries)

    def _close_response(self) -> None:
        self._stop_watchdog()
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()

    def _watch(self) -> None:
        """The stream's one timer (not one per read): while a read waits, a wait that progress has not moved on
        since the timer was set ends the stream with a timeout; time the caller spends between reads never counts."""
        self._watchdog = None
        if not self._reading or self._response is None or self._loop is None:
            return  # the next read sets it again
        if self._loop.time() < self._wait_until:  # an event arrived since: wait for the new time
            self._watchdog = self._loop.call_at(self._wait_until, self._watch)
            return
        self._timed_out = self._wait_phase
        self._close_response()

    def _timeout(self) -> errors.APITimeoutError:
        error = self._call.transport.timeout_error(self._timed_out or "stream")
        error.partial = self._asm.result()
        return error

    # -- reading --

    async def _failed(self, exc: BaseException) -> bool:
        """After a read or an open failed with ``exc``: True if the stream starts again (B-28); otherwise the
        stream is over and the caller re-raises ``exc``."""
        if isinstance(exc, asyncio.CancelledError):
            self._finished = True
            self._close_response()
            self._end_observation(None, exc)
        elif isinstance(exc, errors.APIError):
            self._close_response()
            if await self._retried(exc):
                return True
            self._finished = True
            exc.attempts = max(exc.attempts, self._retries + 1)
            self._call.fail(exc)
            self._end_observation(None, exc)
        elif isinstance(exc, Exception):  # an output that did not parse, a bad token provider
            self._finished = True
            self._close_response()
            self._end_observation(None, exc)
        return False

    async def _retried(self, exc: errors.APIError) -> bool:
        """Start again after ``exc`` if the shared retry rule allows it and nothing has reached the caller (B-28).
        A failure of the request itself was already retried by the transport."""
        if not self._answered or self._yielded or self._out or self._loop is None:
            return False
        try:
            await self._call.transport.sleep_before_retry(exc, {}, self._retries, self._loop, self._deadline_at)
        except errors.APIError:
            return False
        self._retries += 1
        self._restart()
        return True

    def _restart(self) -> None:
        self._asm = self._call.assembler()
        self._out = self._asm.out
        self._pos = 0
        self._decoder = self._call.decoder()
        self._answered = False
        self._room = self._call.transport.max_response_bytes
        self._timed_out = None
        self._armed = -1

    async def _open(self) -> None:
        call = self._call
        loop = self._loop = asyncio.get_running_loop()
        if not self._started:
            self._started = True
            self._deadline_at = call.transport.call_deadline(loop)
            if self._token is not None:
                self._watch_token(self._token)
            if _hooks.observing():
                self._observation = call.observe(self._request)
        if self._cancelled:
            raise asyncio.CancelledError
        sending = call.send(self._request, self._deadline_at, self._retries)
        if self._token is None:
            response, self._retries = await sending
        else:  # a task the token can cancel while the server has not answered yet
            self._opening = asyncio.ensure_future(sending)
            try:
                response, self._retries = await self._opening
            finally:
                self._opening = None
        self._response = response
        self._answered = True
        self._asm.request_id = request_id_from(response.headers)
        self._inflater = call.transport.inflater_for(response)
        self._armed = -1  # the head arrived: the wait for the first event starts now
        content_type = response.headers.get("content-type", "")
        if "json" in content_type and call.dialect.framing != "ndjson":  # Ollama streams application/x-ndjson
            await self._read_json_body(response)
        elif "text/html" in content_type:
            raise errors.ResponseValidationError(
                f"{call.provider} answered a stream request with an HTML page, not an event stream "
                "(a proxy, a login page, or a base_url that is not the API?)",
                provider=call.provider,
                request_id=self._asm.request_id,
            )

    async def _read_json_body(self, response: aiohttp.ClientResponse) -> None:
        """A server that ignores ``stream: true`` and answers with one JSON body: accept it as the whole answer."""
        assert self._loop is not None
        raw = await self._call.transport.read_body(response, self._loop, self._deadline_at)
        self._response = None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise errors.ResponseValidationError(
                "the server answered a stream request with invalid JSON",
                provider=self._call.provider,
                body=raw[:2000],
            ) from None
        try:
            self._call.dialect.parse_response(
                body, self._asm, provider=self._call.provider, request_id=self._asm.request_id
            )
        except UNREADABLE as exc:
            raise errors.ResponseValidationError(
                f"the server answered a stream request with JSON that {why_unreadable(exc)}",
                provider=self._call.provider,
                request_id=self._asm.request_id,
                body=raw[:2000],
            ) from None
        self._complete()

    def _watch_token(self, token: CancellationTokenLike) -> None:
        """Register the stream's callback on the caller's token. A token may outlive thousands of streams (one per
        agent), so the callback holds the stream weakly, and leaves the token when the stream ends where the token
        can take it back (modelport's ``remove_callback``; AutoGen's keeps every callback, then only this small
        one)."""
        stream = weakref.ref(self)

        def on_cancel() -> None:
            alive = stream()
            if alive is not None and alive._loop is not None:
                alive._on_cancel(alive._loop)

        self._token_callback = on_cancel
        token.add_callback(on_cancel)

    def _forget_token(self) -> None:
        callback, self._token_callback = self._token_callback, None
        remove = getattr(self._token, "remove_callback", None) if callback is not None else None
        if callable(remove):
            remove(callback)

    def _on_cancel(self, loop: asyncio.AbstractEventLoop) -> None:
        """The token's callback, from any thread: nothing more is yielded from now on (also to a caller that
        cancels from inside its own loop over the stream); the socket is closed on the stream's loop."""
        self._cancelled = True
        loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        self._cancelled = True
        if self._opening is not None:
            self._opening.cancel()
        self._close_response()

    def _start_read(self) -> aiohttp.StreamReader:
        """Arm the stream's timer for the read about to wait, and return what to read from."""
        loop = self._loop
        response = self._response
        assert loop is not None and response is not None
        # Only what the answer gained since the wait was set moves it on: not bytes, not keep-alives, not events
        # that carry nothing (the assembler counts what it receives).
        received = self._asm.received
        if received != self._armed:
            self._wait_until, self._wait_phase = self._call.transport.next_wait(
                loop.time(), self._deadline_at, "stream"
            )
            self._armed = received
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._wait_until, self._watch)
        self._reading = True
        return response.content

    def _read_error(self, exc: BaseException) -> BaseException:
        """What a read that failed with ``exc`` (an aiohttp or socket error) means to the caller."""
        if self._cancelled:
            return asyncio.CancelledError()
        if self._timed_out:
            return self._timeout()
        return errors.APIConnectionError(
            f"the connection to {self._call.provider} broke mid-stream: {type(exc).__name__}",
            provider=self._call.provider,
            request_id=self._asm.request_id,
            partial=self._asm.result(),
        )

    def _received(self, chunk: bytes) -> bool:
        """Feed what one read returned (``b""`` at the end of the body); True when it held the terminal event,
        after which the rest of the body is drained and the stream completed."""
        if self._cancelled:
            raise asyncio.CancelledError
        if self._timed_out:
            raise self._timeout()
        if not chunk:
            if not self._flush_last_line():
                self._end_of_body()
            return False
        if self._inflater is not None and not (chunk := self._inflate(chunk)):
            return False  # a gzip header, or a piece still inside zlib's window
        self._room -= len(chunk)
        if self._room < 0:
            raise self._too_large(self._body_too_large())
        try:
            batch = self._decoder.feed(chunk)
        except errors.ResponseTooLargeError as exc:
            raise self._too_large(exc) from None
        except errors.StreamProtocolError as exc:  # a binary framing's check failed (a CRC, a length)
            raise self._framing_error(exc) from None
        if batch:
            dialect, asm, provider = self._call.dialect, self._asm, self._call.provider
            try:
                for event in batch:  # progress is what they add to the assembler (see _start_read)
                    if dialect.parse_event(event, asm, provider=provider) == TERMINAL:
                        self._mark_first_token()
                        return True
            except UNREADABLE as exc:
                raise self._unreadable(event, exc) from None
            if self._first_token_at is None:
                self._mark_first_token()
        return False

    def _inflate(self, chunk: bytes) -> bytes:
        """A compressed piece of the body, decompressed within what the body may still bring."""
        assert self._inflater is not None
        inflated = self._inflater.feed(chunk, max(self._room, 0))
        if inflated is None:
            raise self._too_large(self._body_too_large())
        return inflated

    def _unreadable(self, event: SSEEvent, exc: BaseException) -> errors.StreamProtocolError:
        """An event whose JSON decoded but that the dialect could not use: too deep, or a value of another type."""
        return errors.StreamProtocolError(
            f"{self._call.provider} sent an event whose JSON {why_unreadable(exc)}",
            raw=event.data[:500].decode("utf-8", "replace"),
            provider=self._call.provider,
            request_id=self._asm.request_id,
            partial=self._asm.result(),
        )

    def _body_too_large(self) -> errors.ResponseTooLargeError:
        limit = self._call.transport.max_response_bytes
        return errors.ResponseTooLargeError(
            f"the stream grew past {limit:,} bytes, the most max_response_bytes allows for a response body; the "
            "connection was dropped. Raise max_response_bytes if answers this large are expected",
            limit=limit,
        )

    def _framing_error(self, exc: errors.StreamProtocolError) -> errors.StreamProtocolError:
        """The decoder's error, with the provider and what arrived before it."""
        exc.provider, exc.request_id, exc.partial = self._call.provider, self._asm.request_id, self._asm.result()
        return exc

    def _too_large(self, exc: errors.ResponseTooLargeError) -> errors.ResponseTooLargeError:
        """The decoder's error, told with the provider and what arrived before it."""
        provider = self._call.provider
        return errors.ResponseTooLargeError(
            f"{provider}: {exc.message}",
            limit=exc.limit,
            provider=provider,
            request_id=self._asm.request_id,
            partial=self._asm.result(),
        )

    async def _drain(self) -> None:
        """After the terminal event, read the end of the body (briefly) so the connection can go back to the pool."""
        response = self._response
        if response is None or response.content.at_eof():
            return
        assert self._loop is not None
        try:
            async with timeout_at(self._loop.time() + 0.1):
                while await response.content.readany():
                    pass
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            self._close_response()

    def _mark_first_token(self) -> None:
        if self._first_token_at is None and self._out and self._loop is not None:
            self._first_token_at = self._loop.time()
            if self._observation is not None:
                self._observation.first_chunk()

    def _flush_last_line(self) -> bool:
        """At the end of the body, a last line the server did not end with a newline (newline-delimited JSON
        only); True if it was the terminal event. A cut line is an incomplete stream, as a cut event is."""
        dialect, provider = self._call.dialect, self._call.provider
        try:
            last = self._decoder.flush()
        except errors.StreamProtocolError as exc:
            raise self._framing_error(exc) from None
        for event in last:
            try:
                kind = dialect.parse_event(event, self._asm, provider=provider)
            except UNREADABLE as exc:
                raise self._unreadable(event, exc) from None
            except errors.StreamProtocolError as exc:
                raise errors.IncompleteStreamError(
                    f"{provider} closed the stream in the middle of a line",
                    raw=exc.raw,
                    provider=provider,
                    request_id=self._asm.request_id,
                    partial=self._asm.result(),
                ) from None
            if kind == TERMINAL:
                self._complete()
                return True
        return False

    def _end_of_body(self) -> None:
        leftover = self._decoder.unterminated()
        provider = self._call.provider
        if leftover.strip():
            raise errors.IncompleteStreamError(
                f"{provider} closed the stream in the middle of an event",
                raw=leftover[:500].decode("utf-8", "replace"),
                provider=provider,
                request_id=self._asm.request_id,
                partial=self._asm.result(),
            )
        if not self._call.dialect.ends_without_terminal(self._asm):
            raise errors.IncompleteStreamError(
                f"{provider} ended the stream without its end-of-stream event; the answer may be cut",
                provider=provider,
                request_id=self._asm.request_id,
                partial=self._asm.result(),
            )
        self._complete()

    def _complete(self) -> None:
        """The stream is whole: release the connection, flush held-back text, build the result."""
        self._stop_watchdog()
        response, self._response = self._response, None
        if response is not None:
            response.release()
        self._asm.flush()
        result = self._call.finish(self._asm, self._request)
        self._result = result
        self._finished = True
        self._end_observation(result, None)
