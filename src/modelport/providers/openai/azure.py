"""``AzureOpenAIChatCompletionClient``: Azure OpenAI, by deployment URL with ``api-version`` or by the v1 endpoint.

Authentication is one of: an ``api_key`` (sent as ``api-key``), a fixed ``azure_ad_token``, or an
``azure_ad_token_provider`` (a sync or async callable returning a bearer token) called before every request, so
tokens refresh without rebuilding the client.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._redact import RedactedHeaders, Secret, check_credential, check_headers, header_secrets, proxy_secrets
from ..._retry import RetryPolicy
from ...components import ComponentConfigError, config_env
from ...errors import InvalidRequestError
from ...model_info import ModelInfo
from ...tokens import TokenCounter
from .._autogen_args import autogen_model_info, check_default_query, check_include_name, openai_identity_headers
from .._kit import (
    AzureClientConfig,
    Connection,
    KeyChoice,
    ProviderClient,
    check_not_masked,
    check_url,
    config_arguments,
    resolve_model_info,
    same_origin,
    url_shown,
)
from ..dialect import Dialect
from .dialect import OpenAIDialect, WireProfile

__all__ = ["AzureOpenAIChatCompletionClient"]

KEY_ENV = "AZURE_OPENAI_API_KEY"
ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
AZURE_PROFILE = WireProfile("azure_openai", max_tool_description=1024)
V1_API_VERSIONS = frozenset({"v1", "latest", "preview"})
TokenProvider = Callable[[], str | Awaitable[str]]


class AzureOpenAIChatCompletionClient(ProviderClient):
    """A client for an Azure OpenAI deployment.

    Args:
        azure_endpoint: ``https://<resource>.openai.azure.com``; defaults to ``AZURE_OPENAI_ENDPOINT``.
        azure_deployment: the deployment name (defaults to ``model``).
        model: the model behind the deployment, for its capabilities (defaults to the deployment name).
        api_version: for example ``2024-10-21``; ``v1`` selects Azure's v1 endpoint. Defaults to
            ``OPENAI_API_VERSION``.
        api_key / azure_ad_token / azure_ad_token_provider: one way to authenticate; the key defaults to
            ``AZURE_OPENAI_API_KEY``.
        The remaining arguments are those of :class:`~modelport.OpenAIChatCompletionClient` (``project`` is sent
        as given: ``OPENAI_PROJECT_ID`` and ``OPENAI_ORG_ID`` are read only for OpenAI's own server).
    """

    provider_name = "azure_openai"
    component_type = "model"
    component_provider = "azure_openai"
    component_version = 2
    component_config_schema = AzureClientConfig

    def __init__(
        self,
        *,
        model: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: TokenProvider | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
        add_name_prefixes: bool = False,
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
        azure_ad_token_env: str | None = None,
        project: str | None = None,
        default_query: Mapping[str, Any] | None = None,
        include_name_in_message: bool = True,
        **create_args: Any,
    ) -> None:
        model_info = autogen_model_info(create_args, model_info)
        query = check_default_query(default_query)
        include_name_in_message = check_include_name(include_name_in_message)
        endpoint, deployment, version, api_base = _azure_target(azure_endpoint, azure_deployment, model, api_version)
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
        own = _is_environment_endpoint(azure_endpoint) and not connection.exposes(endpoint)
        credentials = _credentials(
            api_key, api_key_env, azure_ad_token, azure_ad_token_env, azure_ad_token_provider, own_endpoint=own
        )
        key, self._ad_token = credentials
        self._token_env = azure_ad_token_env
        self._token_provider = azure_ad_token_provider
        self._deployment, self._api_version, self._azure_endpoint = deployment, version, endpoint
        if key.key is not None:
            auth = {"api-key": key.key.get()}
        else:
            auth = {"authorization": f"Bearer {self._ad_token.get()}"} if self._ad_token is not None else {}
        auth.update(check_headers(openai_identity_headers(None, project, from_environment=False), "project"))
        dialect = self._azure_dialect(add_name_prefixes)
        if not include_name_in_message and isinstance(dialect, OpenAIDialect):
            dialect = dialect.without_names()
        super().__init__(
            model=model or deployment if version in V1_API_VERSIONS else deployment,
            model_info=model_info,
            info=resolve_model_info(model or deployment, model_info),
            dialect=dialect,
            base_url=endpoint,
            api_base=api_base,
            connection=connection,
            key=key,
            auth_headers=auth,
            settings={
                "model": model,
                "azure_endpoint": endpoint,
                "azure_deployment": azure_deployment,
                "api_version": version,
                "add_name_prefixes": add_name_prefixes,
                "project": project,
                "include_name_in_message": None if include_name_in_message else False,
            },
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
            live={"azure_ad_token_provider": azure_ad_token_provider is not None},
            default_query=query,
        )

    def _azure_dialect(self, add_name_prefixes: bool) -> Dialect:
        """The wire this client speaks to its deployment (chat completions; a subclass may speak another)."""
        return OpenAIDialect(AZURE_PROFILE, add_name_prefixes)

    async def _headers(self) -> dict[str, str]:
        provider = self._token_provider
        if provider is None:
            return self._request_headers
        token = provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise InvalidRequestError("azure_ad_token_provider returned no token")
        check_credential(token, "the token from azure_ad_token_provider")
        if token not in self._secrets:
            self._secrets = header_secrets(self._request_headers, token, *proxy_secrets(self._transport.proxy))
        return RedactedHeaders({**self._request_headers, "authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return (
            f"AzureOpenAIChatCompletionClient(deployment={self._deployment!r}, "
            f"endpoint={self._azure_endpoint!r}, api_version={self._api_version!r})"
        )

    # -- components --

    def _saved_credentials(self, *, include_secrets: bool) -> dict[str, str]:
        if self._ad_token is not None and include_secrets:
            return {"azure_ad_token": self._ad_token.get()}
        if self._ad_token is not None and self._token_env is not None:
            return {"azure_ad_token_env": self._token_env}
        return super()._saved_credentials(include_secrets=include_secrets)

    @classmethod
    def _from_config(cls, config: AzureClientConfig) -> AzureOpenAIChatCompletionClient:
        return cls(
            model=config.model,
            azure_deployment=config.azure_deployment,
            api_version=config.api_version,
            azure_endpoint=_endpoint_of(config),
            azure_ad_token=check_not_masked(config.azure_ad_token, "azure_ad_token"),
            azure_ad_token_env=config.azure_ad_token_env,
            project=config.project,
            default_query=config.default_query,
            include_name_in_message=config.include_name_in_message,
            **config_arguments(config, cls.component_provider),
        )


def _azure_target(
    azure_endpoint: str | None, azure_deployment: str | None, model: str | None, api_version: str | None
) -> tuple[str, str, str, URL]:
    """(the endpoint, the deployment, the API version, the base of its request URLs), each from its argument or
    its environment variable, checked."""
    deployment = azure_deployment or model
    if not deployment:
        raise InvalidRequestError("azure_deployment (or model) is required")
    endpoint = azure_endpoint or os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        raise InvalidRequestError(f"azure_endpoint was not given and {ENDPOINT_ENV} is not set")
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidRequestError(f"azure_endpoint must start with https://, got {url_shown(endpoint)}")
    check_url(endpoint, "azure_endpoint" if azure_endpoint else ENDPOINT_ENV)
    version = api_version or os.environ.get("OPENAI_API_VERSION")
    if not version:
        raise InvalidRequestError(
            "api_version was not given and OPENAI_API_VERSION is not set (use api_version='v1' for Azure's v1 endpoint)"
        )
    endpoint = endpoint.rstrip("/")
    if version in V1_API_VERSIONS:
        return endpoint, deployment, version, URL(f"{endpoint}/openai/v1")
    return (
        endpoint,
        deployment,
        version,
        URL(f"{endpoint}/openai/deployments/{deployment}").with_query({"api-version": version}),
    )


def _credentials(
    api_key: str | None,
    api_key_env: str | None,
    azure_ad_token: str | None,
    azure_ad_token_env: str | None,
    token_provider: TokenProvider | None,
    *,
    own_endpoint: bool,
) -> tuple[KeyChoice, Secret | None]:
    """(the key and the variable it came from, the AD token): exactly one way to authenticate. ``own_endpoint``: the
    endpoint is ``AZURE_OPENAI_ENDPOINT``'s (same scheme, host and port; and no proxy a config names can read what
    goes there), so ``AZURE_OPENAI_API_KEY``, also from the environment, belongs to it; a loaded config sends it
    nowhere else unless allowed by name."""
    if azure_ad_token is None and azure_ad_token_env:
        azure_ad_token = config_env(azure_ad_token_env, "named by azure_ad_token_env")
        if azure_ad_token is None:
            raise InvalidRequestError(f"azure_ad_token_env names {azure_ad_token_env!r}, which is not set")
    key_env = None
    if api_key is None and api_key_env:
        api_key = config_env(api_key_env, "named by api_key_env", own=own_endpoint and api_key_env == KEY_ENV)
        if api_key is None:
            raise InvalidRequestError(f"api_key_env names {api_key_env!r}, which is not set")
        key_env = api_key_env
    given = [
        name
        for name, value in (
            ("api_key", api_key),
            ("azure_ad_token", azure_ad_token),
            ("azure_ad_token_provider", token_provider),
        )
        if value
    ]
    if len(given) > 1:
        raise InvalidRequestError(
            f"give only one of api_key, azure_ad_token, azure_ad_token_provider (got {', '.join(given)})"
        )
    if not given:
        use = "the standard key, for an endpoint or proxy that this config names"
        api_key = config_env(KEY_ENV, use, own=own_endpoint) if os.environ.get(KEY_ENV) else None
        key_env = KEY_ENV
        if not api_key:
            raise InvalidRequestError(
                f"no credentials: give api_key, azure_ad_token or azure_ad_token_provider, or set {KEY_ENV}"
            )
    key = KeyChoice(Secret(api_key, key_env or "api_key"), key_env) if api_key else KeyChoice()
    return key, Secret(azure_ad_token, "azure_ad_token") if azure_ad_token else None


def _is_environment_endpoint(endpoint: str | None) -> bool:
    """Whether ``endpoint`` (``None``: none was given) is the one ``AZURE_OPENAI_ENDPOINT`` names: the same scheme,
    host and port, as the endpoint of a client made from the environment is written in its config."""
    if not endpoint:
        return True
    named = os.environ.get(ENDPOINT_ENV)
    try:
        return named is not None and same_origin(endpoint, named)
    except ValueError:  # not a URL: the endpoint's own check says so
        return False


def _endpoint_of(config: AzureClientConfig) -> str | None:
    """The endpoint a config gives: the value of the variable ``azure_endpoint_env`` names, else ``azure_endpoint``.
    ``None`` when it names ``AZURE_OPENAI_ENDPOINT``, which the client then reads as its own (so that its key,
    ``AZURE_OPENAI_API_KEY``, may go there)."""
    name = config.azure_endpoint_env
    if name is None:
        return config.azure_endpoint
    if name == ENDPOINT_ENV and os.environ.get(name):
        return None
    value = config_env(name, "named by azure_endpoint_env", own=name == ENDPOINT_ENV)
    if value is None:
        raise ComponentConfigError(f"azure_endpoint_env names {name!r}, which is not set")
    return value
