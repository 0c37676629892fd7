"""Compressed bodies at their edges: concatenated gzip members, a gzip body cut before its end, data after it."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

import modelport
from modelport.testing import FakeServer, chunk, completion

from .conftest import API_KEY
from .test_compressed_bodies import MiB, compressed_reply, gzip_of_zeros, sse_body

HI = [modelport.UserMessage(content="hi", source="user")]


async def test_concatenated_gzip_members_are_all_decompressed(server: FakeServer, client: Any) -> None:
    """A gzip body may be several members one after the other (RFC 1952), as a server that compresses each flush
    sends it: every member is the body, none dropped."""
    events = [chunk({"role": "assistant", "content": ""}), chunk({"content": "one "}), chunk({"content": "two"})]
    events.append(chunk({}, finish_reason="stop"))
    text = sse_body(*events)
    middle = text.index(b"data: ", 10)
    body = gzip.compress(text[:middle]) + gzip.compress(text[middle:])
    server.add(compressed_reply(body, "gzip", "text/event-stream", chunked=True))
    items = [item async for item in client.create_stream(HI)]
    assert items[-1].content == "one two"


async def test_concatenated_gzip_members_in_a_json_body_are_all_decompressed(server: FakeServer, client: Any) -> None:
    text = json.dumps(completion("whole")).encode()
    body = gzip.compress(text[:20]) + gzip.compress(text[20:])
    server.add(compressed_reply(body, "gzip", "application/json"))
    result = await client.create(HI)
    assert result.content == "whole"


async def test_cut_gzip_json_body_is_a_typed_error(server: FakeServer, make_client: Any) -> None:
    whole = gzip.compress(json.dumps(completion("cut")).encode())
    server.add(compressed_reply(whole[: len(whole) - 8], "gzip", "application/json"))
    client = make_client(max_retries=0)
    with pytest.raises(modelport.ResponseValidationError):
        await client.create(HI)


async def test_data_after_the_gzip_body_is_a_typed_error(server: FakeServer, make_client: Any) -> None:
    body = gzip.compress(json.dumps(completion("ok")).encode()) + b"trailing garbage"
    server.add(compressed_reply(body, "gzip", "application/json"))
    client = make_client(max_retries=0)
    with pytest.raises(modelport.ResponseValidationError):
        await client.create(HI)


async def test_empty_gzip_body_of_an_error_status_is_its_status_error(server: FakeServer, make_client: Any) -> None:
    """A 503 with Content-Encoding and no body at all is the 503, not a decoding failure."""
    from modelport.testing import Reply

    server.add(Reply(status=503, headers={"content-encoding": "gzip"}, segments=[(0.0, b"")]))
    client = make_client(max_retries=0)
    with pytest.raises(modelport.APIStatusError) as caught:
        await client.create(HI)
    assert caught.value.status_code == 503


async def test_gzip_body_through_a_session_of_your_own_is_bounded_by_max_response_bytes(server: FakeServer) -> None:
    """A session given by the caller decompresses itself; what it decompresses still counts against
    max_response_bytes: a small compressed body with its Content-Length is not read whole past the bound."""
    import aiohttp

    server.add(compressed_reply(gzip_of_zeros(8 * MiB), "gzip", "application/json"))
    async with aiohttp.ClientSession() as session:
        client = modelport.OpenAIChatCompletionClient(
            model="gpt-4o",
            base_url=server.base_url,
            api_key=API_KEY,
            http_session=session,
            max_response_bytes=MiB,
            max_retries=0,
        )
        try:
            with pytest.raises(modelport.ResponseTooLargeError):
                await client.create(HI)
        finally:
            await client.close()


async def test_thousands_of_gzip_members_in_one_piece_are_decompressed(server: FakeServer, client: Any) -> None:
    """Empty members before the body (20 bytes each, thousands in one read): each is decompressed in turn, without
    a recursion per member."""
    body = gzip.compress(b"") * 5000 + gzip.compress(json.dumps(completion("after many")).encode())
    server.add(compressed_reply(body, "gzip", "application/json"))
    result = await client.create(HI)
    assert result.content == "after many"
