"""The provider table: one row per provider, from which the rest of the package learns of it.

The component registry (which ``provider`` names a config may use), the package's lazy exports of the clients and
the fake server's routing are derived from these rows, so a new provider is its folder, its fake-server module and
one row here (plus its data: prices and model registry entries). Rows name modules by path, as strings: reading the
table imports no provider.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["PROVIDERS", "Provider"]


class Provider:
    """A provider, as the rest of the package sees it (a plain class: reading the table costs no import)."""

    __slots__ = (
        "aliases",
        "client",
        "default_model",
        "exports",
        "fake",
        "host",
        "key_env",
        "model_argument",
        "name",
        "prefixes",
        "url_argument",
    )

    def __init__(
        self,
        *,
        name: str,
        client: str,
        exports: tuple[str, ...] = (),
        aliases: tuple[str, ...] = (),
        key_env: tuple[str, ...] = (),
        host: str | None = None,
        fake: str | None = None,
        default_model: str | None = None,
        prefixes: dict[str, dict[str, object]] | None = None,
        model_argument: str = "model",
        url_argument: str = "base_url",
    ) -> None:
        self.name = name
        """The ``provider`` of its saved configs (``"openai"``)."""
        self.client = client
        """Where its client class is: ``"providers.openai.client:OpenAIChatCompletionClient"``, under ``modelport``."""
        self.exports = exports
        """Public names of its client module that ``modelport`` exports (the client class first)."""
        self.aliases = aliases
        """Other names configs use for it: AutoGen's component names, and the qualified name of the module that held
        its client before the provider had a folder (saved configs name it)."""
        self.key_env = key_env
        """The environment variables that hold its credentials, sent only to its own host."""
        self.host = host
        """Its own server, where it has one."""
        self.fake = fake
        """The fake server's module that speaks its wire (``"testing._anthropic"``), if any."""
        self.default_model = default_model
        """The model the command line uses for it when none is given; with one, ``--provider NAME`` reaches this
        provider's own client even where an OpenAI preset has its name (``gemini``)."""
        self.prefixes = prefixes if prefixes is not None else {name.replace("_", "-"): {}}
        """The names a model string gives it (``"anthropic"`` in ``"anthropic:claude-sonnet-4-5"``), each with the
        arguments it adds to the client's (``"vertex"``: ``vertexai=True``); by default its name, with dashes."""
        self.model_argument = model_argument
        """The client's argument that a model string's model goes to (an Azure client's ``azure_deployment``)."""
        self.url_argument = url_argument
        """The client's argument for the server's address, which the command line's ``--base-url`` sets."""

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, client={self.client!r})"


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        name="openai",
        client="providers.openai.client:OpenAIChatCompletionClient",
        exports=("OpenAIChatCompletionClient",),
        aliases=(
            "openai_chat_completion_client",
            "autogen_ext.models.openai.OpenAIChatCompletionClient",
            "modelport.providers.openai.OpenAIChatCompletionClient",
        ),
        key_env=("OPENAI_API_KEY",),
        host="https://api.openai.com",
        fake="testing._openai",
    ),
    Provider(
        name="azure_openai",
        prefixes={"azure": {}, "azure-openai": {}},
        model_argument="azure_deployment",
        url_argument="azure_endpoint",
        client="providers.openai.azure:AzureOpenAIChatCompletionClient",
        exports=("AzureOpenAIChatCompletionClient",),
        aliases=(
            "azure_openai_chat_completion_client",
            "autogen_ext.models.openai.AzureOpenAIChatCompletionClient",
            "modelport.providers.azure.AzureOpenAIChatCompletionClient",
        ),
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
        default_model="gpt-4o-mini",
    ),
    Provider(
        name="azure_openai_responses",
        prefixes={"azure-responses": {}, "azure-openai-responses": {}},
        model_argument="azure_deployment",
        url_argument="azure_endpoint",
        client="providers.openai_responses.azure:AzureOpenAIResponsesClient",
        exports=("AzureOpenAIResponsesClient",),
        key_env=("AZURE_OPENAI_API_KEY",),
        fake="testing._responses",
    ),
    Provider(
        name="anthropic",
        client="providers.anthropic.client:AnthropicChatCompletionClient",
        exports=("AnthropicChatCompletionClient",),
        aliases=(
            "anthropic_chat_completion_client",
            "autogen_ext.models.anthropic.AnthropicChatCompletionClient",
            "modelport.providers.anthropic.AnthropicChatCompletionClient",
        ),
        key_env=("ANTHROPIC_API_KEY",),
        host="https://api.anthropic.com",
        fake="testing._anthropic",
    ),
    Provider(
        name="gemini",
        client="providers.gemini.client:GeminiChatCompletionClient",
        exports=("GeminiChatCompletionClient",),
        key_env=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        host="https://generativelanguage.googleapis.com",
        fake="testing._gemini",
        default_model="gemini-2.5-flash",
        prefixes={"gemini": {}, "vertex": {"vertexai": True}, "vertex-ai": {"vertexai": True}},
    ),
    Provider(
        name="ollama",
        client="providers.ollama.client:OllamaChatCompletionClient",
        exports=("OllamaChatCompletionClient",),
        aliases=(
            "ollama_chat_completion_client",
            "autogen_ext.models.ollama.OllamaChatCompletionClient",
            "modelport.providers.ollama.OllamaChatCompletionClient",
        ),
        host="http://localhost:11434",
        fake="testing._ollama",
        prefixes={"ollama": {}, "ollama-chat": {}},
        url_argument="host",
    ),
    Provider(
        name="bedrock",
        client="providers.bedrock.client:BedrockChatCompletionClient",
        exports=("BedrockChatCompletionClient",),
        aliases=("bedrock_chat_completion_client",),
        key_env=("AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
        fake="testing._bedrock",
        default_model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
)
"""Every provider. The fake server asks their fake modules in this order whether a request is theirs; the OpenAI
module answers whatever no other claims, so it is asked last."""


def native_provider(name: str | None, presets: Collection[str] = ()) -> Provider | None:
    """The provider of the table called ``name`` (dashes or underscores) that the command line reaches through its
    own client rather than an OpenAI preset of that name (``presets``): one with a ``default_model``, or one no
    preset shares its name with; else None."""
    wanted = name.replace("-", "_") if name else None
    return next(
        (p for p in PROVIDERS if p.name == wanted and (p.default_model or p.name.replace("_", "-") not in presets)),
        None,
    )


def fake_modules() -> list[str]:
    """The fake server's modules, each once, in the order they are asked (the OpenAI one last)."""
    modules = list(dict.fromkeys(p.fake for p in PROVIDERS if p.fake is not None))
    modules.sort(key=lambda module: module == "testing._openai")
    return modules
