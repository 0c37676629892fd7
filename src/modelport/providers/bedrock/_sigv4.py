"""AWS Signature Version 4 over one HTTP request, with ``hashlib`` and ``hmac`` only.

:func:`sign` adds ``x-amz-date``, ``x-amz-security-token`` (with temporary credentials) and ``authorization`` to
the headers of a request about to be sent, computed over its method, URL, headers and exact body bytes, as AWS's
own signer does for services other than S3: every header is signed but the hop-by-hop ones and ``user-agent``, the
host is the URL's (its port only when not the default), the path is escaped once more (AWS's services compare
against the doubly escaped path), and the body's SHA-256 is signed. The client calls it before every attempt, so a
retry carries a fresh date and signature.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

from yarl import URL

__all__ = ["AWSCredentials", "sign"]

ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED = frozenset(
    {
        "authorization",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class AWSCredentials:
    """An access key, its secret and, for temporary credentials, the session token; ``expires`` (UTC) when they
    expire. The secret and the token never appear in the repr."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires: datetime | None = None
    derived: dict[tuple[str, str, str], bytes] = field(default_factory=dict, repr=False, compare=False)
    """Signing keys derived from the secret, by day, region and service."""

    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from errors (the access key id is not secret, but it is not shown either)."""
        return tuple(value for value in (self.secret_key, self.token, self.access_key) if value)


def _host(url: URL) -> str:
    host = (url.raw_host or "").lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if url.explicit_port is not None and url.explicit_port != _DEFAULT_PORTS.get(url.scheme):
        host = f"{host}:{url.explicit_port}"
    return host


@functools.lru_cache(maxsize=64)
def _canonical_path(raw_path: str) -> str:
    """The path with dot segments and empty segments removed, then escaped once more (as AWS compares it); a client
    sends to two paths, so each is worked out once."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def _canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    return "&".join(f"{key}={value}" for key, _, value in sorted(p.partition("=") for p in raw_query.split("&")))


def _signing_key(credentials: AWSCredentials, date: str, region: str, service: str) -> bytes:
    """The key of one day, region and service, derived once per credentials (it is the same for every request that
    day) and kept with them, so it lives no longer than they do."""
    found = credentials.derived.get((date, region, service))
    if found is not None:
        return found
    key = hmac.digest(f"AWS4{credentials.secret_key}".encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    if len(credentials.derived) >= 8:
        credentials.derived.clear()
    credentials.derived[(date, region, service)] = key
    return key


def sign(
    method: str,
    url: URL,
    headers: dict[str, str],
    body: bytes | None,
    *,
    credentials: AWSCredentials,
    region: str,
    service: str = "bedrock",
    now: datetime | None = None,
) -> None:
    """Add the SigV4 headers to ``headers`` (a fresh copy of the request's), signing ``body`` as it will be sent."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    timestamp = moment.strftime("%Y%m%dT%H%M%SZ")
    for name in [name for name in headers if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token")]:
        del headers[name]
    headers["x-amz-date"] = timestamp
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    signed = {name.lower(): " ".join(value.split()) for name, value in headers.items() if name.lower() not in _UNSIGNED}
    signed.setdefault("host", _host(url))
    names = sorted(signed)
    canonical = "\n".join(
        (
            method.upper(),
            _canonical_path(url.raw_path),
            _canonical_query(url.raw_query_string),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body or b"").hexdigest(),
        )
    )
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _signing_key(credentials, timestamp[:8], region, service)
    signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
