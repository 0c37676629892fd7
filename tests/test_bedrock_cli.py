"""``modelport`` with ``--provider bedrock``: the demo offline, and chat through the Converse client."""

from __future__ import annotations

import pytest

from modelport import ModelInfo, OpenAIChatCompletionClient, UserMessage
from modelport.testing import FakeServer

from .test_cli import run

GPT_OSS: ModelInfo = {"vision": False, "function_calling": True, "json_output": True, "family": "unknown"}
AWS_FREE = {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true"}


def test_demo_with_provider_bedrock_runs_offline() -> None:
    done = run("demo", "--provider", "bedrock", env=AWS_FREE)
    assert done.returncode == 0, done.stderr
    for step in ("1. A plain call", "2. A stream", "3. A tool call", "4. Structured output"):
        assert step in done.stdout
    assert "City(name='Paris'" in done.stdout and "Warning" not in done.stderr


def test_chat_with_provider_bedrock_speaks_converse() -> None:
    with FakeServer() as server:
        done = run("chat", "--provider", "bedrock", "--base-url", server.base_url, "--no-stream", "hello", "there",
                   env=AWS_FREE)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "You said: hello there"
        assert [r.path for r in server.requests] == [
            "/v1/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
        ]


async def test_bedrocks_openai_compatible_endpoint_is_a_preset_of_the_openai_client(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    client = OpenAIChatCompletionClient(model="openai.gpt-oss-120b-1:0", provider="bedrock-openai",
                                        model_info=GPT_OSS)
    assert client.base_url == "https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1"
    assert client._request_headers["authorization"] == "Bearer bedrock-api-key-0123456789"
    await client.close()
    elsewhere = OpenAIChatCompletionClient(model="openai.gpt-oss-120b-1:0", provider="bedrock-openai",
                                           model_info=GPT_OSS, base_url=server.base_url,
                                           api_key_env="AWS_BEARER_TOKEN_BEDROCK")
    try:
        result = await elsewhere.create([UserMessage(content="hello", source="u")])
    finally:
        await elsewhere.close()
    assert result.content == "You said: hello"
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer bedrock-api-key-0123456789"
