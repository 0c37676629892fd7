"""``AnthropicChatCompletionClient``: Claude through Anthropic's native Messages API (``POST /v1/messages``).

The wire dialect is :mod:`modelport.providers.anthropic.dialect`; this module names the URL, the authentication and
the defaults, as :mod:`modelport.providers.openai.client` does for OpenAI. The key comes from ``api_key``,
``api_key_env`` or ``ANTHROPIC_API_KEY`` and is sent as ``x-api-key`` with ``anthropic-version: 2023-06-01``. As
with OpenAI's key, one from the environment only goes to the server it belongs to: Anthropic's own, or
``ANTHROPIC_BASE_URL`` (also from the environment); a ``base_url`` given in code (another scheme, host or port) gets
it only with ``api_key_env="ANTHROPIC_API_KEY"``.

A ``base_url`` may be given with or without its ``/v1`` (``https://api.anthropic.com`` and
``https://api.anthropic.com/v1`` are the same server), so the fake server's ``base_url`` works as it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._convert import as_messages, as_tools
from ..._retry import RetryPolicy
from ..._wire_client import encode_body
from ...components import ComponentConfigError
from ...errors import InvalidRequestError, ResponseValidationError
from ...model_info import ModelInfo, ModelListing, anthropic_model_info
from ...tokens import TokenCount, TokenCounter, count_message_tokens
from ...tools import Tool, ToolSchema
from .._kit import (
    Connection,
    KeyChoice,
    ProviderClient,
    _ClientConfig,
    check_url,
    choose_key,
    config_arguments,
    migrate_client_config,
    resolve_model_info,
    same_origin,
    url_shown,
)
from .dialect import ANTHROPIC_VERSION, AnthropicDialect, count_tokens_body

__all__ = ["ANTHROPIC_BASE_URL", "AnthropicChatCompletionClient", "AnthropicClientConfig"]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"
CLAUDE_TOKEN_FACTOR = 1.2
"""Offline counts are ``cl100k_base`` counts times this: Claude's tokenizers (not published) spend more tokens on
the same text, and a budget should err on the safe side."""
_MODEL_PAGES = 50
_EMPTY: Mapping[str, Any] = {}


class AnthropicClientConfig(_ClientConfig):
    """The saved config of an :class:`AnthropicChatCompletionClient`. Fields not listed are create arguments
    (``max_tokens``, ``thinking``, ``temperature``, ``prompt_caching``...)."""

    model: str
    base_url: str | None = None


def _root(base_url: str) -> str:
    """The server's root: a trailing ``/`` and ``/v1`` are dropped (``/v1/messages`` is added to it)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class AnthropicChatCompletionClient(ProviderClient):
    """A client for Claude through Anthropic's Messages API.

    Args:
        model: the model name, for example ``claude-sonnet-4-5``.
        api_key: the key; defaults to ``ANTHROPIC_API_KEY`` (for Anthropic's server, or ``ANTHROPIC_BASE_URL``).
        base_url: the server, with or without ``/v1``; defaults to ``ANTHROPIC_BASE_URL``, else Anthropic's.
        max_tokens: the longest answer; defaults to the model's most (``model_info["max_output_tokens"]``), else 4096.
        thinking: extended thinking, ``{"type": "enabled", "budget_tokens": N}`` or ``{"type": "adaptive"}``.
        timeout: the longest wait, in seconds, for the next piece of the answer; defaults to ``MODEL_TIMEOUT`` or 180.
        deadline: optional bound, in seconds, on the whole call, retries included.
        max_retries: retries after the first attempt (default 3); 429, 5xx and 529 (overloaded) are retried.
        model_info: capabilities, for models modelport does not know.
        default_headers: more headers (``anthropic-beta``, ...); credential headers are kept out of configs.
        max_connections: open connections at most (streams beyond it wait for one); ``max_connections_per_host``:
            the same per host. Defaults as for :class:`~modelport.OpenAIChatCompletionClient`.
        max_response_bytes: the largest response body read, in bytes (64 MiB by default); one stream event may hold
            the smaller of it and 16 MiB.
        api_key_env: the environment variable that holds the key (saved in configs instead of the key).
        **create_args: defaults for every request (``temperature``, ``top_k``, ``stop_sequences``,
            ``prompt_caching=True``, ``parallel_tool_calls``, ``extra_body``, ...).
    """

    component_type = "model"
    component_provider = "anthropic"
    component_version = 2
    component_config_schema = AnthropicClientConfig
    provider_name = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int | None = None,
        thinking: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
        default_headers: Mapping[str, str] | None = None,
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
        url = _root(base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL)
        if not url.startswith(("http://", "https://")):
            raise InvalidRequestError(f"base_url must start with http:// or https://, got {url_shown(url)}")
        check_url(url, "base_url" if base_url else "ANTHROPIC_BASE_URL")
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
        key = _anthropic_key(api_key, api_key_env, base_url, exposed=connection.exposes(url))
        auth = {"anthropic-version": ANTHROPIC_VERSION}
        if key.key is not None:
            auth["x-api-key"] = key.key.get()
        for name, value in (("max_tokens", max_tokens), ("thinking", thinking)):
            if value is not None:
                create_args[name] = value
        super().__init__(
            model=model,
            model_info=model_info,
            info=anthropic_model_info(model) if model_info is None else resolve_model_info(model, model_info),
            dialect=AnthropicDialect(),
            base_url=url,
            connection=connection,
            key=key,
            auth_headers=auth,
            settings={"model": model, "base_url": base_url},
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"AnthropicChatCompletionClient(model={self._model!r}, base_url={self._base_url!r})"

    # -- tokens --

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """Prompt tokens of ``messages`` and ``tools``, offline: the client's ``token_counter`` if one was given,
        else an estimate marked ``estimated=True`` (Claude's tokenizer is not published: ``cl100k_base`` counts
        times :data:`CLAUDE_TOKEN_FACTOR`). :meth:`count_tokens_remote` asks Anthropic for the exact figure."""
        if self._token_counter is not None:
            return super().count_tokens(messages, tools=tools)
        count = count_message_tokens(as_messages(messages), self._model_info, tools=as_tools(tools))
        return TokenCount(math.ceil(int(count) * CLAUDE_TOKEN_FACTOR), estimated=True)

    async def count_tokens_remote(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
    ) -> TokenCount:
        """The exact prompt tokens of this request, from Anthropic's ``POST /v1/messages/count_tokens`` (free, but
        rate limited). Takes what ``create`` takes; the request is built the same way and checked before sending."""
        fingerprint = self.request_fingerprint(
            messages, tools=tools, tool_choice=tool_choice, json_output=json_output, extra_create_args=extra_create_args
        )
        body = encode_body(count_tokens_body(fingerprint["request"]))
        answer = await self._request_json(URL(self._base_url + "/v1/messages/count_tokens"), body)
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if type(tokens) is not int:
            raise ResponseValidationError(
                f"{self.provider_name} answered count_tokens without input_tokens",
                provider=self.provider_name,
                body=answer,
            )
        return TokenCount(tokens)

    async def list_models(self) -> list[ModelListing]:
        """Anthropic's ``GET /v1/models`` (every page): ids and context windows (``max_input_tokens``). A window
        reported for this client's model is used by :meth:`remaining_tokens`."""
        listings: list[ModelListing] = []
        after: str | None = None
        for _ in range(_MODEL_PAGES):
            url = URL(self._base_url + "/v1/models").with_query(
                {"limit": 1000, **({"after_id": after} if after else {})}
            )
            page = await self._request_json(url, None)
            entries = page.get("data") if isinstance(page, dict) else None
            if not isinstance(entries, list):
                raise ResponseValidationError(
                    f"{self.provider_name} answered GET /v1/models without a list of models",
                    provider=self.provider_name,
                    body=page,
                )
            listings += [ModelListing.from_entry(entry) for entry in entries if isinstance(entry, dict)]
            after = page.get("last_id")
            if not page.get("has_more") or not isinstance(after, str):
                break
        for listing in listings:
            if listing.context_window:
                self._server_windows[listing.id] = listing.context_window
        return listings

    # -- components --

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Version 1 is AutoGen's ``AnthropicChatCompletionClient`` config."""
        config = migrate_client_config(config, from_version, cls.component_provider)
        config.pop("include_name_in_message", None)  # Anthropic's messages have no name field: never sent either way
        config = {key: value for key, value in config.items() if value is not None}
        if config.get("tools") or config.get("tool_choice") not in (None, "auto"):
            raise ComponentConfigError(
                f"{cls.component_provider}: tools and tool_choice in a client config have no equivalent; pass them "
                "to create()"
            )
        config.pop("tools", None)
        config.pop("tool_choice", None)
        response_format = config.pop("response_format", None)
        if isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
            config["response_format"] = {"type": "json_object"}
        return config

    @classmethod
    def _from_config(cls, config: AnthropicClientConfig) -> AnthropicChatCompletionClient:
        if config.add_name_prefixes:
            raise ComponentConfigError("anthropic: add_name_prefixes has no equivalent (names are never sent)")
        arguments = config_arguments(config, cls.component_provider, skip=("add_name_prefixes",))
        return cls(config.model, base_url=config.base_url, **arguments)


def _anthropic_key(api_key: str | None, api_key_env: str | None, base_url: str | None, *, exposed: bool) -> KeyChoice:
    """The key (see :func:`choose_key`): ``ANTHROPIC_API_KEY`` goes to Anthropic's own server or to
    ``ANTHROPIC_BASE_URL``, and to a ``base_url`` given in code only when named."""
    own = base_url is None or same_origin(_root(base_url), ANTHROPIC_BASE_URL)
    choice = choose_key(api_key, api_key_env, own_env=KEY_ENV if own else None, standard_env=KEY_ENV, exposed=exposed)
    if choice.key is None and api_key is None and own and not os.environ.get("ANTHROPIC_BASE_URL"):
        raise InvalidRequestError(
            f"api_key was not given and {KEY_ENV} is not set (for another server, pass base_url=...)"
        )
    return choice
