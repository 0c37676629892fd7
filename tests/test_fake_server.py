"""The fake server itself, over raw HTTP (aiohttp or a plain socket), never through the modelport client.

Point 9: the fake server always answers. A recursive ``json_schema`` or a tool whose ``parameters`` is not an object
gets a finite default answer, a default that raises becomes a 500 JSON error, a request it cannot parse a 400, and
a port already in use makes ``start()`` raise at once. Then its fault modes: trickle, lying ``Content-Length``,
keep-alive flood, redirect, huge body, HTML 200; each fault ends when its client goes away.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from modelport.testing import FakeServer, RecordedRequest, Reply, chunk, default_reply, instance_of


class Node(BaseModel):
    name: str
    children: list[Node]


class Chain(BaseModel):
    value: int
    next: Chain | None


class Forest(BaseModel):
    trees: list[Node]
    best: Node | None = None


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": "Tell me about Paris"}], **fields}


def json_schema_format(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema()}}


async def post(http: aiohttp.ClientSession, server: FakeServer, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with http.post(f"{server.base_url}/chat/completions", data=data) as response:
        return response.status, orjson.loads(await response.read())


async def connections_drop_to(server: FakeServer, count: int, within: float = 1.0) -> float:
    """Wait until the server has at most ``count`` open connections; the seconds it took."""
    start = time.monotonic()
    while server.open_connections > count and time.monotonic() - start < within:
        await asyncio.sleep(0.01)
    assert server.open_connections <= count, f"{server.open_connections} connections still open"
    return time.monotonic() - start


def depth(node: Node) -> int:
    return 1 + max((depth(child) for child in node.children), default=0)


# -- point 9: the default reply always answers --


async def test_point9_recursive_json_schema_gets_a_finite_valid_instance(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, server, chat_body(response_format=json_schema_format(Node)))
    assert status == 200
    node = Node.model_validate_json(body["choices"][0]["message"]["content"])
    assert 1 < depth(node) < 10


async def test_point9_recursive_json_schema_in_a_stream_request_is_answered(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    body = orjson.dumps(chat_body(stream=True, response_format=json_schema_format(Forest)))
    async with http.post(f"{server.base_url}/chat/completions", data=body) as response:
        assert response.status == 200
        text = (await response.read()).decode()
    assert text.rstrip().endswith("data: [DONE]")
    deltas = [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    content = "".join(d["choices"][0]["delta"].get("content") or "" for d in deltas if d["choices"])
    Forest.model_validate_json(content)


@pytest.mark.parametrize("model", [Node, Chain, Forest])
def test_point9_instance_of_terminates_on_recursive_models_and_validates(model: type[BaseModel]) -> None:
    model.model_validate(instance_of(model.model_json_schema()))


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]},
        {"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"},
        {"type": "array", "items": {"$ref": "#"}, "minItems": 1},
        {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
        {
            "definitions": {"T": {"type": "object", "properties": {"t": {"$ref": "#/definitions/T"}}}},
            "$ref": "#/definitions/T",
        },
    ],
    ids=["self-ref", "required-self", "mutual-refs", "array-of-self", "nullable-self", "definitions"],
)
def test_point9_instance_of_terminates_on_any_ref_cycle(schema: dict[str, Any]) -> None:
    orjson.dumps(instance_of(schema))  # terminates, and gives JSON


def test_point9_instance_of_uses_null_for_a_nullable_recursive_field() -> None:
    value = instance_of(Chain.model_json_schema())
    while value["next"] is not None:
        value = value["next"]
    assert value == {"value": 1, "next": None}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [("string", "w"), ("integer", 1), ("object", {}), ("array", []), (True, "w"), (False, None), (None, None),
     (3, None), ({"anyOf": "not a list"}, "w"), ({"type": "array", "items": "string"}, ["w"]),
     ({"properties": {"a": {"type": "integer"}}}, {"a": 1}), ({"enum": []}, "w")],
)
def test_point9_instance_of_tolerates_schemas_that_are_not_dicts_or_are_malformed(schema: Any, expected: Any) -> None:
    assert instance_of(schema, word="w") == expected


@pytest.mark.parametrize("parameters", ["string", 42, ["a"], None, True])
async def test_point9_a_tool_whose_parameters_is_not_an_object_gets_a_call_with_empty_arguments(
    server: FakeServer, http: aiohttp.ClientSession, parameters: Any
) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": parameters}}]
    status, body = await post(http, server, chat_body(tools=tools))
    assert status == 200
    call = body["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "lookup", "arguments": "{}"}


@pytest.mark.parametrize(
    "fields",
    [{"tools": "nope"}, {"tools": [1, {"function": "x"}]}, {"response_format": "json"},
     {"response_format": {"type": "json_schema"}}, {"messages": "hi"},
     {"messages": [1, {"role": "user", "content": 2}]}, {"model": 7, "stream_options": "x", "stream": True}],
    ids=["tools-str", "tools-junk", "format-str", "format-no-schema", "messages-str", "messages-junk", "junk-stream"],
)
async def test_point9_malformed_request_fields_still_get_an_answer(
    server: FakeServer, http: aiohttp.ClientSession, fields: dict[str, Any]
) -> None:
    data = orjson.dumps(chat_body(**fields))
    async with http.post(f"{server.base_url}/chat/completions", data=data) as response:
        assert response.status == 200
        assert await response.read()


async def test_point9_a_body_that_is_json_but_not_an_object_gets_a_400(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, server, [1, 2, 3])
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_point9_a_default_reply_that_raises_becomes_a_500_json_error(http: aiohttp.ClientSession) -> None:
    def broken(request: Any) -> Reply:
        raise KeyError("parameters")

    with FakeServer(default=broken) as server:
        status, body = await post(http, server, chat_body())
        assert server.open_connections <= 1
    assert status == 500
    assert body == {"error": {"message": "fake server could not build a reply: KeyError: 'parameters'",
                              "type": "server_error"}}


async def test_point9_the_connection_stays_usable_after_a_500_from_a_broken_default(
    http: aiohttp.ClientSession,
) -> None:
    calls = []

    def flaky(request: Any) -> Reply:
        calls.append(request)
        if len(calls) == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return Reply.json({"ok": True})

    with FakeServer(default=flaky) as server:
        first = await post(http, server, chat_body())
        second = await post(http, server, chat_body())
        assert server.connections_opened == 1
    assert first[0] == 500 and "RecursionError: maximum recursion depth exceeded" in first[1]["error"]["message"]
    assert second == (200, {"ok": True})


def raw_exchange(server: FakeServer, data: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while chunk_ := conn.recv(65536):
            received += chunk_
        return received


@pytest.mark.parametrize(
    "head",
    [b"GARBAGE\r\n\r\n", b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: lots\r\n\r\n",
     b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: -5\r\n\r\n"],
    ids=["bad-request-line", "bad-content-length", "negative-content-length"],
)
async def test_point9_an_unparseable_request_gets_a_400_and_the_connection_closes(
    server: FakeServer, head: bytes
) -> None:
    received = await asyncio.to_thread(raw_exchange, server, head)
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"malformed request" in rest.partition(b"\r\n\r\n")[2]


def test_point9_start_on_a_port_in_use_raises_at_once(server: FakeServer) -> None:
    outcome: list[BaseException | FakeServer] = []

    def start() -> None:
        try:
            outcome.append(FakeServer(port=server.port).start())
        except BaseException as exc:
            outcome.append(exc)

    began = time.monotonic()
    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert outcome, "start() on a port in use hung"
    assert isinstance(outcome[0], OSError), f"start() returned {outcome[0]!r}"
    assert time.monotonic() - began < 2


def server_threads() -> set[int | None]:
    return {t.ident for t in threading.enumerate() if t.name == "modelport-fake-server"}


def test_point9_a_failed_start_leaves_no_thread_and_nothing_to_stop(server: FakeServer) -> None:
    before = server_threads()
    doomed = FakeServer(port=server.port)
    with pytest.raises(OSError):
        doomed.start()
    doomed.stop()  # a no-op, not a hang
    assert server_threads() <= before


SCHEMA_WORDS = ["type", "properties", "items", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "default",
                "required", "$defs", "definitions", "A", "object", "array", "string", "null", "integer", "#",
                "#/$defs/A", "#/definitions/A", "#/properties/a", "a"]
BODY_WORDS = ["messages", "tools", "tool_choice", "response_format", "json_schema", "schema", "function", "parameters",
              "name", "role", "user", "tool", "content", "text", "stream", "stream_options", "include_usage", "model",
              "type", "json_object", *SCHEMA_WORDS]


def json_values(words: list[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON whose keys and strings lean towards ``words``, so the shapes the code looks for turn up."""
    text = st.sampled_from(words) | st.text(max_size=5)
    leaves = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | text
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=5),
                        max_leaves=40)


PROPERTY_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# On a failure, hypothesis's pytest plugin imports libcst, which warns; filterwarnings=error (see test_bad_input).
@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
@PROPERTY_SETTINGS
@given(schema=json_values(SCHEMA_WORDS))
def test_point9_property_instance_of_terminates_with_json_for_any_json_schema(schema: Any) -> None:
    orjson.dumps(instance_of(schema))


@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
@PROPERTY_SETTINGS
@given(body=json_values(BODY_WORDS))
def test_point9_property_the_default_model_answers_any_json_body_without_raising(body: Any) -> None:
    request = RecordedRequest("POST", "/v1/chat/completions", {}, {}, orjson.dumps(body))
    reply = default_reply(request)
    assert reply.status in (200, 400)


# -- fault modes --


async def test_trickle_sends_the_stream_a_few_bytes_at_a_time(server: FakeServer, http: aiohttp.ClientSession) -> None:
    events = [chunk({"content": "Hi"}), chunk({}, finish_reason="stop")]
    whole = b"".join(data for _, data in Reply.sse(events).segments)
    reply = Reply.trickle(events, size=8, interval=0.002)
    assert all(len(data) <= 8 for _, data in reply.segments) and all(d == 0.002 for d, _ in reply.segments)
    server.add(reply)
    began = time.monotonic()
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.headers["content-type"] == "text/event-stream"
        pieces = [piece async for piece in response.content.iter_any()]
    assert b"".join(pieces) == whole
    assert len(pieces) > 1 and time.monotonic() - began >= 0.002 * (len(reply.segments) - 1)


async def test_trickle_ends_when_the_client_goes_away(server: FakeServer, http: aiohttp.ClientSession) -> None:
    server.add(Reply.trickle([chunk({"content": "x" * 100})], size=1, interval=10.0))
    baseline = server.open_connections
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.status == 200
        response.close()
    assert await connections_drop_to(server, baseline) < 0.5


async def test_lying_content_length_sends_fewer_bytes_then_closes(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    server.add(Reply.lying_length(b'{"id": "x"}', missing=50))
    baseline = server.open_connections
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.headers["content-length"] == str(len(b'{"id": "x"}') + 50)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    await connections_drop_to(server, baseline)


async def test_keep_alive_flood_sends_only_comments_until_the_client_goes_away(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    server.add(Reply.keep_alive_flood(interval=0.005))
    baseline = server.open_connections
    received = b""
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.headers["content-type"] == "text/event-stream"
        while received.count(b": keep-alive\n\n") < 20:
            received += await response.content.readany()
        response.close()
    assert set(received.split(b"\n\n")) <= {b": keep-alive", b""}
    assert await connections_drop_to(server, baseline) < 0.5


async def test_keep_alive_flood_with_a_duration_ends_the_body_without_an_event(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    server.add(Reply.keep_alive_flood(interval=0.01, duration=0.1))
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        body = await response.read()
    assert body.count(b": keep-alive\n\n") >= 3 and body.replace(b": keep-alive\n\n", b"") == b""


async def test_redirect_answers_with_its_status_and_location(server: FakeServer, http: aiohttp.ClientSession) -> None:
    server.add(Reply.redirect("/v1/models"), Reply.redirect("http://127.0.0.1:1/v1/models", status=301))
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}", allow_redirects=False) as response:
        assert (response.status, response.headers["location"], await response.read()) == (307, "/v1/models", b"")
    async with http.get(f"{server.base_url}/models", allow_redirects=False) as response:
        assert (response.status, response.headers["location"]) == (301, "http://127.0.0.1:1/v1/models")


async def test_redirect_is_followed_to_the_default_answer(server: FakeServer, http: aiohttp.ClientSession) -> None:
    server.add(Reply.redirect("/v1/models", status=302))
    async with http.get(f"{server.base_url}/anything") as response:
        assert response.status == 200 and (await response.json())["object"] == "list"
    assert [r.path for r in server.requests] == ["/v1/anything", "/v1/models"]


def test_keep_alive_flood_refuses_an_interval_that_would_spin() -> None:
    with pytest.raises(ValueError, match="interval"):
        Reply.keep_alive_flood(interval=0)


def test_huge_body_holds_one_block_however_large_it_is() -> None:
    reply = Reply.huge(50 * 1024 * 1024)
    assert sum(len(data) for _, data in reply.segments) == 50 * 1024 * 1024
    assert len({id(data) for _, data in reply.segments}) <= 4  # head, the one block, the rest, tail


async def test_huge_body_is_exact_valid_json(server: FakeServer, http: aiohttp.ClientSession) -> None:
    server.add(Reply.huge(3 * 1024 * 1024 + 7, block=65536))
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        body = await response.read()
    assert len(body) == 3 * 1024 * 1024 + 7
    assert set(orjson.loads(body)["padding"]) == {"x"}


async def test_huge_body_of_50_mb_arrives_whole(server: FakeServer, http: aiohttp.ClientSession) -> None:
    server.add(Reply.huge())
    received = 0
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.headers["content-length"] == str(50 * 1024 * 1024)
        async for piece in response.content.iter_chunked(1 << 20):
            received += len(piece)
    assert received == 50 * 1024 * 1024


async def test_html_page_with_status_200(server: FakeServer, http: aiohttp.ClientSession) -> None:
    page = "<html><head><title>Gateway login</title></head><body>Sign in</body></html>"
    server.add(Reply.text(page, content_type="text/html"))
    async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
        assert response.status == 200 and response.headers["content-type"] == "text/html"
        assert await response.text() == page


@pytest.mark.parametrize(
    "reply",
    [Reply.hang(), Reply.sse([chunk({"content": "x"})], stall=True), Reply(head_delay=30.0),
     Reply.sse([chunk({"content": "x"})] * 3, delay=30.0), Reply.keep_alive_flood(interval=30.0)],
    ids=["hang", "stall", "head-delay", "slow-segments", "slow-flood"],
)
async def test_every_wait_ends_when_the_client_goes_away(server: FakeServer, reply: Reply) -> None:
    server.add(reply)
    baseline = server.open_connections
    with socket.create_connection((server.host, server.port)) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}")
        await asyncio.sleep(0.05)
        assert server.pending_replies == 0 and len(server.requests) == 1, "the fault was not served"
    assert await connections_drop_to(server, baseline) < 0.5


async def test_stop_is_quick_while_faults_are_in_progress(http: aiohttp.ClientSession) -> None:
    server = FakeServer().start()
    server.add(Reply.keep_alive_flood(interval=0.001), Reply.hang(), Reply.trickle([chunk({})], interval=0.01))

    async def call() -> bytes:
        async with http.post(f"{server.base_url}/chat/completions", data=b"{}") as response:
            return await response.read()

    calls = [asyncio.create_task(call()) for _ in range(3)]
    while len(server.requests) < 3:
        await asyncio.sleep(0.01)
    began = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert time.monotonic() - began < 2
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(outcome, aiohttp.ClientError) for outcome in outcomes), outcomes


async def test_served_counts_labelled_replies_as_they_are_taken(
    server: FakeServer, http: aiohttp.ClientSession
) -> None:
    server.add(Reply(status=204, label="empty"), Reply(status=204, label="empty"), Reply(status=204, label="other"))
    for _ in range(3):
        async with http.get(f"{server.base_url}/models") as response:
            assert response.status == 204
    assert server.served == {"empty": 2, "other": 1}
    server.reset()
    assert not server.served
