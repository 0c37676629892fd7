"""A sans-I/O server-sent-events decoder: ``feed(bytes) -> [SSEEvent]``, no sockets, no asyncio.

It follows the WHATWG event-stream rules: lines end in CR, LF or CRLF (also when a CRLF is split between two
reads); a blank line dispatches an event if it has data; ``:`` lines are comments; ``data`` lines are joined with
``\\n``; one space after the colon is dropped. Lines are split before anything is decoded, so a multi-byte character
split across reads is safe, and an unterminated line is kept as a list of pieces, so a huge event costs linear time.

One lenient extension: llama.cpp's server writes errors as a bare ``error: {...}`` line; that becomes an event
named ``error``, so it cannot pass silently (wire-behaviour B-40).

What an event not yet dispatched holds (its data lines and the unterminated line) is counted as it arrives, so one
endless line or event cannot grow without bound: past ``max_event_bytes`` the decoder raises
:class:`~modelport.ResponseTooLargeError`.
"""

from __future__ import annotations

from itertools import islice

from .errors import ResponseTooLargeError

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder", "SSEEvent", "event_too_large"]

MAX_EVENT_BYTES = 16 << 20
"""The most one stream event (or line) may hold, 16 MiB, unless ``max_response_bytes`` is smaller."""


def event_too_large(what: str, limit: int) -> ResponseTooLargeError:
    """The error for a stream ``what`` ("event", "line") that grew past ``limit`` bytes."""
    return ResponseTooLargeError(
        f"a stream {what} grew past {limit:,} bytes, the most max_response_bytes allows for one {what} (the smaller "
        f"of max_response_bytes and {MAX_EVENT_BYTES >> 20} MiB); the connection was dropped",
        limit=limit,
    )


class SSEEvent:
    """One dispatched event: its name (``"message"`` when none was given), its data bytes and the last id."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(self, event: str, data: bytes, id: str | None = None, retry: int | None = None) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEEvent):
            return NotImplemented
        return (self.event, self.data, self.id, self.retry) == (other.event, other.data, other.id, other.retry)

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data!r}, id={self.id!r})"


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events each read completes."""

    __slots__ = (
        "_counted",
        "_data",
        "_data_size",
        "_event",
        "_id",
        "_limit",
        "_pending",
        "_pending_size",
        "_retry",
        "_room",
        "_skip_lf",
    )

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pending: list[bytes] = []
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[bytes] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._limit = max_event_bytes
        self._pending_size = 0
        """Bytes of the unterminated line (while there is one)."""
        self._data_size = 0
        """Bytes of the first :attr:`_counted` data lines of the event not yet dispatched."""
        self._counted = 0
        self._room = max_event_bytes
        """What the event not yet dispatched may still hold: the limit less :attr:`_data_size`."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
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
            if len(complete) > self._room:
                self._check_events(complete)
        elif end > self._room:
            self._check_events(complete)
        events = self._lines(complete.split(b"\n"))
        if end + 1 < len(chunk):  # after the complete lines, which may end the event held so far
            self._hold(chunk[end + 1 :])
        return events

    def _hold(self, piece: bytes) -> None:
        """Keep the start of an unterminated line, and count what its event now holds."""
        if not self._pending:
            self._pending_size = 0
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > self._room:
            raise event_too_large("event", self._limit)

    def _check_events(self, complete: bytes) -> None:
        """Complete lines longer than the limit: raise if one event among them is (events end at a blank line).
        The first continues the event held so far, unless the read starts with the blank line that ends it."""
        sizes = [len(piece) for piece in complete.split(b"\n\n")]
        if complete[:1] != b"\n":
            sizes[0] += self._data_size
        if max(sizes) > self._limit:
            raise event_too_large("event", self._limit)

    def _count_held(self) -> None:
        """At the end of a read inside an event: count its data lines so far, and raise if it holds too much."""
        data = self._data
        if len(data) > self._counted:  # only the lines not counted yet, so a long event costs linear time
            self._data_size += sum(len(line) + 1 for line in islice(data, self._counted, None))
            self._counted = len(data)
            self._room = self._limit - self._data_size
        if (self._pending_size if self._pending else 0) > self._room:
            raise event_too_large("event", self._limit)

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data: "):
                data.append(line[6:])
            elif not line:
                if data:
                    events.append(self._dispatch())
                    data = self._data
                else:
                    self._event = None
            elif line[0] != 58:  # not a ':' comment
                self._field(line)
        if data:  # an event continues in the next read: count what it holds so far
            self._count_held()
        return events

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit():
                self._retry = int(value)
        elif name == b"error":
            self._event = "error"
            self._data.append(value)

    def _dispatch(self) -> SSEEvent:
        data = self._data
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        event = SSEEvent(self._event or "message", payload, self._id, self._retry)
        data.clear()  # the same list for the next event: nothing new outlives the read
        self._event = None
        if self._counted:
            self._data_size = self._counted = 0
            self._room = self._limit
        return event

    def flush(self) -> list[SSEEvent]:
        """At the end of the body: nothing. An event without its blank line is a cut event (B-39), which
        :meth:`unterminated` reports."""
        return []

    def unterminated(self) -> bytes:
        """What was received after the last complete event: a partial line, or lines not yet dispatched.

        Non-empty at end of stream means the server stopped in the middle of an event (wire-behaviour B-39)."""
        parts = [b"data: " + d for d in self._data]
        parts.extend(self._pending)
        return b"\n".join(parts)
