"""Cassettes at the edges: a body the connection cut replays with the same typed error, where it broke; a short
placeholder key (``"test"``, ``"ollama"``) does not eat the words it happens to spell out of what is recorded; two
writers of one cassette file do not trip over each other; a YAML cassette served without pyyaml says what is
missing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from modelport import UserMessage
from modelport.errors import APIConnectionError
from modelport.testing import Cassette, FakeServer, Reply
from modelport.testing._cassette_file import save_interactions

CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
)


async def twice(path: Path, call: Any) -> list[tuple[type[BaseException], str]]:
    """The error ``call()`` raises while recording into ``path``, then while replaying from it."""
    raised = []
    for _ in range(2):
        with pytest.raises(APIConnectionError) as failure, Cassette(path):
            await call()
        raised.append((type(failure.value), str(failure.value)))
    return raised


async def test_a_stream_cut_mid_way_replays_the_same_typed_error(
    server: FakeServer, make_client: Any, tmp_path: Path
) -> None:
    client = make_client(max_retries=0)
    server.add(Reply(headers={"content-type": "text/event-stream"}, segments=[(0.0, CHUNK)], chunked=True, reset=True))

    async def stream() -> None:
        async for _ in client.create_stream([UserMessage(content="cut", source="user")]):
            pass

    recorded, replayed = await twice(tmp_path / "cut.json", stream)
    assert recorded == replayed  # not an IncompleteStreamError: the connection broke, it did not end
    assert "broke mid-stream: ClientPayloadError" in replayed[1]
    assert len(server.requests) == 1


async def test_a_body_cut_short_of_its_length_replays_as_a_broken_connection(
    server: FakeServer, make_client: Any, tmp_path: Path
) -> None:
    client = make_client(max_retries=0)
    server.add(Reply.lying_length('{"id":"c1","choices":[{"ind'))

    async def create() -> None:
        await client.create([UserMessage(content="cut", source="user")])

    recorded, replayed = await twice(tmp_path / "cut.json", create)
    assert recorded[0] is replayed[0] is APIConnectionError  # not a ResponseValidationError about bad JSON
    assert "ClientPayloadError" in replayed[1]


@pytest.mark.parametrize("key", ["test", "ollama", "anything"])
async def test_a_short_placeholder_key_leaves_the_words_it_spells(
    server: FakeServer, make_client: Any, tmp_path: Path, key: str
) -> None:
    client = make_client(api_key=key)
    question = [UserMessage(content=f"is this a test of {key}?", source="user")]
    with Cassette(tmp_path / "short.json"):
        recorded = (await client.create(question)).content
    with Cassette(tmp_path / "short.json", mode="none"):
        replayed = (await client.create(question)).content
    assert replayed == recorded == f"You said: is this a test of {key}?"
    stored = (tmp_path / "short.json").read_text()
    assert '"authorization": "<scrubbed>"' in stored  # the credential header itself is still replaced whole


async def test_a_short_key_of_a_wrapped_client_leaves_the_words_it_spells(
    server: FakeServer, make_client: Any, tmp_path: Path
) -> None:
    client = make_client(api_key="test")
    question = [UserMessage(content="is this a test?", source="user")]
    cassette = Cassette(tmp_path / "short.json")
    cassette.wrap(client)
    recorded = (await client.create(question)).content
    cassette.unwrap()
    assert "is this a test?" in (tmp_path / "short.json").read_text()
    assert recorded == "You said: is this a test?"


def test_two_writers_of_one_cassette_never_share_a_partial_file(tmp_path: Path) -> None:
    # two pytest-xdist workers whose tests share a named cassette save it at the same time
    path = tmp_path / "shared.json"
    failures: list[BaseException] = []

    def write(words: str) -> None:
        interactions = [{"request": {"method": "POST", "url": "http://h/v1/x", "body": {"text": words}}}]
        for _ in range(300):
            try:
                save_interactions(path, interactions, ())
            except OSError as exc:
                failures.append(exc)

    writers = [threading.Thread(target=write, args=(word * 20_000,)) for word in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    assert len(json.loads(path.read_text())["interactions"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]  # no partial file left behind


WITHOUT_PYYAML = (  # pyyaml is not installed: importing it fails
    "import runpy, sys; sys.modules['yaml'] = None; sys.argv[0] = 'modelport.testing'; "
    "runpy.run_module('modelport.testing', run_name='__main__')"
)


async def test_serving_a_yaml_cassette_without_pyyaml_says_to_install_it(
    server: FakeServer, make_client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "greeting.yaml"
    with Cassette(path):  # written as YAML: pyyaml is installed here
        await make_client().create([UserMessage(content="hi", source="user")])
    assert path.read_text().startswith("interactions:")
    served = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYYAML, "--port", "0", "--cassette", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert served.returncode != 0
    assert "Traceback" not in served.stderr
    assert "reading a YAML cassette needs pyyaml: pip install 'modelport[yaml]'" in served.stderr
