"""``OpenAIChatCompletionClient``: OpenAI and every server that speaks its chat-completions API.

A preset names a server's base URL, the environment variable that holds its key and its wire profile. It is chosen
by ``provider=``, else by the model name as AutoGen does (``gemini-*`` and ``claude-*`` go to Google's and
Anthropic's compatibility endpoints), else OpenAI itself when no ``base_url`` is given, else a generic compatible
server. ``OPENAI_BASE_URL`` is honoured as the OpenAI SDK does (and ``OPENAI_API_BASE``, DB-GPT's name for it), with
``OPENAI_API_KEY`` (both come from the environment, so the key belongs to that server). A key from the environment is
only sent to the server whose variable it is: ``OPENAI_API_KEY`` never goes to a ``base_url`` given in code, nor
``GROQ_API_KEY`` to one given beside ``provider="groq"`` (a preset's variable goes only to the preset's own server), and
a 401 from there says how to send it (``api_key_env="GROQ_API_KEY"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._redact import RedactedHeaders, Secret, check_headers
from ..._retry import RetryPolicy
from ...errors import InvalidRequestError, ResponseValidationError
from ...model_info import ModelInfo, ModelListing
from ...tokens import TokenCounter
from .._autogen_args import autogen_model_info, check_default_query, check_include_name, openai_identity_headers
from .._kit import (
    Connection,
    KeyChoice,
    OpenAIClientConfig,
    ProviderClient,
    check_url,
    choose_key,
    config_arguments,
    resolve_model_info,
    same_origin,
    url_shown,
)
from ..ollama._host import DEFAULT_HOST, environment_host
from .dialect import OpenAIDialect, WireProfile

__all__ = [
    "ANTHROPIC_OPENAI_BASE_URL",
    "GEMINI_OPENAI_BASE_URL",
    "PRESETS",
    "OpenAIChatCompletionClient",
    "Preset",
    "RedactedHeaders",
    "Secret",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai"
ANTHROPIC_OPENAI_BASE_URL = "https://api.anthropic.com/v1"


@dataclass(frozen=True)
class Preset:
    base_url: str
    key_env: str | None
    profile: WireProfile
    server_from_environment: Callable[[], str | None] | None = None
    """Where the server's own tools say it is (Ollama's ``OLLAMA_HOST``), read when the client is made, as the base
    URL before ``base_url``; ``None``: the preset's server is fixed."""

    def url(self) -> str:
        """The preset's base URL: the one its environment names, else its default."""
        found = self.server_from_environment() if self.server_from_environment is not None else None
        return found or self.base_url


def _ollama_v1() -> str | None:
    """The OpenAI-compatible endpoint of the server ``OLLAMA_HOST`` names (its host + ``/v1``), if it is set."""
    host = environment_host()
    return f"{host}/v1" if host else None


PRESETS: dict[str, Preset] = {
    "openai": Preset(OPENAI_BASE_URL, "OPENAI_API_KEY", WireProfile("openai", max_tool_description=1024)),
    "gemini": Preset(GEMINI_OPENAI_BASE_URL, "GEMINI_API_KEY", WireProfile("gemini", send_names=False)),
    "anthropic": Preset(ANTHROPIC_OPENAI_BASE_URL, "ANTHROPIC_API_KEY", WireProfile("anthropic", send_names=False)),
    "ollama": Preset(f"{DEFAULT_HOST}/v1", None, WireProfile("ollama"), _ollama_v1),
    "vllm": Preset("http://localhost:8000/v1", "VLLM_API_KEY", WireProfile("vllm")),
    "llamacpp": Preset("http://localhost:8080/v1", None, WireProfile("llamacpp")),
    "lmstudio": Preset("http://localhost:1234/v1", None, WireProfile("lmstudio")),
    "deepseek": Preset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", WireProfile("deepseek")),
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY", WireProfile("groq")),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", WireProfile("openrouter")),
    "mistral": Preset("https://api.mistral.ai/v1", "MISTRAL_API_KEY", WireProfile("mistral", send_names=False)),
    "bedrock-openai": Preset(
        "https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1", "AWS_BEARER_TOKEN_BEDROCK", WireProfile("bedrock")
    ),
}
"""``bedrock-openai`` is Amazon Bedrock's OpenAI-compatible Chat Completions (the models served there, such as
``openai.gpt-oss-120b-1:0``) with a Bedrock API key; in another region, pass its ``base_url``
(``https://bedrock-runtime.{region}.amazonaws.com/openai/v1``) and ``api_key_env="AWS_BEARER_TOKEN_BEDROCK"``."""
COMPATIBLE_PROFILE = WireProfile("openai-compatible")


def choose_preset(
    model: str, base_url: str | None, provider: str | None, presets: Mapping[str, Preset] = PRESETS
) -> tuple[str, Preset | None]:
    """The preset of a client: ``provider``, else by the model's name, else OpenAI's or none (another server).
    ``presets``: the ones a client takes (a dialect that fewer servers speak takes fewer)."""
    if provider is not None:
        if provider not in presets:
            raise InvalidRequestError(f"provider {provider!r} is unknown; known: {', '.join(sorted(presets))}")
        return provider, presets[provider]
    if base_url is None:
        lowered = model.lower()
        if lowered.startswith("gemini-") and "gemini" in presets:
            return "gemini", presets["gemini"]
        if lowered.startswith("claude-") and "anthropic" in presets:
            return "anthropic", presets["anthropic"]
        return "openai", presets["openai"]
    if URL(base_url).host == "api.openai.com":
        return "openai", PRESETS["openai"]
    return "openai-compatible", None


def resolve_server(
    model: str, base_url: str | None, provider: str | None, presets: Mapping[str, Preset] = PRESETS
) -> tuple[str, Preset | None, str, bool]:
    """(the preset's name, the preset, the base URL, whether that URL came from the environment:
    ``OPENAI_BASE_URL``, or ``OPENAI_API_BASE`` as DB-GPT and older OpenAI SDKs name it).

    A URL that already ends in ``/chat/completions`` (DB-GPT's full URL of a proxy model) is taken as the endpoint
    itself: the base is what comes before it, so the path is not doubled."""
    env_name, env_base_url = _environment_base_url() if base_url is None and provider is None else ("", None)
    given = base_url or env_base_url
    if given:
        check_url(given, "base_url" if base_url else env_name)
    preset_name, preset = choose_preset(model, base_url or env_base_url, provider, presets)
    url = (base_url or env_base_url or (preset.url() if preset else "")).rstrip("/")
    url = _without_endpoint_path(url)
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError(f"base_url must start with http:// or https://, got {url_shown(url)}")
    return preset_name, preset, url, bool(env_base_url)


def _without_endpoint_path(url: str) -> str:
    """``url`` without a ``/chat/completions`` that ends its path (before any ``?query``, which is kept)."""
    path, mark, query = url.partition("?")
    return path.rstrip("/").removesuffix("/chat/completions") + mark + query


def _environment_base_url() -> tuple[str, str | None]:
    """The environment's base URL for OpenAI's API and the variable that gave it (``OPENAI_BASE_URL`` first)."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        value = os.environ.get(name)
        if value:
            return name, value
    return "OPENAI_BASE_URL", None


def own_key_env(preset: Preset | None, url: str, *, from_environment: bool) -> str | None:
    """The environment variable whose key belongs to the server at ``url``: ``OPENAI_API_KEY`` for
    ``OPENAI_BASE_URL`` (both from the environment), else the preset's own variable when ``url`` is the preset's own
    server; ``None`` for any other server, whatever names the preset."""
    if from_environment:
        return "OPENAI_API_KEY"
    if preset is not None and preset.key_env and same_origin(url, preset.base_url):
        return preset.key_env
    return None


class OpenAIChatCompletionClient(ProviderClient):
    """A client for OpenAI and OpenAI-compatible servers.

    Args:
        model: the model name sent to the server.
        api_key: the key; defaults to the preset's environment variable (``OPENAI_API_KEY`` for OpenAI), which is
            sent only to the preset's own server (with another ``base_url``, pass ``api_key_env`` to send it there).
        base_url: the server, for example ``http://localhost:11434/v1`` for Ollama; defaults to ``OPENAI_BASE_URL``
            or ``OPENAI_API_BASE`` (whose key is then ``OPENAI_API_KEY``), else the preset's. A URL ending in
            ``/chat/completions`` is taken as the endpoint itself.
        provider: a preset name (``openai``, ``gemini``, ``anthropic``, ``ollama``, ``vllm``, ``llamacpp``,
            ``lmstudio``, ``deepseek``, ``groq``, ``openrouter``, ``mistral``, ``bedrock-openai``) that sets base URL,
            key variable and wire quirks.
        timeout: the longest wait, in seconds, for the next piece of the answer (the response head, then each next
            stream event); defaults to ``MODEL_TIMEOUT`` or 180.
        deadline: optional bound, in seconds, on the whole call, retries included.
        max_retries: retries after the first attempt (default 3).
        model_info: capabilities, for models modelport does not know.
        http_session: an aiohttp session of your own (custom TLS, ...); you close it.
        proxy: an HTTP(S) proxy URL (``""`` for none); by default ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``.
        max_connections: open connections at most (streams beyond it wait for one); by default half the process's
            open-file limit, between 100 and 10,000. ``max_connections_per_host``: the same per host (no limit).
        max_response_bytes: the largest response body read, in bytes (64 MiB by default); one stream event or line
            may hold the smaller of it and 16 MiB. Past either, :class:`~modelport.ResponseTooLargeError`.
        api_key_env: the environment variable that holds the key (saved in configs instead of the key).
        organization, project: sent as the ``OpenAI-Organization`` and ``OpenAI-Project`` headers; for OpenAI's own
            server (or ``OPENAI_BASE_URL``'s) they default to ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``, as the
            OpenAI SDK reads them.
        default_query: query parameters added to every request's URL (one whose name says it holds a credential,
            such as ``subscription-key``, is kept out of configs unless secrets are included).
        include_name_in_message: ``False`` sends no ``name`` field on messages (a message's ``source`` is sent as
            its name where the server takes one).
        **create_args: defaults for every request (``temperature``, ``max_tokens``, ``extra_body``, ...). AutoGen's
            ``model_capabilities`` is taken as ``model_info`` (with AutoGen's ``DeprecationWarning``) and its
            ``max_consecutive_empty_chunk_tolerance`` is accepted and not needed (empty stream chunks are always
            skipped); ``http_client`` is refused: pass ``http_session`` (an aiohttp session) or the connection
            arguments above.
    """

    component_type = "model"
    component_provider = "openai"
    component_version = 2
    component_config_schema = OpenAIClientConfig

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
        add_name_prefixes: bool = False,
        default_headers: Mapping[str, str] | None = None,
        provider: str | None = None,
        connect_timeout: float = 10.0,
        deadline: float | None = None,
        retry_policy: RetryPolicy | None = None,
        http_session: aiohttp.ClientSession | None = None,
        verify_ssl: bool = True,
        proxy: str | None = None,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        max_response_bytes: int | None = None,
        token_counter: TokenCounter | None = None,
        prices: Mapping[str, Any] | None = None,
        api_key_env: str | None = None,
        project: str | None = None,
        default_query: Mapping[str, Any] | None = None,
        include_name_in_message: bool = True,
        **create_args: Any,
    ) -> None:
        if not model:
            raise InvalidRequestError("model is required")
        model_info = autogen_model_info(create_args, model_info)
        query = check_default_query(default_query)
        include_name_in_message = check_include_name(include_name_in_message)
        self.provider_name, preset, url, from_environment = resolve_server(model, base_url, provider)
        connection = Connection(
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            max_retries=max_retries,
            retry_policy=retry_policy,
            http_session=http_session,
            verify_ssl=verify_ssl,
            proxy=proxy,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
        )
        key = _openai_key(api_key, api_key_env, preset, url, base_url, connection, from_environment=from_environment)
        auth = {"authorization": f"Bearer {key.key.get()}"} if key.key is not None else {}
        openai_server = own_key_env(preset, url, from_environment=from_environment) == "OPENAI_API_KEY"
        identity = openai_identity_headers(organization, project, from_environment=openai_server)
        auth.update(check_headers(identity, "organization and project"))
        dialect = OpenAIDialect(preset.profile if preset else COMPATIBLE_PROFILE, add_name_prefixes)
        super().__init__(
            model=model,
            model_info=model_info,
            info=resolve_model_info(model, model_info),
            dialect=dialect if include_name_in_message else dialect.without_names(),
            base_url=url,
            connection=connection,
            key=key,
            auth_headers=auth,
            settings={
                "model": model,
                "base_url": base_url,
                "provider": provider,
                "organization": organization,
                "project": project,
                "add_name_prefixes": add_name_prefixes,
                "include_name_in_message": None if include_name_in_message else False,
            },
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
            default_query=query,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    async def list_models(self) -> list[ModelListing]:
        """The server's ``GET /models``: ids and, where the server reports them (vLLM's ``max_model_len``,
        OpenRouter's and LM Studio's ``context_length``, Groq's ``context_window``, LiteLLM's ``max_input_tokens``,
        llama.cpp's ``meta.n_ctx``), context windows. A window reported for this client's model is used by
        :meth:`remaining_tokens` when modelport does not know the model."""
        body = await self._request_json(URL(self._base_url + "/models"), None)
        entries = body.get("data") if isinstance(body, dict) else body
        if not isinstance(entries, list):
            raise ResponseValidationError(
                f"{self.provider_name} answered GET /models without a list of models",
                provider=self.provider_name,
                body=body,
            )
        listings = [ModelListing.from_entry(entry) for entry in entries if isinstance(entry, dict)]
        for listing in listings:
            if listing.context_window:
                self._server_windows[listing.id] = listing.context_window
        return listings

    def __repr__(self) -> str:
        return f"OpenAIChatCompletionClient(model={self._model!r}, base_url={self._base_url!r})"

    # -- components --

    @classmethod
    def _from_config(cls, config: OpenAIClientConfig) -> OpenAIChatCompletionClient:
        return cls(
            model=config.model,
            base_url=config.base_url,
            provider=config.provider,
            organization=config.organization,
            project=config.project,
            default_query=config.default_query,
            include_name_in_message=config.include_name_in_message,
            **config_arguments(config, cls.component_provider),
        )


def _openai_key(
    api_key: str | None,
    api_key_env: str | None,
    preset: Preset | None,
    url: str,
    base_url: str | None,
    connection: Connection,
    *,
    from_environment: bool,
) -> KeyChoice:
    """The key for the server at ``url`` (see :func:`choose_key`); with none at all for OpenAI itself, an error
    before any call."""
    own_env = own_key_env(preset, url, from_environment=from_environment)
    standard_env = preset.key_env if preset and preset.key_env else "OPENAI_API_KEY" if base_url else None
    key = choose_key(api_key, api_key_env, own_env=own_env, standard_env=standard_env, exposed=connection.exposes(url))
    if key.key is None and api_key is None and own_env is not None and preset is PRESETS["openai"]:
        raise InvalidRequestError(
            "api_key was not given and OPENAI_API_KEY is not set (for a local server, pass base_url=...)"
        )
    return key
