"""The saved configs of the two clients, and what both share: secrets by reference, settings that can be saved.

Keys are written only with ``include_secrets=True``. Otherwise a config keeps the name of the environment variable
the key came from (``api_key_env``), so loading it finds the key again. A client that holds live objects (its own
aiohttp session, a token counter, an Azure token-provider function) cannot be written to a config: ``dump_component``
says which, rather than dropping them silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._redact import RedactedHeaders, RedactedURL, is_secret_header, proxy_secrets
from ..components import ComponentConfigError
from ..errors import InvalidRequestError

__all__ = ["AzureClientConfig", "OpenAIClientConfig", "check_not_masked", "read_secret"]

_MASKED = re.compile(r"^\*+$")


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
    prices: dict[str, dict[str, str]] | None = Field(
        default=None, description="US dollars per million tokens by model: input, output, cached_input, cache_write."
    )


class OpenAIClientConfig(_ClientConfig):
    model: str
    base_url: str | None = None
    provider: str | None = Field(default=None, description="A preset: openai, ollama, vllm, groq, ...")
    organization: str | None = None


class AzureClientConfig(_ClientConfig):
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


def read_secret(value: str | None, env: str | None, field: str) -> str | None:
    """The secret a config gives: itself, or the variable it names. A masked value (AutoGen writes keys as
    ``"**********"``) is refused instead of being sent as the key."""
    if value is not None:
        if _MASKED.match(value):
            raise ComponentConfigError(
                f"{field} in this config is masked ({value!r}), not a real key: give "
                f"{field}_env with the name of the variable that holds it, or remove it"
            )
        return value
    if env is not None:
        found = os.environ.get(env)
        if not found:
            raise ComponentConfigError(f"{field}_env names {env!r}, which is not set")
        return found
    return None


def saved_settings(settings: dict[str, Any], *, include_secrets: bool) -> dict[str, Any]:
    """The constructor settings a client recorded, minus credential headers unless secrets are included."""
    saved = dict(settings)
    proxy = saved.get("proxy")
    if proxy and not include_secrets and proxy_secrets(proxy):
        raise InvalidRequestError(
            "this client's proxy URL holds a password, which a config does not save unless "
            "dump_component(include_secrets=True); or give the proxy through HTTPS_PROXY instead"
        )
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


def shared_settings(
    *,
    timeout: float | None,
    connect_timeout: float,
    deadline: float | None,
    model_info: Any,
    add_name_prefixes: bool,
    default_headers: Any,
    verify_ssl: bool,
    retry_policy: Any,
    proxy: str | None = None,
    max_connections: int | None = None,
    max_connections_per_host: int | None = None,
    max_response_bytes: int | None = None,
    prices: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The constructor settings both clients save, as their config fields (``max_response_bytes`` only when it is
    not the default)."""
    from .._http import DEFAULT_MAX_RESPONSE_BYTES

    return {
        "timeout": timeout,
        "connect_timeout": connect_timeout,
        "deadline": deadline,
        "model_info": model_info,
        "add_name_prefixes": add_name_prefixes,
        "default_headers": RedactedHeaders(default_headers) if default_headers else None,
        "verify_ssl": verify_ssl,
        "proxy": RedactedURL(proxy) if proxy else proxy,
        "max_connections": max_connections,
        "max_connections_per_host": max_connections_per_host,
        "max_response_bytes": None if max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES else max_response_bytes,
        "prices": {model: price.as_dict() for model, price in prices.items()} if prices else None,
        **retry_settings(retry_policy),
    }


def retry_settings(policy: Any) -> dict[str, Any]:
    """The retry policy's numbers (its sleep, clock and random hooks are for tests and are not saved)."""
    from .._http import RetryPolicy

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
    from .._http import RetryPolicy

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
    if capabilities and "model_info" not in config:
        config["model_info"] = {**capabilities, "family": "unknown"}
    if config.pop("include_name_in_message", True) is False:
        raise ComponentConfigError(
            f"{provider}: include_name_in_message=False has no equivalent; message names follow the provider preset"
        )
    if "azure_ad_token_provider" in config:
        raise ComponentConfigError(
            f"{provider}: a token-provider component cannot be loaded from a config; set "
            "azure_ad_token_env or api_key_env instead"
        )
    return config
