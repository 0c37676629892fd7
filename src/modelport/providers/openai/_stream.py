"""Stream events of the OpenAI chat-completions dialect: ``data:`` chunks until ``[DONE]``."""

from __future__ import annotations

from typing import Any

import orjson

from ..._assembly import Assembler
from ..._sse import SSEEvent
from ..dialect import PROGRESS, TERMINAL, decode_event
from ._response import parse_chunk

__all__ = ["parse_event"]


def parse_event(event: SSEEvent, asm: Assembler, *, provider: str) -> int:
    """One event of a chat-completions stream into ``asm``: ``[DONE]`` ends it; an error event raises."""
    data = event.data
    if data[:6] == b"[DONE]":
        return TERMINAL
    try:  # the common case inline: this runs once per streamed chunk
        chunk: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        chunk = None
    if chunk is None or event.event == "error" or (type(chunk) is dict and chunk.get("type") == "error"):
        chunk = decode_event(event, asm, provider=provider)  # raises the typed error
    parse_chunk(chunk, asm, provider=provider)
    return PROGRESS
