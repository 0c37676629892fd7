"""``OpenAIResponsesClient``: OpenAI's Responses API (``POST /v1/responses``), and the servers that speak it (vLLM,
Ollama, LM Studio, llama.cpp, Groq, OpenRouter).

The wire dialect is :mod:`modelport.providers.openai_responses.dialect`; this module names the server and the
credentials, by the chat client's rules (:mod:`modelport.providers.openai.client`): a preset (``provider=``, else
OpenAI's own server unless a ``base_url`` is given), ``OPENAI_BASE_URL`` honoured with ``OPENAI_API_KEY``, and a key
from the environment sent only to the server whose variable it is. Nothing is stored at OpenAI unless
``store=True`` is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._redact import check_headers, check_proxy, header_secrets, proxy_secrets
from ..._retry import RetryPolicy
from ..._wire_client import WireClient
from ...components import Component
from ...errors import APIError, AuthenticationError, InvalidRequestError
from ...model_info import ModelInfo
from ...tokens import TokenCounter
from .._kit import (
    COMMON_FIELDS,
    _ClientConfig,
    base_headers,
    check_not_masked,
    choose_key,
    config_create_args,
    make_transport,
    migrate_client_config,
    policy_from,
    proxy_can_read,
    refuse_live_objects,
    resolve_model_info,
    saved_settings,
    shared_settings,
)
from ..openai.client import PRESETS, own_key_env, resolve_server
from .dialect import ResponsesDialect

__all__ = ["RESPONSES_PRESETS", "OpenAIResponsesClient", "ResponsesClientConfig"]

RESPONSES_PRESETS = {
    name: PRESETS[name] for name in ("openai", "ollama", "vllm", "llamacpp", "lmstudio", "groq", "openrouter")
}
"""The chat client's presets whose servers also serve ``/v1/responses``."""


class ResponsesClientConfig(_ClientConfig):
    """The saved config of an :class:`OpenAIResponsesClient`. Fields not listed are create arguments (``store``,
    ``reasoning``, ``max_output_tokens``, ``temperature``...)."""

    model: str
    base_url: str | None = None
    provider: str | None = Field(default=None, description="A preset: openai, ollama, vllm, llamacpp, ...")
    organization: str | None = None


class OpenAIResponsesClient(WireClient, Component):
    """A client for OpenAI's Responses API and the servers that speak it.

    Args:
        model: the model name, for example ``gpt-5``.
        api_key: the key; defaults to the preset's variable (``OPENAI_API_KEY`` for OpenAI), sent only to the
            preset's own server (with another ``base_url``, pass ``api_key_env`` to send it there).
        base_url: the server, with its ``/v1`` (``http://localhost:8000/v1`` for vLLM); defaults to
            ``OPENAI_BASE_URL``, else the preset's.
        organization: OpenAI's organization header.
        store: whether OpenAI keeps the responses (default False: stateless, reasoning comes back encrypted).
        reasoning: ``{"effort": ..., "summary": ...}`` for reasoning models.
        provider: a preset (``openai``, ``ollama``, ``vllm``, ``llamacpp``, ``lmstudio``, ``groq``,
            ``openrouter``).
        timeout, deadline, max_retries, model_info, default_headers, proxy, max_connections, max_response_bytes,
        api_key_env, prices: as for :class:`~modelport.OpenAIChatCompletionClient`.
        **create_args: defaults for every request (``max_output_tokens``, ``temperature``, ``include``,
            ``prompt_cache_key``, ``extra_body``, ...).
    """

    component_type = "model"
    component_provider = "openai_responses"
    component_version = 1
    component_config_schema = ResponsesClientConfig

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        store: bool = False,
        reasoning: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
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
        **create_args: Any,
    ) -> None:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model is required")
        preset_name, preset, self._base_url, from_environment = resolve_server(
            model, base_url, provider, RESPONSES_PRESETS
        )
        own_env = own_key_env(preset, self._base_url, from_environment=from_environment)
        choice = choose_key(
            api_key,
            api_key_env,
            own_env=own_env,
            standard_env=preset.key_env if preset and preset.key_env else "OPENAI_API_KEY" if base_url else None,
            exposed=proxy_can_read(proxy, self._base_url, verify_ssl=verify_ssl),
        )
        if choice.key is None and api_key is None and preset_name == "openai" and own_env is not None:
            raise InvalidRequestError(
                "api_key was not given and OPENAI_API_KEY is not set (for a local server, pass base_url=...)"
            )
        self._api_key, self._key_env, self._withheld_key_env = choice.key, choice.env, choice.withheld
        checked_headers = check_headers(default_headers)
        if organization is not None:
            check_headers({"openai-organization": organization}, "organization")
        self.provider_name = preset_name
        create_args = {"store": store, **({"reasoning": reasoning} if reasoning is not None else {}), **create_args}
        transport = make_transport(
            preset_name,
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            max_retries=max_retries,
            retry_policy=retry_policy,
            http_session=http_session,
            verify_ssl=verify_ssl,
            proxy=check_proxy(proxy),
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_response_bytes=max_response_bytes,
        )
        super().__init__(
            model=model,
            model_info=resolve_model_info(model, model_info),
            transport=transport,
            dialect=ResponsesDialect(),
            base=URL(self._base_url),
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
        )
        settings = shared_settings(
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            model_info=model_info,
            add_name_prefixes=False,
            default_headers=checked_headers,
            verify_ssl=verify_ssl,
            proxy=proxy,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_response_bytes=max_response_bytes,
            retry_policy=self._transport.retry,
            prices=self._prices,
        )
        settings.pop("add_name_prefixes")
        self._settings = {
            "model": model,
            "base_url": base_url,
            "provider": provider,
            "organization": organization,
            **settings,
            **create_args,
        }
        self._live = {"http_session": http_session is not None, "token_counter": token_counter is not None}
        headers = base_headers()
        if self._api_key is not None:
            headers["authorization"] = f"Bearer {self._api_key.get()}"
        if organization:
            headers["openai-organization"] = organization
        headers.update(checked_headers)
        self._request_headers = headers
        self._secrets = header_secrets(headers, *proxy_secrets(proxy))

    async def _headers(self) -> dict[str, str]:
        return self._request_headers

    def _hint(self, exc: APIError) -> str | None:
        if isinstance(exc, AuthenticationError) and self._withheld_key_env:
            return (
                f"no key was sent: {self._withheld_key_env} is set, but a key from the environment only goes to its "
                f"own server; pass api_key_env={self._withheld_key_env!r} to send it to {self._base_url}"
            )
        return super()._hint(exc)

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"OpenAIResponsesClient(model={self._model!r}, base_url={self._base_url!r})"

    # -- components --

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        return migrate_client_config(config, from_version, cls.component_provider)

    def _to_config(self, *, include_secrets: bool) -> ResponsesClientConfig:
        refuse_live_objects(self._live, type(self).__name__)
        settings = saved_settings(self._settings, include_secrets=include_secrets)
        if include_secrets and self._api_key is not None:
            settings["api_key"] = self._api_key.get()
        elif self._key_env is not None:
            settings["api_key_env"] = self._key_env
        return ResponsesClientConfig.model_validate({k: v for k, v in settings.items() if v is not None})

    @classmethod
    def _from_config(cls, config: ResponsesClientConfig) -> OpenAIResponsesClient:
        create_args = config_create_args(config, cls.component_provider)
        kwargs = {name: getattr(config, name) for name in COMMON_FIELDS if name != "add_name_prefixes"}
        return cls(
            config.model,
            api_key=check_not_masked(config.api_key, "api_key"),
            api_key_env=config.api_key_env,
            base_url=config.base_url,
            provider=config.provider,
            organization=config.organization,
            retry_policy=policy_from(config),
            **kwargs,
            **create_args,
        )
