"""The forms users already hold: OpenAI chat-format dicts, AutoGen's message objects and OpenAI's tool dicts give the
same request body and the same cache key as modelport's own messages."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    AssistantMessage,
    ChatCompletionCache,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from modelport.messages import from_openai, to_openai
from modelport.model_context import BufferedChatCompletionContext
from modelport.testing import FakeServer

from .helpers import collect


def _png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG_B64 = base64.b64encode(_png()).decode()
WEATHER = {"name": "get_weather", "description": "Weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def own_conversation() -> list[Any]:
    return [
        SystemMessage(content="You are terse."),
        UserMessage(content=["Weather in Paris?", Image.from_base64(PNG_B64)], source="user"),
        AssistantMessage(content=[FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
                                  FunctionCall(id="call_2", name="get_weather", arguments='{"city": "Lyon"}')],
                         thought="Checking both."),
        FunctionExecutionResultMessage(content=[
            FunctionExecutionResult(content="sunny", name="get_weather", call_id="call_1"),
            FunctionExecutionResult(content="rain", name="get_weather", call_id="call_2")]),
        AssistantMessage(content="Sunny in Paris, rain in Lyon."),
        UserMessage(content="Thanks!"),
    ]


def openai_conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]},
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
        {"role": "assistant", "content": "Sunny in Paris, rain in Lyon."},
        {"role": "user", "content": "Thanks!"},
    ]


def autogen_conversation() -> list[Any]:
    core = pytest.importorskip("autogen_core")
    models = pytest.importorskip("autogen_core.models")
    return [
        models.SystemMessage(content="You are terse."),
        models.UserMessage(content=["Weather in Paris?", core.Image.from_base64(PNG_B64)], source="user"),
        models.AssistantMessage(content=[core.FunctionCall(id="call_1", name="get_weather",
                                                           arguments='{"city": "Paris"}'),
                                         core.FunctionCall(id="call_2", name="get_weather",
                                                           arguments='{"city": "Lyon"}')],
                                thought="Checking both.", source="assistant"),
        models.FunctionExecutionResultMessage(content=[
            models.FunctionExecutionResult(content="sunny", name="get_weather", call_id="call_1"),
            models.FunctionExecutionResult(content="rain", name="get_weather", call_id="call_2")]),
        models.AssistantMessage(content="Sunny in Paris, rain in Lyon.", source="assistant"),
        models.UserMessage(content="Thanks!", source="user"),
    ]


FORMS = {"modelport": own_conversation, "openai": openai_conversation, "autogen": autogen_conversation}


@pytest.mark.parametrize("form", ["openai", "autogen"])
async def test_every_form_sends_the_same_body_and_has_the_same_cache_key(server: FakeServer, make_client: Any,
                                                                         form: str) -> None:
    client = make_client()
    tools_openai = [{"type": "function", "function": WEATHER}]
    await client.create(own_conversation(), tools=[WEATHER])
    await client.create(FORMS[form](), tools=tools_openai if form == "openai" else [WEATHER])
    own_request, other_request = server.requests
    assert other_request.json == own_request.json
    assert client.request_fingerprint(FORMS[form]()) == client.request_fingerprint(own_conversation())
    cache = ChatCompletionCache(client)
    assert cache.cache_key(FORMS[form]()) == cache.cache_key(own_conversation())
    assert client.count_tokens(FORMS[form]()) == client.count_tokens(own_conversation())


def test_from_openai_and_to_openai_round_trip() -> None:
    converted = from_openai(openai_conversation())
    assert converted == own_conversation()
    wire = to_openai(converted)
    assert from_openai(wire) == own_conversation()
    assert wire[3] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_developer_role_and_text_parts_and_names() -> None:
    [system, user, assistant] = from_openai([
        {"role": "developer", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
        {"role": "user", "content": "hi", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
    ])
    assert system == SystemMessage(content="Be brief.")
    assert user == UserMessage(content="hi", source="ann")
    assert assistant.content == [FunctionCall(id="c1", name="f", arguments='{"x":1}')] and assistant.thought is None


@pytest.mark.parametrize("message, field", [
    ({"role": "wizard", "content": "x"}, "messages[1].role"),
    ({"content": "x"}, "messages[1]: a dict message needs a 'role'"),
    ({"role": "user", "content": 5}, "messages[1].content"),
    ({"role": "user", "content": [{"type": "audio"}]}, "messages[1].content[0]"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "javascript:x"}}]},
     "messages[1].content[0].image_url"),
    ({"role": "tool", "content": "x"}, "messages[1].tool_call_id"),
    ({"role": "assistant", "content": "", "tool_calls": [{"id": "c1"}]}, "messages[1].tool_calls[0].function"),
    ({"role": "function", "name": "f", "content": "x"}, "messages[1].role 'function'"),
])
async def test_a_malformed_dict_fails_naming_its_index_and_field(server: FakeServer, client: Any,
                                                                 message: dict[str, Any], field: str) -> None:
    with pytest.raises(mp.InvalidRequestError) as info:
        await client.create([{"role": "user", "content": "hi"}, message])
    assert field in str(info.value)
    assert server.requests == []


class Weather(BaseModel):
    city: str
    sky: str


@pytest.mark.parametrize("where", ["create", "client"])
async def test_response_format_model_means_json_output(server: FakeServer, make_client: Any, where: str) -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    if where == "client":
        result = await make_client(response_format=Weather).create(messages)
    else:
        result = await make_client().create(messages, extra_create_args={"response_format": Weather})
    assert isinstance(result.parsed, Weather)
    reference = await make_client().create(messages, json_output=Weather)
    assert server.requests[0].json == server.requests[1].json
    assert reference.parsed == result.parsed


async def test_tool_choice_none_without_tools_is_dropped(server: FakeServer, client: Any) -> None:
    result = await client.create([{"role": "user", "content": "hi"}], tool_choice="none")
    assert result.content == "You said: hi" and "tool_choice" not in server.requests[0].json


async def test_streams_take_dicts_too(server: FakeServer, client: Any) -> None:
    _, result = await collect(client, [{"role": "user", "content": "hi"}])
    assert result.content == "You said: hi"


async def test_contexts_take_dicts_and_autogen_objects_and_keep_tool_pairs(client: Any) -> None:
    context = BufferedChatCompletionContext(buffer_size=5)
    for message in openai_conversation():
        await context.add_message(message)  # type: ignore[arg-type]
    kept = await context.get_messages()
    # the two tool dicts were added one at a time; each result is named after its call, and the call unit is whole
    assert [type(m).__name__ for m in kept] == ["SystemMessage", "AssistantMessage", "FunctionExecutionResultMessage",
                                                "FunctionExecutionResultMessage", "AssistantMessage", "UserMessage"]
    assert [r.name for m in kept[2:4] for r in m.content] == ["get_weather", "get_weather"]
    assert (await client.create(kept)).content == "You said: Thanks!"
    smaller = BufferedChatCompletionContext(buffer_size=4)  # too small for the unit: it goes whole, never split
    for message in openai_conversation():
        await smaller.add_message(message)  # type: ignore[arg-type]
    assert [type(m).__name__ for m in await smaller.get_messages()] == [
        "SystemMessage", "AssistantMessage", "UserMessage"]
    other = BufferedChatCompletionContext(buffer_size=10)
    for message in autogen_conversation():
        await other.add_message(message)
    assert await other.get_messages() == own_conversation()
