"""The OpenAI and Azure clients: presets, keys, Azure URLs and auth, secrets, events, structured output."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    EVENT_LOGGER_NAME,
    AzureOpenAIChatCompletionClient,
    Image,
    OpenAIChatCompletionClient,
    SystemMessage,
    UserMessage,
)
from modelport.testing import FakeServer, Reply, chunk, completion

from .conftest import API_KEY
from .helpers import HELLO, collect
from .test_validation import PNG_1x1

AZURE_KEY = "azure-SECRET-key-9876543210"


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    return caplog


def event_payloads(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r.msg for r in caplog.records if r.name == EVENT_LOGGER_NAME]


# -- OpenAI and compatible servers --

def test_openai_key_from_environment_and_required(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIChatCompletionClient(model="gpt-4o")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    assert client.base_url == "https://api.openai.com/v1"


async def test_openai_key_is_never_sent_to_a_custom_server(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="llama3.1", base_url=server.base_url)
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(("model", "provider", "url", "env"), [
    ("gemini-2.5-flash", None, "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    ("claude-sonnet-4-20250514", None, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"),
    ("llama3.1:8b", "ollama", "http://localhost:11434/v1", None),
    ("deepseek-chat", "deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
])
def test_presets(monkeypatch: pytest.MonkeyPatch, model: str, provider: str | None, url: str,
                 env: str | None) -> None:
    if env:
        monkeypatch.setenv(env, "k")
    client = OpenAIChatCompletionClient(model=model, provider=provider)
    assert client.base_url == url


async def test_request_shape(server: FakeServer, make_client: Any) -> None:
    client = make_client(add_name_prefixes=True, organization="org-1", default_headers={"x-app": "demo"})
    image = Image.from_bytes(PNG_1x1)
    assert (image.width, image.height, image.media_type) == (1, 1, "image/png")
    await client.create([SystemMessage(content="sys"), UserMessage(content=["look", image], source="alice")])
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["openai-organization"] == "org-1" and request.headers["x-app"] == "demo"
    user = request.json["messages"][1]
    assert user["name"] == "alice" and user["content"][0] == {"type": "text", "text": "alice said:\n"}
    assert user["content"][2]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "stream" not in request.json


async def test_model_timeout_environment_variable(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    monkeypatch.setenv("MODEL_TIMEOUT", "0.2")
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="k", max_retries=0)
    server.add(Reply.hang())
    try:
        with pytest.raises(mp.APITimeoutError):
            await client.create(HELLO)
    finally:
        await client.close()


# -- Azure --

def azure(server: FakeServer, **kwargs: Any) -> AzureOpenAIChatCompletionClient:
    kwargs.setdefault("azure_endpoint", server.base_url.removesuffix("/v1"))
    kwargs.setdefault("azure_deployment", "my-gpt4o")
    kwargs.setdefault("model", "gpt-4o")
    kwargs.setdefault("api_version", "2024-10-21")
    if not any(k in kwargs for k in ("api_key", "azure_ad_token", "azure_ad_token_provider")):
        kwargs["api_key"] = AZURE_KEY
    return AzureOpenAIChatCompletionClient(**kwargs)


async def test_azure_deployment_url_and_key(server: FakeServer) -> None:
    client = azure(server)
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    request = server.requests[0]
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.query == {"api-version": ["2024-10-21"]}
    assert request.headers["api-key"] == AZURE_KEY and "authorization" not in request.headers
    assert result.content == "You said: Hello"


async def test_azure_v1_endpoint(server: FakeServer) -> None:
    client = azure(server, api_version="v1")
    try:
        await collect(client)
    finally:
        await client.close()
    assert server.requests[0].path == "/openai/v1/chat/completions"
    assert server.requests[0].json["model"] == "gpt-4o"


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_azure_token_provider_called_per_request(server: FakeServer, asynchronous: bool) -> None:
    tokens = iter(["tok-1", "tok-2"])

    def sync_provider() -> str:
        return next(tokens)

    async def async_provider() -> str:
        return next(tokens)

    client = azure(server, azure_ad_token_provider=async_provider if asynchronous else sync_provider)
    try:
        await client.create(HELLO)
        await collect(client)
    finally:
        await client.close()
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer tok-1", "Bearer tok-2"]
    assert "api-key" not in server.requests[0].headers


def test_azure_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="api_version"):
        AzureOpenAIChatCompletionClient(azure_endpoint="https://x.openai.azure.com", azure_deployment="d",
                                        api_key="k")
    with pytest.raises(ValueError, match="only one of"):
        AzureOpenAIChatCompletionClient(azure_endpoint="https://x.openai.azure.com", azure_deployment="d",
                                        api_version="v1", api_key="k", azure_ad_token="t")
    with pytest.raises(ValueError, match="AZURE_OPENAI_ENDPOINT"):
        AzureOpenAIChatCompletionClient(azure_deployment="d", api_version="v1", api_key="k")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    client = AzureOpenAIChatCompletionClient(model="gpt-4o")
    assert "x.openai.azure.com" in repr(client)


# -- secrets --

async def test_secrets_never_in_repr_logs_events_or_errors(server: FakeServer, events: pytest.LogCaptureFixture,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clients = [OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, max_retries=0),
               azure(server, max_retries=0), azure(server, azure_ad_token=AZURE_KEY, max_retries=0)]
    texts = []
    try:
        for client in clients:
            texts += [repr(client), str(client), repr(vars(client)), str(client._api_key)]
            await client.create(HELLO)
            await collect(client)
            server.add(Reply.json({"error": {"message": "bad key"}}, status=401))
            with pytest.raises(mp.AuthenticationError) as info:
                await client.create(HELLO)
            texts += [str(info.value), repr(info.value), repr(vars(info.value))]
            server.add(Reply.sse([chunk({"content": "x"})], done=False, reset=True))
            with pytest.raises(mp.APIConnectionError) as conn:
                await collect(client)
            texts += [str(conn.value), repr(vars(conn.value))]
    finally:
        for client in clients:
            await client.close()
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(payload) for payload in event_payloads(caplog)]
    assert len(event_payloads(caplog)) >= 9
    joined = "\n".join(texts)
    assert API_KEY not in joined and AZURE_KEY not in joined


# -- events --

async def test_call_events(server: FakeServer, client: Any, events: pytest.LogCaptureFixture) -> None:
    server.add(Reply.json(completion("hi", usage={"prompt_tokens": 3, "completion_tokens": 1}, model="gpt-4o-x")))
    await client.create(HELLO)
    (event,) = event_payloads(events)
    assert isinstance(event, mp.LLMCallEvent)
    fields = event.kwargs
    assert fields["model"] == "gpt-4o" and fields["resolved_model"] == "gpt-4o-x"
    assert (event.prompt_tokens, event.completion_tokens) == (3, 1)
    assert fields["request_id"] and fields["retries"] == 0 and fields["latency_ms"] >= 0
    assert fields["messages"][0]["content"] == "Hello"
    assert '"type":"LLMCall"' in str(event)


async def test_stream_events_and_retries(server: FakeServer, client: Any, events: pytest.LogCaptureFixture) -> None:
    server.add(Reply.json({"error": {"message": "busy"}}, status=503))
    await collect(client)
    start, end = event_payloads(events)
    assert isinstance(start, mp.LLMStreamStartEvent) and isinstance(end, mp.LLMStreamEndEvent)
    assert end.kwargs["retries"] == 1 and end.kwargs["ttft_ms"] >= 0


async def test_error_event(server: FakeServer, make_client: Any, events: pytest.LogCaptureFixture) -> None:
    client = make_client(max_retries=0)
    server.add(Reply.json({"error": {"message": "no"}}, status=400))
    with pytest.raises(mp.BadRequestError):
        await client.create(HELLO)
    (event,) = event_payloads(events)
    assert isinstance(event, mp.LLMCallErrorEvent)
    assert event.kwargs["error"] == "BadRequestError" and event.kwargs["status_code"] == 400


# -- structured output, usage, tokens --

class City(BaseModel):
    name: str
    population: int


async def test_structured_output(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion('{"name": "Paris", "population": 2100000}')))
    result = await client.create(HELLO, json_output=City)
    assert result.parsed == City(name="Paris", population=2100000)
    fmt = server.requests[0].json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


async def test_structured_output_invalid_and_truncated(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion('{"name": "Paris"}')))
    with pytest.raises(mp.OutputParseError) as info:
        await client.create(HELLO, json_output=City)
    assert info.value.result.content == '{"name": "Paris"}'
    server.add(Reply.json(completion('{"name": "Pa', finish_reason="length")))
    with pytest.raises(mp.LengthLimitError):
        await client.create(HELLO, json_output=City)


async def test_structured_output_refusal_is_not_parsed(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion(None, refusal="I can't")))
    result = await client.create(HELLO, json_output=City)
    assert result.refusal == "I can't" and result.parsed is None


async def test_json_output_true(server: FakeServer, client: Any) -> None:
    result = await client.create(HELLO, json_output=True)
    assert server.requests[0].json["response_format"] == {"type": "json_object"}
    assert result.content == '{"answer":"Hello"}'


async def test_usage_totals(server: FakeServer, client: Any) -> None:
    for _ in range(2):
        server.add(Reply.json(completion("x", usage={"prompt_tokens": 10, "completion_tokens": 2})))
        await client.create(HELLO)
    assert (client.total_usage().prompt_tokens, client.total_usage().completion_tokens) == (20, 4)
    assert client.actual_usage() == client.total_usage()


def test_count_and_remaining_tokens(make_client: Any) -> None:
    client = make_client("gpt-4o")
    count = client.count_tokens([SystemMessage(content="You are helpful."), UserMessage(content="Hello there")])
    assert 10 < count < 40
    assert client.remaining_tokens(HELLO) == 128_000 - client.count_tokens(HELLO)
