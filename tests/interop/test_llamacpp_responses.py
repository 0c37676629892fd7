"""``OpenAIResponsesClient`` against a real llama.cpp server's ``/v1/responses`` (``xllamacpp``, in-process) over
the tiny planted model (see ``tiny_model.py``): create, stream, a tool round trip, a ``max_output_tokens`` cut, and
fifty sequential streams on one pool.

llama.cpp's events carry no ``sequence_number`` and no ``output_index``: the client numbers the items itself.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

pytest.importorskip("xllamacpp", reason="the interop tier needs xllamacpp (llama.cpp's server as a Python wheel)")
pytest.importorskip("gguf", reason="the interop tier needs the gguf package to build its model")

from modelport import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    SystemMessage,
    UserMessage,
)
from modelport.providers.openai_responses import OpenAIResponsesClient

from .conftest import TIMINGS, TINY_MODEL_INFO, LlamaServer
from .test_llamacpp import EventRecorder, collect
from .tiny_model import EXPECTED_COMPLETION_TOKENS, EXPECTED_DELTAS, EXPECTED_TEXT, MODEL_NAME

pytestmark = pytest.mark.interop

MESSAGES = [SystemMessage(content="Be brief."), UserMessage(content="Say hello.")]
GREEDY = {"temperature": 0.0}
N_STREAMS = 50
TARGET_S = 2.0


def get_weather(city: Literal["Paris", "Rome"]) -> str:
    return f"21 degrees in {city}"


WEATHER = FunctionTool(get_weather, "Get the current weather in a city")


@pytest.fixture
async def make(llama_server: LlamaServer) -> AsyncIterator[Any]:
    made: list[OpenAIResponsesClient] = []

    def make(**kwargs: Any) -> OpenAIResponsesClient:
        kwargs.setdefault("base_url", llama_server.base_url)
        kwargs.setdefault("model_info", TINY_MODEL_INFO)
        kwargs.setdefault("timeout", 30.0)
        client = OpenAIResponsesClient(llama_server.model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_create_returns_text_and_usage(make: Any) -> None:
    result = await make(max_retries=0).create(MESSAGES, extra_create_args={"max_output_tokens": 16, **GREEDY})
    assert (result.content, result.finish_reason, result.raw_finish_reason) == (EXPECTED_TEXT, "stop", "stop")
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == EXPECTED_COMPLETION_TOKENS
    assert result.usage_reported and result.model == MODEL_NAME
    assert result.request_id and result.request_id.startswith("resp_")


async def test_stream_yields_the_deltas_and_equals_create(make: Any) -> None:
    client = make(max_retries=0)
    deltas, streamed = await collect(client.create_stream(MESSAGES, extra_create_args={"max_output_tokens": 16,
                                                                                       **GREEDY}))
    assert deltas == EXPECTED_DELTAS and streamed.content == EXPECTED_TEXT
    assert streamed.usage.completion_tokens == EXPECTED_COMPLETION_TOKENS and streamed.finish_reason == "stop"
    created = await client.create(MESSAGES, extra_create_args={"max_output_tokens": 16, **GREEDY})
    assert (created.content, created.finish_reason, created.usage.completion_tokens) == (
        streamed.content, streamed.finish_reason, streamed.usage.completion_tokens)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "create_stream"])
async def test_max_output_tokens_cut_says_length(make: Any, stream: bool) -> None:
    client = make(max_retries=0)
    arguments = {"extra_create_args": {"max_output_tokens": 3, **GREEDY}}
    if stream:
        deltas, result = await collect(client.create_stream(MESSAGES, **arguments))
        assert "".join(deltas) == result.content
    else:
        result = await client.create(MESSAGES, **arguments)
    assert result.finish_reason == "length" and result.content == "Hello, "


@pytest.mark.parametrize("stream", [False, True], ids=["create", "create_stream"])
async def test_tool_round_trip(make: Any, stream: bool) -> None:
    client = make(max_retries=0)
    messages: list[Any] = [UserMessage(content="What is the weather in Paris?")]
    arguments: dict[str, Any] = {"tools": [WEATHER], "tool_choice": "required",
                                 "extra_create_args": {"max_output_tokens": 96, **GREEDY}}
    if stream:
        deltas, result = await collect(client.create_stream(messages, **arguments))
        assert "".join(deltas) == ""
    else:
        result = await client.create(messages, **arguments)
    assert result.finish_reason == "function_calls" and isinstance(result.content, list)
    (call,) = result.content
    assert call.name == "get_weather" and call.id.startswith("call_")
    assert call.parse_arguments()["city"] in ("Paris", "Rome")
    messages += [AssistantMessage(content=result.content, thought=result.thought),
                 FunctionExecutionResultMessage(content=[FunctionExecutionResult(
                     content=get_weather(call.parse_arguments()["city"]), name=call.name, call_id=call.id)])]
    follow_up = await client.create(messages, tools=[WEATHER], extra_create_args={"max_output_tokens": 96, **GREEDY})
    assert isinstance(follow_up, CreateResult)
    assert follow_up.usage.prompt_tokens > result.usage.prompt_tokens


async def test_fifty_sequential_streams_on_one_pool(make: Any) -> None:
    client = make(max_retries=3)
    failures: list[str] = []
    with EventRecorder() as recorder:
        started = time.perf_counter()
        for i in range(N_STREAMS):
            try:
                deltas, result = await collect(client.create_stream(MESSAGES, extra_create_args={
                    "max_output_tokens": 16, **GREEDY}))
                assert "".join(deltas) == result.content == EXPECTED_TEXT
            except Exception as exc:  # counted, reported below
                failures.append(f"stream {i}: {type(exc).__name__}: {exc}")
        total = time.perf_counter() - started
    retries = sum(int(e.kwargs.get("retries") or 0) for e in recorder.events if e.name == "LLMStreamEnd")
    report = (f"{N_STREAMS} sequential Responses streams through one client: {total:.2f} s "
              f"({total / N_STREAMS * 1000:.1f} ms per stream), {len(failures)} failed, {retries} retries")
    TIMINGS.append(report)
    assert not failures, report + "\n" + "\n".join(failures[:5])
    assert total < TARGET_S, report
