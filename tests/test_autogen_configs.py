"""AutoGen's way of loading a client: short provider names, and ``ChatCompletionClient.load_component(config)``."""

from __future__ import annotations

import pytest

import modelport as mp
from modelport import AzureOpenAIChatCompletionClient, ChatCompletionClient, OpenAIChatCompletionClient
from modelport.testing import FakeServer

from .helpers import HELLO


@pytest.mark.parametrize("provider", ["OpenAIChatCompletionClient", "openai_chat_completion_client",
                                      "autogen_ext.models.openai.OpenAIChatCompletionClient"])
async def test_autogen_provider_names_load_through_the_base_class(server: FakeServer, provider: str) -> None:
    config = {"provider": provider, "config": {"model": "gpt-4o", "base_url": server.base_url, "api_key": "sk-x-1"}}
    client = ChatCompletionClient.load_component(config)
    try:
        assert isinstance(client, OpenAIChatCompletionClient)
        assert (await client.create(HELLO)).content == "You said: Hello"
    finally:
        await client.close()


def test_azure_short_name_loads() -> None:
    config = {"provider": "AzureOpenAIChatCompletionClient",
              "config": {"azure_endpoint": "https://example.openai.azure.com", "azure_deployment": "gpt-4o",
                         "api_version": "2024-10-21", "api_key": "azure-key-1"}}
    assert isinstance(ChatCompletionClient.load_component(config), AzureOpenAIChatCompletionClient)


def test_the_base_class_refuses_a_config_that_is_not_a_client() -> None:
    with pytest.raises(mp.InvalidRequestError, match="not a ChatCompletionClient"):
        ChatCompletionClient.load_component({"provider": "UnboundedChatCompletionContext", "config": {}})
