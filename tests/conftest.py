"""Shared fixtures: one fake server for the session (reset for every test), clients pointed at it, and a retry
policy whose sleep records the waits instead of waiting, so no test sleeps on a real clock for retries."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelport import OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer

TIKTOKEN_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiktoken"
if "TIKTOKEN_CACHE_DIR" not in os.environ and TIKTOKEN_DATA.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_DATA)

for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION",
             "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "MODEL_TIMEOUT"):
    os.environ.pop(name, None)

API_KEY = "sk-test-SECRET-0123456789abcdef"


class RecordingSleep:
    """An injected ``sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


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
