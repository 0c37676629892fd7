"""The provider seam: what a wire dialect supplies to the shared pipeline, and nothing provider-specific.

A dialect is sans-I/O and decides everything about its wire, per call: the URL (the model and streaming may change
it), the request body, how its stream is framed (a decoder: server-sent events, newline-delimited JSON, or a binary
framing), how a whole response and each stream event feed the provider-neutral
:class:`~modelport._assembly.Assembler`, how its error envelopes map onto the error tree, and how its streams end.
The transport, the stream loop, the assembler, the finish step, observers, cache keys, contexts and components are
shared; a client class chooses its dialect and names the server and the credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from yarl import URL

from .. import errors
from ._errors import error_from_payload, error_from_response

if TYPE_CHECKING:
    from .._assembly import Assembler
    from .._request import Request
    from .._sse import SSEEvent
    from ..model_info import ModelInfo

__all__ = [
    "KEEPALIVE",
    "PROGRESS",
    "TERMINAL",
    "Decoder",
    "Dialect",
    "JSONErrors",
    "decode_event",
    "join_path",
]

KEEPALIVE, PROGRESS, TERMINAL = 0, 1, 2
"""What one stream event was: a keep-alive, an event of the answer, or the stream's end. Only :data:`TERMINAL`
steers the stream loop. Whether an event is progress for ``timeout`` is not the dialect's word: it is whether the
event added to the answer (the assembler's :attr:`~modelport._assembly.Assembler.received` moved), so an event that
carries nothing is no more progress than a keep-alive, in every dialect."""


class Decoder(Protocol):
    """A sans-I/O stream framing: bytes in as they arrive, whole events out."""

    def feed(self, chunk: bytes) -> list[Any]:
        """The events that ``chunk`` completes."""
        ...

    def flush(self) -> list[Any]:
        """At the end of the body: an event the framing allows to end without its terminator (a last NDJSON line)."""
        ...

    def unterminated(self) -> bytes:
        """What arrived after the last whole event; not empty at the end of the body means a cut event."""
        ...


class Dialect(Protocol):
    """What a wire dialect supplies. Implementations are small frozen objects of data and pure functions."""

    @property
    def name(self) -> str:
        """The dialect's name: ``"openai"``, ``"anthropic"``..."""
        ...

    @property
    def framing(self) -> str:
        """How its streams are framed: ``"sse"``, ``"ndjson"``... (a server that answers a stream request with one
        JSON body is read whole unless the framing is itself JSON lines)."""
        ...

    @property
    def split_think_tags(self) -> bool:
        """Whether the assembler splits ``<think>...</think>`` out of answer text."""
        ...

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        """:class:`~modelport.InvalidRequestError` naming the first create argument this dialect cannot send."""
        ...

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        """Where a call goes: the client's ``base`` with the dialect's path for ``model``, streamed or not."""
        ...

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body of a non-streamed call (``args``: the client's create arguments merged with the call's,
        validated); :class:`~modelport.InvalidRequestError` naming the field it cannot send."""
        ...

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The body of the same call, streamed (``payload`` is what :meth:`build` returned; it is not changed)."""
        ...

    def decoder(self, max_event_bytes: int) -> Decoder:
        """A new decoder for one stream's body; one event (or line) longer than ``max_event_bytes`` raises
        :class:`~modelport.ResponseTooLargeError`."""
        ...

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        """Feed a whole (non-streamed) response into ``asm``; typed errors for an error body."""
        ...

    def parse_event(self, event: SSEEvent, asm: Assembler, *, provider: str) -> int:
        """Feed one stream event into ``asm``: :data:`KEEPALIVE`, :data:`PROGRESS` or :data:`TERMINAL`. An in-band
        error raises its typed error with ``partial`` set to what arrived. A part of the answer the dialect keeps to
        itself for now, rather than giving it to ``asm``, is counted with ``asm.mark_received()``."""
        ...

    def error(self, status: int, headers: Mapping[str, str], raw: bytes, *, provider: str) -> errors.APIStatusError:
        """The typed error of an HTTP error response (status 400 and above)."""
        ...

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Whether a stream that reaches the end of its body without the terminal event is still whole."""
        ...


class JSONErrors:
    """The error envelopes most servers send (OpenAI's, Azure's, vLLM's, Mistral's, Anthropic's, Ollama's,
    FastAPI's, HTML pages...), for dialects whose errors need nothing of their own."""

    __slots__ = ()

    def error(self, status: int, headers: Mapping[str, str], raw: bytes, *, provider: str) -> errors.APIStatusError:
        return error_from_response(status, headers, raw, provider=provider)


def join_path(base: URL, path: str) -> URL:
    """``base`` with ``path`` appended to its path; its query (Azure's ``api-version``) is kept."""
    joined = base.with_path(base.path.rstrip("/") + "/" + path.lstrip("/"), encoded=False)
    return joined.with_query(base.query) if base.query_string else joined


def decode_event(event: SSEEvent, asm: Assembler, *, provider: str) -> Any:
    """The JSON data of an event. An ``error`` event, or data of ``{"type": "error"}``, raises its typed error;
    data that is not JSON raises :class:`~modelport.StreamProtocolError` (with the raw text, truncated)."""
    data = event.data
    try:
        chunk: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        if event.event == "error":
            raise error_from_payload(
                {"message": data.decode("utf-8", "replace")},
                provider=provider,
                request_id=asm.request_id,
                partial=asm.result(),
            ) from None
        raise errors.StreamProtocolError(
            f"{provider} sent an event whose data is not valid JSON",
            raw=data[:500].decode("utf-8", "replace"),
            provider=provider,
            request_id=asm.request_id,
            partial=asm.result(),
        ) from None
    if event.event == "error" or (type(chunk) is dict and chunk.get("type") == "error"):
        raise error_from_payload(chunk, provider=provider, request_id=asm.request_id, partial=asm.result())
    return chunk
