"""Shared fixtures: one fake server for the session (reset for every test), clients pointed at it, and a retry
policy whose sleep records the waits instead of waiting, so no test sleeps on a real clock for retries."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from modelport import OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer

for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION",
             "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "MODEL_TIMEOUT", "OPENAI_BASE_URL", "OPENAI_API_BASE",
             "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
             "no_proxy"):
    os.environ.pop(name, None)

API_KEY = "sk-test-SECRET-0123456789abcdef"


class RecordingSleep:
    """An injected ``sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="session", autouse=True)
def _usage_log_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The command line records its calls to the usage log by default: the tests' go to a file of their own."""
    before = os.environ.get("MODELPORT_USAGE_DB")
    os.environ["MODELPORT_USAGE_DB"] = str(tmp_path_factory.mktemp("usage-log") / "usage.sqlite3")
    yield
    if before is None:
        os.environ.pop("MODELPORT_USAGE_DB", None)
    else:
        os.environ["MODELPORT_USAGE_DB"] = before


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeServer) -> Iterator[FakeServer]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def make_client(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[OpenAIChatCompletionClient] = []

    def make(model: str = "gpt-4o", **kwargs: Any) -> OpenAIChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps,
                                                      random=lambda: 0.0))
        client = OpenAIChatCompletionClient(model=model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make_client: Any) -> OpenAIChatCompletionClient:
    return make_client()  # type: ignore[no-any-return]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (CI installs the binary; elsewhere, skipped without it)."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.025)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
