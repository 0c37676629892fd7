"""The router over real HTTP: several fake servers, each a deployment."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelport import ChatCompletionCache, CreateResult, UserMessage, load_component
from modelport.errors import (
    APIError,
    BadRequestError,
    ContextLengthExceededError,
    RateLimitError,
)
from modelport.events import EVENT_LOGGER_NAME
from modelport.router import Deployment, LocalRouterState, RateLimit, Router, RouterAttemptEvent
from modelport.testing import FakeServer, RecordedRequest, Reply, chunk, default_reply

HELLO = [UserMessage(content="hello", source="user")]


def _error(status: int, message: str = "boom", code: str | None = None, **headers: str) -> Reply:
    return Reply.json({"error": {"message": message, "type": "error", "code": code}}, status=status, headers=headers)


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def other() -> Iterator[FakeServer]:
    with FakeServer() as second:
        yield second


def _pair(make_client: Any, server: FakeServer, other: FakeServer, **router: Any) -> Router:
    a = Deployment(make_client(max_retries=0), "a")
    b = Deployment(make_client(base_url=other.base_url, max_retries=0), "b")
    return Router([a, b], **router)


# -- strategies --


async def test_ordered_prefers_the_first(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    router = _pair(make_client, server, other)
    for _ in range(3):
        result = await router.create(HELLO)
        assert result.content == "You said: hello"
    assert (len(server.requests), len(other.requests)) == (3, 0)
    assert router.total_usage().prompt_tokens > 0


@pytest.mark.parametrize(("draw", "expected"), [(0.1, "a"), (0.9, "b")])
async def test_weighted_draws_by_weight(
    make_client: Any, server: FakeServer, other: FakeServer, draw: float, expected: str
) -> None:
    a = Deployment(make_client(max_retries=0), "a", weight=1.0)
    b = Deployment(make_client(base_url=other.base_url, max_retries=0), "b", weight=3.0)
    router = Router([a, b], strategy="weighted", random=lambda: draw)  # 0.1*4 < 1 -> a; 0.9*4 > 1 -> b
    await router.create(HELLO)
    assert (len(server.requests), len(other.requests)) == ((1, 0) if expected == "a" else (0, 1))


async def test_least_busy_avoids_the_busy(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(Reply.json(_completion_body(), head_delay=0.3))
    router = _pair(make_client, server, other, strategy="least-busy")
    slow = asyncio.create_task(router.create(HELLO))
    await asyncio.sleep(0.1)  # the first call is in flight on a
    await router.create(HELLO)
    await slow
    assert (len(server.requests), len(other.requests)) == (1, 1)


async def test_latency_prefers_the_fastest(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(Reply.json(_completion_body(), head_delay=0.2))
    router = _pair(make_client, server, other, strategy="latency", random=lambda: 0.99)  # never explore
    await router.create(HELLO)  # a, unmeasured, slow
    await router.create(HELLO)  # b, unmeasured
    await router.create(HELLO)  # b, the faster
    assert (len(server.requests), len(other.requests)) == (1, 2)
    draws = iter([0.0, 0.99])  # explore; then pick the second in latency order
    explorer = _pair(make_client, server, other, strategy="latency", random=lambda: next(draws))
    explorer._latency.update({"a": 1.0, "b": 0.01})
    await explorer.create(HELLO)  # exploration puts a first although b is faster
    assert len(server.requests) == 2


def _completion_body() -> dict[str, Any]:
    from modelport.testing import completion

    return completion("slow", usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6})


# -- fallback --


@pytest.mark.parametrize(
    "reply",
    [_error(429), _error(500), _error(503), _error(401), _error(403), _error(404)],
    ids=["429", "500", "503", "401", "403", "404"],
)
async def test_falls_back_on_status(make_client: Any, server: FakeServer, other: FakeServer, reply: Reply) -> None:
    server.add(reply)
    router = _pair(make_client, server, other)
    result = await router.create(HELLO)
    assert result.content == "You said: hello"
    assert (len(server.requests), len(other.requests)) == (1, 1)


async def test_falls_back_on_connection_error_and_timeout(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(Reply.hang())
    refused = Deployment(make_client(base_url=_closed_port_url(), max_retries=0), "refused")
    hanging = Deployment(make_client(max_retries=0, timeout=0.2), "hanging")
    good = Deployment(make_client(base_url=other.base_url, max_retries=0), "good")
    router = Router([refused, hanging, good])
    assert (await router.create(HELLO)).content == "You said: hello"
    assert (len(server.requests), len(other.requests)) == (1, 1)


async def test_bad_request_is_raised_at_once(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(_error(400, "bad field"))
    router = _pair(make_client, server, other)
    with pytest.raises(BadRequestError):
        await router.create(HELLO)
    assert len(other.requests) == 0


async def test_last_error_is_raised_when_all_fail(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(_error(500))
    other.add(_error(503, "down"))
    router = _pair(make_client, server, other)
    with pytest.raises(APIError, match="down"):
        await router.create(HELLO)


async def test_context_length_moves_only_to_a_larger_window(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(_error(400, "This model's maximum context length is 128000 tokens", code="context_length_exceeded"))
    with FakeServer() as third:
        small = Deployment(make_client("gpt-4o", max_retries=0), "small")
        same = Deployment(make_client("gpt-4o", base_url=third.base_url, max_retries=0), "same")
        large = Deployment(make_client("gpt-4.1", base_url=other.base_url, max_retries=0), "large")
        router = Router([small, same, large])
        await router.create(HELLO)
        assert (len(server.requests), len(third.requests), len(other.requests)) == (1, 0, 1)
        server.add(_error(400, "maximum context length exceeded", code="context_length_exceeded"))
        with pytest.raises(ContextLengthExceededError):
            await Router([Deployment(make_client("gpt-4o", max_retries=0), "only")]).create(HELLO)


async def test_every_attempt_is_an_event(
    make_client: Any, server: FakeServer, other: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    server.add(_error(503))
    await _pair(make_client, server, other).create(HELLO)
    attempts = [r.msg.kwargs for r in caplog.records if isinstance(r.msg, RouterAttemptEvent)]
    assert [(e["deployment"], e["outcome"], e["reason"]) for e in attempts] == [
        ("a", "fallback", "ServerError"),
        ("b", "ok", None),
    ]


# -- health --


async def test_retry_after_cools_the_deployment(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(_error(429, "slow down", **{"retry-after": "30"}))
    router = _pair(make_client, server, other)
    for _ in range(3):
        await router.create(HELLO)
    assert (len(server.requests), len(other.requests)) == (1, 3)  # no request to a while it cools
    assert await router.state.cooling("a") > 25


async def test_consecutive_failures_cool_the_deployment(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(_error(500), _error(500))
    router = _pair(make_client, server, other, allowed_failures=2, cooldown=60)
    for _ in range(4):
        await router.create(HELLO)
    assert (len(server.requests), len(other.requests)) == (2, 4)


async def test_input_the_first_deployment_refuses_goes_to_the_deployment_that_takes_it(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    from modelport import AnthropicChatCompletionClient

    server.add(_error(429, "slow down", **{"retry-after": "30"}))
    claude = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=other.base_url.removesuffix("/v1"),
                                           api_key="sk-ant-test", max_retries=0)
    router = Router([Deployment(make_client(max_retries=0), "gpt"), Deployment(claude, "claude")])
    try:
        await router.create(HELLO)  # the OpenAI deployment answers 429: it cools, Claude answers
        top_k = {"top_k": 5}  # a create argument of Anthropic's that the OpenAI client refuses
        result = await router.create(HELLO, extra_create_args=top_k)
        async with router.create_stream(HELLO, extra_create_args=top_k) as stream:
            items = [item async for item in stream]
    finally:
        await router.close()
    assert result.content and isinstance(items[-1], CreateResult)
    assert [r.json["top_k"] for r in other.requests[1:]] == [5, 5] and len(server.requests) == 1


async def test_all_cooling_waits_are_bounded(make_client: Any, server: FakeServer) -> None:
    server.add(_error(429, "slow down", **{"retry-after": "30"}))
    router = Router([Deployment(make_client(max_retries=0), "a")], max_wait=0.1)
    with pytest.raises(RateLimitError):
        await router.create(HELLO)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match="cooling down"):
        await router.create(HELLO)
    assert time.monotonic() - started < 0.1  # no use waiting 30 s: raised at once
    assert len(server.requests) == 1


# -- streams --


def _stream_reply(words: list[str], *, reset: bool = False) -> Reply:
    events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": w}) for w in words]
    if not reset:
        events.append(chunk(finish_reason="stop"))
    return Reply.sse(events, done=not reset, reset=reset)


async def test_stream_falls_back_before_the_first_delta(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(_error(502))
    router = _pair(make_client, server, other)
    async with router.create_stream(HELLO) as stream:
        items = [item async for item in stream]
    assert "".join(i for i in items if isinstance(i, str)) == "You said: hello"
    assert isinstance(items[-1], CreateResult)
    assert (len(server.requests), len(other.requests)) == (1, 1)


async def test_stream_error_after_a_delta_is_raised_with_what_arrived(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(_stream_reply(["Hel", "lo"], reset=True))
    router = _pair(make_client, server, other)
    seen: list[str] = []
    with pytest.raises(APIError) as caught:
        async with router.create_stream(HELLO) as stream:
            async for item in stream:
                assert isinstance(item, str)
                seen.append(item)
    assert "".join(seen) == "Hello"
    assert caught.value.partial is not None and caught.value.partial.content == "Hello"
    assert len(other.requests) == 0


# -- limits --


async def test_waits_for_capacity_within_max_wait(make_client: Any, server: FakeServer) -> None:
    limited = Deployment(make_client(), "a", limits=[RateLimit(requests=1, per=0.3)])
    router = Router([limited], max_wait=1.0)
    started = time.monotonic()
    await router.create(HELLO)
    await router.create(HELLO)  # waits for the window to roll
    assert 0.25 <= time.monotonic() - started < 1.0
    strict = Router([Deployment(make_client(), "b", limits=[RateLimit(requests=1, per=5.0)])], max_wait=0.2)
    await strict.create(HELLO)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match=r"b: 1 requests per 5s") as caught:
        await strict.create(HELLO)
    assert time.monotonic() - started < 0.2
    assert caught.value.retry_after is not None and 4 < caught.value.retry_after <= 5


async def test_token_limit_counts_reserved_tokens(make_client: Any, server: FakeServer) -> None:
    client = make_client()
    prompt = client.count_tokens(HELLO)
    estimate = prompt + 10  # the prompt's count plus max_tokens
    limited = Deployment(client, "a", limits=[RateLimit(tokens=2 * estimate + 5, per=30)])
    router = Router([limited], max_wait=0.0)
    first = await router.create(HELLO, extra_create_args={"max_tokens": 10})
    used = first.usage.prompt_tokens + first.usage.completion_tokens
    assert used + estimate > 2 * estimate + 5  # the settled (real) usage leaves no room; the estimate would have
    with pytest.raises(RateLimitError, match=r"a: \d+ tokens per 30s"):
        await router.create(HELLO, extra_create_args={"max_tokens": 10})
    with pytest.raises(RateLimitError, match="ever"):  # larger than the whole limit: no use waiting
        await Router([limited]).create(HELLO, extra_create_args={"max_tokens": 10_000})


async def test_max_concurrency(make_client: Any, server: FakeServer) -> None:
    server.add(Reply.json(_completion_body(), head_delay=0.2), Reply.json(_completion_body(), head_delay=0.2))
    router = Router([Deployment(make_client(), "a", max_concurrency=1)])
    started = time.monotonic()
    await asyncio.gather(router.create(HELLO), router.create(HELLO))
    assert time.monotonic() - started >= 0.4


async def test_rolling_window_has_no_boundary_burst() -> None:
    now = [0.0]
    state = LocalRouterState(clock=lambda: now[0])
    limit = [RateLimit(requests=2, per=1.0)]
    granted = []
    for t in (0.9, 0.95, 1.0, 1.05, 1.89, 1.91, 1.96):
        now[0] = t
        if not hasattr(await state.reserve("a", limit, 0, None), "wait"):
            granted.append(t)
    assert granted == [0.9, 0.95, 1.91, 1.96]


def _counting_server(limit: int, per: float) -> tuple[FakeServer, list[float], list[float]]:
    """A fake server that answers 429 to any request beyond ``limit`` in a rolling ``per`` seconds."""
    starts: list[float] = []
    refused: list[float] = []
    lock = threading.Lock()

    def reply(request: RecordedRequest) -> Reply:
        now = time.monotonic()
        with lock:
            if sum(1 for t in starts if t > now - per) >= limit:
                refused.append(now)
                return _error(429, "rate limited")
            starts.append(now)
        return default_reply(request)

    return FakeServer(default=reply), starts, refused


async def test_limits_measured(make_client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    counting, starts, refused = _counting_server(10, 1.0)
    with counting:
        client = make_client(base_url=counting.base_url, max_retries=0)
        router = Router([Deployment(client, "a", limits=[RateLimit(requests=10, per=1.0)])])
        started = time.monotonic()
        await asyncio.gather(*(router.create(HELLO) for _ in range(40)))
        elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n40 calls under 10 requests/1s: {elapsed:.3f}s, {len(refused)} 429s, {len(starts)} served")
    assert refused == []
    assert len(starts) == 40
    assert 3.0 <= elapsed <= 4.5


def _token_counting_server(limit: int, per: float) -> tuple[FakeServer, list[tuple[float, int]], list[float]]:
    """A fake server that answers 429 when a request's tokens (as its answer reports them) would take the tokens
    of the last ``per`` seconds of arrivals past ``limit``."""
    served: list[tuple[float, int]] = []
    refused: list[float] = []
    lock = threading.Lock()

    def reply(request: RecordedRequest) -> Reply:
        answer = default_reply(request)
        usage = json.loads(answer.segments[0][1])["usage"]
        tokens = usage["prompt_tokens"] + usage["completion_tokens"]
        now = time.monotonic()
        with lock:
            if sum(n for t, n in served if t > now - per) + tokens > limit:
                refused.append(now)
                return _error(429, "rate limited")
            served.append((now, tokens))
        return answer

    return FakeServer(default=reply), served, refused


async def test_token_limits_measured(make_client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    server, served, refused = _token_counting_server(400, 0.5)
    with server:
        client = make_client(base_url=server.base_url, max_retries=0)
        estimate = client.count_tokens(HELLO) + 20
        router = Router([Deployment(client, "a", limits=[RateLimit(tokens=400, per=0.5)])])
        started = time.monotonic()
        await asyncio.gather(*(router.create(HELLO, extra_create_args={"max_tokens": 20}) for _ in range(40)))
        elapsed = time.monotonic() - started
    used = sum(n for _, n in served)
    with capsys.disabled():
        print(
            f"\n40 calls under 400 tokens/0.5s ({estimate} reserved, {used // 40} used each): {elapsed:.3f}s, "
            f"{len(refused)} 429s, {len(served)} served"
        )
    assert refused == [] and len(served) == 40
    assert elapsed >= used / 400 * 0.5 - 0.5  # the limit held the calls back: no window saw more than 400
    assert elapsed <= 40 * estimate / 400 * 0.5 + 1.0  # and it waited no longer than the reservations need


# -- composition --


async def test_components_round_trip(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    a = Deployment(make_client(max_retries=0), "a", rpm=60, limits=[RateLimit(tokens=1000, per=10)], weight=2)
    b = Deployment(make_client(base_url=other.base_url), "b", tpm=5000, max_concurrency=4)
    router = Router([a, b], strategy="weighted", cooldown=5, allowed_failures=2, max_wait=3)
    model = router.dump_component()
    assert (model.provider, model.component_type) == ("router", "model")
    assert "SECRET" not in model.model_dump_json()
    loaded = Router.load_component(model.model_dump())
    assert loaded.dump_component() == model
    restored = load_component(router.dump_component(include_secrets=True).model_dump())
    assert isinstance(restored, Router)
    try:
        assert (await restored.create(HELLO)).content == "You said: hello"
        assert restored.deployments[0].all_limits == (RateLimit(requests=60, per=60), RateLimit(tokens=1000, per=10))
    finally:
        await restored.close()
        await loaded.close()


async def test_cache_over_a_router(make_client: Any, server: FakeServer, other: FakeServer) -> None:
    server.add(_error(500))
    router = _pair(make_client, server, other)
    cache = ChatCompletionCache(router)
    first = await cache.create(HELLO)
    second = await cache.create(HELLO)
    assert (first.cached, second.cached) == (False, True)
    assert len(other.requests) == 1
    assert cache.dump_component().config["client"]["provider"] == "router"
    assert router.count_tokens(HELLO) == router.deployments[0].client.count_tokens(HELLO)
    assert router.model_info == router.deployments[0].client.model_info


def test_the_command_line_chats_through_a_router_config(tmp_path: Any) -> None:
    import subprocess
    import sys

    from modelport import Deployment, OpenAIChatCompletionClient, Router

    with FakeServer() as first, FakeServer() as second:
        first.add(Reply.json({"error": {"message": "busy"}}, status=503))
        router = Router(
            [
                Deployment(
                    OpenAIChatCompletionClient(model="gpt-4o", base_url=first.base_url, max_retries=0), name="first"
                ),
                Deployment(OpenAIChatCompletionClient(model="gpt-4o", base_url=second.base_url), name="second"),
            ]
        )
        path = tmp_path / "router.json"
        path.write_text(router.dump_component().model_dump_json())
        done = subprocess.run(
            [sys.executable, "-m", "modelport.cli", "chat", "--config", str(path), "hello there"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "You said: hello there"
        assert (len(first.requests), len(second.requests)) == (1, 1)  # the 503 fell back to the second


# -- the in-memory state against a plain model of the rules --


class _ReferenceState:
    """The limits' rules written the plain way (every window sorted at every question): a call counts from its
    reservation, and once settled, from its settlement instead, with its real tokens."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[float, int]] = {}
        self.in_flight = 0

    def wait(self, limits: list[RateLimit], tokens: int, now: float) -> tuple[float, str] | None:
        for limit in limits:
            recent = sorted(e for e in self.entries.values() if e[0] > now - limit.per)
            if limit.requests is not None:
                full = len(recent) >= limit.requests
                wait = recent[len(recent) - limit.requests][0] + limit.per - now if full else 0.0
            elif tokens > limit.amount:
                wait = float("inf")
            else:
                excess, wait = sum(n for _, n in recent) + tokens - limit.amount, 0.0
                for started, spent in recent:
                    if excess <= 0:
                        break
                    excess -= spent
                    wait = started + limit.per - now
                if excess > 0:
                    wait = float("inf")
            if wait > 0:
                return wait, limit.describe()
        return None


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["reserve", "settle"]),
            st.floats(0, 0.7),
            st.integers(0, 70),
            st.one_of(st.none(), st.integers(0, 70)),
        ),
        max_size=60,
    )
)
def test_local_state_answers_as_the_plain_rules_do(steps: list[tuple[str, float, int, int | None]]) -> None:
    limits = [RateLimit(requests=3, per=1.0), RateLimit(tokens=100, per=2.0)]
    now = [0.0]
    state, model = LocalRouterState(clock=lambda: now[0]), _ReferenceState()
    held: list[Any] = []

    async def run() -> None:
        for action, dt, tokens, used in steps:
            now[0] += dt
            if action == "settle" and held:
                grant = held.pop(tokens % len(held))
                await state.settle(grant, used)
                reserved = model.entries[grant.ticket][1]
                model.entries[grant.ticket] = (now[0], reserved if used is None else used)
                continue
            answer, expected = await state.reserve("a", limits, tokens, None), model.wait(limits, tokens, now[0])
            if expected is None:
                assert not hasattr(answer, "wait"), (answer, now[0])
                held.append(answer)
                model.entries[answer.ticket] = (now[0], tokens)
            else:
                assert hasattr(answer, "wait") and answer.reason == expected[1]
                assert answer.wait == pytest.approx(expected[0])

    asyncio.run(run())


async def test_a_cancelled_call_gives_its_slot_back(make_client: Any, server: FakeServer) -> None:
    server.add(Reply.json(_completion_body(), head_delay=5.0))
    router = Router([Deployment(make_client(), "a", max_concurrency=1)], max_wait=0.5)
    slow = asyncio.ensure_future(router.create(HELLO))
    while not server.requests:
        await asyncio.sleep(0.01)
    assert await router.state.in_flight("a") == 1
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert await router.state.in_flight("a") == 0
    assert (await router.create(HELLO)).content == "You said: hello"  # the slot is free again at once


async def test_a_cancelled_stream_gives_its_slot_back(make_client: Any, server: FakeServer) -> None:
    router = Router([Deployment(make_client(), "a", max_concurrency=1)], max_wait=0.5)
    stream = router.create_stream(HELLO)
    first = await stream.__anext__()
    assert isinstance(first, str) and await router.state.in_flight("a") == 1
    await stream.aclose()
    assert await router.state.in_flight("a") == 0
    assert (await router.create(HELLO)).content == "You said: hello"


async def test_contexts_count_and_trim_through_a_router(make_client: Any, server: FakeServer) -> None:
    from modelport.model_context import TokenLimitedChatCompletionContext

    router = Router([Deployment(make_client(), "a")])
    history = [UserMessage(content=f"message number {i} " * 20, source="user") for i in range(30)]
    one = router.count_tokens(history[:1])
    context = TokenLimitedChatCompletionContext(router, token_limit=one * 5, initial_messages=history)
    kept = await context.get_messages()
    assert 0 < len(kept) < len(history) and kept[-1] == history[-1]
    assert router.count_tokens(kept) <= one * 5
    result = await router.create(kept)
    assert result.content.startswith("You said: message number 29")


class _CountingState(LocalRouterState):
    """The in-memory state, counting the questions it is asked (as a networked state would count round trips)."""

    def __init__(self) -> None:
        super().__init__()
        self.reservations = 0

    async def reserve(self, *args: Any, **kwargs: Any) -> Any:
        self.reservations += 1
        return await super().reserve(*args, **kwargs)


async def test_waiting_calls_queue_in_order_and_ask_once_per_freed_slot(make_client: Any, server: FakeServer) -> None:
    state = _CountingState()
    router = Router([Deployment(make_client(), "a", limits=[RateLimit(requests=5, per=0.5)])], state=state)
    finished: list[int] = []

    async def call(i: int) -> None:
        await router.create([UserMessage(content=f"call {i}", source="user")])
        finished.append(i)

    started = time.monotonic()
    await asyncio.gather(*(call(i) for i in range(20)))
    assert time.monotonic() - started >= 1.4  # 20 calls at 5 per rolling half second
    assert [i // 5 for i in finished] == sorted(i // 5 for i in finished)  # first come, first served, by window
    assert state.reservations <= 2 * 20, state.reservations  # not one question per waiting call per change


async def test_a_queued_call_is_bounded_by_max_wait_too(make_client: Any, server: FakeServer) -> None:
    server.add(*[Reply.json(_completion_body(), head_delay=0.6) for _ in range(3)])
    router = Router([Deployment(make_client(), "a", max_concurrency=1)], max_wait=0.2)
    first = asyncio.ensure_future(router.create(HELLO))
    while not server.requests:
        await asyncio.sleep(0.01)
    second = asyncio.ensure_future(router.create(HELLO))  # waits for the slot, at the head of the queue
    await asyncio.sleep(0.02)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match=r"a: max_concurrency=1"):
        await router.create(HELLO)  # queued behind the second
    assert time.monotonic() - started < 0.4
    with pytest.raises(RateLimitError):
        await second
    assert (await first).content


async def test_a_call_waiting_for_one_deployment_does_not_hold_calls_that_can_use_another(
    make_client: Any, server: FakeServer, other: FakeServer
) -> None:
    server.add(_error(503))  # the first call fails on "a" and must wait for "b"
    a = Deployment(make_client(max_retries=0), "a")
    b = Deployment(make_client(base_url=other.base_url), "b", limits=[RateLimit(requests=1, per=2.0)])
    router = Router([a, b], allowed_failures=5)
    await router.state.reserve("b", b.all_limits, 0, None)  # b's only request of the window is taken
    first = asyncio.ensure_future(router.create(HELLO))  # fails on a, then waits about 2 s for b
    while len(server.requests) < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.gather(*(router.create(HELLO) for _ in range(5)))  # a is healthy again: they go at once
    assert time.monotonic() - started < 1.0
    assert not first.done()
    assert (await first).content == "You said: hello"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"requests": 0}, "requests must be a whole number"),
        ({"tokens": 2.5}, "tokens must be a whole number"),
        ({"requests": True}, "requests must be a whole number"),
        ({"requests": 5, "per": float("nan")}, "per must be a positive, finite"),
        ({"requests": 5, "per": float("inf")}, "per must be a positive, finite"),
        ({"requests": 5, "per": 0}, "per must be a positive, finite"),
        ({"requests": 5, "tokens": 5}, "exactly one"),
        ({}, "exactly one"),
    ],
)
def test_a_rate_limit_refuses_what_no_window_can_mean(fields: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        RateLimit(**fields)


async def test_a_stream_left_by_break_gives_its_slot_back(make_client: Any, server: FakeServer) -> None:
    router = Router([Deployment(make_client(), "a", max_concurrency=1)], max_wait=0.5)
    async for delta in router.create_stream(HELLO):
        assert isinstance(delta, str)
        break  # the stream is dropped, never closed
    assert await router.state.in_flight("a") == 0
    assert (await router.create(HELLO)).content == "You said: hello"
