"""Hardening: credentials never leave for another host nor stay reachable from an error, streams time out per event,
one retry rule for create and stream, and a deadline that ends a call says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import modelport as mp
from modelport import AzureOpenAIChatCompletionClient, OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer, Reply, chunk, completion

from .conftest import API_KEY, RecordingSleep
from .helpers import HELLO, collect

AZURE_KEY = "azure-SECRET-key-5550123abcdef"
HEADER_SECRET = "hdr-SECRET-token-777888999"


def azure(server: FakeServer, **kwargs: Any) -> AzureOpenAIChatCompletionClient:
    kwargs.setdefault("api_key", AZURE_KEY)
    kwargs.setdefault("retry_policy", RetryPolicy(max_retries=0))
    return AzureOpenAIChatCompletionClient(
        azure_endpoint=server.base_url.removesuffix("/v1"), azure_deployment="gpt-4o", api_version="2024-10-21",
        **kwargs,
    )


@pytest.fixture
def other_server() -> Iterator[FakeServer]:
    """A second host: another origin on this machine (another port)."""
    with FakeServer() as other:
        yield other


def reachable_text(root: Any) -> str:
    """Every str, bytes and repr reachable from ``root`` through exception links, args, attributes and containers:
    what an error tracker could record of an exception (frame locals aside)."""
    found: list[str] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if obj is None or id(obj) in seen or depth > 10:
            return
        seen.add(id(obj))
        if isinstance(obj, str):
            found.append(obj)
            return
        if isinstance(obj, (bytes, bytearray)):
            found.append(bytes(obj).decode("latin-1"))
            return
        with contextlib.suppress(Exception):  # a repr that fails hides nothing
            found.append(repr(obj))
        if isinstance(obj, BaseException):
            for link in (obj.__cause__, obj.__context__, obj.args):
                visit(link, depth + 1)
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                visit(key, depth + 1)
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                visit(item, depth + 1)
        for name in getattr(obj, "__dict__", {}):
            visit(getattr(obj, name, None), depth + 1)
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                visit(getattr(obj, name, None), depth + 1)

    visit(root, 0)
    return "\n".join(found)


# -- 1. redirects --

@pytest.mark.parametrize("stream", [False, True])
async def test_azure_key_is_not_sent_to_another_host_on_redirect(server: FakeServer, other_server: FakeServer,
                                                                 stream: bool) -> None:
    target = f"{other_server.base_url}/chat/completions"
    server.add(Reply(status=307, headers={"location": target}))
    client = azure(server, default_headers={"X-Auth-Token": HEADER_SECRET})
    try:
        with pytest.raises(mp.RedirectError) as info:
            await (collect(client) if stream else client.create(HELLO))
    finally:
        await client.close()
    assert other_server.requests == []
    assert info.value.location == target and target in str(info.value) and info.value.status_code == 307
    assert "base_url" in str(info.value)


async def test_redirect_to_the_same_host_by_another_name_is_not_followed(server: FakeServer, make_client: Any) -> None:
    server.add(Reply(status=308, headers={"location": server.base_url.replace("127.0.0.1", "localhost")}))
    with pytest.raises(mp.RedirectError, match="another origin"):
        await make_client().create(HELLO)
    assert len(server.requests) == 1


async def test_same_origin_307_is_followed_with_body_and_key(server: FakeServer, make_client: Any) -> None:
    server.add(Reply(status=307, headers={"location": "/openai/v1/chat/completions"}))
    result = await make_client().create(HELLO)
    assert result.content == "You said: Hello"
    first, second = server.requests
    assert second.path == "/openai/v1/chat/completions" and second.body == first.body
    assert second.headers["authorization"] == f"Bearer {API_KEY}"


async def test_same_origin_302_for_a_post_is_refused(server: FakeServer, make_client: Any) -> None:
    server.add(Reply(status=302, headers={"location": "/v2/chat/completions"}))
    with pytest.raises(mp.RedirectError, match="POST into a GET"):
        await make_client().create(HELLO)
    assert len(server.requests) == 1


async def test_redirect_loop_ends_in_a_typed_error_without_the_key(server: FakeServer, make_client: Any) -> None:
    server.add(*[Reply(status=307, headers={"location": "/v1/chat/completions"}) for _ in range(10)])
    with pytest.raises(mp.RedirectError, match="after 5 redirects") as info:
        await make_client().create(HELLO)
    assert len(server.requests) == 6
    assert API_KEY not in reachable_text(info.value)


# -- 2, 3. the stream timeout is per event --

def _trickle(prefix: list[bytes], tail: bytes, interval: float) -> Reply:
    segments = [(0.0, piece) for piece in prefix] + [(interval, tail[i:i + 1]) for i in range(len(tail))]
    return Reply(status=200, headers={"content-type": "text/event-stream"}, segments=segments, chunked=True)


def _event(payload: dict[str, Any]) -> bytes:
    import orjson

    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def test_a_trickling_stream_times_out_per_event_not_per_byte(server: FakeServer, make_client: Any) -> None:
    first = _event(chunk({"role": "assistant", "content": "Hi"}))
    server.add(_trickle([first], _event(chunk({"content": " there, how are you doing today?"})) * 3, 0.05))
    client = make_client(timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(mp.APITimeoutError) as info:
        await collect(client)
    assert time.monotonic() - started < 2.0  # one byte every 50 ms would last 20 s
    assert info.value.phase == "stream" and info.value.partial is not None
    assert info.value.partial.content == "Hi"


async def test_B27_keepalive_comments_split_across_reads_are_not_progress(server: FakeServer, make_client: Any) -> None:
    first = _event(chunk({"role": "assistant", "content": "Hi"}))
    pieces = [(0.0, first)] + [(0.1, b": keep" if i % 2 == 0 else b"-alive\n\n") for i in range(100)]
    server.add(Reply(status=200, headers={"content-type": "text/event-stream"}, segments=pieces, chunked=True))
    client = make_client(timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(mp.APITimeoutError) as info:
        await collect(client)
    assert 0.4 < time.monotonic() - started < 2.0  # the flood lasts 10 s
    assert info.value.phase == "stream"


# -- 4, 5. no key reachable from an error --

class RawServer:
    """A loopback server that answers every connection with fixed bytes (a malformed status line, or nothing)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0

    async def __aenter__(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.answer)
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize("stream", [False, True])
async def test_key_not_reachable_from_the_error_of_a_malformed_status_line(stream: bool) -> None:
    async with RawServer(b"HTTP/1.1 abc nonsense\r\n\r\n") as base:
        client = AzureOpenAIChatCompletionClient(
            azure_endpoint=base, azure_deployment="gpt-4o", api_version="2024-10-21", api_key=AZURE_KEY,
            retry_policy=RetryPolicy(max_retries=0), default_headers={"x-goog-api-key": HEADER_SECRET},
        )
        try:
            with pytest.raises(mp.APIConnectionError) as info:
                await (collect(client) if stream else client.create(HELLO))
        finally:
            await client.close()
    everything = reachable_text(info.value) + "".join(traceback.format_exception(info.value))
    assert AZURE_KEY not in everything and HEADER_SECRET not in everything
    assert isinstance(info.value.__cause__, OSError)  # the cause is kept, as plain text (B-22)


async def test_a_key_echoed_by_the_server_is_scrubbed(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=mp.EVENT_LOGGER_NAME)
    echo = {"error": {"message": f"Incorrect API key provided: {AZURE_KEY}. Header: {HEADER_SECRET}",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}
    server.add(Reply.json(echo, status=401), Reply.json(echo, status=401))
    client = azure(server, default_headers={"Ocp-Apim-Subscription-Key": HEADER_SECRET})
    errors = []
    try:
        for stream in (False, True):
            with pytest.raises(mp.AuthenticationError) as info:
                await (collect(client) if stream else client.create(HELLO))
            errors.append(info.value)
    finally:
        await client.close()
    for error in errors:
        shown = str(error) + reachable_text(error) + "".join(traceback.format_exception(error))
        assert AZURE_KEY not in shown and HEADER_SECRET not in shown
        assert "Incorrect API key provided: **********" in str(error)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "LLMCallError" in logged and AZURE_KEY not in logged and HEADER_SECRET not in logged


async def test_a_token_from_the_provider_is_scrubbed_too(server: FakeServer) -> None:
    token = "ad-token-SECRET-from-provider-42"
    server.add(Reply.json({"error": {"message": f"token {token} expired"}}, status=401))
    client = azure(server, api_key=None, azure_ad_token_provider=lambda: token)
    try:
        with pytest.raises(mp.AuthenticationError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    assert token not in reachable_text(info.value)


@pytest.mark.parametrize("header", ["x-goog-api-key", "Ocp-Apim-Subscription-Key", "X-Auth-Token", "Cookie",
                                    "Proxy-Authorization", "X-Client-Secret"])
async def test_every_credential_header_is_masked_and_never_saved(server: FakeServer, header: str) -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY,
                                        default_headers={header: HEADER_SECRET, "x-plain": "visible"})
    try:
        assert HEADER_SECRET not in repr(vars(client)) and HEADER_SECRET not in repr(client)
        config = client.dump_component().model_dump_json()
        assert HEADER_SECRET not in config and "visible" in config
        assert HEADER_SECRET in client.dump_component(include_secrets=True).model_dump_json()
        await client.create(HELLO)
        assert server.requests[-1].headers[header.lower()] == HEADER_SECRET
    finally:
        await client.close()


# -- 6. keys are checked when the client is built --

@pytest.mark.parametrize("key", [API_KEY + "\n", " " + API_KEY, "sk-ключ-123456", "sk-key\x00withnul", "sk key"])
def test_a_key_that_http_cannot_carry_is_refused_when_the_client_is_built(key: str) -> None:
    with pytest.raises(mp.InvalidRequestError, match="api_key") as info:
        OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", api_key=key)
    assert key.strip() not in str(info.value)
    with pytest.raises(mp.InvalidRequestError, match="api_key"):
        azure(FakeServer(), api_key=key)


def test_a_key_from_the_environment_with_a_newline_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", API_KEY + "\n")
    with pytest.raises(mp.InvalidRequestError, match=r"MY_KEY.*white space"):
        OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", api_key_env="MY_KEY")


@pytest.mark.parametrize("headers", [{"x-trace": "a\r\nInjected: 1"}, {"x-note": "naïve ✓"}, {"bad name": "v"},
                                     {"Authorization": "Bearer tok\n"}, {"x-n": 5}])
def test_default_headers_http_cannot_carry_are_refused(headers: dict[str, Any]) -> None:
    with pytest.raises(mp.InvalidRequestError, match="default_headers"):
        OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", default_headers=headers)


# -- 8. a deadline that stops the retries is reported as the deadline --

async def test_giving_up_because_of_the_deadline_reports_the_deadline(server: FakeServer) -> None:
    server.add(Reply.hang(), Reply.hang(), Reply.hang())
    sleeps = RecordingSleep()
    client = OpenAIChatCompletionClient(
        model="gpt-4o", base_url=server.base_url, api_key=API_KEY, timeout=0.3, deadline=1.0,
        retry_policy=RetryPolicy(max_retries=5, sleep=sleeps, random=lambda: 0.0),
    )
    try:
        with pytest.raises(mp.APITimeoutError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    # attempt 1 times out at 0.3 s, the 0.5 s wait fits, attempt 2 times out at 0.6 s, the 1 s wait would not fit
    assert sleeps.waits == [0.5]
    assert info.value.phase == "deadline" and info.value.attempts == 2
    assert "deadline of 1.0 s" in str(info.value) and "no response within 0.3 s" in str(info.value)


# -- 10. create and stream retry the same failures --

_CUT = "a body cut off before it was whole"
_IN_BAND = "a retryable error inside a 200"
_BAD_JSON = "a 200 that is not valid JSON"
_HTML = "an HTML page with status 200"


def _failure(kind: str, stream: bool) -> Reply:
    if kind == _CUT:
        if stream:
            return Reply.sse([chunk({"role": "assistant"})], done=False, reset=True)
        return Reply(status=200, headers={"content-type": "application/json"}, segments=[(0.0, b'{"id": "x", ')],
                     chunked=True, reset=True)
    if kind == _IN_BAND:
        error = {"error": {"message": "The server had an error", "type": "server_error"}}
        return Reply.sse([error], done=False) if stream else Reply.json(error)
    if kind == _BAD_JSON:
        if stream:
            return Reply.sse(['data: {"choices": [\n\n'], done=False)
        return Reply.text('{"choices": [', content_type="application/json")
    return Reply.text("<html><title>Sign in</title></html>", content_type="text/html")


@pytest.mark.parametrize("kind, retried", [(_CUT, True), (_IN_BAND, True), (_BAD_JSON, False), (_HTML, False)])
async def test_create_and_stream_retry_the_same_failures(server: FakeServer, make_client: Any, kind: str,
                                                         retried: bool) -> None:
    client = make_client()
    outcomes = []
    for stream in (False, True):
        server.reset()
        server.add(_failure(kind, stream), Reply.json(completion("fine")) if not stream else Reply.sse(
            [chunk({"content": "fine"}), chunk(finish_reason="stop")]))
        try:
            result = (await collect(client))[1] if stream else await client.create(HELLO)
            outcomes.append(("ok", result.content, len(server.requests)))
        except mp.APIError as exc:
            outcomes.append((type(exc).__name__, None, len(server.requests)))
    create_outcome, stream_outcome = outcomes
    assert create_outcome[0] == stream_outcome[0] or {create_outcome[0], stream_outcome[0]} <= {
        "APIConnectionError", "IncompleteStreamError", "StreamProtocolError", "ResponseValidationError"}
    if retried:
        assert create_outcome == stream_outcome == ("ok", "fine", 2)
    else:
        assert create_outcome[2] == stream_outcome[2] == 1
        assert create_outcome[0] != "ok" and stream_outcome[0] != "ok"


async def test_json_output_with_tools_answered_by_tool_calls_returns_the_calls(server: FakeServer,
                                                                               make_client: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    tool = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    client = make_client()
    result = await client.create(HELLO, tools=[tool], json_output=Answer)
    streamed = (await collect(client, tools=[tool], json_output=Answer))[1]
    for answer in (result, streamed):
        assert answer.finish_reason == "function_calls" and answer.parsed is None
        assert isinstance(answer.content, list) and answer.content[0].name == "get_weather"


async def test_time_the_caller_spends_between_chunks_is_not_a_timeout(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({"content": "b"}), chunk(finish_reason="stop")]))
    client = make_client(timeout=0.3, max_retries=0)
    got = []
    async with client.create_stream(HELLO) as stream:
        async for item in stream:
            got.append(item)
            await asyncio.sleep(0.45)  # longer than the timeout, between reads
    assert got[:2] == ["a", "b"] and got[-1].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_huge_error_body_is_cut_at_the_limit(server: FakeServer, make_client: Any, stream: bool) -> None:
    from modelport._http import MAX_ERROR_BODY

    server.add(Reply.huge(20 * 1024 * 1024, status=500), Reply.json(completion("fine")))
    client = make_client(max_retries=0)
    with pytest.raises(mp.ServerError) as caught:
        if stream:
            await collect(client)
        else:
            await client.create(HELLO)
    body = caught.value.body
    assert isinstance(body, str) and len(body) <= MAX_ERROR_BODY  # not the 20 MB sent
    assert len(str(caught.value)) < 2000  # the message stays a message
    assert (await client.create(HELLO)).content == "fine"  # the dropped connection left the pool usable
