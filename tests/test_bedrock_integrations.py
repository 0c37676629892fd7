# ruff: noqa: F811  (the fixtures imported from bedrock_helpers are parameters of the tests)
"""What every client works with, with the Bedrock client over real HTTP: the cache, the four contexts, the router,
batches, the call events and the AutoGen adapter."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from modelport import (
    EVENT_LOGGER_NAME,
    ChatCompletionCache,
    FunctionTool,
    InMemoryStore,
    SystemMessage,
    UserMessage,
)
from modelport.batch import collect as collect_batch
from modelport.batch import run_batch
from modelport.model_context import (
    BufferedChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
    UnboundedChatCompletionContext,
)
from modelport.router import Deployment, Router
from modelport.testing import FakeServer
from modelport.testing._bedrock import bedrock_error

from .bedrock_helpers import MODEL, SECRET_KEY, aws_env, make_bedrock  # noqa: F401  (fixtures)
from .helpers import collect

HELLO = [UserMessage(content="Hello Paris", source="user")]
THINKING = {"type": "enabled", "budget_tokens": 2048}


def weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


WEATHER = FunctionTool(weather, description="The weather in a city.")


async def test_cache_hits_keep_the_reasoning_round_trip_fields(server: FakeServer, make_bedrock: Any) -> None:
    cached = ChatCompletionCache(make_bedrock(thinking=THINKING), InMemoryStore())
    first = await cached.create(HELLO, tools=[WEATHER])
    second = await cached.create(HELLO, tools=[WEATHER])
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content and second.content[0].provider_fields
    _, streamed = await collect(cached, HELLO, tools=[WEATHER])
    assert streamed.cached is True and len(server.requests) == 1


async def test_the_four_contexts(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    history = [SystemMessage(content="Be brief.")] + [UserMessage(content=f"message {i}", source="u") for i in range(6)]
    contexts = [
        UnboundedChatCompletionContext(),
        BufferedChatCompletionContext(3),
        HeadAndTailChatCompletionContext(1, 2),
        TokenLimitedChatCompletionContext(client, token_limit=40),
    ]
    for context in contexts:
        for message in history:
            await context.add_message(message)
        kept = await context.get_messages()
        result = await client.create(kept)
        assert isinstance(result.content, str) and result.content.endswith("message 5")
    assert 1 < len(await contexts[-1].get_messages()) < len(history)


async def test_the_router_falls_back_from_a_throttled_deployment(server: FakeServer, make_bedrock: Any) -> None:
    server.add(bedrock_error(429, "ThrottlingException", "Too many requests"))
    router = Router(
        [Deployment(make_bedrock(max_retries=0), "us"), Deployment(make_bedrock(region="eu-west-1"), "eu")]
    )
    result = await router.create(HELLO)
    assert result.content == "You said: Hello Paris"
    regions = ["/us-east-1/" in r.headers["authorization"] for r in server.requests]
    assert regions == [True, False]


async def test_a_batch_runs_through_the_client(server: FakeServer, make_bedrock: Any) -> None:
    requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(6)]
    results = await collect_batch(run_batch(make_bedrock(), requests, concurrency=3))
    assert sorted((r.custom_id, r.result.content) for r in results if r.result) == [
        (f"q{i}", f"You said: n{i}") for i in range(6)
    ]
    assert all(r.path.endswith("/converse") for r in server.requests)


async def test_the_call_events_hold_no_secret(
    server: FakeServer, make_bedrock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    client = make_bedrock(max_retries=0)
    await client.create(HELLO)
    await collect(client, HELLO)
    server.add(bedrock_error(400, "ValidationException", f"bad {SECRET_KEY}"))
    with pytest.raises(Exception):  # noqa: B017  (the error's type is tested elsewhere)
        await client.create(HELLO)
    events = [r.msg for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    names = [type(e).__name__ for e in events]
    assert names == ["LLMCallEvent", "LLMStreamStartEvent", "LLMStreamEndEvent", "LLMCallErrorEvent"]
    assert events[0].kwargs["model"] == MODEL
    assert all(SECRET_KEY not in str(e) and "Signature=" not in str(e) for e in events)


async def test_the_autogen_adapter(server: FakeServer, make_bedrock: Any) -> None:
    pytest.importorskip("autogen_core")
    from autogen_core import models as agm

    from modelport.integrations.autogen import AutoGenClient

    adapter = AutoGenClient(make_bedrock())
    result = await adapter.create([agm.UserMessage(content="Hello Paris", source="user")])
    assert result.content == "You said: Hello Paris"
    chunks = [c async for c in adapter.create_stream([agm.UserMessage(content="Hello Paris", source="user")])]
    assert chunks[-1].content == "You said: Hello Paris"
