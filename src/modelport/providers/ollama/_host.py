"""Where an Ollama server is: ``OLLAMA_HOST`` read as Ollama's own clients read it. Both the native client and the
OpenAI client's ``ollama`` preset (its host + ``/v1``) find the server here."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ...errors import InvalidRequestError
from .._kit import url_shown

__all__ = ["DEFAULT_HOST", "environment_host", "parse_host"]

DEFAULT_HOST = "http://localhost:11434"
DEFAULT_PORT = 11434


def environment_host() -> str | None:
    """The server ``OLLAMA_HOST`` names, as a base URL (``None`` when it is not set)."""
    value = os.environ.get("OLLAMA_HOST")
    if not value:
        return None
    return parse_host(value, "OLLAMA_HOST")


def parse_host(host: str, field: str = "host") -> str:
    """An ``OLLAMA_HOST`` value as a base URL, as Ollama's own clients read it: no scheme means ``http`` and port
    11434; a scheme without a port means its standard port; a path (a reverse proxy's prefix) is kept. A user name
    or password in it is refused, naming ``field`` and never the value."""
    text = host.strip()
    if not text:
        raise InvalidRequestError(f"{field} is empty")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest, port = "http", text, DEFAULT_PORT
    elif scheme.lower() in ("http", "https"):
        scheme = scheme.lower()
        port = 443 if scheme == "https" else 80
    else:
        raise InvalidRequestError(f"{field} must be an http:// or https:// URL or host[:port], got {url_shown(text)}")
    try:
        split = urlsplit(f"{scheme}://{rest}")
        hostname = split.hostname or "127.0.0.1"
        port = split.port or port
    except ValueError:
        raise InvalidRequestError(f"{field} is not a valid host[:port] or URL: {url_shown(text)}") from None
    if split.username is not None or split.password is not None:
        raise InvalidRequestError(
            f"{field} holds a user name or password (user:password@ before the host), which a URL is no place for: "
            "it would be kept in the client's repr and saved configs. Give the host without it, and the credential "
            "in default_headers (an Authorization header)"
        )
    if ":" in hostname:  # an IPv6 address
        hostname = f"[{hostname}]"
    return f"{scheme}://{hostname}:{port}{split.path.rstrip('/')}"
