"""Bounds on what a server can make a client hold or wait for, over real HTTP against the fake server: the size of
a body, of one stream event and of one line (``max_response_bytes``), the wait on a stream of events that carry
nothing (``timeout``), and input nested too deeply for Python to walk."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import modelport as mp
from modelport import (
    AnthropicChatCompletionClient,
    AzureOpenAIChatCompletionClient,
    OllamaChatCompletionClient,
    OpenAIChatCompletionClient,
    RetryPolicy,
)
from modelport.components import load_component
from modelport.providers.anthropic.dialect import OUTPUT_TOOL
from modelport.testing import FakeServer, Reply, anthropic_event, chunk, completion, ollama_chunk

from .conftest import API_KEY, RecordingSleep
from .helpers import HELLO, collect, finish

MiB = 1 << 20
DIALECTS = ["openai", "anthropic", "ollama"]
_CONTENT_TYPE = {"openai": "text/event-stream", "anthropic": "text/event-stream", "ollama": "application/x-ndjson"}


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    """``make(dialect, **kwargs)``: a client of that dialect pointed at the fake server (no retries by default)."""
    made: list[Any] = []

    def make(dialect: str, **kwargs: Any) -> Any:
        kwargs.setdefault(
            "retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 0), sleep=sleeps, random=lambda: 0.0)
        )
        root = f"http://{server.host}:{server.port}"
        if dialect == "anthropic":
            client: Any = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=root, api_key=API_KEY, **kwargs)
        elif dialect == "ollama":
            client = OllamaChatCompletionClient("llama3.1", host=root, **kwargs)
        else:
            client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def _first_event(dialect: str) -> bytes:
    """The start of an answer, "Hel", as each dialect streams it."""
    if dialect == "anthropic":
        start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {}}}
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}
        return "".join(anthropic_event(e) for e in (start, block, delta)).encode()
    if dialect == "ollama":
        return orjson.dumps(ollama_chunk("Hel")) + b"\n"
    return b"data: " + orjson.dumps(chunk({"role": "assistant", "content": "Hel"})) + b"\n\n"


def _empty_event(dialect: str) -> bytes:
    """An event that is valid but adds nothing to the answer (``{"content": ""}``), in each dialect."""
    if dialect == "anthropic":
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}}
        return anthropic_event(delta).encode()
    if dialect == "ollama":
        return orjson.dumps(ollama_chunk("")) + b"\n"
    return b"data: " + orjson.dumps(chunk({"content": ""})) + b"\n\n"


def _flood(dialect: str, piece: bytes, interval: float) -> Reply:
    """A 200 stream in ``dialect``'s framing: the start of an answer, then ``piece`` every ``interval`` seconds
    until the client goes away."""
    return Reply(
        headers={"content-type": _CONTENT_TYPE[dialect]},
        segments=[(0.0, _first_event(dialect))],
        chunked=True,
        repeat=(interval, piece),
    )


# -- 1. max_response_bytes: a body, one stream event, one line --


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_max_response_bytes_one_endless_stream_line_is_cut_at_the_default_event_limit(
    server: FakeServer, make: Any, dialect: str
) -> None:
    # The server: one line that never ends. Here at a few tens of MB/s, so that the code before the fix,
    # which held all of it until its timeout, grows by a bounded amount before failing this test.
    server.add(_flood(dialect, b"x" * (256 * 1024), interval=0.002))
    client = make(dialect, timeout=5.0, max_retries=3)
    with pytest.raises(mp.ResponseTooLargeError) as caught:  # not the APITimeoutError of an unbounded read
        await collect(client)
    error = caught.value
    assert error.limit == 16 * MiB and "max_response_bytes" in str(error) and "16,777,216" in str(error)
    assert error.partial is not None and error.partial.content == "Hel"
    assert len(server.requests) == 1  # not retried: the server would send the same again


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_max_response_bytes_bounds_one_stream_event_below_16_mib(
    server: FakeServer, make: Any, sleeps: RecordingSleep, dialect: str
) -> None:
    # SSE: data lines that never end their event; NDJSON: one line that never ends.
    piece = b"x" * 4096 if dialect == "ollama" else b"data: " + b"x" * 4090 + b"\n"
    server.add(_flood(dialect, piece, interval=0.0))
    client = make(dialect, max_response_bytes=256 * 1024, max_retries=3, timeout=5.0)
    with pytest.raises(mp.ResponseTooLargeError) as caught:
        await collect(client)
    assert caught.value.limit == 256 * 1024 and "max_response_bytes" in str(caught.value)
    assert caught.value.partial is not None and caught.value.partial.content == "Hel"
    assert sleeps.waits == [] and len(server.requests) == 1
    assert server.pending_replies == 0 and (await collect(client))[1].content  # the client is fine afterwards


@pytest.mark.parametrize("chunked", [False, True])
async def test_max_response_bytes_bounds_a_plain_body(server: FakeServer, make: Any, chunked: bool) -> None:
    body = orjson.dumps(completion("y" * (2 * MiB)))
    server.add(Reply(headers={"content-type": "application/json"}, segments=[(0.0, body)], chunked=chunked))
    client = make("openai", max_response_bytes=MiB)
    with pytest.raises(mp.ResponseTooLargeError) as caught:
        await client.create(HELLO)
    assert caught.value.limit == MiB and "max_response_bytes" in str(caught.value) and "1,048,576" in str(caught.value)
    assert caught.value.request_id == "req_fake_1"
    assert (await client.create(HELLO)).content == "You said: Hello"  # a body within the limit is fine


async def test_max_response_bytes_an_endless_body_is_dropped_not_drained(server: FakeServer, make: Any) -> None:
    # A JSON body that never ends: reading it to the end (to keep the connection) would never return.
    server.add(Reply(headers={"content-type": "application/json"}, chunked=True, repeat=(0.0, b" " * 65536)))
    client = make("openai", max_response_bytes=MiB)
    with pytest.raises(mp.ResponseTooLargeError):
        await asyncio.wait_for(client.create(HELLO), timeout=30)


async def test_max_response_bytes_default_bounds_a_body_by_its_length(server: FakeServer, make: Any) -> None:
    server.add(Reply.huge(65 * MiB))  # refused from its Content-Length, before a byte of it is read
    with pytest.raises(mp.ResponseTooLargeError) as caught:
        await make("openai").create(HELLO)
    assert caught.value.limit == 64 * MiB and "67,108,864" in str(caught.value)


async def test_max_response_bytes_bounds_a_json_body_sent_to_a_stream_request(server: FakeServer, make: Any) -> None:
    server.add(Reply.json(completion("z" * (2 * MiB))))
    with pytest.raises(mp.ResponseTooLargeError):
        await collect(make("openai", max_response_bytes=MiB))


async def test_max_response_bytes_bounds_the_models_list(server: FakeServer, make: Any) -> None:
    models = {"object": "list", "data": [{"id": f"model-{i}", "object": "model"} for i in range(50_000)]}
    server.add(Reply.json(models))
    with pytest.raises(mp.ResponseTooLargeError):
        await make("openai", max_response_bytes=MiB).list_models()


@pytest.mark.parametrize("value", [0, -1, 1.5, "64MB", True])
@pytest.mark.parametrize("dialect", [*DIALECTS, "azure"])
def test_max_response_bytes_must_be_a_positive_whole_number(value: Any, dialect: str) -> None:
    with pytest.raises(mp.InvalidRequestError, match="max_response_bytes must be a whole number of 1 or more"):
        _client_of(dialect, max_response_bytes=value)


@pytest.mark.parametrize("dialect", [*DIALECTS, "azure"])
async def test_max_response_bytes_is_saved_in_configs_only_when_not_the_default(dialect: str) -> None:
    given = _client_of(dialect, max_response_bytes=8 * MiB)
    config = given.dump_component().config
    assert config["max_response_bytes"] == 8 * MiB
    loaded = load_component(given.dump_component().model_dump(), allow_env=["MODELPORT_TEST_KEY"])  # our own config
    assert loaded._transport.max_response_bytes == 8 * MiB and loaded._transport.max_event_bytes == 8 * MiB
    assert "max_response_bytes" not in _client_of(dialect).dump_component().config
    assert _client_of(dialect, max_response_bytes=100 * MiB)._transport.max_event_bytes == 16 * MiB
    for client in (given, loaded):
        await client.close()


def _client_of(dialect: str, **kwargs: Any) -> Any:
    if dialect == "anthropic":
        return AnthropicChatCompletionClient("claude-sonnet-4-5", api_key_env="MODELPORT_TEST_KEY", **kwargs)
    if dialect == "ollama":
        return OllamaChatCompletionClient("llama3.1", host="http://127.0.0.1:9", **kwargs)
    if dialect == "azure":
        return AzureOpenAIChatCompletionClient(
            azure_endpoint="https://example.openai.azure.com", azure_deployment="gpt-4o", api_version="2024-10-21",
            api_key_env="MODELPORT_TEST_KEY", **kwargs
        )
    return OpenAIChatCompletionClient(model="gpt-4o", api_key_env="MODELPORT_TEST_KEY", **kwargs)


@pytest.fixture(autouse=True)
def _test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_TEST_KEY", API_KEY)


# -- 2. an event that adds nothing to the answer is not progress --


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_stream_of_empty_events_times_out(server: FakeServer, make: Any, dialect: str) -> None:
    # {"content": ""} every 0.1 s against a 0.5 s timeout: before the fix, every such event reset the wait.
    server.add(_flood(dialect, _empty_event(dialect), interval=0.1))
    client = make(dialect, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(mp.APITimeoutError) as caught:
        await asyncio.wait_for(collect(client), timeout=10)
    assert caught.value.phase == "stream" and caught.value.partial is not None
    assert caught.value.partial.content == "Hel"
    assert time.monotonic() - started < 5


async def test_a_repeated_tool_call_id_name_or_finish_reason_is_not_progress(server: FakeServer, make: Any) -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    first = b"data: " + orjson.dumps(chunk({"role": "assistant", "tool_calls": [call]})) + b"\n\n"
    again = {"index": 0, "id": "call_1", "function": {"name": "get_weather"}}
    repeated = b"data: " + orjson.dumps(chunk({"tool_calls": [again]}, finish_reason="tool_calls")) + b"\n\n"
    server.add(Reply(headers={"content-type": "text/event-stream"}, segments=[(0.0, first)], chunked=True,
                     repeat=(0.1, repeated)))
    with pytest.raises(mp.APITimeoutError) as caught:
        await asyncio.wait_for(collect(make("openai", timeout=0.5)), timeout=10)
    partial = caught.value.partial
    assert partial is not None and isinstance(partial.content, list) and partial.content[0].name == "get_weather"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_events_that_add_to_the_answer_are_progress(server: FakeServer, make: Any, dialect: str) -> None:
    # Twelve pieces 0.1 s apart: 1.2 s in all, more than the 0.5 s timeout, and no single wait reaches it.
    pieces = [_first_event(dialect)] + [_empty_event(dialect).replace(b'""', b'"lo"', 1)] * 11
    ending = {
        "openai": b"data: " + orjson.dumps(chunk(finish_reason="stop")) + b"\n\ndata: [DONE]\n\n",
        "anthropic": (anthropic_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}})
                      + anthropic_event({"type": "message_stop"})).encode(),
        "ollama": orjson.dumps(ollama_chunk("", done=True, done_reason="stop")) + b"\n",
    }[dialect]
    server.add(Reply(headers={"content-type": _CONTENT_TYPE[dialect]}, chunked=True,
                     segments=[(0.1, piece) for piece in [*pieces, ending]]))
    _, result = await collect(make(dialect, timeout=0.5))
    assert result.content == "Hel" + "lo" * 11


async def test_anthropic_structured_output_held_back_until_its_block_ends_is_progress(
    server: FakeServer, make: Any
) -> None:
    # The dialect keeps a forced output tool's JSON to itself until the block ends: its pieces still count.
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-20250514", "usage": {}}}
    block = {"type": "content_block_start", "index": 0,
             "content_block": {"type": "tool_use", "id": "toolu_1", "name": OUTPUT_TOOL, "input": {}}}
    json_text = '{"name": "Paris", "population": 2100000}'
    deltas = [{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}
              for part in (json_text[i : i + 4] for i in range(0, len(json_text), 4))]
    tail = [{"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
            {"type": "message_stop"}]
    server.add(Reply(headers={"content-type": "text/event-stream"}, chunked=True,
                     segments=[(0.1, anthropic_event(e).encode()) for e in [start, block, *deltas, *tail]]))
    client = make("anthropic", timeout=0.5)
    client._model = "claude-sonnet-4-20250514"
    _, result = await collect(client)
    assert orjson.loads(result.content) == {"name": "Paris", "population": 2100000}


# -- 3. input nested too deeply for Python to walk --


def _deep(levels: int = 1000) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


_DEEP_INPUTS = {
    "message content": ([{"role": "user", "content": _deep()}], {}, "messages[0].content[0]"),
    "message role": ([{"role": _deep(), "content": "hi"}], {}, "messages[0].role"),
    "tool call arguments": (
        [{"role": "assistant", "content": None,
          "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": _deep()}}}]}],
        {}, "messages[0].tool_calls[0].function.arguments",
    ),
    "create argument": (HELLO, {"extra_create_args": {"temperature": _deep()}}, "'temperature'"),
    "stop": (HELLO, {"extra_create_args": {"stop": _deep()}}, "'stop'"),
    "tool_choice": (HELLO, {"tool_choice": _deep()}, "tool_choice"),
    "json_output": (HELLO, {"json_output": _deep()}, "json_output"),
}


@pytest.mark.parametrize("case", sorted(_DEEP_INPUTS))
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_deep_nesting_is_an_invalid_request_error_naming_the_field(
    server: FakeServer, make: Any, dialect: str, case: str
) -> None:
    messages, kwargs, field = _DEEP_INPUTS[case]
    client = make(dialect)
    for call in (client.create, client.create_stream, client.request_fingerprint):
        with pytest.raises(mp.InvalidRequestError) as caught:
            await _call(call, messages, **kwargs)
        assert field in str(caught.value) and "RecursionError" not in str(caught.value)
        assert len(str(caught.value)) < 400
    assert server.requests == []


async def _call(call: Any, messages: Any, **kwargs: Any) -> Any:
    made = call(messages, **kwargs)
    if asyncio.iscoroutine(made):
        return await made
    if isinstance(made, mp.ChatCompletionStream):
        async with made as stream:
            return [item async for item in stream]
    return made


def test_deep_nesting_in_a_client_create_argument_is_an_invalid_request_error() -> None:
    for dialect in DIALECTS:
        with pytest.raises(mp.InvalidRequestError, match="'stop'"):
            _client_of(dialect, stop=_deep())


def test_deep_nesting_in_a_batch_file_is_reported_with_its_line(tmp_path: Any) -> None:
    deep = "[" * 1000 + "]" * 1000  # written by hand: Python's own json module cannot encode it
    hi = '[{"role": "user", "content": "hi"}]'
    lines = [
        f'{{"custom_id": "ok", "messages": {hi}}}',
        f'{{"custom_id": "a", "messages": [{{"role": "user", "content": {deep}}}]}}',
        f'{{"custom_id": "b", "body": {{"messages": {hi}, "temperature": {deep}}}}}',
        f'{{"custom_id": "c", "messages": {hi}, "tool_choice": {deep}}}',
    ]
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "modelport.cli", "batch", str(requests), "-o", str(tmp_path / "out.jsonl"),
         "--model", "gpt-4o", "--base-url", "http://127.0.0.1:9/v1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    status, _, err = finish(process)
    assert status == 2 and "Traceback" not in err and "RecursionError" not in err
    assert "3 problem(s), nothing was sent" in err
    assert "line 2: messages[0].content[0]" in err
    assert "line 3 (b): create argument 'temperature'" in err and "line 4 (c): tool_choice=" in err


# -- 4. edges: reads that split events where a server's writes do, answers nested too deeply --


def _padded_event(dialect: str, text: str, lines: int) -> bytes:
    """One SSE event of ``text`` in ``dialect`` whose JSON is padded over ``lines`` more data lines of 100,000 bytes
    (a list of zeros the dialect ignores), without the blank line that ends it."""
    if dialect == "anthropic":
        head = b"event: content_block_delta\n"
        data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    else:
        head, data = b"", chunk({"content": text})
    start = head + b"data: " + orjson.dumps(data)[:-1] + b', "pad": [\n'
    return start + (b"data: " + b"0," * 50_000 + b"\n") * lines + b"data: 0]}\n"


def _sse_ending(dialect: str) -> bytes:
    if dialect == "anthropic":
        stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}
        return (anthropic_event(stop) + anthropic_event({"type": "message_stop"})).encode()
    return b"data: " + orjson.dumps(chunk(finish_reason="stop")) + b"\n\ndata: [DONE]\n\n"


@pytest.mark.parametrize(("dialect", "shape"), [("openai", "one line"), ("anthropic", "many lines")])
async def test_max_response_bytes_two_events_within_it_pass_when_a_read_starts_with_the_blank_line_between(
    server: FakeServer, make: Any, dialect: str, shape: str
) -> None:
    # Two events each within 1 KB of the 16 MiB event limit, in one line or in many. The server's writes end the
    # first event's last line, then send the blank line that ends it together with the next event: the read that
    # starts with it was measured as if it continued the first event, so two events that fit were refused as one.
    size = 16 * MiB - 1024
    lines = 0 if shape == "one line" else (size - 1000) // 100_001
    text = size - 100_001 * lines
    first, second = (_padded_event(dialect, letter * text, lines) for letter in "ab")
    writes = [_first_event(dialect), first, b"\n" + second, b"\n" + _sse_ending(dialect)]
    server.add(Reply(headers={"content-type": "text/event-stream"}, chunked=True,
                     segments=[(0.1, piece) for piece in writes]))
    _, result = await collect(make(dialect))
    assert result.content == "Hel" + "a" * text + "b" * text


_DEEP_JSON = b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}"  # decodes (orjson reads 1,024 levels), encodes no more


def _deep_tool_call(dialect: str, stream: bool) -> bytes:
    """An answer whose tool call's arguments are an object nested 300 levels deep, in ``dialect``'s form."""
    if dialect == "anthropic":
        block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": "DEEP"}
        if not stream:
            return orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                                 "content": [block], "stop_reason": "tool_use", "usage": {}}).replace(b'"DEEP"',
                                                                                                      _DEEP_JSON)
        start = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {}}}
        events = [start, {"type": "content_block_start", "index": 0, "content_block": block},
                  {"type": "content_block_stop", "index": 0}]
        return "".join(anthropic_event(e) for e in events).encode().replace(b'"DEEP"', _DEEP_JSON)
    call = {"function": {"name": "get_weather", "arguments": "DEEP"}}
    if dialect == "ollama":
        line = ollama_chunk("", tool_calls=[call], done=True, done_reason="stop")
        return orjson.dumps(line).replace(b'"DEEP"', _DEEP_JSON) + (b"\n" if stream == "ended" else b"")
    call = {"index": 0, "id": "call_1", "type": "function", **call}
    if not stream:
        return orjson.dumps(completion(tool_calls=[call])).replace(b'"DEEP"', _DEEP_JSON)
    return b"data: " + orjson.dumps(chunk({"tool_calls": [call]})).replace(b'"DEEP"', _DEEP_JSON) + b"\n\n"


@pytest.mark.parametrize(
    ("dialect", "stream"),
    [(d, s) for d in DIALECTS for s in (False, "ended")] + [("ollama", "its last line unended")],
)
async def test_deep_nesting_in_an_answer_is_a_typed_error(
    server: FakeServer, make: Any, dialect: str, stream: Any
) -> None:
    # Tool call arguments as an object 300 levels deep: they decode, but encoding them again for the result raised
    # orjson's TypeError, in every dialect, streamed or not.
    content_type = _CONTENT_TYPE[dialect] if stream else "application/json"
    body = _first_event(dialect) + _deep_tool_call(dialect, stream) if stream else _deep_tool_call(dialect, stream)
    server.add(Reply(headers={"content-type": content_type}, segments=[(0.0, body)], chunked=bool(stream)))
    client = make(dialect, max_retries=3)
    expected = mp.StreamProtocolError if stream else mp.ResponseValidationError
    with pytest.raises(expected, match="nested too deeply") as caught:
        await (collect(client) if stream else client.create(HELLO))
    assert caught.value.provider in str(caught.value) and len(server.requests) == 1  # not retried
    if stream:
        partial = caught.value.partial
        assert partial is not None and caught.value.raw.startswith("{")
        if dialect != "anthropic":  # no call with the wrong arguments (Anthropic's names its call when it starts)
            assert partial.content == "Hel"


async def test_deep_nesting_in_a_stream_usage_report_keeps_the_answer(server: FakeServer, make: Any) -> None:
    # Usage reports are merged and compared: two reports nested 1,000 levels deep raised RecursionError.
    deep = b'{"d": ' * 1000 + b"1" + b"}" * 1000
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "extra": "DEEP"}
    ending = [chunk(finish_reason="stop", usage=usage), chunk(usage=usage)]
    pieces = [_first_event("openai")] + [b"data: " + orjson.dumps(c).replace(b'"DEEP"', deep) + b"\n\n"
                                         for c in ending] + [b"data: [DONE]\n\n"]
    server.add(Reply(headers={"content-type": "text/event-stream"}, chunked=True,
                     segments=[(0.0, piece) for piece in pieces]))
    _, result = await collect(make("openai"))
    assert result.content == "Hel" and result.usage.prompt_tokens == 3


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_max_response_bytes_bounds_a_whole_stream_of_events_that_each_fit(
    server: FakeServer, make: Any, dialect: str
) -> None:
    # Events of 4 KB that each add to the answer, without end: each fits the event limit and each is progress, so
    # before, the client held all of them (1.4 GB in 8 s at full speed under a 1 MiB max_response_bytes).
    piece = _empty_event(dialect).replace(b'""', b'"' + b"x" * 4000 + b'"', 1)
    server.add(Reply(headers={"content-type": _CONTENT_TYPE[dialect]}, chunked=True,
                     segments=[(0.0, _first_event(dialect))], repeat=(0.001, piece), repeat_for=5.0))
    client = make(dialect, max_response_bytes=256 * 1024, max_retries=3)
    with pytest.raises(mp.ResponseTooLargeError) as caught:
        await collect(client)
    error = caught.value
    assert error.limit == 256 * 1024 and "max_response_bytes" in str(error) and error.provider in str(error)
    assert error.partial is not None and 200_000 < len(error.partial.content) <= 256 * 1024
    assert len(server.requests) == 1
