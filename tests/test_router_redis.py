"""``RedisRouterState`` against a real redis-server: processes sharing one quota, cooldowns seen everywhere, an outage
that fails no call, and in-flight leases of a dead process expiring."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage, load_component
from modelport.router import Deployment, Grant, LocalRouterState, RateLimit, RedisRouterState, Router, RouterState
from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply

from .helpers import finish

HELLO = [UserMessage(content="hello", source="user")]

# One process of several sharing a limit: ``calls`` concurrent calls through a Router over one deployment.
WORKER = """
import asyncio, json, sys
from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage
from modelport.router import Deployment, RateLimit, RedisRouterState, Router

async def main(redis_url, namespace, base_url, warm_url, calls):
    # A first call elsewhere, so a cold process's first-call costs do not delay reserved calls (a call counts from
    # its reservation and again from its answer; one reserved long before it is sent could overlap a later window).
    async with OpenAIChatCompletionClient(model="gpt-4o", base_url=warm_url, api_key="sk-test") as warm:
        await warm.create([UserMessage(content="hi", source="user")])
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="sk-test",
                                        retry_policy=RetryPolicy(max_retries=0))
    state = RedisRouterState(redis_url, namespace=namespace)
    router = Router([Deployment(client, "a", limits=[RateLimit(requests=10, per=1.0)])], state=state, max_wait=20)
    results = await asyncio.gather(*(router.create([UserMessage(content="hi", source="user")])
                                     for _ in range(calls)), return_exceptions=True)
    await router.close()
    await state.close()
    print(json.dumps({"ok": sum(not isinstance(r, BaseException) for r in results),
                      "errors": [repr(r) for r in results if isinstance(r, BaseException)]}))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
"""

# A process that reserves a slot (and cools a deployment) and dies without settling.
DIES = """
import asyncio, os, sys
from modelport.router import RedisRouterState

async def main(redis_url, namespace):
    state = RedisRouterState(redis_url, namespace=namespace, lease=0.5)
    print(await state.reserve("a", [], 0, 1), flush=True)
    await state.cool("b", 30)
    os._exit(0)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _namespace() -> str:
    return f"test:{uuid.uuid4().hex}"


def _client(base_url: str) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(
        model="gpt-4o", base_url=base_url, api_key="sk-test", retry_policy=RetryPolicy(max_retries=0)
    )


class WindowedServer(FakeServer):
    """A fake server that answers 429 to any request beyond ``limit`` arrivals in a rolling ``per`` seconds (by
    its own clock) and counts them."""

    def __init__(self, limit: int, per: float) -> None:
        super().__init__(default=self._answer)
        self.limit, self.per = limit, per
        self.arrivals: deque[float] = deque()
        self.times: list[float] = []
        self.throttled = 0
        self._guard = threading.Lock()

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._guard:
            now = time.monotonic()
            self.times.append(now)
            while self.arrivals and self.arrivals[0] <= now - self.per:
                self.arrivals.popleft()
            if len(self.arrivals) >= self.limit:
                self.throttled += 1
                return Reply.json({"error": {"message": "slow down", "type": "rate_limit", "code": None}}, status=429)
            self.arrivals.append(now)
        return default_reply(request)


def _run(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str], timeout: float = 30) -> str:
    code, out, err = finish(process, timeout)
    assert code == 0, err
    return out


# -- the same answers as the local state --


async def test_limits_answer_as_the_local_state_does(redis_url: str) -> None:
    redis_state = RedisRouterState(redis_url, namespace=_namespace())
    states: list[RouterState] = [LocalRouterState(), redis_state]
    requests = [RateLimit(requests=3, per=10.0)]
    tokens = [RateLimit(tokens=100, per=10.0)]
    try:
        for state in states:
            grants = [await state.reserve("r", requests, 0, None) for _ in range(3)]
            assert all(isinstance(g, Grant) for g in grants)
            denial = await state.reserve("r", requests, 0, None)
            assert not isinstance(denial, Grant)
            assert denial.reason == "3 requests per 10s" and denial.wait is not None and 9 < denial.wait <= 10

            first = await state.reserve("t", tokens, 60, None)
            assert isinstance(first, Grant)
            full = await state.reserve("t", tokens, 50, None)
            assert not isinstance(full, Grant) and full.reason == "100 tokens per 10s" and full.wait is not None
            assert 9 < full.wait <= 10 + 10 / 64  # Redis counts tokens in 64 buckets a period: up to one more
            never = await state.reserve("t", tokens, 200, None)
            assert not isinstance(never, Grant) and never.wait == float("inf")
            await state.settle(first, 10)  # used fewer than reserved: room for 50 more now
            assert isinstance(await state.reserve("t", tokens, 50, None), Grant)

            assert isinstance(await state.reserve("c", [], 0, 1), Grant)
            busy = await state.reserve("c", [], 0, 1)
            assert not isinstance(busy, Grant) and busy.wait is None and busy.reason == "max_concurrency=1"
            assert await state.in_flight("c") == 1

            assert await state.failed("f") == 1 and await state.failed("f") == 2
            await state.succeeded("f")
            assert await state.failed("f") == 1
            assert await state.cooling("f") == 0
            await state.cool("f", 5)
            await state.cool("f", 1)  # a longer cooldown already set is kept
            assert 4 < await state.cooling("f") <= 5
    finally:
        await redis_state.close()


# -- (1) processes sharing one quota --


def test_processes_together_stay_within_one_limit(redis_url: str) -> None:
    namespace = _namespace()
    with WindowedServer(limit=10, per=1.0) as server, FakeServer() as warm:
        started = time.monotonic()
        workers = [_run(WORKER, redis_url, namespace, server.base_url, warm.base_url, "10") for _ in range(4)]
        reports = [json.loads(_finish(w, timeout=40)) for w in workers]
        elapsed = time.monotonic() - started
    assert [r["errors"] for r in reports] == [[], [], [], []]
    assert sum(r["ok"] for r in reports) == 40
    assert server.throttled == 0
    times = sorted(server.times)
    assert len(times) == 40
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 10
    assert times[-1] - times[0] >= 2.9  # 40 calls at 10 a second: at least three full windows
    assert elapsed < 30


# -- (2) a cooldown set by one process is seen by the others --


async def test_a_cooldown_set_in_one_process_is_seen_by_another(redis_url: str) -> None:
    namespace = _namespace()
    _finish(_run(DIES, redis_url, namespace), timeout=20)  # cooled "b" for 30 s, then died
    state = RedisRouterState(redis_url, namespace=namespace)
    with FakeServer() as a_server, FakeServer() as b_server:
        b = Deployment(_client(b_server.base_url), "b")
        a = Deployment(_client(a_server.base_url), "a")
        router = Router([b, a], state=state)
        try:
            assert 25 < await state.cooling("b") <= 30
            for _ in range(3):
                await router.create(HELLO)
            assert (len(b_server.requests), len(a_server.requests)) == (0, 3)
        finally:
            await router.close()
            await state.close()


async def test_a_cooldown_from_a_429_reaches_another_router(redis_url: str) -> None:
    namespace = _namespace()
    one, two = RedisRouterState(redis_url, namespace=namespace), RedisRouterState(redis_url, namespace=namespace)
    with FakeServer() as a_server, FakeServer() as b_server:
        a_server.add(
            Reply.json(
                {"error": {"message": "slow", "type": "rate_limit", "code": None}},
                status=429,
                headers={"retry-after": "20"},
            )
        )
        first = Router(
            [Deployment(_client(a_server.base_url), "a"), Deployment(_client(b_server.base_url), "b")], state=one
        )
        second = Router(
            [Deployment(_client(a_server.base_url), "a"), Deployment(_client(b_server.base_url), "b")], state=two
        )
        try:
            await first.create(HELLO)  # a answers 429 with retry-after 20: falls back to b and cools a
            await second.create(HELLO)
            assert (len(a_server.requests), len(b_server.requests)) == (1, 2)
            assert 15 < await two.cooling("a") <= 20
        finally:
            for router in (first, second):
                await router.close()
            await one.close()
            await two.close()


# -- (3) Redis stopped mid-run --


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(port: int, workdir: str, *options: str) -> subprocess.Popen[bytes]:
    """A redis-server on ``port``, with more ``options`` (``--requirepass``, ...), once it answers."""
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir,
         *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up (and asking for its password)
                    return process
        except OSError:
            time.sleep(0.025)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis(redis_url: str, tmp_path: object) -> Iterator[tuple[int, str]]:
    """A port and work folder for a redis-server of this test's own (``redis_url`` only skips without the binary)."""
    yield _free_port(), str(tmp_path)


async def test_redis_stopped_mid_run_fails_no_call(
    own_redis: tuple[int, str], caplog: pytest.LogCaptureFixture
) -> None:
    port, workdir = own_redis
    process = _start_redis(port, workdir)
    namespace = _namespace()
    state = RedisRouterState(f"redis://127.0.0.1:{port}/0", namespace=namespace, timeout=0.25, retry=0.2)
    with FakeServer() as server:
        limits = [RateLimit(requests=1000, per=1.0)]
        router = Router([Deployment(_client(server.base_url), "a", limits=limits, max_concurrency=4)], state=state)
        try:
            gate = asyncio.Semaphore(4)

            async def one() -> None:
                async with gate:
                    await router.create(HELLO)

            with caplog.at_level(logging.WARNING, logger="modelport.router"):
                before = [asyncio.ensure_future(one()) for _ in range(40)]
                await asyncio.sleep(0.05)
                process.terminate()  # while calls run
                await asyncio.to_thread(process.wait, 10)
                results = await asyncio.wait_for(asyncio.gather(*before, return_exceptions=True), 20)
                more = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(20)), return_exceptions=True), 20)
            assert [r for r in [*results, *more] if isinstance(r, BaseException)] == []
            assert len(server.requests) == 60
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()

            # Redis back: the state uses it again (its keys reappear) after ``retry``.
            process = _start_redis(port, workdir)
            await asyncio.sleep(0.3)
            for _ in range(3):
                await router.create(HELLO)
            import redis.asyncio

            check = redis.asyncio.from_url(f"redis://127.0.0.1:{port}/0")
            try:
                assert await check.exists(f"{namespace}:{{a}}:entries") == 1
            finally:
                await check.aclose()
        finally:
            await router.close()
            await state.close()
            process.terminate()
            process.wait(timeout=10)


async def test_an_unreachable_redis_from_the_start_fails_no_call(caplog: pytest.LogCaptureFixture) -> None:
    state = RedisRouterState(f"redis://127.0.0.1:{_free_port()}/0", timeout=0.1)
    with FakeServer() as server:
        router = Router(
            [Deployment(_client(server.base_url), "a", limits=[RateLimit(requests=2, per=10.0)])],
            state=state,
            max_wait=0,
        )
        try:
            with caplog.at_level(logging.WARNING, logger="modelport.router"):
                for _ in range(2):
                    await router.create(HELLO)
                with pytest.raises(Exception, match="no deployment has capacity"):  # local limits still hold
                    await router.create(HELLO)
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        finally:
            await router.close()
            await state.close()


# -- (4) leases --


async def test_in_flight_slots_of_a_dead_process_expire(redis_url: str) -> None:
    namespace = _namespace()
    out = _finish(_run(DIES, redis_url, namespace), timeout=20)
    assert out.startswith("Grant(")
    state = RedisRouterState(redis_url, namespace=namespace)
    try:
        assert await state.in_flight("a") == 1
        assert not isinstance(await state.reserve("a", [], 0, 1), Grant)
        deadline = time.monotonic() + 5
        while await state.in_flight("a") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await state.in_flight("a") == 0
        assert isinstance(await state.reserve("a", [], 0, 1), Grant)
    finally:
        await state.close()


async def test_a_live_process_renews_its_leases(redis_url: str) -> None:
    holder = RedisRouterState(redis_url, namespace=_namespace(), lease=0.3)
    try:
        grant = await holder.reserve("a", [], 0, 1)
        assert isinstance(grant, Grant)
        await asyncio.sleep(0.8)  # well past one lease: renewed meanwhile
        assert await holder.in_flight("a") == 1
        await holder.settle(grant, None)
        assert await holder.in_flight("a") == 0
    finally:
        await holder.close()


# -- one round trip per call --


def _reads(conn: Any) -> int:
    """Reads Redis has processed (one per burst of commands a client sent): the round trips clients made."""
    return int(conn.info("stats")["total_reads_processed"])


async def test_one_round_trip_per_routed_call(redis_url: str) -> None:
    import redis

    with FakeServer() as server:
        state = RedisRouterState(redis_url, namespace=_namespace(), flush_after=5.0)  # no flush on a slow machine
        router = Router([Deployment(_client(server.base_url), "a", rpm=100_000, max_concurrency=50)], state=state)
        try:
            await router.create(HELLO)  # loads the scripts
            with redis.Redis.from_url(redis_url) as conn:
                before = _reads(conn)
                for _ in range(40):
                    await router.create(HELLO)
                await state.flush()
                trips = _reads(conn) - before - 1  # less the INFO that read the second figure
            assert trips == 41, trips  # each settlement rode with the next reservation; the last one alone
            await asyncio.gather(*(router.create(HELLO) for _ in range(20)))
            assert await state.in_flight("a") == 0  # that question carried the last settlements with it
        finally:
            await router.close()
            await state.close()


async def test_settlements_reach_redis_soon_without_another_call(redis_url: str) -> None:
    namespace = _namespace()
    with FakeServer() as server:
        state = RedisRouterState(redis_url, namespace=namespace)
        watcher = RedisRouterState(redis_url, namespace=namespace)
        router = Router([Deployment(_client(server.base_url), "a", max_concurrency=1)], state=state)
        try:
            await router.create(HELLO)
            deadline = time.monotonic() + 2
            while await watcher.in_flight("a") and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            assert await watcher.in_flight("a") == 0  # another process sees the slot free within flush_after
            assert isinstance(await watcher.reserve("a", [], 0, 1), Grant)
        finally:
            await router.close()
            await state.close()
            await watcher.close()


# -- configs --


def test_a_router_config_names_the_url_variable(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_TEST_REDIS", redis_url)
    state = RedisRouterState(url_env="MODELPORT_TEST_REDIS", namespace="ns", timeout=0.5)
    router = Router([_client("http://127.0.0.1:9/v1")], state=state)
    model = router.dump_component()
    assert model.config["state"] == {
        "url_env": "MODELPORT_TEST_REDIS",
        "namespace": "ns",
        "timeout": 0.5,
        "lease": 30.0,
        "retry": 1.0,
        "flush_after": 0.005,
    }
    loaded = load_component(model.model_dump(), allow_env=["MODELPORT_TEST_REDIS"])
    assert isinstance(loaded, Router) and isinstance(loaded.state, RedisRouterState)
    assert loaded.state.namespace == "ns" and loaded.dump_component() == model
    plain = Router([_client("http://127.0.0.1:9/v1")])
    assert "state" not in plain.dump_component().config
    secret = Router([_client("http://127.0.0.1:9/v1")], state=RedisRouterState("redis://:pw@127.0.0.1:1/0"))
    with pytest.raises(Exception, match="password"):
        secret.dump_component()
    assert os.environ["MODELPORT_TEST_REDIS"] == redis_url


async def test_waiting_calls_ask_redis_about_once_per_freed_slot(redis_url: str) -> None:
    import redis

    with FakeServer() as server:
        state = RedisRouterState(redis_url, namespace=_namespace())
        router = Router(
            [Deployment(_client(server.base_url), "a", limits=[RateLimit(requests=10, per=0.5)])], state=state
        )
        try:
            await router.create(HELLO)  # loads the scripts
            await asyncio.sleep(0.5)  # and leaves the window
            with redis.Redis.from_url(redis_url) as conn:
                before = _reads(conn)
                started = time.monotonic()
                await asyncio.gather(*(router.create(HELLO) for _ in range(40)))
                elapsed = time.monotonic() - started
                await state.flush()
                trips = _reads(conn) - before - 1
        finally:
            await router.close()
            await state.close()
    assert elapsed >= 1.4  # 40 calls at 10 per rolling half second
    # Not one question per waiting call every 50 ms (about 25 per call before waiting calls queued): about one to
    # take a freed slot and one or two more when a settling call re-counts itself later than the wait foresaw.
    assert trips <= 8 * 40, trips


# -- settlements held back are never stranded or lost --


class SlowLink:
    """A TCP relay to Redis in the test's own event loop that holds every chunk ``delay`` seconds each way (a
    far-away Redis), and that can be cut (every connection closed, new ones refused) and mended."""

    def __init__(self, redis_url: str, delay: float) -> None:
        parts = redis_url.split("//")[1].split("/")[0]
        self.host, self.port = parts.split(":")[0], int(parts.split(":")[1])
        self.delay = delay
        self.cut = False
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SlowLink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sever()
        self._server.close()
        await self._server.wait_closed()

    def sever(self) -> None:
        self.cut = True
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    await asyncio.sleep(self.delay)
                    sink.write(data)
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def _open_slots(redis_url: str, namespace: str, deployment: str = "a") -> int:
    watcher = RedisRouterState(redis_url, namespace=namespace)
    try:
        return await watcher.in_flight(deployment)
    finally:
        await watcher.close()


async def test_a_settlement_queued_during_a_flush_is_still_sent(redis_url: str) -> None:
    namespace = _namespace()

    def reply(request: RecordedRequest) -> Reply:  # the second call answers a little after the first
        slow = "later" in request.json["messages"][-1]["content"]
        return dataclasses.replace(default_reply(request), head_delay=0.015 if slow else 0.0)

    with FakeServer(default=reply) as server:
        async with SlowLink(redis_url, delay=0.02) as link:
            state = RedisRouterState(link.url, namespace=namespace, timeout=2.0)
            router = Router([Deployment(_client(server.base_url), "a", max_concurrency=5)], state=state)
            try:
                later = [UserMessage(content="later", source="user")]
                # Both reserve at once; the first settles and its flush leaves (40 ms there and back); the second
                # settles while that flush is under way.
                await asyncio.gather(router.create(HELLO), router.create(later))
                await asyncio.sleep(0.5)  # no further call: the timer alone must send it
                assert await _open_slots(redis_url, namespace) == 0
            finally:
                await router.close()
                await state.close()


async def test_settlements_held_while_redis_is_cut_are_sent_when_it_answers(redis_url: str) -> None:
    namespace = _namespace()
    with FakeServer() as server:
        async with SlowLink(redis_url, delay=0.0) as link:
            state = RedisRouterState(link.url, namespace=namespace, timeout=0.5, retry=0.3, flush_after=5.0)
            router = Router([Deployment(_client(server.base_url), "a", max_concurrency=2)], state=state)
            try:
                first = asyncio.ensure_future(router.create(HELLO))
                await first  # reserved in Redis; its settlement is held back (flush_after is long)
                link.sever()
                await router.create(HELLO)  # Redis unreachable: counted locally; the held settlement is kept
                link.cut = False
                await asyncio.sleep(0.4)  # past retry: Redis is tried again
                await router.create(HELLO)  # its reservation carries the kept settlement
                await state.flush()
                assert await _open_slots(redis_url, namespace) == 0  # no slot left to wait out its lease
            finally:
                await router.close()
                await state.close()


async def test_token_buckets_decide_as_the_local_state_does(redis_url: str) -> None:
    """Random reservations and settlements, within a second, under a tokens limit of a long period: the Redis
    state's buckets grant and deny exactly where the local state's exact windows do."""
    import random

    limits = [RateLimit(tokens=300, per=100.0), RateLimit(requests=12, per=100.0)]
    for seed in range(25):
        rng = random.Random(seed)
        local, shared = LocalRouterState(), RedisRouterState(redis_url, namespace=_namespace())
        held: list[tuple[Grant, Grant]] = []
        try:
            for _ in range(30):
                if held and rng.random() < 0.4:
                    mine, theirs = held.pop(rng.randrange(len(held)))
                    used = rng.choice([None, rng.randrange(0, 80)])
                    await local.settle(mine, used)
                    await shared.settle(theirs, used)
                    continue
                tokens = rng.randrange(0, 120)
                mine_or_no = await local.reserve("d", limits, tokens, None)
                theirs_or_no = await shared.reserve("d", limits, tokens, None)
                assert type(mine_or_no) is type(theirs_or_no), (seed, mine_or_no, theirs_or_no)
                if isinstance(mine_or_no, Grant):
                    assert isinstance(theirs_or_no, Grant)
                    held.append((mine_or_no, theirs_or_no))
                else:
                    assert not isinstance(theirs_or_no, Grant)
                    assert mine_or_no.reason == theirs_or_no.reason
                    if mine_or_no.wait == float("inf"):
                        assert theirs_or_no.wait == float("inf")
        finally:
            await shared.close()


async def test_two_tokens_limits_of_one_period_count_each_call_once(redis_url: str) -> None:
    limits = [RateLimit(tokens=1000, per=60), RateLimit(tokens=1000, per=60.0)]  # as tpm= beside a config's limit
    local, shared = LocalRouterState(), RedisRouterState(redis_url, namespace=_namespace())
    try:
        for state in (local, shared):
            grant = await state.reserve("d", limits, 300, None)
            assert isinstance(grant, Grant)
            await state.settle(grant, 10)
            assert isinstance(await state.reserve("d", limits, 980, None), Grant), state  # 10 + 980 <= 1000
    finally:
        await shared.close()


async def test_a_reservation_granted_to_a_cancelled_caller_is_given_back(redis_url: str) -> None:
    namespace = _namespace()
    async with SlowLink(redis_url, delay=0.1) as link:
        state = RedisRouterState(link.url, namespace=namespace, timeout=2.0)
        try:
            await state.in_flight("a")  # connected and the scripts loaded
            asking = asyncio.ensure_future(state.reserve("a", [], 0, 1))
            await asyncio.sleep(0.15)  # the reservation has reached Redis; its answer is on the way back
            asking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asking
            await asyncio.sleep(0.3)  # the answer arrives: the slot nobody will use is settled
            await state.flush()
            assert await _open_slots(redis_url, namespace) == 0
        finally:
            await state.close()
