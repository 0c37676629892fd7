"""The saved configs of the clients, and what they share: secrets by reference, settings that can be saved, and
which key from the environment may go to which server.

Keys are written only with ``include_secrets=True``. Otherwise a config keeps the name of the environment variable
the key came from (``api_key_env``), so loading it finds the key again. A client that holds live objects (its own
aiohttp session, a token counter, an Azure token-provider function) cannot be written to a config: ``dump_component``
says which, rather than dropping them silently, and a config that names one is refused when it is loaded.

A key from the environment goes only to the server it belongs to (:func:`choose_key`): a preset's variable to the
preset's own server (same scheme, host and port), whatever names the preset. A loaded config is held to more (see
:func:`modelport.components.config_env`): a variable it names goes elsewhere only if the caller allowed it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from .. import __version__
from .._http import DEFAULT_MAX_RESPONSE_BYTES, Transport
from .._redact import (
    RedactedHeaders,
    RedactedURL,
    Secret,
    check_headers,
    check_proxy,
    header_secrets,
    is_secret_header,
    proxy_secrets,
)
from .._retry import RetryPolicy
from .._wire_client import WireClient
from ..components import Component, ComponentConfigError, config_env
from ..errors import APIError, AuthenticationError, InvalidRequestError
from ..model_info import ModelInfo, lookup_model_info
from ..tokens import TokenCounter
from ._autogen_args import complete_model_info, query_secrets, saved_model_info, saved_query
from .dialect import Dialect

__all__ = [
    "AzureClientConfig",
    "KeyChoice",
    "OpenAIClientConfig",
    "check_not_masked",
    "check_url",
    "choose_key",
    "config_create_args",
    "proxy_can_read",
    "same_origin",
    "url_shown",
]

_MASKED = re.compile(r"^\*+$")
_NONE: Mapping[str, Any] = {}


_RATE_SCHEMA = {"type": ["string", "number"]}
_Price = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                **{rate: _RATE_SCHEMA for rate in ("input", "output", "cached_input", "cache_write")},
                "above": {"type": "object", "description": "prompt_tokens, and the rates of a longer prompt"},
            },
            "required": ["input", "output"],
            "additionalProperties": False,
        }
    ),
]
"""One model's price in a config. The client checks it (``pricing.check_prices``), so that a config and code give
the same error, naming the model and the rate."""


class _ClientConfig(BaseModel):
    """Settings both clients share. Fields not listed here are create arguments (``temperature``, ``max_tokens``,
    ``extra_body``...), checked like ``extra_create_args``."""

    model_config = ConfigDict(extra="allow")

    api_key: str | None = Field(
        default=None,
        json_schema_extra={"writeOnly": True},
        description="The key itself; written only with include_secrets=True.",
    )
    api_key_env: str | None = Field(default=None, description="The environment variable that holds the key.")
    timeout: float | None = None
    connect_timeout: float = 10.0
    deadline: float | None = None
    max_retries: int = 3
    initial_retry_delay: float | None = None
    max_retry_delay: float | None = None
    max_retry_after: float | None = None
    model_info: dict[str, Any] | None = None
    add_name_prefixes: bool = False
    default_headers: dict[str, str] | None = None
    verify_ssl: bool = True
    proxy: str | None = Field(default=None, description="An HTTP(S) proxy URL; by default the environment's.")
    max_connections: int | None = Field(
        default=None,
        description="Open connections at most; by default half the process's open-file limit (100 to 10,000).",
    )
    max_connections_per_host: int | None = None
    max_response_bytes: int | None = Field(
        default=None,
        description="The largest response body read, in bytes; by default 64 MiB (one stream event: 16 MiB at most).",
    )
    prices: dict[str, _Price] | None = Field(
        default=None,
        description="US dollars per million tokens by model (a number, or a str of one): input, output, cached_input, "
        "cache_write.",
    )


class _ChatCompletionsConfig(_ClientConfig):
    """Settings of the chat-completions clients (OpenAI's and Azure's)."""

    default_query: dict[str, str] | None = Field(
        default=None, description="Query parameters added to every request; credential ones only with include_secrets."
    )
    include_name_in_message: bool = Field(default=True, description="Send a message's source as its name field.")
    project: str | None = Field(default=None, description="Sent as the OpenAI-Project header.")


class OpenAIClientConfig(_ChatCompletionsConfig):
    model: str
    base_url: str | None = None
    provider: str | None = Field(default=None, description="A preset: openai, ollama, vllm, groq, ...")
    organization: str | None = None


class AzureClientConfig(_ChatCompletionsConfig):
    model: str | None = None
    azure_endpoint: str | None = Field(default=None, description="Defaults to AZURE_OPENAI_ENDPOINT.")
    azure_endpoint_env: str | None = None
    azure_deployment: str | None = None
    api_version: str | None = Field(default=None, description="Defaults to OPENAI_API_VERSION; 'v1' for Azure v1.")
    azure_ad_token: str | None = Field(default=None, json_schema_extra={"writeOnly": True})
    azure_ad_token_env: str | None = None


def check_not_masked(value: str | None, field: str) -> str | None:
    if value is not None and _MASKED.match(value):
        raise ComponentConfigError(
            f"{field} in this config is masked ({value!r}), not a real key: give "
            f"{field}_env with the name of the variable that holds it, or remove it"
        )
    return value


# Constructor arguments that take live objects (or, for retry_policy, one built from the config's own numbers):
# a config that names one is refused at load rather than failing at the first call.
_CONSTRUCTOR_ONLY = {
    "http_session": "it takes a live aiohttp session, which only code can give",
    "token_counter": "it takes a function, which only code can give",
    "azure_ad_token_provider": "it takes a function, which only code can give; set azure_ad_token_env instead",
    "retry_policy": "give its numbers as max_retries, initial_retry_delay, max_retry_delay and max_retry_after",
}


def config_create_args(config: BaseModel, provider: str) -> dict[str, Any]:
    """The create arguments of a client config (its fields not listed in the schema), once none of them is a
    constructor argument that a config cannot hold."""
    extra = dict(config.model_extra or {})
    for name, why in _CONSTRUCTOR_ONLY.items():
        if name in extra:
            raise ComponentConfigError(f"{provider} config: {name} cannot be set in a config: {why}")
    return extra


def check_url(url: str, field: str) -> str:
    """``url`` once it can be read as a URL (a port in range, an IPv6 address in closed brackets) that holds no
    user name or password, else :class:`InvalidRequestError` naming ``field`` (never the URL, which may hold a
    password). Credentials in a server's URL would be kept wherever the URL is (the client's ``repr``, a saved
    config, log lines) and clash at send time with the header that carries the key, so they are refused."""
    try:
        parsed = URL(url)  # reading it checks the port and the brackets
    except ValueError as exc:
        raise InvalidRequestError(f"{field} is not a valid URL: {exc}") from None
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise InvalidRequestError(
            f"{field} holds a user name or password (user:password@ before the host), which a URL is no place for: "
            "it would be kept in the client's repr and saved configs. Give the URL without it, and the credential "
            "as api_key or in default_headers (an Authorization header)"
        )
    return url


def url_shown(url: str) -> str:
    """``url`` as an error message may show it: without a user name or password it holds."""
    try:
        parsed = URL(url)
    except ValueError:
        return "a value that is not a URL"
    return repr(str(parsed.with_user(None))) if parsed.raw_user is not None else repr(url)


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs name the same server: scheme, host and port (the standard port when none is written)."""
    a, b = URL(url), URL(other)
    return (a.scheme.lower(), (a.host or "").lower(), a.port) == (b.scheme.lower(), (b.host or "").lower(), b.port)


def proxy_can_read(proxy: str | None, url: str, *, verify_ssl: bool) -> bool:
    """Whether ``proxy`` could read what is sent to ``url``: plain HTTP, or TLS whose certificate is not checked."""
    return bool(proxy) and (URL(url).scheme.lower() != "https" or not verify_ssl)


@dataclass(frozen=True)
class KeyChoice:
    """The key a client sends, the variable it came from (saved in configs) and, when no key goes, a variable that
    holds one but was withheld from this server (named by the hint on a 401)."""

    key: Secret | None = None
    env: str | None = None
    withheld: str | None = None


def choose_key(
    api_key: str | None, api_key_env: str | None, *, own_env: str | None, standard_env: str | None, exposed: bool
) -> KeyChoice:
    """The key to send: ``api_key`` (``""``: none at all); else the variable ``api_key_env`` names; else
    ``own_env``, the standard variable when this server is its own (``None`` otherwise). ``standard_env`` is the
    variable withheld when the server is not its own. ``exposed``: a proxy could read the key, so a loaded config
    may not send it unasked."""
    if api_key is not None:
        return KeyChoice(Secret(api_key, "api_key") if api_key else None)
    if api_key_env:
        value = config_env(api_key_env, "named by api_key_env", own=api_key_env == own_env and not exposed)
        if value is None:
            raise InvalidRequestError(f"api_key_env names {api_key_env!r}, which is not set")
        return KeyChoice(Secret(value, api_key_env), api_key_env)
    if own_env is not None and os.environ.get(own_env):
        value = config_env(own_env, "the standard key, through the proxy this config names", own=not exposed)
        return KeyChoice(Secret(value, own_env), own_env) if value else KeyChoice()
    if own_env is None and standard_env is not None and os.environ.get(standard_env):
        return KeyChoice(withheld=standard_env)
    return KeyChoice()


def saved_settings(settings: dict[str, Any], *, include_secrets: bool) -> dict[str, Any]:
    """The constructor settings a client recorded, minus credential headers unless secrets are included."""
    saved = dict(settings)
    proxy = saved.get("proxy")
    if proxy and not include_secrets and proxy_secrets(proxy):
        raise InvalidRequestError(
            "this client's proxy URL holds a password, which a config does not save unless "
            "dump_component(include_secrets=True); or give the proxy through HTTPS_PROXY instead"
        )
    if saved.get("default_query"):
        saved["default_query"] = saved_query(saved["default_query"], include_secrets=include_secrets)
    headers = saved.get("default_headers")
    if headers and not include_secrets:
        saved["default_headers"] = {k: v for k, v in headers.items() if not is_secret_header(k)} or None
    return saved


def refuse_live_objects(live: dict[str, bool], cls_name: str) -> None:
    given = [name for name, present in live.items() if present]
    if given:
        raise InvalidRequestError(
            f"this {cls_name} cannot be written to a config: {', '.join(given)} "
            f"{'is a live object' if len(given) == 1 else 'are live objects'} that a JSON config cannot hold; "
            "make the client without it (verify_ssl= covers TLS checks) to save it"
        )


def retry_settings(policy: Any) -> dict[str, Any]:
    """The retry policy's numbers (its sleep, clock and random hooks are for tests and are not saved)."""
    default = RetryPolicy()
    out: dict[str, Any] = {"max_retries": policy.max_retries}
    for name, field in (
        ("initial_delay", "initial_retry_delay"),
        ("max_delay", "max_retry_delay"),
        ("max_retry_after", "max_retry_after"),
    ):
        if getattr(policy, name) != getattr(default, name):
            out[field] = getattr(policy, name)
    return out


def policy_from(config: _ClientConfig) -> Any:
    kwargs: dict[str, Any] = {"max_retries": config.max_retries}
    for field, name in (
        ("initial_retry_delay", "initial_delay"),
        ("max_retry_delay", "max_delay"),
        ("max_retry_after", "max_retry_after"),
    ):
        value = getattr(config, field)
        if value is not None:
            kwargs[name] = value
    return RetryPolicy(**kwargs)


COMMON_FIELDS = (
    "timeout",
    "connect_timeout",
    "deadline",
    "model_info",
    "add_name_prefixes",
    "default_headers",
    "verify_ssl",
    "proxy",
    "max_connections",
    "max_connections_per_host",
    "max_response_bytes",
    "prices",
)


def migrate_client_config(config: dict[str, Any], from_version: int, provider: str) -> dict[str, Any]:
    """Version 1 is AutoGen's shape of a client config; version 2 is modelport's."""
    if from_version != 1:
        raise ComponentConfigError(f"{provider}: no migration from component_version {from_version}")
    config = dict(config)
    capabilities = config.pop("model_capabilities", None)
    if capabilities is not None and not isinstance(capabilities, dict):
        raise ComponentConfigError(
            f"{provider}: model_capabilities must be an object of capabilities, not {type(capabilities).__name__}"
        )
    if capabilities and "model_info" not in config:
        config["model_info"] = {**capabilities, "family": "unknown"}
    if config.get("include_name_in_message", True) is True:  # the default, which every client keeps
        config.pop("include_name_in_message", None)
    if "azure_ad_token_provider" in config:
        raise ComponentConfigError(
            f"{provider}: a token-provider component cannot be loaded from a config; set "
            "azure_ad_token_env or api_key_env instead"
        )
    return config


# -- what every client builds the same way --

DEFAULT_TIMEOUT = 180.0
USER_AGENT = f"modelport/{__version__}"


def resolve_model_info(model: str, model_info: ModelInfo | None) -> ModelInfo:
    """The client's :class:`ModelInfo`: the registry's for ``model``, or ``model_info`` (completed from the registry
    or its defaults, with a warning, when it lacks some of the fields every client reads)."""
    if model_info is None:
        return lookup_model_info(model)
    return complete_model_info(model, model_info)


def default_timeout(timeout: float | None) -> float:
    if timeout is not None:
        if timeout <= 0:
            raise InvalidRequestError(f"timeout must be positive, got {timeout}")
        return float(timeout)
    env = os.environ.get("MODEL_TIMEOUT")
    if env:
        try:
            return float(env)
        except ValueError:
            raise InvalidRequestError(f"the MODEL_TIMEOUT environment variable is not a number: {env!r}") from None
    return DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Connection:
    """How a client reaches its server: the connection arguments every client takes, checked once. ``transport``
    makes the HTTP transport from them and ``settings`` gives what a config saves of them."""

    timeout: float | None = None
    connect_timeout: float = 10.0
    deadline: float | None = None
    max_retries: int = 3
    retry_policy: RetryPolicy | None = None
    http_session: aiohttp.ClientSession | None = None
    verify_ssl: bool = True
    proxy: str | None = None
    max_connections: int | None = None
    max_connections_per_host: int | None = None
    max_response_bytes: int | None = None
    default_headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_headers", check_headers(self.default_headers))
        check_proxy(self.proxy)
        if self.deadline is not None and self.deadline <= 0:
            raise InvalidRequestError(f"deadline must be positive, got {self.deadline}")
        for name in ("max_connections", "max_connections_per_host", "max_response_bytes"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise InvalidRequestError(f"{name} must be a whole number of 1 or more, got {value!r}")

    def exposes(self, url: str) -> bool:
        """Whether this connection's proxy could read what is sent to ``url``."""
        return proxy_can_read(self.proxy, url, verify_ssl=self.verify_ssl)

    def transport(self, provider: str) -> Transport:
        return Transport(
            provider=provider,
            timeout=default_timeout(self.timeout),
            connect_timeout=self.connect_timeout,
            deadline=self.deadline,
            retry=self.retry_policy or RetryPolicy(max_retries=self.max_retries),
            session=self.http_session,
            verify_ssl=self.verify_ssl,
            proxy=self.proxy,
            max_connections=self.max_connections,
            max_connections_per_host=self.max_connections_per_host,
            max_response_bytes=self.max_response_bytes or DEFAULT_MAX_RESPONSE_BYTES,
        )

    def settings(self, retry: RetryPolicy) -> dict[str, Any]:
        """The config fields of this connection (``max_response_bytes`` only when it is not the default; the retry
        policy as its numbers)."""
        limit = self.max_response_bytes
        return {
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "deadline": self.deadline,
            "default_headers": RedactedHeaders(self.default_headers) if self.default_headers else None,
            "verify_ssl": self.verify_ssl,
            "proxy": RedactedURL(self.proxy) if self.proxy else self.proxy,
            "max_connections": self.max_connections,
            "max_connections_per_host": self.max_connections_per_host,
            "max_response_bytes": None if limit == DEFAULT_MAX_RESPONSE_BYTES else limit,
            **retry_settings(retry),
        }


# -- the base of every built-in client --

JSON_OR_EVENTS = "application/json, text/event-stream"


class ProviderClient(WireClient, Component):
    """What every built-in provider's client shares beyond the pipeline: its connection, the key it sends (and the
    one it withheld), its request headers, the secrets scrubbed from its errors, and saving and loading its config.

    A provider's constructor resolves its server and key, then hands this constructor the :class:`Connection`, the
    :class:`KeyChoice`, the headers that carry the key (``auth_headers``) and the settings only it has (``settings``,
    saved in its config beside the connection's). ``live`` names further constructor-only objects it was given."""

    _key: KeyChoice = KeyChoice()

    def __init__(
        self,
        *,
        model: str,
        model_info: ModelInfo | None,
        info: ModelInfo,
        dialect: Dialect,
        base_url: str,
        connection: Connection,
        key: KeyChoice = KeyChoice(),
        auth_headers: Mapping[str, str] = _NONE,
        settings: Mapping[str, Any],
        create_args: Mapping[str, Any],
        token_counter: TokenCounter | None,
        prices: Mapping[str, Any] | None,
        api_base: URL | None = None,
        accept: str = JSON_OR_EVENTS,
        live: Mapping[str, bool] = _NONE,
        default_query: Mapping[str, str] = _NONE,
    ) -> None:
        super().__init__(
            model=model,
            model_info=info,
            transport=connection.transport(self.provider_name),
            dialect=dialect,
            base=api_base or URL(base_url),
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
        )
        self._base_url = base_url
        self._key = key
        self._api_key = key.key
        self._withheld_key_env = key.withheld
        saved_prices = {name: price.as_dict() for name, price in self._prices.items()} if self._prices else None
        self._settings: dict[str, Any] = {
            **settings,
            **connection.settings(self._transport.retry),
            "model_info": saved_model_info(model_info, info),
            "prices": saved_prices,
            **({"default_query": dict(default_query)} if default_query else {}),
            **create_args,
        }
        self._query = dict(default_query)
        self._live = {"http_session": connection.http_session is not None, "token_counter": token_counter is not None}
        self._live.update(live)
        headers = RedactedHeaders({"content-type": "application/json", "accept": accept, "user-agent": USER_AGENT})
        headers.update(auth_headers)
        headers.update(connection.default_headers or _NONE)
        self._request_headers = headers
        self._secrets = header_secrets(headers, *proxy_secrets(connection.proxy), *query_secrets(default_query))

    async def _headers(self) -> dict[str, str]:
        return self._request_headers

    def _hint(self, exc: APIError) -> str | None:
        withheld = self._key.withheld
        if isinstance(exc, AuthenticationError) and withheld:
            return (
                f"no key was sent: {withheld} is set, but a key from the environment only goes to its "
                f"own server; pass api_key_env={withheld!r} to send it to {self._base_url}"
            )
        return super()._hint(exc)

    # -- components --

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        return migrate_client_config(config, from_version, cls.component_provider)

    def _to_config(self, *, include_secrets: bool) -> BaseModel:
        refuse_live_objects(self._live, type(self).__name__)
        settings = saved_settings(self._settings, include_secrets=include_secrets)
        settings.update(self._saved_credentials(include_secrets=include_secrets))
        return self.component_config_schema.model_validate({k: v for k, v in settings.items() if v is not None})

    def _saved_credentials(self, *, include_secrets: bool) -> dict[str, str]:
        """The config fields that give the key: the key itself only with ``include_secrets``, else the name of the
        variable it came from."""
        if include_secrets and self._key.key is not None:
            return {"api_key": self._key.key.get()}
        if self._key.env is not None:
            return {"api_key_env": self._key.env}
        return {}


def config_arguments(config: _ClientConfig, provider: str, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The constructor arguments every client's config gives: the connection and shared fields, the retry policy
    from its numbers, the key (never a masked one) or its variable, and the create arguments."""
    arguments = {name: getattr(config, name) for name in COMMON_FIELDS if name not in skip}
    arguments.update(config_create_args(config, provider))
    arguments["api_key"] = check_not_masked(config.api_key, "api_key")
    arguments["api_key_env"] = config.api_key_env
    arguments["retry_policy"] = policy_from(config)
    return arguments
