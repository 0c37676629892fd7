"""The one transport: aiohttp session and pool, timeouts, deadline, redirects, size bounds; retries by the policy
of :mod:`modelport._retry`.

Timeouts, as a caller means them:
- ``connect_timeout`` bounds opening the connection;
- ``timeout`` is the longest wait for the next piece of the answer: the response head, then each next event of a
  stream that adds to the answer (or the whole body of a plain response). Keep-alive comments, and events that
  carry nothing, are not progress;
- ``deadline`` (optional) bounds the whole call, retries and back-off included. Retries never stretch it.

Sizes: ``max_response_bytes`` (64 MiB by default) bounds a response body, and one stream event or line is bounded by
the smaller of it and 16 MiB; past either, :class:`~modelport.ResponseTooLargeError` is raised and the connection
dropped. A compressed body is bounded by what it decompresses to, modelport decompressing it (see
:mod:`modelport._inflate`), so the bound holds on every aiohttp version from 3.8.4 on.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from yarl import URL

from . import errors
from ._cassette_slot import CASSETTE, CASSETTE_ENV
from ._inflate import ACCEPT_ENCODING, Inflater, inflater_for
from ._retry import RetryPolicy, retry_delay
from ._sse import MAX_EVENT_BYTES


class _LazyModule:
    """A module imported on first attribute access. aiohttp costs about half of modelport's import time (its
    connector builds TLS contexts), and it is needed only once a request is made: the transport's names refer to it
    only where a session is made or an exception is matched."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attr)


if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = _LazyModule("aiohttp")

if sys.version_info >= (3, 11):
    from asyncio import timeout_at
else:  # pragma: no cover - exercised on Python 3.10 only
    from async_timeout import timeout_at

__all__ = ["ErrorReader", "Signer", "Transport", "request_id_from", "timeout_at"]


ErrorReader = Callable[[int, Mapping[str, str], bytes], "errors.APIStatusError"]
"""How an error response (status, headers, body) becomes a typed error: the provider's dialect knows its envelope."""
Signer = Callable[[str, URL, dict[str, str], "bytes | None"], Awaitable[None]]
"""Called before every attempt with the method, URL, a fresh copy of the headers and the body, to add what must be
computed over them (a signature); a retry is signed afresh."""

MAX_REDIRECTS = 5
STALE_CONNECTION_RETRIES = 3
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-litellm-call-id",
    "x-amzn-requestid",
)
MAX_ERROR_BODY = 1 << 20
"""The most of an error response that is read and kept (1 MiB): a larger one is cut there and its connection
dropped, so a hostile or broken server cannot make an exception hold megabytes."""
DEFAULT_MAX_RESPONSE_BYTES = 64 << 20
"""The default ``max_response_bytes``: the largest response body read (64 MiB)."""


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The request id a server put in its response headers, under any of the names servers use."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


class Transport:
    """Sends requests with retries; owns (or borrows) one aiohttp session per event loop."""

    cassette: Any = None
    """A cassette for this transport's requests alone (``Cassette.wrap``); it comes before :data:`CASSETTE`."""

    def __init__(
        self,
        *,
        provider: str,
        timeout: float,
        connect_timeout: float,
        retry: RetryPolicy,
        deadline: float | None = None,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        session: aiohttp.ClientSession | None = None,
        verify_ssl: bool = True,
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.retry = retry
        self.max_connections = max_connections or default_max_connections()
        self.max_connections_per_host = max_connections_per_host or 0
        self.verify_ssl = verify_ssl
        self.proxy = proxy
        self.max_response_bytes = max_response_bytes
        self.max_event_bytes = min(max_response_bytes, MAX_EVENT_BYTES)
        """The most one stream event (SSE) or line (NDJSON) may hold."""
        self._env_proxies: dict[tuple[str, str | None], str | None] = {}
        self._given_session = session
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        if CASSETTE_ENV in os.environ:  # a process whose every client records or replays (modelport batch)
            from .testing._cassette import environment_cassette

            self.cassette = environment_cassette()

    def session(self) -> aiohttp.ClientSession:
        """The session of the running event loop, made on first use (a given session is always used as is)."""
        if self._given_session is not None:
            return self._given_session
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is not None:
            return session
        for old_loop in [old for old in self._sessions if old.is_closed()]:
            _abandon(self._sessions.pop(old_loop))
        # None, not True: aiohttp before 3.9 took ssl=True as "encrypt but do not verify the certificate"
        verify: Any = None if self.verify_ssl else False
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, limit_per_host=self.max_connections_per_host, ssl=verify
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            auto_decompress=False,  # decompressed here, under max_response_bytes (modelport._inflate)
        )
        self._sessions[loop] = session
        return session

    async def close(self) -> None:
        """Close the running loop's session; sessions of loops that have ended are dropped."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()
        for old_loop in [old for old in self._sessions if old.is_closed()]:
            _abandon(self._sessions.pop(old_loop))

    def proxy_for(self, url: URL) -> str | None:
        """The proxy for ``url``: the client's ``proxy`` (``""`` for none), else the environment's
        (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, as urllib reads them), looked up once per
        scheme and host rather than on every request."""
        if self.proxy is not None:
            return self.proxy or None
        key = (url.scheme, url.host)
        try:
            return self._env_proxies[key]
        except KeyError:
            found = self._env_proxies[key] = _environment_proxy(url)
            return found

    def with_timeout(self, timeout: float) -> Transport:
        """This transport with another ``timeout`` (one call's): the same sessions, pool and settings otherwise."""
        view = copy.copy(self)
        view.timeout = timeout
        return view

    def call_deadline(self, loop: asyncio.AbstractEventLoop) -> float | None:
        return loop.time() + self.deadline if self.deadline is not None else None

    async def send(
        self,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        deadline_at: float | None,
        error: ErrorReader,
        retries: int = 0,
        sign: Signer | None = None,
    ) -> tuple[aiohttp.ClientResponse, int]:
        """POST ``body`` (or GET when it is ``None``) and return the first successful response (head read, body
        not) with the number of retries made so far, counting the ``retries`` a caller had already made. An error
        response becomes ``error(status, headers, body)``; ``sign``, when given, signs each attempt.

        Redirects are followed only to the same scheme, host and port, only where the method and body survive
        (307 and 308; any of them for a GET), and at most :data:`MAX_REDIRECTS` times; anything else raises
        :class:`~modelport.RedirectError`, so a credential never travels to a host it was not given for."""
        loop = asyncio.get_running_loop()
        hops = 0
        while True:
            sent = headers
            if sign is not None:
                sent = dict(headers)
                await sign("GET" if body is None else "POST", url, sent, body)
            try:
                response = await self._attempt(loop, url, body, sent, deadline_at)
            except errors.APIConnectionError as exc:
                failure: errors.APIError = exc
                response_headers: Mapping[str, str] = {}
            else:
                if response.status < 300:
                    return response, retries
                if response.status < 400:
                    url = self._redirect_target(response, url, body is None, hops)
                    hops += 1
                    continue
                raw = await self.read_body(response, loop, deadline_at, cut_at=MAX_ERROR_BODY)
                failure = error(response.status, response.headers, raw)
                response_headers = response.headers
            await self.sleep_before_retry(failure, response_headers, retries, loop, deadline_at)
            retries += 1

    def _redirect_target(self, response: aiohttp.ClientResponse, url: URL, is_get: bool, hops: int) -> URL:
        """Where a redirect may be followed to, or :class:`~modelport.RedirectError` if it may not."""
        status = response.status
        location = response.headers.get("location", "")
        response.release()
        target = url.join(URL(location)) if location else None
        if target is None:
            why = "without a Location header"
        elif (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
            why = (
                f"to another origin ({target.scheme}://{target.host}:{target.port}); it is not followed, so the "
                "request's credentials stay with the host they were given for"
            )
        elif not is_get and status not in (307, 308):
            why = "that would turn the POST into a GET; it is not followed"
        elif hops >= MAX_REDIRECTS:
            why = f"after {MAX_REDIRECTS} redirects; it is not followed"
        else:
            return target
        raise errors.RedirectError(
            f"{self.provider} answered {status} redirecting to {location or '(nowhere)'} {why}. If the service "
            "has moved, point base_url (or azure_endpoint) at the new address.",
            status_code=status,
            location=location or None,
            provider=self.provider,
            request_id=request_id_from(response.headers),
        )

    async def sleep_before_retry(
        self,
        error: errors.APIError,
        headers: Mapping[str, str],
        retries: int,
        loop: asyncio.AbstractEventLoop,
        deadline_at: float | None,
    ) -> None:
        """Wait before the next attempt after ``error``, or raise ``error`` if there is none to make.

        One rule for ``create`` and ``create_stream`` alike (see :func:`retry_delay`). When the wait would run
        past the call's deadline, no attempt is made; a timeout then reports phase ``"deadline"``, because the
        deadline, not the timeout, is what ended the call."""
        delay = retry_delay(error, headers, retries, self.retry)
        if isinstance(error, errors.APITimeoutError) and error.phase == "deadline":
            delay = None
        elif delay is not None and deadline_at is not None and loop.time() + delay >= deadline_at:
            delay = None
            if isinstance(error, errors.APITimeoutError):
                _relabel_as_deadline(error, self.deadline)
        if delay is None:
            error.attempts = max(error.attempts, retries + 1)
            raise error
        await self.retry.sleep(delay)

    async def _attempt(
        self,
        loop: asyncio.AbstractEventLoop,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        deadline_at: float | None,
    ) -> aiohttp.ClientResponse:
        """One attempt: send the request and read the response head; a cassette, when one is active, answers it
        from its recording or records it."""
        cassette = self.cassette or CASSETTE.get()
        if cassette is None:
            return await self._send_once(loop, url, body, headers, deadline_at)
        return await cassette.exchange(  # type: ignore[no-any-return]
            url, body, headers, lambda: self._send_once(loop, url, body, headers, deadline_at)
        )

    async def _send_once(
        self,
        loop: asyncio.AbstractEventLoop,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        deadline_at: float | None,
    ) -> aiohttp.ClientResponse:
        """Send the request over the wire and read the response head.

        A pooled connection that the server had already closed (llama.cpp's server closes after every streamed
        response while its headers say keep-alive) fails before any byte of the response arrives. That is not a
        failure of the server: the request is sent again at once on another connection, without back-off and
        without counting as a retry, as urllib3 and httpx do (at most :data:`STALE_CONNECTION_RETRIES` times).
        How it fails depends on which crossed the wire first (see :func:`_closed_before_answering`)."""
        session = self.session()
        wait_until, phase = self.next_wait(loop.time(), deadline_at, "response")
        proxy = self.proxy_for(url)
        stale_retries = 0
        while True:
            reusing = _has_idle_connections(session)
            try:
                async with timeout_at(wait_until):
                    if body is None:
                        return await session.get(url, headers=headers, allow_redirects=False, proxy=proxy)
                    return await session.post(url, data=body, headers=headers, allow_redirects=False, proxy=proxy)
            except _connect_timeout_error() as exc:
                raise self.timeout_error("connect", exc) from exc
            except asyncio.TimeoutError as exc:
                raise self.timeout_error(phase, exc) from exc
            except (aiohttp.ClientError, OSError) as exc:
                if reusing and stale_retries < STALE_CONNECTION_RETRIES and _closed_before_answering(exc):
                    stale_retries += 1
                    continue
                raise errors.APIConnectionError(
                    f"could not reach {self.provider}: {_describe(exc)}", provider=self.provider
                ) from exc

    async def read_body(
        self,
        response: aiohttp.ClientResponse,
        loop: asyncio.AbstractEventLoop,
        deadline_at: float | None,
        *,
        cut_at: int | None = None,
    ) -> bytes:
        """The response's body. One larger than :attr:`max_response_bytes` raises
        :class:`~modelport.ResponseTooLargeError`; with ``cut_at`` (an error body), at most that many bytes are kept
        instead. Either way the rest is not read: the connection is dropped instead of kept."""
        wait_until, phase = self.next_wait(loop.time(), deadline_at, "response")
        try:
            async with timeout_at(wait_until):
                if cut_at is not None:
                    return await _read_at_most(response, cut_at, self._error_body_inflater(response))
                inflater = self.inflater_for(response)
                length = response.content_length
                encoded = inflater is not None or "content-encoding" in response.headers  # or by a given session
                if not encoded and length is not None and length <= self.max_response_bytes:
                    return await response.read()  # not compressed, so no more than the length is read
                body = await _read_within(response, self.max_response_bytes, inflater)
        except asyncio.TimeoutError as exc:
            raise self.timeout_error(phase, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.APIConnectionError(
                f"connection to {self.provider} failed while reading the response: {_describe(exc)}",
                provider=self.provider,
            ) from exc
        finally:
            response.release()
        if body is None:
            raise errors.ResponseTooLargeError(
                f"{self.provider} sent a response body larger than max_response_bytes allows "
                f"({self.max_response_bytes:,} bytes); the connection was dropped. Raise max_response_bytes if "
                "answers this large are expected",
                limit=self.max_response_bytes,
                provider=self.provider,
                request_id=request_id_from(response.headers),
            )
        return body

    def inflater_for(self, response: aiohttp.ClientResponse) -> Inflater | None:
        """What decompresses ``response``'s body; ``None`` when it is sent as it is, or when a session given by the
        caller decompresses itself (aiohttp's default), as that session is set up."""
        if self._given_session is not None and getattr(self._given_session, "auto_decompress", True):
            return None
        return inflater_for(response.headers)

    def _error_body_inflater(self, response: aiohttp.ClientResponse) -> Inflater | None:
        """The inflater for an error body; one in an encoding not asked for is kept as it came (the status is what
        matters)."""
        try:
            return self.inflater_for(response)
        except errors.ResponseValidationError:
            return None

    def next_wait(self, now: float, deadline_at: float | None, phase: str) -> tuple[float, str]:
        """Until when to wait for the next piece of the answer, and what to call it if that time passes."""
        wait_until = now + self.timeout
        if deadline_at is not None and deadline_at <= wait_until:
            return deadline_at, "deadline"
        return wait_until, phase

    def timeout_error(self, phase: str, exc: BaseException | None = None) -> errors.APITimeoutError:
        what = {
            "connect": f"could not connect within {self.connect_timeout} s",
            "response": f"no response within {self.timeout} s",
            "stream": f"no stream event within {self.timeout} s",
            "deadline": f"the call's deadline of {self.deadline} s passed",
        }[phase]
        return errors.APITimeoutError(f"{self.provider}: {what}", phase=phase, provider=self.provider)


async def _read_within(response: aiohttp.ClientResponse, limit: int, inflater: Inflater | None) -> bytes | None:
    """The whole (decompressed) body if it is at most ``limit`` bytes, else ``None`` (and the connection closed, not
    drained).

    A plain body whose ``Content-Length`` is over the limit is refused unread; a chunked or compressed one is counted
    as it arrives (a compressed one as it decompresses), since its size is known only once it has."""
    length = response.content_length
    if length is not None and length > limit and inflater is None:
        response.close()
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        if inflater is not None:
            inflated = inflater.feed(chunk, limit - size)
            if inflated is None:
                response.close()
                return None
            chunk = inflated
        size += len(chunk)
        if size > limit:
            response.close()
            return None
        chunks.append(chunk)
    if inflater is not None:
        inflater.finish()
    return b"".join(chunks)


async def _read_at_most(response: aiohttp.ClientResponse, limit: int, inflater: Inflater | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        if inflater is not None:
            inflated = inflater.feed(chunk, limit - size)
            if inflated is None:
                break
            chunk = inflated
        chunks.append(chunk)
        size += len(chunk)
    response.close()  # more than the limit: the rest goes with the connection
    return b"".join(chunks)[:limit]


def default_max_connections() -> int:
    """Half the process's open-file limit, at least 100 and at most 10,000: about 500 under Linux's usual 1,024,
    128 under macOS's 256 and 10,000 on a server that allows 20,000 or more. Each open connection is one file
    descriptor; the other half is left to the rest of the process."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # no resource module (Windows)
        return 1000
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 10_000
    return max(100, min(10_000, soft // 2))


def _environment_proxy(url: URL) -> str | None:
    import urllib.request

    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(url.host or ""):
        return None
    return proxies.get(url.scheme) or proxies.get("all")


def _has_idle_connections(session: aiohttp.ClientSession) -> bool:
    """Whether the pool holds an idle connection, which the next request may reuse."""
    return bool(getattr(session.connector, "_conns", None))


def _connect_timeout_error() -> type[BaseException]:
    """What aiohttp raises when a connection cannot be opened in time: ``ConnectionTimeoutError`` from 3.10, a
    ``ServerTimeoutError`` before (the transport sets no read timeout of aiohttp's, so it can only be the connect)."""
    found: type[BaseException] = getattr(aiohttp, "ConnectionTimeoutError", None) or aiohttp.ServerTimeoutError
    return found


def _reset_errors() -> tuple[type[BaseException], ...]:
    """aiohttp's errors for a connection found closed: ``ClientConnectionResetError`` exists from 3.10 only."""
    reset = getattr(aiohttp, "ClientConnectionResetError", ConnectionResetError)
    return (aiohttp.ServerDisconnectedError, reset)


_RESET = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def _closed_before_answering(exc: BaseException) -> bool:
    """The connection was found closed, or was reset, while the request was being written or before any byte of
    the answer.

    Which of these a server's close of a pooled connection looks like is a race. When its close arrives first, the
    request finds the connection closed (or ends as the server disconnecting). When the request arrives first (the
    server was slow to close, as on a busy machine), the server closes a socket holding a request it never read, and
    its kernel answers with a reset: ``ECONNRESET`` on the read, or ``EPIPE`` on the write. Both are the same
    event, a keep-alive connection the server closed before answering, and are treated alike."""
    if isinstance(exc, _reset_errors()):
        return True
    if isinstance(exc, OSError) and exc.errno in _RESET:
        return True
    return isinstance(exc, aiohttp.ClientOSError) and "Can not write request body" in str(exc)


def _relabel_as_deadline(error: errors.APITimeoutError, deadline: float | None) -> None:
    last = error.message
    error.phase = "deadline"
    error.message = f"the call's deadline of {deadline} s would pass before another attempt; the last one: {last}"
    error.args = (error.message,)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _abandon(session: aiohttp.ClientSession) -> None:
    """Drop a session whose event loop has ended (a client reused across ``asyncio.run`` calls, B-31).

    Its loop can no longer run the sockets' close callbacks, so the idle sockets are closed directly."""
    connector = session.connector
    if connector is None or connector.closed:
        return
    protocols = [proto for idle in connector._conns.values() for proto, _ in idle]
    protocols.extend(connector._acquired)
    for proto in protocols:
        transport = proto.transport
        sock = getattr(transport, "_sock", None)
        if sock is not None:
            sock.close()
            transport._sock = None  # type: ignore[union-attr]
    with contextlib.suppress(RuntimeError):
        connector._close()
    session._connector = None
