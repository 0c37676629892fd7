"""The provider table: one row per provider, from which the rest of the package learns of it.

The component registry (which ``provider`` names a config may use), the package's lazy exports of the clients and
the fake server's routing are derived from these rows, so a new provider is its folder, its fake-server module and
one row here (plus its data: prices and model registry entries). Rows name modules by path, as strings: reading the
table imports no provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROVIDERS", "Provider"]


@dataclass(frozen=True)
class Provider:
    """A provider, as the rest of the package sees it."""

    name: str
    """The ``provider`` of its saved configs (``"openai"``)."""
    client: str
    """Where its client class is: ``"providers.openai.client:OpenAIChatCompletionClient"``, under ``modelport``."""
    exports: tuple[str, ...] = ()
    """Public names of its client module that ``modelport`` exports (the client class first)."""
    aliases: tuple[str, ...] = ()
    """Other names configs use for it (AutoGen's component names)."""
    key_env: tuple[str, ...] = ()
    """The environment variables that hold its credentials, sent only to its own host."""
    host: str | None = None
    """Its own server, where it has one."""
    fake: str | None = None
    """The fake server's module that speaks its wire (``"testing._anthropic"``), if any."""


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        name="openai",
        client="providers.openai.client:OpenAIChatCompletionClient",
        exports=("OpenAIChatCompletionClient",),
        aliases=("openai_chat_completion_client", "autogen_ext.models.openai.OpenAIChatCompletionClient"),
        key_env=("OPENAI_API_KEY",),
        host="https://api.openai.com",
        fake="testing._openai",
    ),
    Provider(
        name="azure_openai",
        client="providers.openai.azure:AzureOpenAIChatCompletionClient",
        exports=("AzureOpenAIChatCompletionClient",),
        aliases=("azure_openai_chat_completion_client", "autogen_ext.models.openai.AzureOpenAIChatCompletionClient"),
        key_env=("AZURE_OPENAI_API_KEY",),
        fake="testing._openai",
    ),
    Provider(
        name="openai_responses",
        client="providers.openai_responses.client:OpenAIResponsesClient",
        exports=("OpenAIResponsesClient",),
        key_env=("OPENAI_API_KEY",),
        host="https://api.openai.com",
        fake="testing._responses",
    ),
    Provider(
        name="azure_openai_responses",
        client="providers.openai_responses.azure:AzureOpenAIResponsesClient",
        exports=("AzureOpenAIResponsesClient",),
        key_env=("AZURE_OPENAI_API_KEY",),
        fake="testing._responses",
    ),
    Provider(
        name="anthropic",
        client="providers.anthropic.client:AnthropicChatCompletionClient",
        exports=("AnthropicChatCompletionClient",),
        aliases=("anthropic_chat_completion_client", "autogen_ext.models.anthropic.AnthropicChatCompletionClient"),
        key_env=("ANTHROPIC_API_KEY",),
        host="https://api.anthropic.com",
        fake="testing._anthropic",
    ),
    Provider(
        name="ollama",
        client="providers.ollama.client:OllamaChatCompletionClient",
        exports=("OllamaChatCompletionClient",),
        aliases=("ollama_chat_completion_client", "autogen_ext.models.ollama.OllamaChatCompletionClient"),
        host="http://localhost:11434",
        fake="testing._ollama",
    ),
)
"""Every provider. The fake server asks their fake modules in this order whether a request is theirs; the OpenAI
module answers whatever no other claims, so it is asked last."""


def fake_modules() -> list[str]:
    """The fake server's modules, each once, in the order they are asked (the OpenAI one last)."""
    modules = list(dict.fromkeys(p.fake for p in PROVIDERS if p.fake is not None))
    modules.sort(key=lambda module: module == "testing._openai")
    return modules
