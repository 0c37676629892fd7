"""Error envelopes of every provider, parsed into modelport's error classes (wire-behaviour B1, B4).

Pure functions: status, headers and body bytes in, an ``APIStatusError`` subclass out. Envelopes understood:
OpenAI ``{"error":{...}}``, vLLM and Mistral top-level ``{"object":"error",...}``, Gemini's list
``[{"error":{...}}]``, Azure (codes as strings, ``innererror`` filter results), Anthropic
``{"type":"error","error":{...}}``, Ollama's ``{"error":"text"}``, FastAPI's ``{"detail":[...]}``, HTML pages
(summarised by their title, never printed whole: they can hold the caller's IP) and empty bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from .. import errors
from .._http import request_id_from

__all__ = ["error_from_payload", "error_from_response", "request_id_from"]


_BY_STATUS: dict[int, type[errors.APIStatusError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    408: errors.RequestTimeoutError,
    409: errors.ConflictError,
    413: errors.RequestTooLargeError,
    422: errors.UnprocessableEntityError,
    429: errors.RateLimitError,
    529: errors.OverloadedError,
}

# In-band errors carry a type, not a status: the status each type stands for.
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "overloaded_error": 529,
    "server_error": 500,
    "api_error": 500,
}

_CONTEXT_PATTERNS = re.compile(
    r"maximum context length|context length|context window|exceeds the available context size|too many tokens"
    r"|prompt is too long",
    re.IGNORECASE,
)
_QUOTA_PATTERNS = re.compile(
    r"exceeded your current quota|billing|insufficient_quota|credit|request too large", re.IGNORECASE
)
_HTML_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _envelope(body: Any) -> dict[str, Any]:
    """The dict that holds message/type/code, whatever the envelope."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    if "detail" in body and "message" not in body:
        return {"message": _detail_text(body["detail"])}
    return body


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _text_summary(raw: bytes) -> str:
    title = _HTML_TITLE.search(raw[:65536])
    if title:
        return " ".join(title.group(1).decode("utf-8", "replace").split())
    if raw.lstrip()[:1] == b"<":
        return "HTML error page"
    text = raw.decode("utf-8", "replace").strip()
    return text[:300] + ("..." if len(text) > 300 else "")


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    provider: str,
    retry_after: float | None = None,
    attempts: int = 1,
) -> errors.APIStatusError:
    """The error for an HTTP error response."""
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace")
        summary = _text_summary(raw)
        data: dict[str, Any] = {"message": summary} if summary else {}
    else:
        data = _envelope(body)
    return _build(
        status,
        data,
        body,
        provider=provider,
        request_id=request_id_from(headers),
        retry_after=retry_after,
        in_stream=False,
        attempts=attempts,
    )


def error_from_payload(
    payload: Any, *, provider: str, request_id: str | None, partial: Any = None
) -> errors.APIStatusError:
    """The error for an error event inside a 200 stream (``data: {"error":...}``, ``event: error``, llama.cpp's
    ``error:`` line, Anthropic's ``{"type":"error"}``)."""
    data = _envelope(payload)
    status = data.get("status_code") or data.get("status")
    if not isinstance(status, int):
        code = data.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else None
    if status is None:
        status = _STATUS_BY_TYPE.get(str(data.get("type")), 500)
    return _build(
        status,
        data,
        payload,
        provider=provider,
        request_id=request_id,
        retry_after=None,
        in_stream=True,
        partial=partial,
    )


def _build(
    status: int,
    data: dict[str, Any],
    body: Any,
    *,
    provider: str,
    request_id: str | None,
    retry_after: float | None,
    in_stream: bool,
    partial: Any = None,
    attempts: int = 1,
) -> errors.APIStatusError:
    message = data.get("message")
    message = message if isinstance(message, str) and message else None
    code = _str_or_none(data.get("code"))
    err_type = _str_or_none(data.get("type"))
    cls = _classify(status, code, err_type, message or "")
    where = " (in stream)" if in_stream else ""
    text = f"{provider} returned {status}{where}" + (f": {message}" if message else "")
    if code == "DeploymentNotFound":
        text += " (Azure expects the deployment name here, not the model name)"
    kwargs: dict[str, Any] = dict(
        status_code=status,
        code=code,
        type=err_type,
        param=_str_or_none(data.get("param")),
        retry_after=retry_after,
        in_stream=in_stream,
        failed_generation=_str_or_none(data.get("failed_generation")),
        provider=provider,
        request_id=request_id,
        body=body,
        partial=partial,
        attempts=attempts,
    )
    if cls is errors.ContentFilterError:
        inner = data.get("innererror")
        inner = inner if isinstance(inner, dict) else {}
        return errors.ContentFilterError(
            text, stage="prompt", filter_results=inner.get("content_filter_result"), **kwargs
        )
    return cls(text, **kwargs)


def _classify(status: int, code: str | None, err_type: str | None, message: str) -> type[errors.APIStatusError]:
    if err_type == "overloaded_error":
        return errors.OverloadedError
    if status == 400 or (status == 413 and code == "context_length_exceeded"):
        if code == "context_length_exceeded" or _CONTEXT_PATTERNS.search(message):
            return errors.ContextLengthExceededError
        if code == "content_filter":
            return errors.ContentFilterError
    if status == 429 and (
        code == "insufficient_quota" or err_type == "insufficient_quota" or _QUOTA_PATTERNS.search(message)
    ):
        return errors.QuotaExceededError
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return errors.ServerError
    return errors.APIStatusError
