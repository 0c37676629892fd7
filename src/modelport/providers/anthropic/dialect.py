"""The Anthropic Messages dialect, sans I/O: our types to a ``/v1/messages`` body, and bytes back to deltas.

Requests (wire-behaviour B-97, B-98): system messages before the first turn become the top-level ``system``; a
later one, on a model that takes it (Claude Opus 4.8; ``model_info["multiple_system_messages"]``), is a
``{"role": "system"}`` turn placed right after the user turn or tool results that precede the next assistant turn
(Anthropic's placement rule), so it still precedes the answer it shapes; other models take one run of system
messages, wherever it stands, hoisted into ``system``. Consecutive turns of one role are merged; tool results
become ``tool_result`` blocks of a user turn; names are never sent; a final assistant prefill is right-stripped;
empty or blank text is never sent as a block; a tool call without its result (or a result without its call) is
refused before sending. ``max_tokens``, which the API requires,
defaults to the model's longest answer (``ModelInfo.max_output_tokens``), else :data:`DEFAULT_MAX_TOKENS`.

Structured output: Anthropic's own (``output_config.format``) where the model has it (``model_info
["structured_output"]``), else a forced tool named :data:`OUTPUT_TOOL` whose input is routed into the answer *text*,
so the shared finish step parses it like any JSON answer. A user tool of that name is refused.

Thinking round trip (B-85): when a turn with thinking ends in tool calls, the turn's thinking, redacted-thinking and
later text blocks are kept verbatim, signatures included, in the first call's ``FunctionCall.provider_fields
["anthropic_content"]``. ``AssistantMessage(content=result.content, thought=result.thought)`` therefore carries them
to the next request, which sends them back unchanged before the ``tool_use`` blocks. Without them (a call made by
hand, or by another provider) ``thought`` is sent as a text block.

Responses and streams: ``tool_use`` input becomes ``FunctionCall.arguments`` as compact JSON text, the same whether
streamed or not (streamed ``partial_json`` is joined per block and parsed once, at ``content_block_stop``: B-77; a
block cut off by ``max_tokens`` keeps its raw text, so it does not parse: B-78). Usage maps to OpenAI's names for the
assembler: ``prompt_tokens`` is input plus cache reads plus cache writes, ``cached_tokens`` the cache reads; in a
stream each field takes its latest value, never a sum. ``ping`` is a keep-alive; ``message_stop`` ends the stream,
and a stream without it is incomplete.

The code is in this package (``_messages``, ``_request``, ``_response``, ``_stream``); this
module is the dialect's face: :class:`AnthropicDialect` and every public name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yarl import URL

from ..._assembly import Assembler
from ..._sse import SSEDecoder, SSEEvent
from ...model_info import ModelInfo
from ..dialect import JSONErrors, join_path
from ._messages import wire_messages
from ._names import OUTPUT_TOOL, PROVIDER_FIELD
from ._request import CREATE_ARGUMENTS, DEFAULT_MAX_TOKENS
from ._request import build_request as build_request
from ._request import count_tokens_body as count_tokens_body
from ._request import native_schema as native_schema
from ._request import validate_create_args as validate_create_args
from ._response import map_usage
from ._response import parse_response as parse_response
from ._stream import parse_event as parse_event

if TYPE_CHECKING:
    from ..._request import Request

__all__ = [
    "ANTHROPIC_VERSION",
    "CREATE_ARGUMENTS",
    "DEFAULT_MAX_TOKENS",
    "OUTPUT_TOOL",
    "PROVIDER_FIELD",
    "AnthropicDialect",
    "map_usage",
    "wire_messages",
]

ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class AnthropicDialect(JSONErrors):
    """The Messages dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`)."""

    name: str = "anthropic"
    framing: str = "sse"
    split_think_tags: bool = False

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        return join_path(base, "v1/messages")

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        return build_request(request, model=model, model_info=info, create_args=args)

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "stream": True}

    def decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    def parse_event(self, event: SSEEvent, asm: Assembler, *, provider: str) -> int:
        return parse_event(event, asm, provider=provider)

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Never: a Messages stream is whole only at ``message_stop``."""
        return False
