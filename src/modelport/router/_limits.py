"""Rate limits and the router's shared state: rolling-window reservations, in-flight counts, cooldowns.

A :class:`RateLimit` allows at most ``requests`` request starts (or ``tokens`` reserved tokens) in *any* window of
``per`` seconds: a rolling window, so there is never a burst of 2N across a boundary. A call reserves one request
and its estimated tokens before it is sent, and settles with the tokens it really used afterwards. Settling also
counts the call again from that moment: the router cannot see when the request reached the server (a new
connection may take a while), only that the server had it by the time it answered, so a server measuring its own
window never sees more than N (the price: a window of ``per`` plus the call's latency).

:class:`RouterState` is the seam every state implements; :class:`LocalRouterState` keeps it in this process. A
distributed state (``RedisRouterState``, planned) implements the same async methods with one Lua script per
method, so each check-and-reserve is atomic across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Denial", "Grant", "LocalRouterState", "RateLimit", "RouterState"]


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests, or ``tokens`` tokens, starting in any window of ``per`` seconds."""

    requests: int | None = None
    tokens: int | None = None
    per: float = 60.0

    def __post_init__(self) -> None:
        if (self.requests is None) == (self.tokens is None):
            raise ValueError("a RateLimit counts either requests= or tokens=, exactly one of them")
        amount = self.requests if self.requests is not None else self.tokens
        if amount is None or amount < 1:
            raise ValueError(f"a RateLimit allows at least 1, got {amount}")
        if self.per <= 0:
            raise ValueError(f"per must be positive seconds, got {self.per}")

    @property
    def amount(self) -> int:
        """The number of requests or tokens allowed per window."""
        return self.requests if self.requests is not None else (self.tokens or 0)

    @property
    def kind(self) -> str:
        """``"requests"`` or ``"tokens"``."""
        return "requests" if self.requests is not None else "tokens"

    def describe(self) -> str:
        """``"10 requests per 1s"``: how the limit reads in an error message."""
        return f"{self.amount} {self.kind} per {self.per:g}s"


@dataclass(frozen=True)
class Grant:
    """A reservation made: the deployment, its id (for :meth:`RouterState.settle`) and the tokens reserved."""

    deployment: str
    ticket: int
    tokens: int


@dataclass(frozen=True)
class Denial:
    """No capacity now: ``wait`` seconds until some may free (``None``: when an in-flight call ends; ``inf``:
    never, the request alone exceeds a limit), and ``reason``, which limit was full."""

    deployment: str
    wait: float | None
    reason: str


class RouterState(ABC):
    """What the router asks of its state. Every method is async so a networked state can implement it."""

    @abstractmethod
    async def reserve(
        self, deployment: str, limits: Sequence[RateLimit], tokens: int, max_concurrency: int | None
    ) -> Grant | Denial:
        """Atomically: if every limit and the concurrency bound has room, record one request start, ``tokens``
        reserved tokens and one call in flight, and grant; otherwise change nothing and deny."""

    @abstractmethod
    async def settle(self, grant: Grant, tokens: int | None) -> None:
        """The call ended: it is no longer in flight, and its reserved tokens become ``tokens`` (``None``: keep
        the estimate). The request start stays counted."""

    @abstractmethod
    async def in_flight(self, deployment: str) -> int:
        """Calls under way on ``deployment``."""

    @abstractmethod
    async def cool(self, deployment: str, seconds: float) -> None:
        """Skip ``deployment`` for ``seconds`` (a longer cooldown already set is kept)."""

    @abstractmethod
    async def cooling(self, deployment: str) -> float:
        """Seconds left of ``deployment``'s cooldown (0 when it is healthy)."""

    @abstractmethod
    async def failed(self, deployment: str) -> int:
        """Count one more consecutive failure; returns the count."""

    @abstractmethod
    async def succeeded(self, deployment: str) -> None:
        """Reset the consecutive failures."""

    @abstractmethod
    async def wait_for_change(self, timeout: float | None) -> None:
        """Return when a call settles (capacity may have freed) or after ``timeout`` seconds."""


@dataclass
class _Usage:
    entries: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Each call by ticket: when it counts from, and its tokens."""
    open: set[int] = field(default_factory=set)
    """The tickets not yet settled (kept however old, to be counted again when they settle)."""
    in_flight: int = 0
    cooled_until: float = 0.0
    failures: int = 0


class LocalRouterState(RouterState):
    """The router's state in this process's memory (the default). ``clock`` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._usage: dict[str, _Usage] = {}
        self._tickets = itertools.count(1)
        self._changed: asyncio.Event | None = None

    def _of(self, deployment: str) -> _Usage:
        return self._usage.setdefault(deployment, _Usage())

    async def reserve(
        self, deployment: str, limits: Sequence[RateLimit], tokens: int, max_concurrency: int | None
    ) -> Grant | Denial:
        usage, now = self._of(deployment), self._clock()
        if max_concurrency is not None and usage.in_flight >= max_concurrency:
            return Denial(deployment, None, f"max_concurrency={max_concurrency}")
        for limit in limits:
            wait = _request_wait(usage, limit, now) if limit.requests else _token_wait(usage, limit, tokens, now)
            if wait > 0:
                return Denial(deployment, wait, limit.describe())
        ticket = next(self._tickets)
        usage.entries[ticket] = (now, tokens)
        usage.open.add(ticket)
        usage.in_flight += 1
        _forget(usage, max((limit.per for limit in limits), default=0.0), now)
        return Grant(deployment, ticket, tokens)

    async def settle(self, grant: Grant, tokens: int | None) -> None:
        usage = self._of(grant.deployment)
        usage.in_flight = max(0, usage.in_flight - 1)
        usage.open.discard(grant.ticket)
        entry = usage.entries.get(grant.ticket)
        if entry is not None:  # counted again from now: by its answer the server has surely seen the request
            usage.entries[grant.ticket] = (self._clock(), entry[1] if tokens is None else tokens)
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def in_flight(self, deployment: str) -> int:
        return self._of(deployment).in_flight

    async def cool(self, deployment: str, seconds: float) -> None:
        usage = self._of(deployment)
        usage.cooled_until = max(usage.cooled_until, self._clock() + seconds)

    async def cooling(self, deployment: str) -> float:
        return max(0.0, self._of(deployment).cooled_until - self._clock())

    async def failed(self, deployment: str) -> int:
        usage = self._of(deployment)
        usage.failures += 1
        return usage.failures

    async def succeeded(self, deployment: str) -> None:
        self._of(deployment).failures = 0

    async def wait_for_change(self, timeout: float | None) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


def _request_wait(usage: _Usage, limit: RateLimit, now: float) -> float:
    """Seconds until one more request may start under ``limit`` (0: now)."""
    recent = sorted(t for t, _ in usage.entries.values() if t > now - limit.per)
    if len(recent) < limit.amount:
        return 0.0
    return recent[len(recent) - limit.amount] + limit.per - now


def _token_wait(usage: _Usage, limit: RateLimit, tokens: int, now: float) -> float:
    """Seconds until ``tokens`` more fit under ``limit`` (0: now; ``inf``: never, they exceed the limit alone)."""
    if tokens > limit.amount:
        return float("inf")
    recent = sorted((t, n) for t, n in usage.entries.values() if t > now - limit.per)
    excess = sum(n for _, n in recent) + tokens - limit.amount
    for started, spent in recent:
        if excess <= 0:
            break
        excess -= spent
        if excess <= 0:
            return started + limit.per - now
    return 0.0 if excess <= 0 else float("inf")


def _forget(usage: _Usage, horizon: float, now: float) -> None:
    """Drop what no window can see any more (older than the longest ``per``)."""
    stale = [ticket for ticket, (t, _) in usage.entries.items() if t <= now - horizon and ticket not in usage.open]
    for ticket in stale:
        del usage.entries[ticket]
