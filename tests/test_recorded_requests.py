"""Requests that real providers accepted, taken as they came: OpenAI's own tool-choice form, message dicts with
``name: null``, custom tool calls in the history, a system message later in a Claude conversation, registry
lookups of current model names, and the create-argument check naming its argument."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport import UserMessage
from modelport.testing import FakeServer

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
