"""Transport faults, timeouts, cancellation and connection hygiene, over real sockets (wire-behaviour B2)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aiohttp
import pytest

import modelport as mp
from modelport import CancellationToken, OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer, Reply, chunk

from .conftest import API_KEY, RecordingSleep
from .helpers import HELLO, collect


async def wait_for_connections(server: FakeServer, count: int, within: float = 2.0) -> None:
    end = time.monotonic() + within
    while server.open_connections > count and time.monotonic() < end:
        await asyncio.sleep(0.01)
    assert server.open_connections <= count, f"{server.open_connections} connections still open"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_B22_connection_refused_is_retried_then_typed(make_client: Any, sleeps: RecordingSleep) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(mp.APIConnectionError) as info:
        await client.create(HELLO)
    assert not isinstance(info.value, mp.APITimeoutError)
    assert info.value.attempts == 4 and len(sleeps.waits) == 3
    assert isinstance(info.value.__cause__, aiohttp.ClientError | OSError)


async def test_B23_read_timeout_waiting_for_the_head(server: FakeServer, make_client: Any) -> None:
    client = make_client(timeout=0.2, max_retries=1)
    server.add(Reply.hang(), Reply.hang())
    with pytest.raises(mp.APITimeoutError) as info:
        await client.create(HELLO)
    assert info.value.phase == "response" and info.value.attempts == 2 and len(server.requests) == 2


async def test_B23_connect_timeout(make_client: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue, so the next SYN goes unanswered
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        client = make_client(base_url=f"http://127.0.0.1:{port}/v1", connect_timeout=0.2, max_retries=0)
        start = time.monotonic()
        with pytest.raises(mp.APITimeoutError) as info:
            await client.create(HELLO)
        assert info.value.phase in ("connect", "response")
        assert time.monotonic() - start < 5
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_B25_deadline_bounds_retries(server: FakeServer, make_client: Any) -> None:
    client = make_client(timeout=0.2, max_retries=10, deadline=0.5)
    for _ in range(10):
        server.add(Reply.hang())
    start = time.monotonic()
    with pytest.raises(mp.APITimeoutError):
        await client.create(HELLO)
    # Ten retries of 0.2 s would take over 2 s; a retry whose back-off would pass the deadline is not made.
    assert time.monotonic() - start < 0.8
    assert len(server.requests) < 4


async def test_B25_deadline_shorter_than_timeout(server: FakeServer, make_client: Any) -> None:
    client = make_client(timeout=30, deadline=0.3)
    server.add(Reply.hang())
    start = time.monotonic()
    with pytest.raises(mp.APITimeoutError) as info:
        await client.create(HELLO)
    assert info.value.phase == "deadline" and 0.25 < time.monotonic() - start < 1.0
    assert len(server.requests) == 1


async def test_B26_reset_mid_stream_keeps_partial_text(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hello "}), chunk({"content": "wor"})], done=False, reset=True))
    with pytest.raises(mp.APIConnectionError) as info:
        await collect(client)
    assert info.value.partial is not None and info.value.partial.content == "Hello wor"
    assert info.value.__cause__ is not None


async def test_B27_stall_mid_stream(server: FakeServer, make_client: Any) -> None:
    client = make_client(timeout=0.3)
    server.add(Reply.sse([chunk({"content": "first"})], done=False, stall=True))
    with pytest.raises(mp.APITimeoutError) as info:
        await collect(client)
    assert info.value.phase == "stream" and info.value.partial.content == "first"
    await wait_for_connections(server, 0)


async def test_B27_keepalives_are_not_progress(server: FakeServer, make_client: Any) -> None:
    client = make_client(timeout=0.35)
    reply = Reply.sse([chunk({"content": "first"})] + [": keep-alive\n\n"] * 30, done=False, delay=0.05, stall=True)
    server.add(reply)
    start = time.monotonic()
    with pytest.raises(mp.APITimeoutError) as info:
        await collect(client)
    assert info.value.phase == "stream"
    assert time.monotonic() - start < 1.2, "keep-alives must not extend the wait for the next event"


async def test_B28_stream_retried_when_error_arrives_before_any_delta(server: FakeServer, client: Any,
                                                                      sleeps: RecordingSleep) -> None:
    overloaded = ('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
                  "\n\n")
    server.add(Reply.sse([chunk({"role": "assistant", "content": ""}), overloaded], done=False),
               Reply.sse([chunk({"content": "second try"}), chunk(finish_reason="stop")]))
    deltas, _result = await collect(client)
    assert deltas == ["second try"] and len(server.requests) == 2 and len(sleeps.waits) == 1


async def test_B28_stream_not_retried_after_a_delta(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "shown"})], done=False, reset=True))
    with pytest.raises(mp.APIConnectionError):
        await collect(client)
    assert len(server.requests) == 1


async def test_B29_task_cancelled_mid_stream(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "first"})], done=False, stall=True))
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.create_stream(HELLO):
            got_first.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(got_first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_connections(server, 0)


async def test_cancellation_token_closes_the_stream_socket(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "first"})], done=False, stall=True))
    token = CancellationToken()
    stream = client.create_stream(HELLO, cancellation_token=token)
    assert await stream.__anext__() == "first"
    asyncio.get_running_loop().call_later(0.05, token.cancel)
    with pytest.raises(asyncio.CancelledError):
        await stream.__anext__()
    await wait_for_connections(server, 0)


async def test_cancellation_token_cancels_create(server: FakeServer, client: Any) -> None:
    server.add(Reply.hang())
    token = CancellationToken()
    asyncio.get_running_loop().call_later(0.05, token.cancel)
    with pytest.raises(asyncio.CancelledError):
        await client.create(HELLO, cancellation_token=token)
    await wait_for_connections(server, 0)


async def test_B30_break_without_context_manager_releases_the_connection(server: FakeServer) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY,
                                            http_session=session, timeout=2)
        for _ in range(3):
            server.add(Reply.sse([chunk({"content": f"t{i}"}) for i in range(50)], delay=0.01))
            async for _ in client.create_stream(HELLO):
                break
        # With one connection in the pool, a leaked stream would make this call wait forever.
        result = await asyncio.wait_for(client.create(HELLO), 3)
        assert result.content == "You said: Hello"


async def test_no_connection_leaks_across_every_ending(server: FakeServer, sleeps: RecordingSleep) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY,
                                            http_session=session, timeout=1,
                                            retry_policy=RetryPolicy(max_retries=0, sleep=sleeps))
        for _ in range(5):
            await client.create(HELLO)  # exhaustion
            await collect(client)  # stream exhaustion
            server.add(Reply.json({"error": {"message": "no"}}, status=400))
            with pytest.raises(mp.BadRequestError):
                await client.create(HELLO)  # error body
            server.add(Reply.sse([chunk({"content": "a"}), "data: {bad\n\n"]))
            with pytest.raises(mp.StreamProtocolError):
                await collect(client)  # error mid-stream
            server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"})], delay=0.01))
            async with client.create_stream(HELLO) as stream:
                async for _ in stream:
                    break  # early exit inside the context manager
        assert (await asyncio.wait_for(client.create(HELLO), 3)).content == "You said: Hello"
    await wait_for_connections(server, 0)


def test_B31_client_used_from_two_event_loops(server: FakeServer) -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
    first = asyncio.run(client.create(HELLO))
    second = asyncio.run(client.create(HELLO))
    assert first.content == second.content == "You said: Hello"
    asyncio.run(client.close())


def test_sync_face_create_and_stream(server: FakeServer) -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
    try:
        assert client.create_sync(HELLO).content == "You said: Hello"
        items = list(client.create_stream_sync(HELLO))
        assert "".join(i for i in items if isinstance(i, str)) == "You said: Hello"
        assert isinstance(items[-1], mp.CreateResult)
        for _item in client.create_stream_sync(HELLO):  # leaving early closes the response
            break
    finally:
        client.close_sync()


async def test_sync_face_inside_a_running_loop(server: FakeServer) -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
    try:
        assert client.create_sync(HELLO).content == "You said: Hello"
    finally:
        client.close_sync()
