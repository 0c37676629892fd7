"""A fake server on loopback that speaks every dialect modelport speaks, scripted per test.

It runs its own event loop on a thread, so it serves async tests, sync code and other processes alike. Script it
with :class:`Reply` objects (taken first in, first out); with nothing scripted it answers like a small,
deterministic model, in the dialect of the request (see :mod:`modelport.testing._routes`). It records every request
and counts open connections, so a test can check that the client sent what it should and closed what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from ._reply import RecordedRequest, Reply, error_reply
from ._routes import default_reply, request_id_header

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


class FakeServer:
    """``with FakeServer() as server:`` ... ``OpenAIChatCompletionClient(base_url=server.base_url, ...)``.

    It always answers: when building the default reply raises, it sends a 500 JSON error saying why, and a request
    it cannot parse gets a 400. ``served`` counts the labelled scripted replies taken so far, by label."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Callable[[RecordedRequest], Reply] | None = None
    ) -> None:
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
                    await self._send(error_reply(400, f"malformed request: {exc}", "invalid_request_error"), peer)
                    return
                if request is None:
                    return
                if not await self._send(self._reply_for(request), peer, request_id_header(request)):
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
            return error_reply(500, text, "server_error")

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


async def _reset_at_next_request(peer: _Peer) -> None:
    """Wait for the client's next request (or its going away), then have the connection's close send a reset."""
    with contextlib.suppress(ValueError):
        await _read_request(peer.reader)
    sock = peer.writer.get_extra_info("socket")
    if sock is not None:  # an immediate close (linger 0) resets the connection, as unread data would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


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
