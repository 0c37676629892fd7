"""Rate limits and the router's shared state: rolling-window reservations, in-flight counts, cooldowns.

A :class:`RateLimit` allows at most ``requests`` request starts (or ``tokens`` reserved tokens) in *any* window of
``per`` seconds: a rolling window, so there is never a burst of 2N across a boundary. A call reserves one request
and its estimated tokens before it is sent, and settles with the tokens it really used afterwards. Settling also
counts the call again from that moment: the router cannot see when the request reached the server (a new
connection may take a while), only that the server had it by the time it answered, so a server measuring its own
window never sees more than N (the price: a window of ``per`` plus the call's latency).

:class:`RouterState` is the seam every state implements; :class:`LocalRouterState` keeps it in this process, and
``RedisRouterState`` in Redis, where each check-and-reserve is one Lua script, atomic across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
        kind, amount = ("requests", self.requests) if self.requests is not None else ("tokens", self.tokens)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError(f"{kind} must be a whole number of at least 1, got {amount!r}")
        if isinstance(self.per, bool) or not isinstance(self.per, (int, float)) or not 0 < self.per < math.inf:
            raise ValueError(f"per must be a positive, finite number of seconds, got {self.per!r}")

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
    never, the request alone exceeds a limit), ``reason``, which limit was full, and ``exact``: only time frees it,
    so nothing sooner is worth watching for (a requests limit or a cooldown; a settling call can free tokens early)."""

    deployment: str
    wait: float | None
    reason: str
    exact: bool = False


_SETTLING: set[asyncio.Task[None]] = set()
"""Settlements under way from finalizers (kept so the tasks are not collected before they run)."""


class RouterState(ABC):
    """What the router asks of its state. Every method is async so a networked state can implement it."""

    reserve_checks_cooling: bool = False
    """True when :meth:`reserve` denies a deployment that is cooling down, so the router need not ask
    :meth:`cooling` first."""

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

    async def settle_succeeded(self, grant: Grant, tokens: int | None) -> None:
        """:meth:`settle` then :meth:`succeeded`: what the router does after a success (a state may do both in
        one step)."""
        await self.settle(grant, tokens)
        await self.succeeded(grant.deployment)

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

    def settle_soon(self, grant: Grant, tokens: int | None) -> None:
        """:meth:`settle` without waiting, for a finalizer (a routed stream dropped before it was closed): by default
        a task on the running loop, if there is one."""
        try:
            task = asyncio.get_running_loop().create_task(self.settle(grant, tokens))
        except RuntimeError:  # no running loop: nothing can be sent now
            return
        _SETTLING.add(task)
        task.add_done_callback(_SETTLING.discard)

    async def flush(self) -> None:  # noqa: B027 - a hook most states need not fill
        """Send whatever the state holds back (a networked state may batch settlements); nothing by default."""


class _Record:
    """One counted call in the windows: when it counts from, its tokens, and whether it still counts (a settled
    call's first record stops counting when its second, from the moment it settled, is added)."""

    __slots__ = ("alive", "at", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens
        self.alive = True


class _Window:
    """The records of the last ``per`` seconds, oldest first, with the running count and token sum of those alive."""

    __slots__ = ("count", "first", "per", "records", "spent")

    def __init__(self, per: float, first: int) -> None:
        self.per = per
        self.first = first
        """The first ticket this window counts (it was made for a limit seen only from then on)."""
        self.records: deque[_Record] = deque()
        self.count = 0
        self.spent = 0

    def trim(self, now: float) -> None:
        records, edge = self.records, now - self.per
        while records and records[0].at <= edge:
            old = records.popleft()
            if old.alive:
                self.count -= 1
                self.spent -= old.tokens

    def add(self, record: _Record) -> None:
        self.records.append(record)
        self.count += 1
        self.spent += record.tokens

    def drop(self, record: _Record, ticket: int, now: float) -> None:
        """The reservation ``ticket`` made stops counting (it is skipped when it falls out of the window)."""
        if ticket >= self.first and record.at > now - self.per:
            self.count -= 1
            self.spent -= record.tokens

    def request_wait(self, amount: int, now: float) -> float:
        """Seconds until one more request fits under ``amount`` (0: now)."""
        if self.count < amount:
            return 0.0
        excess = self.count - amount + 1  # the requests that must leave the window first
        for record in self.records:
            if record.alive:
                excess -= 1
                if excess == 0:
                    return record.at + self.per - now
        return 0.0

    def token_wait(self, amount: int, tokens: int, now: float) -> float:
        """Seconds until ``tokens`` more fit under ``amount`` (0: now; ``inf``: never, they exceed it alone)."""
        if tokens > amount:
            return float("inf")
        excess = self.spent + tokens - amount
        if excess <= 0:
            return 0.0
        for record in self.records:
            if record.alive:
                excess -= record.tokens
                if excess <= 0:
                    return record.at + self.per - now
        return float("inf")


class _Usage:
    """One deployment's windows (one per distinct ``per``), its unsettled calls, in-flight count and health."""

    __slots__ = ("cooled_until", "failures", "in_flight", "open", "windows")

    def __init__(self) -> None:
        self.windows: dict[float, _Window] = {}
        self.open: dict[int, _Record] = {}
        self.in_flight = 0
        self.cooled_until = 0.0
        self.failures = 0

    def window(self, per: float, next_ticket: int) -> _Window:
        window = self.windows.get(per)
        if window is None:
            window = self.windows[per] = _Window(per, next_ticket)
        return window


class LocalRouterState(RouterState):
    """The router's state in this process's memory (the default). ``clock`` is injectable for tests.

    Each deployment keeps one window of records per distinct ``per`` with running totals, so a reservation costs
    the same however many calls its windows hold."""

    reserve_checks_cooling = True

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._usage: dict[str, _Usage] = {}
        self._ticket = 0
        self._changed: asyncio.Event | None = None

    def _of(self, deployment: str) -> _Usage:
        usage = self._usage.get(deployment)
        if usage is None:
            usage = self._usage[deployment] = _Usage()
        return usage

    async def reserve(
        self, deployment: str, limits: Sequence[RateLimit], tokens: int, max_concurrency: int | None
    ) -> Grant | Denial:
        usage, now = self._of(deployment), self._clock()
        if usage.cooled_until > now:
            return Denial(deployment, usage.cooled_until - now, "cooling down", exact=True)
        if max_concurrency is not None and usage.in_flight >= max_concurrency:
            return Denial(deployment, None, f"max_concurrency={max_concurrency}")
        for limit in limits:
            window = usage.window(limit.per, self._ticket + 1)
            window.trim(now)
            if limit.requests is not None:
                wait = window.request_wait(limit.requests, now)
            else:
                wait = window.token_wait(limit.amount, tokens, now)
            if wait > 0:
                return Denial(deployment, wait, limit.describe(), exact=limit.requests is not None)
        self._ticket = ticket = self._ticket + 1
        if usage.windows:
            record = _Record(now, tokens)
            for window in usage.windows.values():
                window.add(record)
            usage.open[ticket] = record
        usage.in_flight += 1
        return Grant(deployment, ticket, tokens)

    async def settle(self, grant: Grant, tokens: int | None) -> None:
        self._settle(self._of(grant.deployment), grant, tokens)

    def settle_soon(self, grant: Grant, tokens: int | None) -> None:
        self._settle(self._of(grant.deployment), grant, tokens)

    def _settle(self, usage: _Usage, grant: Grant, tokens: int | None) -> None:
        usage.in_flight = max(0, usage.in_flight - 1)
        record = usage.open.pop(grant.ticket, None)
        if record is not None:  # counted again from now: by its answer the server has surely seen the request
            now = self._clock()
            again = _Record(now, record.tokens if tokens is None else tokens)
            for window in usage.windows.values():
                window.trim(now)
                if record.alive:
                    window.drop(record, grant.ticket, now)
                window.add(again)
            record.alive = False
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def withdraw(self, grant: Grant) -> None:
        """Undo a reservation nothing was sent under (another state refused it, or its caller gave up): it stops
        counting at once, as if it had never been made."""
        usage = self._of(grant.deployment)
        usage.in_flight = max(0, usage.in_flight - 1)
        record = usage.open.pop(grant.ticket, None)
        if record is not None and record.alive:
            now = self._clock()
            for window in usage.windows.values():
                window.trim(now)
                window.drop(record, grant.ticket, now)
            record.alive = False

    async def settle_succeeded(self, grant: Grant, tokens: int | None) -> None:
        usage = self._of(grant.deployment)
        self._settle(usage, grant, tokens)
        usage.failures = 0

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
