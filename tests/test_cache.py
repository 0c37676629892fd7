"""ChatCompletionCache: keys, hits, stream replay, what is never stored, single flight, and every store for real."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    AzureOpenAIChatCompletionClient,
    ChatCompletionCache,
    DiskCacheStore,
    FunctionTool,
    InMemoryStore,
    OpenAIChatCompletionClient,
    RedisStore,
    ThoughtChunk,
    UserMessage,
)
from modelport.cache import canonical_json
from modelport.testing import FakeServer, Reply, chunk, completion

from .conftest import API_KEY
from .helpers import HELLO, collect


@pytest.fixture
async def cache(make_client: Any) -> ChatCompletionCache:
    return ChatCompletionCache(make_client())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- hits, copies, usage, events --

async def test_hit_is_a_fresh_copy_marked_cached_and_costs_no_usage(server: FakeServer,
                                                                    cache: ChatCompletionCache) -> None:
    first = await cache.create(HELLO)
    usage_after_miss = cache.total_usage()
    second = await cache.create(HELLO)
    second.content = "mutated by the caller"
    third = await cache.create(HELLO)
    assert (first.cached, second.cached, third.cached) == (False, True, True)
    assert third.content == first.content  # a hit never aliases the stored value
    assert len(server.requests) == 1 and cache.total_usage() == usage_after_miss


async def test_hit_shows_in_call_events(cache: ChatCompletionCache, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    await cache.create(HELLO)
    caplog.set_level(logging.INFO, logger=mp.EVENT_LOGGER_NAME)
    await cache.create(HELLO)
    await collect(cache)
    hits = [r.msg for r in caplog.records if r.name == mp.EVENT_LOGGER_NAME]
    assert [type(e).__name__ for e in hits] == ["LLMCallEvent", "LLMStreamStartEvent", "LLMStreamEndEvent"]
    assert all(e.kwargs["cached"] is True for e in hits)


HIT_EVENT_FIELDS = {"messages", "response", "prompt_tokens", "completion_tokens", "model", "resolved_model",
                    "latency_ms", "retries", "cached", "request_id", "provider", "cost"}


async def test_hit_events_report_the_stored_answer_and_claim_no_tools(
    server: FakeServer, cache: ChatCompletionCache, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    def weather(city: str) -> str:
        return city

    tools = [FunctionTool(weather, "The weather in a city")]
    server.add(Reply.json(completion("Sunny", model="gpt-4o-2024-08-06")))
    await cache.create(HELLO, tools=tools)
    caplog.set_level(logging.INFO, logger=mp.EVENT_LOGGER_NAME)
    await cache.create(HELLO, tools=tools)
    await collect(cache, HELLO, tools=tools)
    hit, start, end = [r.msg for r in caplog.records if r.name == mp.EVENT_LOGGER_NAME]
    assert isinstance(start, mp.LLMStreamStartEvent) and start.kwargs["cached"] is True
    for event in (hit, end):  # a hit sent nothing: no tools offered, no token details of a call of its own
        assert set(event.kwargs) == HIT_EVENT_FIELDS and event.kwargs["cached"] is True
    assert hit.kwargs["model"] == hit.kwargs["resolved_model"] == "gpt-4o-2024-08-06"


async def test_B104_stream_replay_equals_the_original_stream(server: FakeServer, cache: ChatCompletionCache) -> None:
    server.add(Reply.sse([chunk({"reasoning_content": "Let me"}), chunk({"reasoning_content": " think."}),
                          chunk({"content": "Paris"}), chunk({"content": " it is."}), chunk(finish_reason="stop"),
                          chunk(usage={"prompt_tokens": 9, "completion_tokens": 4}, choices=False)]))
    original, first = await collect(cache)
    replayed, second = await collect(cache)
    assert replayed == original and [type(d) for d in replayed] == [type(d) for d in original]
    assert [type(d) for d in replayed] == [ThoughtChunk, ThoughtChunk, str, str]
    assert second.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"}) and second.cached
    assert len(server.requests) == 1
    created = await cache.create(HELLO)  # a non-stream hit of the same request agrees
    assert created.content == "Paris it is." and created.thought == "Let me think." and created.cached


async def test_stream_hit_of_a_created_entry(server: FakeServer, cache: ChatCompletionCache) -> None:
    server.add(Reply.json(completion("Paris", reasoning_content="Because.")))
    await cache.create(HELLO)
    deltas, result = await collect(cache)
    assert deltas == ["Because.", "Paris"] and isinstance(deltas[0], ThoughtChunk) and result.cached


async def test_tool_calls_and_structured_output_round_trip(server: FakeServer, cache: ChatCompletionCache) -> None:
    class City(BaseModel):
        name: str

    def lookup(city: str) -> str:
        return city

    tool = FunctionTool(lookup, "look up")
    first = await cache.create([UserMessage(content="Find Paris")], tools=[tool])
    again = await cache.create([UserMessage(content="Find Paris")], tools=[tool])
    assert again.content == first.content and again.finish_reason == "function_calls"
    parsed = await cache.create([UserMessage(content="About Paris")], json_output=City)
    hit = await cache.create([UserMessage(content="About Paris")], json_output=City)
    assert hit.parsed == parsed.parsed == City(name="Paris") and hit.cached
    assert len(server.requests) == 2


# -- never stored --

async def test_failures_are_not_stored(server: FakeServer, make_client: Any) -> None:
    cache = ChatCompletionCache(make_client(max_retries=0))
    server.add(Reply.json({"error": {"message": "bad"}}, status=400))
    with pytest.raises(mp.BadRequestError):
        await cache.create(HELLO)
    assert (await cache.create(HELLO)).cached is False


@pytest.mark.parametrize("finish", ["length", "content_filter", None])
async def test_B104_truncated_or_unfinished_answers_are_not_stored(server: FakeServer, cache: ChatCompletionCache,
                                                                    finish: str | None) -> None:
    server.add(Reply.json(completion("cut", finish_reason=finish)), Reply.sse(
        [chunk({"content": "cut"}), chunk(finish_reason=finish)]))
    await cache.create(HELLO)
    await collect(cache)
    assert len(server.requests) == 2
    assert (await cache.create(HELLO)).cached is False


async def test_B104_partial_errored_and_cancelled_streams_are_not_stored(server: FakeServer,
                                                                         cache: ChatCompletionCache) -> None:
    server.add(Reply.sse([chunk({"content": f"w{i} "}) for i in range(20)], delay=0.005))
    async with cache.create_stream(HELLO) as stream:
        async for _ in stream:
            break  # partial
    server.add(Reply.sse([chunk({"content": "a"})], done=False, reset=True))
    with pytest.raises(mp.APIConnectionError):
        await collect(cache)  # errored
    server.add(Reply.sse([chunk({"content": "a"})], done=False, stall=True))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in cache.create_stream(HELLO):
            started.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # cancelled
    _, result = await collect(cache)
    assert result.cached is False and len(server.requests) == 4


# -- single flight --

async def test_identical_concurrent_misses_make_one_request(server: FakeServer, cache: ChatCompletionCache) -> None:
    server.add(Reply.json(completion("slow answer"), head_delay=0.2))
    results = await asyncio.gather(*(cache.create(HELLO) for _ in range(5)))
    assert len(server.requests) == 1
    assert [r.cached for r in results].count(False) == 1 and {r.content for r in results} == {"slow answer"}


async def test_identical_concurrent_stream_misses_make_one_request(server: FakeServer,
                                                                   cache: ChatCompletionCache) -> None:
    server.add(Reply.sse([chunk({"content": "one"}), chunk({"content": " two"}), chunk(finish_reason="stop")],
                         delay=0.05))
    outcomes = await asyncio.gather(*(collect(cache) for _ in range(4)))
    assert len(server.requests) == 1 and all(deltas == ["one", " two"] for deltas, _ in outcomes)


async def test_a_failed_leader_lets_waiters_ask_themselves(server: FakeServer, make_client: Any) -> None:
    cache = ChatCompletionCache(make_client(max_retries=0))
    server.add(Reply.json({"error": {"message": "boom"}}, status=500, head_delay=0.1))
    outcomes = await asyncio.gather(*(cache.create(HELLO) for _ in range(3)), return_exceptions=True)
    assert sum(isinstance(o, mp.ServerError) for o in outcomes) == 1
    assert all(o.content == "You said: Hello" for o in outcomes if not isinstance(o, Exception))


# -- the key (wire-behaviour B-102, B-103) --

def key_of(client: Any, messages: Any = HELLO, **kwargs: Any) -> str:
    return ChatCompletionCache(client).cache_key(messages, **kwargs)


def weather(city: str) -> str:
    return city


TOOL = FunctionTool(weather, "Get the weather")
TOOL_OTHER_DESCRIPTION = FunctionTool(weather, "Get the weather, in detail")


@pytest.mark.parametrize(("field", "a", "b"), [
    ("messages", {"messages": HELLO}, {"messages": [UserMessage(content="Hello!")]}),
    ("source", {"messages": HELLO}, {"messages": [UserMessage(content="Hello", source="bob")]}),
    ("tools", {"tools": [TOOL]}, {"tools": [TOOL_OTHER_DESCRIPTION]}),
    ("tool_choice", {"tools": [TOOL], "tool_choice": "auto"}, {"tools": [TOOL], "tool_choice": "none"}),
    ("tool_choice_named", {"tools": [TOOL]}, {"tools": [TOOL], "tool_choice": TOOL}),
    ("json_output", {}, {"json_output": True}),
    ("schema", {"json_output": type("A", (BaseModel,), {"__annotations__": {"x": int}})},
     {"json_output": type("A", (BaseModel,), {"__annotations__": {"x": str}})}),
    ("temperature", {"extra_create_args": {"temperature": 0}}, {"extra_create_args": {"temperature": 0.7}}),
    ("seed", {"extra_create_args": {"seed": 1}}, {"extra_create_args": {"seed": 2}}),
    ("logit_bias", {}, {"extra_create_args": {"logit_bias": {"50256": -100}}}),
    ("max_tokens", {"extra_create_args": {"max_tokens": 10}}, {"extra_create_args": {"max_tokens": 11}}),
    ("reasoning", {}, {"extra_create_args": {"reasoning_effort": "high"}}),
    ("extra_body", {}, {"extra_create_args": {"extra_body": {"top_k": 5}}}),
    ("parallel_tool_calls", {"tools": [TOOL]},
     {"tools": [TOOL], "extra_create_args": {"parallel_tool_calls": False}}),
])
def test_B102_each_key_field_changes_the_key(make_client: Any, field: str, a: dict, b: dict) -> None:
    client = make_client()
    assert key_of(client, **a) == key_of(client, **a)
    assert key_of(client, **a) != key_of(client, **b), field


def test_B102_client_side_fields_change_the_key(make_client: Any, server: FakeServer) -> None:
    base = key_of(make_client())
    assert key_of(make_client("gpt-4o-mini")) != base  # model
    assert key_of(make_client(base_url=server.base_url.replace("/v1", "/v2"))) != base  # base URL
    assert key_of(make_client(provider="vllm", base_url=server.base_url)) != base  # provider
    assert key_of(make_client(temperature=0.2)) != base  # a create argument set on the client
    azure = {"azure_endpoint": "https://r.openai.azure.com", "api_key": "k", "model": "gpt-4o"}
    one = AzureOpenAIChatCompletionClient(azure_deployment="one", api_version="2024-10-21", **azure)
    two = AzureOpenAIChatCompletionClient(azure_deployment="two", api_version="2024-10-21", **azure)
    newer = AzureOpenAIChatCompletionClient(azure_deployment="one", api_version="2025-01-01-preview", **azure)
    assert len({key_of(one), key_of(two), key_of(newer)}) == 3  # deployment, API version


async def test_B102_a_changed_field_misses_end_to_end(server: FakeServer, cache: ChatCompletionCache) -> None:
    await cache.create(HELLO, tools=[TOOL], tool_choice="auto")
    other = await cache.create(HELLO, tools=[TOOL], tool_choice="none")
    assert other.cached is False and len(server.requests) == 2


def test_B103_canonical_key(make_client: Any) -> None:
    client = make_client()
    a = key_of(client, extra_create_args={"temperature": 1, "extra_body": {"top_k": 5, "min_p": 0.1}})
    b = key_of(client, extra_create_args={"extra_body": {"min_p": 0.1, "top_k": 5}, "temperature": 1.0})
    assert a == b
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert key_of(client, [UserMessage(content=composed)]) == key_of(client, [UserMessage(content=decomposed)])
    assert canonical_json({"b": 1.0, "a": ["x", 2.5]}) == b'{"a":["x",2.5],"b":1}'


def test_B103_key_is_stable_across_processes(make_client: Any, server: FakeServer) -> None:
    code = ("from modelport import OpenAIChatCompletionClient, ChatCompletionCache, UserMessage\n"
            f"c = OpenAIChatCompletionClient(model='gpt-4o', base_url={server.base_url!r}, api_key='x')\n"
            "print(ChatCompletionCache(c).cache_key([UserMessage(content='Hello')]))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert keys == {key_of(make_client())}


def test_key_validates_like_create(make_client: Any) -> None:
    with pytest.raises(ValueError, match="temprature"):
        key_of(make_client(), extra_create_args={"temprature": 1})


# -- stores --

async def test_in_memory_store_is_bounded_and_expires() -> None:
    clock = FakeClock()
    store = InMemoryStore(max_entries=2, clock=clock)
    await store.set("a", b"1")
    await store.set("b", b"2", ttl=10)
    await store.get("a")  # a is now the most recently used
    await store.set("c", b"3")
    assert (await store.get("b"), await store.get("a"), await store.get("c")) == (None, b"1", b"3")
    await store.set("d", b"4", ttl=5)
    clock.now += 5
    assert await store.get("d") is None


async def test_ttl_expiry_through_the_cache(make_client: Any, server: FakeServer) -> None:
    clock = FakeClock()
    cache = ChatCompletionCache(make_client(), InMemoryStore(clock=clock), ttl=60)
    await cache.create(HELLO)
    clock.now += 59
    assert (await cache.create(HELLO)).cached is True
    clock.now += 2
    assert (await cache.create(HELLO)).cached is False


async def test_disk_store_expiry_with_an_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    store = DiskCacheStore(tmp_path, clock=clock)
    await store.set("k", b'{"x":1}', ttl=30)
    assert await store.get("k") == b'{"x":1}'
    clock.now += 30
    assert await store.get("k") is None
    store.close()


@pytest.mark.parametrize("garbage", [b"not json", b'{"version": 1, "result": {"bogus": true}}', b'{"version": 99}'])
async def test_corrupt_entry_is_a_miss_and_is_overwritten(tmp_path: Path, make_client: Any, server: FakeServer,
                                                          garbage: bytes) -> None:
    store = DiskCacheStore(tmp_path)
    cache = ChatCompletionCache(make_client(), store)
    key = cache.cache_key(HELLO)
    await store.set(key, garbage)
    assert (await cache.create(HELLO)).cached is False
    assert (await cache.create(HELLO)).cached is True and len(server.requests) == 1
    store.close()


async def test_disk_store_values_are_json_not_pickle(tmp_path: Path, make_client: Any) -> None:
    store = DiskCacheStore(tmp_path)
    cache = ChatCompletionCache(make_client(), store)
    await cache.create(HELLO)
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / DiskCacheStore.FILENAME)) as db, db:
        (value,) = db.execute("SELECT value FROM entries").fetchone()
    assert bytes(value).startswith(b'{"version":1,')


WRITER = """
import asyncio, sys
from modelport import ChatCompletionCache, DiskCacheStore, OpenAIChatCompletionClient, UserMessage
async def main(folder, base_url, start):
    store = DiskCacheStore(folder)
    cache = ChatCompletionCache(OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="x"), store)
    for i in range(start, start + 40):
        await cache.create([UserMessage(content=f"question {i}")])
    await cache.close()
    store.close()
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_share_one_disk_cache_folder(tmp_path: Path, server: FakeServer,
                                                         make_client: Any) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), server.base_url, str(start)])
               for start in (0, 40)]
    for writer in writers:
        assert await asyncio.to_thread(writer.wait, 60) == 0
    assert len(server.requests) == 80
    store = DiskCacheStore(tmp_path)
    cache = ChatCompletionCache(make_client(base_url=server.base_url, api_key="x"), store)
    for i in range(80):
        result = await cache.create([UserMessage(content=f"question {i}")])
        assert result.cached and result.content == f"You said: question {i}"
    assert len(server.requests) == 80
    store.close()


async def test_redis_store_round_trip_json_and_ttl(redis_url: str, make_client: Any, server: FakeServer) -> None:
    import redis.asyncio

    store = RedisStore(redis_url)
    cache = ChatCompletionCache(make_client(), store, ttl=120, namespace="test-redis")
    first = await cache.create(HELLO)
    again = await cache.create(HELLO)
    assert again.cached and again.content == first.content and len(server.requests) == 1
    deltas, streamed = await collect(cache)
    assert streamed.cached and deltas == [first.content]
    direct = redis.asyncio.from_url(redis_url)
    key = cache.cache_key(HELLO)
    assert (await direct.get(key)).startswith(b'{"version":1,')
    assert 0 < await direct.pttl(key) <= 120_000  # expiry is Redis's own TTL
    await store.delete(key)
    assert await store.get(key) is None
    await direct.aclose()
    await store.close()


async def test_redis_that_is_down_is_a_logged_miss(make_client: Any, server: FakeServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from .test_transport import closed_port

    store = RedisStore(f"redis://127.0.0.1:{closed_port()}/0", timeout=0.2)
    cache = ChatCompletionCache(make_client(), store)
    start = time.monotonic()
    assert (await cache.create(HELLO)).content == "You said: Hello"
    assert (await cache.create(HELLO)).cached is False
    assert time.monotonic() - start < 2
    assert any("redis cache" in r.getMessage() for r in caplog.records)
    await store.close()


async def test_redis_that_is_slow_is_a_miss_within_the_timeout(make_client: Any, server: FakeServer) -> None:
    writers: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # accept the connection, read, never reply

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    cache = ChatCompletionCache(make_client(), store)
    try:
        start = time.monotonic()
        assert (await cache.create(HELLO)).content == "You said: Hello"
        assert time.monotonic() - start < 1.5
    finally:
        await store.close()
        for writer in writers:
            writer.close()
        silent.close()
        await silent.wait_closed()


def test_redis_store_arguments() -> None:
    with pytest.raises(ValueError, match="one of url=, url_env= or client="):
        RedisStore()
    store = RedisStore("redis://:s3cret@127.0.0.1:6379/0")
    assert "s3cret" not in repr(store)


def test_cache_is_a_client() -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", api_key=API_KEY)
    cache = ChatCompletionCache(client)
    assert isinstance(cache, mp.ChatCompletionClient)
    assert cache.model_info == client.model_info and cache.count_tokens(HELLO) == client.count_tokens(HELLO)
