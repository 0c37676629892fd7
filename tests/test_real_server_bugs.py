"""What real servers (llama.cpp's llama-server, LiteLLM's proxy) showed, reproduced against the fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelport import CancellationToken, CreateResult, ThoughtChunk
from modelport.testing import FakeServer, Reply, chunk, completion

from .helpers import HELLO, collect

# -- 1. a pooled connection the server closed is not a failure --

async def test_streams_on_a_server_that_closes_after_each_stream_pay_no_backoff(server: FakeServer, sleeps: Any,
                                                                                make_client: Any) -> None:
    server.close_after_streams = True
    client = make_client(max_retries=0)  # before the fix, the second stream failed outright
    for _ in range(20):
        _, result = await collect(client)
        assert result.content == "You said: Hello"
    result = await client.create(HELLO)
    assert result.content == "You said: Hello"
    assert sleeps.waits == []
    assert len(server.requests) == 21


@pytest.mark.parametrize("stream", [False, True])
async def test_a_pooled_connection_reset_as_the_next_request_arrives_is_resent_without_backoff(
        server: FakeServer, sleeps: Any, make_client: Any, stream: bool) -> None:
    # The race a busy machine showed: the server closes after each response, but late, so the client's next request
    # reaches the socket before the close does, and the kernel answers it with a reset (ECONNRESET), not a close.
    # The fake server makes that order certain; before the fix a reset was a failure with a back-off.
    client = make_client(max_retries=0)
    for _ in range(3):
        server.add(Reply(**{**vars(Reply.json(completion("first"))), "reset_next": True}))
        assert (await client.create(HELLO)).content == "first"
        if stream:
            assert (await collect(client))[1].content == "You said: Hello"
        else:
            assert (await client.create(HELLO)).content == "You said: Hello"
    assert sleeps.waits == []
    assert len(server.requests) == 6  # the requests the resets cut were not read, so not recorded


async def test_a_server_that_really_disconnects_is_still_an_error_and_counted() -> None:
    import modelport as mp
    from modelport import OpenAIChatCompletionClient, RetryPolicy

    from .conftest import RecordingSleep
    from .test_hardening import RawServer

    raw = RawServer(b"")  # reads the request, closes without a word: aiohttp's ServerDisconnectedError
    sleeps = RecordingSleep()
    async with raw as base:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=base + "/v1", api_key="sk-test-1234",
                                            retry_policy=RetryPolicy(max_retries=1, sleep=sleeps))
        try:
            with pytest.raises(mp.APIConnectionError, match="Server disconnected") as info:
                await client.create(HELLO)
        finally:
            await client.close()
    assert raw.connections == 2 and info.value.attempts == 2 and len(sleeps.waits) == 1


# -- 2. a tool call cut off by the token limit says "length" --

_CUT_CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                          "arguments": '{"city":'}}


async def test_a_tool_call_cut_by_length_is_reported_as_length(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion(None, tool_calls=[_CUT_CALL], finish_reason="length")))
    created = await client.create(HELLO)
    server.add(Reply.sse([chunk({"role": "assistant", "tool_calls": [_CUT_CALL]}), chunk(finish_reason="length")]))
    _, streamed = await collect(client)
    for result in (created, streamed):
        assert result.finish_reason == "length" and result.raw_finish_reason == "length"
        assert isinstance(result.content, list) and result.content[0].arguments == '{"city":'


# -- 3. white space at the start of an answer is not held back --

async def test_leading_whitespace_is_released_before_the_answer_ends(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "\n"}) for _ in range(100)] + [chunk(finish_reason="stop")]))
    deltas, result = await collect(client)
    assert result.content == "\n" * 100
    assert len(deltas) > 60  # before the fix: one delta of 100 newlines, at the very end


async def test_a_think_tag_after_a_little_leading_whitespace_is_still_reasoning(server: FakeServer,
                                                                                 client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "\n"}), chunk({"content": " <think>"}), chunk({"content": "hmm"}),
                          chunk({"content": "</think>Hi"}), chunk(finish_reason="stop")]))
    deltas, result = await collect(client)
    assert result.thought == "hmm" and result.content == "Hi"
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["hmm"]


# -- 4. a request id where the server sends no request-id header --

@pytest.mark.parametrize("stream", [False, True])
async def test_request_id_falls_back_to_the_completion_id(server: FakeServer, client: Any, stream: bool) -> None:
    headers = {"x-request-id": ""}  # the fake server adds one unless told otherwise
    if stream:
        server.add(Reply.sse([chunk({"content": "Hi"}), chunk(finish_reason="stop")], headers=headers))
        result = (await collect(client))[1]
    else:
        server.add(Reply.json(completion("Hi"), headers=headers))
        result = await client.create(HELLO)
    assert result.request_id == "chatcmpl-fake"


async def test_request_id_from_litellm_call_id(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion("Hi"), headers={"x-request-id": "", "x-litellm-call-id": "litellm-42"}))
    assert (await client.create(HELLO)).request_id == "litellm-42"


# -- 5. LiteLLM's context window in its /models listing --

async def test_list_models_reads_litellm_max_input_tokens(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json({"data": [{"id": "my-model", "object": "model", "max_input_tokens": 200000,
                                     "max_output_tokens": 8192}]}))
    client = make_client("my-model", model_info={"vision": False, "function_calling": True, "json_output": True,
                                                 "family": "unknown"})
    [listing] = await client.list_models()
    assert listing.context_window == 200000


def test_llamacpp_slot_window_wins_over_the_training_window() -> None:
    from modelport import ModelListing

    entry = {"id": "m", "meta": {"n_ctx_train": 131072, "n_ctx": 4096}}
    assert ModelListing.from_entry(entry).context_window == 4096


# -- 6. nothing after cancel --

async def test_no_chunk_is_delivered_after_cancel(server: FakeServer, client: Any) -> None:
    events = [chunk({"content": f"w{i} "}) for i in range(10)]
    server.add(Reply.sse(events, done=False, split=1_000_000, stall=True))  # every chunk arrives in one read
    token = CancellationToken()
    got: list[Any] = []
    with pytest.raises(asyncio.CancelledError):
        async with client.create_stream(HELLO, cancellation_token=token) as stream:
            async for item in stream:
                got.append(item)
                if len(got) == 1:
                    token.cancel()  # from the consuming task itself: the next step must already raise
    assert got == ["w0 "]
    assert not any(isinstance(item, CreateResult) for item in got)


async def test_cancel_before_the_server_answers_stops_the_stream(server: FakeServer, client: Any) -> None:
    import time

    server.add(Reply.hang())
    token = CancellationToken()
    asyncio.get_running_loop().call_later(0.2, token.cancel)
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        async with client.create_stream(HELLO, cancellation_token=token) as stream:
            async for _ in stream:
                pass
    assert time.monotonic() - started < 2.0  # before the fix: until the client's timeout (180 s)
    for _ in range(100):
        if server.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert server.open_connections == 0
