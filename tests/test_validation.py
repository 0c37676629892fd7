"""Bad input raises ValueError naming the problem, with zero requests sent (wire-behaviour B9)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    AssistantMessage,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    SystemMessage,
    UserMessage,
)
from modelport.testing import FakeServer

from .helpers import HELLO

PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                        "000002000001e221bc330000000049454e44ae426082")


def noop() -> str:
    return "ok"


class Answer(BaseModel):
    text: str


def call(id: str, name: str = "f") -> FunctionCall:
    return FunctionCall(id=id, name=name, arguments="{}")


def result(id: str) -> FunctionExecutionResult:
    return FunctionExecutionResult(content="r", name="f", call_id=id)


async def rejected(server: FakeServer, client: Any, match: str, messages: Any = HELLO, stream: bool = False,
                   **kwargs: Any) -> None:
    with pytest.raises(ValueError, match=match):
        if stream:
            client.create_stream(messages, **kwargs)
        else:
            await client.create(messages, **kwargs)
    assert server.requests == [], "nothing may be sent for bad input"


@pytest.mark.parametrize("stream", [False, True])
async def test_B95_image_to_a_model_without_vision(server: FakeServer, make_client: Any, stream: bool) -> None:
    client = make_client("gpt-3.5-turbo")
    messages = [UserMessage(content=["what is this?", Image.from_bytes(PNG_1x1)])]
    with pytest.raises(mp.CapabilityError, match=r"messages\[0\]\.content\[1\].*vision"):
        if stream:
            client.create_stream(messages)
        else:
            await client.create(messages)
    assert server.requests == []


@pytest.mark.parametrize("name", ["get_/whoami", "multi_tool_use.parallel", "Sequential Thinking", "x" * 70, ""])
async def test_B92_invalid_tool_name(server: FakeServer, client: Any, name: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        FunctionTool(noop, "d", name=name)
    await rejected(server, client, r"tools\[0\]\.name", tools=[{"name": name, "parameters": {"type": "object",
                                                                                              "properties": {}}}])


async def test_B92_invalid_tool_name_inside_history(server: FakeServer, client: Any) -> None:
    messages = [UserMessage(content="x"), AssistantMessage(content=[call("c1", "bad name")]),
                FunctionExecutionResultMessage(content=[result("c1")])]
    await rejected(server, client, r"messages\[1\]\.content\[0\].*'bad name'", messages)


async def test_B93_tool_description_too_long_for_openai(server: FakeServer, make_client: Any) -> None:
    client = make_client(base_url="https://api.openai.com/v1")
    await rejected(server, client, r"tools\[0\].*1024", tools=[FunctionTool(noop, "d" * 2780)])


def test_B93_tool_schema_that_cannot_be_serialised() -> None:
    def takes_callable(fn: Any = noop) -> str:
        return ""

    def takes_object(x: object) -> str:
        return ""

    with pytest.raises(ValueError, match="takes_callable"):
        FunctionTool(takes_callable, "d")
    with pytest.raises(ValueError, match=r"\*args"):
        FunctionTool(lambda *a: None, "d", name="star")
    FunctionTool(takes_object, "fine: object maps to any JSON")


async def test_tools_for_a_model_without_function_calling(server: FakeServer, make_client: Any) -> None:
    await rejected(server, make_client("o1-mini"), "function calling", tools=[FunctionTool(noop, "d")])


async def test_json_output_for_a_model_without_it(server: FakeServer, make_client: Any) -> None:
    await rejected(server, make_client("o1-mini"), "JSON output", json_output=True)
    await rejected(server, make_client("gpt-3.5-turbo"), "structured output", json_output=Answer)


async def test_json_output_and_response_format_conflict(server: FakeServer, client: Any) -> None:
    await rejected(server, client, "response_format", json_output=True,
                   extra_create_args={"response_format": {"type": "json_object"}})


@pytest.mark.parametrize(("args", "match"), [
    ({"temprature": 0.5}, "unknown create argument 'temprature'"),
    ({"n": 2}, "'n' is not allowed"),
    ({"stream": True}, "create_stream"),
    ({"model": "other"}, "set the model on the client"),
    ({"extra_body": "nope"}, "extra_body"),
])
async def test_unknown_or_forbidden_create_arguments(server: FakeServer, client: Any, args: dict, match: str) -> None:
    await rejected(server, client, match, extra_create_args=args)


def test_unknown_client_create_argument_fails_at_construction(make_client: Any) -> None:
    with pytest.raises(ValueError, match="temprature"):
        make_client(temprature=0.3)


async def test_B97_non_consecutive_system_messages_for_single_system_models(server: FakeServer,
                                                                           make_client: Any) -> None:
    client = make_client("gemini-2.5-flash")
    messages = [SystemMessage(content="A"), UserMessage(content="x"), SystemMessage(content="B")]
    await rejected(server, client, r"messages\[2\].*one system message", messages)


async def test_B97_consecutive_system_messages_are_merged(server: FakeServer, make_client: Any) -> None:
    client = make_client("gemini-2.5-flash")
    await client.create([SystemMessage(content="A"), SystemMessage(content="B"), UserMessage(content="x")])
    assert server.requests[0].json["messages"][0] == {"role": "system", "content": "A\nB"}
    assert [m["role"] for m in server.requests[0].json["messages"]] == ["system", "user"]


async def test_B97_openai_sends_system_messages_as_they_are(server: FakeServer, client: Any) -> None:
    await client.create([SystemMessage(content="A"), UserMessage(content="x"), SystemMessage(content="B")])
    assert [m["role"] for m in server.requests[0].json["messages"]] == ["system", "user", "system"]


async def test_B99_tool_call_without_its_result(server: FakeServer, client: Any) -> None:
    messages = [UserMessage(content="x"), AssistantMessage(content=[call("c1"), call("c2")]),
                FunctionExecutionResultMessage(content=[result("c1")]), UserMessage(content="next")]
    await rejected(server, client, r"messages\[1\].*c2", messages)
    await rejected(server, client, r"messages\[1\].*c1, c2", messages[:2])


async def test_B99_parallel_results_accepted(server: FakeServer, client: Any) -> None:
    messages = [UserMessage(content="x"), AssistantMessage(content=[call("c1"), call("c2")]),
                FunctionExecutionResultMessage(content=[result("c2"), result("c1")])]
    await client.create(messages)
    sent = server.requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]


async def test_B94_invalid_message_name_is_sanitised(server: FakeServer, client: Any) -> None:
    await client.create([UserMessage(content="hi", source="Data Analyst")])
    assert server.requests[0].json["messages"][0]["name"] == "Data_Analyst"


async def test_B94_mistral_gets_no_name(server: FakeServer, make_client: Any) -> None:
    client = make_client("mistral-large-latest", provider="mistral", base_url=server.base_url)
    await client.create([UserMessage(content="hi", source="Data Analyst")])
    assert "name" not in server.requests[0].json["messages"][0]


async def test_empty_messages(server: FakeServer, client: Any) -> None:
    await rejected(server, client, "at least one message", [])


async def test_tool_choice_must_name_a_given_tool(server: FakeServer, client: Any) -> None:
    other = FunctionTool(noop, "d", name="other")
    await rejected(server, client, "not among the tools", tools=[FunctionTool(noop, "d")], tool_choice=other)
    await rejected(server, client, "without any tools", tool_choice="required")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"timeout": 0}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
    ({"deadline": -1}, "deadline"),
    ({"base_url": "localhost:8000"}, "base_url"),
    ({"provider": "nope"}, "provider 'nope'"),
    ({"model_info": "gpt-4o"}, "model_info must be a dict"),
])
def test_bad_client_arguments(make_client: Any, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_client(**kwargs)


async def test_temperature_zero_and_top_p_zero_are_kept(server: FakeServer, make_client: Any) -> None:
    client = make_client(temperature=0)
    await client.create(HELLO, extra_create_args={"top_p": 0, "seed": 0, "presence_penalty": 0.0})
    body = server.requests[0].json
    assert body["temperature"] == 0 and body["top_p"] == 0 and body["seed"] == 0 and body["presence_penalty"] == 0


async def test_extra_body_is_merged(server: FakeServer, client: Any) -> None:
    await client.create(HELLO, extra_create_args={"extra_body": {"top_k": 20, "repetition_penalty": 1.1}})
    body = server.requests[0].json
    assert body["top_k"] == 20 and "extra_body" not in body


async def test_unknown_model_warns_once_and_works(server: FakeServer, make_client: Any) -> None:
    with pytest.warns(mp.UnknownModelWarning, match="my-finetune-7b"):
        client = make_client("my-finetune-7b")
    assert client.model_info["function_calling"] is True
    assert (await client.create(HELLO)).content == "You said: Hello"
    make_client("my-finetune-7b")  # a second client for the same name: no second warning (filterwarnings=error)
