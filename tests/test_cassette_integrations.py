"""Cassettes around what holds clients: a Router, a ChatCompletionCache, the AutoGen adapter, ``modelport batch``
(a subprocess, given its cassette by ``MODELPORT_CASSETTE``); and the fake server serving a cassette to any
program (``python -m modelport.testing --cassette``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelport import ChatCompletionCache, OpenAIChatCompletionClient, RetryPolicy, UserMessage
from modelport.router import Deployment, Router
from modelport.testing import Cassette, FakeServer, Reply

from .helpers import finish
from .test_cassette import KEYS, make_client, no_sockets  # noqa: F401 - the fixture is used by name

HELLO = [UserMessage(content="Hello there", source="user")]


def _router(base_url: str) -> Router:
    first = OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key=KEYS["openai"],
                                       retry_policy=RetryPolicy(max_retries=0))
    second = make_client("anthropic", base_url)
    return Router([Deployment(first, "first"), Deployment(second, "second")])


async def _routed(router: Router, server: FakeServer | None) -> list[Any]:
    """Two calls: the first deployment answers the first; it fails the second (a 500), so the second answers."""
    results: list[Any] = [await router.create(HELLO)]
    if server is not None:
        server.add(Reply.json({"error": {"message": "down", "type": "server_error"}}, status=500))
    results.append(await router.create([UserMessage(content="Fall over", source="user")]))
    return results


@pytest.mark.parametrize("how", ["context", "wrap"])
async def test_a_router_replays_its_failover(how: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    path = tmp_path / "router.yaml"
    with FakeServer() as server:
        router = _router(server.base_url)
        if how == "context":
            with Cassette(path):
                recorded = await _routed(router, server)
        else:
            cassette = Cassette(path)
            cassette.wrap(router)
            recorded = await _routed(router, server)
            cassette.unwrap()
        await router.close()
        base_url = server.base_url
    assert recorded[1].content.startswith("You said") and len(server.requests) == 3
    request.getfixturevalue("no_sockets")
    router = _router(base_url)
    if how == "context":
        with Cassette(path, mode="none"):
            replayed = await _routed(router, None)
    else:
        cassette = Cassette(path, mode="none")
        cassette.wrap(router)
        replayed = await _routed(router, None)
        cassette.unwrap()
    await router.close()
    assert replayed == recorded


async def test_a_cache_over_a_replayed_client(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    path = tmp_path / "cache.json"
    with FakeServer() as server:
        cache = ChatCompletionCache(make_client("openai", server.base_url))
        with Cassette(path):
            recorded = [await cache.create(HELLO), await cache.create(HELLO)]
        await cache.close()
        base_url = server.base_url
    assert len(server.requests) == 1 and recorded[1].cached
    request.getfixturevalue("no_sockets")
    cache = ChatCompletionCache(make_client("openai", base_url))
    with Cassette(path, mode="none"):
        replayed = [await cache.create(HELLO), await cache.create(HELLO)]
    await cache.close()
    assert replayed == recorded


async def test_the_autogen_adapter_replays_an_agents_tool_round_trip(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("autogen_agentchat")
    from autogen_agentchat.agents import AssistantAgent

    from modelport.integrations.autogen import AutoGenClient

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    async def ask(base_url: str) -> list[Any]:
        client = AutoGenClient(make_client("openai", base_url))
        agent = AssistantAgent("assistant", model_client=client, tools=[get_weather], reflect_on_tool_use=True)
        result = await agent.run(task="What is the weather in Paris?")
        await client.close()
        return [(type(m).__name__, str(m.content), m.models_usage) for m in result.messages]

    path = tmp_path / "agent.yaml"
    with FakeServer() as server:
        with Cassette(path):
            recorded = await ask(server.base_url)
        base_url = server.base_url
    assert recorded[-1][:2] == ("TextMessage", "The tool said: Sunny in Paris")
    request.getfixturevalue("no_sockets")
    with Cassette(path, mode="none"):
        assert await ask(base_url) == recorded


def _batch(requests: Path, out: Path, base_url: str, cassette: Path, mode: str) -> None:
    env = {**os.environ, "MODELPORT_CASSETTE": str(cassette), "MODELPORT_CASSETTE_MODE": mode,
           "BATCH_TEST_KEY": KEYS["openai"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelport.cli", "batch", str(requests), "-o", str(out), "--base-url", base_url,
         "--model", "gpt-4o", "--api-key-env", "BATCH_TEST_KEY", "--allow-env", "BATCH_TEST_KEY"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    code, _, err = finish(process)
    assert code == 0, err


def test_modelport_batch_records_and_replays_through_the_environment(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    lines = [{"custom_id": f"req-{i}", "messages": [{"role": "user", "content": f"prompt {i}"}]} for i in range(5)]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cassette = tmp_path / "batch.yaml"
    with FakeServer() as server:
        _batch(requests, tmp_path / "recorded.jsonl", server.base_url, cassette, "once")
        assert len(server.requests) == 5
        base_url = server.base_url
    assert len(json.loads(json.dumps(_interactions(cassette)))) == 5
    assert KEYS["openai"] not in cassette.read_text()
    _batch(requests, tmp_path / "replayed.jsonl", base_url, cassette, "none")  # the server has stopped

    def answers(path: Path) -> dict[str, Any]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return {row["custom_id"]: row["response"]["body"]["choices"] for row in rows}

    assert answers(tmp_path / "replayed.jsonl") == answers(tmp_path / "recorded.jsonl")


def _interactions(path: Path) -> list[Any]:
    import yaml

    return list(yaml.safe_load(path.read_text())["interactions"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_fake_server_serves_a_cassette_to_any_program(tmp_path: Path) -> None:
    path = tmp_path / "served.yaml"
    with FakeServer() as server:
        client = make_client("openai", server.base_url)
        with Cassette(path):
            recorded = await client.create(HELLO)
            streamed = [piece async for piece in client.create_stream(HELLO)]
        await client.close()
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "modelport.testing", "--port", str(port), "--cassette",
                                str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "serving the cassette" in process.stdout.readline()
        base_url = f"http://127.0.0.1:{port}/v1"
        client = make_client("openai", base_url)
        assert await client.create(HELLO) == recorded
        assert [piece async for piece in client.create_stream(HELLO)] == streamed
        await client.close()
        # another program, with no modelport: a plain HTTP request gets the same (first) answer
        body = json.dumps({"messages": [{"content": "Hello there", "name": "user", "role": "user"}],
                           "model": "gpt-4o"}).encode()
        plain = urllib.request.Request(f"{base_url}/chat/completions", data=body,
                                       headers={"content-type": "application/json"})
        with urllib.request.urlopen(plain, timeout=10) as answer:
            assert json.load(answer)["choices"][0]["message"]["content"] == recorded.content
        unknown = urllib.request.Request(f"{base_url}/chat/completions", data=b'{"model": "other"}',
                                         headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(unknown, timeout=10)
        assert missing.value.code == 404
        assert "closest one differs" in json.load(missing.value)["error"]["message"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
