"""Point 3: where the replay client and the token-limited context meet AutoGen's own.

``ReplayChatCompletionClient`` has AutoGen's (deprecated) ``capabilities``; ``TokenLimitedChatCompletionContext``
drops the oldest messages by default, and with ``drop="middle"`` keeps exactly what autogen_core's
``TokenLimitedChatCompletionContext`` keeps (the messages in the middle go first), checked against autogen_core itself
with the same client counting for both.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("autogen_core")

from autogen_core import model_context as agctx
from autogen_core import models as agm

from modelport import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    InvalidRequestError,
    SystemMessage,
    UserMessage,
    load_component,
)
from modelport.model_context import TokenLimitedChatCompletionContext
from modelport.testing import ReplayChatCompletionClient

INFO: dict[str, Any] = {"vision": False, "function_calling": True, "json_output": False, "family": "unknown",
                        "context_window": 60}


def conversation(size: int) -> list[Any]:
    """AutoGen's messages: a system prompt, then user and assistant turns of different lengths."""
    messages: list[Any] = [agm.SystemMessage(content="You are terse.")]
    for i in range(size):
        words = " ".join(f"w{i}" for _ in range(1 + (i * 7) % 5))
        if i % 2:
            messages.append(agm.AssistantMessage(content=f"answer {i} {words}", source="assistant"))
        else:
            messages.append(agm.UserMessage(content=f"question {i} {words}", source="user"))
    return messages


def contents(messages: list[Any]) -> list[str]:
    return [m.content for m in messages]


# -- the replay client --


def test_point3_replay_client_has_autogens_capabilities() -> None:
    client = ReplayChatCompletionClient(["hi"], model_info=INFO)  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match="use model_info"):
        capabilities = client.capabilities
    assert capabilities == {"vision": False, "function_calling": True, "json_output": False}
    with pytest.warns(DeprecationWarning):
        assert ReplayChatCompletionClient(["hi"]).capabilities == dict.fromkeys(capabilities, True)


# -- the token-limited context's order --


@pytest.mark.parametrize("counter", ["words", "tiktoken"])
async def test_point3_drop_middle_keeps_what_autogens_context_keeps(counter: str) -> None:
    client = ReplayChatCompletionClient([], model_info=INFO, token_counter=counter)  # type: ignore[arg-type]
    history = conversation(13)
    whole = client.count_tokens(history)
    for limit in range(1, whole + 2):
        theirs = agctx.TokenLimitedChatCompletionContext(client, token_limit=limit,  # type: ignore[arg-type]
                                                         initial_messages=history)
        ours = TokenLimitedChatCompletionContext(client, token_limit=limit, initial_messages=history,
                                                 pin_system_messages=False, drop="middle")
        expected = contents(await theirs.get_messages())
        kept = contents(await ours.get_messages())
        if expected[-1:] != [history[-1].content]:
            # two left, AutoGen drops the newest (the question) and may drop the other too; modelport sends it
            assert kept == [history[-1].content], f"token_limit={limit}"
        else:
            assert kept == expected, f"token_limit={limit}"


async def test_point3_drop_middle_with_the_window_as_limit_matches_autogen(make_client: Any) -> None:
    client = make_client("my-model", model_info={**INFO, "context_window": 150})  # counted offline, nothing sent
    history = conversation(20)
    assert client.remaining_tokens(history) < 0
    theirs = agctx.TokenLimitedChatCompletionContext(client, initial_messages=history)  # type: ignore[arg-type]
    ours = TokenLimitedChatCompletionContext(client, initial_messages=history, pin_system_messages=False,
                                             drop="middle")
    assert contents(await ours.get_messages()) == contents(await theirs.get_messages())


async def test_point3_the_default_drops_the_oldest_where_autogen_drops_the_middle() -> None:
    client = ReplayChatCompletionClient([], model_info=INFO)  # type: ignore[arg-type]
    history = conversation(13)
    limit = client.count_tokens(history) // 2
    newest = await TokenLimitedChatCompletionContext(client, token_limit=limit, initial_messages=history,
                                                     pin_system_messages=False).get_messages()
    middle = await TokenLimitedChatCompletionContext(client, token_limit=limit, initial_messages=history,
                                                     pin_system_messages=False, drop="middle").get_messages()
    assert contents(newest) == contents(history[-len(newest):])  # a tail of the history
    assert middle[0].content == "You are terse." and middle[-1].content == history[-1].content
    assert contents(newest) != contents(middle)


async def test_point3_drop_middle_keeps_calls_with_results_and_pins_system() -> None:
    def call(i: int) -> list[Any]:
        return [AssistantMessage(content=[FunctionCall(id=f"c{i}", name="f", arguments="{}")]),
                FunctionExecutionResultMessage(content=[FunctionExecutionResult(content=f"r{i}", name="f",
                                                                                call_id=f"c{i}")])]

    history: list[Any] = [SystemMessage(content="sys")]
    for i in range(6):
        history += [UserMessage(content=f"u{i}", source="user"), *call(i)]
    client = ReplayChatCompletionClient([], token_counter=lambda messages, tools: 10 * len(messages))
    for limit in range(10, 200, 10):
        kept = await TokenLimitedChatCompletionContext(client, token_limit=limit, initial_messages=history,
                                                       drop="middle").get_messages()
        assert kept[0] == history[0] and kept[-1] == history[-1]  # pinned system, and the newest message
        for i, message in enumerate(kept):
            if isinstance(message, FunctionExecutionResultMessage):
                assert isinstance(kept[i - 1], AssistantMessage) and isinstance(kept[i - 1].content, list)
            if isinstance(message, AssistantMessage) and isinstance(message.content, list):
                assert isinstance(kept[i + 1], FunctionExecutionResultMessage)
        assert 10 * len(kept) <= limit or len(kept) <= 3  # within budget, unless only the newest unit is left


async def test_point3_drop_is_checked_and_saved() -> None:
    client = ReplayChatCompletionClient([])
    with pytest.raises(InvalidRequestError, match="drop"):
        TokenLimitedChatCompletionContext(client, drop="newest")  # type: ignore[arg-type]
    context = TokenLimitedChatCompletionContext(client, token_limit=50, drop="middle")
    loaded = load_component(context.dump_component())
    assert isinstance(loaded, TokenLimitedChatCompletionContext) and loaded.drop == "middle"
