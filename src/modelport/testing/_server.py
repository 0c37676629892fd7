"""A fake OpenAI-compatible server on loopback, scripted per test.

It runs its own event loop on a thread, so it serves async tests, sync code and other processes alike. Script it
with :class:`Reply` objects (taken first in, first out); with nothing scripted it answers like a small, deterministic
model (see :mod:`modelport.testing._default`). It records every request and counts open connections, so a test can
check that the client sent what it should and closed what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["FakeServer", "RecordedRequest", "Reply"]

_REASONS = {
    200: "OK",
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
    the status line; ``never_respond`` reads the request and sends nothing at all.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    segments: list[tuple[float, bytes]] = field(default_factory=list)
    chunked: bool = False
    reset: bool = False
    stall: bool = False
    head_delay: float = 0.0
    never_respond: bool = False

    @classmethod
    def json(
        cls, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, head_delay: float = 0.0
    ) -> Reply:
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
    """``with FakeServer() as server:`` ... ``OpenAIChatCompletionClient(base_url=server.base_url, ...)``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Callable[[RecordedRequest], Reply] | None = None
    ) -> None:
        from ._default import default_reply

        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.open_connections = 0
        self.connections_opened = 0
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
        with self._lock:
            self._replies.extend(replies)
        return self

    def reset(self) -> None:
        """Forget scripted replies and recorded requests (between tests)."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    @property
    def pending_replies(self) -> int:
        return len(self._replies)

    def start(self) -> FakeServer:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="modelport-fake-server", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
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
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                    reply = self._replies.popleft() if self._replies else None
                if reply is None:
                    reply = self._default(request)
                if not await self._send(reply, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            writer.close()

    async def _send(self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Write one reply; False when the connection must end afterwards."""
        if reply.never_respond:
            await reader.read()  # until the client gives up
            return False
        if reply.head_delay:
            await asyncio.sleep(reply.head_delay)
        headers = {k.lower(): v for k, v in reply.headers.items()}
        headers.setdefault("x-request-id", f"req_fake_{len(self.requests)}")
        if reply.chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(sum(len(data) for _, data in reply.segments))
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        for delay, data in reply.segments:
            if delay:
                await writer.drain()
                await asyncio.sleep(delay)
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if reply.chunked else data)
        await writer.drain()
        if reply.reset:
            return False
        if reply.stall:
            await reader.read()
            return False
        if reply.chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return True


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    return RecordedRequest(method, url.path, parse_qs(url.query), headers, body)


def serve_forever(host: str, port: int) -> None:  # pragma: no cover - used by the benchmark and the CLI
    server = FakeServer(host, port).start()
    print(f"fake OpenAI-compatible server on {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
