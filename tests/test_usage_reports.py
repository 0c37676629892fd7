"""A usage report the client cannot read (a count that is a str, a fraction, a negative number, a list...) never
costs the answer, in any dialect, streamed or not: the answer comes back with ``usage_reported=False`` and a warning
on the ``modelport`` logger, never a pydantic ``ValidationError``. Real HTTP against the fake server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import modelport as mp
from modelport import RequestUsage, RetryPolicy
from modelport.providers.anthropic import AnthropicChatCompletionClient
from modelport.providers.ollama import OllamaChatCompletionClient
from modelport.testing import (
    FakeServer,
    Reply,
    anthropic_message,
    anthropic_stream,
    chunk,
    completion,
    text_block,
)
from modelport.testing._ollama import ollama_chunk, ollama_response, ollama_stream

from .helpers import HELLO, collect

NOT_COUNTS = {  # what the server sends as a count, and how the warning names it (a number as it came, else its type)
    "str": ("abc", "a str"),
    "fraction": (1.5, "1.5"),
    "negative": (-1, "-1"),
    "list": ([1], "a list"),
    "object": ({"n": 1}, "a dict"),
    "bool": (True, "a bool"),
    "beyond 2**53": (1e30, "1e+30"),
}


def openai_reply(stream: bool, report: dict[str, Any]) -> Reply:
    """The answer "Hi" with ``report`` as its usage (streamed: in a usage-only last chunk, as OpenAI sends it)."""
    if not stream:
        return Reply.json(completion("Hi", usage=report))
    return Reply.sse([chunk({"content": "Hi"}), chunk(finish_reason="stop"), chunk(usage=report, choices=False)])


def scripted(dialect: str, stream: bool, bad: Any) -> Reply:
    """The answer "Hi" from ``dialect``, with ``bad`` where its usage has the completion's count."""
    if dialect == "openai":
        return openai_reply(stream, {"prompt_tokens": 10, "completion_tokens": bad, "total_tokens": 12})
    if dialect == "anthropic":
        message = anthropic_message([text_block("Hi")], usage={"input_tokens": 10, "output_tokens": bad})
        return anthropic_stream(message) if stream else Reply.json(message)
    if not stream:
        return Reply.json(ollama_response("Hi", eval_count=bad))
    return ollama_stream([ollama_chunk("Hi"), ollama_response("", eval_count=bad)])


@pytest.fixture
async def make(server: FakeServer) -> AsyncIterator[Any]:
    made: list[Any] = []

    def make(dialect: str) -> Any:
        policy = RetryPolicy(max_retries=0)
        if dialect == "openai":
            client: Any = mp.OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test",
                                                       retry_policy=policy)
        elif dialect == "anthropic":
            client = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key="sk-test",
                                                   retry_policy=policy)
        else:
            client = OllamaChatCompletionClient("llama3.1", host=f"http://{server.host}:{server.port}",
                                                retry_policy=policy)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.mark.parametrize(("bad", "told"), list(NOT_COUNTS.values()), ids=list(NOT_COUNTS))
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic", "ollama"])
async def test_a_usage_count_that_is_not_a_count_keeps_the_answer_and_marks_usage_not_reported(
    server: FakeServer, make: Any, caplog: pytest.LogCaptureFixture, dialect: str, stream: bool, bad: Any, told: str
) -> None:
    client = make(dialect)
    server.add(scripted(dialect, stream, bad))
    with caplog.at_level(logging.WARNING, logger="modelport"):
        result = (await collect(client))[1] if stream else await client.create(HELLO)
    assert result.content == "Hi" and result.finish_reason == "stop"
    assert result.usage == RequestUsage() and result.usage_reported is False
    assert client.total_usage() == RequestUsage()
    warnings = [r.getMessage() for r in caplog.records if "usage not reported" in r.getMessage()]
    assert warnings == [f"usage not reported: the completion token count the server sent is {told}, not a number of "
                        "tokens"]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_usage_details_that_are_not_counts_are_left_out_and_the_counts_kept(
    server: FakeServer, make: Any, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    client = make("openai")
    report = {"prompt_tokens": 12.0, "completion_tokens": 5,  # a whole float is a count
              "prompt_tokens_details": {"cached_tokens": "x", "cache_write_tokens": 2},
              "completion_tokens_details": ["reasoning", 3]}
    server.add(openai_reply(stream, report))
    with caplog.at_level(logging.WARNING, logger="modelport"):
        result = (await collect(client))[1] if stream else await client.create(HELLO)
    assert result.content == "Hi" and result.usage_reported is True
    assert result.usage == RequestUsage(prompt_tokens=12, completion_tokens=5, cache_write_tokens=2)
    assert [r.getMessage() for r in caplog.records if r.name == "modelport"] == [
        "usage detail left out: the server's prompt_tokens_details.cached_tokens is a str, not a number of tokens",
        "usage details left out: the server's completion_tokens_details is a list, not an object",
    ]
