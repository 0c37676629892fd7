"""``GeminiChatCompletionClient``: Gemini through Google's native ``generateContent`` API.

The wire dialect is :mod:`modelport.providers.gemini.dialect`; this module names the URL, the authentication and
the defaults. The key comes from ``api_key``, ``api_key_env``, ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` (the first
when both are set, with a warning, as Google's own SDK does) and is sent as the ``x-goog-api-key`` header, never
in the query string. As with the other providers, a key from the environment only goes to the server it belongs
to, Google's own; a ``base_url`` given in code (another scheme, host or port) gets it only with ``api_key_env=``.

A ``base_url`` may be given with or without its version (``https://generativelanguage.googleapis.com`` and
``.../v1beta`` are the same server), so the fake server's ``base_url`` works as it is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._redact import Secret, check_headers, check_proxy, header_secrets, proxy_secrets
from ..._retry import RetryPolicy
from ..._wire_client import WireClient, encode_body
from ...components import Component, ComponentConfigError
from ...errors import APIError, AuthenticationError, InvalidRequestError, ResponseValidationError
from ...model_info import ModelInfo, ModelListing
from ...tokens import TokenCount, TokenCounter
from ...tools import Tool, ToolSchema
from .._kit import (
    COMMON_FIELDS,
    _ClientConfig,
    base_headers,
    check_not_masked,
    check_url,
    choose_key,
    config_create_args,
    make_transport,
    policy_from,
    proxy_can_read,
    refuse_live_objects,
    resolve_model_info,
    same_origin,
    saved_settings,
    shared_settings,
)
from .dialect import GeminiDialect, count_tokens_body, model_path

__all__ = ["GEMINI_BASE_URL", "GeminiChatCompletionClient", "GeminiClientConfig"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
_MODEL_PAGES = 50
_EMPTY: Mapping[str, Any] = {}


class GeminiClientConfig(_ClientConfig):
    """The saved config of a :class:`GeminiChatCompletionClient`. Fields not listed are create arguments
    (``temperature``, ``thinking``, ``safety_settings``, ``max_tokens``...)."""

    model: str
    base_url: str | None = None


def _root(base_url: str) -> str:
    """The server's root: a trailing ``/``, ``/v1beta`` or ``/v1`` is dropped (the dialect adds the version)."""
    root = base_url.rstrip("/")
    for version in ("/v1beta", "/v1"):
        if root.endswith(version):
            return root[: -len(version)]
    return root


def _key_env() -> str:
    """The variable the key is read from: ``GOOGLE_API_KEY`` when set (with a warning if ``GEMINI_API_KEY`` is set
    too, as Google's SDK warns), else ``GEMINI_API_KEY``."""
    if os.environ.get(KEY_ENVS[0]):
        if os.environ.get(KEY_ENVS[1]):
            warnings.warn(
                "both GOOGLE_API_KEY and GEMINI_API_KEY are set; GOOGLE_API_KEY is used", UserWarning, stacklevel=4
            )
        return KEY_ENVS[0]
    return KEY_ENVS[1]


class GeminiChatCompletionClient(WireClient, Component):
    """A client for Gemini through Google's native ``generateContent`` API.

    Args:
        model: the model name, for example ``gemini-2.5-flash``.
        api_key: the key; defaults to ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (for Google's server only).
        base_url: the server, with or without ``/v1beta``; defaults to Google's.
        thinking: ``{"thinking_budget": N}`` or ``{"thinking_level": "low"}``, with ``"include_thoughts": True``
            for thought summaries.
        safety_settings: Gemini's ``safetySettings``, a list of ``{"category": ..., "threshold": ...}``.
        timeout: the longest wait, in seconds, for the next piece of the answer; defaults to ``MODEL_TIMEOUT`` or 180.
        max_retries: retries after the first attempt (default 3); 429 (waiting ``RetryInfo.retryDelay``) and 5xx.
        model_info: capabilities, for models modelport does not know.
        default_headers: more headers; credential headers are kept out of configs.
        api_key_env: the environment variable that holds the key (saved in configs instead of the key).
        **create_args: defaults for every request (``temperature``, ``top_k``, ``max_tokens``, ``stop``,
            ``cached_content``, ``generation_config``, ``extra_body``, ...).

    The other arguments are those of :class:`~modelport.AnthropicChatCompletionClient`.
    """

    component_type = "model"
    component_provider = "gemini"
    component_version = 2
    component_config_schema = GeminiClientConfig
    provider_name = "gemini"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        thinking: Mapping[str, Any] | None = None,
        safety_settings: Sequence[Mapping[str, Any]] | None = None,
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
        self._base_url = _root(base_url or GEMINI_BASE_URL)
        if not self._base_url.startswith(("http://", "https://")):
            raise InvalidRequestError(f"base_url must start with http:// or https://, got {base_url!r}")
        check_url(self._base_url, "base_url")
        self._api_key, self._key_env, self._withheld_key_env = _resolve_key(
            api_key, api_key_env, base_url, exposed=proxy_can_read(proxy, self._base_url, verify_ssl=verify_ssl)
        )
        checked_headers = check_headers(default_headers)
        for name, value in (("thinking", thinking), ("safety_settings", safety_settings)):
            if value is not None:
                create_args[name] = value
        connection: dict[str, Any] = dict(
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            verify_ssl=verify_ssl,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_response_bytes=max_response_bytes,
        )
        transport = make_transport(
            self.provider_name,
            max_retries=max_retries,
            retry_policy=retry_policy,
            http_session=http_session,
            proxy=check_proxy(proxy),
            **connection,
        )
        self._gemini = GeminiDialect()
        super().__init__(
            model=model,
            model_info=resolve_model_info(model, model_info),
            transport=transport,
            dialect=self._gemini,
            base=URL(self._base_url),
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
        )
        settings = shared_settings(
            model_info=model_info,
            add_name_prefixes=False,
            default_headers=checked_headers,
            proxy=proxy,
            retry_policy=self._transport.retry,
            prices=self._prices,
            **connection,
        )
        settings.pop("add_name_prefixes")
        self._settings = {"model": model, "base_url": base_url, **settings, **create_args}
        self._live = {"http_session": http_session is not None, "token_counter": token_counter is not None}
        self._set_headers(checked_headers, proxy)

    def _set_headers(self, extra: Mapping[str, str], proxy: str | None) -> None:
        """The headers of every request (the key in ``x-goog-api-key``), and the secrets to scrub from errors."""
        headers = base_headers()
        if self._api_key is not None:
            headers["x-goog-api-key"] = self._api_key.get()
        headers.update(extra)
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
        return f"GeminiChatCompletionClient(model={self._model!r}, base_url={self._base_url!r})"

    # -- tokens and models --

    async def count_tokens_remote(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
    ) -> TokenCount:
        """The exact prompt tokens of this request, from Gemini's ``:countTokens``. Takes what ``create`` takes;
        the request is built the same way (tools and system instruction included) and checked before sending."""
        fingerprint = self.request_fingerprint(
            messages, tools=tools, tool_choice=tool_choice, json_output=json_output, extra_create_args=extra_create_args
        )
        body = encode_body(count_tokens_body(fingerprint["request"], model_path(self._model)))
        url = self._gemini.method_url(URL(self._base_url), self._model, "countTokens")
        answer = await self._request_json(url, body)
        tokens = answer.get("totalTokens") if isinstance(answer, dict) else None
        if type(tokens) is not int:
            raise ResponseValidationError(
                f"{self.provider_name} answered countTokens without totalTokens",
                provider=self.provider_name,
                body=answer,
            )
        return TokenCount(tokens)

    async def list_models(self) -> list[ModelListing]:
        """Gemini's ``GET /v1beta/models`` (every page): ids (without ``models/``) and context windows
        (``inputTokenLimit``). A window reported for this client's model is used by :meth:`remaining_tokens`."""
        listings: list[ModelListing] = []
        token: str | None = None
        for _ in range(_MODEL_PAGES):
            query: dict[str, str | int] = {"pageSize": 1000, **({"pageToken": token} if token else {})}
            page = await self._request_json(
                URL(f"{self._base_url}/{self._gemini.prefix}/models").with_query(query), None
            )
            entries = page.get("models") if isinstance(page, dict) else None
            if not isinstance(entries, list):
                raise ResponseValidationError(
                    f"{self.provider_name} answered GET /models without a list of models",
                    provider=self.provider_name,
                    body=page,
                )
            listings += [_listing(entry) for entry in entries if isinstance(entry, dict)]
            token = page.get("nextPageToken")
            if not isinstance(token, str) or not token:
                break
        for listing in listings:
            if listing.context_window:
                self._server_windows[listing.id] = listing.context_window
        return listings

    # -- components --

    def _to_config(self, *, include_secrets: bool) -> GeminiClientConfig:
        refuse_live_objects(self._live, type(self).__name__)
        settings = saved_settings(self._settings, include_secrets=include_secrets)
        if include_secrets and self._api_key is not None:
            settings["api_key"] = self._api_key.get()
        elif self._key_env is not None:
            settings["api_key_env"] = self._key_env
        return GeminiClientConfig.model_validate({k: v for k, v in settings.items() if v is not None})

    @classmethod
    def _from_config(cls, config: GeminiClientConfig) -> GeminiChatCompletionClient:
        create_args = config_create_args(config, cls.component_provider)
        if config.add_name_prefixes:
            raise ComponentConfigError("gemini: add_name_prefixes has no equivalent (names are never sent)")
        kwargs = {name: getattr(config, name) for name in COMMON_FIELDS if name != "add_name_prefixes"}
        return cls(
            config.model,
            api_key=check_not_masked(config.api_key, "api_key"),
            api_key_env=config.api_key_env,
            base_url=config.base_url,
            retry_policy=policy_from(config),
            **kwargs,
            **create_args,
        )


def _listing(entry: dict[str, Any]) -> ModelListing:
    name = entry.get("name")
    name = name.removeprefix("models/") if isinstance(name, str) else ""
    window = entry.get("inputTokenLimit")
    return ModelListing(id=name, context_window=window if type(window) is int and window > 0 else None, raw=entry)


def _resolve_key(
    api_key: str | None, api_key_env: str | None, base_url: str | None, *, exposed: bool
) -> tuple[Secret | None, str | None, str | None]:
    """(the key, the variable it came from, a variable withheld from a ``base_url`` given in code)."""
    own = base_url is None or same_origin(_root(base_url), GEMINI_BASE_URL)
    env = _key_env() if api_key is None and api_key_env is None else KEY_ENVS[0]
    choice = choose_key(api_key, api_key_env, own_env=env if own else None, standard_env=env, exposed=exposed)
    if choice.key is None and api_key is None and own:
        raise InvalidRequestError(
            "api_key was not given and neither GOOGLE_API_KEY nor GEMINI_API_KEY is set (for another server, pass "
            "base_url=...)"
        )
    return choice.key, choice.env, choice.withheld
