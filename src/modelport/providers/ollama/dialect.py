"""Ollama's ``/api/chat`` behind the provider seam: requests built in :mod:`._request` (which holds the dialect's
rules), answers read in :mod:`._response`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._ndjson import NDJSONDecoder
from ..dialect import JSONErrors, join_path
from ._request import build_request, validate_create_args
from ._response import parse_event, parse_response

if TYPE_CHECKING:
    from yarl import URL

    from ..._assembly import Assembler
    from ..._request import Request
    from ...model_info import ModelInfo

__all__ = ["OllamaDialect"]


@dataclass(frozen=True)
class OllamaDialect(JSONErrors):
    """Ollama's ``/api/chat`` behind the provider seam (:class:`~modelport.providers.dialect.Dialect`).

    ``stream_tool_calls=False`` is for Ollama versions that drop tool calls from streams (B-79): a streamed request
    that carries tools then asks for one whole answer, which the stream yields at once."""

    stream_tool_calls: bool = True
    name: str = "ollama"
    framing: str = "ndjson"
    split_think_tags: bool = True

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        return join_path(base, "api/chat")

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        return build_request(request, model=model, model_info=info, create_args=args)

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        # Versions that drop streamed tool calls (B-79) are asked for one answer.
        if payload.get("stream") is False and (self.stream_tool_calls or "tools" not in payload):
            return {**payload, "stream": True}
        return payload

    def decoder(self, max_event_bytes: int) -> NDJSONDecoder:
        return NDJSONDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    parse_event = staticmethod(parse_event)  # called once per streamed line: no extra call in between

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Every Ollama stream ends with its ``done: true`` line; without it the answer may be cut."""
        return False
