"""OpenTelemetry instrumentation: one span per call, and the GenAI client metrics, following the OpenTelemetry GenAI
semantic conventions (``gen_ai.*``), through ``opentelemetry-api`` only.

::

    from modelport import telemetry

    telemetry.instrument()                         # the global tracer and meter providers
    telemetry.instrument(capture_content=True)     # also prompts, completions and tool arguments

Message content is recorded only when asked: ``capture_content=True``, or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` when ``capture_content`` is left ``None``. API keys and
headers are never seen by the instrumentation, so they are never recorded.

``opentelemetry`` is imported only inside :func:`instrument`; without it installed, ``instrument()`` raises
``ImportError`` and nothing changes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from . import _hooks

if TYPE_CHECKING:
    from ..messages import CreateResult

__all__ = ["CAPTURE_CONTENT_ENV", "instrument", "uninstrument"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_INSTALL_HINT = (
    "modelport.telemetry.instrument() needs the OpenTelemetry API: pip install 'modelport[otel]' "
    "(or pip install opentelemetry-api)"
)

# modelport's provider names -> the conventions' gen_ai.provider.name (well-known values where one applies). A server
# that speaks OpenAI's API at a base_url modelport does not know is "openai", the telemetry flavor it speaks (as
# OpenAI's own instrumentation reports it); the span keeps modelport's name in ``modelport.provider``.
_PROVIDER_NAMES = {
    "openai-compatible": "openai",
    "azure_openai": "azure.ai.openai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "xai": "x_ai",
}
# ... and the older gen_ai.system values, for backends that still key on it.
_SYSTEM_NAMES = {"openai-compatible": "openai", "azure_openai": "az.ai.openai", "mistral": "mistral_ai"}

_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

_lock = threading.Lock()
_installed: _OtelObserver | None = None


def _env_capture() -> bool:
    value = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower()
    return value in ("1", "true", "yes", "on", "span_only", "span_and_event")


def instrument(tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool | None = None) -> None:
    """Emit an OpenTelemetry span and the GenAI client metrics for every call of every modelport client.

    ``tracer_provider`` and ``meter_provider`` default to the global ones. ``capture_content`` records prompts,
    completions and tool arguments on the span (``gen_ai.input.messages``, ``gen_ai.output.messages``,
    ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``); ``None`` reads
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. Calling it again replaces the earlier instrumentation.
    Raises ``ImportError`` when ``opentelemetry-api`` is not installed (and then changes nothing).
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    from .. import __version__

    capture = _env_capture() if capture_content is None else bool(capture_content)
    tracer = trace.get_tracer("modelport", __version__, tracer_provider)
    meter = metrics.get_meter("modelport", __version__, meter_provider)
    observer = _OtelObserver(tracer, meter, trace.SpanKind.CLIENT, trace.Status, trace.StatusCode, capture)
    global _installed
    with _lock:
        if _installed is not None:
            _remove(_installed)
        _installed = observer
        _hooks.OBSERVERS.append(observer)


def uninstrument() -> None:
    """Stop what :func:`instrument` started (calls already under way still end their spans). Safe to repeat."""
    global _installed
    with _lock:
        if _installed is not None:
            _remove(_installed)
            _installed = None


def _remove(observer: _OtelObserver) -> None:
    while observer in _hooks.OBSERVERS:
        _hooks.OBSERVERS.remove(observer)


class _OtelObserver:
    def __init__(self, tracer: Any, meter: Any, kind: Any, status: Any, status_code: Any, capture: bool) -> None:
        self.tracer = tracer
        self.kind = kind
        self.status = status
        self.status_code = status_code
        self.capture = capture
        self.duration = _histogram(
            meter, "gen_ai.client.operation.duration", "s", "GenAI operation duration.", _DURATION_BUCKETS
        )
        self.tokens = _histogram(
            meter, "gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.", _TOKEN_BUCKETS
        )
        self.first_chunk = _histogram(
            meter,
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time to receive the first chunk of a streamed response.",
            _DURATION_BUCKETS,
        )

    def start(self, info: _hooks.CallInfo) -> _SpanObservation:
        return _SpanObservation(self, info)


def _histogram(meter: Any, name: str, unit: str, description: str, buckets: list[float] | list[int]) -> Any:
    """A histogram with the conventions' bucket boundaries (an advisory the API takes from 1.30 on)."""
    try:
        return meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # an older opentelemetry-api
        return meter.create_histogram(name, unit=unit, description=description)


def _request_attributes(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request parameters that were set, from the body as sent (OpenAI, Anthropic and Ollama shapes)."""
    attrs: dict[str, Any] = {}
    options = request.get("options")
    sources: list[Mapping[str, Any]] = [request]
    if isinstance(options, Mapping):  # Ollama keeps sampling settings under "options"
        sources.append(options)
    for source in sources:
        for key, name in (
            ("max_tokens", "gen_ai.request.max_tokens"),
            ("max_completion_tokens", "gen_ai.request.max_tokens"),
            ("num_predict", "gen_ai.request.max_tokens"),
            ("seed", "gen_ai.request.seed"),
            ("top_k", "gen_ai.request.top_k"),
        ):
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                attrs[name] = value
        for key, name in (
            ("temperature", "gen_ai.request.temperature"),
            ("top_p", "gen_ai.request.top_p"),
            ("frequency_penalty", "gen_ai.request.frequency_penalty"),
            ("presence_penalty", "gen_ai.request.presence_penalty"),
        ):
            value = source.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[name] = float(value)
        stop = source.get("stop", source.get("stop_sequences"))
        if isinstance(stop, str):
            attrs["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
            attrs["gen_ai.request.stop_sequences"] = list(stop)
    choices = request.get("n")
    if isinstance(choices, int) and not isinstance(choices, bool) and choices != 1:
        attrs["gen_ai.request.choice.count"] = choices
    response_format = request.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        attrs["gen_ai.output.type"] = "json" if kind in ("json_object", "json_schema") else "text"
    elif request.get("format") is not None:  # Ollama's JSON mode or schema
        attrs["gen_ai.output.type"] = "json"
    return attrs


class _SpanObservation:
    __slots__ = ("_base", "_ended", "_first_chunk_at", "_info", "_observer", "_span", "_started")

    def __init__(self, observer: _OtelObserver, info: _hooks.CallInfo) -> None:
        self._observer = observer
        self._info = info
        self._started = time.perf_counter()
        self._first_chunk_at: float | None = None
        self._ended = False
        provider = _PROVIDER_NAMES.get(info.provider, info.provider)
        base: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": info.model,
        }
        if info.server_address:
            base["server.address"] = info.server_address
            if info.server_port is not None:
                base["server.port"] = info.server_port
        self._base = base
        attrs: dict[str, Any] = {**base, "gen_ai.system": _SYSTEM_NAMES.get(info.provider, info.provider)}
        if provider != info.provider:
            attrs["modelport.provider"] = info.provider
        attrs.update(_request_attributes(info.request))
        if info.stream:
            attrs["gen_ai.request.stream"] = True
        if info.cache_hit:
            attrs["modelport.cache_hit"] = True
        if observer.capture:
            attrs.update(_content_attributes(info))
        self._span = observer.tracer.start_span(f"chat {info.model}", kind=observer.kind, attributes=attrs)

    def first_chunk(self) -> None:
        if self._first_chunk_at is None and not self._ended:
            self._first_chunk_at = time.perf_counter()

    def end(self, result: CreateResult | None, error: BaseException | None, *, retries: int = 0) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self._finish(result, error, retries)
        except Exception:  # instrumentation must never break a call
            pass
        finally:
            self._span.end()

    def _finish(self, result: CreateResult | None, error: BaseException | None, retries: int) -> None:
        observer, span, info = self._observer, self._span, self._info
        duration = time.perf_counter() - self._started
        if result is None and error is not None:
            result = getattr(error, "partial", None)  # what arrived before an APIError, if anything
        metric_attrs = dict(self._base)
        attrs: dict[str, Any] = {"modelport.retries": retries}
        if result is not None:
            attrs.update(_result_attributes(result))
            if result.model:
                metric_attrs["gen_ai.response.model"] = result.model
            if observer.capture:
                attrs["gen_ai.output.messages"] = _json([_output_message(result)])
        if self._first_chunk_at is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = self._first_chunk_at - self._started
        if error is None:
            attrs["modelport.outcome"] = "ok" if result is not None else "cut_short"
        elif isinstance(error, Exception):
            error_type = type(error).__qualname__
            attrs["error.type"] = error_type
            attrs["modelport.outcome"] = "error"
            metric_attrs["error.type"] = error_type
            status_code = getattr(error, "status_code", None)
            if isinstance(status_code, int):
                attrs["http.response.status_code"] = status_code
            # The exception's text can quote the prompt or the completion: recorded only with content capture.
            if observer.capture:
                span.record_exception(error)
            span.set_status(observer.status(observer.status_code.ERROR, error_type))
        else:  # cancelled (CancelledError, KeyboardInterrupt, GeneratorExit): cut short, not a failure
            attrs["modelport.outcome"] = "cancelled"
        span.set_attributes(attrs)
        if info.cache_hit:
            metric_attrs["modelport.cache_hit"] = True
        observer.duration.record(duration, metric_attrs)
        if self._first_chunk_at is not None:
            observer.first_chunk.record(self._first_chunk_at - self._started, metric_attrs)
        # Token usage counts billed tokens: nothing for a cache hit, nothing when the provider reported none.
        if result is not None and result.usage_reported and not info.cache_hit:
            observer.tokens.record(result.usage.prompt_tokens, {**metric_attrs, "gen_ai.token.type": "input"})
            observer.tokens.record(result.usage.completion_tokens, {**metric_attrs, "gen_ai.token.type": "output"})


def _result_attributes(result: CreateResult) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.response.finish_reasons": [result.raw_finish_reason or result.finish_reason],
    }
    if result.model:
        attrs["gen_ai.response.model"] = result.model
    if result.request_id:
        attrs["gen_ai.response.id"] = result.request_id
    usage = result.usage
    if result.usage_reported:
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if usage.cached_prompt_tokens is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_prompt_tokens
        if usage.cache_write_tokens is not None:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
        if usage.reasoning_tokens is not None:
            attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if result.cost is not None:
        attrs["modelport.cost"] = float(result.cost)
    if result.cached:
        attrs["modelport.cache_hit"] = True
    return attrs


# Content, in the conventions' message shapes (recorded as JSON text: span attributes cannot hold structures).


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _content_attributes(info: _hooks.CallInfo) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    messages = info.messages if isinstance(info.messages, Sequence) else []
    system = [{"type": "text", "content": m.content} for m in messages if type(m).__name__ == "SystemMessage"]
    chat = [_input_message(m) for m in messages if type(m).__name__ != "SystemMessage"]
    if system:
        attrs["gen_ai.system_instructions"] = _json(system)
    if chat:
        attrs["gen_ai.input.messages"] = _json([m for m in chat if m is not None])
    tools = info.request.get("tools")
    if isinstance(tools, list) and tools:
        definitions = []
        for tool in tools:
            function = tool.get("function", tool) if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping) and "name" in function:
                definitions.append({"type": "function", **{k: v for k, v in function.items() if k != "strict"}})
        if definitions:
            attrs["gen_ai.tool.definitions"] = _json(definitions)
    return attrs


def _input_message(message: Any) -> dict[str, Any] | None:
    kind = type(message).__name__
    if kind == "UserMessage":
        content = message.content
        items = [content] if isinstance(content, str) else list(content)
        return {"role": "user", "parts": [_user_part(item) for item in items]}
    if kind == "AssistantMessage":
        parts: list[dict[str, Any]] = []
        if message.thought:
            parts.append({"type": "reasoning", "content": message.thought})
        parts.extend(_answer_parts(message.content))
        return {"role": "assistant", "parts": parts}
    if kind == "FunctionExecutionResultMessage":
        return {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": r.call_id, "response": r.content} for r in message.content],
        }
    return None


def _user_part(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"type": "text", "content": item}
    if getattr(item, "url", None):
        return {"type": "uri", "modality": "image", "mime_type": item.media_type, "uri": item.url}
    # Inline image bytes are left out: large, and binary.
    return {"type": "blob", "modality": "image", "mime_type": getattr(item, "media_type", None)}


def _answer_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts = []
    for call in content:
        try:
            arguments: Any = orjson.loads(call.arguments) if call.arguments.strip() else {}
        except orjson.JSONDecodeError:
            arguments = call.arguments
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments})
    return parts


def _output_message(result: CreateResult) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if result.thought:
        parts.append({"type": "reasoning", "content": result.thought})
    parts.extend(_answer_parts(result.content))
    finish = "tool_call" if result.finish_reason == "function_calls" else result.finish_reason
    return {"role": "assistant", "parts": parts, "finish_reason": finish}
