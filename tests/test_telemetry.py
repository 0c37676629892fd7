"""OpenTelemetry instrumentation: spans and metrics that follow the GenAI semantic conventions, over real HTTP against
the fake server, read back with the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import modelport as mp
from modelport import ChatCompletionCache, CreateResult, SystemMessage, UserMessage, telemetry
from modelport.pricing import Price
from modelport.telemetry import _hooks
from modelport.testing import FakeServer, Reply, chunk, completion

from .conftest import API_KEY
from .helpers import HELLO, collect

SECRET_PROMPT = "my favourite colour is periwinkle"


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrument(self, **kwargs: Any) -> None:
        telemetry.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kwargs)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> its data points."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Otel]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    before = list(_hooks.OBSERVERS)
    recorder = Otel()
    recorder.instrument()
    yield recorder
    telemetry.uninstrument()
    assert before == _hooks.OBSERVERS
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


def all_text(span: ReadableSpan) -> str:
    """Every attribute and event of a span, as one text to search."""
    parts = [span.name, json.dumps(dict(span.attributes or {}), default=str)]
    for event in span.events:
        parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    if span.status.description:
        parts.append(span.status.description)
    return "\n".join(parts)


def usage(prompt: int, completion_tokens: int, **details: Any) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens, **details}


# -- create --

async def test_create_span_follows_the_genai_conventions(otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json(completion("Hi there", model="gpt-4o-2024-08-06", usage=usage(
        12, 5, prompt_tokens_details={"cached_tokens": 4}, completion_tokens_details={"reasoning_tokens": 2}))))
    client = make_client()
    result = await client.create(HELLO, extra_create_args={"temperature": 0.2, "max_tokens": 50, "top_p": 0.9,
                                                           "seed": 7, "stop": ["END"]})
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.system"] == "openai"
    assert attrs["modelport.provider"] == "openai-compatible"  # a base_url modelport has no preset for
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.frequency_penalty" not in attrs  # only what was set
    assert "gen_ai.request.stream" not in attrs
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attrs["gen_ai.response.id"] == result.request_id  # the server's request id, else the completion's
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 2
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == server.port
    assert attrs["modelport.retries"] == 0
    assert attrs["modelport.outcome"] == "ok"
    assert "error.type" not in attrs
    if result.cost is not None:
        assert attrs["modelport.cost"] == pytest.approx(float(result.cost))
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output.messages", "gen_ai.system_instructions"))
                   for key in attrs)

    metrics = otel.metrics()
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)  # the conventions' buckets, by advisory
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "server.address": "127.0.0.1", "server.port": server.port}
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 12, "output": 5}
    assert "gen_ai.client.operation.time_to_first_chunk" not in metrics


async def test_cost_is_on_the_span(otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json(completion("Hi", model="gpt-4o", usage=usage(1_000_000, 1_000_000))),
               Reply.json(completion("Hi", model="gpt-4o", usage=usage(10, 10))))
    priced = make_client(prices={"gpt-4o": Price(input="1", output="2")})
    result = await priced.create(HELLO)
    assert result.cost == 3
    attrs = dict(otel.span().attributes or {})
    assert attrs["modelport.cost"] == 3.0
    otel.exporter.clear()
    unpriced = await make_client().create(HELLO)  # a server modelport has no price table for
    assert unpriced.cost is None
    assert "modelport.cost" not in (otel.span().attributes or {})


# -- streams --

async def test_stream_span_ends_with_the_stream_and_records_time_to_first_chunk(
        otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                          chunk({"content": "lo"}), chunk(finish_reason="stop"),
                          chunk(choices=False, usage=usage(9, 2))], delay=0.02))
    client = make_client()
    open_after_first_delta = None
    async with client.create_stream(HELLO) as stream:
        async for item in stream:
            if open_after_first_delta is None and not isinstance(item, CreateResult):
                open_after_first_delta = otel.spans() == []
    assert open_after_first_delta  # the span stays open while the stream runs
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 9
    assert attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["modelport.outcome"] == "ok"
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float)
    assert 0 <= ttfc <= (span.end_time - span.start_time) / 1e9 + 0.01  # type: ignore[operator]
    metrics = otel.metrics()
    (first,) = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert first.count == 1
    assert first.attributes["gen_ai.request.model"] == "gpt-4o"
    assert metrics["gen_ai.client.operation.duration"][0].count == 1


async def test_break_out_of_a_stream_ends_the_span(otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "one "}), chunk({"content": "two "}), chunk({"content": "three"}),
                          chunk(finish_reason="stop")], delay=0.05))
    client = make_client()
    async with client.create_stream(HELLO) as stream:
        async for _item in stream:
            break
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert attrs["modelport.outcome"] == "cut_short"
    assert "error.type" not in attrs
    assert span.status.status_code is not StatusCode.ERROR
    assert "gen_ai.response.time_to_first_chunk" in attrs


async def test_cancelled_stream_ends_the_span(otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "first"})], done=False, stall=True))
    client = make_client()
    got_first = asyncio.Event()

    async def consume() -> None:
        async with client.create_stream(HELLO) as stream:
            async for _item in stream:
                got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 5)
    assert otel.spans() == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert attrs["modelport.outcome"] == "cancelled"
    assert "error.type" not in attrs
    assert "gen_ai.response.time_to_first_chunk" in attrs


# -- errors and retries --

async def test_error_sets_error_type_and_status(otel: Otel, server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json({"error": {"message": f"Incorrect API key provided: {API_KEY[:8]}...",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401))
    with pytest.raises(mp.AuthenticationError):
        await make_client().create([UserMessage(content=SECRET_PROMPT)])
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "AuthenticationError"
    assert attrs["http.response.status_code"] == 401
    assert attrs["modelport.outcome"] == "error"
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()  # the exception text is content: only recorded when asked
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "AuthenticationError"
    assert "gen_ai.client.token.usage" not in otel.metrics()


async def test_retries_are_counted_on_the_span(otel: Otel, server: FakeServer, make_client: Any,
                                               sleeps: Any) -> None:
    server.add(Reply.json({"error": {"message": "busy", "type": "server_error"}}, status=503),
               Reply.json(completion("ok", usage=usage(3, 1))))
    result = await make_client().create(HELLO)
    assert result.content == "ok"
    assert len(sleeps.waits) == 1
    attrs = dict(otel.span().attributes or {})
    assert attrs["modelport.retries"] == 1
    assert attrs["modelport.outcome"] == "ok"
    assert "error.type" not in attrs


async def test_retries_exhausted_are_counted_too(otel: Otel, server: FakeServer, make_client: Any) -> None:
    for _ in range(3):
        server.add(Reply.json({"error": {"message": "busy", "type": "server_error"}}, status=503))
    with pytest.raises(mp.ServerError):
        await make_client(max_retries=2).create(HELLO)
    attrs = dict(otel.span().attributes or {})
    assert attrs["modelport.retries"] == 2
    assert attrs["error.type"] == "ServerError"


# -- cache hits --

async def test_cache_hit_is_visible(otel: Otel, server: FakeServer, make_client: Any) -> None:
    cache = ChatCompletionCache(make_client())
    first = await cache.create(HELLO)
    second = await cache.create(HELLO)
    assert (first.cached, second.cached) == (False, True)
    miss, hit = otel.spans()
    assert "modelport.cache_hit" not in (miss.attributes or {})
    hit_attrs = dict(hit.attributes or {})
    assert hit_attrs["modelport.cache_hit"] is True
    assert hit_attrs["gen_ai.request.model"] == "gpt-4o"
    tokens = otel.metrics()["gen_ai.client.token.usage"]
    assert all(p.count == 1 for p in tokens)  # the hit billed nothing, so it adds no token usage


# -- content and secrets --

def tool_call_reply() -> Reply:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"query": "periwinkle secrets"})}}
    return Reply.json(completion(None, tool_calls=[call], finish_reason="tool_calls", usage=usage(5, 5)))


QUERY_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}}
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look it up", "parameters": QUERY_SCHEMA}}


async def test_content_is_absent_unless_asked_and_no_secret_anywhere(otel: Otel, server: FakeServer,
                                                                      make_client: Any) -> None:
    server.add(tool_call_reply())
    client = make_client()
    await client.create([SystemMessage(content="be terse"), UserMessage(content=SECRET_PROMPT)], tools=[TOOL])
    server.add(Reply.sse([chunk({"content": "periwinkle answer"}), chunk(finish_reason="stop")]))
    await collect(client, [UserMessage(content=SECRET_PROMPT)])
    for span in otel.spans():
        text = all_text(span)
        assert "periwinkle" not in text
        assert "be terse" not in text
        assert API_KEY not in text and API_KEY[:12] not in text


async def test_content_is_recorded_when_asked(otel: Otel, server: FakeServer, make_client: Any) -> None:
    otel.instrument(capture_content=True)  # replaces the earlier instrumentation
    assert len([o for o in _hooks.OBSERVERS if type(o).__name__ == "_OtelObserver"]) == 1
    server.add(tool_call_reply())
    await make_client().create([SystemMessage(content="be terse"), UserMessage(content=SECRET_PROMPT)],
                               tools=[TOOL])
    span = otel.span()
    attrs = dict(span.attributes or {})
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "be terse"}]  # type: ignore[arg-type]
    assert json.loads(attrs["gen_ai.input.messages"]) == [  # type: ignore[arg-type]
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}]
    (output,) = json.loads(attrs["gen_ai.output.messages"])  # type: ignore[arg-type]
    assert output["finish_reason"] == "tool_call"
    assert output["parts"] == [{"type": "tool_call", "id": "call_1", "name": "lookup",
                                "arguments": {"query": "periwinkle secrets"}}]
    (definition,) = json.loads(attrs["gen_ai.tool.definitions"])  # type: ignore[arg-type]
    assert definition["name"] == "lookup"
    assert API_KEY not in all_text(span)


async def test_content_capture_from_the_environment(otel: Otel, server: FakeServer, make_client: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    otel.instrument()
    await make_client().create([UserMessage(content=SECRET_PROMPT)])
    assert SECRET_PROMPT in str((otel.span().attributes or {})["gen_ai.input.messages"])
    otel.exporter.clear()
    otel.instrument(capture_content=False)  # an explicit False wins over the environment
    await make_client().create([UserMessage(content=SECRET_PROMPT)])
    assert "gen_ai.input.messages" not in (otel.span().attributes or {})


async def test_error_text_is_recorded_only_with_content(otel: Otel, server: FakeServer, make_client: Any) -> None:
    otel.instrument(capture_content=True)
    server.add(Reply.json({"error": {"message": "bad", "type": "invalid_request_error"}}, status=400))
    with pytest.raises(mp.BadRequestError):
        await make_client().create(HELLO)
    (event,) = otel.span().events
    assert event.name == "exception"
    assert API_KEY not in all_text(otel.span())


# -- install and remove --

async def test_uninstrument_removes_the_observer(otel: Otel, server: FakeServer, make_client: Any) -> None:
    assert any(type(o).__name__ == "_OtelObserver" for o in _hooks.OBSERVERS)
    telemetry.uninstrument()
    telemetry.uninstrument()  # harmless twice
    assert not any(type(o).__name__ == "_OtelObserver" for o in _hooks.OBSERVERS)
    await make_client().create(HELLO)
    assert otel.spans() == []


def test_observation_ends_once_and_never_raises_on_odd_input() -> None:
    """The observer, called directly as the pipeline would: a second end is ignored."""
    recorder = Otel()
    recorder.instrument()
    try:
        (observer,) = [o for o in _hooks.OBSERVERS if type(o).__name__ == "_OtelObserver"]
        observation = observer.start(_hooks.CallInfo(provider="azure_openai", model="my-deploy", stream=True,
                                                     request={"max_completion_tokens": 9, "n": 2,
                                                              "response_format": {"type": "json_object"}}))
        assert observation is not None
        observation.first_chunk()
        observation.end(None, None)
        observation.end(None, RuntimeError("late"))
        (span,) = recorder.spans()
        attrs = dict(span.attributes or {})
        assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
        assert attrs["gen_ai.request.max_tokens"] == 9
        assert attrs["gen_ai.request.choice.count"] == 2
        assert attrs["gen_ai.output.type"] == "json"
        assert attrs["modelport.outcome"] == "cut_short"
        assert "server.address" not in attrs
    finally:
        telemetry.uninstrument()


def test_instrument_without_opentelemetry_is_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from modelport import telemetry\n"
        "from modelport.telemetry import _hooks\n"
        "try:\n"
        "    telemetry.instrument()\n"
        "except ImportError as exc:\n"
        "    assert 'modelport[otel]' in str(exc), exc\n"
        "    assert _hooks.OBSERVERS == [], _hooks.OBSERVERS\n"
        "    print('clear error')\n"
        "else:\n"
        "    raise SystemExit('instrument() did not fail')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clear error"
