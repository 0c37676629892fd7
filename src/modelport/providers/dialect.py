"""The provider seam: what a wire dialect supplies to the shared pipeline, and nothing provider-specific.

A dialect is sans-I/O: it builds a request body from modelport's messages, parses a whole response or one stream
event into the provider-neutral :class:`~modelport._assembly.Assembler`, and says how its streams end. The
transport, the stream loop, the assembler, the finish step, events, cache keys, contexts and components are shared;
a client class chooses its dialect and names the URL and the authentication. Adding a provider is one dialect
module, one client module, and the fake server's matching routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from .. import errors
from ._status import error_from_payload

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .._assembly import Assembler
    from .._sse import SSEEvent
    from ..model_info import ModelInfo

__all__ = ["KEEPALIVE", "PROGRESS", "TERMINAL", "Dialect", "decode_event"]

KEEPALIVE, PROGRESS, TERMINAL = 0, 1, 2
"""What one stream event was: a keep-alive, an event of the answer, or the stream's end. Only :data:`TERMINAL`
steers the stream loop. Whether an event is progress for ``timeout`` is not the dialect's word: it is whether the
event added to the answer (the assembler's :attr:`~modelport._assembly.Assembler.received` moved), so an event that
carries nothing is no more progress than a keep-alive, in every dialect."""


class Dialect(Protocol):
    """What a wire dialect supplies. Implementations are small frozen objects of data and pure functions."""

    @property
    def name(self) -> str:
        """The dialect's name: ``"openai"``, ``"anthropic"``..."""
        ...

    @property
    def framing(self) -> Literal["sse", "ndjson"]:
        """Which sans-I/O decoder the stream loop feeds."""
        ...

    @property
    def split_think_tags(self) -> bool:
        """Whether the assembler splits ``<think>...</think>`` out of answer text."""
        ...

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        """:class:`~modelport.InvalidRequestError` naming the first create argument this dialect cannot send."""
        ...

    def build(
        self,
        messages: Sequence[Any],
        *,
        model: str,
        model_info: ModelInfo,
        tools: Sequence[Any],
        tool_choice: Any,
        json_output: bool | type[BaseModel] | None,
        create_args: Mapping[str, Any],
        stream: bool,
    ) -> dict[str, Any]:
        """The JSON body of a request; :class:`~modelport.InvalidRequestError` naming the field it cannot send."""
        ...

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        """Feed a whole (non-streamed) response into ``asm``; typed errors for an error body."""
        ...

    def parse_event(self, event: SSEEvent, asm: Assembler, *, provider: str) -> int:
        """Feed one stream event into ``asm``: :data:`KEEPALIVE`, :data:`PROGRESS` or :data:`TERMINAL`. An in-band
        error raises its typed error with ``partial`` set to what arrived. A part of the answer the dialect keeps to
        itself for now, rather than giving it to ``asm``, is counted with ``asm.mark_received()``."""
        ...

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Whether a stream that reaches the end of its body without the terminal event is still whole."""
        ...


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
