"""CamelModel under CAMEL's own ChatAgent and RolePlaying (tools, structured output, streaming, the sync and async
paths, step_timeout's cancellation), over an OpenAI client, a Router and the native Anthropic client, all against
the fake server over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("camel")

from camel.agents import ChatAgent
from camel.societies import RolePlaying
from camel.toolkits import FunctionTool
from pydantic import BaseModel

from modelport import AnthropicChatCompletionClient, OpenAIChatCompletionClient, RetryPolicy, Router
from modelport.integrations.camel import CamelModel
from modelport.testing import FakeServer, Reply, anthropic_message, chunk, text_block, thinking_block, tool_use_block

from .conftest import API_KEY

SYSTEM = "You are a helpful assistant."


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city (str): The city to look up.
    """
    return f"Sunny in {city}"


class City(BaseModel):
    name: str
    population: int


def bodies(server: FakeServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests]


def tool_results(server: FakeServer) -> list[str]:
    """The tool results the last chat-completions request sent back."""
    return [m["content"] for m in bodies(server)[-1]["messages"] if m["role"] == "tool"]


def streamed_text(updates: list[Any]) -> str:
    """The answer a delta-mode stream (``stream_accumulate=False``) gave, put back together."""
    return "".join(u.msgs[0].content for u in updates if u.msgs)


async def wait_for_connections(server: FakeServer, at_most: int, within: float = 2.0) -> None:
    """Wait (polling, bounded) until the server has at most ``at_most`` open connections."""
    started = time.perf_counter()
    while server.open_connections > at_most:
        assert time.perf_counter() - started < within, f"{server.open_connections} connections still open"
        await asyncio.sleep(0.01)


@pytest.fixture
def sync_client(server: FakeServer) -> Iterator[OpenAIChatCompletionClient]:
    """A client used from plain synchronous code (its synchronous face owns its loop)."""
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
    yield client
    client.close_sync()


def test_chat_agent_conversation_with_a_tool_call_and_a_structured_answer(
    server: FakeServer, sync_client: OpenAIChatCompletionClient
) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(sync_client), tools=[FunctionTool(get_weather)])
    response = agent.step("What is the weather in Paris?")
    assert [r.tool_name for r in response.info["tool_calls"]] == ["get_weather"]
    assert response.info["tool_calls"][0].args == {"city": "Paris"}
    assert response.msgs[0].content == "The tool said: Sunny in Paris"
    first, second = bodies(server)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_fake_0", "content": "Sunny in Paris"}

    agent.remove_tool("get_weather")
    structured = agent.step("Name a city in France", response_format=City)
    assert isinstance(structured.msgs[0].parsed, City)
    assert bodies(server)[-1]["response_format"]["type"] == "json_schema"
    assert structured.info["usage"]["prompt_tokens"] > 0
    assert len(bodies(server)[-1]["messages"]) == 6  # system, question, call, result, answer, the new question


def test_role_playing_two_agents_exchange_through_modelport(
    server: FakeServer, sync_client: OpenAIChatCompletionClient
) -> None:
    model = CamelModel(sync_client)
    society = RolePlaying(
        "Python Programmer", "Stock Trader", task_prompt="Develop a trading bot", with_task_specify=False,
        assistant_agent_kwargs={"model": model}, user_agent_kwargs={"model": model},
    )
    message = society.init_chat()
    for _ in range(2):
        assistant_response, user_response = society.step(message)
        assert not assistant_response.terminated and not user_response.terminated
        assert user_response.msg.content.startswith("You said: ")
        assert assistant_response.msg.content == f"You said: {user_response.msg.content}"
        message = assistant_response.msg
    assert len(server.requests) == 4
    assert {b["messages"][0]["role"] for b in bodies(server)} == {"system"}


def test_streaming_step_yields_chunks_and_runs_the_tool(
    server: FakeServer, sync_client: OpenAIChatCompletionClient
) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(sync_client, stream=True), stream_accumulate=False,
                      tools=[FunctionTool(get_weather)])
    updates = list(agent.step("What is the weather in Rome?"))
    assert streamed_text(updates) == "The tool said: Sunny in Rome"
    assert len([u for u in updates if u.msgs and u.msgs[0].content]) == 6  # the answer came word by word
    assert all(b["stream"] is True for b in bodies(server))
    assert tool_results(server) == ["Sunny in Rome"]


def test_streaming_with_a_response_format_parses_the_answer(
    server: FakeServer, sync_client: OpenAIChatCompletionClient
) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(sync_client, stream=True), stream_accumulate=False)
    updates = list(agent.step("Name a city in Italy", response_format=City))
    assert isinstance(updates[-1].msgs[0].parsed, City)
    assert City.model_validate_json(streamed_text(updates[:-1])) == updates[-1].msgs[0].parsed
    assert bodies(server)[0]["stream"] is True


async def test_async_step_runs_the_tool_loop_in_the_callers_loop(server: FakeServer, make_client: Any) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(make_client()), tools=[FunctionTool(get_weather)])
    response = await agent.astep("What is the weather in Lima?")
    assert response.msgs[0].content == "The tool said: Sunny in Lima"
    structured = await agent.astep("Name a city in Peru", response_format=City)
    assert isinstance(structured.msgs[0].parsed, City)


async def test_async_streaming_step(server: FakeServer, make_client: Any) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(make_client(), stream=True), stream_accumulate=False,
                      tools=[FunctionTool(get_weather)])
    updates = [u async for u in await agent.astep("What is the weather in Oslo?")]
    assert streamed_text(updates) == "The tool said: Sunny in Oslo"
    assert tool_results(server) == ["Sunny in Oslo"]


async def test_sync_step_works_inside_a_running_event_loop(server: FakeServer, make_client: Any) -> None:
    client = make_client()
    try:
        agent = ChatAgent(SYSTEM, model=CamelModel(client), tools=[FunctionTool(get_weather)])
        response = agent.step("What is the weather in Kyiv?")  # blocking, as in a notebook cell
        assert response.msgs[0].content == "The tool said: Sunny in Kyiv"
        streaming = ChatAgent(SYSTEM, model=CamelModel(client, stream=True), stream_accumulate=False)
        assert streamed_text(list(streaming.step("Hello there"))) == "You said: Hello there"
        plain = ChatAgent(SYSTEM, model=CamelModel(client))
        assert (await plain.astep("And now?")).msgs[0].content == "You said: And now?"  # the same client, this loop
    finally:
        client.close_sync()  # the synchronous face's own loop and connections


async def test_step_timeout_cancels_the_request_and_closes_the_connection(
    server: FakeServer, make_client: Any
) -> None:
    await wait_for_connections(server, 0)  # earlier tests' connections are gone: any open one is this test's
    agent = ChatAgent(SYSTEM, model=CamelModel(make_client()))
    assert (await agent.astep("Hello there")).msgs[0].content == "You said: Hello there"  # first uses: not timed
    agent.step_timeout = 0.5
    server.add(Reply.hang())
    with pytest.raises(asyncio.TimeoutError):
        await agent.astep("Anyone there?")
    assert server.pending_replies == 0  # the request had reached the server
    await wait_for_connections(server, 0)


async def test_cancelling_an_async_stream_closes_the_connection(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hel"})], done=False, stall=True))
    await wait_for_connections(server, 0)
    agent = ChatAgent(SYSTEM, model=CamelModel(make_client(), stream=True), stream_accumulate=False)

    async def consume() -> None:
        async for _ in await agent.astep("Hello there"):
            pass

    task = asyncio.create_task(consume())
    while not server.open_connections:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_connections(server, 0)


async def test_chat_agent_through_a_router_fails_over(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json({"error": {"message": "down", "type": "server_error"}}, status=500))
    router = Router([make_client(max_retries=0), make_client()])
    agent = ChatAgent(SYSTEM, model=CamelModel(router), tools=[FunctionTool(get_weather)])
    response = await agent.astep("What is the weather in Cairo?")
    assert response.msgs[0].content == "The tool said: Sunny in Cairo"
    assert len(server.requests) == 3  # the refused first try, then the call and the answer
    try:
        structured = agent.step("Name a city in Egypt", response_format=City)  # the router's synchronous face
        assert isinstance(structured.msgs[0].parsed, City)
    finally:
        router.close_sync()


@pytest.fixture
async def anthropic(server: FakeServer, sleeps: Any) -> Any:
    client = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key=API_KEY,
                                           retry_policy=RetryPolicy(max_retries=0, sleep=sleeps))
    yield client
    await client.close()


async def test_chat_agent_on_the_native_anthropic_client(server: FakeServer, anthropic: Any) -> None:
    agent = ChatAgent(SYSTEM, model=CamelModel(anthropic), tools=[FunctionTool(get_weather)])
    response = await agent.astep("What is the weather in Paris?")
    assert response.info["tool_calls"][0].result == "Sunny in Paris"
    assert all(r.path.endswith("/messages") for r in server.requests)
    assert bodies(server)[0]["system"]  # the system message went as Anthropic's system field
    structured = await agent.astep("Name a city in France", response_format=City)
    assert isinstance(structured.msgs[0].parsed, City)
    streaming = ChatAgent(SYSTEM, model=CamelModel(anthropic, stream=True), stream_accumulate=False)
    streamed = [u async for u in await streaming.astep("Hi there")]
    assert streamed_text(streamed).startswith("You said")


async def test_anthropic_thinking_blocks_go_back_with_their_tool_call(server: FakeServer, anthropic: Any) -> None:
    thinking = thinking_block("The user wants weather.")
    server.add(Reply.json(anthropic_message([thinking, tool_use_block("toolu_1", "get_weather", {"city": "Oslo"})],
                                            stop_reason="tool_use")),
               Reply.json(anthropic_message([text_block("Sunny, it says.")])))
    agent = ChatAgent(SYSTEM, model=CamelModel(anthropic, model_config_dict={"thinking": {"type": "enabled",
                                                                                           "budget_tokens": 1024}}),
                      tools=[FunctionTool(get_weather)])
    response = await agent.astep("What is the weather in Oslo?")
    assert response.msgs[0].content == "Sunny, it says."
    sent_back = bodies(server)[1]["messages"][1]
    assert sent_back["role"] == "assistant"
    assert sent_back["content"][0] == thinking


def test_token_counter_is_the_clients_count(sync_client: OpenAIChatCompletionClient) -> None:
    model = CamelModel(sync_client)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hello there"}]
    from modelport.messages import from_openai

    assert model.token_counter.count_tokens_from_messages(messages) == sync_client.count_tokens(from_openai(messages))
    assert len(model.token_counter.encode("Hello there")) == 2
    assert model.token_counter.decode(model.token_counter.encode("Hello there")) == "Hello there"
    assert model.token_limit == sync_client.model_info["context_window"]


def test_importing_the_integrations_package_imports_no_framework() -> None:
    code = "import sys, modelport.integrations; assert 'camel' not in sys.modules and 'openai' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
