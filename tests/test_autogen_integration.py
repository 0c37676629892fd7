"""AutoGenClient under AutoGen's own AssistantAgent (tools, streaming, structured output, cancellation), over a cache
and a replay client; its config round trip; and ReplayChatCompletionClient on its own."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest

pytest.importorskip("autogen_agentchat")

import autogen_core as agc
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import (
    ModelClientStreamingChunkEvent,
    StructuredMessage,
    TextMessage,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import models as agm
from autogen_core.tools import FunctionTool as AgFunctionTool
from pydantic import BaseModel

from modelport import (
    CancellationToken,
    ChatCompletionCache,
    CreateResult,
    FunctionCall,
    RequestUsage,
    ThoughtChunk,
    UserMessage,
)
from modelport.integrations.autogen import AutoGenClient
from modelport.testing import FakeServer, ReplayChatCompletionClient, Reply, chunk, completion
from modelport.tokens import count_message_tokens

AG_HELLO = [agm.UserMessage(content="Hello there", source="user")]


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
async def ag_client(make_client: Any) -> AutoGenClient:
    return AutoGenClient(make_client())


async def run_stream(agent: AssistantAgent, task: str, **kwargs: Any) -> list[Any]:
    return [event async for event in agent.run_stream(task=task, **kwargs)]


async def wait_for_connections(server: FakeServer, at_most: int, within: float = 2.0) -> float:
    """Seconds until the server has at most ``at_most`` open connections (fails after ``within``)."""
    started = time.perf_counter()
    while server.open_connections > at_most:
        assert time.perf_counter() - started < within, f"{server.open_connections} connections still open"
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def stream_items(client: AutoGenClient, messages: Any = AG_HELLO, **kwargs: Any) -> tuple[list[Any], Any]:
    items = [item async for item in client.create_stream(messages, **kwargs)]
    assert all(isinstance(item, str) for item in items[:-1])
    assert isinstance(items[-1], agm.CreateResult)
    return items[:-1], items[-1]


# -- a real AssistantAgent over the fake server --

async def test_agent_tool_call_round_trip_with_reflection(server: FakeServer, ag_client: AutoGenClient) -> None:
    agent = AssistantAgent("assistant", model_client=ag_client, tools=[get_weather], reflect_on_tool_use=True)
    result = await agent.run(task="What is the weather in Paris?")
    kinds = [type(m) for m in result.messages]
    assert kinds == [TextMessage, ToolCallRequestEvent, ToolCallExecutionEvent, TextMessage]
    call = result.messages[1].content[0]
    assert isinstance(call, agc.FunctionCall) and call.name == "get_weather" and json.loads(call.arguments) == {
        "city": "Paris"}
    assert result.messages[2].content[0].content == "Sunny in Paris"
    assert result.messages[-1].content == "The tool said: Sunny in Paris"
    assert result.messages[-1].models_usage is not None and result.messages[-1].models_usage.prompt_tokens > 0
    first, second = (r.json for r in server.requests)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_fake_0", "content": "Sunny in Paris"}


async def test_agent_streams_chunks(server: FakeServer, ag_client: AutoGenClient) -> None:
    agent = AssistantAgent("assistant", model_client=ag_client, model_client_stream=True)
    events = await run_stream(agent, "Hello there")
    chunks = [e.content for e in events if isinstance(e, ModelClientStreamingChunkEvent)]
    answer = [e for e in events if isinstance(e, TextMessage) and e.source == "assistant"]
    assert chunks == ["You", " said:", " Hello", " there"]
    assert answer[0].content == "".join(chunks) == "You said: Hello there"
    assert server.requests[0].json["stream"] is True


async def test_agent_structured_output(server: FakeServer, ag_client: AutoGenClient) -> None:
    agent = AssistantAgent("assistant", model_client=ag_client, output_content_type=City)
    result = await agent.run(task="Describe the city of Paris")
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage)
    assert message.content == City(name="Paris", population=1)
    response_format = server.requests[0].json["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["name"] == "City"


async def test_agent_streamed_tool_call_and_structured_output(server: FakeServer, ag_client: AutoGenClient) -> None:
    agent = AssistantAgent("assistant", model_client=ag_client, tools=[get_weather], model_client_stream=True,
                           reflect_on_tool_use=True)
    events = await run_stream(agent, "Weather in Oslo?")
    assert next(e for e in events if isinstance(e, ToolCallExecutionEvent)).content[0].content == "Sunny in Oslo"
    assert events[-1].messages[-1].content == "The tool said: Sunny in Oslo"
    structured = AssistantAgent("s", model_client=ag_client, output_content_type=City, model_client_stream=True)
    result = (await run_stream(structured, "About Rome"))[-1]
    assert result.messages[-1].content == City(name="Rome", population=1)


SLOW = [chunk({"content": f"word{i} "}) for i in range(30)] + [chunk({}, finish_reason="stop")]


async def test_cancel_mid_stream_stops_promptly_and_closes_the_connection(server: FakeServer,
                                                                          ag_client: AutoGenClient) -> None:
    server.add(Reply.sse(SLOW, delay=2.0))
    agent = AssistantAgent("assistant", model_client=ag_client, model_client_stream=True)
    token = agc.CancellationToken()
    first_chunk = asyncio.Event()
    seen: list[str] = []
    await wait_for_connections(server, 0)  # earlier tests' connections are gone: any open one is this test's

    async def consume() -> None:
        async for event in agent.run_stream(task="Talk slowly", cancellation_token=token):
            if isinstance(event, ModelClientStreamingChunkEvent):
                seen.append(event.content)
                first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), 10)
    assert server.open_connections == 1
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - cancelled_at < 0.5  # the next chunk was 2 s away
    assert await wait_for_connections(server, 0) < 1.0
    assert seen == ["word0 "] and len(server.requests) == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_cancel_before_the_server_answers(server: FakeServer, ag_client: AutoGenClient, stream: bool) -> None:
    server.add(Reply.hang())
    await wait_for_connections(server, 0)
    agent = AssistantAgent("assistant", model_client=ag_client, model_client_stream=stream)
    token = agc.CancellationToken()
    task = asyncio.create_task(agent.run(task="Anyone there?", cancellation_token=token))
    while not server.requests:
        await asyncio.sleep(0.01)
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - cancelled_at < 0.5
    assert server.pending_replies == 0  # the hanging reply was taken: the request had reached the server
    assert await wait_for_connections(server, 0) < 1.0


async def test_a_token_cancelled_beforehand_sends_nothing(server: FakeServer, ag_client: AutoGenClient) -> None:
    token = agc.CancellationToken()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ag_client.create(AG_HELLO, cancellation_token=token)
    with pytest.raises(asyncio.CancelledError):
        await stream_items(ag_client, cancellation_token=token)
    assert server.requests == []


async def test_a_token_cancelled_after_the_call_touches_nothing(server: FakeServer, ag_client: AutoGenClient) -> None:
    token = agc.CancellationToken()
    await ag_client.create(AG_HELLO, cancellation_token=token)
    await stream_items(ag_client, cancellation_token=token)
    token.cancel()  # the relays went quiet when their calls ended
    assert (await ag_client.create(AG_HELLO)).content == "You said: Hello there"


# -- what crosses the boundary --

async def test_results_usage_and_tool_calls_convert(server: FakeServer, ag_client: AutoGenClient) -> None:
    tool = AgFunctionTool(get_weather, description="The weather in a city.")
    result = await ag_client.create([agm.UserMessage(content="Weather in Lima?", source="user")], tools=[tool],
                                    tool_choice=tool, extra_create_args={"temperature": 0.25})
    assert isinstance(result, agm.CreateResult) and result.finish_reason == "function_calls"
    assert result.content == [agc.FunctionCall(id="call_fake_0", arguments='{"city":"Lima"}', name="get_weather")]
    assert isinstance(result.usage, agm.RequestUsage) and result.cached is False
    body = server.requests[0].json
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["temperature"] == 0.25
    assert ag_client.total_usage() == ag_client.actual_usage() == result.usage
    assert isinstance(ag_client.total_usage(), agm.RequestUsage)
    assert result.model_dump()["content"][0]["name"] == "get_weather"  # a valid AutoGen model, as agents log it


@pytest.mark.parametrize("choice", ["none", "required"])
async def test_string_tool_choice_and_tool_schemas_pass(server: FakeServer, ag_client: AutoGenClient,
                                                        choice: str) -> None:
    schema = AgFunctionTool(get_weather, description="The weather in a city.").schema
    await ag_client.create(AG_HELLO, tools=[schema], tool_choice=choice)
    assert server.requests[0].json["tool_choice"] == choice


async def test_logprobs_and_json_mode(server: FakeServer, ag_client: AutoGenClient) -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                             "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]}]}
    server.add(Reply.json({**completion("Hi"), "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop",
         "logprobs": logprobs}]}))
    result = await ag_client.create(AG_HELLO, json_output=True)
    assert result.logprobs == [agm.ChatCompletionTokenLogprob(
        token="Hi", logprob=-0.5, bytes=[72, 105], top_logprobs=[agm.TopLogprob(logprob=-0.5, bytes=[72, 105])])]
    assert server.requests[0].json["response_format"] == {"type": "json_object"}


REASONING = [chunk({"reasoning_content": "kite"}), chunk({"reasoning_content": " flying"}),
             chunk({"content": "Paris"}), chunk({"content": " it is."}), chunk({}, finish_reason="stop")]


async def test_reasoning_streams_as_autogen_shows_it(server: FakeServer, ag_client: AutoGenClient) -> None:
    server.add(Reply.sse(REASONING))
    chunks, result = await stream_items(ag_client)
    assert chunks == ["<think>kite", " flying", "</think>", "Paris", " it is."]
    assert all(type(c) is str for c in chunks)  # plain str, not modelport's ThoughtChunk
    assert (result.content, result.thought) == ("Paris it is.", "kite flying")  # no lstrip("<think>") damage


async def test_reasoning_left_out_of_the_stream(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse(REASONING))
    chunks, result = await stream_items(AutoGenClient(make_client(), reasoning_in_stream=False))
    assert chunks == ["Paris", " it is."] and result.thought == "kite flying"


async def test_reasoning_only_stream_closes_its_tag(server: FakeServer, ag_client: AutoGenClient) -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    server.add(Reply.sse([chunk({"reasoning_content": "use the tool"}), chunk({"tool_calls": [call]}),
                          chunk({}, finish_reason="tool_calls")]))
    chunks, result = await stream_items(ag_client, tools=[AgFunctionTool(get_weather, description="Weather.")])
    assert chunks == ["<think>use the tool", "</think>"]
    assert result.thought == "use the tool" and result.content[0].name == "get_weather"


async def test_agent_shows_the_thought(server: FakeServer, ag_client: AutoGenClient) -> None:
    server.add(Reply.sse(REASONING))
    events = await run_stream(AssistantAgent("a", model_client=ag_client, model_client_stream=True), "Capital?")
    assert [e.content for e in events if isinstance(e, ThoughtEvent)] == ["kite flying"]
    assert events[-1].messages[-1].content == "Paris it is."


async def test_model_info_capabilities_and_tokens(make_client: Any) -> None:
    inner = make_client()
    client = AutoGenClient(inner)
    info = client.model_info
    agm.validate_model_info(info)  # no warning either: structured_output is there
    assert info == {"vision": True, "function_calling": True, "json_output": True, "family": "gpt-4o",
                    "structured_output": True, "multiple_system_messages": True}
    assert client.capabilities == {"vision": True, "function_calling": True, "json_output": True}
    as_modelport = [UserMessage(content="Hello there")]
    assert client.count_tokens(AG_HELLO) == inner.count_tokens(as_modelport) > 0
    assert client.remaining_tokens(AG_HELLO) == inner.remaining_tokens(as_modelport)
    assert client.client is inner and "OpenAIChatCompletionClient" in repr(client)


def test_only_modelport_clients_are_wrapped() -> None:
    with pytest.raises(TypeError, match="modelport ChatCompletionClient"):
        AutoGenClient(object())  # type: ignore[arg-type]


def test_a_missing_autogen_core_names_the_install() -> None:
    code = "import sys; sys.modules['autogen_core'] = None; import modelport.integrations.autogen"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0 and "pip install autogen-core" in run.stderr


def test_the_integrations_package_imports_nothing_heavy() -> None:
    code = ("import sys, modelport.integrations; "
            "print(sorted(m for m in ('autogen_core', 'aiohttp', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- over a cache, and as a component --

async def test_over_a_cache_the_second_call_is_a_hit(server: FakeServer, make_client: Any) -> None:
    client = AutoGenClient(ChatCompletionCache(make_client()))
    first = await client.create(AG_HELLO)
    second = await client.create([agm.UserMessage(content="Hello there", source="user")])
    assert (first.cached, second.cached) == (False, True) and second.content == first.content
    chunks, streamed = await stream_items(client)
    assert streamed.cached is True and "".join(chunks) == first.content
    assert len(server.requests) == 1


async def test_agent_over_a_cache(server: FakeServer, make_client: Any) -> None:
    client = AutoGenClient(ChatCompletionCache(make_client()))
    for _ in range(2):
        agent = AssistantAgent("assistant", model_client=client, tools=[get_weather], reflect_on_tool_use=True)
        result = await agent.run(task="Weather in Paris?")
        assert result.messages[-1].content == "The tool said: Sunny in Paris"
    assert len(server.requests) == 2  # the second agent's two calls were hits


async def test_component_config_round_trip(server: FakeServer, make_client: Any) -> None:
    client = AutoGenClient(ChatCompletionCache(make_client()), reasoning_in_stream=False)
    dumped = client.dump_component()
    assert dumped.provider == "modelport.integrations.autogen.AutoGenClient" and dumped.component_type == "model"
    nested = dumped.config["client"]
    assert nested["provider"] == "chat_completion_cache" and nested["config"]["client"]["provider"] == "openai"
    text = dumped.model_dump_json()
    assert "SECRET" not in text  # modelport leaves the key out; the loaded client reads its own
    for loader in (AutoGenClient.load_component, agm.ChatCompletionClient.load_component):
        loaded = loader(json.loads(text))
        assert isinstance(loaded, AutoGenClient) and isinstance(loaded.client, ChatCompletionCache)
        assert loaded.dump_component() == dumped
        assert (await loaded.create(AG_HELLO)).content == "You said: Hello there"
        await loaded.close()


# -- ReplayChatCompletionClient --

SCRIPT = ["Hello, how can I assist you today?", "I'm happy to help."]


async def test_replay_answers_in_order_and_counts_words() -> None:
    client = ReplayChatCompletionClient(SCRIPT)
    messages = [UserMessage(content="What can you do?")]
    first = await client.create(messages)
    assert (first.content, first.finish_reason, first.cached) == (SCRIPT[0], "stop", False)
    assert first.usage == RequestUsage(prompt_tokens=4, completion_tokens=7)
    second = await client.create(messages)
    assert second.content == SCRIPT[1]
    assert client.total_usage() == client.actual_usage() == RequestUsage(prompt_tokens=8, completion_tokens=11)
    with pytest.raises(ValueError, match="No more mock responses available"):
        await client.create(messages)
    assert len(client.create_calls) == 3 and client.create_calls[0]["messages"] is messages


async def test_replay_streams_word_by_word() -> None:
    client = ReplayChatCompletionClient([SCRIPT[0], "Two\n\nparagraphs  here"])
    deltas = [item async for item in client.create_stream([UserMessage(content="Hi")])]
    assert deltas[:-1] == ["Hello, ", "how ", "can ", "I ", "assist ", "you ", "today?"]  # as AutoGen's replay
    assert isinstance(deltas[-1], CreateResult) and deltas[-1].content == SCRIPT[0]
    async with client.create_stream([UserMessage(content="Hi")]) as stream:
        deltas = [item async for item in stream]
    assert deltas[:-1] == ["Two\n\n", "paragraphs  ", "here"]  # whitespace kept: the chunks join to the content
    assert client.create_calls[1]["stream"] is True and client.total_usage().completion_tokens == 10


async def test_replay_scripted_results_are_copies_with_their_usage() -> None:
    scripted = CreateResult(finish_reason="function_calls", usage=RequestUsage(prompt_tokens=9, completion_tokens=2),
                            content=[FunctionCall(id="1", name="get_weather", arguments='{"city": "Rome"}')],
                            thought="I should look")
    client = ReplayChatCompletionClient([scripted, scripted])
    got = await client.create([UserMessage(content="Weather?")], tools=[], tool_choice="required")
    assert got == scripted and got is not scripted
    assert client.create_calls[0]["tool_choice"] == "required"
    items = [item async for item in client.create_stream([UserMessage(content="Weather?")])]
    assert items[:-1] == ["I ", "should ", "look"] and all(isinstance(i, ThoughtChunk) for i in items[:-1])
    assert client.total_usage() == RequestUsage(prompt_tokens=18, completion_tokens=4)


async def test_replay_reset_cached_flag_and_counters() -> None:
    client = ReplayChatCompletionClient(["One two three"], token_counter="tiktoken")
    client.set_cached_bool_value(True)
    messages = [UserMessage(content="Count these words please")]
    result = await client.create(messages)
    assert result.cached is True and client.actual_usage() == RequestUsage()
    assert result.usage.prompt_tokens == count_message_tokens(messages, client.model_info)
    client.reset()
    assert client.total_usage() == RequestUsage() and client.remaining_answers == 1
    assert (await client.create(messages)).content == "One two three" and len(client.create_calls) == 2
    assert client.remaining_tokens(messages) == 8192 - client.count_tokens(messages)
    counted = ReplayChatCompletionClient(["x"], token_counter=lambda messages, tools: 42)
    assert counted.count_tokens(messages) == 42 and (await counted.create(messages)).usage.completion_tokens == 42


async def test_replay_cancellation() -> None:
    token = CancellationToken()
    client = ReplayChatCompletionClient(SCRIPT)
    stream = client.create_stream([UserMessage(content="Hi")], cancellation_token=token)
    assert await stream.__anext__() == "Hello, "
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stream.__anext__()
    with pytest.raises(asyncio.CancelledError):
        await client.create([UserMessage(content="Hi")], cancellation_token=token)
    assert client.remaining_answers == 1 and client.total_usage() == RequestUsage()


def test_replay_checks_its_input_and_saves_its_config() -> None:
    with pytest.raises(TypeError, match="chat_completions"):
        ReplayChatCompletionClient("one answer")
    with pytest.raises(TypeError, match=r"chat_completions\[0\]"):
        ReplayChatCompletionClient([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="model_info is missing"):
        ReplayChatCompletionClient(["x"], model_info={"vision": False})  # type: ignore[typeddict-item]
    scripted = CreateResult(finish_reason="stop", content="done", usage=RequestUsage(prompt_tokens=1))
    client = ReplayChatCompletionClient(["hi", scripted])
    config = client.dump_component().config
    cls = ReplayChatCompletionClient
    loaded = cls._from_config(cls.component_config_schema.model_validate(json.loads(json.dumps(config))))
    assert loaded.chat_completions == ["hi", scripted] and loaded.model_info == client.model_info
    with pytest.raises(ValueError, match="callable token_counter"):
        ReplayChatCompletionClient(["x"], token_counter=lambda m, t: 1).dump_component()


async def test_agent_over_replay_runs_a_scripted_tool_call() -> None:
    replay = ReplayChatCompletionClient([
        CreateResult(finish_reason="function_calls", usage=RequestUsage(prompt_tokens=5, completion_tokens=3),
                     content=[FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Rome"}')]),
        "Rome is sunny today.",
    ])
    agent = AssistantAgent("assistant", model_client=AutoGenClient(replay), tools=[get_weather],
                           reflect_on_tool_use=True)
    result = await agent.run(task="Weather in Rome?")
    assert result.messages[2].content[0].content == "Sunny in Rome"
    assert result.messages[-1].content == "Rome is sunny today."
    second_call = replay.create_calls[1]["messages"]
    assert isinstance(second_call[-1], agm.FunctionExecutionResultMessage)  # recorded as the agent sent it
    with pytest.raises(ValueError, match="No more mock responses available"):
        await agent.run(task="Again?")


async def test_agent_streams_from_replay() -> None:
    replay = ReplayChatCompletionClient([
        CreateResult(finish_reason="stop", content="Fine thanks", usage=RequestUsage(), thought="be nice"),
    ])
    agent = AssistantAgent("assistant", model_client=AutoGenClient(replay), model_client_stream=True)
    events = await run_stream(agent, "How are you?")
    chunks = [e.content for e in events if isinstance(e, ModelClientStreamingChunkEvent)]
    assert chunks == ["<think>be ", "nice", "</think>", "Fine ", "thanks"]
    assert [e.content for e in events if isinstance(e, ThoughtEvent)] == ["be nice"]
    assert events[-1].messages[-1].content == "Fine thanks"


@pytest.mark.parametrize("stream", [False, True])
async def test_claude_thinking_survives_an_autogen_tool_turn(server: FakeServer, stream: bool) -> None:
    """AutoGen's FunctionCall cannot carry Anthropic's signed thinking blocks; the adapter keeps them by call id and
    puts them back, so the next turn is accepted (the fake server refuses a tool turn without its thinking)."""
    from autogen_core import FunctionCall as AgFunctionCall
    from autogen_core.models import AssistantMessage as AgAssistant
    from autogen_core.models import FunctionExecutionResult as AgResult
    from autogen_core.models import FunctionExecutionResultMessage as AgResults
    from autogen_core.models import UserMessage as AgUser

    from modelport.providers.anthropic import AnthropicChatCompletionClient

    weather = {"name": "get_weather", "description": "Weather of a city.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    claude = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key="sk-ant-test-1",
                                           thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    client = AutoGenClient(claude)
    try:
        history: list[Any] = [AgUser(content="Weather in Paris?", source="user")]
        if stream:
            result = [item async for item in client.create_stream(history, tools=[weather])][-1]
        else:
            result = await client.create(history, tools=[weather])
        assert isinstance(result.content, list) and isinstance(result.content[0], AgFunctionCall)
        history += [AgAssistant(content=result.content, thought=result.thought, source="assistant"),
                    AgResults(content=[AgResult(content="sunny", name="get_weather",
                                                call_id=result.content[0].id)])]
        answer = await client.create(history, tools=[weather])
        assert answer.content == "The tool said: sunny"
    finally:
        await client.close()
