"""Parity: for every scripted conversation, the assembled stream equals the non-stream result.

Each case is one answer written twice, as a stream and as a whole completion, the way a server sends it both ways.
The default fake model (no script) adds the cases it generates itself: text, tool calls, JSON schema output."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from modelport import CreateResult, FunctionTool, UserMessage
from modelport.testing import FakeServer, Reply, chunk, completion, usage

from .helpers import collect

USAGE = usage(11, 7)


def lp(*tokens: str) -> dict[str, Any]:
    return {"content": [{"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens]}


CASES: dict[str, tuple[list[Any], dict[str, Any]]] = {
    "text": (
        [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": " world"}),
         chunk(finish_reason="stop"), chunk(usage=USAGE, choices=False)],
        completion("Hello world", usage=USAGE)),
    "think_tags": (
        [chunk({"content": "<thi"}), chunk({"content": "nk>step one"}), chunk({"content": "</think>\n\nAnswer"}),
         chunk(finish_reason="stop"), chunk(usage=USAGE, choices=False)],
        completion("<think>step one</think>\n\nAnswer", usage=USAGE)),
    "reasoning_content": (
        [chunk({"reasoning_content": "Let me"}), chunk({"reasoning_content": " think"}), chunk({"content": "42"}),
         chunk(finish_reason="stop"),
         chunk(usage={**USAGE, "completion_tokens_details": {"reasoning_tokens": 3}}, choices=False)],
        completion("42", reasoning_content="Let me think",
                   usage={**USAGE, "completion_tokens_details": {"reasoning_tokens": 3}})),
    "tool_calls_with_text": (
        [chunk({"content": "Checking. "}),
         chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "a",
                                                                                          "arguments": '{"x"'}}]}),
         chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "b",
                                                                                          "arguments": ""}}]}),
         chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
         chunk(finish_reason="tool_calls"), chunk(usage=USAGE, choices=False)],
        completion("Checking. ", finish_reason="tool_calls", usage=USAGE, tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": ""}}])),
    "refusal": (
        [chunk({"refusal": "I can't"}), chunk({"refusal": " help"}), chunk(finish_reason="stop")],
        completion(None, refusal="I can't help")),
    "length_with_logprobs": (
        [chunk({"content": "Hi"}, logprobs=lp("Hi")), chunk({"content": " there"}, logprobs=lp(" there")),
         chunk(finish_reason="length"), chunk(usage=USAGE, choices=False)],
        completion("Hi there", finish_reason="length", usage=USAGE) | {"choices": [{
            "index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "length",
            "logprobs": lp("Hi", " there")}]}),
    "no_usage_no_finish": (
        [chunk({"content": "x"})],
        completion("x", finish_reason=None)),
}


def comparable(result: CreateResult) -> dict[str, Any]:
    data = result.model_dump()
    data.pop("request_id")
    return data


@pytest.mark.parametrize("name", sorted(CASES))
async def test_scripted_stream_equals_non_stream(server: FakeServer, client: Any, name: str) -> None:
    events, body = CASES[name]
    server.add(Reply.sse(events), Reply.json(body))
    deltas, streamed = await collect(client)
    created = await client.create([UserMessage(content="Hello")])
    assert comparable(streamed) == comparable(created)
    text = "".join(d for d in deltas if type(d) is str)
    if isinstance(streamed.content, str):
        assert text == streamed.content


class City(BaseModel):
    name: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"sunny in {city}"


@pytest.mark.parametrize("kwargs", [
    {},
    {"tools": [FunctionTool(get_weather, "Get the weather")]},
    {"tools": [FunctionTool(get_weather, "Get the weather")], "tool_choice": "required"},
    {"json_output": City},
    {"json_output": True},
], ids=["text", "tools", "tool_choice", "json_schema", "json_object"])
async def test_default_model_stream_equals_non_stream(server: FakeServer, client: Any, kwargs: dict) -> None:
    messages = [UserMessage(content="Tell me about Paris")]
    _, streamed = await collect(client, messages, **kwargs)
    created = await client.create(messages, **kwargs)
    assert comparable(streamed) | {"usage": None} == comparable(created) | {"usage": None}
