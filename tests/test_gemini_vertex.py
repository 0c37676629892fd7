"""Gemini on Vertex AI: project and location paths, bearer tokens from a provider (sync or async, asked before each
request and once more after a 401) or from application default credentials, express mode with a key, over real HTTP
against the fake server."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import modelport as mp
from modelport import RetryPolicy, UserMessage
from modelport.components import ComponentConfigError
from modelport.providers.gemini import GeminiChatCompletionClient
from modelport.testing import FakeServer, Reply, gemini_error

from .conftest import RecordingSleep
from .helpers import collect

HELLO = [UserMessage(content="Hello from Paris")]
MODEL = "gemini-2.5-flash"
VERTEX_PATH = f"/v1/projects/my-proj/locations/us-central1/publishers/google/models/{MODEL}:generateContent"


class Tokens:
    """An access-token provider handing out tok-1, tok-2, ... (``awaitable``: as a coroutine function)."""

    def __init__(self) -> None:
        self.handed = 0

    def __call__(self) -> str:
        self.handed += 1
        return f"ya29.token-{self.handed}"

    async def coroutine(self) -> str:
        return self()


@pytest.fixture
async def make_vertex(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[GeminiChatCompletionClient] = []

    def make(**kwargs: Any) -> GeminiChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("vertexai", True)
        kwargs.setdefault("project", "my-proj")
        kwargs.setdefault("location", "us-central1")
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=2, sleep=sleeps, random=lambda: 0.0))
        client = GeminiChatCompletionClient(MODEL, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.mark.parametrize("awaitable", [False, True])
async def test_vertex_calls_carry_a_fresh_token_per_request(
    server: FakeServer, make_vertex: Any, awaitable: bool
) -> None:
    tokens = Tokens()
    client = make_vertex(access_token_provider=tokens.coroutine if awaitable else tokens)
    assert (await client.create(HELLO)).content == "You said: Hello from Paris"
    _, streamed = await collect(client, HELLO)
    assert streamed.content == "You said: Hello from Paris"
    first, second = server.requests
    assert first.path == VERTEX_PATH
    assert second.path == VERTEX_PATH.replace("generateContent", "streamGenerateContent")
    assert second.query == {"alt": ["sse"]}
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer ya29.token-1", "Bearer ya29.token-2"]
    assert "x-goog-api-key" not in first.headers


@pytest.mark.parametrize("stream", [False, True])
async def test_a_401_asks_for_a_new_token_once(server: FakeServer, make_vertex: Any, stream: bool) -> None:
    tokens = Tokens()
    server.add(Reply.json(gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
                          status=401))
    client = make_vertex(access_token_provider=tokens)
    result = (await collect(client, HELLO))[1] if stream else await client.create(HELLO)
    assert result.content == "You said: Hello from Paris"
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer ya29.token-1", "Bearer ya29.token-2"]


async def test_a_second_401_is_an_authentication_error_without_the_token(
    server: FakeServer, make_vertex: Any
) -> None:
    refused = gemini_error(401, "UNAUTHENTICATED", "Bad credentials ya29.token-1 and ya29.token-2")
    server.add(Reply.json(refused, status=401), Reply.json(refused, status=401))
    with pytest.raises(mp.AuthenticationError) as caught:
        await make_vertex(access_token_provider=Tokens()).create(HELLO)
    assert len(server.requests) == 2
    assert "ya29.token-1" not in str(caught.value) and "ya29.token-2" not in str(caught.value)


def test_the_server_follows_the_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-proj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    regional = GeminiChatCompletionClient(MODEL, access_token_provider=Tokens())
    assert regional.base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert str(regional._url()).endswith(
        f"/v1/projects/env-proj/locations/europe-west4/publishers/google/models/{MODEL}:generateContent"
    )
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION")
    worldwide = GeminiChatCompletionClient(MODEL, access_token_provider=Tokens())
    assert worldwide.base_url == "https://aiplatform.googleapis.com"
    assert "/locations/global/" in str(worldwide._url())


async def test_express_mode_sends_the_key_to_vertex(server: FakeServer, make_vertex: Any) -> None:
    client = make_vertex(project=None, location=None, api_key="AQ.express-key-0123")
    await client.create(HELLO)
    request = server.requests[-1]
    assert request.path == f"/v1/publishers/google/models/{MODEL}:generateContent"
    assert request.headers["x-goog-api-key"] == "AQ.express-key-0123" and "authorization" not in request.headers


def test_vertex_needs_a_project_and_the_api_needs_vertex_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(mp.InvalidRequestError, match="project is required"):
        GeminiChatCompletionClient(MODEL, vertexai=True, access_token_provider=Tokens())
    with pytest.raises(mp.InvalidRequestError, match="project is for Vertex AI"):
        GeminiChatCompletionClient(MODEL, api_key="k-0123456", project="p")


def test_without_google_auth_a_token_provider_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)  # as if google-auth were not installed
    with pytest.raises(mp.InvalidRequestError, match=r"modelport\[vertex\]"):
        GeminiChatCompletionClient(MODEL, vertexai=True, project="p")


def test_a_client_with_a_token_provider_is_not_saved_in_a_config() -> None:
    client = GeminiChatCompletionClient(MODEL, vertexai=True, project="p", access_token_provider=Tokens())
    with pytest.raises(mp.InvalidRequestError, match="access_token_provider"):
        client.dump_component()


@pytest.fixture
def service_account(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Application default credentials of a service account whose token endpoint is the fake server."""
    pytest.importorskip("google.auth")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "my-proj", "private_key_id": "k1",
                                "private_key": pem, "client_email": "sa@my-proj.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": server.base_url + "/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", server.base_url)  # the fake server, named as the one to trust
    yield


async def test_application_default_credentials_are_refreshed_and_sent(
    server: FakeServer, make_vertex: Any, service_account: None
) -> None:
    server.add(Reply.json({"access_token": "ya29.adc-token", "expires_in": 3600, "token_type": "Bearer"}))
    client = make_vertex()
    await client.create(HELLO)
    await client.create(HELLO)
    token_request, first, second = server.requests
    assert token_request.path == "/v1/token" and b"assertion=" in token_request.body
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer ya29.adc-token"


async def test_count_tokens_on_vertex_sends_the_counted_fields_at_the_top(
    server: FakeServer, make_vertex: Any
) -> None:
    client = make_vertex(access_token_provider=Tokens())
    count = await client.count_tokens_remote([mp.SystemMessage(content="Be brief."), *HELLO])
    request = server.requests[-1]
    assert request.path == VERTEX_PATH.replace("generateContent", "countTokens")
    assert set(request.json) == {"contents", "systemInstruction"} and int(count) > 0
    assert request.headers["authorization"] == "Bearer ya29.token-1"


async def test_list_models_on_vertex_reads_the_publisher_models(server: FakeServer, make_vertex: Any) -> None:
    client = make_vertex(access_token_provider=Tokens())
    server.add(Reply.json({"publisherModels": [{"name": "publishers/google/models/a"}], "nextPageToken": "0"}))
    listed = await client.list_models()
    assert [m.id for m in listed] == ["a", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"]
    first, second = server.requests
    assert first.path == second.path == "/v1beta1/publishers/google/models" and second.query["pageToken"] == ["0"]
    assert (first.headers["authorization"], second.headers["authorization"]) == (
        "Bearer ya29.token-1",
        "Bearer ya29.token-2",
    )
    assert all(m.context_window is None for m in listed)
    server.add(Reply.json({}))  # Google's JSON leaves an empty list out
    assert await client.list_models() == []


async def test_list_models_in_vertex_express_mode_sends_the_key(server: FakeServer, make_vertex: Any) -> None:
    client = make_vertex(project=None, location=None, api_key="AQ.express-key")
    listed = await client.list_models()
    assert "gemini-2.5-pro" in [m.id for m in listed]
    assert server.requests[-1].headers["x-goog-api-key"] == "AQ.express-key"


async def test_count_tokens_and_list_models_ask_a_fresh_token_after_a_401(
    server: FakeServer, make_vertex: Any
) -> None:
    tokens = Tokens()
    client = make_vertex(access_token_provider=tokens)
    refused = gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    server.add(Reply.json(refused, status=401))
    assert int(await client.count_tokens_remote(HELLO)) > 0
    server.add(Reply.json(refused, status=401))
    assert await client.list_models()
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer ya29.token-{n}" for n in (1, 2, 3, 4)]


async def test_labels_go_to_vertex_and_are_refused_for_the_gemini_api_before_sending(
    server: FakeServer, make_vertex: Any
) -> None:
    await make_vertex(access_token_provider=Tokens(), labels={"team": "search"}).create(HELLO)
    assert server.requests[-1].json["labels"] == {"team": "search"}
    gemini_api = GeminiChatCompletionClient(MODEL, base_url=server.base_url, api_key="AIza-key", labels={"a": "b"})
    async with gemini_api as client:
        with pytest.raises(mp.InvalidRequestError, match="'labels' is for Vertex AI only"):
            await client.create(HELLO)
    assert len(server.requests) == 1


def test_application_default_credentials_go_only_to_google_s_servers(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL", raising=False)
    with pytest.raises(mp.InvalidRequestError, match="application default credentials go only to Google's servers"):
        GeminiChatCompletionClient(MODEL, vertexai=True, project="p", base_url=server.base_url)
    for trusted in ("https://us-central1-aiplatform.googleapis.com", "https://my-psc.p.googleapis.com/v1"):
        GeminiChatCompletionClient(MODEL, vertexai=True, project="p", base_url=trusted)
    with pytest.raises(mp.InvalidRequestError, match="not Google's"):
        GeminiChatCompletionClient(MODEL, vertexai=True, project="p", base_url="https://googleapis.com.evil.test")
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", server.base_url + "/")
    GeminiChatCompletionClient(MODEL, vertexai=True, project="p", base_url=server.base_url)
    assert server.requests == []


async def test_a_loaded_config_sends_no_application_default_token_through_a_proxy_that_could_read_it(
    server: FakeServer, service_account: None
) -> None:
    """A config is data: like a key of the environment, the application default credentials' token does not go
    through a proxy the config names when that proxy could read the request (plain HTTP, or verify_ssl false)."""
    server.add(Reply.json({"access_token": "ya29.adc-token", "expires_in": 3600, "token_type": "Bearer"}))
    with FakeServer() as proxy:
        config = {
            "provider": "modelport.GeminiChatCompletionClient",
            "config": {"model": MODEL, "vertexai": True, "project": "my-proj", "location": "us-central1",
                       "base_url": server.base_url, "proxy": proxy.base_url, "max_retries": 0},
        }
        with pytest.raises(ComponentConfigError, match="proxy") as refused:
            client = mp.load_component(config)
            async with client:
                await client.create(HELLO)  # the proxy answers as the server would, holding the token
        assert "ya29.adc-token" not in str(refused.value)
        assert proxy.requests == []
