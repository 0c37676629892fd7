"""The call-observer hook: every call is observed once, however it ends, and the first chunk of a stream is heard."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import modelport as mp
from modelport import CancellationToken, ChatCompletionCache
from modelport.telemetry import _hooks
from modelport.testing import FakeServer, Reply, chunk

from .helpers import HELLO, collect


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def start(self, info: _hooks.CallInfo) -> Any:
        record: dict[str, Any] = {"info": info, "chunks": 0, "ends": []}
        self.calls.append(record)

        class Observation:
            def first_chunk(self) -> None:
                record["chunks"] += 1

            def end(self, result: Any, error: Any, *, retries: int = 0) -> None:
                record["ends"].append((result, error, retries))

        return Observation()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    _hooks.OBSERVERS.append(recorder)
    yield recorder
    _hooks.OBSERVERS.remove(recorder)


async def test_create_and_a_whole_stream(recorder: Recorder, client: Any) -> None:
    created = await client.create(HELLO)
    _, streamed = await collect(client)
    plain, stream = recorder.calls
    assert plain["ends"] == [(created, None, 0)] and not plain["info"].stream
    assert stream["ends"] == [(streamed, None, 0)] and stream["chunks"] == 1 and stream["info"].stream
    assert plain["info"].request["model"] == "gpt-4o" and plain["info"].server_address == "127.0.0.1"


async def test_a_retry_an_error_a_break_and_a_cancel(recorder: Recorder, server: FakeServer, client: Any) -> None:
    server.add(Reply.json({"error": {"message": "busy"}}, status=503))
    await client.create(HELLO)
    server.add(Reply.json({"error": {"message": "no"}}, status=400))
    with pytest.raises(mp.BadRequestError):
        await client.create(HELLO)
    server.add(Reply.sse([chunk({"content": f"w{i} "}) for i in range(5)] + [chunk(finish_reason="stop")], delay=0.05))
    async with client.create_stream(HELLO) as stream:
        async for _ in stream:
            break
    server.add(Reply.sse([chunk({"content": "a"})], done=False, stall=True))
    token = CancellationToken()
    with pytest.raises(asyncio.CancelledError):
        async for _ in client.create_stream(HELLO, cancellation_token=token):
            token.cancel()
    retried, failed, broken, cancelled = recorder.calls
    assert retried["ends"][0][2] == 1 and retried["ends"][0][0] is not None
    assert isinstance(failed["ends"][0][1], mp.BadRequestError)
    assert broken["ends"] == [(None, None, 0)] and broken["chunks"] == 1
    assert len(cancelled["ends"]) == 1 and isinstance(cancelled["ends"][0][1], asyncio.CancelledError)


async def test_a_cache_hit_is_observed_as_one(recorder: Recorder, client: Any) -> None:
    cache = ChatCompletionCache(client)
    await cache.create(HELLO)
    hit = await cache.create(HELLO)
    assert [call["info"].cache_hit for call in recorder.calls] == [False, True]
    assert recorder.calls[1]["ends"] == [(hit, None, 0)]


async def test_an_observer_that_raises_never_fails_a_call(client: Any) -> None:
    class Broken:
        def start(self, info: Any) -> Any:
            raise RuntimeError("instrumentation bug")

    broken = Broken()
    _hooks.OBSERVERS.append(broken)
    try:
        assert (await client.create(HELLO)).content == "You said: Hello"
    finally:
        _hooks.OBSERVERS.remove(broken)
