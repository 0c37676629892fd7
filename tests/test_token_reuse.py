"""A cancellation token outlives the calls it is passed to (one per agent, reused for thousands of calls): a call
that has ended, however it ended, must leave nothing of itself on the token. Real HTTP against the fake server."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import autogen_core as agc
import pytest

import modelport as mp
from modelport import CreateResult
from modelport.testing import FakeServer, Reply, chunk

from .helpers import HELLO

TOKENS = {"modelport": mp.CancellationToken, "autogen": agc.CancellationToken}
SLOW = [chunk({"content": f"word{i} "}) for i in range(30)] + [chunk({}, finish_reason="stop")]


async def stream_once(server: FakeServer, client: Any, token: Any, ending: str) -> type:
    """One stream on ``token``, ended as ``ending`` says; the stream's type (the stream itself is let go)."""
    if ending == "failed":
        server.add(Reply.json({"error": {"message": "bad", "type": "invalid_request_error"}}, status=400))
    stream = client.create_stream(HELLO, cancellation_token=token)
    if ending == "exhausted":
        items = [item async for item in stream]
        assert isinstance(items[-1], CreateResult)
    elif ending == "closed":
        await stream.__anext__()
        await stream.aclose()
    else:
        with pytest.raises(mp.BadRequestError):
            await stream.__anext__()
    return type(stream)


async def alive(kind: type) -> int:
    """How many objects of ``kind`` are alive once the loop has run what it had scheduled and garbage is
    collected."""
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    return sum(type(item) is kind for item in gc.get_objects())


@pytest.mark.parametrize("ending", ["exhausted", "closed", "failed"])
@pytest.mark.parametrize("token_kind", list(TOKENS))
async def test_a_token_reused_over_many_streams_keeps_none_of_them_alive(
    server: FakeServer, client: Any, token_kind: str, ending: str
) -> None:
    token = TOKENS[token_kind]()
    stream_type = await stream_once(server, client, token, ending)
    before = await alive(stream_type)
    for _ in range(40):
        await stream_once(server, client, token, ending)
    assert await alive(stream_type) <= before, "streams that ended are kept alive by the token"
    if token_kind == "modelport":  # modelport's token gives its callbacks back
        assert token._callbacks == []


@pytest.mark.parametrize("token_kind", list(TOKENS))
async def test_a_token_reused_over_many_streams_still_cancels_the_live_one(
    server: FakeServer, client: Any, token_kind: str
) -> None:
    token = TOKENS[token_kind]()
    for ending in ("exhausted", "closed", "failed"):
        await stream_once(server, client, token, ending)
    server.add(Reply.sse(SLOW, delay=2.0))
    stream = client.create_stream(HELLO, cancellation_token=token)
    assert await asyncio.wait_for(stream.__anext__(), 10) == "word0 "
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stream.__anext__()
    assert time.perf_counter() - cancelled_at < 1.0  # the next chunk was 2 s away
    await stream.aclose()


@pytest.mark.parametrize("token_kind", list(TOKENS))
async def test_a_token_reused_over_many_creates_keeps_none_of_their_results_alive(
    server: FakeServer, client: Any, token_kind: str
) -> None:
    token = TOKENS[token_kind]()
    await client.create(HELLO, cancellation_token=token)
    before = await alive(CreateResult)
    for _ in range(40):
        assert (await client.create(HELLO, cancellation_token=token)).content == "You said: Hello"
    assert await alive(CreateResult) <= before, "the results of calls that ended are kept alive by the token"
