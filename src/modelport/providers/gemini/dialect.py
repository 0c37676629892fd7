"""Google's native Gemini dialect (``generateContent``), sans I/O: our types to a request body, and bytes back to
deltas. The same dialect speaks to the Gemini API and to Vertex AI; only the path before ``/models`` differs.

URLs: ``{base}/{prefix}/models/{model}:generateContent``, streams from ``:streamGenerateContent?alt=sse``
(``prefix`` is ``v1beta`` for the Gemini API, ``v1/projects/{project}/locations/{location}/publishers/google``
for Vertex AI). A model name with a ``/`` of its own (``tunedModels/...``) is used as its path.

Requests: system messages (wherever they stand) become ``systemInstruction``; the rest become ``contents`` with the
roles ``user`` and ``model``, consecutive turns of a role merged. Images are ``inlineData`` (base64 and ``data:``
URLs) or ``fileData`` (``gs://`` and web URLs). Tool calls are ``functionCall`` parts (``args`` an object, the id
only where Gemini gave one); tool results ``functionResponse`` parts (``{"result": ...}``, or ``{"error": ...}`` for
a failed call), all the results of a turn in one ``user`` turn in the order of its calls, each call answered. Tools
are ``functionDeclarations`` with ``parametersJsonSchema``; ``tool_choice`` becomes
``toolConfig.functionCallingConfig`` (``ANY`` for required, ``NONE``, ``ANY`` with ``allowedFunctionNames`` for a
named tool). Structured output is ``responseMimeType: application/json`` with ``responseJsonSchema`` for a pydantic
model (``parsed`` is filled by the shared finish step). Create arguments map onto ``generationConfig``
(``temperature``, ``top_p``, ``top_k``, ``max_tokens``, ``stop``, ``seed``, penalties, ``candidate_count`` 1 only),
``thinking`` onto ``thinkingConfig`` (``thinking_budget`` or ``thinking_level``, ``include_thoughts``),
``safety_settings``, ``cached_content``, ``labels`` (Vertex AI only).

Thought signatures: each ``functionCall`` part's ``thoughtSignature`` is kept verbatim in its call's
``FunctionCall.provider_fields["thought_signature"]``; when a tool turn held more than its calls (thoughts, text,
signatures on text parts), the whole turn's parts (text runs merged, each signature on the part it came with) are
kept on the first call's ``provider_fields["gemini_parts"]``. ``AssistantMessage(content=result.content,
thought=result.thought)`` therefore sends the turn back as Gemini sent it; without them (a call made by hand) the
parts are built from the calls, ``thought`` as a text part before them. An answer without calls whose text was
signed keeps its parts in ``CreateResult.provider_metadata["gemini_parts"]`` (an assistant message of text has no
field that could carry them back).

Answers: text parts are the content, ``thought: true`` parts the thought (``ThoughtChunk`` when streamed),
``functionCall`` parts the calls (arguments as compact JSON text; an id made from the call when Gemini gave none,
the same streamed or not). ``finishReason`` is kept raw and mapped by the assembler (``STOP`` to ``stop``, or
``function_calls``; ``MAX_TOKENS`` to ``length``; the safety reasons to ``content_filter``; anything else to
``unknown``). A ``promptFeedback.blockReason`` without candidates is a :class:`~modelport.ContentFilterError`.
Usage: see :func:`._response.map_usage`. Errors: see :mod:`._errors` (``RetryInfo.retryDelay`` honoured as
``Retry-After``).

Streams: server-sent events, each a partial response; an error envelope mid-stream raises its typed error with what
arrived (retried only before the first delta, by the shared rule). A stream is whole when a frame carried a
``finishReason`` and the body ended; otherwise it is incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yarl import URL

from ..._sse import SSEDecoder
from ...errors import InvalidRequestError
from ._errors import google_error
from ._names import GENERATED_ID_PREFIX, PARTS_FIELD, SIGNATURE_FIELD
from ._request import CREATE_ARGUMENTS, build_request, validate_create_args
from ._request import count_tokens_body as count_tokens_body
from ._response import map_usage, parse_response
from ._stream import parse_event

if TYPE_CHECKING:
    from ... import errors
    from ..._assembly import Assembler
    from ..._request import Request
    from ...model_info import ModelInfo

__all__ = [
    "CREATE_ARGUMENTS",
    "GEMINI_API_PREFIX",
    "GENERATED_ID_PREFIX",
    "PARTS_FIELD",
    "SIGNATURE_FIELD",
    "GeminiDialect",
    "map_usage",
    "model_path",
]

GEMINI_API_PREFIX = "v1beta"


def model_path(model: str) -> str:
    """The model's resource path: ``models/{model}``, or the name itself when it has a ``/`` (``tunedModels/x``)."""
    return model if "/" in model else f"models/{model}"


@dataclass(frozen=True)
class GeminiDialect:
    """The ``generateContent`` dialect behind the provider seam (:class:`~modelport.providers.dialect.Dialect`);
    ``prefix`` is the path before ``models/`` (the Gemini API's ``v1beta``, or a Vertex AI location's)."""

    prefix: str = GEMINI_API_PREFIX
    name: str = "gemini"
    framing: str = "sse"
    split_think_tags: bool = False

    def validate_create_args(self, args: Mapping[str, Any], *, where: str = "create argument") -> None:
        validate_create_args(args, where=where)

    def url(self, base: URL, *, model: str, stream: bool) -> URL:
        method = "streamGenerateContent" if stream else "generateContent"
        url = self.method_url(base, model, method)
        return url.with_query({"alt": "sse"}) if stream else url

    def method_url(self, base: URL, model: str, method: str) -> URL:
        """``{base}/{prefix}/{model path}:{method}`` (``countTokens`` and the like use it too)."""
        path = f"{base.path.rstrip('/')}/{self.prefix}/{model_path(model)}:{method}"
        return base.with_path(path, encoded=False)

    def build(self, request: Request, *, model: str, info: ModelInfo, args: Mapping[str, Any]) -> dict[str, Any]:
        if args.get("labels") and self.prefix == GEMINI_API_PREFIX:
            raise InvalidRequestError("create argument 'labels' is for Vertex AI only: the Gemini API refuses it")
        return build_request(request, model=model, model_info=info, create_args=args)

    def streamed(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload  # the URL says it is streamed, not the body

    def decoder(self, max_event_bytes: int) -> SSEDecoder:
        return SSEDecoder(max_event_bytes)

    def parse_response(self, body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
        parse_response(body, asm, provider=provider, request_id=request_id)

    parse_event = staticmethod(parse_event)  # called once per frame: no extra call in between

    def error(self, status: int, headers: Mapping[str, str], raw: bytes, *, provider: str) -> errors.APIStatusError:
        return google_error(status, headers, raw, provider=provider)

    def ends_without_terminal(self, asm: Assembler) -> bool:
        """Gemini sends no end-of-stream event: a stream is whole once a frame carried a ``finishReason``."""
        return asm.finished
