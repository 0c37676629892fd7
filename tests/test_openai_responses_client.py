"""``OpenAIResponsesClient`` as every client is: its key rules, secrets, components, and the shared features (cache,
contexts, router, events, the AutoGen adapter) over real HTTP against the fake server's ``/v1/responses``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent

import modelport as mp
from modelport import (
    EVENT_LOGGER_NAME,
    AssistantMessage,
    ChatCompletionCache,
    Deployment,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    InMemoryStore,
    OpenAIChatCompletionClient,
    RetryPolicy,
    Router,
    SystemMessage,
    UserMessage,
)
from modelport.components import load_component
from modelport.integrations.autogen import AutoGenClient
from modelport.model_context import TokenLimitedChatCompletionContext
from modelport.providers.openai_responses import AzureOpenAIResponsesClient, OpenAIResponsesClient
from modelport.testing import FakeServer, Reply

from .conftest import RecordingSleep
from .helpers import collect
from .test_cli import run

KEY = "sk-test-SECRET-0123456789abcdef"
HELLO = [UserMessage(content="Hello", source="user")]


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


WEATHER = FunctionTool(get_weather, "Get the weather")


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[OpenAIResponsesClient] = []

    def make(model: str = "gpt-4o", **kwargs: Any) -> OpenAIResponsesClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps,
                                                      random=lambda: 0.0))
        client = OpenAIResponsesClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


# -- the server and the key --

def test_environment_key_goes_only_to_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(mp.InvalidRequestError, match="OPENAI_API_KEY"):
        OpenAIResponsesClient("gpt-5")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    client = OpenAIResponsesClient("gpt-5")
    assert client.base_url == "https://api.openai.com/v1"
    assert client._request_headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in OpenAIResponsesClient("gpt-5", base_url="http://127.0.0.1:9/v1")._request_headers
    sent_anyway = OpenAIResponsesClient("gpt-5", base_url="http://127.0.0.1:9/v1", api_key_env="OPENAI_API_KEY")
    assert sent_anyway._request_headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    from_env = OpenAIResponsesClient("gpt-5")
    assert (from_env.base_url, from_env._request_headers["authorization"]) == ("http://127.0.0.1:9/v1",
                                                                               f"Bearer {KEY}")


def test_presets_of_servers_that_speak_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    vllm = OpenAIResponsesClient("Qwen/Qwen3-8B", provider="vllm")
    assert (vllm.base_url, vllm.provider_name) == ("http://localhost:8000/v1", "vllm")
    assert "authorization" not in vllm._request_headers
    assert OpenAIResponsesClient("claude-sonnet-4-5", api_key=KEY).base_url == "https://api.openai.com/v1"
    with pytest.raises(mp.InvalidRequestError, match="'gemini' is unknown; known: groq, llamacpp"):
        OpenAIResponsesClient("gemini-2.5-pro", provider="gemini")


async def test_withheld_key_is_named_on_401(server: FakeServer, make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.add(Reply.json({"error": {"message": "Missing bearer", "type": "invalid_request_error"}}, status=401))
    with pytest.raises(mp.AuthenticationError, match="api_key_env='OPENAI_API_KEY'"):
        await make(api_key=None).create(HELLO)


async def test_secrets_stay_out_of_repr_errors_and_configs(server: FakeServer, make: Any) -> None:
    client = make(default_headers={"authorization": f"Bearer {KEY}", "x-trace": "t"}, organization="org-1")
    assert KEY not in repr(client) and KEY not in repr(client._request_headers)
    dumped = client.dump_component().model_dump_json()
    assert KEY not in dumped and "authorization" not in dumped
    server.add(Reply.json({"error": {"message": f"bad key {KEY}", "type": "invalid_request_error"}}, status=400))
    with pytest.raises(mp.BadRequestError) as caught:
        await client.create(HELLO)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.body)
    assert server.requests[0].headers["openai-organization"] == "org-1"


# -- components --

async def test_components_dump_and_load(monkeypatch: pytest.MonkeyPatch, server: FakeServer, make: Any) -> None:
    monkeypatch.setenv("MY_OPENAI_KEY", KEY)
    client = make("gpt-5", api_key=None, api_key_env="MY_OPENAI_KEY", reasoning={"effort": "low"},
                  max_output_tokens=500)
    dumped = client.dump_component()
    assert dumped.provider == "openai_responses" and KEY not in dumped.model_dump_json()
    assert (dumped.config["api_key_env"], dumped.config["store"]) == ("MY_OPENAI_KEY", False)
    loaded = load_component(dumped, allow_env=["MY_OPENAI_KEY"])
    try:
        assert isinstance(loaded, OpenAIResponsesClient)
        assert loaded._create_args == {"store": False, "reasoning": {"effort": "low"}, "max_output_tokens": 500}
        assert (await loaded.create(HELLO)).content == "You said: Hello"
        assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    finally:
        await loaded.close()
    assert KEY in make().dump_component(include_secrets=True).model_dump_json()
    for name in ("openai_responses", "OpenAIResponsesClient", "modelport.OpenAIResponsesClient"):
        made = load_component({"provider": name, "config": {"model": "gpt-5", "api_key": KEY}})
        assert isinstance(made, OpenAIResponsesClient)
        await made.close()


# -- what every client shares --

async def test_cache_keeps_the_reasoning_round_trip_fields(server: FakeServer, make: Any) -> None:
    cached = ChatCompletionCache(make("gpt-5", reasoning={"effort": "low"}), InMemoryStore())
    messages = [UserMessage(content="Weather in Paris?", source="u")]
    first = await cached.create(messages, tools=[WEATHER])
    second = await cached.create(messages, tools=[WEATHER])
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content and second.content[0].provider_fields
    _, streamed = await collect(cached, messages, tools=[WEATHER])
    assert streamed.cached is True and len(server.requests) == 1
    results = FunctionExecutionResultMessage(content=[FunctionExecutionResult(
        call_id=second.content[0].id, content="sunny", name="get_weather")])
    answer = await cached.create([*messages, AssistantMessage(content=second.content, source="a"), results],
                                 tools=[WEATHER])
    assert answer.content == "The tool said: sunny"


async def test_token_limited_context(server: FakeServer, make: Any) -> None:
    client = make()
    context = TokenLimitedChatCompletionContext(client, token_limit=60)
    history = [SystemMessage(content="Be brief.")] + [UserMessage(content=f"message {i}", source="u")
                                                       for i in range(6)]
    for message in history:
        await context.add_message(message)
    kept = await context.get_messages()
    assert 1 < len(kept) < len(history)
    assert (await client.create(kept)).content == "You said: message 5"


async def test_router_falls_back_from_chat_to_responses(server: FakeServer, make: Any, make_client: Any) -> None:
    chat = make_client(max_retries=0)
    router = Router([Deployment(chat, "chat"), Deployment(make(max_retries=0), "responses")])
    server.add(Reply.json({"error": {"message": "down", "type": "server_error"}}, status=500))
    result = await router.create(HELLO, tools=[WEATHER], tool_choice="none")
    assert result.content == "You said: Hello"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/responses"]
    assert server.requests[1].json["tools"][0]["name"] == "get_weather"  # built again, for the Responses wire


async def test_events_are_the_same_as_for_every_client(server: FakeServer, make: Any,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    client = make()
    await client.create(HELLO)
    await collect(client, HELLO)
    events = [type(r.msg).__name__ for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    assert events == ["LLMCallEvent", "LLMStreamStartEvent", "LLMStreamEndEvent"]


async def test_autogen_agent_tool_round_trip(server: FakeServer, make: Any) -> None:
    agent = AssistantAgent("assistant", model_client=AutoGenClient(make()), tools=[get_weather],
                           reflect_on_tool_use=True)
    result = await agent.run(task="What is the weather in Paris?")
    assert [type(m) for m in result.messages] == [TextMessage, ToolCallRequestEvent, ToolCallExecutionEvent,
                                                   TextMessage]
    assert result.messages[-1].content == "The tool said: Sunny in Paris"
    second = server.requests[1].json
    assert second["input"][-2]["type"] == "function_call"
    assert second["input"][-1] == {"type": "function_call_output", "call_id": "call_fake_0",
                                   "output": "Sunny in Paris"}
    assert json.loads(second["input"][-2]["arguments"]) == {"city": "Paris"}


async def test_chat_client_refuses_a_responses_only_model_naming_the_responses_client(
        server: FakeServer, make: Any, make_client: Any) -> None:
    for model in ("o3-pro", "o3-pro-2025-06-10", "gpt-5-codex", "o3-deep-research"):
        with pytest.raises(mp.InvalidRequestError, match=r"only by OpenAI.s Responses API.*OpenAIResponsesClient"):
            await make_client(model, provider="openai").create(HELLO)
    assert server.requests == []
    assert (await make_client("o3-pro").create(HELLO)).content == "You said: Hello"  # another server's o3-pro
    assert (await make("o3-pro", provider="openai").create(HELLO)).content == "You said: Hello"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/responses"]


def test_demo_runs_offline_with_the_responses_client() -> None:
    done = run("demo", "--provider", "openai-responses")
    assert done.returncode == 0, done.stderr
    for step in ("1. A plain call", "2. A stream", "3. A tool call", "4. Structured output"):
        assert step in done.stdout
    assert "get_weather" in done.stdout and "City(name='Paris'" in done.stdout
    live = run("demo", "--live", "--provider", "openai-responses")
    assert live.returncode == 2 and "OPENAI_API_KEY is not set" in live.stderr and "Traceback" not in live.stderr


# -- Azure --

async def test_azure_responses_on_the_v1_surface_with_key_or_token(server: FakeServer) -> None:
    endpoint = server.base_url.removesuffix("/v1")
    client = AzureOpenAIResponsesClient(model="my-gpt-5", azure_endpoint=endpoint, api_key=KEY, max_retries=0,
                                        model_info=mp.ModelInfo(vision=True, function_calling=True, json_output=True,
                                                                family="gpt-5", reasoning=True))
    tokens = iter(["token-1", "token-2"])
    with_token = AzureOpenAIResponsesClient(model="my-gpt-5", azure_endpoint=endpoint,
                                            azure_ad_token_provider=lambda: next(tokens), max_retries=0,
                                            model_info=client.model_info)
    try:
        result = await client.create(HELLO)
        _, streamed = await collect(with_token, HELLO)
    finally:
        await client.close()
        await with_token.close()
    assert result.content == streamed.content == "You said: Hello"
    first, second = server.requests
    assert (first.path, first.json["model"], first.json["store"]) == ("/openai/v1/responses", "my-gpt-5", False)
    assert first.json["include"] == ["reasoning.encrypted_content"]
    assert first.headers["api-key"] == KEY and "authorization" not in first.headers
    assert second.headers["authorization"] == "Bearer token-1"
    assert KEY not in repr(client) and KEY not in client.dump_component().model_dump_json()
    with pytest.raises(mp.InvalidRequestError, match="api_version='v1'"):
        AzureOpenAIResponsesClient(model="d", azure_endpoint=endpoint, api_key=KEY, api_version="2024-10-21")


async def test_azure_responses_config_round_trip(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    endpoint = server.base_url.removesuffix("/v1")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    client = AzureOpenAIResponsesClient(model="gpt-4o", store=True, max_output_tokens=100)
    dumped = client.dump_component()
    await client.close()
    assert dumped.provider == "azure_openai_responses" and KEY not in dumped.model_dump_json()
    loaded = load_component(dumped)
    try:
        assert isinstance(loaded, AzureOpenAIResponsesClient)
        await loaded.create(HELLO)
    finally:
        await loaded.close()
    body = server.requests[-1].json
    assert (body["store"], body["max_output_tokens"]) == (True, 100)
    assert server.requests[-1].headers["api-key"] == KEY


def test_tokens_are_counted_as_for_every_openai_model() -> None:
    client = OpenAIResponsesClient("gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1")
    chat = OpenAIChatCompletionClient(model="gpt-4o", api_key=KEY, base_url="http://127.0.0.1:9/v1")
    messages = [SystemMessage(content="Be brief."), UserMessage(content="Hello there", source="u")]
    assert client.count_tokens(messages, tools=[WEATHER]) == chat.count_tokens(messages, tools=[WEATHER]) > 0
    assert client.remaining_tokens(messages) == 128_000 - client.count_tokens(messages)
