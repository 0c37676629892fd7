"""Google's error envelope on the error tree: ``{"error": {"code", "message", "status", "details"}}``, as an HTTP
error body, inside a 200 body, or as one event of a stream.

The class follows the HTTP code, corrected by what Google says beside it: ``ErrorInfo.reason`` ``API_KEY_INVALID``
(sent with 400) is an :class:`~modelport.AuthenticationError`; a 400 whose message says the input has more tokens
than the model allows is a :class:`~modelport.ContextLengthExceededError`; a 429 with ``RetryInfo`` is a
:class:`~modelport.RateLimitError` (waiting clears it) whose ``retry_after`` is ``RetryInfo.retryDelay``, which the
transport honours as it does a ``Retry-After`` header; a 429 without it that speaks of quota or billing is a
:class:`~modelport.QuotaExceededError`. ``code`` is Google's ``status`` (``RESOURCE_EXHAUSTED``...), ``type`` the
``ErrorInfo`` reason where there is one. Anything else (an HTML page, an empty body) is read as most servers' are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ... import errors
from .._errors import error_from_response, request_id_from

__all__ = ["google_error", "is_google_error", "retry_delay"]

_BY_CODE: dict[int, type[errors.APIStatusError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    408: errors.RequestTimeoutError,
    409: errors.ConflictError,
    413: errors.RequestTooLargeError,
    429: errors.RateLimitError,
}
_CODE_BY_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_CONTEXT = re.compile(
    r"exceeds the maximum number of tokens|input token count.*exceeds|context (length|window)|too many tokens",
    re.IGNORECASE,
)
_QUOTA = re.compile(r"quota|billing", re.IGNORECASE)
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_INVALID"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def is_google_error(body: Any) -> bool:
    """Whether ``body`` is Google's envelope (also as the one-item list some endpoints send)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def retry_delay(details: Any) -> float | None:
    """``RetryInfo.retryDelay`` in seconds (a protobuf duration, ``"37s"`` or ``"1.5s"``), or None."""
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            match = _DURATION.match(delay) if isinstance(delay, str) else None
            if match:
                seconds = float(match.group(1))
                return seconds if math.isfinite(seconds) and seconds > 0 else None
    return None


def _reason(details: Any) -> str | None:
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            reason = detail.get("reason")
            return reason if isinstance(reason, str) and reason else None
    return None


def _class(code: int, reason: str | None, message: str, delay: float | None) -> type[errors.APIStatusError]:
    if reason in _AUTH_REASONS:
        return errors.AuthenticationError
    if code == 400 and _CONTEXT.search(message):
        return errors.ContextLengthExceededError
    if code == 429 and delay is None and _QUOTA.search(message):
        return errors.QuotaExceededError
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    return errors.ServerError if code >= 500 else errors.APIStatusError


def google_error(
    status: int | None,
    headers: Mapping[str, str],
    raw: bytes | None = None,
    *,
    provider: str,
    payload: Any = None,
    request_id: str | None = None,
    partial: Any = None,
) -> errors.APIStatusError:
    """The typed error of Google's envelope: from an HTTP error response (``status``, ``headers``, ``raw``), or from
    an envelope inside a 200 body or stream (``payload``, ``status`` None: the envelope's own code is the status)."""
    body = payload
    if raw is not None:
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        if not is_google_error(body):
            assert status is not None
            return error_from_response(status, headers, raw, provider=provider)
    envelope = (body[0] if isinstance(body, list) else body)["error"]
    google_status = envelope.get("status") if isinstance(envelope.get("status"), str) else None
    code = envelope.get("code")
    if status is None:
        status = code if type(code) is int and 400 <= code < 600 else _CODE_BY_STATUS.get(google_status or "", 500)
    message = envelope.get("message") if isinstance(envelope.get("message"), str) else ""
    details = envelope.get("details")
    delay, reason = retry_delay(details), _reason(details)
    cls = _class(status, reason, message, delay)
    in_stream = raw is None
    text = f"{provider} returned {status}{' (in stream)' if in_stream else ''}" + (f": {message}" if message else "")
    kwargs: dict[str, Any] = dict(
        status_code=status,
        code=google_status,
        type=reason,
        retry_after=delay,
        in_stream=in_stream,
        provider=provider,
        request_id=request_id or request_id_from(headers),
        body=body,
        partial=partial,
    )
    return cls(text, **kwargs)
