"""The Ollama client and dialect (native ``/api/chat``), over real HTTP against the fake server's Ollama routes.

Catalogue cases are named after their ids (wire-behaviour B-79)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    AssistantMessage,
    CancellationToken,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    RetryPolicy,
    SystemMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport.components import load_component
from modelport.providers.ollama import OllamaChatCompletionClient, parse_host
from modelport.testing import FakeServer, Reply
from modelport.testing._ollama import (
    CONTEXT_LENGTH,
    ollama_chunk,
    ollama_error,
    ollama_response,
    ollama_stream,
)

from .conftest import RecordingSleep
from .helpers import collect
from .test_validation import PNG_1x1

MODEL = "llama3.1"
HELLO = [UserMessage(content="Hello Paris", source="user")]


class City(BaseModel):
    name: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"sunny in {city}"


WEATHER = FunctionTool(get_weather, "Get the weather")
CALL = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}


@pytest.fixture(autouse=True)
def _no_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def host_of(server: FakeServer) -> str:
    return f"http://{server.host}:{server.port}"


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[OllamaChatCompletionClient] = []

    def make(model: str = MODEL, **kwargs: Any) -> OllamaChatCompletionClient:
        kwargs.setdefault("host", host_of(server))
        kwargs.setdefault(
            "retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps, random=lambda: 0.0)
        )
        client = OllamaChatCompletionClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make: Any) -> OllamaChatCompletionClient:
    return make()  # type: ignore[no-any-return]


def sent(server: FakeServer, n: int = -1) -> dict[str, Any]:
    body = server.requests[n].json
    assert isinstance(body, dict)
    return body


def comparable(result: CreateResult) -> dict[str, Any]:
    """A result without what differs between any two calls: the request id and the server's timings."""
    data = result.model_dump()
    data.pop("request_id")
    data.pop("provider_metadata")
    return data


async def wait_for_connections(server: FakeServer, count: int, within: float = 2.0) -> None:
    end = time.monotonic() + within
    while server.open_connections > count and time.monotonic() < end:
        await asyncio.sleep(0.01)
    assert server.open_connections <= count, f"{server.open_connections} connections still open"


# -- the server --


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("myhost:1234", "http://myhost:1234"),
        ("http://myhost", "http://myhost:80"),
        ("https://ollama.example.com/prefix/", "https://ollama.example.com:443/prefix"),
        ("http://[::1]:11434", "http://[::1]:11434"),
        ("localhost", "http://localhost:11434"),
    ],
)
def test_hosts_are_read_as_ollama_reads_them(given: str, url: str) -> None:
    assert parse_host(given) == url


def test_bad_hosts_are_refused() -> None:
    for bad in ("", "ftp://x"):
        with pytest.raises(mp.InvalidRequestError):
            parse_host(bad)


async def test_default_host_and_ollama_host(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    client = OllamaChatCompletionClient(MODEL)
    assert client.host == "http://localhost:11434"
    await client.close()
    monkeypatch.setenv("OLLAMA_HOST", f"{server.host}:{server.port}")  # as `ollama serve` users write it
    client = OllamaChatCompletionClient(MODEL)
    try:
        assert (await client.create(HELLO)).content == "You said: Hello Paris"
        request = server.requests[-1]
        assert request.method == "POST" and request.path == "/api/chat"
        assert "authorization" not in request.headers  # Ollama takes no key
    finally:
        await client.close()


# -- the request --


async def test_request_shape_and_options(server: FakeServer, make: Any) -> None:
    client = make(
        options={"num_ctx": 8192, "top_k": 20},
        keep_alive="10m",
        think=True,
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop="END",
    )
    await client.create([SystemMessage(content="Be brief"), *HELLO])
    body = sent(server)
    assert body == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hello Paris"}],
        "options": {
            "num_ctx": 8192,
            "top_k": 20,
            "num_predict": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["END"],
        },
        "keep_alive": "10m",
        "think": True,
        "stream": False,  # Ollama streams unless told not to
    }
    await collect(client, HELLO)
    assert sent(server)["stream"] is True


async def test_call_options_merge_into_the_clients(server: FakeServer, make: Any) -> None:
    client = make(options={"num_ctx": 8192, "temperature": 0.5})
    await client.create(
        HELLO, extra_create_args={"options": {"temperature": 0}, "max_completion_tokens": 9, "keep_alive": 0}
    )
    assert sent(server)["options"] == {"num_ctx": 8192, "temperature": 0, "num_predict": 9}
    assert sent(server)["keep_alive"] == 0
    await client.create(HELLO, extra_create_args={"temperature": 1.0})
    assert sent(server)["options"] == {"num_ctx": 8192, "temperature": 1.0}
    await client.create(HELLO, extra_create_args={"reasoning_effort": "high", "extra_body": {"truncate": False}})
    assert sent(server)["think"] == "high" and sent(server)["truncate"] is False


@pytest.mark.parametrize(
    "args",
    [
        {"temperature": 0.5, "options": {"temperature": 0.2}},
        {"max_tokens": 5, "num_predict": 6},
        {"think": "extreme"},
        {"keep_alive": True},
        {"options": {"num_ctx": "big"}},
        {"logit_bias": {}},
        {"stream": True},
        {"think": True, "reasoning_effort": "low"},
        {"format": "yaml"},
    ],
)
async def test_bad_create_arguments_fail_before_sending(server: FakeServer, client: Any, args: dict[str, Any]) -> None:
    with pytest.raises(mp.InvalidRequestError):
        await client.create(HELLO, extra_create_args=args)
    assert server.requests == []


# -- thinking, JSON, tools, images --


async def test_thinking_is_the_thought_and_streams_as_thought_chunks(server: FakeServer, make: Any) -> None:
    client = make("qwen3", think=True)
    deltas, streamed = await collect(client, HELLO)
    thoughts = [d for d in deltas if isinstance(d, ThoughtChunk)]
    assert "".join(thoughts) == "The user wrote: Hello Paris"
    assert "".join(d for d in deltas if not isinstance(d, ThoughtChunk)) == "You said: Hello Paris"
    created = await client.create(HELLO)
    assert created.thought == streamed.thought == "The user wrote: Hello Paris"
    assert comparable(created) == comparable(streamed)


async def test_json_output_sends_format(server: FakeServer, client: Any) -> None:
    result = await client.create(HELLO, json_output=True)
    assert sent(server)["format"] == "json"
    assert result.content == '{"answer":"Hello Paris"}'
    await client.create(HELLO, extra_create_args={"response_format": {"type": "json_object"}})
    assert sent(server)["format"] == "json"
    with pytest.raises(mp.InvalidRequestError):
        await client.create(HELLO, json_output=True, extra_create_args={"format": {"type": "object"}})


@pytest.mark.parametrize("stream", [False, True])
async def test_a_pydantic_model_sends_its_schema_and_fills_parsed(
    server: FakeServer, client: Any, stream: bool
) -> None:
    if stream:
        _, result = await collect(client, HELLO, json_output=City)
    else:
        result = await client.create(HELLO, json_output=City)
    assert sent(server)["format"] == City.model_json_schema()
    assert result.parsed == City(name="Paris", population=1)


async def test_tools_and_tool_results(server: FakeServer, client: Any) -> None:
    result = await client.create(HELLO, tools=[WEATHER])
    tool = sent(server)["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "get_weather" and "strict" not in tool["function"]
    assert result.finish_reason == "function_calls"
    assert isinstance(result.content, list)
    call = result.content[0]
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris","unit":"celsius"}')
    history = [
        *HELLO,
        AssistantMessage(content=result.content, source="assistant"),
        FunctionExecutionResultMessage(
            content=[FunctionExecutionResult(content="sunny", name="get_weather", call_id=call.id)]
        ),
    ]
    answer = await client.create(history, tools=[WEATHER])
    assert answer.content == "The tool said: sunny"
    messages = sent(server)["messages"]
    assert messages[1]["tool_calls"] == [
        {
            "id": call.id,
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        }
    ]
    assert messages[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": call.id}


async def test_tool_arguments_that_are_not_an_object_are_refused(server: FakeServer, client: Any) -> None:
    history = [
        *HELLO,
        AssistantMessage(content=[FunctionCall(id="1", name="get_weather", arguments="[1]")], source="a"),
    ]
    with pytest.raises(mp.InvalidRequestError, match="JSON object"):
        await client.create(history)
    assert server.requests == []


async def test_tool_choice_without_a_tool_choice_field(server: FakeServer, client: Any) -> None:
    def other(x: int) -> int:
        return x

    tools = [WEATHER, FunctionTool(other, "other")]
    await client.create(HELLO, tools=tools, tool_choice="none")
    assert "tools" not in sent(server) and "tool_choice" not in sent(server)
    await client.create(HELLO, tools=tools, tool_choice=tools[1])
    assert [t["function"]["name"] for t in sent(server)["tools"]] == ["other"]
    with pytest.raises(mp.InvalidRequestError, match="required"):
        await client.create(HELLO, tools=tools, tool_choice="required")


async def test_images_are_bare_base64(server: FakeServer, make: Any) -> None:
    client = make("llama3.2-vision")
    image = Image.from_bytes(PNG_1x1)
    await client.create([UserMessage(content=["What is this?", image], source="user")])
    assert sent(server)["messages"] == [{"role": "user", "content": "What is this?", "images": [image.data]}]
    with pytest.raises(mp.InvalidRequestError, match="base64"):
        await client.create([UserMessage(content=[Image.from_url("https://example.com/a.png")], source="user")])
    with pytest.raises(mp.CapabilityError):
        await make().create([UserMessage(content=[image], source="user")])  # llama3.1 has no vision


# -- B-79: Ollama's streamed tool calls --


async def test_b79_tool_calls_in_their_own_line_then_done_stop(server: FakeServer, client: Any) -> None:
    lines = [
        ollama_chunk(tool_calls=[CALL]),
        ollama_chunk(done=True, done_reason="stop", prompt_eval_count=20, eval_count=8),
    ]
    server.add(ollama_stream(lines), Reply.json(ollama_response(tool_calls=[CALL], prompt_eval_count=20, eval_count=8)))
    _, streamed = await collect(client, HELLO, tools=[WEATHER])
    created = await client.create(HELLO, tools=[WEATHER])
    assert streamed.finish_reason == "function_calls" and streamed.raw_finish_reason == "stop"
    assert isinstance(streamed.content, list)
    assert [(c.name, c.arguments) for c in streamed.content] == [("get_weather", '{"city":"Paris"}')]
    assert comparable(streamed) == comparable(created)


async def test_b79_tool_calls_in_the_done_line(server: FakeServer, client: Any) -> None:
    second = {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}
    server.add(
        ollama_stream(
            [ollama_chunk(tool_calls=[CALL]), ollama_chunk(tool_calls=[second], done=True, done_reason="stop")]
        )
    )
    _, result = await collect(client, HELLO, tools=[WEATHER])
    assert isinstance(result.content, list)
    assert [c.arguments for c in result.content] == ['{"city":"Paris"}', '{"city":"Rome"}']
    assert [c.id for c in result.content] == ["call_0", "call_1"]


async def test_b79_a_call_id_repeated_in_the_done_line_counts_once(server: FakeServer, client: Any) -> None:
    call = {"id": "call_a", **CALL}
    server.add(
        ollama_stream([ollama_chunk(tool_calls=[call]), ollama_chunk(tool_calls=[call], done=True, done_reason="stop")])
    )
    _, result = await collect(client, HELLO, tools=[WEATHER])
    assert isinstance(result.content, list) and [c.id for c in result.content] == ["call_a"]


async def test_b79_versions_that_drop_streamed_tool_calls(
    server: FakeServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The bug: the stream ends with "stop" and neither text nor the call.
    server.add(ollama_stream([ollama_chunk(), ollama_chunk(done=True, done_reason="stop")]))
    with caplog.at_level(logging.WARNING, logger="modelport"):
        _, lost = await collect(make(), HELLO, tools=[WEATHER])
    assert lost.content == "" and "stream_tool_calls=False" in caplog.text
    # The remedy: such a client asks for one whole answer when tools are given, and still streams without them.
    client = make(stream_tool_calls=False)
    _, streamed = await collect(client, HELLO, tools=[WEATHER])
    assert sent(server)["stream"] is False
    created = await client.create(HELLO, tools=[WEATHER])
    assert streamed.finish_reason == "function_calls" and comparable(streamed) == comparable(created)
    deltas, _ = await collect(client, HELLO)
    assert sent(server)["stream"] is True and len(deltas) > 1


# -- usage, timings, finish reasons --


@pytest.mark.parametrize(
    ("raw", "finish"), [("stop", "stop"), ("length", "length"), ("load", "stop"), ("unload", "stop")]
)
async def test_done_reasons(server: FakeServer, client: Any, raw: str, finish: str) -> None:
    server.add(Reply.json(ollama_response("", done_reason=raw)))
    result = await client.create(HELLO)
    assert (result.finish_reason, result.raw_finish_reason) == (finish, raw)


async def test_a_request_without_messages_loads_the_model(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(ollama_chunk(done=True, done_reason="load")))
    result = await client.create(HELLO)
    assert result.finish_reason == "stop" and result.content == "" and not result.usage_reported


async def test_usage_and_timings(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(ollama_response("hi", prompt_eval_count=26, eval_count=290)))
    result = await client.create(HELLO)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (26, 290) and result.usage_reported
    metadata = result.provider_metadata
    assert metadata["load_duration"] == 1_000_000 and metadata["prompt_eval_duration"] == 2_000_000
    assert metadata["eval_duration"] == 2_000_000 and metadata["done_reason"] == "stop"
    # A prompt served wholly from Ollama's cache has no prompt_eval_count: 0, still reported.
    server.add(ollama_stream([ollama_chunk("hi"), ollama_chunk(done=True, done_reason="stop", eval_count=3)]))
    _, streamed = await collect(client, HELLO)
    assert (streamed.usage.prompt_tokens, streamed.usage.completion_tokens) == (0, 3) and streamed.usage_reported
    assert streamed.provider_metadata is not None and streamed.provider_metadata["eval_count"] == 3
    assert client.total_usage().completion_tokens == 293


# -- parity, framing, cuts, cancellation --


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"tools": [WEATHER]}, {"json_output": City}, {"json_output": True}],
    ids=["text", "tools", "schema", "json"],
)
async def test_default_model_stream_equals_non_stream(server: FakeServer, make: Any, kwargs: dict[str, Any]) -> None:
    client = make("qwen3", think=True)
    _, streamed = await collect(client, HELLO, **kwargs)
    created = await client.create(HELLO, **kwargs)
    assert comparable(streamed) == comparable(created)


async def test_lines_split_anywhere_and_a_last_line_without_newline(server: FakeServer, client: Any) -> None:
    lines = [ollama_chunk("Grüße"), ollama_chunk(" aus"), ollama_chunk(" Köln")]
    last = ollama_chunk(done=True, done_reason="stop", eval_count=3, prompt_eval_count=1)
    import orjson

    server.add(ollama_stream([*lines, orjson.dumps(last)], split=5))
    deltas, result = await collect(client, HELLO)
    assert "".join(deltas) == result.content == "Grüße aus Köln"
    assert server.requests[-1].headers["accept"].startswith("application/x-ndjson")


async def test_a_stream_without_its_done_line_is_incomplete(server: FakeServer, client: Any) -> None:
    server.add(ollama_stream([ollama_chunk("Hello"), ollama_chunk(" there")]))
    stream = client.create_stream(HELLO)
    assert await stream.__anext__() == "Hello"
    with pytest.raises(mp.IncompleteStreamError) as caught:
        async for _ in stream:
            pass
    assert caught.value.partial is not None and caught.value.partial.content == "Hello there"


async def test_a_stream_cut_inside_a_line_is_incomplete(server: FakeServer, client: Any) -> None:
    cut = b'{"model":"llama3.1","message":{"content":" th'
    server.add(ollama_stream([ollama_chunk("Hello"), cut]))  # the body ends cleanly, inside a line
    with pytest.raises(mp.IncompleteStreamError) as caught:
        await collect(client, HELLO)
    assert caught.value.partial is not None and caught.value.partial.content == "Hello"
    server.add(ollama_stream([ollama_chunk("Hello"), cut], reset=True))  # the connection breaks
    with pytest.raises(mp.APIConnectionError):
        await collect(client, HELLO)


async def test_cancellation_closes_the_stream(server: FakeServer, client: Any) -> None:
    server.add(ollama_stream([ollama_chunk("first")], stall=True))
    token = CancellationToken()
    stream = client.create_stream(HELLO, cancellation_token=token)
    assert await stream.__anext__() == "first"
    asyncio.get_running_loop().call_later(0.05, token.cancel)
    with pytest.raises(asyncio.CancelledError):
        await stream.__anext__()
    await wait_for_connections(server, 0)


async def test_cancellation_cancels_create(server: FakeServer, client: Any) -> None:
    server.add(Reply.hang())
    token = CancellationToken()
    asyncio.get_running_loop().call_later(0.05, token.cancel)
    with pytest.raises(asyncio.CancelledError):
        await client.create(HELLO, cancellation_token=token)
    await wait_for_connections(server, 0)


# -- errors --


async def test_a_missing_model_names_ollama_pull(server: FakeServer, client: Any) -> None:
    server.add(ollama_error(f"model '{MODEL}' not found", status=404))
    with pytest.raises(mp.NotFoundError) as caught:
        await client.create(HELLO)
    assert "model 'llama3.1' not found" in str(caught.value) and "ollama pull llama3.1" in str(caught.value)
    server.add(ollama_error(f"model '{MODEL}' not found", status=404))
    with pytest.raises(mp.NotFoundError, match="ollama pull"):
        await client.show()


async def test_error_envelopes_are_typed(server: FakeServer, client: Any, sleeps: RecordingSleep) -> None:
    server.add(ollama_error("invalid options: num_ctx"))
    with pytest.raises(mp.BadRequestError, match="invalid options"):
        await client.create(HELLO)
    server.add(ollama_error("an error was encountered while running the model", status=500))
    assert (await client.create(HELLO)).content == "You said: Hello Paris"  # retried
    assert len(sleeps.waits) == 1
    server.add(Reply.text("404 page not found", status=404))
    with pytest.raises(mp.NotFoundError) as caught:
        await client.create(HELLO)
    assert "ollama pull" not in str(caught.value)


async def test_an_error_line_mid_stream_is_typed_with_the_partial_answer(server: FakeServer, client: Any) -> None:
    server.add(ollama_stream([ollama_chunk("Hello"), {"error": "an error was encountered while running the model"}]))
    with pytest.raises(mp.ServerError) as caught:
        await collect(client, HELLO)
    assert caught.value.in_stream and caught.value.partial is not None
    assert caught.value.partial.content == "Hello"


# -- the server's other endpoints --


async def test_context_window_from_show_and_num_ctx(server: FakeServer, make: Any) -> None:
    client = make()
    assert client.context_window == 131_072  # the registry's
    shown = await client.show()
    assert sent(server) == {"model": MODEL} and server.requests[-1].path == "/api/show"
    assert shown["model_info"]["llama.context_length"] == CONTEXT_LENGTH == client.context_window
    server.add(
        Reply.json(
            {
                "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
                "parameters": 'num_ctx                        16384\nstop "<|im_end|>"',
            }
        )
    )
    await client.show()
    assert client.context_window == 16384  # what the Modelfile serves, not what the model was trained for
    assert make(options={"num_ctx": 4096}).context_window == 4096
    assert make(num_ctx=2048).context_window == 2048


async def test_list_models_from_tags(server: FakeServer, client: Any) -> None:
    listings = await client.list_models()
    assert server.requests[0].method == "GET" and server.requests[0].path == "/api/tags"
    assert [m.id for m in listings] == ["llama3.1:latest", "qwen3:8b"]
    assert listings[0].raw["details"]["quantization_level"] == "Q4_K_M"


# -- components --


async def test_components_dump_and_load(server: FakeServer, make: Any) -> None:
    client = make(
        options={"num_ctx": 8192},
        keep_alive="1h",
        think=True,
        temperature=0.1,
        stream_tool_calls=False,
        default_headers={"authorization": "Bearer proxy-SECRET", "x-team": "a"},
    )
    dumped = client.dump_component()
    assert dumped.provider == "ollama" and "proxy-SECRET" not in dumped.model_dump_json()
    assert dumped.config["host"] == host_of(server) and dumped.config["stream_tool_calls"] is False
    loaded = load_component(dumped)
    try:
        assert isinstance(loaded, OllamaChatCompletionClient)
        assert loaded._create_args == client._create_args
        assert (await loaded.create(HELLO)).content == "You said: Hello Paris"
        assert sent(server)["options"] == {"num_ctx": 8192, "temperature": 0.1}
    finally:
        await loaded.close()


async def test_autogen_ollama_config_loads(server: FakeServer) -> None:
    config = {
        "provider": "autogen_ext.models.ollama.OllamaChatCompletionClient",
        "component_type": "model",
        "version": 1,
        "component_version": 1,
        "config": {
            "model": MODEL,
            "host": host_of(server),
            "options": {"temperature": 0},
            "follow_redirects": True,
            "headers": {"x-team": "a"},
            "timeout": None,
            "response_format": None,
        },
    }
    client = OllamaChatCompletionClient.load_component(config)
    try:
        assert (await client.create(HELLO)).content == "You said: Hello Paris"
        assert sent(server)["options"] == {"temperature": 0} and server.requests[-1].headers["x-team"] == "a"
    finally:
        await client.close()


# -- the shared machinery, unchanged with this client --


async def test_the_cache_stores_and_replays_ollama_answers(server: FakeServer, client: Any) -> None:
    from modelport import ChatCompletionCache

    cache = ChatCompletionCache(client)
    first = await cache.create(HELLO)
    again = await cache.create(HELLO)
    deltas, replayed = await collect(cache, HELLO)  # streamed and plain calls share a key: a replay
    assert not first.cached and again.cached and again.content == first.content
    assert replayed.cached and "".join(deltas) == replayed.content == first.content
    assert len(server.requests) == 1


async def test_a_token_limited_context_trims_for_ollama(server: FakeServer, make: Any) -> None:
    from modelport.model_context import TokenLimitedChatCompletionContext

    client = make(options={"num_ctx": 200})
    context = TokenLimitedChatCompletionContext(client, token_limit=120)
    for i in range(30):
        await context.add_message(UserMessage(content=f"message {i}: a few words about the weather in Paris"))
    kept = await context.get_messages()
    assert 0 < len(kept) < 30 and kept[-1].content.startswith("message 29")
    assert (await client.create(kept)).content.startswith("You said: message 29")


async def test_events_are_logged_for_ollama_calls(server: FakeServer, client: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=mp.EVENT_LOGGER_NAME)
    await client.create(HELLO)
    await collect(client, HELLO)
    kinds = [record.msg.type if hasattr(record.msg, "type") else str(record.msg) for record in caplog.records
             if record.name == mp.EVENT_LOGGER_NAME]
    assert any("LLMCall" in k for k in kinds) and any("LLMStreamEnd" in k for k in kinds)


async def test_connection_refused_says_ollama_is_not_running() -> None:
    client = OllamaChatCompletionClient("llama3.1", host="http://127.0.0.1:9", max_retries=0)
    try:
        with pytest.raises(mp.APIConnectionError, match=r"is Ollama running at http://127\.0\.0\.1:9"):
            await client.create(HELLO)
    finally:
        await client.close()
