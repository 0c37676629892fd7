"""The fake server's ``/v1/responses`` checked against OpenAI's own SDK (the ``dev`` extra; skipped without it): every
scripted reply validates as the SDK's ``Response`` and stream event types, and ``responses.create``,
``responses.stream`` and ``responses.parse`` read it without error, the streamed answer equal to the whole one (the
SDK's stream helper gives a final response only after ``response.completed``: for an incomplete or failed one, the
terminal event's response is compared)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from modelport.testing import (
    FakeServer,
    Reply,
    function_call_item,
    message_item,
    reasoning_item,
    refusal_item,
    responses_events,
    responses_response,
    responses_stream,
    responses_usage,
)

openai = pytest.importorskip("openai")
from openai.types.responses import Response, ResponseStreamEvent  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


class City(BaseModel):
    name: str
    population: int


SCRIPTED = {
    "text": responses_response("Hello there, world."),
    "reasoning_then_calls": responses_response([
        reasoning_item(["Plan.", "Check."], encrypted_content="gAAAA-opaque", item_id="rs_1"),
        function_call_item("call_1", "get_weather", {"city": "Oslo"}, item_id="fc_1"),
        function_call_item("call_2", "get_weather", {"city": "Rome"}, item_id="fc_2"),
    ], usage=responses_usage(100, 50, cached=40, reasoning=30)),
    "reasoning_text": responses_response([reasoning_item(content=["Thinking hard."]), message_item("42")]),
    "refusal": responses_response([refusal_item("I can't help with that.")]),
    "incomplete": responses_response("cut sho", status="incomplete", incomplete_reason="max_output_tokens"),
    "failed": responses_response([], status="failed", error={"code": "server_error", "message": "boom"}),
}


@pytest.fixture
async def sdk(server: FakeServer) -> AsyncIterator[Any]:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    yield client
    await client.close()


def _data(event: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(event.split("data: ", 1)[1])
    return data


@pytest.mark.parametrize("name", sorted(SCRIPTED))
def test_scripted_replies_validate_as_the_sdk_types(name: str) -> None:
    response = SCRIPTED[name]
    Response.model_validate(response)
    for event in responses_events(response):
        EVENTS.validate_python(_data(event))


@pytest.mark.parametrize("name", sorted(SCRIPTED))
async def test_sdk_create_and_stream_read_every_scripted_reply(server: FakeServer, sdk: Any, name: str) -> None:
    response = SCRIPTED[name]
    server.add(Reply.json(response), responses_stream(response))
    created = await sdk.responses.create(model="gpt-5", input="Hello")
    assert created.model_dump(exclude_unset=True) == response
    async with sdk.responses.stream(model="gpt-5", input="Hello") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response() if response["status"] == "completed" else events[-1].response
    assert events[0].type == "response.created"
    assert events[-1].type == {"completed": "response.completed", "incomplete": "response.incomplete",
                               "failed": "response.failed"}[response["status"]]
    assert [item.model_dump(exclude_none=True) for item in final.output] == [
        item.model_dump(exclude_none=True) for item in created.output]


@pytest.mark.parametrize("stream", [False, True])
async def test_sdk_against_the_default_model(server: FakeServer, sdk: Any, stream: bool) -> None:
    tools = [{"type": "function", "name": "get_weather", "strict": False,
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    arguments: dict[str, Any] = {"model": "gpt-5", "input": "Weather in Oslo?", "tools": tools, "store": False,
                                 "reasoning": {"effort": "low", "summary": "auto"},
                                 "include": ["reasoning.encrypted_content"]}
    if stream:
        async with sdk.responses.stream(**arguments) as events:
            async for _ in events:
                pass
            first = await events.get_final_response()
    else:
        first = await sdk.responses.create(**arguments)
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content.endswith(call.id)
    follow_up = [{"role": "user", "content": "Weather in Oslo?"},
                 *[item.model_dump(exclude_none=True) for item in first.output],
                 {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    second = await sdk.responses.create(**{**arguments, "input": follow_up})
    assert second.output_text == "The tool said: sunny"


@pytest.mark.parametrize("stream", [False, True])
async def test_sdk_parse_reads_structured_output(server: FakeServer, sdk: Any, stream: bool) -> None:
    if stream:
        async with sdk.responses.stream(model="gpt-4o", input="Tell me about Oslo", text_format=City) as events:
            async for _ in events:
                pass
            parsed = (await events.get_final_response()).output_parsed
    else:
        parsed = (await sdk.responses.parse(model="gpt-4o", input="Tell me about Oslo", text_format=City)).output_parsed
    assert isinstance(parsed, City) and parsed.name == "Oslo"
    assert server.requests[-1].json["text"]["format"]["type"] == "json_schema"
