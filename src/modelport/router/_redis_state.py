"""``RedisRouterState``: the router's limits, cooldowns, failure counts and in-flight calls kept in Redis, so every
process on every machine that names the same Redis (and ``namespace``) stays within one quota together.

Each method is one Lua script, timed by Redis's own clock (``TIME``), so hosts' clocks never matter and every
check-and-reserve is atomic. A routed call costs one round trip: the settlement of a finished call is not sent on
its own but rides in the same pipeline as the next script this process sends (a reservation, usually), or after
``flush_after`` seconds (5 ms) when none comes. A reservation holds a lease on its in-flight slot that this process
renews while the call runs; the slots of a process that died expire after ``lease`` seconds.

Every reservation is also counted in a :class:`~modelport.router.LocalRouterState` of this process's own calls,
and must fit there too: a process never lets its own calls exceed a limit. A Redis that is down, refusing or slower
than ``timeout`` never fails a call: the state logs one warning and that local count decides alone, starting from
what this process has already sent and still has in flight, until Redis answers again (tried every ``retry``
seconds, by one call at a time). A reservation whose answer never came (Redis paused past ``timeout`` runs it when
it resumes) is given back when Redis answers again, or never counts if the give-back arrives first. Needs the
``redis`` package (``pip install "modelport[redis]"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from .._http import timeout_at
from ..errors import InvalidRequestError
from ._limits import Denial, Grant, LocalRouterState, RateLimit, RouterState
from ._redis_scripts import SOURCES

__all__ = ["RedisRouterState"]

logger = logging.getLogger("modelport.router")

_Call = tuple[str, Sequence[str], Sequence[Any]]
"""One script to run: its name, keys and arguments."""

_POLL = 0.05
"""Longest wait before asking Redis again when capacity may free in another process (which this one cannot see)."""

_MOST_GIVE_BACKS = 1000
"""Give-backs kept while Redis does not answer (the oldest beyond are dropped: such a slot, if Redis ever reserves
it, expires after a lease like a dead process's)."""


class _Settlement(NamedTuple):
    """A settlement not sent yet."""

    keys: Sequence[str]
    args: Sequence[Any]
    succeeded: bool
    deployment: str
    queued: float
    """When it was queued (monotonic seconds)."""
    give_back: bool
    """It gives back a reservation whose answer never came: kept until Redis answers, however long that takes,
    since Redis may run the reservation as late as it resumes."""


def _denial(deployment: str, reply: Any, limits: Sequence[RateLimit], max_concurrency: int | None) -> Denial:
    """The :class:`Denial` a reserve script's refusal means (never "abandoned": a reservation given back before it
    ran was one whose caller had stopped waiting for its answer)."""
    raw, which = reply[1], int(reply[2])
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    wait = None if text == "" else float(text)
    if which == 0:
        return Denial(deployment, wait, "cooling down", exact=True)
    if which == -1:
        return Denial(deployment, wait, f"max_concurrency={max_concurrency}")
    limit = limits[which - 1]
    return Denial(deployment, wait, limit.describe(), exact=limit.requests is not None)


class RedisRouterStateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="Written only without a password, or with include_secrets.")
    url_env: str | None = Field(default=None, description="The environment variable that holds the URL.")
    namespace: str = "modelport:router"
    timeout: float = Field(default=1.0, gt=0)
    lease: float = Field(default=30.0, gt=0)
    retry: float = Field(default=1.0, ge=0)
    flush_after: float = Field(default=0.005, ge=0)


class RedisRouterState(RouterState):
    """A :class:`RouterState` in Redis, shared by every router that names the same Redis and ``namespace``.

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://``); or give ``url_env`` or ``client``.
        url_env: the environment variable that holds the URL (what a router's config saves).
        client: an existing ``redis.asyncio.Redis``; you close it. Make it without retries
            (``retry=Retry(NoBackoff(), 0)``): a client that resends after a lost reply can run a reservation twice.
        namespace: the prefix of every key: routers sharing a quota share a namespace.
        timeout: the longest one Redis call may take before this process falls back to local limits (seconds).
            While it falls back, each process counts only its own calls, so a busy machine whose process misses
            this bound lets more through than the shared quota: keep it well above Redis's worst latency.
        lease: seconds an in-flight slot outlives its process (renewed while the call runs).
        retry: seconds between tries of a Redis that failed.
        flush_after: longest delay before a finished call's settlement is sent when no other script goes first.
    """

    reserve_checks_cooling = True
    """:meth:`reserve` denies a deployment that is cooling down (so the router need not ask :meth:`cooling` first:
    one round trip per reservation)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        url_env: str | None = None,
        client: Any = None,
        namespace: str = "modelport:router",
        timeout: float = 1.0,
        lease: float = 30.0,
        retry: float = 1.0,
        flush_after: float = 0.005,
    ) -> None:
        from ..cache._redis import redis_from_url, url_or_env, url_passwords

        self._url_env = url_env
        url = url_or_env(url, url_env)
        if (url is None) == (client is None):
            raise InvalidRequestError("RedisRouterState takes one of url=, url_env= or client=")
        if timeout <= 0 or lease <= 0 or retry < 0 or flush_after < 0:
            raise InvalidRequestError("timeout and lease must be positive, retry and flush_after not negative")
        self.namespace = namespace
        self.timeout = timeout
        self.lease = lease
        self.retry = retry
        self.flush_after = flush_after
        self._url = url
        self._owns_client = client is None
        if client is None:
            assert url is not None
            client = redis_from_url(url, url_env, timeout, "RedisRouterState")
        self._client = client
        self._passwords = url_passwords(url) if url is not None else ()
        self._shas = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}
        self._loaded = False  # the scripts are known to be in Redis's script cache
        self._pending: list[_Settlement] = []
        """Settlements not sent yet, oldest first."""
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self.local = LocalRouterState()
        """This process's own calls: every reservation must fit here too, and this decides alone while Redis is
        unreachable."""
        self._mine: dict[int, int] = {}  # the local ticket of each Redis ticket this process holds
        self._down_until: float | None = None  # monotonic time before which Redis is not tried; None: up
        self._probing = False  # a call is trying a Redis that failed: the others count locally meanwhile
        self._horizon: dict[str, float] = {}
        self._key_names: dict[str, dict[str, str]] = {}
        self._periods: dict[str, tuple[float, ...]] = {}  # each deployment's tokens-limit periods, for settling
        self._held: dict[str, dict[int, None]] = {}  # this process's open Redis tickets, by deployment
        self._renewer: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

    # -- Redis, or the fallback --

    def _keys(self, deployment: str) -> dict[str, str]:
        keys = self._key_names.get(deployment)
        if keys is None:
            tag = f"{self.namespace}:{{{deployment}}}"  # one hash slot per deployment, for Redis Cluster
            names = ("entries", "tokens", "open", "cool", "abandoned", "failures")
            keys = self._key_names[deployment] = {k: f"{tag}:{k}" for k in names}
        return keys

    def _buckets(self, deployment: str, per: float) -> str:
        """The key of a deployment's token buckets for one period."""
        return f"{self._keys(deployment)['entries'][: -len('entries')]}buckets:{float(per)!r}"

    def _up(self) -> bool:
        """Whether to send to Redis now: it answered last time, or it failed ``retry`` s ago and no other call is
        trying it yet."""
        if self._down_until is None:
            return True
        return not self._probing and time.monotonic() >= self._down_until

    async def _run(
        self, what: str, keys: Sequence[str], args: Sequence[Any], *, lost: Callable[[], None] | None = None
    ) -> tuple[bool, Any]:
        """``(True, reply)``, or ``(False, None)`` when Redis failed (then it is not tried for ``retry`` s). The
        settlements waiting to be sent go first, in the same round trip. ``lost`` is called when the script was
        sent but its answer never came (Redis may still run it)."""
        ok, replies = await self._send([(what, keys, args)], lost)
        return ok, replies[-1] if ok else None

    async def _send(self, calls: list[_Call], lost: Callable[[], None] | None = None) -> tuple[bool, list[Any]]:
        """Run the pending settlements and then ``calls`` in one pipeline: ``(True, the replies of calls)``, or
        ``(False, [])`` when Redis failed."""
        pending, self._pending = self._pending, []
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._up():
            self._keep(pending)
            return False, []
        probing = self._probing = self._down_until is not None
        everything: list[_Call] = [("settle", item.keys, item.args) for item in pending] + calls
        try:
            async with timeout_at(asyncio.get_running_loop().time() + self.timeout):  # no task per round trip
                replies = await self._pipeline(everything)
        except asyncio.CancelledError:  # the caller gave up: the other calls' settlements wait for the next script
            self._unanswered(pending, lost)
            raise
        except Exception as exc:  # down, slow, refused, bad reply: local limits, never a failed call
            self._went_down(exc)
            self._unanswered(pending, lost)
            return False, []
        finally:
            if probing:
                self._probing = False
        if self._down_until is not None:
            logger.info("redis router state reachable again: limits are shared again")
            self._down_until = None
        return True, replies[len(pending) :]

    def _went_down(self, exc: Exception) -> None:
        """Redis failed: not tried again for ``retry`` s; one warning until it answers again."""
        first = self._down_until is None
        self._down_until = time.monotonic() + self.retry
        if first:
            from ..cache._redis import scrubbed

            logger.warning(
                "redis router state unreachable (%s: %s): limits are this process's own until it answers",
                type(exc).__name__,
                scrubbed(str(exc), self._passwords) or f"no answer within {self.timeout:g} s",
            )

    def _unanswered(self, pending: list[_Settlement], lost: Callable[[], None] | None) -> None:
        """A pipeline went out and no answer came: its settlements are kept, and ``lost`` gives back what it
        reserved."""
        self._keep(pending)
        if lost is not None:
            lost()

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        """One round trip of EVALSHAs (the scripts are loaded first when Redis lacks them, as after a restart)."""
        from redis.exceptions import NoScriptError

        for _ in range(2):
            if not self._loaded:  # every script in one round trip
                loading = self._client.pipeline(transaction=False)
                for source in SOURCES.values():
                    loading.script_load(source)
                await loading.execute()
                self._loaded = True
            if len(calls) == 1:
                what, keys, args = calls[0]
                try:
                    return [await self._client.evalsha(self._shas[what], len(keys), *keys, *args)]
                except NoScriptError:
                    self._loaded = False
                    continue
            pipe = self._client.pipeline(transaction=False)
            for what, keys, args in calls:
                pipe.evalsha(self._shas[what], len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # those did not run: load the scripts and run just them again
                self._loaded = False
                again = await self._pipeline([calls[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return list(replies)
        raise NoScriptError("the scripts could not be loaded")

    def _keep(self, pending: list[_Settlement]) -> None:
        """Settlements Redis did not confirm: queued again, ahead of newer ones, to be sent when it answers (running
        one twice is harmless: it only counts the call from a later moment). Those older than a lease are dropped,
        since Redis has let their slots go; give-backs are kept."""
        now = time.monotonic()
        self._pending[:0] = [item for item in pending if item.give_back or now - item.queued < self.lease]
        self._flush_later()

    def _flush_later(self) -> None:
        if self._flush_timer is None and self._pending:
            loop = asyncio.get_running_loop()
            delay = self.flush_after
            if self._down_until is not None:  # not before Redis is tried again, nor while a call tries it
                delay = max(delay, self._down_until - time.monotonic(), _POLL if self._probing else 0.0)
            self._flush_timer = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_timer = None
        if not self._pending:
            return
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self.flush())
        else:  # one is under way with earlier settlements: these go after it
            self._flush_later()

    async def flush(self) -> None:
        """Send the settlements of finished calls now (they otherwise ride with this process's next script), and
        wait for a flush already under way. Stops early, keeping them, when Redis does not answer."""
        running = self._flushing
        if running is not None and not running.done() and running is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await asyncio.shield(running)
        while self._pending:
            ok, _ = await self._send([])
            if not ok:
                break

    # -- the interface --

    async def reserve(
        self, deployment: str, limits: Sequence[RateLimit], tokens: int, max_concurrency: int | None
    ) -> Grant | Denial:
        mine = await self.local.reserve(deployment, limits, tokens, max_concurrency)
        if not isinstance(mine, Grant):  # this process's own calls fill it: Redis, which counts more, would agree
            return mine
        grant = Grant(deployment, 1 + secrets.randbits(62), tokens)  # a ticket no other process picks
        keys, args = self._reservation(grant, limits, max_concurrency)
        lost = functools.partial(self._queue_settlement, grant, None, succeeded=False, give_back=True)
        asking = asyncio.ensure_future(self._run("reserve", keys, args, lost=lost))
        try:
            ok, reply = await asyncio.shield(asking)
        except asyncio.CancelledError:  # the caller gave up: a reservation that still comes back is given back
            self.local.withdraw(mine)
            asking.add_done_callback(functools.partial(self._give_back, grant))
            raise
        if not ok:  # no answer from Redis: what this process has sent decides alone, counting the call from now
            self.local.withdraw(mine)
            alone = await self.local.reserve(deployment, limits, tokens, max_concurrency)
            return Grant(deployment, -alone.ticket, tokens) if isinstance(alone, Grant) else alone
        if int(reply[0]) == 1:
            self._mine[grant.ticket] = mine.ticket
            self._held.setdefault(deployment, {})[grant.ticket] = None
            self._start_renewing()
            return grant
        self.local.withdraw(mine)
        return _denial(deployment, reply, limits, max_concurrency)

    def _reservation(
        self, grant: Grant, limits: Sequence[RateLimit], max_concurrency: int | None
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the reserve script for ``grant`` (see the script for their order)."""
        deployment = grant.deployment
        keys = self._keys(deployment)
        horizon = max((limit.per for limit in limits), default=0.0)
        self._horizon[deployment] = max(horizon, self._horizon.get(deployment, 0.0))
        concurrency = -1 if max_concurrency is None else max_concurrency
        args: list[Any] = [grant.tokens, concurrency, repr(self.lease), 60, grant.ticket]
        for limit in limits:
            args += [0 if limit.requests else 1, limit.amount, repr(limit.per)]
        periods = tuple(sorted({float(limit.per) for limit in limits if limit.tokens is not None}))
        if periods:
            self._periods[deployment] = periods
        order = ("entries", "tokens", "open", "cool", "abandoned")
        return [keys[k] for k in order] + [self._buckets(deployment, limit.per) for limit in limits], args

    def _give_back(self, grant: Grant, done: asyncio.Future[tuple[bool, Any]]) -> None:
        """Settle, with nothing used, a reservation whose caller was cancelled while Redis granted it (one whose
        answer never came is given back by ``lost``)."""
        if done.cancelled() or done.exception() is not None:
            return
        ok, reply = done.result()
        if ok and int(reply[0]) == 1:
            self._queue_settlement(grant, 0, succeeded=False)

    async def settle(self, grant: Grant, tokens: int | None) -> None:
        await self._settle(grant, tokens, succeeded=False)

    async def settle_succeeded(self, grant: Grant, tokens: int | None) -> None:
        """:meth:`settle` then :meth:`succeeded`, in one round trip (what the router does after a success)."""
        await self._settle(grant, tokens, succeeded=True)

    async def _settle(self, grant: Grant, tokens: int | None, *, succeeded: bool) -> None:
        if grant.ticket < 0:  # granted by the fallback
            await self.local.settle(Grant(grant.deployment, -grant.ticket, grant.tokens), tokens)
            if succeeded:
                await self.succeeded(grant.deployment)
            self._wake()
        else:
            if succeeded:
                await self.local.succeeded(grant.deployment)
            self._queue_settlement(grant, tokens, succeeded=succeeded)

    def settle_soon(self, grant: Grant, tokens: int | None) -> None:
        if grant.ticket < 0:
            self.local.settle_soon(Grant(grant.deployment, -grant.ticket, grant.tokens), tokens)
            self._wake()
        else:
            self._queue_settlement(grant, tokens, succeeded=False)

    def _queue_settlement(self, grant: Grant, tokens: int | None, *, succeeded: bool, give_back: bool = False) -> None:
        """Settle this process's own count of the call now, and queue Redis's settlement to ride with the next
        script (or the flush timer); wake local waiters."""
        mine = self._mine.pop(grant.ticket, None)
        if mine is not None:
            self.local.settle_soon(Grant(grant.deployment, mine, grant.tokens), tokens)
        held = self._held.get(grant.deployment)
        if held is not None:
            held.pop(grant.ticket, None)
        keys = self._keys(grant.deployment)
        keep = math.ceil((self._horizon.get(grant.deployment, 0.0) + self.lease + 60) * 1000)
        periods = self._periods.get(grant.deployment, ())
        args = [grant.ticket, "" if tokens is None else tokens, keep, 1 if succeeded else 0, *map(repr, periods)]
        # periods are floats already (normalised when reserved), so keys and ARGV agree with the reservation
        script_keys = [keys[k] for k in ("entries", "tokens", "open", "failures", "abandoned")]
        script_keys += [self._buckets(grant.deployment, per) for per in periods]
        self._pending.append(_Settlement(script_keys, args, succeeded, grant.deployment, time.monotonic(), give_back))
        if give_back:
            self._bound_give_backs()
        with contextlib.suppress(RuntimeError):  # no running loop (a finalizer): it rides with the next script
            self._flush_later()
        self._wake()

    def _bound_give_backs(self) -> None:
        """Keep at most :data:`_MOST_GIVE_BACKS` give-backs waiting (the oldest go first)."""
        give_backs = [i for i, item in enumerate(self._pending) if item.give_back]
        if len(give_backs) > _MOST_GIVE_BACKS:
            del self._pending[give_backs[0]]

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def in_flight(self, deployment: str) -> int:
        ok, reply = await self._run("in_flight", [self._keys(deployment)["open"]], [])
        return int(reply) if ok else await self.local.in_flight(deployment)

    async def cool(self, deployment: str, seconds: float) -> None:
        await self.local.cool(deployment, seconds)  # kept here too, for while Redis is unreachable
        await self._run("cool", [self._keys(deployment)["cool"]], [repr(float(seconds))])

    async def cooling(self, deployment: str) -> float:
        ok, reply = await self._run("cooling", [self._keys(deployment)["cool"]], [])
        if not ok:
            return await self.local.cooling(deployment)
        return float(reply.decode() if isinstance(reply, bytes) else reply)

    async def failed(self, deployment: str) -> int:
        keep = math.ceil((self._horizon.get(deployment, 0.0) + 3600) * 1000)
        ok, reply = await self._run("failed", [self._keys(deployment)["failures"]], [keep])
        return int(reply) if ok else await self.local.failed(deployment)

    async def succeeded(self, deployment: str) -> None:
        await self.local.succeeded(deployment)
        await self._run("succeeded", [self._keys(deployment)["failures"]], [])  # one call at a time while down

    async def wait_for_change(self, timeout: float | None) -> None:
        """Return when a call of this process settles, or after ``timeout``, or after 50 ms at most: calls in other
        processes free capacity unseen, so a waiting call asks Redis again that often."""
        bound = _POLL if timeout is None else min(timeout, _POLL)
        if self._changed is None:
            self._changed = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(bound, 0.0))

    # -- leases --

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Extend this process's in-flight leases every third of ``lease`` while it holds any."""
        while any(self._held.values()):
            await asyncio.sleep(self.lease / 3)
            for deployment, tickets in list(self._held.items()):
                if tickets:
                    await self._run("renew", [self._keys(deployment)["open"]], [repr(self.lease), *tickets])

    async def close(self) -> None:
        """Send what is pending, stop renewing leases and close the Redis client (unless it was given)."""
        await self.flush()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        from ..cache._redis import shown_url

        shown = shown_url(self._url) if self._url else "client"
        return f"RedisRouterState({shown!r}, namespace={self.namespace!r})"

    # -- configs (held by a Router's config) --

    def to_config(self, *, include_secrets: bool) -> RedisRouterStateConfig:
        """What a router's config holds: the URL's variable (or the URL itself when it has no password)."""
        common: dict[str, Any] = {
            "namespace": self.namespace,
            "timeout": self.timeout,
            "lease": self.lease,
            "retry": self.retry,
            "flush_after": self.flush_after,
        }
        if self._url is None:
            raise InvalidRequestError(
                "this RedisRouterState was made from a client object, which a config cannot hold; "
                "make it with url= or url_env= to save it"
            )
        if self._url_env is not None and not include_secrets:
            return RedisRouterStateConfig(url_env=self._url_env, **common)
        if self._passwords and not include_secrets:
            raise InvalidRequestError(
                "this RedisRouterState's URL holds a password: make it with url_env= (the config then names the "
                "variable) or dump with include_secrets=True"
            )
        return RedisRouterStateConfig(url=self._url, **common)

    @classmethod
    def from_config(cls, config: RedisRouterStateConfig) -> RedisRouterState:
        if (config.url is None) == (config.url_env is None):
            raise InvalidRequestError("redis router state config: give one of url or url_env")
        return cls(
            config.url,
            url_env=config.url_env,
            namespace=config.namespace,
            timeout=config.timeout,
            lease=config.lease,
            retry=config.retry,
            flush_after=config.flush_after,
        )
