"""A bounded fault-injection load test: a few hundred calls, a hundred at a time, through one client, against a
server scripted with every fault kind round-robin.

Scripted replies are taken first in, first out by whichever request comes next (retries and redirects included),
so which call meets which fault is not deterministic. The test therefore checks, per call, only the invariant (a
``CreateResult`` or a ``ModelportError``, never anything else, never a hang, within the deadline and a margin),
and, in aggregate, that every fault kind was served and that nothing is left open afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

import modelport as mp
from modelport import CreateResult, UserMessage
from modelport.testing import FakeServer, Reply, chunk, completion, usage

CALLS = 300
CONCURRENCY = 100
TIMEOUT = 0.5
DEADLINE = 2.0
MAX_RETRIES = 2
MARGIN = 1.5  # scheduling under load: 100 calls and the server's thread share two cores and one GIL
BOUND = DEADLINE + MARGIN
HARD_STOP = BOUND + 3.0  # a call still running by then is recorded as hung, so the test itself always ends
SCRIPTED = 2 * CALLS  # more faults than calls, so retries meet faults too and deadlines are reached
HUGE_EVERY = 10  # the 50 MB body goes into every tenth round only (a few of them, not forty)

MESSAGES = [UserMessage(content="Hello", source="user")]
STREAM_EVENTS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hi there"}),
    chunk({}, finish_reason="stop"),
]
HTML_PAGE = "<!doctype html><html><head><title>Sign in</title></head><body>Proxy login</body></html>"


def _error(status: int, retry_after: str) -> Reply:
    body = {"error": {"message": f"fault {status}", "type": "server_error"}}
    return Reply.json(body, status=status, headers={"retry-after": retry_after})


FAULTS: dict[str, Callable[[], Reply]] = {
    "normal-json": lambda: Reply.json(completion("Hello there", usage=usage(3, 2))),
    "normal-stream": lambda: Reply.sse(STREAM_EVENTS),
    "reset-mid-stream": lambda: Reply.sse([chunk({"content": "par"})], done=False, reset=True),
    "stall": lambda: Reply.sse([chunk({"content": "x"})], done=False, stall=True),
    "hang": Reply.hang,
    "trickle": lambda: Reply.trickle(STREAM_EVENTS, size=1, interval=0.05),
    "keep-alive-flood": lambda: Reply.keep_alive_flood(interval=0.02),
    "lying-length": lambda: Reply.lying_length(orjson.dumps(completion("cut short")), missing=64),
    "html-200": lambda: Reply.text(HTML_PAGE, content_type="text/html"),
    "429": lambda: _error(429, "0"),
    "503": lambda: _error(503, "0.01"),
    "invalid-json-event": lambda: Reply.sse([b"data: {not json\n\n"]),
    "cut-off-stream": lambda: Reply.sse([chunk({"content": "half an ans"})], done=False),
    "redirect": lambda: Reply.redirect("/v1/chat/completions", status=307),
    "huge-50mb": Reply.huge,
}


def script(count: int) -> list[Reply]:
    """``count`` labelled replies, the fault kinds round-robin (the huge body only every ``HUGE_EVERY`` rounds)."""
    replies: list[Reply] = []
    rounds = 0
    while len(replies) < count:
        for label, make in FAULTS.items():
            if label == "huge-50mb" and rounds % HUGE_EVERY:
                continue
            reply = make()
            reply.label = label
            replies.append(reply)
        rounds += 1
    return replies[:count]


@dataclass
class Outcome:
    index: int
    stream: bool
    seconds: float
    value: object  # a CreateResult, or whatever was raised


async def consume(stream: mp.ChatCompletionStream) -> CreateResult:
    """Read a stream to its end; its last item must be the one ``CreateResult``."""
    result: CreateResult | None = None
    async with stream:
        async for item in stream:
            assert result is None, "an item after the CreateResult"
            if isinstance(item, CreateResult):
                result = item
    assert result is not None, "the stream ended without a CreateResult"
    return result


async def one_call(client: Any, index: int, gate: asyncio.Semaphore) -> Outcome:
    """One call (``create`` for odd ``index``, ``create_stream`` for even), timed from its start to its end."""
    stream = index % 2 == 0
    async with gate:
        began = time.monotonic()
        call = consume(client.create_stream(MESSAGES)) if stream else client.create(MESSAGES)
        try:
            value: object = await asyncio.wait_for(call, HARD_STOP)
        except asyncio.TimeoutError:
            value = TimeoutError(f"hung: no outcome within {HARD_STOP} s")
        except Exception as exc:  # recorded, then judged by the test
            value = exc
        return Outcome(index, stream, time.monotonic() - began, value)


def describe(outcome: Outcome) -> str:
    kind = "stream" if outcome.stream else "create"
    value = outcome.value
    what = type(value).__name__ if isinstance(value, CreateResult) else f"{type(value).__name__}: {value}"
    return f"call {outcome.index} ({kind}, {outcome.seconds:.2f} s): {what}"


async def settle(condition: Callable[[], bool], within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while not condition() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    return condition()


async def test_fault_load_every_call_ends_typed_within_its_deadline_and_nothing_is_left_open(
    server: FakeServer, make_client: Any
) -> None:
    server.add(*script(SCRIPTED))
    client = make_client(timeout=TIMEOUT, deadline=DEADLINE, max_retries=MAX_RETRIES)
    gate = asyncio.Semaphore(CONCURRENCY)
    began = time.monotonic()
    outcomes = await asyncio.gather(*(one_call(client, i, gate) for i in range(CALLS)))
    took = time.monotonic() - began
    await client.close()

    untyped = [describe(o) for o in outcomes if not isinstance(o.value, CreateResult | mp.ModelportError)]
    assert not untyped, "calls that ended other than with a CreateResult or a ModelportError:\n" + "\n".join(untyped)
    slow = [describe(o) for o in outcomes if o.seconds > BOUND]
    assert not slow, f"calls that took longer than deadline + margin ({BOUND} s):\n" + "\n".join(slow)

    assert set(server.served) == set(FAULTS), f"fault kinds never served: {set(FAULTS) - set(server.served)}"
    assert len(server.requests) >= CALLS
    kinds = Counter(type(o.value).__name__ for o in outcomes)
    assert kinds["CreateResult"] and sum(kinds.values()) > kinds["CreateResult"], kinds

    assert await settle(lambda: server.open_connections == 0), f"{server.open_connections} connections left open"
    current = asyncio.current_task()
    left = lambda: [t for t in asyncio.all_tasks() if t is not current]  # noqa: E731
    assert await settle(lambda: not left(), within=1.0), f"tasks left behind: {left()}"
    assert took < 20, f"the load took {took:.1f} s"
