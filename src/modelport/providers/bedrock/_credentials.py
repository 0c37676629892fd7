"""Which AWS credentials a Bedrock client signs with, and which region it calls, in the order AWS's own tools use.

Credentials, first found wins: the ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``
arguments; a Bedrock API key (``api_key``, else ``AWS_BEARER_TOKEN_BEDROCK``), sent as a bearer token instead of a
signature; ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``; the shared credentials and config
files (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``, by default under ``~/.aws``) for ``profile``, else
``AWS_PROFILE``, else ``default``; and, when ``botocore`` is installed (the ``bedrock`` extra), its credential chain
(SSO, web identity, container and instance metadata, assumed roles), refreshed before expiry.

What comes from the environment (variables, files, the chain) goes only to Bedrock's own endpoints (``https``
``bedrock-runtime.{region}.amazonaws.com`` and its FIPS and VPC-endpoint forms; not any host under
``amazonaws.com``) or to the endpoint the environment names (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, else
``AWS_ENDPOINT_URL``); a ``base_url`` given in code gets only credentials given in code, or a ``profile`` named
in code. When the client's proxy could read what it sends (plain HTTP, or TLS unchecked), a config being loaded
reads them only when the caller allows them by name (``allow_env``). The region: the ``region`` argument,
``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yarl import URL

from ..._redact import Secret
from ...components import config_env
from ...errors import InvalidRequestError
from ._sigv4 import AWSCredentials

__all__ = ["Auth", "profile_settings", "resolve_auth", "resolve_region", "trusted_endpoint"]

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class Auth:
    """How a client authenticates: ``bearer`` (a Bedrock API key), ``static`` credentials, a ``chain`` that
    gives fresh ones (botocore's), or nothing; ``source`` says where they came from (never what they are);
    ``withheld`` names credentials of the environment not sent to this endpoint."""

    source: str
    bearer: Secret | None = None
    static: AWSCredentials | None = None
    chain: Callable[[], AWSCredentials] | None = None
    withheld: str | None = None
    explicit: bool = False
    """Whether they were given in code (arguments or a key), so a config saves them only with secrets."""

    async def current(self) -> AWSCredentials | None:
        """The credentials to sign the next attempt with (the chain's, refreshed when near expiry, off the loop)."""
        if self.chain is not None:
            return await asyncio.to_thread(self.chain)
        return self.static


_BEDROCK_HOST = re.compile(
    r"(?:vpce-[a-z0-9-]+\.)?bedrock(?:-runtime)?(?:-fips)?\.[a-z]{2}(?:-[a-z]+)+-\d+\.(?:vpce\.)?amazonaws\.com(?:\.cn)?"
)
"""Bedrock's own hosts (runtime and control plane, FIPS, interface VPC endpoints). Not any host under amazonaws.com:
anyone can serve https there (API Gateway, S3 buckets, load balancers)."""


def trusted_endpoint(url: str) -> bool:
    """Whether environment credentials may go to ``url``: Bedrock's own host over https, or the endpoint the
    environment names."""
    parsed = URL(url)
    if parsed.scheme == "https" and _BEDROCK_HOST.fullmatch((parsed.host or "").lower()):
        return True
    named = [os.environ.get(name) for name in ENDPOINT_ENVS]
    return any(value and value.rstrip("/") == url.rstrip("/") for value in named)


def _files() -> tuple[Path, Path]:
    home = Path.home() / ".aws"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / "credentials")
    config = os.environ.get("AWS_CONFIG_FILE") or str(home / "config")
    return Path(credentials).expanduser(), Path(config).expanduser()


def _section(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the AWS file {path.name} cannot be read: {type(exc).__name__}") from None
    for name in names:
        if parser.has_section(name):
            return {key: value.strip() for key, value in parser.items(name)}
    return {}


def profile_settings(profile: str) -> dict[str, str]:
    """A profile's settings: the config file's ``[profile name]`` (``[default]``) under the credentials file's
    ``[name]``."""
    credentials_file, config_file = _files()
    config = _section(config_file, (f"profile {profile}", profile) if profile != "default" else ("default",))
    return {**config, **_section(credentials_file, (profile,))}


def _keys(access: str | None, secret: str | None, token: str | None, where: str) -> AWSCredentials | None:
    if not access and not secret:
        return None
    if not access or not secret:
        missing = "the secret access key" if access else "the access key id"
        raise InvalidRequestError(f"{where}: {missing} is missing; give both or neither")
    return AWSCredentials(access, secret, token or None)


def resolve_auth(
    *,
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
    api_key: str | None,
    profile: str | None,
    trusted: bool,
    exposed: bool = False,
) -> Auth:
    """The credentials, in the order of the module's docstring; ``exposed``: a proxy could read them."""
    given = _keys(access_key, secret_key, session_token, "aws_access_key_id and aws_secret_access_key")
    if given is not None:
        return Auth("arguments", static=given, explicit=True)
    if session_token:
        raise InvalidRequestError("aws_session_token was given without aws_access_key_id and aws_secret_access_key")
    if api_key:
        return Auth("api_key", bearer=Secret(api_key, "api_key"), explicit=True)
    if profile is not None:
        return _from_profile(profile, named=True)
    if not trusted:
        present = [name for name in (BEARER_ENV, "AWS_ACCESS_KEY_ID", "AWS_PROFILE") if os.environ.get(name)]
        return Auth("none", withheld=present[0] if present else None)
    bearer = _environment(BEARER_ENV, exposed)
    if bearer:
        return Auth(BEARER_ENV, bearer=Secret(bearer, BEARER_ENV))
    env = _keys(
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
        os.environ.get("AWS_SESSION_TOKEN"),
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    )
    if env is not None:
        _environment("AWS_ACCESS_KEY_ID", exposed)  # the three go together, allowed by the key id's name
        return Auth("environment", static=env)
    found = _from_profile(os.environ.get("AWS_PROFILE") or "default", named=bool(os.environ.get("AWS_PROFILE")))
    if found.source != "none":  # the shared files (or botocore's chain) answered: allowed by that variable's name,
        # whether it is set or the files are where they are by default
        use = "AWS credentials of the shared files, through the proxy this config names"
        config_env("AWS_SHARED_CREDENTIALS_FILE", use, own=not exposed)
    return found


def _environment(name: str, exposed: bool) -> str | None:
    """The variable ``name``; through a proxy that could read it, a config being loaded reads it only when allowed."""
    if not os.environ.get(name):
        return None
    return config_env(name, "AWS credentials, through the proxy this config names", own=not exposed)


def _from_profile(profile: str, *, named: bool) -> Auth:
    settings = profile_settings(profile)
    keys = _keys(
        settings.get("aws_access_key_id"),
        settings.get("aws_secret_access_key"),
        settings.get("aws_session_token"),
        f"profile {profile!r}",
    )
    if keys is not None:
        return Auth(f"profile {profile}", static=keys)
    chain = _botocore_chain(profile if named else None)
    if chain is not None:
        return Auth(f"botocore ({profile})", chain=chain)
    if named:
        raise InvalidRequestError(
            f"profile {profile!r} has no access keys in the shared AWS files; for SSO, roles and the other "
            "sources, install the bedrock extra (pip install 'modelport[bedrock]'), which reads them through botocore"
        )
    return Auth("none")


def _botocore_chain(profile: str | None) -> Callable[[], AWSCredentials] | None:
    """botocore's credential chain, when it is installed and finds credentials; each call gives them fresh."""
    try:
        import botocore.session  # type: ignore[import-untyped]  # the optional ``bedrock`` extra
    except ImportError:
        return None
    session = botocore.session.Session(profile=profile)
    try:
        found: Any = session.get_credentials()
    except Exception as exc:  # botocore raises its own errors for a broken profile
        raise InvalidRequestError(f"botocore could not resolve AWS credentials: {type(exc).__name__}") from None
    if found is None:
        return None

    def current() -> AWSCredentials:
        frozen = found.get_frozen_credentials()  # refreshes temporary credentials before they expire
        return AWSCredentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    return current


def resolve_region(region: str | None, profile: str | None) -> str | None:
    """The region: the argument, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region``; checked to
    be a region's name, as it becomes part of the endpoint's host."""
    if region:
        return _region_name(region, "region")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return _region_name(os.environ[name], name)
    named = profile_settings(profile or os.environ.get("AWS_PROFILE") or "default").get("region")
    return _region_name(named, "the profile's region") if named else None


_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
"""What botocore takes as a region's name: one DNS label."""


def _region_name(value: str, where: str) -> str:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidRequestError(f"{where} must be an AWS region's name (such as us-east-1), got {value!r}")
    return value
