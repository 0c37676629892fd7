"""A fake OpenAI-compatible server on loopback, scripted per test.

It runs its own event loop on a thread, so it serves async tests, sync code and other processes alike. Script it
with :class:`Reply` objects (taken first in, first out); with nothing scripted it answers like a small, deterministic
model (see :mod:`modelport.testing._default`). It records every request and counts open connections, so a test can
check that the client sent what it should and closed what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["FakeServer", "RecordedRequest", "Reply"]

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    520: "Unknown Error",
    529: "Overloaded",
}


@dataclass
class Reply:
    """One scripted response.

    ``segments`` are written in order, each after its delay, as chunks of a chunked body (``chunked=True``) or one
    after another under a content-length. Faults: ``reset`` closes the connection after the segments without ending
    the body; ``stall`` keeps it open, sending nothing more, until the client goes away; ``head_delay`` waits before
    the status line; ``never_respond`` reads the request and sends nothing at all; ``content_length`` overrides the
    header (a promise larger than the body is a lie: the connection closes after the body); ``repeat`` writes one more
    piece every so often after the segments, until the client goes away (or ``repeat_for`` seconds pass);
    ``reset_next`` resets the kept-alive connection when the client's next request arrives on it.

    Every wait ends early when the client disconnects, so a fault never outlives its client. ``label`` names the
    reply in :attr:`FakeServer.served` when it is taken from the script.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    segments: list[tuple[float, bytes]] = field(default_factory=list)
    chunked: bool = False
    reset: bool = False
    stall: bool = False
    head_delay: float = 0.0
    never_respond: bool = False
    content_length: int | None = None
    repeat: tuple[float, bytes] | None = None
    repeat_for: float | None = None
    label: str | None = None
    close_after: bool = False
    """Close the connection once the response is complete, although its headers advertise keep-alive (as
    llama.cpp's server does after every streamed response)."""
    reset_next: bool = False
    """Once the response is complete, keep the connection open until the client's next request on it has arrived,
    then close it with a reset instead of an answer (that request is not recorded). It is what a server that closes
    after each response does when it is slow to close (a busy machine): the client's next request reaches the
    socket first, and closing a socket that holds a request it never read makes the kernel send a reset."""

    @classmethod
    def json(
        cls, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, head_delay: float = 0.0
    ) -> Reply:
        """A JSON body (``body`` serialised with orjson) under a content-length."""
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            segments=[(0.0, orjson.dumps(body))],
            head_delay=head_delay,
        )

    @classmethod
    def text(
        cls,
        body: str | bytes,
        *,
        status: int = 200,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A text body (an HTML page with ``content_type="text/html"``) under a content-length."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status=status, headers={"content-type": content_type, **(headers or {})}, segments=[(0.0, data)])

    @classmethod
    def sse(
        cls,
        events: Iterable[Any],
        *,
        done: bool = True,
        split: int | None = None,
        delay: float = 0.0,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        reset: bool = False,
        stall: bool = False,
        line_ending: str = "\n",
    ) -> Reply:
        """A ``text/event-stream`` body. Each event: a dict (sent as ``data: <json>``), a ``str`` (raw SSE text,
        such as ``": keep-alive\\n\\n"``) or ``bytes`` (raw). ``split`` cuts the body into pieces of that many bytes;
        otherwise each event is its own piece. ``delay`` waits before each piece."""
        pieces = [_sse_bytes(event, line_ending) for event in events]
        if done:
            pieces.append(f"data: [DONE]{line_ending}{line_ending}".encode())
        if split:
            body = b"".join(pieces)
            pieces = [body[i : i + split] for i in range(0, len(body), split)]
        return cls(
            status=status,
            headers={"content-type": "text/event-stream", **(headers or {})},
            segments=[(delay, piece) for piece in pieces],
            chunked=True,
            reset=reset,
            stall=stall,
        )

    @classmethod
    def hang(cls) -> Reply:
        """Accept the request and never answer."""
        return cls(never_respond=True)

    @classmethod
    def trickle(
        cls,
        events: Iterable[Any],
        *,
        size: int = 1,
        interval: float = 0.05,
        done: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A well-formed event stream (events as for :meth:`sse`) sent ``size`` bytes at a time, one piece every
        ``interval`` seconds: bytes keep coming, but a whole event takes many intervals to arrive."""
        if size < 1:
            raise ValueError(f"size must be 1 or more, got {size}")
        return cls.sse(events, done=done, split=size, delay=interval, headers=headers)

    @classmethod
    def lying_length(
        cls,
        body: str | bytes,
        *,
        missing: int = 100,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """``body`` under a ``Content-Length`` that promises ``missing`` more bytes than are sent; then the
        connection closes."""
        data = body.encode() if isinstance(body, str) else body
        return cls(
            status=status,
            headers={"content-type": content_type, **(headers or {})},
            segments=[(0.0, data)],
            content_length=len(data) + missing,
        )

    @classmethod
    def keep_alive_flood(
        cls,
        *,
        interval: float = 0.01,
        duration: float | None = None,
        comment: bytes = b": keep-alive\n\n",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A 200 event stream that sends only ``comment`` (a keep-alive), one every ``interval`` seconds, until the
        client goes away, or for ``duration`` seconds and then ends the body (no event, no ``[DONE]``)."""
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        return cls(
            headers={"content-type": "text/event-stream", **(headers or {})},
            chunked=True,
            repeat=(interval, comment),
            repeat_for=duration,
        )

    @classmethod
    def redirect(cls, location: str, *, status: int = 307, headers: Mapping[str, str] | None = None) -> Reply:
        """A redirect to ``location`` (absolute, or a path on this server) with an empty body."""
        return cls(status=status, headers={"location": location, **(headers or {})})

    @classmethod
    def huge(
        cls,
        size: int = 50 * 1024 * 1024,
        *,
        block: int = 1024 * 1024,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A JSON object of exactly ``size`` bytes, ``{"padding": "xxx..."}``, that is not a completion. It is kept
        as one ``block``-sized piece written again and again, so it costs ``block`` bytes of memory, not ``size``."""
        head, tail = b'{"padding": "', b'"}'
        fill = size - len(head) - len(tail)
        if fill < 0:
            raise ValueError(f"size must be at least {len(head) + len(tail)}, got {size}")
        piece = b"x" * min(block, fill)
        count, rest = divmod(fill, len(piece)) if piece else (0, 0)
        segments = [(0.0, head), *[(0.0, piece)] * count, (0.0, b"x" * rest), (0.0, tail)]
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            segments=[(delay, data) for delay, data in segments if data],
        )


def _sse_bytes(event: Any, line_ending: str) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return b"data: " + orjson.dumps(event) + (line_ending * 2).encode()


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class FakeServer:
    """``with FakeServer() as server:`` ... ``OpenAIChatCompletionClient(base_url=server.base_url, ...)``.

    It always answers: when building the default reply raises, it sends a 500 JSON error saying why, and a request
    it cannot parse gets a 400. ``served`` counts the labelled scripted replies taken so far, by label."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Callable[[RecordedRequest], Reply] | None = None
    ) -> None:
        from ._default import default_reply

        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.served: Counter[str] = Counter()
        self.open_connections = 0
        self.connections_opened = 0
        self.close_after_streams = False
        """Close every connection after a streamed response while advertising keep-alive (llama.cpp's server)."""
        self._replies: deque[Reply] = deque()
        self._default = default or default_reply
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def add(self, *replies: Reply) -> FakeServer:
        """Script ``replies``: each request takes the oldest one left; with none left, the default model answers."""
        with self._lock:
            self._replies.extend(replies)
        return self

    def reset(self) -> None:
        """Forget scripted replies, recorded requests, served counts and modes (between tests)."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()
            self.served.clear()
            self.close_after_streams = False

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    def start(self) -> FakeServer:
        """Listen on a thread of its own; returns once it listens, or raises what binding raised (``OSError``)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
                )
            except BaseException as exc:  # handed to start(), which raises it on the caller's thread
                failure.append(exc)
                loop.close()
                ready.set()
                return
            self._loop = loop
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        thread = threading.Thread(target=run, name="modelport-fake-server", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (ending any fault in progress), then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open_connections += 1
        self.connections_opened += 1
        peer = _Peer(reader, writer)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except ValueError as exc:
                    await self._send(_error_reply(400, f"malformed request: {exc}", "invalid_request_error"), peer)
                    return
                if request is None:
                    return
                if not await self._send(self._reply_for(request), peer, _request_id_header(request)):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            writer.close()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        """Record ``request`` and take the next scripted reply, else build the default one; a default that raises
        becomes a 500 error reply, so the client always gets an answer."""
        with self._lock:
            self.requests.append(request)
            reply = self._replies.popleft() if self._replies else None
            if reply is not None and reply.label is not None:
                self.served[reply.label] += 1
        if reply is not None:
            return reply
        try:
            return self._default(request)
        except Exception as exc:
            text = f"fake server could not build a reply: {type(exc).__name__}: {exc}"
            return _error_reply(500, text, "server_error")

    async def _send(self, reply: Reply, peer: _Peer, id_header: str = "x-request-id") -> bool:
        """Write one reply, its request id under ``id_header``; False when the connection must end afterwards."""
        if reply.never_respond:
            await peer.reader.read()  # until the client gives up
            return False
        if reply.head_delay and not await peer.pause(reply.head_delay):
            return False
        size = sum(len(data) for _, data in reply.segments)
        peer.writer.write(self._head(reply, size, id_header))
        for delay, data in reply.segments:
            if delay and not await peer.pause(delay):
                return False
            peer.write(data, reply.chunked)
            await peer.writer.drain()
        if reply.repeat is not None and not await _repeat(reply.repeat, reply.repeat_for, reply.chunked, peer):
            return False
        if reply.reset or (reply.content_length is not None and reply.content_length != size):
            return False
        if reply.stall:
            await peer.reader.read()
            return False
        if reply.chunked:
            peer.writer.write(b"0\r\n\r\n")
            await peer.writer.drain()
        if reply.reset_next:
            await _reset_at_next_request(peer)
            return False
        if reply.close_after or (self.close_after_streams and reply.chunked):
            peer.writer.write_eof()
            return False
        return True

    def _head(self, reply: Reply, size: int, id_header: str) -> bytes:
        """The status line and headers of ``reply`` whose segments hold ``size`` bytes."""
        headers = {k.lower(): v for k, v in reply.headers.items()}
        headers.setdefault(id_header, f"req_fake_{len(self.requests)}")
        if reply.chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(size if reply.content_length is None else reply.content_length)
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        return head.encode("latin-1")


class _Peer:
    """One client connection, as a fault sees it: can it still write, and has the client gone away?"""

    POLL = 0.05

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def gone(self) -> bool:
        """True once the client closed, half-closed (sent EOF) or reset the connection."""
        return self.writer.is_closing() or self.reader.at_eof() or self.reader.exception() is not None

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``, but stop as soon as the client goes away; False if it did."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not self.gone():
            left = end - loop.time()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, self.POLL))
        return False

    def write(self, data: bytes, chunked: bool) -> None:
        """Write ``data``, as one chunk when ``chunked`` (an empty piece is skipped: it would end the body);
        ``ConnectionResetError`` once the client has gone away, so no fault writes into a dead connection."""
        if self.gone():
            raise ConnectionResetError("the client went away")
        if not chunked:
            self.writer.write(data)
        elif data:
            self.writer.writelines((b"%x\r\n" % len(data), data, b"\r\n"))


async def _repeat(repeat: tuple[float, bytes], duration: float | None, chunked: bool, peer: _Peer) -> bool:
    """Write ``repeat``'s piece once per its interval until the client goes away (then False), or until
    ``duration`` seconds have passed (then True)."""
    interval, data = repeat
    loop = asyncio.get_running_loop()
    end = None if duration is None else loop.time() + duration
    while end is None or loop.time() < end:
        if not await peer.pause(interval):
            return False
        if interval <= 0:
            await asyncio.sleep(0)  # a zero interval still lets the server serve others
        peer.write(data, chunked)
        await peer.writer.drain()
    return True


def _request_id_header(request: RecordedRequest) -> str:
    """Where the request id goes: Anthropic's API sends ``request-id``, OpenAI's ``x-request-id``."""
    from ._anthropic import is_anthropic_request

    return "request-id" if is_anthropic_request(request) else "x-request-id"


async def _reset_at_next_request(peer: _Peer) -> None:
    """Wait for the client's next request (or its going away), then have the connection's close send a reset."""
    with contextlib.suppress(ValueError):
        await _read_request(peer.reader)
    sock = peer.writer.get_extra_info("socket")
    if sock is not None:  # an immediate close (linger 0) resets the connection, as unread data would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _error_reply(status: int, message: str, kind: str) -> Reply:
    return Reply.json({"error": {"message": message, "type": kind}}, status=status)


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """The next request on the connection, ``None`` when the client closed it; ``ValueError`` when the head or
    its ``content-length`` cannot be parsed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise ValueError("the request head is too long") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) != 3:
        raise ValueError(f"bad request line {lines[0][:100]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))  # ValueError when it is not a number
    if length < 0:
        raise ValueError(f"negative content-length {length}")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    return RecordedRequest(method, url.path, parse_qs(url.query), headers, body)


def serve_forever(host: str, port: int) -> None:  # pragma: no cover - used by the benchmark and the CLI
    server = FakeServer(host, port).start()
    print(f"fake OpenAI-compatible server on {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
