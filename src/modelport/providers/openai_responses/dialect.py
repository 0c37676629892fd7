"""OpenAI's Responses API dialect, sans I/O: our types to a ``/v1/responses`` body, and bytes back to deltas.

Requests: system messages before the first other message are the ``instructions``; a later one keeps its place as
a ``system`` input item. User text and images are ``input_text`` and ``input_image`` parts, assistant text an
assistant message, tool calls ``function_call`` items (``call_id`` is the call's id) and their results
``function_call_output`` items; a call without its result, or a result without its call, is refused before
sending. Function tools are flat (``{"type": "function", "name": ...}``) and always say ``strict`` (the API's
default is true, which would reject a schema not written for it). ``tool_choice`` is ``auto``, ``required``,
``none`` or a named function; structured output is ``text.format`` (``json_schema`` with the model's strict
schema, or ``json_object``), and ``parsed`` is filled as elsewhere.

Stateless by default: ``store`` is sent false unless the client asks for storage, and then
``previous_response_id`` may be given (never added by modelport). For a reasoning model (``model_info
["reasoning"]``, or a ``reasoning`` argument) not storing, ``include`` asks for ``reasoning.encrypted_content``.

Reasoning round trip: a function call that follows reasoning keeps, in ``FunctionCall.provider_fields
["openai_responses"]``, the items since the previous call (the reasoning items, and a message item between them)
exactly as they arrived, encrypted content included, with the call's own item id. The
``AssistantMessage(content=result.content, thought=result.thought)`` idiom carries them to the next request, which
sends them back right before their ``function_call`` item; a call whose kept reasoning came before another call
(an edited history) is refused, naming the message. Without kept items (a call made elsewhere) ``thought`` goes
as assistant text in front of the calls.

Responses and streams: ``output`` items are read in order: ``output_text`` parts are the answer, ``refusal``
parts the refusal (finish reason ``content_filter``), reasoning summaries and ``reasoning_text`` the thought (a new
part after a blank line), ``function_call`` items the calls (id = ``call_id``). ``completed`` is ``stop`` (or
``function_calls``), ``incomplete`` is ``length`` for ``max_output_tokens`` and ``content_filter`` for
``content_filter``, ``failed`` raises the typed error of its ``error`` (with what arrived as ``partial``). Usage:
``input_tokens`` (``cached_tokens`` of it) and ``output_tokens`` (``reasoning_tokens`` of it). Stream events carry a
``sequence_number``: a gap or a repeat is a :class:`~modelport.StreamProtocolError`; an ``error`` event raises its
typed error; a stream without ``response.completed``, ``response.incomplete`` or ``response.failed`` is incomplete.

The code is in this package (``_input``, ``_request``, ``_response``, ``_stream``); this module is the dialect's
face: :class:`ResponsesDialect` and every public name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._sse import SSEDecoder
from ..dialect import JSONErrors, join_path
from ._input import PROVIDER_FIELD, wire_input
from ._request import CREATE_ARGUMENTS, ENCRYPTED_REASONING, build_request, validate_create_args
from ._response import map_usage, parse_response
from ._stream import parse_event

if TYPE_CHECKING:
    from yarl import URL

    from ..._assembly import Assembler
    from ..._request import Request
    from ...model_info import ModelInfo

__all__ = [
    "CREATE_ARGUMENTS",
    "ENCRYPTED_REASONING",
    "PROVIDER_FIELD",
    "ResponsesDialect",
    "map_usage",
    "wire_input",
]


@dataclass(frozen=True)
class ResponsesDialect(JSONErrors):
    """The Responses dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`)."""

    name: str = "openai_responses"
    framing: str = "sse"
    split_think_tags: bool = False

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        return join_path(base, "responses")

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        return build_request(request, model=model, model_info=info, create_args=args)

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "stream": True}

    def decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    parse_event = staticmethod(parse_event)  # called once per streamed event: no extra call in between

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Never: a Responses stream is whole only at its terminal event."""
        return False
