"""Create arguments as keywords: ``create(messages, temperature=0, max_tokens=100)`` beside ``extra_create_args``,
for every client, checked by the same rules; an unknown name is refused with the closest valid one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from modelport import (
    AnthropicChatCompletionClient,
    AzureOpenAIChatCompletionClient,
    ChatCompletionCache,
    ChatCompletionClient,
    CreateResult,
    InMemoryStore,
    InvalidRequestError,
    OllamaChatCompletionClient,
    OpenAIChatCompletionClient,
    RetryPolicy,
    Router,
    UserMessage,
)
from modelport.testing import FakeServer, ReplayChatCompletionClient, Reply, completion

HELLO = [UserMessage(content="Hello", source="user")]
KEY = "sk-test-create-keywords-0123456789"


def _openai(server: FakeServer) -> ChatCompletionClient:
    return OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=KEY,
                                      retry_policy=RetryPolicy(max_retries=0))


def _azure(server: FakeServer) -> ChatCompletionClient:
    return AzureOpenAIChatCompletionClient(model="gpt-4o", azure_endpoint=server.base_url.removesuffix("/v1"),
                                           azure_deployment="my-gpt4o", api_version="2024-10-21", api_key=KEY,
                                           retry_policy=RetryPolicy(max_retries=0))


def _anthropic(server: FakeServer) -> ChatCompletionClient:
    return AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key=KEY,
                                         retry_policy=RetryPolicy(max_retries=0))


def _ollama(server: FakeServer) -> ChatCompletionClient:
    return OllamaChatCompletionClient("llama3.1", host=f"http://{server.host}:{server.port}",
                                      retry_policy=RetryPolicy(max_retries=0))


def _cache(server: FakeServer) -> ChatCompletionClient:
    return ChatCompletionCache(_openai(server), InMemoryStore())


def _router(server: FakeServer) -> ChatCompletionClient:
    return Router([_openai(server)])


def _sent(server: FakeServer) -> dict[str, Any]:
    """The create arguments of the last request, wherever its wire puts them (Ollama: in ``options``)."""
    body = dict(server.requests[-1].json)
    return {**body, **body.pop("options", {})}


MAKERS: dict[str, Callable[[FakeServer], ChatCompletionClient]] = {
    "openai": _openai, "azure": _azure, "anthropic": _anthropic, "ollama": _ollama, "cache": _cache,
    "router": _router,
}
MAX_TOKENS_FIELD = {"ollama": "num_predict"}


@pytest.fixture
async def made(server: FakeServer) -> AsyncIterator[list[ChatCompletionClient]]:
    clients: list[ChatCompletionClient] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("stream", [False, True], ids=["create", "create_stream"])
async def test_create_arguments_as_keywords_reach_the_wire(
    server: FakeServer, made: list[ChatCompletionClient], kind: str, stream: bool
) -> None:
    client = MAKERS[kind](server)
    made.append(client)
    if stream:
        async with client.create_stream(HELLO, temperature=0, max_tokens=20) as answer:
            items = [item async for item in answer]
        result = items[-1]
    else:
        result = await client.create(HELLO, temperature=0, max_tokens=20)
    assert isinstance(result, CreateResult)
    sent = _sent(server)
    assert sent["temperature"] == 0
    assert sent[MAX_TOKENS_FIELD.get(kind, "max_tokens")] == 20


@pytest.mark.parametrize("kind", sorted(MAKERS))
async def test_create_keyword_typo_names_the_closest_argument(
    server: FakeServer, made: list[ChatCompletionClient], kind: str
) -> None:
    client = MAKERS[kind](server)
    made.append(client)
    with pytest.raises(InvalidRequestError, match=r"unknown create argument 'temprature' \(did you mean 'temperature'"):
        await client.create(HELLO, temprature=0)
    with pytest.raises(InvalidRequestError, match="did you mean 'max_tokens'"):
        client.create_stream(HELLO, max_token=5)
    assert server.requests == []


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_extra_create_args_typo_names_the_closest_argument(
    server: FakeServer, made: list[ChatCompletionClient], kind: str
) -> None:
    client = MAKERS[kind](server)
    made.append(client)
    with pytest.raises(InvalidRequestError, match="'temprature' \\(did you mean 'temperature'\\?\\)"):
        await client.create(HELLO, extra_create_args={"temprature": 0.5})
    assert server.requests == []


async def test_create_keywords_follow_the_extra_create_args_rules(
    server: FakeServer, made: list[ChatCompletionClient]
) -> None:
    client = _openai(server)
    made.append(client)
    with pytest.raises(InvalidRequestError, match="'temperature' must be"):
        await client.create(HELLO, temperature="hot")
    with pytest.raises(InvalidRequestError, match="create_stream"):
        await client.create(HELLO, stream=True)
    with pytest.raises(InvalidRequestError, match="'temperature' is given both as a keyword and in extra_create_args"):
        await client.create(HELLO, temperature=0, extra_create_args={"temperature": 1})
    assert server.requests == []


class City(BaseModel):
    name: str
    population: int


async def test_response_format_as_a_keyword_parses_the_answer(
    server: FakeServer, made: list[ChatCompletionClient]
) -> None:
    client = _openai(server)
    made.append(client)
    server.add(Reply.json(completion('{"name": "Paris", "population": 2100000}')))
    result = await client.create(HELLO, response_format=City, max_tokens=50)
    assert result.parsed == City(name="Paris", population=2100000)
    assert server.requests[0].json["response_format"]["type"] == "json_schema"
    assert server.requests[0].json["max_tokens"] == 50


async def test_create_keywords_in_prepare_fingerprint_and_the_cache_key(
    server: FakeServer, made: list[ChatCompletionClient]
) -> None:
    cache = ChatCompletionCache(_openai(server), InMemoryStore())
    made.append(cache)
    request = cache.prepare(HELLO, temperature=0)
    assert request.args == {"temperature": 0}
    assert cache.request_fingerprint(HELLO, temperature=0) == cache.request_fingerprint(
        HELLO, extra_create_args={"temperature": 0})
    await cache.create(HELLO, temperature=0)
    second = await cache.create(HELLO, extra_create_args={"temperature": 0})
    assert second.cached and len(server.requests) == 1
    await cache.create(HELLO, temperature=1)
    assert len(server.requests) == 2


def test_create_sync_takes_create_arguments_as_keywords(server: FakeServer) -> None:
    with _openai(server) as client:
        result = client.create_sync(HELLO, max_tokens=20)
    assert isinstance(result, CreateResult)
    assert server.requests[0].json["max_tokens"] == 20


async def test_replay_client_records_create_keywords() -> None:
    replay = ReplayChatCompletionClient(["one", "two"])
    await replay.create(HELLO, temperature=0)
    async with replay.create_stream(HELLO, extra_create_args={"seed": 1}, max_tokens=5) as stream:
        _ = [item async for item in stream]
    assert [call["extra_create_args"] for call in replay.create_calls] == [
        {"temperature": 0}, {"seed": 1, "max_tokens": 5}]
