"""DB-GPT's environment conventions for a proxy model: ``OPENAI_API_BASE`` beside ``OPENAI_API_KEY``, and a full
``.../chat/completions`` URL taken as the endpoint, not doubled."""

from __future__ import annotations

import pytest

from modelport import OpenAIChatCompletionClient, OpenAIResponsesClient
from modelport.testing import FakeServer

from .conftest import API_KEY
from .helpers import HELLO


async def test_openai_api_base_is_honoured_with_its_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        assert client.base_url == server.base_url
        assert (await client.create(HELLO)).content == "You said: Hello"
    finally:
        await client.close()
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_openai_base_url_wins_over_openai_api_base(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        assert client.base_url == server.base_url
    finally:
        await client.close()


async def test_openai_api_base_with_a_password_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelport import InvalidRequestError

    monkeypatch.setenv("OPENAI_API_BASE", "http://user:hunter2@127.0.0.1:9/v1")
    with pytest.raises(InvalidRequestError, match="OPENAI_API_BASE") as info:
        OpenAIChatCompletionClient(model="gpt-4o")
    assert "hunter2" not in str(info.value)


async def test_full_chat_completions_url_in_openai_api_base_is_not_doubled(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_full_chat_completions_url_as_base_url_is_not_doubled(server: FakeServer) -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url + "/chat/completions/", api_key="k")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert server.requests[0].path == "/v1/chat/completions"


async def test_openai_api_key_is_not_sent_to_a_base_url_in_code(server: FakeServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The key-to-host rule holds with DB-GPT's variables too: the environment's key goes only to the
    environment's server, never to one named in code."""
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url + "/chat/completions")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers


async def test_responses_client_honours_openai_api_base(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIResponsesClient("gpt-4o")
    try:
        assert client.base_url == server.base_url
    finally:
        await client.close()


async def test_full_chat_completions_url_with_a_query_is_not_doubled(server: FakeServer) -> None:
    """An endpoint URL with its query after the path (``?api-version=`` as Azure-style proxies take it): the
    ``/chat/completions`` before the query is the endpoint's, and the query is kept."""
    url = server.base_url + "/chat/completions/?api-version=2024-10-21"
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=url, api_key="k")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].query == {"api-version": ["2024-10-21"]}
