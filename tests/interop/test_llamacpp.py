"""modelport against a real llama.cpp server (``xllamacpp``, in-process) over a tiny GGUF model built for the session.

Every call is real HTTP on loopback, answered by llama.cpp's own HTTP server, chat templating (jinja), grammar
sampler, tool-call parser and SSE writer. The model is tiny and its answers are planted (see ``tiny_model.py``):
any chat prompt gets :data:`EXPECTED_TEXT`; a prompt with tools gets a call of the first tool.

Run only this tier: ``python -m pytest -m interop``; leave it out: ``-m "not interop"``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from typing import Any, Literal

import pytest

pytest.importorskip("xllamacpp", reason="the interop tier needs xllamacpp (llama.cpp's server as a Python wheel)")
pytest.importorskip("gguf", reason="the interop tier needs the gguf package to build its model")

from pydantic import BaseModel

from modelport import (
    EVENT_LOGGER_NAME,
    AssistantMessage,
    CancellationToken,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    SystemMessage,
    UserMessage,
)

from .conftest import SLOT_CONTEXT, TIMINGS, LlamaServer, busy_slots
from .tiny_model import EXPECTED_COMPLETION_TOKENS, EXPECTED_DELTAS, EXPECTED_TEXT, MODEL_NAME

pytestmark = pytest.mark.interop

MESSAGES = [SystemMessage(content="Be brief."), UserMessage(content="Say hello.")]
GREEDY = {"temperature": 0.0, "seed": 7}


def get_weather(city: Literal["Paris", "Rome"]) -> str:
    return f"21 degrees in {city}"


WEATHER = FunctionTool(get_weather, "Get the current weather in a city")


class City(BaseModel):
    name: str
    population: int


async def collect(stream: Any) -> tuple[list[str], CreateResult]:
    """All deltas of a stream, and its result; checks the shape: str deltas, then exactly one CreateResult, last."""
    deltas: list[str] = []
    results: list[CreateResult] = []
    async with stream:
        async for chunk in stream:
            assert not results, f"a chunk came after the CreateResult: {chunk!r}"
            if isinstance(chunk, CreateResult):
                results.append(chunk)
            else:
                assert isinstance(chunk, str), f"a delta is not a str: {chunk!r}"
                deltas.append(chunk)
    assert len(results) == 1
    return deltas, results[0]


# -- create --


async def test_create_returns_text_and_usage(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    result = await client.create(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY})

    assert isinstance(result, CreateResult)
    assert result.content == EXPECTED_TEXT
    assert result.finish_reason == "stop"
    assert result.raw_finish_reason == "stop"
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens == EXPECTED_COMPLETION_TOKENS
    assert result.usage_reported is True
    assert result.model == MODEL_NAME
    assert result.cached is False
    assert result.request_id and result.request_id.startswith("chatcmpl-")  # llama.cpp sends no request-id header
    assert client.total_usage().completion_tokens == EXPECTED_COMPLETION_TOKENS


async def test_create_cut_at_max_tokens_says_length(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    result = await client.create(MESSAGES, extra_create_args={"max_tokens": 3, **GREEDY})

    assert result.finish_reason == "length"
    assert result.content == "Hello, "
    assert result.usage.completion_tokens == 3


# -- create_stream --


async def test_create_stream_yields_deltas_then_one_result(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    deltas, result = await collect(client.create_stream(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY}))

    # llama.cpp sends one chunk per token, and holds back the emoji's bytes until they make a character. Each delta
    # is passed on as it comes: the lone space is not held back to be glued to "world".
    assert deltas == EXPECTED_DELTAS
    assert "".join(deltas) == result.content == EXPECTED_TEXT
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens == EXPECTED_COMPLETION_TOKENS  # the include_usage chunk arrived
    assert result.model == MODEL_NAME
    assert result.request_id and result.request_id.startswith("chatcmpl-")

    # Greedy decoding: the plain call answers the same.
    again = await make_llama_client(max_retries=0).create(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY})
    assert again.content == result.content


async def test_create_stream_cut_at_max_tokens_says_length(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    deltas, result = await collect(client.create_stream(MESSAGES, extra_create_args={"max_tokens": 3, **GREEDY}))

    assert "".join(deltas) == result.content == "Hello, "
    assert result.finish_reason == "length"


async def test_stream_that_starts_with_white_space_keeps_it(make_llama_client: Any) -> None:
    """An assistant message last is a prefill for llama.cpp: after "Hello," the model goes on with " ", "world"...
    so the streamed answer starts with a white-space-only chunk. It must not be lost or stripped. (modelport holds
    leading white space back until it knows no ``<think>`` follows, so the first delta is " world": one token late.)
    llama.cpp's plain answer, unlike its stream, repeats the prefill."""
    client = make_llama_client(max_retries=0)
    messages = [UserMessage(content="Say hello."), AssistantMessage(content="Hello,", source="assistant")]
    deltas, result = await collect(client.create_stream(messages, extra_create_args={"max_tokens": 16, **GREEDY}))

    assert "".join(deltas) == result.content == " world!\N{EARTH GLOBE EUROPE-AFRICA}"
    assert deltas[0].startswith(" ")
    assert result.finish_reason == "stop"

    plain = await client.create(messages, extra_create_args={"max_tokens": 16, **GREEDY})
    assert isinstance(plain.content, str) and plain.content.endswith(result.content)


# -- structured output --


async def test_json_output_true_returns_a_json_object(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    result = await client.create(MESSAGES, json_output=True, extra_create_args={"max_tokens": 32, **GREEDY})

    assert result.finish_reason == "stop"
    assert isinstance(result.content, str)
    assert isinstance(json.loads(result.content), dict)


async def test_json_output_true_streamed(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    deltas, result = await collect(
        client.create_stream(MESSAGES, json_output=True, extra_create_args={"max_tokens": 32, **GREEDY})
    )

    assert "".join(deltas) == result.content
    assert isinstance(json.loads(result.content), dict)


async def test_json_output_schema_is_parsed(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    result = await client.create(MESSAGES, json_output=City, extra_create_args={"max_tokens": 48, **GREEDY})

    assert result.finish_reason == "stop"
    assert isinstance(result.parsed, City)
    assert City.model_validate_json(result.content) == result.parsed


# -- tools --


@pytest.mark.parametrize("tool_choice", ["auto", "required"])
async def test_tool_call(make_llama_client: Any, tool_choice: str) -> None:
    client = make_llama_client(max_retries=0)
    messages = [UserMessage(content="What is the weather in Paris?")]
    result = await client.create(
        messages, tools=[WEATHER], tool_choice=tool_choice, extra_create_args={"max_tokens": 96, **GREEDY}
    )

    assert result.finish_reason == "function_calls"
    assert result.raw_finish_reason == "tool_calls"
    assert isinstance(result.content, list) and len(result.content) == 1
    call = result.content[0]
    assert isinstance(call, FunctionCall)
    assert call.name == "get_weather"
    assert call.id
    assert call.parse_arguments()["city"] in ("Paris", "Rome")

    # The answer goes back with the tool's result, and the server takes the whole history.
    value = await WEATHER.run_json(call.parse_arguments(), CancellationToken())
    messages += [
        AssistantMessage(content=result.content),
        FunctionExecutionResultMessage(
            content=[
                FunctionExecutionResult(content=WEATHER.return_value_as_string(value), name=call.name, call_id=call.id)
            ]
        ),
    ]
    follow_up = await client.create(messages, tools=[WEATHER], extra_create_args={"max_tokens": 96, **GREEDY})
    assert isinstance(follow_up, CreateResult)
    assert follow_up.usage.prompt_tokens > result.usage.prompt_tokens


async def test_tool_call_streamed(make_llama_client: Any) -> None:
    client = make_llama_client(max_retries=0)
    deltas, result = await collect(
        client.create_stream(
            [UserMessage(content="What is the weather in Rome?")],
            tools=[WEATHER],
            tool_choice="required",
            extra_create_args={"max_tokens": 96, **GREEDY},
        )
    )

    assert "".join(deltas) == ""  # no text beside the call
    assert result.finish_reason == "function_calls"
    assert [call.name for call in result.content] == ["get_weather"]  # type: ignore[union-attr]
    (call,) = result.content  # type: ignore[misc]
    assert call.parse_arguments()["city"] in ("Paris", "Rome")

    # Streamed and plain assemble the same call.
    plain = await client.create(
        [UserMessage(content="What is the weather in Rome?")],
        tools=[WEATHER],
        tool_choice="required",
        extra_create_args={"max_tokens": 96, **GREEDY},
    )
    assert isinstance(plain.content, list)
    assert [(c.name, c.parse_arguments()) for c in plain.content] == [(call.name, call.parse_arguments())]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "create_stream"])
@pytest.mark.parametrize("max_tokens", [8, 30], ids=["in-the-name", "in-the-arguments"])
async def test_tool_call_cut_at_max_tokens_says_length(make_llama_client: Any, stream: bool, max_tokens: int) -> None:
    """The tool call is cut by max_tokens. llama.cpp then answers, at 8 tokens, with the raw text ``<tool_call>``
    newline ``{"name`` (plain) or with nothing at all (streamed: its parser holds the partial call back); at 30,
    with a call of get_weather whose arguments are ``{"``. Either way the finish reason must be length, never
    function_calls, and a half call must not parse as arguments to run."""
    client = make_llama_client(max_retries=0)
    kwargs: dict[str, Any] = {
        "tools": [WEATHER],
        "tool_choice": "required",
        "extra_create_args": {"max_tokens": max_tokens, **GREEDY},
    }
    messages = [UserMessage(content="What is the weather in Paris?")]
    if stream:
        deltas, result = await collect(client.create_stream(messages, **kwargs))
    else:
        result = await client.create(messages, **kwargs)

    assert result.finish_reason == "length", result
    assert result.raw_finish_reason == "length"
    if max_tokens == 30:
        assert isinstance(result.content, list), result
        (call,) = result.content
        assert call.name == "get_weather"
        with pytest.raises(ValueError):
            call.parse_arguments()
    elif stream:
        assert result.content == "".join(deltas) == ""
    else:
        assert isinstance(result.content, str) and result.content.startswith("<tool_call>")


# -- models --


async def test_list_models_reports_the_served_context_window(make_llama_client: Any, llama_server: LlamaServer) -> None:
    client = make_llama_client(max_retries=0)
    listings = await client.list_models()

    by_id = {listing.id: listing for listing in listings}
    assert MODEL_NAME in by_id, [listing.id for listing in listings]
    assert by_id[MODEL_NAME].context_window == llama_server.n_ctx_slot == SLOT_CONTEXT
    assert by_id[MODEL_NAME].owned_by == "llamacpp"
    assert client.context_window == SLOT_CONTEXT


# -- cancellation --


LONG = {"max_tokens": 1800, "extra_body": {"ignore_eos": True}, **GREEDY}
"""ignore_eos: the model starts over after each answer, so the answer runs to max_tokens: 1.5 s or more here."""


async def wait_until_idle(server: LlamaServer, limit_s: float) -> float:
    """Seconds until no slot of the server is processing (llama.cpp stops a request when its client goes away)."""
    started = time.perf_counter()
    while await asyncio.to_thread(busy_slots, server):
        if time.perf_counter() - started > limit_s:
            break
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def test_cancellation_mid_stream_from_another_task(make_llama_client: Any, llama_server: LlamaServer) -> None:
    """A "stop" button: another task cancels while the consumer reads the stream."""
    client = make_llama_client(max_retries=0)
    token = CancellationToken()
    stream = client.create_stream(MESSAGES, cancellation_token=token, extra_create_args=LONG)
    deltas: list[str] = []
    cancelled_at: list[float] = []

    async def stop_soon() -> None:
        while len(deltas) < 3:
            await asyncio.sleep(0.001)
        cancelled_at.append(time.perf_counter())
        token.cancel()

    stopper = asyncio.ensure_future(stop_soon())
    with pytest.raises(asyncio.CancelledError):
        async with stream:
            async for chunk in stream:
                assert isinstance(chunk, str), "the stream ended before it was cancelled"
                deltas.append(chunk)
    elapsed = time.perf_counter() - cancelled_at[0]
    await stopper
    assert elapsed < 0.5, f"CancelledError came {elapsed:.3f} s after cancel()"
    # The socket was closed, not left to run: llama.cpp saw the client go and freed the slot long before the
    # answer's 1,800 tokens (1.5 s or more) were done.
    idle_after = await wait_until_idle(llama_server, limit_s=5.0)
    assert idle_after < 0.5, f"the server kept generating for {idle_after:.2f} s after the cancel"
    TIMINGS.append(
        f"stream cancelled from another task: CancelledError {elapsed * 1000:.1f} ms after cancel() "
        f"({len(deltas)} deltas read), slot free {idle_after * 1000:.0f} ms later"
    )

    # The client is still good for the next call.
    result = await client.create(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY})
    assert result.content == EXPECTED_TEXT


async def test_cancellation_inside_the_stream_loop_stops_at_once(
    make_llama_client: Any, llama_server: LlamaServer
) -> None:
    """The consumer itself cancels between two deltas. Nothing may come after cancel(), not even the deltas that
    had already been read: here many have, because the consumer paused while llama.cpp wrote on, and the next
    read took them all in at once."""
    client = make_llama_client(max_retries=0)
    token = CancellationToken()
    stream = client.create_stream(MESSAGES, cancellation_token=token, extra_create_args=LONG)
    after: list[Any] = []
    raised = False
    async with stream:
        assert await stream.__anext__() == EXPECTED_DELTAS[0]
        await asyncio.sleep(0.05)  # the server writes on: ~100 more tokens wait in the socket
        assert await stream.__anext__() == EXPECTED_DELTAS[1]  # that read took them all in
        token.cancel()
        cancelled_at = time.perf_counter()
        try:
            async for chunk in stream:
                after.append(chunk)
        except asyncio.CancelledError:
            raised = True
    elapsed = time.perf_counter() - cancelled_at
    await wait_until_idle(llama_server, limit_s=5.0)
    assert raised and not after, (
        f"after cancel(): {len(after)} more items ({''.join(c for c in after if isinstance(c, str))[:40]!r}...), "
        f"{'then CancelledError' if raised else 'and no CancelledError'} after {elapsed * 1000:.1f} ms"
    )
    assert elapsed < 0.5


async def test_cancellation_of_create_raises_cancelled_error_promptly(
    make_llama_client: Any, llama_server: LlamaServer
) -> None:
    """The caller gets its CancelledError at once. The server, though, does not notice that the client of a
    non-streamed request has gone: llama.cpp (this build) finishes the answer anyway, as it does for a raw socket
    closed mid-request. So this only measures how long the slot stays busy, and waits for it."""
    client = make_llama_client(max_retries=0)
    token = CancellationToken()
    task = asyncio.ensure_future(
        client.create(MESSAGES, cancellation_token=token, extra_create_args={**LONG, "max_tokens": 600})
    )
    await asyncio.sleep(0.1)
    assert not task.done()
    assert await asyncio.to_thread(busy_slots, llama_server) == 1  # it is generating
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = time.perf_counter() - cancelled_at
    assert elapsed < 0.5, f"CancelledError came {elapsed:.3f} s after cancel()"
    idle_after = await wait_until_idle(llama_server, limit_s=10.0)  # leave the server idle for the next test
    assert not await asyncio.to_thread(busy_slots, llama_server)
    TIMINGS.append(
        f"create cancelled: CancelledError {elapsed * 1000:.1f} ms after cancel(), slot busy "
        f"{idle_after * 1000:.0f} ms more (llama.cpp finishes a non-streamed answer whose client left)"
    )

    # The client is still good for the next call.
    result = await client.create(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY})
    assert result.content == EXPECTED_TEXT


# -- one connection pool, many streams --

N_STREAMS = 50
TARGET_S = 2.0


class EventRecorder(logging.Handler):
    """modelport's call events (retries, ttft_ms), kept out of the test report."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[Any] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record.msg)

    def __enter__(self) -> EventRecorder:
        self._logger = logging.getLogger(EVENT_LOGGER_NAME)
        self._level, self._propagate = self._logger.level, self._logger.propagate
        self._logger.addHandler(self)
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        self._logger.propagate = self._propagate


async def test_fifty_sequential_streams_through_one_client(make_llama_client: Any, record_property: Any) -> None:
    """The issue's scenario: llama-server closes the socket after each streamed response while advertising
    keep-alive (HTTP/1.1, ``Keep-Alive: timeout=5, max=100``); a client that reuses the dead socket pays a failed
    attempt and a retry back-off every time."""
    client = make_llama_client(max_retries=3)
    first_chunk_s: list[float] = []
    failures: list[str] = []

    with EventRecorder() as recorder:
        started = time.perf_counter()
        for i in range(N_STREAMS):
            call_started = time.perf_counter()
            first: float | None = None
            try:
                async with client.create_stream(MESSAGES, extra_create_args={"max_tokens": 16, **GREEDY}) as stream:
                    text = []
                    async for chunk in stream:
                        if first is None:
                            first = time.perf_counter() - call_started
                        if isinstance(chunk, str):
                            text.append(chunk)
                        else:
                            assert "".join(text) == chunk.content == EXPECTED_TEXT
            except Exception as exc:  # counted, reported below
                failures.append(f"stream {i}: {type(exc).__name__}: {exc}")
            if first is not None:
                first_chunk_s.append(first)
        total = time.perf_counter() - started

    retries = sum(int(e.kwargs.get("retries") or 0) for e in recorder.events if e.name == "LLMStreamEnd")
    ttft = sorted(first_chunk_s)
    report = (
        f"{N_STREAMS} sequential streams through one client: {total:.2f} s in all "
        f"({total / N_STREAMS * 1000:.1f} ms per stream), {len(failures)} failed, {retries} retries; "
        f"time to first chunk: median {statistics.median(ttft) * 1000:.1f} ms, "
        f"p90 {ttft[int(len(ttft) * 0.9) - 1] * 1000:.1f} ms, max {ttft[-1] * 1000:.1f} ms, "
        f"min {ttft[0] * 1000:.1f} ms"
        if ttft
        else f"{N_STREAMS} streams: {total:.2f} s, {len(failures)} failed, no chunk arrived"
    )
    TIMINGS.append(report)
    record_property("streams_wall_s", round(total, 3))
    record_property("streams_retries", retries)
    if ttft:
        record_property("streams_ttft_median_ms", round(statistics.median(ttft) * 1000, 2))
    assert not failures, report + "\n" + "\n".join(failures[:5])
    assert total < TARGET_S, report
