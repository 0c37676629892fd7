"""The Amazon Bedrock Converse dialect, sans I/O: our types to a Converse body, and AWS event-stream messages back
to deltas.

URLs: ``POST {base}/model/{model}/converse``, streamed from ``/converse-stream``; the model (a model id, an
inference-profile id such as ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, or an ARN) is one path segment,
escaped as AWS escapes it (``:`` as ``%3A``, ``/`` as ``%2F``).

Requests: system messages, wherever they stand, become the ``system`` blocks in order; consecutive turns of one role
are merged, so all the results of one assistant turn go back in one user turn (``toolResult`` blocks, ``status:
error`` for a failed call); text, images (``format`` and base64 ``bytes``, or an ``s3://`` location) and ``toolUse``
blocks; blank text is never sent; a final assistant prefill is right-stripped; a tool call without its result is
refused before sending. Tools are ``toolSpec`` entries of ``toolConfig`` with ``toolChoice`` ``auto`` (left out),
``any`` (for ``required``) or a named ``tool``; ``none`` leaves the tools out (some models refuse a choice of none),
but a history holding tool calls always keeps a ``toolConfig`` (Converse refuses such a history without one),
naming the called tools when the caller gave none. ``max_tokens``, ``temperature``, ``top_p`` and ``stop`` go to
``inferenceConfig``; ``thinking`` and ``additional_model_request_fields`` to ``additionalModelRequestFields``;
``prompt_caching=True`` adds ``cachePoint`` blocks after the system blocks, after the tools and at the end of the
conversation.

Structured output: a forced tool named :data:`OUTPUT_TOOL` whose input is routed into the answer *text*, so the
shared finish step parses it like any JSON answer.

Reasoning round trip: when a turn with reasoning ends in tool calls, its ``reasoningContent`` blocks (text and
signature, or redacted content) and the text after them are kept verbatim in the first call's
``FunctionCall.provider_fields["bedrock_content"]``; ``AssistantMessage(content=result.content,
thought=result.thought)`` sends them back byte for byte before the ``toolUse`` blocks.

Responses and streams: ``stopReason`` is kept raw (``end_turn``, ``stop_sequence``, ``tool_use``, ``max_tokens``,
``guardrail_intervened`` and ``content_filtered`` are read by the assembler); ``model_context_window_exceeded``
raises :class:`~modelport.ContextLengthExceededError` with what arrived. Usage: ``prompt_tokens`` is input plus
cache reads plus cache writes, ``cached_tokens`` the reads. Streamed tool input fragments are joined per content
block index and parsed once, at ``contentBlockStop``. ``metadata`` (usage, after ``messageStop``) ends a stream; a
stream that ends after ``messageStop`` without it is whole. Exception frames (``throttlingException``,
``modelStreamErrorException``, ``validationException``, ...) raise their typed errors with ``partial`` set, and an
error response's ``x-amzn-ErrorType`` header picks its class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from yarl import URL

from ... import errors
from ..._assembly import Assembler
from ..._eventstream import EventMessage, EventStreamDecoder
from ..._http import request_id_from
from ...model_info import ModelInfo
from .._errors import error_from_response
from ._names import OUTPUT_TOOL, PROVIDER_FIELD
from ._request import CREATE_ARGUMENTS, build_request, validate_create_args
from ._response import bedrock_error, error_message, map_usage, parse_response
from ._stream import parse_event

if TYPE_CHECKING:
    from ..._request import Request

__all__ = ["CREATE_ARGUMENTS", "OUTPUT_TOOL", "PROVIDER_FIELD", "BedrockDialect", "map_usage", "model_path"]


def model_path(model: str, *, stream: bool) -> str:
    """The escaped path of a model's Converse (or ConverseStream) operation."""
    return f"/model/{quote(model, safe='')}/{'converse-stream' if stream else 'converse'}"


@dataclass(frozen=True)
class BedrockDialect:
    """The Converse dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`)."""

    name: str = "bedrock"
    framing: str = "eventstream"
    split_think_tags: bool = False

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        path = base.raw_path.rstrip("/") + model_path(model, stream=stream)
        return base.with_path(path, encoded=True)

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        return build_request(request, model_info=info, create_args=args)

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The same body: ConverseStream differs by its URL only."""
        return payload

    def decoder(self, max_event_bytes: int) -> EventStreamDecoder:
        return EventStreamDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    def parse_event(self, event: Any, asm: Assembler, *, provider: str) -> int:
        if not isinstance(event, EventMessage):
            raise errors.StreamProtocolError(f"{provider} sent a stream that is not an AWS event stream")
        return parse_event(event, asm, provider=provider)

    def error(self, status: int, headers: Mapping[str, str], raw: bytes, *, provider: str) -> errors.APIStatusError:
        """The error type from ``x-amzn-ErrorType`` (else the body's ``__type``), the text from its ``message``;
        a response with neither is read as any other server's."""
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        kind = headers.get("x-amzn-ErrorType") or (body.get("__type") if isinstance(body, dict) else None)
        if not isinstance(kind, str) or not kind:
            return error_from_response(status, headers, raw, provider=provider)
        return bedrock_error(
            kind.rsplit("#", 1)[-1],
            error_message(body),
            status=status,
            provider=provider,
            request_id=request_id_from(headers),
            body=body if body is not None else raw[:2000].decode("utf-8", "replace"),
        )

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """After ``messageStop`` (the answer is whole; only the usage report is missing)."""
        return asm.finished
