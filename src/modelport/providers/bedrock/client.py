"""``BedrockChatCompletionClient``: models on Amazon Bedrock through its Converse API.

The wire dialect is :mod:`modelport.providers.bedrock.dialect`; this module names the endpoint, the credentials
(:mod:`._credentials` has the order they are looked for in) and the defaults. Requests are signed with SigV4
(service ``bedrock``, :mod:`._sigv4`) before every attempt, over the exact bytes sent, so a retry is signed afresh;
a Bedrock API key is sent as a bearer token instead. Keys, secrets, session tokens and signatures never reach a
repr, an error or a saved config (a config keeps the region and the profile; keys only with
``include_secrets=True``).

The endpoint is ``https://bedrock-runtime.{region}.amazonaws.com`` unless ``base_url`` (or the environment's
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``) names another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import Field
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._redact import SecretValues
from ..._retry import RetryPolicy
from ...components import ComponentConfigError, config_env
from ...errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    ResponseValidationError,
)
from ...model_info import ModelInfo, ModelListing, lookup_model_info
from ...tokens import TokenCounter
from .._kit import (
    Connection,
    ProviderClient,
    _ClientConfig,
    check_url,
    config_arguments,
    proxy_can_read,
    resolve_model_info,
)
from ._credentials import BEARER_ENV, ENDPOINT_ENVS, Auth, resolve_auth, resolve_region, trusted_endpoint
from ._sigv4 import sign
from .dialect import BedrockDialect

__all__ = ["BedrockChatCompletionClient", "BedrockClientConfig", "bedrock_model_info", "endpoint_for"]

SERVICE = "bedrock"
_GEOS = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")


class BedrockClientConfig(_ClientConfig):
    """The saved config of a :class:`BedrockChatCompletionClient`. Fields not listed are create arguments."""

    model: str
    region: str | None = None
    profile: str | None = None
    base_url: str | None = None
    aws_access_key_id: str | None = Field(default=None, json_schema_extra={"writeOnly": True})
    aws_secret_access_key: str | None = Field(default=None, json_schema_extra={"writeOnly": True})
    aws_session_token: str | None = Field(default=None, json_schema_extra={"writeOnly": True})


def endpoint_for(region: str) -> str:
    """Bedrock's runtime endpoint in ``region``."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://bedrock-runtime.{region}{suffix}"


def bedrock_model_info(model: str) -> ModelInfo:
    """The registry's capabilities of a Bedrock model id, inference-profile id or ARN: the geography prefix, the
    vendor and the version suffix are set aside (``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` is read as
    ``claude-sonnet-4-5-20250929``)."""
    name = model.rsplit("/", 1)[-1]
    for geo in _GEOS:
        if name.startswith(geo):
            name = name[len(geo) :]
            break
    base = name.split(".", 1)[-1] if "." in name.split("-", 1)[0] else name
    base = base.split(":", 1)[0]
    if base.rsplit("-", 1)[-1][:1] == "v" and base.rsplit("-", 1)[-1][1:].isdigit():
        base = base.rsplit("-", 1)[0]
    for candidate in (base, name):  # the vendor's name may carry the model's (deepseek.r1-v1:0 is deepseek-r1)
        found = lookup_model_info(candidate, warn=False)
        if found.get("family") != "unknown":
            return found
    return lookup_model_info(model)


class BedrockChatCompletionClient(ProviderClient):
    """A client for models on Amazon Bedrock through Converse and ConverseStream.

    Args:
        model: a model id (``anthropic.claude-sonnet-4-5-20250929-v1:0``), an inference-profile id
            (``us.anthropic...``) or an ARN.
        region: the AWS region; defaults to ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's.
        aws_access_key_id, aws_secret_access_key, aws_session_token: credentials given in code.
        profile: a profile of the shared AWS files (else ``AWS_PROFILE``, else ``default``).
        api_key: a Bedrock API key (else ``AWS_BEARER_TOKEN_BEDROCK``), sent as a bearer token.
        base_url: another endpoint (a VPC endpoint, a proxy, a test server).
        max_tokens, temperature, top_p, stop, thinking, prompt_caching, additional_model_request_fields, ...:
            create arguments, defaults for every request.
        The connection arguments are those of :class:`~modelport.OpenAIChatCompletionClient`.
    """

    component_type = "model"
    component_provider = "bedrock"
    component_version = 2
    component_config_schema = BedrockClientConfig
    provider_name = "bedrock"

    def __init__(
        self,
        model: str,
        *,
        region: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
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
        self._region = resolve_region(region, profile)
        url = _endpoint(base_url, self._region)
        exposed = connection.exposes(url)
        if api_key is None and api_key_env:
            api_key = _named_key(api_key_env, own=trusted_endpoint(url) and not exposed)
        self._auth = resolve_auth(
            access_key=aws_access_key_id,
            secret_key=aws_secret_access_key,
            session_token=aws_session_token,
            api_key=api_key,
            profile=profile,
            trusted=trusted_endpoint(url),  # the default endpoint too: a region is any DNS label (s3, ...)
            exposed=exposed,
        )
        _check_usable(self._auth, self._region, base_url)
        super().__init__(
            model=model,
            model_info=model_info,
            info=bedrock_model_info(model) if model_info is None else resolve_model_info(model, model_info),
            dialect=BedrockDialect(),
            base_url=url,
            connection=connection,
            auth_headers={"authorization": f"Bearer {self._auth.bearer.get()}"} if self._auth.bearer else {},
            settings={"model": model, "region": region, "profile": profile, "base_url": base_url},
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
            accept="application/json, application/vnd.amazon.eventstream",
        )
        self._api_key_env = api_key_env
        if self._auth.static is not None:
            self._secrets = SecretValues((*self._secrets, *self._auth.static.secrets()))
        if self._auth.static is not None or self._auth.chain is not None:
            self._sign = self._sign_request

    async def _sign_request(self, method: str, url: URL, headers: dict[str, str], body: bytes | None) -> None:
        """SigV4 over this attempt's method, URL, headers and body, with the credentials current now."""
        credentials = await self._auth.current()
        if credentials is None:
            return
        if self._auth.chain is not None:  # fresh ones may differ from those first seen: scrub these too
            self._secrets = SecretValues(dict.fromkeys((*self._secrets, *credentials.secrets())))
        assert self._region is not None
        now = datetime.fromtimestamp(self._transport.retry.clock(), timezone.utc)  # the policy's clock, for tests
        sign(method, url, headers, body, credentials=credentials, region=self._region, service=SERVICE, now=now)

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def credential_source(self) -> str:
        """Where the credentials came from (``arguments``, ``api_key``, ``AWS_BEARER_TOKEN_BEDROCK``,
        ``environment``, ``profile NAME``, ``botocore (...)``, or ``none``); never the credentials."""
        return self._auth.source

    def __repr__(self) -> str:
        return (
            f"BedrockChatCompletionClient(model={self._model!r}, region={self._region!r}, "
            f"credentials={self._auth.source!r})"
        )

    def _hint(self, exc: APIError) -> str | None:
        withheld = self._auth.withheld
        if isinstance(exc, (AuthenticationError, PermissionDeniedError)) and withheld:
            return (
                f"nothing was signed: {withheld} is set, but credentials from the environment only go to Bedrock's own "
                f"endpoints or to {ENDPOINT_ENVS[0]}; pass them as arguments (or profile=...) for {self._base_url}"
            )
        return super()._hint(exc)

    async def list_models(self) -> list[ModelListing]:
        """The foundation models of the region, through the control plane's ``ListFoundationModels`` (``GET
        /foundation-models`` on ``bedrock.{region}``; on the ``base_url`` itself when one was given), signed with the
        same credentials; each listing's ``raw`` is Bedrock's summary, ``owned_by`` its provider."""
        answer = await self._request_json(URL(_control_plane(self._base_url)).with_path("/foundation-models"), None)
        summaries = answer.get("modelSummaries") if isinstance(answer, dict) else None
        if not isinstance(summaries, list):
            raise ResponseValidationError(
                f"{self.provider_name} answered ListFoundationModels without modelSummaries",
                provider=self.provider_name,
                body=answer,
            )
        return [
            ModelListing(id=str(entry.get("modelId", "")), owned_by=entry.get("providerName"), raw=entry)
            for entry in summaries
            if isinstance(entry, dict)
        ]

    # -- components --

    def _saved_credentials(self, *, include_secrets: bool) -> dict[str, str]:
        """Credentials given in code are written only with ``include_secrets``; those of the environment are found
        again when the config is loaded."""
        if self._api_key_env:
            return {"api_key_env": self._api_key_env}
        if not include_secrets or not self._auth.explicit:
            return {}
        if self._auth.bearer is not None:
            return {"api_key": self._auth.bearer.get()}
        static = self._auth.static
        assert static is not None
        saved = {"aws_access_key_id": static.access_key, "aws_secret_access_key": static.secret_key}
        return {**saved, "aws_session_token": static.token} if static.token else saved

    @classmethod
    def _from_config(cls, config: BedrockClientConfig) -> BedrockChatCompletionClient:
        """A loaded config's ``profile`` signs only for Bedrock's own endpoints (or the environment's), and not
        through a proxy of the config's that could read the requests, as keys of the environment do: a config is
        data, and must not have your credentials sign for a host its author names."""
        endpoint = _endpoint(config.base_url, resolve_region(config.region, config.profile)) if config.profile else ""
        if config.profile and not trusted_endpoint(endpoint):
            raise ComponentConfigError(
                "bedrock: a config's profile signs only for Bedrock's endpoints or AWS_ENDPOINT_URL_BEDROCK_RUNTIME, "
                "and this one names another endpoint; make the client in code to use that profile there"
            )
        target = config.base_url or next((os.environ[name] for name in ENDPOINT_ENVS if os.environ.get(name)), "https:")
        if config.profile and proxy_can_read(config.proxy, target, verify_ssl=config.verify_ssl):
            raise ComponentConfigError(
                "bedrock: a config's profile does not sign through a proxy that could read the requests (plain HTTP, "
                "or verify_ssl false), as this one names; make the client in code to use that profile there"
            )
        arguments = config_arguments(config, cls.component_provider, skip=("add_name_prefixes",))
        return cls(
            config.model,
            region=config.region,
            profile=config.profile,
            base_url=config.base_url,
            aws_access_key_id=config.aws_access_key_id,
            aws_secret_access_key=config.aws_secret_access_key,
            aws_session_token=config.aws_session_token,
            **arguments,
        )


def _named_key(name: str, *, own: bool) -> str:
    """The key in the variable ``api_key_env`` names; a loaded config reads one other than
    ``AWS_BEARER_TOKEN_BEDROCK`` (for Bedrock's own endpoints) only when the caller allowed it."""
    value = config_env(name, "named by api_key_env", own=own and name == BEARER_ENV)
    if not value:
        raise InvalidRequestError(f"api_key_env names {name!r}, which is not set")
    return value


def _control_plane(base_url: str) -> str:
    """The control plane beside a runtime endpoint (``bedrock-runtime.`` becomes ``bedrock.``), keeping the path of
    any other endpoint."""
    url = URL(base_url)
    host = url.host or ""
    if host.startswith("bedrock-runtime."):
        return str(url.with_host("bedrock." + host.removeprefix("bedrock-runtime.")))
    return base_url


def _endpoint(base_url: str | None, region: str | None) -> str:
    """The endpoint: ``base_url``, else the environment's, else Bedrock's in ``region``."""
    named = base_url or next((os.environ[name] for name in ENDPOINT_ENVS if os.environ.get(name)), None)
    if named is not None:
        if not named.startswith(("http://", "https://")):
            raise InvalidRequestError("base_url must start with http:// or https://")
        return check_url(named.rstrip("/"), "base_url" if base_url else "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    if not region:
        raise InvalidRequestError(
            "region was not given and none is set (AWS_REGION, AWS_DEFAULT_REGION or the profile's region)"
        )
    return endpoint_for(region)


def _check_usable(auth: Auth, region: str | None, base_url: str | None) -> None:
    """Signing needs a region; AWS's own endpoint needs credentials."""
    if (auth.static is not None or auth.chain is not None) and not region:
        raise InvalidRequestError(
            "region was not given and none is set (AWS_REGION, AWS_DEFAULT_REGION or the profile's region); "
            "SigV4 signs for one region"
        )
    if auth.source == "none" and base_url is None and not any(os.environ.get(name) for name in ENDPOINT_ENVS):
        if auth.withheld:
            raise InvalidRequestError(
                f"region {region!r} makes an endpoint that is not one of Bedrock's hosts; credentials from the "
                f"environment ({auth.withheld}) go only to Bedrock's own: give a region's name such as us-east-1"
            )
        raise InvalidRequestError(
            "no AWS credentials: give aws_access_key_id and aws_secret_access_key, api_key (a Bedrock API key), or "
            "set them in the environment or the shared AWS files"
        )
