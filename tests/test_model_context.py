"""The four contexts: budgets, tool pairing, pinned system messages, state round-trips, linear counting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelport import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    SystemMessage,
    UserMessage,
)
from modelport.model_context import (
    BufferedChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
    UnboundedChatCompletionContext,
)
from modelport.testing import FakeServer


def user(text: str) -> UserMessage:
    return UserMessage(content=text, source="user")


def reply(text: str) -> AssistantMessage:
    return AssistantMessage(content=text)


def calls(*ids: str) -> AssistantMessage:
    return AssistantMessage(content=[FunctionCall(id=i, name="f", arguments="{}") for i in ids])


def results(*ids: str) -> FunctionExecutionResultMessage:
    return FunctionExecutionResultMessage(content=[FunctionExecutionResult(content=f"r{i}", name="f", call_id=i)
                                                   for i in ids])


class CountingCounter:
    """A token counter that charges 10 tokens a message and records how many messages it was asked to count."""

    def __init__(self) -> None:
        self.messages_counted = 0

    def __call__(self, messages: Any, tools: Any) -> int:
        self.messages_counted += len(messages)
        return 10 * len(messages) + 5 * len(tools)


def texts(messages: list[Any]) -> list[Any]:
    out = []
    for m in messages:
        if isinstance(m, FunctionExecutionResultMessage):
            out.append("results:" + ",".join(r.call_id for r in m.content))
        elif isinstance(m.content, list):
            out.append("calls:" + ",".join(c.id for c in m.content))
        else:
            out.append(m.content)
    return out


HISTORY = [SystemMessage(content="sys"), user("u1"), reply("a1"), user("u2"), calls("c1", "c2"), results("c1"),
           results("c2"), reply("a2"), user("u3")]


async def test_unbounded() -> None:
    context = UnboundedChatCompletionContext(HISTORY)
    await context.add_message(reply("a3"))
    assert texts(await context.get_messages()) == [*texts(HISTORY), "a3"]


async def test_buffered_keeps_the_last_messages_and_pins_system() -> None:
    context = BufferedChatCompletionContext(buffer_size=2, initial_messages=HISTORY)
    assert texts(await context.get_messages()) == ["sys", "a2", "u3"]
    unpinned = BufferedChatCompletionContext(buffer_size=2, initial_messages=HISTORY, pin_system_messages=False)
    assert texts(await unpinned.get_messages()) == ["a2", "u3"]


@pytest.mark.parametrize(("size", "expected"), [
    (3, ["sys", "a2", "u3"]),  # would cut inside the call unit (c1, c2 with two result messages): all of it goes
    (4, ["sys", "a2", "u3"]),
    (5, ["sys", "calls:c1,c2", "results:c1", "results:c2", "a2", "u3"]),  # parallel calls with several results
    (6, ["sys", "u2", "calls:c1,c2", "results:c1", "results:c2", "a2", "u3"]),
])
async def test_buffered_never_splits_a_call_from_its_results(size: int, expected: list[str]) -> None:
    context = BufferedChatCompletionContext(buffer_size=size, initial_messages=HISTORY)
    assert texts(await context.get_messages()) == expected


async def test_buffered_drops_orphan_results() -> None:
    context = BufferedChatCompletionContext(buffer_size=5, initial_messages=[results("old"), user("u"), reply("a")])
    assert texts(await context.get_messages()) == ["u", "a"]


async def test_buffered_keeps_a_pending_call_at_the_end() -> None:
    context = BufferedChatCompletionContext(buffer_size=1, initial_messages=[user("u"), calls("c9")])
    assert texts(await context.get_messages()) == ["calls:c9"]


def limited(token_limit: int, messages: list[Any], counter: CountingCounter | None = None, **kwargs: Any) -> Any:
    from modelport import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", api_key="k",
                                        token_counter=counter or CountingCounter())
    return TokenLimitedChatCompletionContext(client, token_limit=token_limit, initial_messages=messages, **kwargs)


@pytest.mark.parametrize(("limit", "expected"), [
    (35, ["sys", "a2", "u3"]),  # system 10 + a2 10 + u3 10; the call unit (30) does not fit
    (59, ["sys", "a2", "u3"]),
    (60, ["sys", "calls:c1,c2", "results:c1", "results:c2", "a2", "u3"]),
    (200, texts(HISTORY)),
])
async def test_token_limited_budget_and_tool_pairing(limit: int, expected: list[str]) -> None:
    assert texts(await limited(limit, HISTORY).get_messages()) == expected


async def test_token_limited_reserve_for_the_completion() -> None:
    context = limited(65, HISTORY, reserve_completion_tokens=20)
    assert texts(await context.get_messages()) == ["sys", "a2", "u3"]


async def test_token_limited_tools_take_their_share() -> None:
    assert len(await limited(64, HISTORY).get_messages()) == 6
    context = limited(64, HISTORY, tool_schema=[{"name": "f"}])  # the counter charges 5 for the tool
    assert texts(await context.get_messages()) == ["sys", "a2", "u3"]


async def test_token_limited_keeps_the_newest_message_even_over_budget() -> None:
    context = limited(15, [SystemMessage(content="sys"), user("old"), user("question")])
    assert texts(await context.get_messages()) == ["sys", "question"]


async def test_token_limited_unpinned_system_can_be_dropped() -> None:
    context = limited(25, HISTORY, pin_system_messages=False)
    assert texts(await context.get_messages()) == ["a2", "u3"]


async def test_token_limited_counts_each_message_once() -> None:
    counter = CountingCounter()
    history = [user(f"m{i}") for i in range(1000)]
    context = limited(5000, history, counter)
    await context.get_messages()
    before = counter.messages_counted
    await context.add_message(user("new"))
    kept = await context.get_messages()
    assert len(kept) == 500 and texts(kept)[-1] == "new"  # 5000 tokens at 10 a message
    assert counter.messages_counted - before == 1  # adding one message costs one message's count


async def test_token_limited_default_limit_is_the_client_window(make_client: Any) -> None:
    client = make_client("gpt-4o")
    context = TokenLimitedChatCompletionContext(client)
    assert context.budget() == 128_000 - 3
    await context.add_message(user("hello"))
    assert texts(await context.get_messages()) == ["hello"]


async def test_head_and_tail() -> None:
    messages = [user(f"m{i}") for i in range(10)]
    context = HeadAndTailChatCompletionContext(head_size=2, tail_size=3, initial_messages=messages)
    assert texts(await context.get_messages()) == ["m0", "m1", "Skipped 5 messages.", "m7", "m8", "m9"]
    short = HeadAndTailChatCompletionContext(head_size=2, tail_size=3, initial_messages=messages[:5])
    assert texts(await short.get_messages()) == texts(messages[:5])


async def test_head_that_ends_in_a_call_stops_before_it() -> None:
    messages = [user("u0"), calls("c1"), results("c1"), *[user(f"m{i}") for i in range(6)]]
    context = HeadAndTailChatCompletionContext(head_size=2, tail_size=2, initial_messages=messages)
    assert texts(await context.get_messages()) == ["u0", "Skipped 6 messages.", "m4", "m5"]


async def test_tail_that_starts_with_results_starts_after_them() -> None:
    messages = [user("u0"), *[user(f"m{i}") for i in range(4)], calls("c1", "c2"), results("c1"), results("c2"),
                reply("done")]
    context = HeadAndTailChatCompletionContext(head_size=1, tail_size=3, initial_messages=messages)
    assert texts(await context.get_messages()) == ["u0", "Skipped 7 messages.", "done"]


@pytest.mark.parametrize("make", [
    lambda m: UnboundedChatCompletionContext(m),
    lambda m: BufferedChatCompletionContext(4, m),
    lambda m: HeadAndTailChatCompletionContext(1, 3, m),
    lambda m: limited(65, m),
], ids=["unbounded", "buffered", "head_and_tail", "token_limited"])
async def test_state_round_trip(make: Any) -> None:
    context = make(HISTORY)
    state = json.loads(json.dumps(await context.save_state()))
    fresh = make([])
    await fresh.load_state(state)
    assert await fresh.get_messages() == await context.get_messages()
    await fresh.clear()
    assert await fresh.get_messages() == []


@pytest.mark.parametrize("make", [
    lambda m: BufferedChatCompletionContext(3, m),
    lambda m: HeadAndTailChatCompletionContext(2, 2, m),
    lambda m: limited(45, m),
], ids=["buffered", "head_and_tail", "token_limited"])
async def test_trimmed_histories_are_accepted_by_the_client(make: Any, client: Any, server: FakeServer) -> None:
    history = [user("u0"), calls("a", "b"), results("a", "b"), user("u1"), calls("c"), results("c"), reply("r"),
               user("u2"), calls("d", "e"), results("d"), results("e"), user("u3")]
    complete_prefixes = [1, 3, 4, 6, 7, 8, 11, 12]  # never halfway through answering a call
    for cut in complete_prefixes:
        trimmed = await make(history[:cut]).get_messages()
        await client.create(trimmed)  # raises ValueError if a call and its results were split
    assert len(server.requests) == len(complete_prefixes)


async def test_add_message_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        await UnboundedChatCompletionContext().add_message("hello")  # type: ignore[arg-type]


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="buffer_size"):
        BufferedChatCompletionContext(0)
    with pytest.raises(ValueError, match="tail_size"):
        HeadAndTailChatCompletionContext(1, 0)
