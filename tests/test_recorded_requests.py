"""Requests that real providers accepted, taken as they came: OpenAI's own tool-choice form, message dicts with
``name: null``, custom tool calls in the history, a system message later in a Claude conversation, registry
lookups of current model names, and the create-argument check naming its argument."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    SystemMessage,
    UnknownModelWarning,
    UserMessage,
)
from modelport.model_info import _REGISTRY, UNKNOWN_MODEL_INFO, lookup_model_info
from modelport.providers.anthropic import AnthropicChatCompletionClient
from modelport.router import Deployment, Router
from modelport.testing import FakeServer, Reply, anthropic_message, anthropic_stream, text_block

from .test_validation import PNG_1x1

HELLO = [UserMessage(content="Hello")]


# -- point 5: a create-arguments value that is not a dict is refused by its name --


@pytest.mark.parametrize("value", [42, [("temperature", 0)], "temperature=0"])
@pytest.mark.parametrize("stream", [False, True])
async def test_extra_create_args_that_is_not_a_dict_is_refused_by_name(server: FakeServer, client: Any, value: Any,
                                                                        stream: bool) -> None:
    with pytest.raises(mp.InvalidRequestError, match="extra_create_args must be a dict"):
        if stream:
            client.create_stream(HELLO, extra_create_args=value)
        else:
            await client.create(HELLO, extra_create_args=value)
    with pytest.raises(mp.InvalidRequestError, match="extra_create_args must be a dict"):
        client.request_fingerprint(HELLO, extra_create_args=value)
    assert server.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_extra_create_args_that_is_not_a_dict_is_refused_by_name_through_a_token_limited_router(
        server: FakeServer, client: Any, stream: bool) -> None:
    # A deployment with a token limit estimates the call's max_tokens from extra_create_args. Before: AttributeError.
    router = Router([Deployment(client, "a", tpm=100_000)])
    with pytest.raises(mp.InvalidRequestError, match="extra_create_args must be a dict"):
        if stream:
            async with router.create_stream(HELLO, extra_create_args=42) as response:
                async for _ in response:
                    pass
        else:
            await router.create(HELLO, extra_create_args=42)
    assert server.requests == []
    await router.create(HELLO)  # the refused call holds no capacity
    assert len(server.requests) == 1


async def test_extra_create_args_none_means_none(server: FakeServer, client: Any) -> None:
    result = await client.create(HELLO, extra_create_args=None)
    assert result.content == "You said: Hello"
    assert "temperature" not in server.requests[0].json


# -- point 3: OpenAI's own tool-choice form, and ``name: null`` in a message dict --

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_nested_tool_choice_form_is_accepted(server: FakeServer, client: Any, stream: bool) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}  # openai-python's ChatCompletionNamedToolChoice
    if stream:
        async with client.create_stream(HELLO, tools=[WEATHER], tool_choice=choice) as response:
            async for _ in response:
                pass
    else:
        await client.create(HELLO, tools=[WEATHER], tool_choice=choice)
    assert server.requests[0].json["tool_choice"] == choice
    with pytest.raises(mp.InvalidRequestError, match="'get_time', which is not among the tools"):
        await client.create(HELLO, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_time"}})
    with pytest.raises(mp.InvalidRequestError, match="tool_choice='get_weather' was given without any tools"):
        await client.create(HELLO, tool_choice=choice)
    with pytest.raises(mp.InvalidRequestError, match="tool_choice must be"):
        await client.create(HELLO, tools=[WEATHER], tool_choice="get_weather")  # a bare string is not a tool
    assert len(server.requests) == 1


async def test_message_dicts_with_name_null_are_taken_as_unnamed(server: FakeServer, client: Any) -> None:
    # What openai-python's ``model_dump()`` of a message gives back: every unset field as ``null``.
    dumped = [
        {"role": "system", "content": "Be brief.", "name": None},
        {"role": "user", "content": "Hello", "name": None},
        {"role": "assistant", "content": "Hi!", "name": None, "refusal": None, "tool_calls": None, "audio": None},
        {"role": "user", "content": "Again", "name": None},
    ]
    plain = [{key: value for key, value in message.items() if value is not None} for message in dumped]
    await client.create(dumped)
    await client.create(plain)
    assert server.requests[0].json == server.requests[1].json
    assert mp.messages.from_openai(dumped) == mp.messages.from_openai(plain)


# -- point 4: the registry takes exact names, their dated variants, or the longest family --

IMAGE = mp.Image.from_bytes(PNG_1x1)


@pytest.mark.parametrize("model", ["mistral-medium-latest", "mistral-medium-2508", "mistral-medium-3.5",
                                   "mistral-large-latest", "magistral-medium-2509", "pixtral-12b-2409"])
async def test_current_mistral_models_take_images(server: FakeServer, make_client: Any, model: str) -> None:
    client = make_client(model, provider="mistral", base_url=server.base_url)
    await client.create([UserMessage(content=["What is this?", IMAGE])])
    assert server.requests[0].json["messages"][0]["content"][1]["type"] == "image_url"
    assert client.model_info["family"] == "mistral" and client.context_window >= 131_072


@pytest.mark.parametrize("model", ["mistral", "mistral:7b", "mistral-large-2411", "codestral-latest"])
async def test_mistral_models_without_vision_still_refuse_images(server: FakeServer, make_client: Any,
                                                                  model: str) -> None:
    client = make_client(model, provider="mistral", base_url=server.base_url)
    with pytest.raises(mp.CapabilityError, match="does not support vision"):
        await client.create([UserMessage(content=["What is this?", IMAGE])])
    assert server.requests == []


@pytest.mark.parametrize(("model", "key"), [
    ("mistral-medium-latest", "mistral-medium"), ("mistral-small3.1:24b", "mistral-small"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"), ("mistral-large-2512", "mistral-large"),
    ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"), ("gpt-4o-mini", "gpt-4o"),
    ("gpt-5.1", "gpt-5"), ("o1-2024-12-17", "o1"), ("gpt-4-0613", "gpt-4"), ("llama3.1:8b", "llama3.1"),
    ("qwen2.5-coder:7b", "qwen2.5"), ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"), ("claude-opus-4-1@20250805", "claude-opus-4-1"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"), ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("claude-opus-4-8-20260528", "claude-opus-4-8"),
    ("claude-opus-4-9", None), ("mistral-tiny", None), ("deepseek-r1-distill-llama-70b", None),
])
def test_registry_names_exact_dated_or_family(model: str, key: str | None) -> None:
    assert lookup_model_info(model, warn=False) is (_REGISTRY[key] if key else UNKNOWN_MODEL_INFO)


async def test_a_newer_claude_is_not_taken_for_its_older_family(server: FakeServer) -> None:
    client = AnthropicChatCompletionClient("claude-opus-4-8", base_url=server.base_url, api_key="sk-ant-test")
    try:
        server.add(Reply.json(anthropic_message([text_block("Hi")], model="claude-opus-4-8")))
        await client.create(HELLO)
    finally:
        await client.close()
    # Before: "claude-opus-4" (Claude Opus 4: 200k window, 32k answers) answered for Claude Opus 4.8.
    assert server.requests[0].json["max_tokens"] == 128_000 and client.context_window == 1_000_000


@pytest.mark.parametrize(("model", "longest"), [("claude-sonnet-4-0", 64_000), ("claude-opus-4-0", 32_000)])
async def test_anthropic_x_0_aliases_are_still_their_models(server: FakeServer, model: str, longest: int) -> None:
    # Anthropic's own aliases for Claude Sonnet 4 and Opus 4. Before: unknown (a warning, 4,096-token answers, and
    # a later system message sent as a system turn, which these models refuse).
    client = AnthropicChatCompletionClient(model, base_url=server.base_url, api_key="sk-ant-test")
    try:
        server.add(Reply.json(anthropic_message([text_block("Hi")], model=model)))
        await client.create([UserMessage(content="a"), SystemMessage(content="s"), UserMessage(content="b")])
    finally:
        await client.close()
    body = server.requests[0].json
    assert body["max_tokens"] == longest and client.context_window == 200_000
    assert body["system"] == "s" and [m["role"] for m in body["messages"]] == ["user"]


@pytest.mark.parametrize("model", ["o1-pro", "o3-pro-2025-06-10", "o3-deep-research", "o4-mini-deep-research",
                                   "openai/o3-mini-high", "openai/o4-mini-high"])
async def test_openai_reasoning_models_with_longer_names_keep_their_line(server: FakeServer, make_client: Any,
                                                                         model: str) -> None:
    # Before: unknown, so max_tokens was sent as it is, which OpenAI's reasoning models refuse.
    client = make_client(model)
    await client.create(HELLO, extra_create_args={"max_tokens": 50})
    body = server.requests[0].json
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert client.model_info["reasoning"] and client.context_window == 200_000


# -- point 3: a system message after the first turn, to Claude --


@pytest.fixture
async def claude(server: FakeServer) -> Any:
    made: list[Any] = []

    def make(model: str = "claude-opus-4-8", **kwargs: Any) -> Any:
        made.append(AnthropicChatCompletionClient(model, base_url=server.base_url, api_key="sk-ant-test", **kwargs))
        return made[-1]

    yield make
    for client in made:
        await client.close()


async def answer(server: FakeServer, client: Any, messages: list[Any], *, stream: bool = False) -> dict[str, Any]:
    """The Messages body ``client`` sends for ``messages`` (the fake server answers with a scripted message)."""
    message = anthropic_message([text_block("OK")], model="claude-opus-4-8")
    server.add(anthropic_stream(message) if stream else Reply.json(message))
    if stream:
        async with client.create_stream(messages) as response:
            async for _ in response:
                pass
    else:
        await client.create(messages)
    body = server.requests[-1].json
    assert isinstance(body, dict)
    return body


def system_turn(*texts: str) -> dict[str, Any]:
    return {"role": "system", "content": [{"type": "text", "text": text} for text in texts]}


@pytest.mark.parametrize("stream", [False, True])
async def test_claude_system_message_after_the_first_turn_is_sent_where_it_stands(server: FakeServer, claude: Any,
                                                                                  stream: bool) -> None:
    body = await answer(server, claude(), [
        SystemMessage(content="You are a code review assistant."),
        UserMessage(content="Review process() in utils.py."),
        AssistantMessage(content="A generator would avoid the list."),
        UserMessage(content="Now review the calling code."),
        SystemMessage(content="From now on, every suggestion must include type annotations."),
        SystemMessage(content="Be concise."),
    ], stream=stream)
    assert body["system"] == "You are a code review assistant."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Review process() in utils.py."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A generator would avoid the list."}]},
        {"role": "user", "content": [{"type": "text", "text": "Now review the calling code."}]},
        system_turn("From now on, every suggestion must include type annotations.", "Be concise."),
    ]


async def test_claude_later_system_message_goes_after_the_user_turn_or_tool_results(server: FakeServer,
                                                                                     claude: Any) -> None:
    call = FunctionCall(id="toolu_01", name="run_tests", arguments="{}")
    body = await answer(server, claude(), [
        UserMessage(content="Run the tests."),
        AssistantMessage(content=[call]),
        SystemMessage(content="The user also asked: update the changelog."),  # between the call and its result
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="12 passed", name="run_tests",
                                                                        call_id="toolu_01")]),
        AssistantMessage(content="All pass."),
        UserMessage(content="Thanks."),
        SystemMessage(content="Answer in French."),  # between two user messages, which are one turn
        UserMessage(content="Anything else?"),
    ])
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "system", "assistant", "user",
                                                    "system"]
    assert body["messages"][3] == system_turn("The user also asked: update the changelog.")
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    assert [b["text"] for b in body["messages"][5]["content"]] == ["Thanks.", "Anything else?"]
    assert body["messages"][6] == system_turn("Answer in French.")


async def test_claude_models_without_later_system_messages_keep_one_run(server: FakeServer, claude: Any) -> None:
    older = claude("claude-sonnet-4-5")
    body = await answer(server, older, [UserMessage(content="a"), SystemMessage(content="s1"),
                                        UserMessage(content="b")])
    assert body["system"] == "s1" and [m["role"] for m in body["messages"]] == ["user"]
    with pytest.raises(mp.InvalidRequestError, match=r"messages\[2\].*not consecutive.*Claude Opus 4\.8"):
        await older.create([SystemMessage(content="s1"), UserMessage(content="a"), SystemMessage(content="s2")])
    with pytest.raises(mp.InvalidRequestError, match=r"messages\[2\].*only right after a user message"):
        await claude().create([UserMessage(content="a"), AssistantMessage(content="b"), SystemMessage(content="c")])
    assert len(server.requests) == 1


async def test_a_claude_modelport_does_not_know_is_not_refused_a_later_system_message(server: FakeServer,
                                                                                      claude: Any) -> None:
    with pytest.warns(UnknownModelWarning):
        newer = claude("claude-opus-5")
    body = await answer(server, newer, [UserMessage(content="a"), SystemMessage(content="s")])
    assert body["messages"][-1] == system_turn("s") and "system" not in body



async def test_a_model_info_that_does_not_say_keeps_one_hoisted_system_run(server: FakeServer, claude: Any) -> None:
    # A model_info given for a Claude model (to widen its window, say) need not name multiple_system_messages.
    # Before: a later system message went as a system turn, which every Claude but Opus 4.8 refuses.
    info = {"vision": True, "function_calling": True, "json_output": True, "family": "claude-4-5-sonnet",
            "context_window": 1_000_000}
    messages = [UserMessage(content="a"), SystemMessage(content="s"), UserMessage(content="b")]
    body = await answer(server, claude("claude-sonnet-4-5", model_info=info), messages)
    assert body["system"] == "s" and [m["role"] for m in body["messages"]] == ["user"]
    body = await answer(server, claude("claude-sonnet-4-5", model_info={**info, "multiple_system_messages": True}),
                        messages)  # saying so still sends it where it stands
    assert "system" not in body and body["messages"][-1] == system_turn("s")

@pytest.mark.parametrize("stream", [False, True])
async def test_the_built_in_server_takes_a_later_system_message_where_claude_opus_4_8_does(server: FakeServer,
                                                                                            claude: Any,
                                                                                            stream: bool) -> None:
    # The built-in server answers by itself here (nothing scripted). Before: 400, "messages.2.role: Input should be
    # 'user' or 'assistant'", for a request the Messages API takes.
    client = claude()
    call = FunctionCall(id="toolu_01", name="get_weather", arguments='{"city": "Paris"}')
    done = FunctionExecutionResult(content="21 degrees", name="get_weather", call_id="toolu_01")
    messages = [UserMessage(content="Weather in Paris?"), AssistantMessage(content=[call]),
                FunctionExecutionResultMessage(content=[done]), SystemMessage(content="Answer in French.")]
    if stream:
        async with client.create_stream(messages, tools=[WEATHER]) as response:
            async for item in response:
                result = item
    else:
        result = await client.create(messages, tools=[WEATHER])
    assert server.requests[-1].json["messages"][-1] == system_turn("Answer in French.")
    assert result.content == "The tool said: 21 degrees"  # the results before the system turn were read
