"""A request is built once: the cache key, the router's estimate, ``modelport batch``'s check and its run all read
the one value ``client.prepare`` made. Builds are counted with a profiling hook on the dialect's ``build`` (nothing
of the project is replaced: the hook only watches calls go by)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from modelport import ChatCompletionCache, UserMessage
from modelport._convert import _convert
from modelport.cli import main
from modelport.providers.openai import OpenAIDialect
from modelport.router import Deployment, RateLimit, Router
from modelport.testing import FakeServer

from .conftest import API_KEY
from .helpers import collect


class Calls:
    def __init__(self) -> None:
        self.count = 0


@contextmanager
def counting(function: Any) -> Iterator[Calls]:
    """Count the calls of ``function`` on this thread while the block runs."""
    code = function.__code__
    calls = Calls()
    previous = sys.getprofile()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            calls.count += 1
        if previous is not None:  # an enclosing count goes on counting
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


OPENAI_MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


async def test_a_cached_routed_call_is_built_once(server: FakeServer, make_client: Any) -> None:
    limits = [RateLimit(requests=100, per=60), RateLimit(tokens=100_000, per=60)]
    cache = ChatCompletionCache(Router([Deployment(make_client(), limits=limits)]))
    with counting(OpenAIDialect.build) as builds, counting(_convert) as conversions:
        await cache.create(OPENAI_MESSAGES)
    assert (builds.count, conversions.count) == (1, 1)
    with counting(OpenAIDialect.build) as builds, counting(_convert) as conversions:
        await collect(cache, [{"role": "user", "content": "Hello, as a stream"}])
    assert (builds.count, conversions.count) == (1, 1)
    assert len(server.requests) == 2


async def test_a_fallback_deployment_builds_the_request_for_itself_once(server: FakeServer, make_client: Any) -> None:
    from modelport.testing import Reply

    server.add(Reply.json({"error": {"message": "overloaded"}}, status=503))
    first, second = make_client(max_retries=0), make_client("gpt-4o-mini", max_retries=0)
    router = Router([Deployment(first, name="a"), Deployment(second, name="b")])
    with counting(OpenAIDialect.build) as builds:
        result = await router.create([UserMessage(content="Hello")])
    assert builds.count == 2  # once for the first deployment, once for the one it fell back to
    assert [r.json["model"] for r in server.requests] == ["gpt-4o", "gpt-4o-mini"] and result.content


def test_a_batch_line_is_built_once(server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requests, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"custom_id": f"r{i}", "messages": [{"role": "user", "content": f"line {i}"}]} for i in range(5)]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.setenv("BATCH_TEST_KEY", API_KEY)
    argv = ["batch", str(requests), "-o", str(results), "--model", "gpt-4o", "--base-url", server.base_url]
    argv += ["--api-key-env", "BATCH_TEST_KEY", "--tpm", "100000", "--cache", str(tmp_path / "cache")]
    with counting(OpenAIDialect.build) as builds:
        assert main(argv) == 0
    assert builds.count == len(lines)  # checked, keyed, estimated and sent: one build each
    assert len(results.read_text().splitlines()) == len(lines) == len(server.requests)


async def test_prepare_sends_nothing_and_send_sends_the_prepared_body(server: FakeServer, make_client: Any) -> None:
    client = make_client()
    request = client.prepare(OPENAI_MESSAGES, extra_create_args={"temperature": 0})
    assert not server.requests and request.payload is not None and request.body is not None
    assert request.payload["messages"][1] == {"role": "user", "content": "Hello", "name": "user"}
    with counting(OpenAIDialect.build) as builds:
        result = await client.send(request)
    assert builds.count == 0 and result.content
    assert server.requests[0].body == request.body and server.requests[0].json["temperature"] == 0
    other = make_client("gpt-4o-mini")
    with counting(OpenAIDialect.build) as builds:
        await other.send(request)  # prepared by another client: built once more, for this one
    assert builds.count == 1 and server.requests[1].json["model"] == "gpt-4o-mini"


async def test_a_subclass_create_still_sees_calls_through_the_cache_and_the_router(server: FakeServer) -> None:
    from modelport import CreateResult, OpenAIChatCompletionClient, SystemMessage

    class WithHouseRules(OpenAIChatCompletionClient):
        """A client that puts its own system message first (a subclass overriding create and create_stream)."""

        async def create(self, messages: Any, **kwargs: Any) -> CreateResult:
            return await super().create([SystemMessage(content="House rules."), *messages], **kwargs)

        def create_stream(self, messages: Any, **kwargs: Any) -> Any:
            return super().create_stream([SystemMessage(content="House rules."), *messages], **kwargs)

    def make() -> WithHouseRules:
        return WithHouseRules(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)

    for wrapper in (ChatCompletionCache(make()), Router([Deployment(make())])):
        await wrapper.create([UserMessage(content="Hello")])
        await collect(wrapper, [UserMessage(content="Hello, as a stream")])
        await wrapper.close()
    assert len(server.requests) == 4
    assert all(r.json["messages"][0] == {"role": "system", "content": "House rules."} for r in server.requests)
