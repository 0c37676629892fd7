"""Model strings: ``get_client("provider:model")`` returns each provider's own client, which answers over HTTP; the
rule for ``:`` and LiteLLM's ``/``; one-line errors with the nearest match; router configs with string
deployments."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

import modelport as mp
from modelport import UserMessage, get_client
from modelport.testing import FakeServer

HELLO = [UserMessage(content="Hello")]
KEY = "sk-test-SECRET-0123456789abcdef"


def _root(server: FakeServer) -> str:
    return server.base_url.removesuffix("/v1")


# (model string, the client class, its arguments to reach the fake server, the request path, the model sent in the body)
CASES: list[tuple[str, str, Any, str, str | None]] = [
    ("openai:gpt-4o", "OpenAIChatCompletionClient", lambda s: {"base_url": s.base_url, "api_key": KEY},
     "/v1/chat/completions", "gpt-4o"),
    ("anthropic:claude-sonnet-4-5", "AnthropicChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": KEY}, "/v1/messages", "claude-sonnet-4-5"),
    ("ollama:qwen3:8b", "OllamaChatCompletionClient", lambda s: {"host": _root(s)}, "/api/chat", "qwen3:8b"),
    ("azure:my-deployment", "AzureOpenAIChatCompletionClient",
     lambda s: {"azure_endpoint": _root(s), "api_key": KEY, "api_version": "2024-10-21", "model": "gpt-4o"},
     "/openai/deployments/my-deployment/chat/completions", None),
    ("gemini:gemini-2.5-flash", "GeminiChatCompletionClient", lambda s: {"base_url": s.base_url, "api_key": KEY},
     "/v1beta/models/gemini-2.5-flash:generateContent", None),
    ("vertex:gemini-2.5-flash", "GeminiChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": "AQ.express-key-0123"},
     "/v1/publishers/google/models/gemini-2.5-flash:generateContent", None),
    ("bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0", "BedrockChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": "bedrock-api-key-0123456789"},
     "/v1/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", None),
    ("openai-responses:gpt-5", "OpenAIResponsesClient", lambda s: {"base_url": s.base_url, "api_key": KEY},
     "/v1/responses", "gpt-5"),
    ("azure-openai-responses:my-gpt-5", "AzureOpenAIResponsesClient",
     lambda s: {"azure_endpoint": _root(s), "api_key": KEY, "model": "gpt-5"}, "/openai/v1/responses", "gpt-5"),
    ("groq:meta-llama/llama-4-scout-17b-16e-instruct", "OpenAIChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": KEY}, "/v1/chat/completions",
     "meta-llama/llama-4-scout-17b-16e-instruct"),
    ("openrouter:anthropic/claude-sonnet-4.5", "OpenAIChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": KEY}, "/v1/chat/completions", "anthropic/claude-sonnet-4.5"),
    # LiteLLM's provider/model
    ("anthropic/claude-sonnet-4-5", "AnthropicChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": KEY}, "/v1/messages", "claude-sonnet-4-5"),
    ("ollama_chat/qwen3:8b", "OllamaChatCompletionClient", lambda s: {"host": _root(s)}, "/api/chat", "qwen3:8b"),
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "BedrockChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": "bedrock-api-key-0123456789"},
     "/v1/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", None),
    ("openrouter/anthropic/claude-sonnet-4.5", "OpenAIChatCompletionClient",
     lambda s: {"base_url": s.base_url, "api_key": KEY}, "/v1/chat/completions", "anthropic/claude-sonnet-4.5"),
]


@pytest.mark.parametrize(("text", "cls", "arguments", "path", "sent"), CASES, ids=[c[0] for c in CASES])
async def test_get_client_returns_the_providers_own_client_which_answers_over_http(
    server: FakeServer, text: str, cls: str, arguments: Any, path: str, sent: str | None
) -> None:
    client = get_client(text, max_retries=0, **arguments(server))
    try:
        assert type(client).__name__ == cls and isinstance(client, mp.ChatCompletionClient)
        result = await client.create(HELLO)
    finally:
        await client.close()
    assert result.content == "You said: Hello"
    request = server.requests[-1]
    assert request.path == path
    if sent is not None:
        assert request.json["model"] == sent


def test_a_preset_string_sets_the_preset_and_a_row_wins_over_a_preset_of_its_name() -> None:
    groq = get_client("groq:openai/gpt-oss-120b", api_key=KEY)
    assert (groq.base_url, groq._model) == ("https://api.groq.com/openai/v1", "openai/gpt-oss-120b")
    native = get_client("gemini:gemini-2.5-pro", api_key=KEY)
    assert type(native).__name__ == "GeminiChatCompletionClient"  # not the OpenAI-compatible preset
    assert native.base_url == "https://generativelanguage.googleapis.com"


def test_unknown_provider_is_one_line_with_the_nearest_name() -> None:
    with pytest.raises(mp.InvalidRequestError) as caught:
        get_client("opnai:gpt-4o")
    message = str(caught.value)
    assert "\n" not in message and "did you mean 'openai'?" in message
    assert "openai-responses" in message and "bedrock" in message and "groq" in message
    with pytest.raises(mp.InvalidRequestError, match=r"did you mean 'openai:gpt-4o'\?"):
        get_client("gpt-4o")  # no provider at all: the one whose models include it
    with pytest.raises(mp.InvalidRequestError, match="names no known provider"):
        get_client("meta-llama/Llama-3-70b")  # a slash after an unknown name is a model id, not a provider
    with pytest.raises(mp.InvalidRequestError, match="names no model after 'openai'"):
        get_client("openai:")


def test_a_misspelt_model_is_refused_with_the_nearest_and_model_info_lets_it_through() -> None:
    with pytest.raises(mp.InvalidRequestError) as caught:
        get_client("anthropic:claude-sonet-4-5", api_key=KEY)
    assert "did you mean 'claude-sonnet-4-5'?" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(mp.InvalidRequestError, match="did you mean 'gpt-4o'"):
        get_client("openai:gtp-4o", api_key=KEY)
    info = mp.ModelInfo(vision=False, function_calling=True, json_output=True, family="unknown")
    assert get_client("openai:gtp-4o", api_key=KEY, model_info=info)._model == "gtp-4o"
    # a name near no known one is a new model: allowed, with the usual warning
    with pytest.warns(mp.UnknownModelWarning):
        assert get_client("ollama:my-own-model")._model == "my-own-model"
    # an Azure deployment's name is its owner's choice: never a typo
    assert get_client("azure:gtp-4o", azure_endpoint="https://x.openai.azure.com", api_key=KEY,
                      api_version="2024-10-21", model="gpt-4o")._deployment == "gtp-4o"


def test_client_args_cannot_set_what_the_string_sets() -> None:
    with pytest.raises(mp.InvalidRequestError, match="model cannot be passed beside the model string"):
        get_client("openai:gpt-4o", model="gpt-4o-mini")
    with pytest.raises(mp.InvalidRequestError, match="provider cannot be passed"):
        get_client("groq:llama-3.3-70b-versatile", provider="deepseek")


async def test_router_config_takes_deployments_as_model_strings(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", _root(server))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = {"provider": "router", "config": {"deployments": [
        "ollama:qwen3", {"client": "openai:gpt-4o", "rpm": 60},
    ]}}
    router = mp.load_component(json.loads(json.dumps(config)), expected=mp.Router)
    try:
        assert [type(d.client).__name__ for d in router.deployments] == [
            "OllamaChatCompletionClient", "OpenAIChatCompletionClient"]
        assert router.deployments[1].rpm == 60
        result = await router.create(HELLO)
    finally:
        await router.close()
    assert result.content == "You said: Hello" and server.requests[-1].path == "/api/chat"
    with pytest.raises(mp.InvalidRequestError, match=r"deployments\[0\]\.client: .*did you mean 'ollama'\?"):
        mp.load_component({"provider": "router", "config": {"deployments": ["olama:qwen3"]}})


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("anthropic:claude-sonnet-4-7", "/v1/messages"),  # a newer version: only its digits differ
        ("anthropic:claude-opus-9", "/v1/messages"),
        ("openai:gpt-6", "/v1/chat/completions"),
        ("openai:o5-mini", "/v1/chat/completions"),
        ("openai:gpt-4.2-nano-2026-11-30", "/v1/chat/completions"),  # and a new date suffix
    ],
)
async def test_a_new_version_of_a_known_model_is_accepted_while_a_letters_typo_is_refused(
    server: FakeServer, text: str, path: str
) -> None:
    with warnings.catch_warnings():  # the registry does not know it yet: the client's usual warning, once a process
        warnings.simplefilter("ignore", mp.UnknownModelWarning)
        client = get_client(text, base_url=server.base_url, api_key=KEY, max_retries=0)
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    assert result.content == "You said: Hello"
    assert server.requests[-1].path == path and server.requests[-1].json["model"] == text.partition(":")[2]
    for typo, nearest in [("anthropic:claude-sonet-4-5", "claude-sonnet-4-5"), ("openai:gtp-4o", "gpt-4o")]:
        with pytest.raises(mp.InvalidRequestError, match=f"did you mean '{nearest}'"):
            get_client(typo, base_url=server.base_url, api_key=KEY)


async def test_router_config_takes_a_new_model_version_as_a_string_deployment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    config = {"provider": "router", "config": {"deployments": ["anthropic:claude-sonnet-4-8"]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mp.UnknownModelWarning)
        router = mp.load_component(config, expected=mp.Router)
    try:
        result = await router.create(HELLO)
    finally:
        await router.close()
    assert result.content == "You said: Hello" and server.requests[-1].json["model"] == "claude-sonnet-4-8"
    with pytest.raises(mp.InvalidRequestError, match="did you mean 'claude-sonnet-4-5'"):
        mp.load_component({"provider": "router", "config": {"deployments": ["anthropic:claude-sonet-4-5"]}})
