"""What the fake server is scripted with and what it records: :class:`Reply` (one scripted response, with its
faults) and :class:`RecordedRequest` (one request as it arrived). Data only, shared by the server and by each
dialect's fake module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["RecordedRequest", "Reply", "error_reply"]


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


def error_reply(status: int, message: str, kind: str) -> Reply:
    """An OpenAI-shaped error response."""
    return Reply.json({"error": {"message": message, "type": kind}}, status=status)
