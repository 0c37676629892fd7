"""The Anthropic Messages client and dialect, over real HTTP against the fake server's Anthropic routes.

Catalogue cases are named after their ids (wire-behaviour B-46, B-77, B-78, B-85, B-90, B-97, B-98, B-110)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    EVENT_LOGGER_NAME,
    AssistantMessage,
    ChatCompletionCache,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    InMemoryStore,
    RetryPolicy,
    SystemMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport.components import ComponentConfigError, load_component
from modelport.model_context import (
    BufferedChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
    UnboundedChatCompletionContext,
)
from modelport.providers.anthropic import AnthropicChatCompletionClient
from modelport.providers.anthropic.dialect import OUTPUT_TOOL, PROVIDER_FIELD
from modelport.testing import (
    FakeServer,
    Reply,
    anthropic_error,
    anthropic_event,
    anthropic_events,
    anthropic_message,
    anthropic_stream,
    anthropic_usage,
    redacted_thinking_block,
    text_block,
    thinking_block,
    tool_use_block,
)

from .conftest import RecordingSleep
from .helpers import collect
from .test_validation import PNG_1x1

KEY = "sk-ant-api03-SECRET-0123456789abcdef"
MODEL = "claude-sonnet-4-20250514"  # tools, thinking; structured output by a forced tool
NATIVE = "claude-sonnet-4-5"  # Anthropic's own structured output
HELLO = [UserMessage(content="Hello")]
THINKING = {"type": "enabled", "budget_tokens": 2048}


class City(BaseModel):
    name: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"sunny in {city}"


WEATHER = FunctionTool(get_weather, "Get the weather")


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[AnthropicChatCompletionClient] = []

    def make(model: str = MODEL, **kwargs: Any) -> AnthropicChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps,
                                                      random=lambda: 0.0))
        client = AnthropicChatCompletionClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make: Any) -> AnthropicChatCompletionClient:
    return make()  # type: ignore[no-any-return]


def sent(server: FakeServer, n: int = -1) -> dict[str, Any]:
    body = server.requests[n].json
    assert isinstance(body, dict)
    return body


def comparable(result: CreateResult) -> dict[str, Any]:
    data = result.model_dump()
    data.pop("request_id")
    return data


Both = tuple[list[str], CreateResult, CreateResult]


async def both(server: FakeServer, client: Any, message: dict[str, Any], **kwargs: Any) -> Both:
    """The same scripted answer streamed and whole: (deltas, streamed result, created result)."""
    server.add(anthropic_stream(message), Reply.json(message))
    deltas, streamed = await collect(client, kwargs.pop("messages", None), **kwargs)
    created = await client.create(kwargs.pop("messages", None) or [UserMessage(content="Hello")], **kwargs)
    return deltas, streamed, created


# -- the client: URL, key, headers --

async def test_request_goes_to_v1_messages_with_key_and_version(server: FakeServer, make: Any) -> None:
    for base_url in (server.base_url, server.base_url.removesuffix("/v1"), server.base_url + "/"):
        result = await make(base_url=base_url).create(HELLO)
        assert result.content == "You said: Hello"
    for request in server.requests:
        assert (request.method, request.path) == ("POST", "/v1/messages")
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers


def test_key_from_environment_only_for_its_own_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        AnthropicChatCompletionClient(MODEL)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    client = AnthropicChatCompletionClient(MODEL)
    assert client.base_url == "https://api.anthropic.com"
    assert client._request_headers["x-api-key"] == KEY
    assert "x-api-key" not in AnthropicChatCompletionClient(MODEL, base_url="http://127.0.0.1:9")._request_headers
    sent_anyway = AnthropicChatCompletionClient(MODEL, base_url="http://127.0.0.1:9", api_key_env="ANTHROPIC_API_KEY")
    assert sent_anyway._request_headers["x-api-key"] == KEY
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/v1")
    from_env = AnthropicChatCompletionClient(MODEL)
    assert (from_env.base_url, from_env._request_headers["x-api-key"]) == ("http://127.0.0.1:9", KEY)


async def test_a_withheld_key_is_named_on_401(server: FakeServer, make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    server.add(Reply.json(anthropic_error("authentication_error", "x-api-key header is required"), status=401))
    with pytest.raises(mp.AuthenticationError, match="api_key_env='ANTHROPIC_API_KEY'"):
        await make(api_key=None).create(HELLO)


async def test_request_shape(server: FakeServer, make: Any) -> None:
    image = Image.from_bytes(PNG_1x1)
    await make(default_headers={"anthropic-beta": "some-feature"}, temperature=0.2, top_k=5).create([
        SystemMessage(content="Be brief."),
        SystemMessage(content="Answer in English."),
        UserMessage(content=["look", image, Image.from_url("https://example.com/cat.png")], source="alice"),
        UserMessage(content="and this", source="bob"),
    ], extra_create_args={"stop": "END", "metadata": {"user_id": "u1"}})
    request = server.requests[0]
    body = sent(server)
    assert request.headers["anthropic-beta"] == "some-feature"
    assert body["model"] == MODEL
    assert body["max_tokens"] == 64_000  # the model's longest answer, from the registry
    assert body["system"] == "Be brief.\nAnswer in English."
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image.data}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "and this"},
    ]}]  # consecutive user turns merged, and names are never sent
    assert (body["temperature"], body["top_k"], body["stop_sequences"], body["metadata"]) == (
        0.2, 5, ["END"], {"user_id": "u1"})
    assert "stream" not in body


async def test_max_tokens_defaults_and_overrides(server: FakeServer, make: Any) -> None:
    info = {"vision": True, "function_calling": True, "json_output": True, "family": "claude-custom"}
    await make("claude-opus-4-1-20250805").create(HELLO)
    await make("my-claude", model_info=info).create(HELLO)
    await make(max_tokens=100).create(HELLO)
    await make(max_tokens=100).create(HELLO, extra_create_args={"max_tokens": 7})
    assert [r.json["max_tokens"] for r in server.requests] == [32_000, 4096, 100, 7]


@pytest.mark.parametrize(("args", "field"), [
    ({"temperature": 1.5}, "temperature"),
    ({"frequency_penalty": 1}, "frequency_penalty"),
    ({"system": "x"}, "system"),
    ({"thinking": {"type": "enabled", "budget_tokens": 10}}, "thinking"),
    ({"stop": "x", "stop_sequences": ["y"]}, "stop"),
])
async def test_bad_create_arguments_fail_before_sending(server: FakeServer, client: Any, args: dict,
                                                        field: str) -> None:
    with pytest.raises(mp.InvalidRequestError, match=field):
        await client.create(HELLO, extra_create_args=args)
    assert server.requests == []


async def test_b97_system_messages_must_be_one_run(server: FakeServer, client: Any) -> None:
    await client.create([UserMessage(content="a"), SystemMessage(content="s1"), SystemMessage(content="s2"),
                         UserMessage(content="b")])
    assert sent(server)["system"] == "s1\ns2"
    with pytest.raises(mp.InvalidRequestError, match=r"messages\[2\].*not consecutive"):
        await client.create([SystemMessage(content="s1"), UserMessage(content="a"), SystemMessage(content="s2")])
    assert len(server.requests) == 1


# -- B-98: message-shape rules --

async def test_b98_final_assistant_prefill_is_rstripped(server: FakeServer, client: Any) -> None:
    result = await client.create([UserMessage(content="Name a colour"), AssistantMessage(content="The colour is  \n")])
    assert sent(server)["messages"][-1] == {"role": "assistant", "content": [{"type": "text",
                                                                              "text": "The colour is"}]}
    assert result.finish_reason == "stop"  # the fake server refuses trailing white space, as Anthropic does


async def test_b98_empty_text_is_never_sent(server: FakeServer, client: Any) -> None:
    await client.create([UserMessage(content=["", "  ", "real"]), AssistantMessage(content=""),
                         UserMessage(content="   "), UserMessage(content="more"), AssistantMessage(content="\n")])
    assert sent(server)["messages"] == [{"role": "user", "content": [{"type": "text", "text": "real"},
                                                                     {"type": "text", "text": "more"}]}]
    with pytest.raises(mp.InvalidRequestError, match="at least one"):
        await client.create([SystemMessage(content="s"), UserMessage(content=" ")])


async def test_b98_tool_use_without_result_is_refused_before_sending(server: FakeServer, client: Any) -> None:
    call = FunctionCall(id="toolu_1", name="get_weather", arguments='{"city": "Paris"}')
    with pytest.raises(mp.InvalidRequestError, match=r"messages\[1\].*without results: toolu_1"):
        await client.create([UserMessage(content="weather?"), AssistantMessage(content=[call]),
                             UserMessage(content="well?")])
    with pytest.raises(mp.InvalidRequestError, match="answers no open tool call"):
        await client.create([UserMessage(content="weather?"), AssistantMessage(content="hm"),
                             FunctionExecutionResultMessage(content=[
                                 FunctionExecutionResult(content="x", name="get_weather", call_id="toolu_1")])])
    assert server.requests == []


async def test_tool_results_are_user_turn_blocks(server: FakeServer, client: Any) -> None:
    calls = [FunctionCall(id="t1", name="get_weather", arguments='{"city": "Paris"}'),
             FunctionCall(id="t2", name="get_weather", arguments="")]
    result = await client.create([
        UserMessage(content="weather?"),
        AssistantMessage(content=calls, thought="Checking both."),
        FunctionExecutionResultMessage(content=[
            FunctionExecutionResult(content="sunny", name="get_weather", call_id="t1"),
            FunctionExecutionResult(content="no such city", name="get_weather", call_id="t2", is_error=True)]),
    ], tools=[WEATHER])
    assert sent(server)["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "no such city", "is_error": True}]},
    ]
    assert result.content == "The tool said: sunny; no such city"


# -- tools and tool choice --

async def test_tools_and_tool_choice(server: FakeServer, client: Any) -> None:
    result = await client.create([UserMessage(content="Weather in Paris?")], tools=[WEATHER])
    body = sent(server)
    assert body["tools"] == [{"name": "get_weather", "description": "Get the weather",
                              "input_schema": WEATHER.schema["parameters"]}]
    assert "tool_choice" not in body
    assert result.finish_reason == "function_calls"
    assert result.content == [FunctionCall(id="toolu_fake_0", name="get_weather",
                                           arguments='{"city":"Paris","unit":"celsius"}')]
    assert result.content[0].parse_arguments() == {"city": "Paris", "unit": "celsius"}
    for choice, wire in [("required", {"type": "any"}), ("none", {"type": "none"}),
                         (WEATHER, {"type": "tool", "name": "get_weather"})]:
        await client.create(HELLO, tools=[WEATHER], tool_choice=choice)
        assert sent(server)["tool_choice"] == wire
    await client.create(HELLO, tools=[WEATHER], extra_create_args={"parallel_tool_calls": False})
    assert sent(server)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_tool_mistakes_fail_before_sending(server: FakeServer, client: Any) -> None:
    reserved = {"name": OUTPUT_TOOL, "parameters": {"type": "object", "properties": {}}}
    with pytest.raises(mp.InvalidRequestError, match="reserved"):
        await client.create(HELLO, tools=[reserved])
    with pytest.raises(mp.InvalidRequestError, match="without tools"):
        await client.create(HELLO, tool_choice="required")
    with pytest.raises(mp.InvalidRequestError, match="not among the tools"):
        await client.create(HELLO, tools=[WEATHER], tool_choice={"name": "other"})
    bad = FunctionCall(id="t1", name="get_weather", arguments='{"city": "Par')
    with pytest.raises(mp.InvalidRequestError, match=r"arguments must be a JSON object"):
        await client.create([UserMessage(content="q"), AssistantMessage(content=[bad]),
                             FunctionExecutionResultMessage(content=[FunctionExecutionResult(
                                 content="x", name="get_weather", call_id="t1")])])
    assert server.requests == []


# -- structured output --

async def test_structured_output_native_where_the_model_has_it(server: FakeServer, make: Any) -> None:
    result = await make(NATIVE).create([UserMessage(content="Tell me about Paris")], json_output=City)
    body = sent(server)
    output = body["output_config"]["format"]
    assert output["type"] == "json_schema"
    assert output["schema"]["additionalProperties"] is False
    assert "tools" not in body
    assert result.parsed == City(name="Paris", population=1)


async def test_adaptive_thinking_and_effort_beside_native_output(server: FakeServer, make: Any) -> None:
    client = make(NATIVE, thinking={"type": "adaptive", "display": "omitted"}, output_config={"effort": "low"})
    result = await client.create([UserMessage(content="Tell me about Paris")], json_output=City)
    body = sent(server)
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert body["output_config"]["effort"] == "low" and body["output_config"]["format"]["type"] == "json_schema"
    assert result.parsed == City(name="Paris", population=1)
    with pytest.raises(mp.InvalidRequestError, match="output_config"):
        await make(NATIVE, output_config={"format": {"type": "json_schema", "schema": {}}}).create(
            HELLO, json_output=City)


async def test_structured_output_by_a_forced_tool_elsewhere(server: FakeServer, client: Any) -> None:
    result = await client.create([UserMessage(content="Tell me about Paris")], json_output=City)
    body = sent(server)
    assert body["tools"][-1]["name"] == OUTPUT_TOOL
    assert body["tools"][-1]["input_schema"] == City.model_json_schema()
    assert body["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}
    assert (result.content, result.finish_reason) == ('{"name":"Paris","population":1}', "stop")
    assert result.parsed == City(name="Paris", population=1)
    _, streamed = await collect(client, [UserMessage(content="Tell me about Paris")], json_output=City)
    assert streamed.parsed == result.parsed


async def test_structured_output_beside_tools_and_as_any_json(server: FakeServer, client: Any) -> None:
    await client.create(HELLO, tools=[WEATHER], json_output=City)
    assert sent(server)["tool_choice"] == {"type": "any"}  # the caller's tools or the answer
    assert [t["name"] for t in sent(server)["tools"]] == ["get_weather", OUTPUT_TOOL]
    result = await client.create(HELLO, json_output=True)
    assert sent(server)["tools"][0]["input_schema"] == {"type": "object"}
    assert result.content == "{}"
    result = await client.create([UserMessage(content="Tell me about Paris")], extra_create_args={
        "response_format": City})
    assert result.parsed == City(name="Paris", population=1)


async def test_structured_output_by_tool_cannot_think(server: FakeServer, make: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="thinking"):
        await make(thinking=THINKING).create(HELLO, json_output=City)
    result = await make(NATIVE, thinking=THINKING).create([UserMessage(content="Tell me about Paris")],
                                                         json_output=City)
    assert result.parsed == City(name="Paris", population=1)
    assert result.thought == "The user wrote: Tell me about Paris"


# -- thinking (B-85) --

async def test_thinking_is_the_thought_and_streams_as_thought_chunks(server: FakeServer, make: Any) -> None:
    client = make(thinking=THINKING)
    deltas, streamed = await collect(client, [UserMessage(content="Hello there")])
    assert sent(server)["thinking"] == THINKING
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["The", " user", " wrote:", " Hello", " there"]
    assert [d for d in deltas if not isinstance(d, ThoughtChunk)] == ["You", " said:", " Hello", " there"]
    assert (streamed.thought, streamed.content) == ("The user wrote: Hello there", "You said: Hello there")
    with pytest.raises(mp.InvalidRequestError, match="budget_tokens"):
        await make(thinking=THINKING, max_tokens=1024).create(HELLO)
    with pytest.raises(mp.InvalidRequestError, match="tool_choice"):
        await client.create(HELLO, tools=[WEATHER], tool_choice="required")


@pytest.mark.parametrize("stream", [False, True])
async def test_b85_thinking_blocks_round_trip_before_tool_use(server: FakeServer, make: Any, stream: bool) -> None:
    client = make(thinking=THINKING)
    messages: list[Any] = [UserMessage(content="Weather in Paris?")]
    result = (await collect(client, messages, tools=[WEATHER]))[1] if stream else await client.create(
        messages, tools=[WEATHER])
    assert result.thought == "The user wrote: Weather in Paris?"
    messages += [AssistantMessage(content=result.content, thought=result.thought),
                 FunctionExecutionResultMessage(content=[FunctionExecutionResult(
                     content="sunny", name="get_weather", call_id=result.content[0].id)])]
    answer = await client.create(messages, tools=[WEATHER])  # the fake refuses a tool turn without its thinking
    assert answer.content == "The tool said: sunny"
    assert sent(server)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "The user wrote: Weather in Paris?", "signature": "fake-signature-0"},
        {"type": "tool_use", "id": "toolu_fake_0", "name": "get_weather",
         "input": {"city": "Paris", "unit": "celsius"}}]


@pytest.mark.parametrize("stream", [False, True])
async def test_b85_redacted_and_empty_signed_blocks_are_kept_verbatim(server: FakeServer, client: Any,
                                                                      stream: bool) -> None:
    blocks = [thinking_block("", "sig-omitted"), redacted_thinking_block("EncryptedBlob=="),
              thinking_block("more", "sig-2"), text_block("Let me check."),
              tool_use_block("toolu_9", "get_weather", {"city": "Oslo"})]
    message = anthropic_message(blocks, stop_reason="tool_use")
    server.add(anthropic_stream(message) if stream else Reply.json(message))
    result = (await collect(client, tools=[WEATHER]))[1] if stream else await client.create(HELLO, tools=[WEATHER])
    assert result.content[0].provider_fields == {PROVIDER_FIELD: blocks[:4]}
    assert result.thought == "more\nLet me check."
    await client.create([UserMessage(content="q"), AssistantMessage(content=result.content, thought=result.thought),
                         FunctionExecutionResultMessage(content=[FunctionExecutionResult(
                             content="cold", name="get_weather", call_id="toolu_9")])], tools=[WEATHER])
    assert sent(server)["messages"][1]["content"] == [
        *blocks[:4], {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}}]


# -- streams --

def tool_stream(pieces: list[str], *, stop: bool = True, stop_reason: str = "tool_use",
                start: dict[str, Any] | None = None) -> list[str]:
    block = start if start is not None else {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    events = [
        {"type": "message_start", "message": anthropic_message([], stop_reason=None, usage=anthropic_usage(10, 1))},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": block},
        *({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}}
          for p in pieces),
        *([{"type": "content_block_stop", "index": 1}] if stop else []),
        {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    return [anthropic_event(e) for e in events]


async def test_b77_tool_use_streaming(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(tool_stream(["", '{"city', '": "Pa', 'ris"}']), done=False))
    _, result = await collect(client, tools=[WEATHER])
    assert result.content == [FunctionCall(id="toolu_1", name="get_weather", arguments='{"city":"Paris"}')]
    assert (result.finish_reason, result.thought) == ("function_calls", "Checking.")
    server.add(Reply.sse(tool_stream([]), done=False))  # a block with no deltas has input {}
    assert (await collect(client, tools=[WEATHER]))[1].content[0].arguments == "{}"
    no_input = {"type": "tool_use", "id": "toolu_2", "name": "get_weather"}  # llama.cpp omits input
    server.add(Reply.sse(tool_stream(['{"city": "Rome"}'], start=no_input), done=False))
    assert (await collect(client, tools=[WEATHER]))[1].content[0].arguments == '{"city":"Rome"}'


async def test_b78_tool_input_cut_by_max_tokens(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(tool_stream(["", '{"path": "a.py", "content": "def f(', "):\\n"], stop=False,
                                     stop_reason="max_tokens"), done=False))
    _, result = await collect(client, tools=[WEATHER])
    assert result.finish_reason == "length"
    assert result.thought == "Checking."  # the text before the call is kept
    (call,) = result.content
    with pytest.raises(ValueError, match="not valid JSON"):  # not executable: never a plausible partial parse
        call.parse_arguments()


async def test_stream_usage_is_cumulative_not_added(server: FakeServer, client: Any) -> None:
    events = [
        {"type": "message_start", "message": anthropic_message([], stop_reason=None, usage=anthropic_usage(
            450, 1, cache_read=100, cache_creation=50))},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}},
        {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 80, "input_tokens": 450}},
        {"type": "message_stop"},
    ]
    server.add(Reply.sse([anthropic_event(e) for e in events], done=False))
    _, result = await collect(client)
    assert result.usage == mp.RequestUsage(prompt_tokens=600, completion_tokens=80, cached_prompt_tokens=100,
                                           cache_write_tokens=50)


async def test_ping_is_not_progress(server: FakeServer, make: Any) -> None:
    ping = anthropic_event({"type": "ping"}).encode()
    server.add(Reply.keep_alive_flood(interval=0.02, comment=ping))
    with pytest.raises(mp.APITimeoutError):
        await collect(make(timeout=0.3, max_retries=0))


async def test_a_stream_without_message_stop_is_incomplete(server: FakeServer, client: Any) -> None:
    events = anthropic_events(anthropic_message("Hello world"))[:-1]  # everything but message_stop
    server.add(Reply.sse(events, done=False))
    with pytest.raises(mp.IncompleteStreamError) as caught:
        await collect(client)
    assert caught.value.partial is not None and caught.value.partial.content == "Hello world"


async def test_b110_events_without_names_still_parse(server: FakeServer, client: Any) -> None:
    events = [e.split("\n", 1)[1] for e in anthropic_events(anthropic_message("Hello world"))]
    server.add(Reply.sse(events, done=False))
    assert (await collect(client))[1].content == "Hello world"


# -- B-46 and errors --

async def test_b46_overloaded_mid_stream_is_typed_with_the_partial_answer(server: FakeServer, client: Any) -> None:
    head = anthropic_events(anthropic_message("Hello world"))[:4]  # message_start, ping, block start, "Hello"
    error = "event: error\ndata: " + json.dumps(anthropic_error("overloaded_error", "Overloaded")) + "\n\n"
    server.add(Reply.sse([*head, error], done=False))
    with pytest.raises(mp.OverloadedError) as caught:
        await collect(client)
    assert caught.value.in_stream is True
    assert caught.value.partial is not None and caught.value.partial.content == "Hello"


async def test_b46_overloaded_before_any_delta_is_retried(server: FakeServer, client: Any,
                                                          sleeps: RecordingSleep) -> None:
    error = "event: error\ndata: " + json.dumps(anthropic_error("overloaded_error", "Overloaded")) + "\n\n"
    server.add(Reply.sse([*anthropic_events(anthropic_message("x"))[:2], error], done=False))
    _, result = await collect(client)
    assert result.content == "You said: Hello"
    assert len(sleeps.waits) == 1


async def test_529_and_error_envelopes(server: FakeServer, client: Any, sleeps: RecordingSleep) -> None:
    overloaded = Reply.json(anthropic_error("overloaded_error", "Overloaded"), status=529)
    server.add(overloaded, overloaded, overloaded, overloaded)
    with pytest.raises(mp.OverloadedError):
        await client.create(HELLO)
    assert len(sleeps.waits) == 3
    server.add(Reply.json(anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000"),
                          status=400))
    with pytest.raises(mp.ContextLengthExceededError, match="prompt is too long"):
        await client.create(HELLO)
    server.add(Reply.json(anthropic_error("api_error", "Internal"), status=200))
    server.add(Reply.json(anthropic_message("fine")))
    assert (await client.create(HELLO)).content == "fine"  # an error inside a 200 is retried like the status


# -- B-90: stop reasons --

@pytest.mark.parametrize(("raw", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("pause_turn", "unknown"),
    ("model_context_window_exceeded", "length"), ("refusal", "content_filter"), ("some_future_reason", "unknown"),
])
async def test_b90_stop_reasons(server: FakeServer, client: Any, raw: str, finish: str) -> None:
    details = {"stop_details": {"type": "refusal", "category": "cyber", "explanation": "Refused by policy."}}
    message = anthropic_message("partial answer", stop_reason=raw, **(details if raw == "refusal" else {}))
    _, streamed, created = await both(server, client, message)
    assert comparable(streamed) == comparable(created)
    assert (created.finish_reason, created.raw_finish_reason) == (finish, raw)
    if raw == "refusal":
        assert created.refusal == "Refused by policy. (cyber)"


async def test_b90_tool_use_and_an_empty_refusal(server: FakeServer, client: Any) -> None:
    message = anthropic_message([tool_use_block("t1", "get_weather", {"city": "Oslo"})], stop_reason="tool_use")
    _, streamed, created = await both(server, client, message, tools=[WEATHER])
    assert created.finish_reason == streamed.finish_reason == "function_calls"
    server.add(Reply.json(anthropic_message([], stop_reason="refusal")))
    with pytest.raises(mp.ContentFilterError):
        await client.create(HELLO)


# -- prompt caching and usage --

async def test_prompt_caching_places_breakpoints(server: FakeServer, make: Any) -> None:
    client = make(prompt_caching=True)
    result = await client.create([SystemMessage(content="A long system prompt."), UserMessage(content="Hi")],
                                 tools=[WEATHER])
    body = sent(server)
    marker = {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == marker
    assert body["system"] == [{"type": "text", "text": "A long system prompt.", "cache_control": marker}]
    assert body["messages"][-1]["content"][-1]["cache_control"] == marker
    assert json.dumps(body).count("cache_control") <= 4
    assert result.usage.cached_prompt_tokens and result.usage.cached_prompt_tokens > 0
    await client.create(HELLO, extra_create_args={"prompt_caching": "1h"})
    assert sent(server)["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    await client.create(HELLO, extra_create_args={"prompt_caching": False})
    assert "cache_control" not in json.dumps(sent(server))


async def test_usage_counts_cache_reads_and_writes_as_prompt(server: FakeServer, client: Any) -> None:
    usage = anthropic_usage(20, 7, cache_read=1000, cache_creation=300,
                            output_tokens_details={"thinking_tokens": 4})
    _, streamed, created = await both(server, client, anthropic_message("ok", usage=usage))
    expected = mp.RequestUsage(prompt_tokens=1320, completion_tokens=7, cached_prompt_tokens=1000, reasoning_tokens=4,
                               cache_write_tokens=300)
    assert created.usage == expected
    assert streamed.usage == expected
    assert client.total_usage().prompt_tokens == 2640


# -- parity --

PARITY: dict[str, tuple[list[dict[str, Any]], str]] = {
    "text": ([text_block("Hello world, how are you?")], "end_turn"),
    "tools_with_text": ([text_block("Let me check."), tool_use_block("t1", "get_weather", {"city": "Oslo"}),
                         tool_use_block("t2", "get_weather", {"city": "Rome", "unit": "kelvin"})], "tool_use"),
    "thinking_and_tool": ([thinking_block("I should look it up.", "sig-a"),
                           tool_use_block("t1", "get_weather", {"city": "Oslo"})], "tool_use"),
    "redacted_thinking_and_text": ([redacted_thinking_block("blob"), text_block("Answer.")], "end_turn"),
    "structured_by_tool": ([tool_use_block("t1", OUTPUT_TOOL, {"name": "Oslo", "population": 700000})], "tool_use"),
    "length": ([text_block("cut off here")], "max_tokens"),
}


@pytest.mark.parametrize("name", sorted(PARITY))
async def test_scripted_stream_equals_non_stream(server: FakeServer, client: Any, name: str) -> None:
    blocks, stop_reason = PARITY[name]
    kwargs: dict[str, Any] = {"json_output": City} if name == "structured_by_tool" else {"tools": [WEATHER]}
    deltas, streamed, created = await both(server, client, anthropic_message(blocks, stop_reason=stop_reason),
                                           **kwargs)
    assert comparable(streamed) == comparable(created)
    if isinstance(streamed.content, str):
        assert "".join(d for d in deltas if not isinstance(d, ThoughtChunk)) == streamed.content


@pytest.mark.parametrize(("model", "kwargs"), [
    (MODEL, {}),
    (MODEL, {"tools": [WEATHER]}),
    (MODEL, {"tools": [WEATHER], "tool_choice": "required"}),
    (MODEL, {"json_output": City}),
    (NATIVE, {"json_output": City}),
    (MODEL, {"json_output": True}),
    (MODEL, {"tools": [WEATHER], "extra_create_args": {"thinking": THINKING}}),
], ids=["text", "tools", "tool_choice", "json_by_tool", "json_native", "json_object", "thinking_tool"])
async def test_default_model_stream_equals_non_stream(server: FakeServer, make: Any, model: str,
                                                      kwargs: dict) -> None:
    client = make(model)
    messages = [UserMessage(content="Tell me about Paris")]
    _, streamed = await collect(client, messages, **kwargs)
    created = await client.create(messages, **kwargs)
    ignored = {"usage": None, "cost": None}  # the fake counts the prompt by its body, which "stream" lengthens
    assert comparable(streamed) | ignored == comparable(created) | ignored


# -- tokens and models --

async def test_count_tokens_offline_estimate_and_remote(server: FakeServer, client: Any) -> None:
    messages = [SystemMessage(content="Be brief."), UserMessage(content="What is the capital of France?")]
    offline = client.count_tokens(messages, tools=[WEATHER])
    assert offline.estimated is True and offline > 0
    assert client.remaining_tokens(messages) == 200_000 - client.count_tokens(messages)
    remote = await client.count_tokens_remote(messages, tools=[WEATHER])
    assert remote.estimated is False and remote > 0
    request = server.requests[0]
    assert request.path == "/v1/messages/count_tokens"
    assert set(request.json) == {"model", "system", "messages", "tools"}
    assert request.headers["x-api-key"] == KEY


async def test_list_models_reads_every_page(server: FakeServer, client: Any) -> None:
    models = await client.list_models()
    assert [m.id for m in models] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001",
                                      "claude-opus-4-1-20250805"]
    assert models[0].context_window == 200_000
    assert server.requests[0].headers["anthropic-version"] == "2023-06-01"
    server.add(Reply.json({"data": [{"id": "a", "type": "model", "max_input_tokens": 5}], "has_more": True,
                           "last_id": "a"}),
               Reply.json({"data": [{"id": MODEL, "type": "model", "max_input_tokens": 1000}], "has_more": False,
                           "last_id": MODEL}))
    assert [m.id for m in await client.list_models()] == ["a", MODEL]
    assert server.requests[-1].query["after_id"] == ["a"]
    assert client.context_window == 1000


# -- what is shared with every client: cache, contexts, components, events --

async def test_cache_hits_keep_thinking_round_trip_fields(server: FakeServer, make: Any) -> None:
    cached = ChatCompletionCache(make(thinking=THINKING), InMemoryStore())
    messages = [UserMessage(content="Weather in Paris?")]
    first = await cached.create(messages, tools=[WEATHER])
    second = await cached.create(messages, tools=[WEATHER])
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content and second.content[0].provider_fields
    _, streamed = await collect(cached, messages, tools=[WEATHER])
    assert streamed.cached is True
    assert len(server.requests) == 1
    await cached.create(messages, tools=[WEATHER], extra_create_args={"temperature": 1})
    assert len(server.requests) == 2  # another create argument is another answer


async def test_the_four_contexts(server: FakeServer, client: Any) -> None:
    history = [SystemMessage(content="Be brief.")] + [UserMessage(content=f"message {i}") for i in range(6)]
    contexts = [UnboundedChatCompletionContext(), BufferedChatCompletionContext(3),
                HeadAndTailChatCompletionContext(1, 2), TokenLimitedChatCompletionContext(client, token_limit=60)]
    for context in contexts:
        for message in history:
            await context.add_message(message)
        kept = await context.get_messages()
        assert kept[-1] == history[-1]
        result = await client.create(kept)
        assert isinstance(result.content, str) and result.content.endswith("message 5")
    limited = await contexts[-1].get_messages()
    assert 1 < len(limited) < len(history)


async def test_components_dump_and_load(monkeypatch: pytest.MonkeyPatch, server: FakeServer, make: Any) -> None:
    monkeypatch.setenv("MY_ANTHROPIC_KEY", KEY)
    client = make(api_key=None, api_key_env="MY_ANTHROPIC_KEY", max_tokens=5000, thinking=THINKING,
                  prompt_caching=True, temperature=1, default_headers={"x-api-key": KEY, "anthropic-beta": "b"})
    dumped = client.dump_component()
    assert dumped.provider == "anthropic" and KEY not in dumped.model_dump_json()
    assert dumped.config["api_key_env"] == "MY_ANTHROPIC_KEY"
    loaded = AnthropicChatCompletionClient.load_component(dumped, allow_env=["MY_ANTHROPIC_KEY"])
    try:
        assert loaded._request_headers["x-api-key"] == KEY
        assert loaded._create_args == {"max_tokens": 5000, "thinking": THINKING, "prompt_caching": True,
                                       "temperature": 1}
        assert (await loaded.create(HELLO)).content == "You said: Hello"
    finally:
        await loaded.close()
    assert KEY in make().dump_component(include_secrets=True).model_dump_json()
    context = TokenLimitedChatCompletionContext(make(api_key=None, api_key_env="MY_ANTHROPIC_KEY"), token_limit=100)
    restored = load_component(context.dump_component(), allow_env=["MY_ANTHROPIC_KEY"])
    assert isinstance(restored.model_client, AnthropicChatCompletionClient)
    await restored.model_client.close()


def test_autogen_anthropic_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"provider": "autogen_ext.models.anthropic.AnthropicChatCompletionClient", "component_type": "model",
              "version": 1, "component_version": 1, "config": {
                  "model": MODEL, "api_key": KEY, "max_tokens": 4096, "temperature": 1.0, "timeout": None,
                  "max_retries": None, "response_format": None, "base_url": "http://127.0.0.1:9",
                  "model_capabilities": {"vision": True, "function_calling": True, "json_output": True}}}
    client = mp.ChatCompletionClient.load_component(config)
    assert isinstance(client, AnthropicChatCompletionClient)
    assert (client._create_args, client.model_info["family"]) == ({"max_tokens": 4096, "temperature": 1.0},
                                                                  "unknown")
    masked = {**config, "config": {**config["config"], "api_key": "**********"}}
    with pytest.raises(ComponentConfigError, match="masked"):
        load_component(masked)
    for name in ("anthropic", "AnthropicChatCompletionClient", "modelport.AnthropicChatCompletionClient"):
        assert isinstance(load_component({"provider": name, "config": {"model": MODEL, "api_key": KEY}}),
                          AnthropicChatCompletionClient)


async def test_events_are_the_same_as_for_every_client(server: FakeServer, client: Any,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    await client.create(HELLO)
    await collect(client)
    server.add(Reply.json(anthropic_error("invalid_request_error", f"bad key {KEY}"), status=400))
    with pytest.raises(mp.BadRequestError) as caught:
        await client.create(HELLO)
    events = [r.msg for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    names = [type(e).__name__ for e in events]
    assert names == ["LLMCallEvent", "LLMStreamStartEvent", "LLMStreamEndEvent", "LLMCallErrorEvent"]
    call = events[0].kwargs
    assert (call["model"], call["resolved_model"], call["prompt_tokens"] > 0) == (MODEL, MODEL, True)
    assert events[2].kwargs["response"]["content"] == "You said: Hello"
    assert all(KEY not in str(e) for e in events)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.body)


def test_secrets_stay_out_of_repr_and_configs() -> None:
    client = AnthropicChatCompletionClient(MODEL, api_key=KEY, base_url="http://127.0.0.1:9")
    assert KEY not in repr(client) and KEY not in repr(client._request_headers)
    assert KEY not in client.dump_component().model_dump_json()
    assert "x-api-key" not in json.dumps(client.dump_component().config)


def test_the_fake_server_refuses_what_anthropic_refuses(server: FakeServer) -> None:
    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(server.base_url + "/messages", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    user = {"role": "user", "content": "hi"}
    cases = [
        ({"model": MODEL, "messages": [user]}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 5, "messages": [user, {"role": "assistant", "content": "x "}]}, "trailing"),
        ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [text_block(" ")]}]}, "non-white"),
        ({"model": MODEL, "max_tokens": 5, "messages": [user, {"role": "assistant", "content": [
            tool_use_block("t1", "f", {})]}, user]}, "tool_result"),
        ({"model": MODEL, "max_tokens": 5000, "thinking": THINKING, "messages": [user, {"role": "assistant",
          "content": [tool_use_block("t1", "f", {})]}, {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "t1", "content": "x"}]}]}, "thinking"),
    ]
    for body, words in cases:
        status, answer = post(body)
        assert status == 400 and answer["type"] == "error" and words in answer["error"]["message"]
    status, answer = post({"model": MODEL, "max_tokens": 5, "messages": [user]})
    assert status == 200 and answer["content"] == [text_block("You said: hi")]
