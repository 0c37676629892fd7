"""A ``streamGenerateContent?alt=sse`` stream, one frame at a time, fed into the assembler. Each frame is a partial
``GenerateContentResponse``, read by the same code as a whole answer; a frame that is Google's error envelope (a
429 or 503 arriving mid-stream) raises its typed error with what arrived. There is no end-of-stream event: the
stream is whole when a frame carried a ``finishReason`` and the body ended (see ``ends_without_terminal``)."""

from __future__ import annotations

import orjson

from ..._assembly import Assembler
from ..._sse import SSEEvent
from ...errors import ResponseValidationError, StreamProtocolError
from ..dialect import PROGRESS
from ._response import read_frame


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """Feed one frame into ``asm``; always :data:`~modelport.providers.dialect.PROGRESS` (whether it added to the
    answer is the assembler's count)."""
    try:
        frame = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise StreamProtocolError(
            f"{provider} sent an event whose data is not valid JSON",
            raw=event.data[:500].decode("utf-8", "replace"),
            provider=provider,
            request_id=asm.request_id,
            partial=asm.result(),
        ) from None
    if type(frame) is not dict:
        if type(frame) is list and len(frame) == 1 and type(frame[0]) is dict:
            frame = frame[0]  # an error envelope sent as a one-item list
        else:
            raise ResponseValidationError(
                f"{provider} sent a stream event that is not a JSON object",
                provider=provider,
                request_id=asm.request_id,
                body=frame,
                partial=asm.result(),
            )
    read_frame(frame, asm, provider=provider, whole=False)
    return PROGRESS
