"""The retry policy as pure functions, with an injected clock and random source (wire-behaviour B-13)."""

from __future__ import annotations

import email.utils

import pytest

from modelport import RetryPolicy, errors
from modelport._retry import backoff, parse_retry_after, retry_delay, should_retry

NOW = 1_700_000_000.0


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "20"}, 20.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after": "0"}, None),
    ({"retry-after": "-10"}, None),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "99999999999999999999"}, 99999999999999999999.0),
    ({"retry-after": http_date(30)}, 30.0),
    ({"retry-after": http_date(-30)}, None),
    ({"retry-after": "Zun, 29 Sep 2023 16:26:57 GMT"}, None),
    ({"retry-after": "Fri, 29 Sep 99999 16:26:57 GMT"}, None),
    ({"retry-after": ""}, None),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after-ms": "garbage", "retry-after": "9"}, 9.0),
    ({"x-ratelimit-reset-requests": "1m30s"}, 90.0),
    ({"x-ratelimit-reset-tokens": "250ms"}, 0.25),
    ({"x-ratelimit-reset-requests": "6s", "x-ratelimit-reset-tokens": "1.57s"}, 6.0),
    ({"x-ratelimit-reset-requests": "soon"}, None),
    ({}, None),
])
def test_B13_retry_after_matrix(headers: dict[str, str], expected: float | None) -> None:
    value = parse_retry_after(headers, NOW)
    assert value == (pytest.approx(expected) if expected is not None else None)


def status_error(status: int, cls: type = errors.APIStatusError) -> errors.APIStatusError:
    return cls("x", status_code=status)


@pytest.mark.parametrize(("status", "retried"), [(400, False), (401, False), (403, False), (404, False),
                                                 (408, True), (409, True), (413, False), (422, False), (429, True),
                                                 (500, True), (502, True), (503, True), (504, True), (529, True)])
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert should_retry(status, {}) is retried


def test_x_should_retry_header_wins() -> None:
    assert should_retry(400, {"x-should-retry": "true"}) is True
    assert should_retry(500, {"x-should-retry": "false"}) is False


def test_quota_429_is_not_retried() -> None:
    assert should_retry(429, {}, status_error(429, errors.QuotaExceededError)) is False


def test_backoff_is_capped_exponential_with_jitter() -> None:
    top = RetryPolicy(random=lambda: 0.0)
    low = RetryPolicy(random=lambda: 0.999999)
    assert [backoff(n, top) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert all(0.75 * backoff(n, top) < backoff(n, low) <= backoff(n, top) for n in range(6))
    assert backoff(10_000, top) == 8.0  # no OverflowError on absurd counts


def test_retry_delay_honours_the_cap_and_attaches_retry_after() -> None:
    policy = RetryPolicy(max_retries=3, max_retry_after=60, clock=lambda: NOW, random=lambda: 0.0)
    error = status_error(429)
    assert retry_delay(error, {"retry-after": "3"}, 0, policy) == 3.0
    error = status_error(429)
    assert retry_delay(error, {"retry-after": "120"}, 0, policy) is None and error.retry_after == 120.0
    error = status_error(503)
    assert retry_delay(error, {}, 3, policy) is None  # retries used up
    assert retry_delay(status_error(400), {}, 0, policy) is None
    assert retry_delay(errors.APIConnectionError("x"), {}, 0, policy) == 0.5


def test_retry_policy_validates_itself() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="max_delay"):
        RetryPolicy(max_delay=-1)
