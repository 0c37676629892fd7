"""The OpenAI chat-completions dialect behind the provider seam: used for OpenAI, Azure OpenAI and every
OpenAI-compatible server. What differs between those servers is data, a :class:`WireProfile`, never an ``if`` on a
model name in the shared pipeline.

Requests are built in :mod:`._request` (which holds the rules: everything a server would reject for certain is
refused there first, naming the field), whole answers read in :mod:`._response`, stream events in :mod:`._stream`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..._sse import SSEDecoder
from ..dialect import JSONErrors, join_path
from ._request import WireProfile, build_request, streamed_body, validate_create_args
from ._response import parse_response
from ._stream import parse_event

if TYPE_CHECKING:
    from yarl import URL

    from ..._assembly import Assembler
    from ..._request import Request
    from ...model_info import ModelInfo

__all__ = ["OpenAIDialect", "WireProfile"]

OPENAI_PROFILE = WireProfile()


@dataclass(frozen=True)
class OpenAIDialect(JSONErrors):
    """The chat-completions dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`): one
    per client, holding its server family's :class:`WireProfile`."""

    profile: WireProfile = OPENAI_PROFILE
    add_name_prefixes: bool = False
    name: str = "openai"
    framing: str = "sse"

    def without_names(self) -> OpenAIDialect:
        """This dialect sending no message ``name`` fields (AutoGen's ``include_name_in_message=False``)."""
        return replace(self, profile=replace(self.profile, send_names=False))

    @property
    def split_think_tags(self) -> bool:
        return self.profile.split_think_tags

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        return join_path(base, "chat/completions")

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        return build_request(
            request,
            model=model,
            model_info=info,
            create_args=args,
            profile=self.profile,
            add_name_prefixes=self.add_name_prefixes,
        )

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        return streamed_body(payload, self.profile)

    def decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    parse_event = staticmethod(parse_event)  # called once per streamed chunk: no extra call in between

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Servers that omit ``[DONE]`` but sent a finish reason are fine (B-38)."""
        return asm.finished
