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

    from ..._assembly import Assembler
    from ..._request import Request
    from ...messages import CreateResult

from ..._redact import RedactedHeaders, SecretValues
from ..._retry import RetryPolicy
from ..._wire_client import encode_body
from ...components import ComponentConfigError
from ...errors import AuthenticationError, InvalidRequestError, ResponseValidationError
from ...model_info import ModelInfo, ModelListing
from ...tokens import TokenCount, TokenCounter
from ...tools import Tool, ToolSchema
from .._kit import (
    Connection,
    KeyChoice,
    ProviderClient,
    _ClientConfig,
    check_url,
    choose_key,
    config_arguments,
    proxy_can_read,
    resolve_model_info,
    same_origin,
)
from ._response import signed_answer
from ._vertex import AccessTokenProvider, RetryingCall, TokenSource, Vertex, uses_vertex
from .dialect import GEMINI_API_PREFIX, GeminiDialect, count_tokens_body, model_path

__all__ = ["GEMINI_BASE_URL", "GeminiChatCompletionClient", "GeminiClientConfig"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
_MODEL_PAGES = 50
_KEPT_TOKENS = 4
"""The latest bearer tokens kept to be scrubbed from errors (an error may quote the one before the fresh one)."""
_EMPTY: Mapping[str, Any] = {}


class GeminiClientConfig(_ClientConfig):
    """The saved config of a :class:`GeminiChatCompletionClient`. Fields not listed are create arguments
    (``temperature``, ``thinking``, ``safety_settings``, ``max_tokens``...)."""

    model: str
    base_url: str | None = None
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None


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


class GeminiChatCompletionClient(ProviderClient):
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

    The connection arguments (``connect_timeout``, ``deadline``, ``retry_policy``, ``http_session``, ``proxy``,
    ``max_connections``...) are those of :class:`~modelport.AnthropicChatCompletionClient`.
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
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        access_token_provider: AccessTokenProvider | None = None,
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
        url, prefix, key, self._tokens = _endpoint(
            base_url, api_key, api_key_env, connection, vertexai, project, location, access_token_provider
        )
        for name, value in (("thinking", thinking), ("safety_settings", safety_settings)):
            if value is not None:
                create_args[name] = value
        self._gemini = GeminiDialect(prefix=prefix)
        super().__init__(
            model=model,
            model_info=model_info,
            info=resolve_model_info(model, model_info),
            dialect=self._gemini,
            base_url=url,
            connection=connection,
            key=key,
            auth_headers={"x-goog-api-key": key.key.get()} if key.key is not None else {},
            settings={
                "model": model,
                "base_url": base_url,
                "vertexai": vertexai,
                "project": project,
                "location": location,
            },
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
            live={"access_token_provider": access_token_provider is not None},
        )
        if self._tokens is not None:
            self._call = RetryingCall(self, self._tokens)
            self._token_secrets = self._secrets
            self._recent_tokens: tuple[str, ...] = ()

    async def _headers(self) -> dict[str, str]:
        """The request headers; on Vertex AI with a token, a fresh bearer token each time (the latest few kept to be
        scrubbed from errors)."""
        if self._tokens is None:
            return self._request_headers
        token = await self._tokens.token()
        if token not in self._recent_tokens:
            self._recent_tokens = (*self._recent_tokens[-(_KEPT_TOKENS - 1) :], token)
            self._secrets = SecretValues((*self._token_secrets, *self._recent_tokens))
        headers = RedactedHeaders(self._request_headers)
        headers["authorization"] = f"Bearer {token}"
        return headers

    async def _request_json(self, url: URL, body: bytes | None) -> Any:
        """A request beside the chat endpoint (the token count, the models list); on Vertex AI with a token, sent
        once more with a fresh token when the server answers 401, as calls are."""
        if self._tokens is None:
            return await super()._request_json(url, body)
        try:
            return await super()._request_json(url, body)
        except AuthenticationError:
            self._tokens.invalidate()
            return await super()._request_json(url, body)

    def _finish(self, asm: Assembler, request: Request) -> CreateResult:
        """The shared finish step; an answer whose text Gemini signed keeps its parts in ``provider_metadata``."""
        result = super()._finish(asm, request)
        result.provider_metadata = signed_answer(asm)
        return result

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
        vertex = self._gemini.prefix != GEMINI_API_PREFIX
        body = encode_body(count_tokens_body(fingerprint["request"], model_path(self._model), vertex=vertex))
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
        """The models, every page: the Gemini API's ``GET /v1beta/models`` (ids without ``models/``, context windows
        from ``inputTokenLimit``), or on Vertex AI Google's publisher models, ``GET /v1beta1/publishers/google/models``
        (ids without ``publishers/google/models/``; Vertex reports no window). A window reported for this client's
        model is used by :meth:`remaining_tokens`."""
        vertex = self._gemini.prefix != GEMINI_API_PREFIX
        path, field = ("v1beta1/publishers/google/models", "publisherModels") if vertex else ("v1beta/models", "models")
        listings: list[ModelListing] = []
        token: str | None = None
        for _ in range(_MODEL_PAGES):
            query: dict[str, str | int] = {"pageSize": 1000, **({"pageToken": token} if token else {})}
            page = await self._request_json(URL(f"{self._base_url}/{path}").with_query(query), None)
            entries = page.get(field, []) if isinstance(page, dict) else None
            if not isinstance(entries, list):
                raise ResponseValidationError(
                    f"{self.provider_name} answered GET /{path} without a list of models",
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

    @classmethod
    def _from_config(cls, config: GeminiClientConfig) -> GeminiChatCompletionClient:
        """A loaded config's Vertex AI token (application default credentials) does not go through a proxy of the
        config's that could read the requests, as keys of the environment do not: a config is data, and must not
        hand your credentials to a proxy its author names."""
        token = uses_vertex(config.vertexai) and config.api_key is None and config.api_key_env is None
        target = config.base_url or "https:"  # Vertex AI's own servers are https
        if token and proxy_can_read(config.proxy, target, verify_ssl=config.verify_ssl):
            raise ComponentConfigError(
                "gemini: a config's Vertex AI token (application default credentials) does not go through a proxy "
                "that could read the requests (plain HTTP, or verify_ssl false), as this one names; make the client "
                "in code to send it there"
            )
        if config.add_name_prefixes:
            raise ComponentConfigError("gemini: add_name_prefixes has no equivalent (names are never sent)")
        arguments = config_arguments(config, cls.component_provider, skip=("add_name_prefixes",))
        return cls(
            config.model,
            base_url=config.base_url,
            vertexai=config.vertexai,
            project=config.project,
            location=config.location,
            **arguments,
        )


def _listing(entry: dict[str, Any]) -> ModelListing:
    name = entry.get("name")
    name = name.removeprefix("publishers/google/").removeprefix("models/") if isinstance(name, str) else ""
    window = entry.get("inputTokenLimit")
    return ModelListing(id=name, context_window=window if type(window) is int and window > 0 else None, raw=entry)


def _endpoint(
    base_url: str | None,
    api_key: str | None,
    api_key_env: str | None,
    connection: Connection,
    vertexai: bool | None,
    project: str | None,
    location: str | None,
    access_token_provider: AccessTokenProvider | None,
) -> tuple[str, str, KeyChoice, TokenSource | None]:
    """(the server, the path before ``models/``, the key, the token source) of the Gemini API or of Vertex AI."""
    if not uses_vertex(vertexai):
        for name, value in (
            ("project", project),
            ("location", location),
            ("access_token_provider", access_token_provider),
        ):
            if value is not None:
                raise InvalidRequestError(f"{name} is for Vertex AI: pass vertexai=True too")
        url = _checked_root(base_url or GEMINI_BASE_URL)
        return (
            url,
            GEMINI_API_PREFIX,
            _gemini_key(api_key, api_key_env, base_url, exposed=connection.exposes(url)),
            None,
        )
    express = (api_key is not None or api_key_env is not None) and access_token_provider is None
    vertex = Vertex.of(project, location, express=express)
    url = _checked_root(base_url or vertex.url)
    if express:
        key = choose_key(api_key, api_key_env, own_env=None, standard_env=None, exposed=connection.exposes(url))
        return url, vertex.prefix, key, None
    if access_token_provider is None and base_url is not None and not _google_server(url):
        raise InvalidRequestError(
            f"base_url {url!r} is not Google's: application default credentials go only to Google's servers (and to "
            "the one GOOGLE_VERTEX_BASE_URL names); pass access_token_provider=... to send a token there"
        )
    return url, vertex.prefix, KeyChoice(), TokenSource(access_token_provider)


def _google_server(url: str) -> bool:
    """Whether application default credentials may go to ``url``: a Google API host over https, or the server
    that ``GOOGLE_VERTEX_BASE_URL`` names (as Google's SDK reads it)."""
    parsed = URL(url)
    host = (parsed.host or "").lower()
    if parsed.scheme == "https" and (host == "googleapis.com" or host.endswith(".googleapis.com")):
        return True
    named = os.environ.get("GOOGLE_VERTEX_BASE_URL")
    return named is not None and named != "" and _root(named) == url


def _checked_root(base_url: str) -> str:
    url = _root(base_url)
    if not url.startswith(("http://", "https://")):
        raise InvalidRequestError(f"base_url must start with http:// or https://, got {base_url!r}")
    return check_url(url, "base_url")


def _gemini_key(api_key: str | None, api_key_env: str | None, base_url: str | None, *, exposed: bool) -> KeyChoice:
    """The key (see :func:`choose_key`): ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` goes to Google's own server, and to
    a ``base_url`` given in code only when named."""
    own = base_url is None or same_origin(_root(base_url), GEMINI_BASE_URL)
    if api_key_env in KEY_ENVS:  # either standard variable is this provider's own
        env = api_key_env
    else:
        env = _key_env() if api_key is None and api_key_env is None else KEY_ENVS[0]
    choice = choose_key(api_key, api_key_env, own_env=env if own else None, standard_env=env, exposed=exposed)
    if choice.key is None and api_key is None and own:
        raise InvalidRequestError(
            "api_key was not given and neither GOOGLE_API_KEY nor GEMINI_API_KEY is set (for another server, pass "
            "base_url=...)"
        )
    return choice
