"""``RedisRouterState`` when its Redis misbehaves under routed calls: paused past ``timeout`` (SIGSTOP), killed,
restarted empty. No call may fail because of Redis, and falling back to local limits keeps what this process has
already sent."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelport import RateLimitError, UserMessage
from modelport.router import Deployment, Grant, RateLimit, RedisRouterState, Router
from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply

from .test_router_redis import SlowLink, _client, _finish, _free_port, _namespace, _open_slots, _start_redis

HELLO = [UserMessage(content="hello", source="user")]
SLOW = [UserMessage(content="slow", source="user")]


def _slow_when_asked(request: RecordedRequest) -> Reply:
    """The default answer; 1.5 s late for a prompt that says "slow"."""
    slow = request.json["messages"][-1]["content"] == "slow"
    return dataclasses.replace(default_reply(request), head_delay=1.5 if slow else 0.0)


class OwnRedis:
    """A redis-server of one test's own, on a fixed port, that the test pauses, resumes, kills and starts again."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port, self.workdir = port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = _start_redis(port, workdir)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start an empty one on the same port (nothing is saved: every key is gone)."""
        self.process = _start_redis(self.port, self.workdir)

    def end(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(redis_url: str, tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own (``redis_url`` only skips without the binary), ended afterwards."""
    redis = OwnRedis(_free_port(), str(tmp_path))
    try:
        yield redis
    finally:
        redis.end()


def _run_with_stdin(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _tell(workers: list[subprocess.Popen[str]], line: str) -> None:
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(line + "\n")
        worker.stdin.flush()


# -- 1. a reservation given up on while Redis was paused --


async def test_a_redis_pause_longer_than_timeout_leaves_no_ghost_in_flight_slot(own_redis: OwnRedis) -> None:
    url = own_redis.url
    namespace = _namespace()
    state = RedisRouterState(url, namespace=namespace, timeout=0.2, retry=0.1)
    with FakeServer() as server:
        router = Router([Deployment(_client(server.base_url), "a", max_concurrency=1)], state=state, max_wait=1.0)
        try:
            await router.create(HELLO)  # connected, the scripts loaded
            await state.flush()
            own_redis.pause()
            try:
                await router.create(HELLO)  # its reservation waits unread in Redis: this call is counted locally
            finally:
                own_redis.resume()
            await asyncio.sleep(0.3)  # Redis runs that reservation now, and the state tries Redis again
            for _ in range(3):  # the only slot is free: no call waits out the 30 s lease of a reservation nobody holds
                await router.create(HELLO)
            await state.flush()
            assert await _open_slots(url, namespace) == 0
            assert len(server.requests) == 5
        finally:
            await router.close()
            await state.close()


async def test_a_reservation_given_back_before_redis_runs_it_never_counts(redis_url: str) -> None:
    namespace = _namespace()
    async with SlowLink(redis_url, delay=0.0) as link:
        state = RedisRouterState(link.url, namespace=namespace, timeout=0.2, retry=0.05)
        try:
            await state.in_flight("a")  # connected, the scripts loaded
            link.delay = 0.8  # this reservation reaches Redis 0.8 s late, long after its answer was given up on
            grant = await state.reserve("a", [], 0, 1)
            assert isinstance(grant, Grant) and grant.ticket < 0  # counted by this process alone meanwhile
            link.delay = 0.0  # the give-back, on a new connection, overtakes it
            await asyncio.sleep(1.0)
            assert await _open_slots(redis_url, namespace) == 0  # when the reservation arrived, it was refused
            await state.settle(grant, None)
            assert isinstance(await state.reserve("a", [], 0, 1), Grant)
        finally:
            await state.close()


async def test_while_redis_is_paused_one_call_at_a_time_tries_it(own_redis: OwnRedis) -> None:
    """A paused Redis is tried by one call at a time (each try may leave a reservation in it to give back later);
    the others count locally at once instead of each waiting out ``timeout``."""
    namespace = _namespace()
    state = RedisRouterState(own_redis.url, namespace=namespace, timeout=0.5, retry=0.0, flush_after=5.0)
    try:
        await state.in_flight("a")  # connected, the scripts loaded (and no flush comes to try Redis before a call)
        own_redis.pause()
        try:
            first = await state.reserve("a", [], 0, None)  # waits out the timeout: Redis is now known to be down

            async def timed() -> float:
                started = time.monotonic()
                grant = await state.reserve("a", [], 0, None)
                assert isinstance(grant, Grant) and grant.ticket < 0
                await state.settle(grant, None)
                return time.monotonic() - started

            took = sorted(await asyncio.gather(*(timed() for _ in range(10))))
        finally:
            own_redis.resume()
        assert took[-1] >= 0.45  # one of them tried Redis, retry being 0 ...
        assert took[-2] < 0.25, took  # ... and the nine others did not wait for it
        await state.settle(first, None)
        await asyncio.sleep(0.1)
        await state.flush()  # Redis has run the reservations of both tries by now: they are given back
        assert await _open_slots(own_redis.url, namespace) == 0  # what the tries left in Redis was given back
    finally:
        await state.close()


async def test_while_redis_is_paused_a_finished_call_does_not_wait_for_it(own_redis: OwnRedis) -> None:
    """A call that succeeded while Redis is paused resets the failure count in Redis; like any other use of a Redis
    that failed, one call at a time may try it, and the others return at once rather than each waiting out
    ``timeout`` for an answer that does not come."""
    state = RedisRouterState(own_redis.url, namespace=_namespace(), timeout=1.0, retry=0.3)

    def late(request: RecordedRequest) -> Reply:  # answered after ``retry``: Redis may be tried again by then
        return dataclasses.replace(default_reply(request), head_delay=0.6)

    with FakeServer(default=late) as server:
        router = Router([Deployment(_client(server.base_url), "a")], state=state)
        try:
            await state.in_flight("a")  # connected, the scripts loaded
            own_redis.pause()
            try:
                await state.in_flight("a")  # no answer: Redis is known to be down, not tried for 0.3 s

                async def timed() -> float:
                    started = time.monotonic()
                    await router.create(HELLO)  # counted locally at once, answered 0.6 s later
                    return time.monotonic() - started

                took = sorted(await asyncio.gather(*(timed() for _ in range(6))))
            finally:
                own_redis.resume()
            assert took[-2] < 1.2, took  # one of them may have tried Redis (1.6 s); the others did not wait for it
        finally:
            await router.close()
            await state.close()


# -- 2. the local limits carry what this process already sent --


@pytest.mark.parametrize("fault", ["killed", "paused"])
async def test_falling_back_to_local_limits_carries_what_this_process_already_sent(
    own_redis: OwnRedis, fault: str
) -> None:
    url = own_redis.url
    state = RedisRouterState(url, namespace=_namespace(), timeout=0.2, retry=60)  # once it fails, local for good
    limits = [RateLimit(requests=5, per=60.0)]
    with FakeServer(default=_slow_when_asked) as server:
        deployment = Deployment(_client(server.base_url), "a", limits=limits, max_concurrency=2)
        router = Router([deployment], state=state, max_wait=0)
        try:
            for _ in range(2):
                await router.create(HELLO)
            slow = [asyncio.ensure_future(router.create(SLOW)) for _ in range(2)]
            while len(server.requests) < 4:  # both granted by Redis and sent: 4 of 5 requests, 2 of 2 in flight
                await asyncio.sleep(0.01)
            if fault == "killed":
                own_redis.kill()
            else:
                own_redis.pause()
            with pytest.raises(RateLimitError, match="max_concurrency=2"):  # the two calls in flight are counted
                await router.create(HELLO)
            await asyncio.gather(*slow)
            await router.create(HELLO)  # the fifth request of the window
            with pytest.raises(RateLimitError, match="5 requests per 60s"):  # and the four before it are counted
                await router.create(HELLO)
            assert len(server.requests) == 5
        finally:
            await router.close()
            await state.close()


# -- 3. chaos: Redis killed and paused under routed load from two processes --

# One of the processes sharing a limit: ``lanes`` calls at a time, one after another, from "go" to "stop" on stdin.
CHAOS_WORKER = """
import asyncio, json, sys, time
from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage
from modelport.router import Deployment, RateLimit, RedisRouterState, Router

HELLO = [UserMessage(content="hi", source="user")]

async def main(redis_url, namespace, base_url, warm_url, lanes, limit, per, max_concurrency, max_wait):
    # The client warmed elsewhere, so no call of the run waits on a cold start (a call must not take a whole period).
    async with OpenAIChatCompletionClient(model="gpt-4o", base_url=warm_url, api_key="sk-test") as warm:
        await warm.create(HELLO)
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="sk-test",
                                        retry_policy=RetryPolicy(max_retries=0))
    state = RedisRouterState(redis_url, namespace=namespace, timeout=0.25, retry=0.2)
    deployment = Deployment(client, "a", limits=[RateLimit(requests=limit, per=per)], max_concurrency=max_concurrency)
    router = Router([deployment], state=state, max_wait=max_wait)
    await state.in_flight("a")  # connected, the scripts loaded
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    stop = asyncio.ensure_future(asyncio.to_thread(sys.stdin.readline))
    ok, errors = 0, []

    async def lane():
        nonlocal ok
        while not stop.done():
            try:
                await router.create(HELLO)
            except Exception as exc:
                errors.append(repr(exc))
            else:
                ok += 1

    await asyncio.gather(*(lane() for _ in range(lanes)))
    await router.close()
    await state.close()
    print(json.dumps({"ok": ok, "errors": errors[:5], "failed": len(errors)}), flush=True)

asyncio.run(main(*sys.argv[1:5], int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]),
                 float(sys.argv[9])))
"""


def _wait_for(arrivals: list[float], count: int, timeout: float = 10.0) -> None:
    """Wait until the server has seen ``count`` requests."""
    deadline = time.monotonic() + timeout
    while len(arrivals) < count:
        assert time.monotonic() < deadline, f"{len(arrivals)} requests, not {count}"
        time.sleep(0.001)


def _busiest(times: list[float], per: float) -> int:
    """The most requests that arrived in any window of ``per`` seconds."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - per:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_redis_chaos_killed_and_paused_under_routed_load(own_redis: OwnRedis) -> None:
    """Two processes share ``limit`` requests a second and 2 calls in flight through a Redis that is killed (and
    started again empty), then paused (SIGSTOP) past the state's timeout. No call fails, calls go on at the limit's
    pace once Redis is back (no in-flight slot is left to a reservation nobody holds), and no second at the server
    sees more than each process counting alone lets through: the limit from each (the README's tolerance)."""
    processes, limit, per = 2, 20, 1.0
    arrivals: list[float] = []

    def reply(request: RecordedRequest) -> Reply:
        arrivals.append(time.monotonic())
        return default_reply(request)

    namespace = _namespace()
    with FakeServer(default=reply) as server, FakeServer() as warm:
        # max_wait is ample: calls that want more than the limit wait a period or more for their turn (a rolling
        # window under steady demand frees its slots in bursts, and either process may win a burst)
        args = [own_redis.url, namespace, server.base_url, warm.base_url, "4", str(limit), str(per), "2", "10"]
        workers = [_run_with_stdin(CHAOS_WORKER, *args) for _ in range(processes)]
        try:
            for worker in workers:
                assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
            _tell(workers, "go")
            _wait_for(arrivals, limit + limit // 2)  # in the second window's burst of calls
            own_redis.kill()
            time.sleep(1.0)  # refused: each process counts alone
            own_redis.restart()
            time.sleep(1.0)  # shared again, in an empty Redis
            _wait_for(arrivals, len(arrivals) + limit)  # a window's burst of calls has gone out ...
            time.sleep(0.3)  # ... and been settled: every slot is free
            own_redis.pause()
            time.sleep(1.5)  # no answer: each process counts alone; the reservations of the next burst wait unread
            # in Redis, to run when it resumes, after a whole window (so it grants them: the window has room again)
            own_redis.resume()
            back = time.monotonic() + 0.5  # Redis answers again within retry (0.2 s)
            time.sleep(2.5)
            _tell(workers, "stop")
            stopped = time.monotonic()
            reports = [json.loads(_finish(worker, timeout=30)) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    assert [r["failed"] for r in reports] == [0] * processes, reports
    assert all(r["ok"] > 0 for r in reports) and sum(r["ok"] for r in reports) == len(arrivals)
    after = sum(1 for t in arrivals if back <= t < stopped)
    assert after >= limit * (stopped - back - per) / per, after  # at the limit's pace once Redis is back
    assert _busiest(arrivals, per) <= processes * limit, (_busiest(arrivals, per), reports)
