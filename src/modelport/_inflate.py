"""Compressed response bodies, decompressed by modelport under its own size bound, on every aiohttp version.

The transport asks aiohttp for the body as it crossed the wire (``auto_decompress=False``) and offers only
``gzip`` and ``deflate``, which :mod:`zlib` reads. Each piece is decompressed with ``max_length`` set to what the
body may still bring, so a small compressed body that would expand past ``max_response_bytes`` (a "gzip bomb")
is stopped after at most that many bytes, never held whole in memory. aiohttp before 3.13.3 decompressed each
received piece without a bound; doing it here is what lets modelport run on the aiohttp a framework pins.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from . import errors

__all__ = ["ACCEPT_ENCODING", "Inflater", "inflater_for"]

ACCEPT_ENCODING = "gzip, deflate"
"""What the transport offers: the encodings :mod:`zlib` decompresses."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Inflater:
    """Decompresses one body piece by piece; :meth:`feed` never returns more than the room it is given.

    A ``gzip`` body may be several members one after another (RFC 1952), each decompressed in turn; anything else
    after the end of the compressed data, or a body that stops before it (:meth:`finish`), is refused."""

    __slots__ = ("_encoding", "_fed", "_started", "_zlib")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._zlib = zlib.decompressobj(_WBITS[encoding])
        self._started = False
        self._fed = False

    def feed(self, data: bytes, room: int) -> bytes | None:
        """The decompressed bytes of ``data``, or ``None`` when they would be more than ``room`` bytes (the
        rest is not decompressed). A body that is not valid ``gzip``/``deflate`` raises
        :class:`~modelport.ResponseValidationError`."""
        self._fed = self._fed or bool(data)
        parts: list[bytes] = []
        while True:  # a loop, not a recursion: one piece may hold any number of gzip members
            if self._zlib.eof and data:
                data = self._next_member(data)
            out = self._decompress(data, room)
            if out is None:
                return None
            parts.append(out)
            room -= len(out)
            data = self._zlib.unused_data if self._zlib.eof else b""
            if not data:  # what follows the end of one member, if anything
                return b"".join(parts)

    def _decompress(self, data: bytes, room: int) -> bytes | None:
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if self._encoding == "deflate" and not self._started:  # raw deflate, without the zlib header
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._encoding = "raw-deflate"
                return self._decompress(data, room)
            raise self._invalid(str(exc), data) from None
        if len(out) > room or self._zlib.unconsumed_tail:
            return None
        self._started = True
        return out

    def finish(self) -> None:
        """Called at the end of the body: one that stopped before the end of its compressed data (cut, without its
        checksum) raises :class:`~modelport.ResponseValidationError` rather than passing as a shorter body."""
        if self._fed and not self._zlib.eof:
            raise self._invalid("it stops before the end of the compressed data", b"")

    def _next_member(self, data: bytes) -> bytes:
        """``data`` comes after the end of the compressed data: the next ``gzip`` member, else refused."""
        if not self._encoding.endswith("gzip"):
            raise self._invalid("data follows the end of the compressed data", data)
        self._zlib = zlib.decompressobj(_WBITS[self._encoding])
        return data

    def _invalid(self, why: str, data: bytes) -> errors.ResponseValidationError:
        return errors.ResponseValidationError(
            f"the response body is not valid {self._encoding} ({why})", body=data[:200]
        )


def inflater_for(headers: Mapping[str, str]) -> Inflater | None:
    """An :class:`Inflater` for a response's ``Content-Encoding``; ``None`` for a body sent as it is.

    An encoding that was not offered (``br``, ``zstd``...) is refused with
    :class:`~modelport.ResponseValidationError` rather than passed on as if it were the text."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if not encoding or encoding == "identity":
        return None
    if encoding not in _WBITS:
        raise errors.ResponseValidationError(
            f"the server sent a body encoded as {encoding!r}, which was not asked for (only {ACCEPT_ENCODING})"
        )
    return Inflater(encoding)
