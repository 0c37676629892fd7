"""Record and replay: a :class:`Cassette` records what crossed the wire and answers from the recording later,
with no server and no socket.

    from modelport.testing import Cassette

    with Cassette("tests/cassettes/greeting.yaml"):
        result = await client.create([UserMessage(content="Hi", source="user")])

Recording happens in the transport, where every dialect's request and response cross: the method, URL, headers
and body of the request, and the status, headers and body of the response exactly as they arrived (streams
included). Replay hands the recorded bytes to the same decoders, so stream parsing, tool calls, usage and errors
come out as they did. Secrets (credential headers, key query parameters, cookies, and each such value wherever
else it appears) are replaced by a marker before anything is written.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from yarl import URL

from .._cassette_slot import CASSETTE, CASSETTE_ENV
from ._cassette_errors import CassetteError, CassetteMismatchError
from ._cassette_file import (
    body_pieces,
    encode_body,
    encode_chunks,
    load_interactions,
    request_secrets,
    save_interactions,
    scrub_headers,
    scrub_url,
)
from ._cassette_match import match_key, mismatch_error
from ._cassette_wire import RecordingResponse, ReplayResponse

__all__ = ["CASSETTE_ENV", "MODES", "Cassette", "CassetteError", "CassetteMismatchError", "environment_cassette"]


MODES = ("none", "once", "new_episodes", "all")
"""``none``: replay only, a request with no recording fails. ``once``: record when the file is absent, else as
``none``. ``new_episodes``: replay what is recorded, record what is not. ``all``: record everything anew."""

Key = tuple[str, str, str]


class Cassette:
    """One file of recorded requests and responses.

    ``with Cassette(path):`` (or ``async with``) records or replays every request made inside, by any client;
    ``Cassette(path).wrap(client)`` only those of one client (and of the clients a Router or a cache holds).
    ``match_volatile`` names request body fields left out when requests are matched (a bare name anywhere, or a
    dotted path such as ``"metadata.trace_id"``); ``keep_timing`` records the time between pieces of a stream and
    replays it (replay is otherwise instant)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "once",
        *,
        match_volatile: Iterable[str] = (),
        keep_timing: bool = False,
    ) -> None:
        if mode not in MODES:
            raise CassetteError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self.match_volatile = tuple(match_volatile)
        self.keep_timing = keep_timing
        self.interactions: list[dict[str, Any]] = []
        """Every interaction in the cassette: those loaded from the file, then those recorded."""
        self._used: list[bool] = []
        self._keys: list[Key] = []
        self._secrets: set[str] = set()
        self._pending: list[RecordingResponse] = []
        self._replaying = self._recording = False
        self._dirty = False
        self._lock = threading.Lock()
        self._tokens: list[contextvars.Token[Any]] = []
        self._wrapped: list[Any] = []

    def __repr__(self) -> str:
        return f"Cassette({str(self.path)!r}, mode={self.mode!r}, {len(self.interactions)} interactions)"

    # -- using it --

    def __enter__(self) -> Cassette:
        self.load()
        self._tokens.append(CASSETTE.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        CASSETTE.reset(self._tokens.pop())
        self.save()

    async def __aenter__(self) -> Cassette:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def wrap(self, client: Any) -> Any:
        """Record or replay the requests of ``client`` only (and of every client it holds: a Router's deployments,
        a cache's client), from now until :meth:`save` (or :meth:`unwrap`). Returns ``client``."""
        self.load()
        for held in _clients_in(client):
            transport = getattr(held, "_transport", None)
            if transport is not None:
                transport.cassette = self
                self._wrapped.append(transport)
                self._secrets.update(getattr(held, "_secrets", ()))
        return client

    def unwrap(self) -> None:
        """Stop recording the clients given to :meth:`wrap`, and write what was recorded."""
        for transport in self._wrapped:
            transport.cassette = None
        self._wrapped.clear()
        self.save()

    def load(self) -> None:
        """Read the file (once) and decide, by the mode, whether this cassette replays, records, or both."""
        if self._replaying or self._recording:
            return
        exists = self.path.exists()
        if self.mode != "all":
            self.interactions = load_interactions(self.path)
        self._used = [False] * len(self.interactions)
        self._keys = [self._key_of(entry["request"]) for entry in self.interactions]
        self._replaying = self.mode in ("none", "new_episodes") or (self.mode == "once" and exists)
        self._recording = self.mode in ("new_episodes", "all") or (self.mode == "once" and not exists)

    def save(self) -> None:
        """Write the file if anything was recorded (what a response still open had read so far included)."""
        for response in list(self._pending):
            response.finish()
        if self._dirty:
            with self._lock:
                save_interactions(self.path, self.interactions, self._secrets)
                self._dirty = False

    @property
    def all_played(self) -> bool:
        """True when every recording loaded from the file has been replayed."""
        return all(self._used)

    # -- the transport's hook --

    async def exchange(
        self, url: URL, body: bytes | None, headers: Mapping[str, str], send: Callable[[], Awaitable[Any]]
    ) -> Any:
        """One attempt of the transport: answered from the recording, or sent (``send()``) and recorded."""
        self.load()
        stored, key = self._describe(url, body, headers)
        if self._replaying:
            found = self._take(key)
            if found is not None:
                return self._replay(found)
            if not self._recording:
                raise self._mismatch(key)
        response = await send()
        return self._record(stored, key, response)

    def answer(self, url: URL, body: bytes | None, headers: Mapping[str, str]) -> ReplayResponse:
        """The recorded response to a request (in order for repeated ones, the last one again once all were
        given), or :class:`CassetteMismatchError`: what ``python -m modelport.testing --cassette`` serves."""
        self.load()
        key = self._describe(url, body, headers)[1]
        found = self._take(key, again=True)
        if found is None:
            raise self._mismatch(key)
        return self._replay(found)

    def _describe(self, url: URL, body: bytes | None, headers: Mapping[str, str]) -> tuple[dict[str, Any], Key]:
        """A request as it is stored (its secrets learnt and scrubbed), and its matching key."""
        self._secrets.update(request_secrets(url, headers))
        stored = {
            "method": "GET" if body is None else "POST",
            "url": scrub_url(url, self._secrets),
            "headers": scrub_headers(headers, self._secrets),
            "body": encode_body(body, _content_type(headers), self._secrets),
        }
        return stored, self._key_of(stored)

    def _mismatch(self, key: Key) -> CassetteMismatchError:
        return mismatch_error(str(self.path), self.mode, key, list(zip(self._keys, self._used, strict=True)))

    def _key_of(self, request: Mapping[str, Any]) -> Key:
        return match_key(request["method"], request["url"], request.get("body"), self.match_volatile)

    def _take(self, key: Key, *, again: bool = False) -> dict[str, Any] | None:
        """The first unused recording matching ``key`` (or, ``again``, the last used one when none is left)."""
        last = None
        with self._lock:
            for index, recorded in enumerate(self._keys):
                if recorded != key or "response" not in self.interactions[index]:
                    continue
                if not self._used[index]:
                    self._used[index] = True
                    return self.interactions[index]
                last = self.interactions[index]
        return last if again else None

    def _replay(self, entry: Mapping[str, Any]) -> ReplayResponse:
        response = entry["response"]
        body = response.get("body")
        pieces = body_pieces(body) if body is not None else []
        return ReplayResponse(
            int(response["status"]),
            response.get("headers") or {},
            pieces,
            keep_timing=self.keep_timing,
            cut=response.get("cut"),
        )

    def _record(self, request: dict[str, Any], key: Key, response: Any) -> RecordingResponse:
        entry: dict[str, Any] = {"request": request}
        head = {
            "status": response.status,
            "headers": scrub_headers(response.headers, self._secrets, response=True),
        }
        content_type = response.headers.get("content-type", "")

        def done(pieces: list[tuple[float, bytes]], cut: str | None) -> None:
            if self.keep_timing:
                head["body"] = encode_chunks(pieces, content_type, self._secrets)
            else:
                joined = b"".join(piece for _, piece in pieces)
                head["body"] = encode_body(joined, content_type, self._secrets)
            if cut is not None:
                head["cut"] = cut  # the error that broke the body after these bytes: replay raises it there
            entry["response"] = head
            with self._lock:
                self._pending.remove(recording)
                self._dirty = True

        recording = RecordingResponse(response, done)
        with self._lock:
            self.interactions.append(entry)
            self._keys.append(key)
            self._used.append(True)
            self._pending.append(recording)
        return recording


_environment: Cassette | None = None
_environment_lock = threading.Lock()


def environment_cassette() -> Cassette | None:
    """The process's cassette named by ``MODELPORT_CASSETTE`` (one for the whole process, written at exit), or
    ``None`` when the variable is not set."""
    global _environment
    path = os.environ.get(CASSETTE_ENV)
    if not path:
        return None
    with _environment_lock:
        if _environment is None or str(_environment.path) != path:
            import atexit

            _environment = Cassette(path, os.environ.get("MODELPORT_CASSETTE_MODE") or "once")
            atexit.register(_environment.save)
        return _environment


def _clients_in(client: Any) -> list[Any]:
    """``client`` and the clients it holds: a cache's client, a Router's deployments', an adapter's, recursively."""
    found = [client]
    inner = getattr(client, "client", None) or getattr(client, "_client", None)
    if inner is not None and inner is not client:
        found.extend(_clients_in(inner))
    for deployment in getattr(client, "deployments", None) or ():
        found.extend(_clients_in(getattr(deployment, "client", deployment)))
    return found


def _content_type(headers: Mapping[str, str]) -> str:
    return next((value for name, value in headers.items() if name.lower() == "content-type"), "application/json")
