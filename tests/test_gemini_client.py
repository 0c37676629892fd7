"""The Gemini client with what every client shares: configs, secrets, token counts, model lists, cache, contexts,
router, batch, telemetry and the AutoGen adapter, over real HTTP against the fake server's Gemini routes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

import modelport as mp
from modelport import (
    EVENT_LOGGER_NAME,
    AssistantMessage,
    ChatCompletionCache,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    InMemoryStore,
    RetryPolicy,
    SystemMessage,
    UserMessage,
)
from modelport.batch import collect as collect_batch
from modelport.batch import run_batch
from modelport.components import load_component
from modelport.model_context import (
    BufferedChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
    UnboundedChatCompletionContext,
)
from modelport.providers.gemini import GeminiChatCompletionClient
from modelport.providers.gemini.dialect import SIGNATURE_FIELD
from modelport.router import Deployment, Router
from modelport.testing import FakeServer, Reply, gemini_error

from .conftest import RecordingSleep
from .helpers import collect

KEY = "AIza-test-SECRET-0123456789"
MODEL = "gemini-2.5-flash"
HELLO = [UserMessage(content="Hello from Paris")]
GEMINI_3 = mp.ModelInfo(vision=True, function_calling=True, json_output=True, family="gemini")


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


WEATHER = FunctionTool(weather, description="The weather in a city.")


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[GeminiChatCompletionClient] = []

    def make(model: str = MODEL, **kwargs: Any) -> GeminiChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=3, sleep=sleeps, random=lambda: 0.0))
        client = GeminiChatCompletionClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_components_dump_and_load(monkeypatch: pytest.MonkeyPatch, server: FakeServer, make: Any) -> None:
    monkeypatch.setenv("MY_GEMINI_KEY", KEY)
    thinking = {"thinking_budget": 256}
    client = make(api_key=None, api_key_env="MY_GEMINI_KEY", thinking=thinking, temperature=0.3,
                  default_headers={"x-goog-api-key": KEY, "x-extra": "1"})
    dumped = client.dump_component()
    assert dumped.provider == "gemini" and KEY not in dumped.model_dump_json()
    assert dumped.config["api_key_env"] == "MY_GEMINI_KEY"
    loaded = GeminiChatCompletionClient.load_component(dumped, allow_env=["MY_GEMINI_KEY"])
    try:
        assert loaded._request_headers["x-goog-api-key"] == KEY
        assert loaded._create_args == {"thinking": thinking, "temperature": 0.3}
        assert (await loaded.create(HELLO)).content == "You said: Hello from Paris"
    finally:
        await loaded.close()
    assert KEY in make().dump_component(include_secrets=True).model_dump_json()
    for name in ("gemini", "GeminiChatCompletionClient", "modelport.GeminiChatCompletionClient"):
        restored = load_component({"provider": name, "config": {"model": MODEL, "api_key": KEY}})
        assert isinstance(restored, GeminiChatCompletionClient)
        await restored.close()


def test_secrets_stay_out_of_repr_and_configs() -> None:
    client = GeminiChatCompletionClient(MODEL, api_key=KEY, base_url="http://127.0.0.1:9")
    assert KEY not in repr(client) and KEY not in repr(client._request_headers)
    assert KEY not in client.dump_component().model_dump_json()
    assert "x-goog-api-key" not in json.dumps(client.dump_component().config)


async def test_a_key_echoed_in_an_error_is_scrubbed(server: FakeServer, make: Any) -> None:
    server.add(Reply.json(gemini_error(400, "INVALID_ARGUMENT", f"API key {KEY} not valid", reason="API_KEY_INVALID"),
                          status=400))
    with pytest.raises(mp.AuthenticationError) as caught:
        await make().create(HELLO)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.body)


async def test_count_tokens_remote_posts_count_tokens_with_the_whole_request(server: FakeServer, make: Any) -> None:
    client = make()
    count = await client.count_tokens_remote([SystemMessage(content="Be brief."), *HELLO], tools=[WEATHER])
    request = server.requests[-1]
    assert request.path == f"/v1beta/models/{MODEL}:countTokens"
    inner = request.json["generateContentRequest"]
    assert inner["model"] == f"models/{MODEL}"
    assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]} and inner["tools"]
    assert int(count) > 0 and not count.estimated


async def test_list_models_reads_every_page_and_input_token_limits(server: FakeServer, make: Any) -> None:
    client = make("gemini-3-pro-preview", model_info={**GEMINI_3, "context_window": 1000})
    server.add(Reply.json({"models": [{"name": "models/a", "inputTokenLimit": 10}], "nextPageToken": "0"}))
    listed = await client.list_models()
    assert [m.id for m in listed] == ["a", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"]
    assert server.requests[-1].query["pageToken"] == ["0"] and server.requests[-1].path == "/v1beta/models"
    assert listed[0].context_window == 10
    assert client.context_window == 1_048_576


async def test_cache_hits_keep_the_thought_signature(server: FakeServer, make: Any) -> None:
    cached = ChatCompletionCache(make(), InMemoryStore())
    first = await cached.create(HELLO, tools=[WEATHER])
    second = await cached.create(HELLO, tools=[WEATHER])
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content and second.content[0].provider_fields[SIGNATURE_FIELD]
    _, streamed = await collect(cached, HELLO, tools=[WEATHER])
    assert streamed.cached is True and len(server.requests) == 1


async def test_the_four_contexts(server: FakeServer, make: Any) -> None:
    client = make()
    history = [SystemMessage(content="Be brief.")] + [UserMessage(content=f"message {i}") for i in range(6)]
    contexts = [UnboundedChatCompletionContext(), BufferedChatCompletionContext(3),
                HeadAndTailChatCompletionContext(1, 2), TokenLimitedChatCompletionContext(client, token_limit=60)]
    for context in contexts:
        for message in history:
            await context.add_message(message)
        kept = await context.get_messages()
        result = await client.create(kept)
        assert isinstance(result.content, str) and result.content.endswith("message 5")


async def test_a_router_falls_back_from_a_rate_limited_gemini(server: FakeServer, make: Any) -> None:
    limited = gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", retry_delay="30s")
    server.add(Reply.json(limited, status=429))
    first = make(retry_policy=RetryPolicy(max_retries=0))
    second = make("gemini-2.5-pro")
    router = Router([Deployment(first, "flash"), Deployment(second, "pro")])
    result = await router.create(HELLO)
    assert result.content == "You said: Hello from Paris"
    assert [r.path.split("/")[-1] for r in server.requests] == [
        "gemini-2.5-flash:generateContent",
        "gemini-2.5-pro:generateContent",
    ]


async def test_run_batch_over_gemini(server: FakeServer, make: Any) -> None:
    client = make()
    requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(5)]
    results = await collect_batch(run_batch(client, requests, concurrency=2))
    assert sorted((r.custom_id, r.result.content) for r in results if r.result) == [
        (f"q{i}", f"You said: n{i}") for i in range(5)
    ]


async def test_events_are_the_same_as_for_every_client(
    server: FakeServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    client = make()
    await client.create(HELLO)
    await collect(client, HELLO)
    names = [type(r.msg).__name__ for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    assert names == ["LLMCallEvent", "LLMStreamStartEvent", "LLMStreamEndEvent"]


@pytest.mark.parametrize("stream", [False, True])
async def test_thought_signatures_survive_an_autogen_tool_turn(server: FakeServer, make: Any, stream: bool) -> None:
    """AutoGen's FunctionCall cannot carry the signature; the adapter keeps it by call id and puts it back, so
    Gemini 3 (the fake refuses a call without its signature) accepts the next turn."""
    from autogen_core import FunctionCall as AgFunctionCall
    from autogen_core.models import AssistantMessage as AgAssistant
    from autogen_core.models import FunctionExecutionResult as AgResult
    from autogen_core.models import FunctionExecutionResultMessage as AgResults
    from autogen_core.models import UserMessage as AgUser

    from modelport.integrations.autogen import AutoGenClient

    tool = {"name": "weather", "description": "Weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    client = AutoGenClient(make("gemini-3-pro-preview", model_info=GEMINI_3))
    history: list[Any] = [AgUser(content="Weather in Paris?", source="user")]
    if stream:
        result = [item async for item in client.create_stream(history, tools=[tool])][-1]
    else:
        result = await client.create(history, tools=[tool])
    assert isinstance(result.content, list) and isinstance(result.content[0], AgFunctionCall)
    history += [AgAssistant(content=result.content, thought=result.thought, source="assistant"),
                AgResults(content=[AgResult(content="sunny", name="weather", call_id=result.content[0].id)])]
    answer = await client.create(history, tools=[tool])
    assert answer.content == "The tool said: sunny"


async def test_several_results_answer_a_turn_of_several_calls(server: FakeServer, make: Any) -> None:
    from modelport.testing import gemini_call_part, gemini_response

    server.add(Reply.json(gemini_response([gemini_call_part("weather", {"city": "A"}, signature="s1"),
                                           gemini_call_part("weather", {"city": "B"}, signature="s2")])))
    client = make("gemini-3-pro-preview", model_info=GEMINI_3)
    first = await client.create(HELLO, tools=[WEATHER])
    assert isinstance(first.content, list)
    results = FunctionExecutionResultMessage(
        content=[
            FunctionExecutionResult(call_id=c.id, name=c.name, content=f"r{i}") for i, c in enumerate(first.content)
        ]
    )
    answer = await client.create([*HELLO, AssistantMessage(content=first.content), results], tools=[WEATHER],
                                 tool_choice="none")
    assert answer.content == "The tool said: r0; r1"
    sent = server.requests[-1].json["contents"]
    assert [p["thoughtSignature"] for p in sent[1]["parts"]] == ["s1", "s2"]
    assert len(sent[2]["parts"]) == 2 and sent[2]["role"] == "user"


async def test_long_prompts_are_priced_at_the_long_context_rates(server: FakeServer, make: Any) -> None:
    from modelport.testing import gemini_response, gemini_usage

    client = make("gemini-2.5-pro")
    server.add(Reply.json(gemini_response("short", usage=gemini_usage(200_000, 1000, cached=100_000))),
               Reply.json(gemini_response("long", usage=gemini_usage(200_001, 1000, cached=100_000))))
    short, long = await client.create(HELLO), await client.create(HELLO)
    assert short.cost == (100_000 * Decimal("1.25") + 100_000 * Decimal("0.125") + 1000 * 10) / 1_000_000
    assert long.cost == (100_001 * Decimal("2.5") + 100_000 * Decimal("0.25") + 1000 * 15) / 1_000_000


async def test_a_long_context_rate_of_ones_own_survives_a_config(server: FakeServer, make: Any) -> None:
    from modelport.testing import gemini_response, gemini_usage

    prices = {MODEL: {"input": 1, "output": 2, "above": {"prompt_tokens": 10, "input": 3, "output": 4}}}
    client = make(prices=prices)
    loaded = GeminiChatCompletionClient.load_component(client.dump_component(include_secrets=True))
    server.add(Reply.json(gemini_response("x", usage=gemini_usage(11, 1))))
    try:
        assert (await loaded.create(HELLO)).cost == (11 * 3 + 4) / Decimal(1_000_000)
    finally:
        await loaded.close()
    with pytest.raises(mp.InvalidRequestError, match="above"):
        make(prices={MODEL: {"input": 1, "output": 2, "above": {"input": 3, "output": 4}}})


async def test_a_config_naming_either_standard_key_loads_unasked_for_google_s_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    client = GeminiChatCompletionClient(MODEL)
    dumped = client.dump_component()
    assert dumped.config["api_key_env"] == "GEMINI_API_KEY" and KEY not in dumped.model_dump_json()
    loaded = load_component(dumped)
    assert loaded._request_headers["x-goog-api-key"] == KEY
    moved = {**dumped.config, "base_url": "http://127.0.0.1:9"}
    with pytest.raises(mp.components.ComponentConfigError, match="allow_env"):
        load_component({"provider": "gemini", "config": moved})
    await client.close()
    await loaded.close()
