"""The retry policy: when a failed attempt is tried again, and after how long. Pure functions over a
:class:`RetryPolicy` whose ``sleep``, ``clock`` and ``random`` can be replaced, so tests never wait on a real clock."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "backoff", "parse_retry_after", "retry_delay", "should_retry"]

RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass
class RetryPolicy:
    """When and how long to wait before trying again.

    Retried: 408, 409, 429 (not a quota or billing 429), 5xx and connection failures, unless the server says
    ``x-should-retry: false``; anything with ``x-should-retry: true``. Waits are capped exponential back-off with
    jitter, or exactly what ``retry-after-ms`` / ``Retry-After`` / ``x-ratelimit-reset-*`` ask. A server-directed
    wait longer than ``max_retry_after`` is not slept through: the error is raised at once with ``retry_after`` set.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise errors.InvalidRequestError(f"max_retries must be 0 or more, got {self.max_retries}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise errors.InvalidRequestError(f"{name} must be 0 or more, got {getattr(self, name)}")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    """Groq/OpenAI reset headers: ``6s``, ``1m30s``, ``1.57s``, ``250ms``, or a bare number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, or ``None`` when it said nothing usable (0, negative, garbage)."""
    value: float | None = None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000
        except ValueError:
            value = None
    if value is None and headers.get("retry-after"):
        raw = headers["retry-after"]
        try:
            value = float(raw)
        except ValueError:
            try:
                parsed = email.utils.parsedate_tz(raw)
                value = email.utils.mktime_tz(parsed) - now if parsed else None
            except (OverflowError, ValueError):
                value = None
    if value is None:
        resets = [
            _duration(headers[h]) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens") if headers.get(h)
        ]
        known = [r for r in resets if r is not None]
        value = max(known) if known else None
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return value


def backoff(retry_number: int, policy: RetryPolicy) -> float:
    """Exponential back-off for the ``retry_number``-th retry (0-based), with jitter in (75%, 100%]."""
    delay = min(policy.initial_delay * 2.0 ** min(retry_number, 30), policy.max_delay)
    return delay * (1 - 0.25 * policy.random())


def should_retry(status: int, headers: Mapping[str, str], error: errors.APIError | None = None) -> bool:
    verdict = headers.get("x-should-retry")
    if verdict == "true":
        return True
    if verdict == "false":
        return False
    if isinstance(error, errors.QuotaExceededError):
        return False
    return status in RETRYABLE_STATUS or status >= 500


def retry_delay(
    error: errors.APIError, headers: Mapping[str, str], retry_number: int, policy: RetryPolicy
) -> float | None:
    """How long to wait before the next attempt, or ``None`` if the error must be raised now.

    The rule, the same for ``create`` and for a stream before its first delta: retry what can go differently next
    time. That is a connection that failed, stalled or was cut before the answer was whole (``APIConnectionError``,
    ``APITimeoutError``, ``IncompleteStreamError``), and 408, 409, 429 (not a quota 429) and 5xx, whether the server
    sent them as the status or as an error inside a 200 body or stream. A 200 that is not a valid answer (an HTML
    page, invalid JSON, a chunk that is not an object) is not retried: the server would say the same again.

    ``retry_number`` counts the retries already made. Sets ``error.retry_after`` when the server asked for a wait in
    its headers; a wait the dialect read from the error's body (``error.retry_after`` already set) counts the same.
    """
    if isinstance(error, errors.APIStatusError):
        directed = parse_retry_after(headers, policy.clock())
        if directed is not None:
            error.retry_after = directed
        elif error.retry_after is not None and math.isfinite(error.retry_after) and error.retry_after > 0:
            directed = error.retry_after  # a wait the body asked for (Google's RetryInfo.retryDelay)
        if retry_number >= policy.max_retries or not should_retry(error.status_code, headers, error):
            return None
        if directed is not None:
            return directed if directed <= policy.max_retry_after else None
    elif retry_number >= policy.max_retries or not isinstance(
        error, (errors.APIConnectionError, errors.IncompleteStreamError)
    ):
        return None
    return backoff(retry_number, policy)
