"""The two responses a cassette hands the transport in place of aiohttp's: one that records a real response's
body as it is read, and one that replays a recorded body without a socket.

Both offer what the transport and the stream loop read of a response (``status``, ``headers``, ``content_length``,
``content.readany()``, ``content.read(n)``, ``content.at_eof()``, ``read()``, ``release()``, ``close()``), so a
recorded body goes through the same decoders, and a body that was cut, an error status or an odd framing behaves on
replay as it did when it was recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from .. import errors
from .._inflate import inflater_for

__all__ = ["RecordingResponse", "ReplayResponse"]

Pieces = list[tuple[float, bytes]]
Done = Callable[[Pieces, "str | None"], None]

_MOST_DECODED = 1 << 30
"""A bound on one decoded piece; the transport has already refused a body past its ``max_response_bytes``."""


def decoded(pieces: Pieces, headers: Mapping[str, str]) -> Pieces:
    """The pieces of a body as the transport decoded them: a ``gzip``/``deflate`` body (the transport asks for the
    bytes as they crossed the wire and decompresses them itself) is stored decompressed, since the cassette file
    drops ``Content-Encoding``. A body that stops decoding (cut, or past the bound) keeps what decoded before."""
    try:
        inflater = inflater_for(headers)
    except errors.ResponseValidationError:  # an encoding the transport did not offer: it refused the body
        return pieces
    if inflater is None:
        return pieces
    out: Pieces = []
    for after, data in pieces:
        try:
            piece = inflater.feed(data, _MOST_DECODED)
        except errors.ResponseValidationError:
            break
        if piece is None:
            break
        out.append((after, piece))
    return out


class _Tee:
    """A response's body reader that keeps a copy of every piece it hands out, with the time since the last, and
    the name of the error that broke the body (``cut``), if one did."""

    def __init__(self, content: Any, pieces: Pieces) -> None:
        self._content = content
        self._pieces = pieces
        self._last = time.monotonic()
        self.cut: str | None = None

    async def keep(self, reading: Awaitable[bytes]) -> bytes:
        try:
            return self._keep(await reading)
        except aiohttp.ClientError as exc:  # the connection broke mid-body: replay breaks there too
            self.cut = type(exc).__name__
            raise

    def _keep(self, data: bytes) -> bytes:
        if data:
            now = time.monotonic()
            self._pieces.append((now - self._last, data))
            self._last = now
        return data

    async def readany(self) -> bytes:
        return await self.keep(self._content.readany())

    async def read(self, n: int = -1) -> bytes:
        return await self.keep(self._content.read(n))

    def at_eof(self) -> bool:
        return bool(self._content.at_eof())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._content, name)


class RecordingResponse:
    """A real response whose body is copied as it is read; ``done(pieces, cut)`` is called once, when the response
    is released or closed (or the cassette ends), with what was read and the name of the error that broke it."""

    def __init__(self, response: Any, done: Done) -> None:
        self._response = response
        self._pieces: Pieces = []
        self._done: Done | None = done
        self.content = _Tee(response.content, self._pieces)
        self.status = response.status
        self.headers = response.headers
        self.content_length = response.content_length

    async def read(self) -> bytes:
        return await self.content.keep(self._response.read())

    def release(self) -> None:
        self._response.release()
        self.finish()

    def close(self) -> None:
        self._response.close()
        self.finish()

    def finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(decoded(self._pieces, self.headers), self.content.cut)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


class _Playback:
    """The body reader of a replayed response: the recorded pieces, each after its recorded wait when the timing
    is kept, else at once; then the error that broke the recorded body (``cut``), if one did."""

    def __init__(self, pieces: Pieces, keep_timing: bool, cut: str | None = None) -> None:
        self._pieces = [(after if keep_timing else 0.0, data) for after, data in pieces if data]
        self._held = b""
        self.cut = cut

    async def readany(self) -> bytes:
        if self._held:
            data, self._held = self._held, b""
            return data
        if not self._pieces:
            if self.cut is not None:
                raise _broken(self.cut)
            return b""
        after, data = self._pieces.pop(0)
        if after > 0:
            await asyncio.sleep(after)
        return data

    async def read(self, n: int = -1) -> bytes:
        data = await self.readany()
        if n >= 0 and len(data) > n:
            data, self._held = data[:n], data[n:]
        return data

    def at_eof(self) -> bool:
        return not self._held and not self._pieces and self.cut is None

    def pieces(self) -> Pieces:
        """What is left to hand out, each piece with its wait."""
        return list(self._pieces)


class ReplayResponse:
    """A recorded response, replayed: no connection behind it."""

    def __init__(
        self, status: int, headers: Mapping[str, str], pieces: Pieces, *, keep_timing: bool, cut: str | None = None
    ) -> None:
        self.status = status
        self.headers = CIMultiDictProxy(CIMultiDict(headers))
        self.content = _Playback(pieces, keep_timing, cut)
        self.content_length = None if keep_timing or cut else sum(len(data) for _, data in pieces)
        self.reason = None

    async def read(self) -> bytes:
        parts = []
        while data := await self.content.readany():
            parts.append(data)
        return b"".join(parts)

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _broken(name: str) -> aiohttp.ClientError:
    """The aiohttp error named ``name`` (as recorded when a body broke), or a payload error when there is none."""
    kind = getattr(aiohttp, name, None)
    if isinstance(kind, type) and issubclass(kind, aiohttp.ClientError):
        try:
            return kind("the recorded body broke here")
        except TypeError:
            pass
    return aiohttp.ClientPayloadError("the recorded body broke here")
