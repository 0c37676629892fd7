"""Cassettes: a conversation recorded against the fake server replays, with the server stopped and no socket
opened, to the same results in every dialect; no key reaches a cassette file; a request with no recording fails
with the closest recording and the difference."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelport import (
    AnthropicChatCompletionClient,
    AzureOpenAIChatCompletionClient,
    BedrockChatCompletionClient,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    GeminiChatCompletionClient,
    OllamaChatCompletionClient,
    OpenAIChatCompletionClient,
    OpenAIResponsesClient,
    RetryPolicy,
    UserMessage,
)
from modelport.errors import APIStatusError
from modelport.messages import AssistantMessage
from modelport.testing import Cassette, CassetteMismatchError, FakeServer, Reply
from modelport.tools import FunctionTool

from .bedrock_helpers import AWS_ENV

KEYS = {
    "openai": "sk-CASSETTE-openai-7f3a9c1e5b",
    "anthropic": "sk-ant-CASSETTE-anthropic-2d8e4f",
    "gemini": "AIzaCASSETTE-gemini-9b1c7d3e",
    "ollama": "Bearer-CASSETTE-ollama-proxy-5e2a",
    "openai_responses": "sk-CASSETTE-responses-4c6b8a",
    "bedrock": "AKIDCASSETTEBEDROCK42",
    "bedrock_secret": "wJalrCASSETTE-bedrock-SECRET-kEy",
    "bedrock_token": "FwoGZXCASSETTE-session-token-77",
    "azure": "azure-CASSETTE-key-0e9d8c7b",
    "vertex": "ya29.CASSETTE-vertex-token-3f2e",
}
DIALECTS = ["openai", "anthropic", "gemini", "ollama", "openai_responses", "bedrock"]


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


WEATHER = FunctionTool(weather, description="The weather in a city.")
NO_RETRIES = RetryPolicy(max_retries=0)


def make_client(dialect: str, base_url: str) -> Any:
    """A client of ``dialect`` pointed at ``base_url``, holding this module's distinctive keys."""
    root = base_url.removesuffix("/v1")
    common: dict[str, Any] = {"retry_policy": NO_RETRIES}
    if dialect == "openai":
        return OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key=KEYS["openai"], **common)
    if dialect == "anthropic":
        return AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=base_url, api_key=KEYS["anthropic"],
                                             **common)
    if dialect == "gemini":
        return GeminiChatCompletionClient("gemini-2.5-flash", base_url=base_url, api_key=KEYS["gemini"], **common)
    if dialect == "ollama":
        return OllamaChatCompletionClient("llama3.1", host=root,
                                          default_headers={"authorization": f"Bearer {KEYS['ollama']}"}, **common)
    if dialect == "openai_responses":
        return OpenAIResponsesClient(model="gpt-4o", base_url=base_url, api_key=KEYS["openai_responses"], **common)
    if dialect == "bedrock":
        return BedrockChatCompletionClient("us.anthropic.claude-sonnet-4-5-20250929-v1:0", base_url=base_url,
                                           region="us-east-1", aws_access_key_id=KEYS["bedrock"],
                                           aws_secret_access_key=KEYS["bedrock_secret"],
                                           aws_session_token=KEYS["bedrock_token"], **common)
    if dialect == "azure":
        return AzureOpenAIChatCompletionClient(azure_endpoint=root, azure_deployment="gpt-4o",
                                               api_version="2024-10-21", api_key=KEYS["azure"], model="gpt-4o",
                                               **common)
    assert dialect == "vertex"
    return GeminiChatCompletionClient("gemini-2.5-flash", base_url=base_url, vertexai=True, project="p",
                                      location="us-central1", access_token_provider=lambda: KEYS["vertex"],
                                      **common)


async def conversation(client: Any, server: FakeServer | None) -> list[Any]:
    """create, stream, a tool call round trip and an error; what each gave (the error as its type and text)."""
    hello = [UserMessage(content="Hello there", source="user")]
    outcomes: list[Any] = [await client.create(hello)]
    chunks = [piece async for piece in client.create_stream([UserMessage(content="Stream it", source="user")])]
    outcomes.append(chunks)
    ask = [UserMessage(content="Weather in Paris?", source="user")]
    called = await client.create(ask, tools=[WEATHER])
    assert isinstance(called.content, list), called
    outcomes.append(called)
    answers = [FunctionExecutionResult(content=weather("Paris"), call_id=call.id, name=call.name)
               for call in called.content]
    follow_up = [*ask, AssistantMessage(content=called.content, source="assistant"),
                 FunctionExecutionResultMessage(content=answers)]
    outcomes.append(await client.create(follow_up, tools=[WEATHER]))
    if server is not None:
        server.add(Reply.json({"error": {"message": "bad model", "type": "invalid_request_error"}}, status=400))
    with pytest.raises(APIStatusError) as failure:
        await client.create([UserMessage(content="Fail now", source="user")])
    outcomes.append((type(failure.value), failure.value.status_code, str(failure.value)))
    return outcomes


class SocketOpened(AssertionError):
    pass


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any attempt to connect a socket fails the test (and is listed)."""
    attempts: list[Any] = []

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise SocketOpened(f"a socket was connected during replay: {args}")

    async def refuse_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        return refuse(self, *args)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse_async)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refuse_async)
    yield attempts
    assert not attempts


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


async def record(dialect: str, path: Path) -> tuple[list[Any], str]:
    """Record ``dialect``'s conversation into ``path`` against a server of its own; the server is stopped after."""
    with FakeServer() as server:
        client = make_client(dialect, server.base_url)
        with Cassette(path, mode="once"):
            recorded = await conversation(client, server)
        await client.close()
        return recorded, server.base_url


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("dialect", [*DIALECTS, "azure", "vertex"])
async def test_a_recorded_conversation_replays_equal_without_a_server_or_socket(
    dialect: str, suffix: str, tmp_path: Path, no_aws_env: None, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / f"{dialect}{suffix}"
    recorded, base_url = await record(dialect, path)
    assert path.exists()
    request.getfixturevalue("no_sockets")
    client = make_client(dialect, base_url)  # the same address, now with nothing listening
    with Cassette(path, mode="none") as cassette:
        replayed = await conversation(client, None)
    await client.close()
    assert replayed == recorded
    assert cassette.all_played


@pytest.mark.parametrize("dialect", [*DIALECTS, "azure", "vertex"])
async def test_no_key_reaches_a_cassette_file(dialect: str, tmp_path: Path, no_aws_env: None) -> None:
    path = tmp_path / f"{dialect}.yaml"
    with FakeServer() as server:
        client = make_client(dialect, server.base_url)
        with Cassette(path, mode="all"):
            key = next(value for name, value in KEYS.items() if name.startswith(dialect) or name == dialect)
            await client.create([UserMessage(content=f"My key is {key}, keep it", source="user")])
            server.add(Reply.json({"error": {"message": f"Bad key given: {key}"}}, status=400))
            with pytest.raises(APIStatusError):
                await client.create([UserMessage(content="again", source="user")])
        await client.close()
    text = path.read_text()
    assert "<scrubbed>" in text
    for name, value in KEYS.items():
        assert value not in text, name
        assert value[4:-4] not in text, name  # no fragment either (a signature, a base64 of it would show more)


async def test_a_key_in_the_query_string_is_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "query.json"
    with FakeServer() as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=f"{server.base_url}?key={KEYS['gemini']}",
                                            api_key=KEYS["openai"], retry_policy=NO_RETRIES)
        with Cassette(path, mode="all"):
            await client.create([UserMessage(content="hi", source="user")])
        await client.close()
    text = path.read_text()
    assert KEYS["gemini"] not in text and KEYS["openai"] not in text
    assert "key=<scrubbed>" in text


async def test_a_request_with_no_recording_shows_the_closest_and_the_difference(tmp_path: Path) -> None:
    path = tmp_path / "greeting.json"
    with FakeServer() as server:
        client = make_client("openai", server.base_url)
        with Cassette(path):
            await client.create([UserMessage(content="Hello there", source="user")])
            await client.create([UserMessage(content="Something else entirely", source="user")], max_tokens=5)
        with Cassette(path, mode="none"), pytest.raises(CassetteMismatchError) as mismatch:
            await client.create([UserMessage(content="Hello their", source="user")])
        await client.close()
    message = str(mismatch.value)
    assert "POST /v1/chat/completions" in message
    assert '-      "content": "Hello there",' in message
    assert '+      "content": "Hello their",' in message
    assert "max_tokens" not in message  # the closest recording, not the other one


async def test_repeated_identical_requests_replay_in_order_and_then_fail(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    with FakeServer() as server:
        server.add(Reply.json(_completion("first")), Reply.json(_completion("second")))
        client = make_client("openai", server.base_url)
        hello = [UserMessage(content="Hello", source="user")]
        with Cassette(path):
            await client.create(hello)
            await client.create(hello)
        with Cassette(path, mode="none"):
            assert (await client.create(hello)).content == "first"
            assert (await client.create(hello)).content == "second"
            with pytest.raises(CassetteMismatchError, match="replayed already"):
                await client.create(hello)
        await client.close()


async def test_volatile_fields_are_left_out_of_matching(tmp_path: Path) -> None:
    path = tmp_path / "volatile.json"
    with FakeServer() as server:
        client = make_client("openai", server.base_url)
        hello = [UserMessage(content="Hello", source="user")]
        with Cassette(path, match_volatile=["user"]):
            await client.create(hello, extra_create_args={"user": "run-1"})
        with Cassette(path, mode="none", match_volatile=["user"]):
            await client.create(hello, extra_create_args={"user": "run-2"})
        with Cassette(path, mode="none"), pytest.raises(CassetteMismatchError, match="run-2"):
            await client.create(hello, extra_create_args={"user": "run-2"})
        await client.close()


async def test_new_episodes_records_only_what_is_missing_and_all_records_anew(tmp_path: Path) -> None:
    path = tmp_path / "episodes.json"
    with FakeServer() as server:
        client = make_client("openai", server.base_url)
        first = [UserMessage(content="one", source="user")]
        second = [UserMessage(content="two", source="user")]
        with Cassette(path):
            await client.create(first)
        with Cassette(path, mode="new_episodes"):
            await client.create(first)
            await client.create(second)
        assert len(server.requests) == 2  # the first came from the cassette
        assert len(json.loads(path.read_text())["interactions"]) == 2
        with Cassette(path, mode="all"):
            await client.create(second)
        assert len(server.requests) == 3
        assert len(json.loads(path.read_text())["interactions"]) == 1
        await client.close()


async def test_wrap_records_one_client_only(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.json"
    with FakeServer() as server:
        wrapped = Cassette(path).wrap(make_client("openai", server.base_url))
        other = make_client("openai", server.base_url)
        await wrapped.create([UserMessage(content="recorded", source="user")])
        await other.create([UserMessage(content="not recorded", source="user")])
        wrapped_cassette = wrapped._transport.cassette
        wrapped_cassette.unwrap()
        await wrapped.close()
        await other.close()
    bodies = json.dumps(json.loads(path.read_text()))
    assert "recorded" in bodies and "not recorded" not in bodies


async def test_streams_keep_their_timing_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "timed.json"
    with FakeServer() as server:
        client = make_client("openai", server.base_url)
        with Cassette(path, keep_timing=True):
            chunks = [c async for c in client.create_stream([UserMessage(content="Stream it", source="user")])]
        with Cassette(path, mode="none", keep_timing=True):
            again = [c async for c in client.create_stream([UserMessage(content="Stream it", source="user")])]
        await client.close()
    assert again == chunks
    body = json.loads(path.read_text())["interactions"][0]["response"]["body"]
    assert all("after" in piece and "text" in piece for piece in body["chunks"])


def test_bedrock_streams_are_stored_base64_and_text_streams_as_text(tmp_path: Path, no_aws_env: None) -> None:
    async def run() -> None:
        await record("bedrock", tmp_path / "bedrock.json")
        await record("ollama", tmp_path / "ollama.json")

    asyncio.run(run())
    bedrock = json.loads((tmp_path / "bedrock.json").read_text())["interactions"]
    stream = next(entry for entry in bedrock if "stream" in entry["request"]["url"])
    assert set(stream["response"]["body"]) == {"base64"}
    assert set(bedrock[0]["response"]["body"]) == {"json"}
    ollama = json.loads((tmp_path / "ollama.json").read_text())["interactions"]
    streamed = next(entry for entry in ollama if entry["request"]["body"]["json"].get("stream", True))
    assert '"done":true' in streamed["response"]["body"]["text"]


def _completion(text: str) -> dict[str, Any]:
    from modelport.testing import completion

    return completion(text)  # type: ignore[no-any-return]


def test_a_file_that_is_not_a_cassette_is_named_in_the_error(tmp_path: Path) -> None:
    from modelport.testing import CassetteError

    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions: [unclosed\n")
    with pytest.raises(CassetteError, match=r"broken\.yaml is not a cassette"), Cassette(broken, mode="none"):
        pass
    other = tmp_path / "other.json"
    other.write_text('{"interactions": [1, 2]}')
    with pytest.raises(CassetteError, match=r"other\.json is not a cassette"), Cassette(other, mode="none"):
        pass
    with pytest.raises(CassetteError, match="mode must be one of"):
        Cassette(tmp_path / "x.json", mode="sometimes")


async def test_the_socket_guard_stops_a_request_that_is_not_replayed(no_sockets: list[Any]) -> None:
    """The guard the replay tests rely on does catch a real request (so their passing means no socket was used)."""
    client = make_client("openai", "http://127.0.0.1:9/v1")
    with pytest.raises(Exception):  # noqa: B017 - aiohttp wraps it in its own way; the guard's list is the proof
        await client.create([UserMessage(content="Hello", source="user")])
    await client.close()
    assert no_sockets
    no_sockets.clear()


async def test_a_compressed_answer_is_stored_decoded_and_replays(tmp_path: Path) -> None:
    """The transport reads gzip bodies as they crossed the wire and decompresses them itself; the cassette stores
    what the transport decoded (readable JSON and stream text), so replay, which drops Content-Encoding, gives the
    same answers."""
    import gzip

    from modelport.testing import chunk

    events = [chunk({"role": "assistant", "content": ""}), chunk({"content": "zipped "}), chunk({"content": "stream"}),
              chunk({}, finish_reason="stop")]
    sse = b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events) + b"data: [DONE]\n\n"
    path = tmp_path / "gzip.json"
    hello = [UserMessage(content="Hello", source="user")]
    with FakeServer() as server:
        server.add(
            Reply(headers={"content-type": "application/json", "content-encoding": "gzip"},
                  segments=[(0.0, gzip.compress(json.dumps(_completion("zipped")).encode()))]),
            Reply(headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
                  segments=[(0.0, gzip.compress(sse))], chunked=True),
        )
        client = make_client("openai", server.base_url)
        with Cassette(path):
            recorded = (await client.create(hello)).content
            streamed = [item async for item in client.create_stream(hello)][-1].content
    assert (recorded, streamed) == ("zipped", "zipped stream")
    stored = path.read_text()
    assert '"zipped"' in stored and "zipped " in stored  # decoded, not gzip bytes
    with Cassette(path, mode="none"):
        assert (await client.create(hello)).content == "zipped"
        assert [item async for item in client.create_stream(hello)][-1].content == "zipped stream"
    await client.close()
