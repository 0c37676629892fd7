"""A sans-I/O newline-delimited JSON decoder: ``feed(bytes) -> [SSEEvent]``, no sockets, no asyncio.

Beside :mod:`modelport._sse`, for servers that stream one JSON object per line (Ollama's ``/api/chat``). Each
complete, non-blank line becomes one event named ``message`` whose data is the line, so a dialect parses both
framings the same way and the stream loop's timeout means the same thing: each next line that adds to the answer
is progress. A line is complete at its ``\\n`` (a ``\\r`` before it is dropped); bytes after the last newline are
kept until more arrive, so any split of the input, a multi-byte character included, decodes the same. A line
longer than ``max_event_bytes`` raises :class:`~modelport.ResponseTooLargeError` as soon as that much of it has
arrived.
"""

from __future__ import annotations

from ._sse import MAX_EVENT_BYTES, SSEEvent, event_too_large

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder:
    """Feed it bytes as they arrive; it returns one event per complete line."""

    __slots__ = ("_limit", "_pending", "_pending_size")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._limit = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._hold(chunk)
            return []
        complete = chunk[:end]
        if self._pending:
            self._pending.append(complete)
            complete = b"".join(self._pending)
            self._pending.clear()
            if len(complete) > self._limit:
                self._check_lines(complete)
        elif end > self._limit:
            self._check_lines(complete)
        if end + 1 < len(chunk):
            self._hold(chunk[end + 1 :])
        events = []
        for line in complete.split(b"\n"):
            line = line.rstrip(b"\r")
            if line.strip():
                events.append(SSEEvent("message", line))
        return events

    def _hold(self, piece: bytes) -> None:
        """Keep the start of an unterminated line; raise once it is longer than the limit."""
        if not self._pending:
            self._pending_size = 0
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > self._limit:
            raise event_too_large("line", self._limit)

    def _check_lines(self, complete: bytes) -> None:
        if max(map(len, complete.split(b"\n"))) > self._limit:
            raise event_too_large("line", self._limit)

    def flush(self) -> list[SSEEvent]:
        """At the end of the body: the last line, when the server did not end it with a newline."""
        last, self._pending = b"".join(self._pending).rstrip(b"\r"), []
        return [SSEEvent("message", last)] if last.strip() else []

    def unterminated(self) -> bytes:
        """What was received after the last complete line; non-empty at end of stream means a cut line."""
        return b"".join(self._pending)
