"""A sans-I/O decoder of AWS's binary event stream (``application/vnd.amazon.eventstream``): bytes in, messages out.

Beside :mod:`modelport._sse` and :mod:`modelport._ndjson`, for servers that frame their streams in binary (Amazon
Bedrock's ``ConverseStream``). One message is::

    total length (u32) | headers length (u32) | prelude CRC32 (u32) | headers | payload | message CRC32 (u32)

all integers big-endian. The prelude CRC covers the two lengths; the message CRC covers everything before it. Each
header is a name (u8 length, then the name), a type byte and a value: true, false, byte, short, integer, long,
byte array (u16 length), string (u16 length), timestamp (milliseconds, i64) or UUID (16 bytes).

Nothing is trusted: a CRC that does not match, lengths that cannot hold a message (or headers that overrun the
message), a header of an unknown type or cut short raise :class:`~modelport.StreamProtocolError`; a message longer
than ``max_event_bytes`` raises :class:`~modelport.ResponseTooLargeError` as soon as its prelude arrives, before
its body is read. Bytes of a message not yet whole are kept until more arrive, so any split of the input decodes
the same; at the end of the body, :meth:`EventStreamDecoder.unterminated` returns them (a cut message).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from ._sse import MAX_EVENT_BYTES, event_too_large
from .errors import ResponseTooLargeError, StreamProtocolError

__all__ = ["PRELUDE_LENGTH", "EventMessage", "EventStreamDecoder"]

PRELUDE_LENGTH = 12
"""The two lengths and the prelude's CRC."""
_MIN_LENGTH = PRELUDE_LENGTH + 4
_MAX_HEADERS_LENGTH = 128 * 1024
"""The most header bytes one message may carry (AWS's own bound)."""
_PRELUDE = struct.Struct(">III")
_FIXED: dict[int, struct.Struct] = {
    2: struct.Struct(">b"),
    3: struct.Struct(">h"),
    4: struct.Struct(">i"),
    5: struct.Struct(">q"),
    8: struct.Struct(">q"),
}
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class EventMessage:
    """One decoded message: its headers (name to value: ``bool``, ``int``, ``bytes`` or ``str``; a timestamp is
    milliseconds since the epoch, a UUID its 16 bytes; read-only, as messages with the same headers share them), its
    payload bytes, its ``message_type`` (``event``, ``exception`` or ``error``: the ``:message-type`` header,
    ``event`` when absent) and its ``event``, the name its type gives it (its ``:event-type``, ``:exception-type`` or
    ``:error-code``)."""

    __slots__ = ("event", "headers", "message_type", "payload")

    def __init__(self, headers: dict[str, Any], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload
        self.message_type, self.event = _kind(headers)

    @property
    def data(self) -> bytes:
        """The payload (the name an SSE event gives its data)."""
        return self.payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventMessage):
            return NotImplemented
        return (self.headers, self.payload) == (other.headers, other.payload)

    def __repr__(self) -> str:
        return f"EventMessage(headers={self.headers!r}, payload={self.payload!r})"


_NAME_HEADER = {"event": ":event-type", "exception": ":exception-type", "error": ":error-code"}


def _kind(headers: dict[str, Any]) -> tuple[str, str]:
    kind = headers.get(":message-type")
    kind = kind if isinstance(kind, str) else "event"
    key = _NAME_HEADER.get(kind)
    name = headers.get(key) if key else None
    return kind, name if isinstance(name, str) else ""


def _protocol_error(why: str, raw: bytes) -> StreamProtocolError:
    return StreamProtocolError(f"the event stream is corrupt: {why}", raw=raw[:PRELUDE_LENGTH].hex() if raw else None)


class EventStreamDecoder:
    """Feed it bytes as they arrive; it returns the messages each read completes."""

    __slots__ = ("_buffer", "_error", "_limit", "_total")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = max_event_bytes
        self._total = 0  # the length of the message being received, once its prelude is read
        self._error: StreamProtocolError | ResponseTooLargeError | None = None

    def feed(self, chunk: bytes) -> list[EventMessage]:
        """The messages ``chunk`` completes. When a message is corrupt, those before it are returned first and
        its error is raised by the next call (of :meth:`feed` or :meth:`flush`)."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += chunk
        messages: list[EventMessage] = []
        start = 0
        try:
            with memoryview(buffer) as view:
                while True:
                    if not self._total:
                        if len(buffer) - start < PRELUDE_LENGTH:
                            break
                        self._total = self._prelude(view, start)
                    end = start + self._total
                    if len(buffer) < end:
                        break
                    messages.append(_message(view, start, end))
                    start, self._total = end, 0
        except (StreamProtocolError, ResponseTooLargeError) as exc:
            if not messages:
                raise
            self._error = exc
        if start:
            del buffer[:start]
        return messages

    def _prelude(self, view: memoryview, start: int) -> int:
        """The total length of the message whose prelude starts at ``start``, checked."""
        total, headers_length, crc = _PRELUDE.unpack_from(view, start)
        if zlib.crc32(view[start : start + 8]) != crc:
            raise _protocol_error("the prelude's CRC does not match", bytes(view[start : start + PRELUDE_LENGTH]))
        if total < _MIN_LENGTH:
            raise _protocol_error(
                f"a message of {total} bytes is shorter than its prelude and CRC", bytes(view[start : start + 12])
            )
        if headers_length > total - _MIN_LENGTH or headers_length > _MAX_HEADERS_LENGTH:
            raise _protocol_error(
                f"{headers_length} header bytes do not fit a message of {total} bytes", bytes(view[start : start + 12])
            )
        if total > self._limit:
            raise event_too_large("event", self._limit)
        return int(total)

    def flush(self) -> list[EventMessage]:
        """Nothing: a message is whole only with its CRC (a corrupt one found by the last feed raises here)."""
        if self._error is not None:
            raise self._error
        return []

    def unterminated(self) -> bytes:
        """What was received after the last whole message; non-empty at the end of the body means a cut message."""
        return bytes(self._buffer)


_HEADER_CACHE: dict[bytes, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 256
_CACHED_HEADERS_BYTES = 512
"""Decoded headers by their bytes: a stream repeats a few sets of headers (one per event type) thousands of times."""


def _message(view: memoryview, start: int, end: int) -> EventMessage:
    """The whole message in ``view[start:end]`` (its prelude already checked): CRC, headers and payload."""
    (crc,) = _U32.unpack_from(view, end - 4)
    if zlib.crc32(view[start : end - 4]) != crc:
        raise _protocol_error("a message's CRC does not match", bytes(view[start : start + PRELUDE_LENGTH]))
    headers_end = start + PRELUDE_LENGTH + _U32.unpack_from(view, start + 4)[0]
    raw = bytes(view[start + PRELUDE_LENGTH : headers_end])
    headers = _HEADER_CACHE.get(raw)
    if headers is None:
        headers = _headers(raw, 0, len(raw))
        if len(raw) <= _CACHED_HEADERS_BYTES:
            if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
                _HEADER_CACHE.clear()
            _HEADER_CACHE[raw] = headers
    return EventMessage(headers, bytes(view[headers_end : end - 4]))


def _headers(raw: bytes, position: int, end: int) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    try:
        while position < end:
            size = raw[position]
            name = raw[position + 1 : position + 1 + size].decode("utf-8")
            position += 1 + size
            kind = raw[position]
            position += 1
            value, position = _value(raw, kind, position)
            if position > end:
                raise _protocol_error(f"header {name!r} runs past the headers", raw)
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise _protocol_error("a header is cut short or not text", raw) from None
    return headers


def _value(raw: bytes, kind: int, position: int) -> tuple[Any, int]:
    """The value of a header of type ``kind`` starting at ``position``, and where the next header starts."""
    if kind in (0, 1):
        return kind == 0, position
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed.unpack_from(raw, position)[0], position + fixed.size
    if kind in (6, 7):
        (size,) = _U16.unpack_from(raw, position)
        value = raw[position + 2 : position + 2 + size]
        if len(value) != size:
            raise IndexError
        return (value.decode("utf-8") if kind == 7 else value), position + 2 + size
    if kind == 9:
        value = raw[position : position + 16]
        if len(value) != 16:
            raise IndexError
        return value, position + 16
    raise _protocol_error(f"a header has type {kind}, which the event stream does not define", raw)
