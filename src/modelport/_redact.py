"""Credentials: which headers hold them, how they are checked, and how they are kept out of errors and reprs.

A header is a credential when its name says so (key, token, auth, secret, subscription, cookie, password,
signature): ``Authorization``, ``api-key``, ``x-api-key``, ``x-goog-api-key``, ``Ocp-Apim-Subscription-Key``,
``X-Auth-Token``, ``Proxy-Authorization``... Their values are masked in every ``repr``, left out of saved configs,
and scrubbed from the text, body and cause of every error a client raises (a server that echoes the key back in a
401 body must not put it into a traceback, a log or an error tracker).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import APIError, InvalidRequestError, ModelportError

__all__ = [
    "MASK",
    "RedactedHeaders",
    "RedactedURL",
    "Secret",
    "SecretValues",
    "check_credential",
    "check_headers",
    "check_proxy",
    "header_secrets",
    "is_secret_header",
    "proxy_secrets",
    "scrub_error",
]

MASK = "**********"
_SECRET_NAME = re.compile(r"key|token|auth|secret|subscription|cookie|passw|signature|credential", re.IGNORECASE)
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SCHEMES = ("bearer ", "basic ", "token ")
_MIN_SECRET = 4  # shorter values are not scrubbed from text: they would mangle it and hide nothing


def is_secret_header(name: str) -> bool:
    """True when a header's name says that it carries a credential."""
    return _SECRET_NAME.search(name) is not None


def check_credential(value: str, field: str, *, inner_spaces: bool = False) -> str:
    """``value`` if it can be sent as a credential, else :class:`InvalidRequestError` naming ``field`` (never the
    value itself): no surrounding white space (a key read from a file often ends in a newline), and only visible
    ASCII, which is all a key or token is made of and all that an HTTP header carries unchanged (with
    ``inner_spaces``, spaces inside too, as in a whole ``Authorization: Bearer ...`` value)."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a str, not {type(value).__name__}")
    if value != value.strip():
        raise InvalidRequestError(
            f"{field} begins or ends with white space (a newline read from a file?); strip it before passing it"
        )
    low = "\x20" if inner_spaces else "\x21"
    bad = next((ch for ch in value if not low <= ch <= "\x7e"), None)
    if bad is not None:
        raise InvalidRequestError(
            f"{field} contains {_describe_char(bad)}, which cannot be part of a key or token sent in an HTTP header"
        )
    return value


def check_headers(headers: Mapping[str, Any] | None, field: str = "default_headers") -> dict[str, str]:
    """A plain copy of ``headers`` once every name is a valid header name and every value a str that HTTP carries
    unchanged (Latin-1, no CR, LF or NUL); otherwise :class:`InvalidRequestError` naming the header."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidRequestError(f"{field} must be a dict of header names to values, not {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidRequestError(f"{field}: {name!r} is not a valid HTTP header name")
        if not isinstance(value, str):
            raise InvalidRequestError(f"{field}[{name!r}] must be a str, not {type(value).__name__}")
        if is_secret_header(name):
            check_credential(value, f"{field}[{name!r}]", inner_spaces=True)
        else:
            bad = next((ch for ch in value if ch in "\r\n\0" or ord(ch) > 0xFF), None)
            if bad is not None:
                raise InvalidRequestError(f"{field}[{name!r}] contains {_describe_char(bad)}, which HTTP cannot carry")
        checked[name] = value
    return checked


def _describe_char(ch: str) -> str:
    if ch.isspace() or not ch.isprintable():
        return f"the character U+{ord(ch):04X}"
    return "a non-ASCII character"


class Secret:
    """A credential that never shows itself in ``repr``, ``str``, logs or tracebacks. Checked when it is made."""

    __slots__ = ("_value",)

    def __init__(self, value: str, field: str = "api_key") -> None:
        self._value = check_credential(value, field)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__


class RedactedHeaders(dict[str, str]):
    """Request headers whose ``repr`` masks every credential."""

    def __repr__(self) -> str:
        shown = {k: (MASK if is_secret_header(k) else v) for k, v in self.items()}
        return f"RedactedHeaders({shown!r})"

    __str__ = __repr__


class SecretValues(tuple[str, ...]):
    """The credential values a client sends, kept to scrub them from errors; its ``repr`` shows none of them."""

    def __repr__(self) -> str:
        return f"SecretValues({len(self)} values)"

    __str__ = __repr__


class RedactedURL(str):
    """A URL (a proxy's) whose ``repr`` hides the password it may hold."""

    __slots__ = ()

    def __repr__(self) -> str:
        from yarl import URL

        url = URL(str(self))
        return repr(str(url.with_password(MASK)) if url.password else str(self))


def check_proxy(proxy: str | None) -> str | None:
    """``proxy`` if it is an http(s) URL (or ``""`` for none), else :class:`InvalidRequestError`."""
    if proxy is None or proxy == "":
        return proxy
    if not isinstance(proxy, str) or not proxy.startswith(("http://", "https://")):
        raise InvalidRequestError("proxy must be an http:// or https:// URL (or '' for no proxy)")
    return proxy


def proxy_secrets(proxy: str | None) -> list[str]:
    """The password a proxy URL carries, if any (also percent-decoded), to scrub from errors."""
    if not proxy:
        return []
    from yarl import URL

    password = URL(proxy).raw_password
    if not password:
        return []
    return [password, URL(proxy).password or password]


def header_secrets(headers: Mapping[str, str], *more: str) -> SecretValues:
    """The secret values carried by ``headers``: each credential header's value, and the token after its
    ``Bearer``/``Basic`` scheme (a server that echoes a key echoes the key alone)."""
    found: list[str] = []
    for name, value in headers.items():
        if not is_secret_header(name) or not value:
            continue
        found.append(value)
        lowered = value.lower()
        for scheme in _SCHEMES:
            if lowered.startswith(scheme):
                found.append(value[len(scheme) :].strip())
    found.extend(more)
    return SecretValues(s for s in found if len(s) >= _MIN_SECRET)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_value(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, bytes):
        for secret in secrets:
            value = value.replace(secret.encode("latin-1", "replace"), MASK.encode())
        return value
    if depth > 50:
        # Deeper than any real error body: what lies below is masked whole, never kept unscrubbed.
        return MASK if isinstance(value, (dict, list, tuple)) else value
    if isinstance(value, dict):
        return {_redact_value(k, secrets, depth + 1): _redact_value(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v, secrets, depth + 1) for v in value)
    return value


def _stand_in(cause: BaseException, secrets: tuple[str, ...]) -> BaseException:
    """A plain exception that says what ``cause`` said (scrubbed) and holds nothing else. An HTTP library's
    exception can hold the request's headers (aiohttp's ``request_info``), so it never stays in the chain."""
    text = redact_text(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__, secrets)
    if isinstance(cause, (TimeoutError, asyncio.TimeoutError)):
        return TimeoutError(text)
    if isinstance(cause, OSError) or type(cause).__module__.startswith("aiohttp"):
        return ConnectionError(text)
    return RuntimeError(text)


def scrub_error(error: APIError, secrets: Iterable[str]) -> APIError:
    """Make ``error`` safe to show, log and send to an error tracker: the client's ``secrets`` are masked in its
    arguments and in every text attribute (message, body, code, type, param, notes..., and the text inside dicts
    and lists), and its cause chain keeps modelport's own errors (scrubbed) and plain stand-ins for the rest,
    so no key is reachable from it. Returns ``error``, changed in place."""
    found = tuple(s for s in secrets if s)
    _scrub(error, found, set())
    return error


def _scrub(error: BaseException, secrets: tuple[str, ...], seen: set[int]) -> None:
    if id(error) in seen:
        return
    seen.add(id(error))
    if secrets and isinstance(error, ModelportError):
        error.args = tuple(_redact_value(a, secrets) for a in error.args)
        # Every attribute, not a list of names that a new field would escape: a server can echo a key in any of
        # them (code, type, param, message, body, notes...).
        for name, value in list(vars(error).items()):
            if isinstance(value, (str, bytes, dict, list, tuple)):
                setattr(error, name, _redact_value(value, secrets))
    cause = error.__cause__
    if cause is not None:
        if isinstance(cause, ModelportError):
            _scrub(cause, secrets, seen)
        else:
            error.__cause__ = _stand_in(cause, secrets)
    context = error.__context__
    if isinstance(context, ModelportError):
        _scrub(context, secrets, seen)
    elif context is not None:
        error.__context__ = None  # an HTTP library's exception, or the cause just replaced by its stand-in
