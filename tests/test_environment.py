"""The environment's conventions: OPENAI_BASE_URL with its key, a withheld key that explains itself, and a timeout
error that says how many attempts it made."""

from __future__ import annotations

import pytest

import modelport as mp
from modelport import OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer, Reply

from .conftest import API_KEY, RecordingSleep
from .helpers import HELLO


async def test_openai_base_url_is_honoured_with_its_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        assert client.base_url == server.base_url
        assert (await client.create(HELLO)).content == "You said: Hello"
    finally:
        await client.close()
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert client.dump_component().config["api_key_env"] == "OPENAI_API_KEY"


async def test_openai_base_url_without_a_key_serves_a_local_server(server: FakeServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers


async def test_a_base_url_in_code_gets_no_environment_key_and_a_401_says_so(server: FakeServer,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server.add(Reply.json({"error": {"message": "missing key", "type": "invalid_request_error"}}, status=401))
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, max_retries=0)
    try:
        with pytest.raises(mp.AuthenticationError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers
    assert "api_key_env='OPENAI_API_KEY'" in str(info.value) and API_KEY not in str(info.value)
    sender = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key_env="OPENAI_API_KEY")
    try:
        await sender.create(HELLO)
    finally:
        await sender.close()
    assert server.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_a_timeout_after_retries_says_how_many_attempts(server: FakeServer) -> None:
    server.add(Reply.hang(), Reply.hang())
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, timeout=0.2,
                                        retry_policy=RetryPolicy(max_retries=1, sleep=RecordingSleep()))
    try:
        with pytest.raises(mp.APITimeoutError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    assert info.value.attempts == 2
    assert "after 2 attempts" in str(info.value) and "deadline=" in str(info.value)


