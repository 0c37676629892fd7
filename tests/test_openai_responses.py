"""OpenAI's Responses API (``OpenAIResponsesClient``) over real HTTP against the fake server's ``/v1/responses``:
the request body, whole answers and streams (parity), the reasoning round trip, statuses, usage and errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

import modelport as mp
from modelport import (
    AssistantMessage,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    RetryPolicy,
    SystemMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport.model_info import UNKNOWN_MODEL_INFO
from modelport.providers.openai_responses import OpenAIResponsesClient
from modelport.providers.openai_responses.dialect import PROVIDER_FIELD
from modelport.testing import (
    FakeServer,
    Reply,
    function_call_item,
    message_item,
    reasoning_item,
    refusal_item,
    responses_events,
    responses_response,
    responses_sse,
    responses_stream,
    responses_usage,
)

from .conftest import RecordingSleep
from .helpers import collect
from .test_validation import PNG_1x1

KEY = "sk-test-SECRET-0123456789abcdef"
HELLO = [UserMessage(content="Hello", source="user")]
ASK = [UserMessage(content="What is the weather in Oslo?", source="user")]


class City(BaseModel):
    name: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"sunny in {city}"


WEATHER = FunctionTool(get_weather, "Get the weather")


@pytest.fixture
async def make(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[OpenAIResponsesClient] = []

    def make(model: str = "gpt-4o", **kwargs: Any) -> OpenAIResponsesClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps,
                                                      random=lambda: 0.0))
        client = OpenAIResponsesClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make: Any) -> OpenAIResponsesClient:
    return make()  # type: ignore[no-any-return]


def sent(server: FakeServer, n: int = -1) -> dict[str, Any]:
    body = server.requests[n].json
    assert isinstance(body, dict)
    return body


def comparable(result: CreateResult) -> dict[str, Any]:
    data = result.model_dump()
    data.pop("request_id")
    return data


async def both(server: FakeServer, client: Any, response: dict[str, Any],
               **kwargs: Any) -> tuple[list[str], CreateResult, CreateResult]:
    """The same scripted response streamed and whole: (deltas, streamed result, created result)."""
    messages = kwargs.pop("messages", None) or HELLO
    server.add(responses_stream(response), Reply.json(response))
    deltas, streamed = await collect(client, messages, **kwargs)
    created = await client.create(messages, **kwargs)
    return deltas, streamed, created


# -- the request --

async def test_create_posts_to_v1_responses_stateless(server: FakeServer, client: Any) -> None:
    result = await client.create([SystemMessage(content="Be brief."), *HELLO])
    assert result.content == "You said: Hello"
    assert (result.finish_reason, result.raw_finish_reason) == ("stop", "stop")
    request = server.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/responses")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json == {"model": "gpt-4o", "instructions": "Be brief.",
                            "input": [{"role": "user", "content": "Hello"}], "store": False}


async def test_input_items_from_the_conversation(server: FakeServer, client: Any) -> None:
    call = FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')
    messages = [
        SystemMessage(content="First."),
        SystemMessage(content="Second."),
        UserMessage(content=["Look:", Image.from_bytes(PNG_1x1)], source="user"),
        AssistantMessage(content="A square.", source="assistant"),
        SystemMessage(content="Later."),
        UserMessage(content="Weather in Oslo?", source="user"),
        AssistantMessage(content=[call], source="assistant"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id="call_1", content="sunny",
                                                                        name="get_weather")]),
    ]
    result = await client.create(messages, tools=[WEATHER])
    assert result.content == "The tool said: sunny"
    body = sent(server)
    assert body["instructions"] == "First.\nSecond."
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "Look:"},
                                     {"type": "input_image", "image_url": Image.from_bytes(PNG_1x1).data_uri,
                                      "detail": "auto"}]},
        {"role": "assistant", "content": "A square."},
        {"role": "system", "content": "Later."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]


async def test_function_tools_flat_with_strict_always_said(server: FakeServer, client: Any) -> None:
    strict = {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
              "strict": True}
    await client.create(ASK, tools=[WEATHER, strict], extra_create_args={"parallel_tool_calls": False})
    tools = sent(server)["tools"]
    assert tools[0]["type"] == "function" and tools[0]["name"] == "get_weather"
    assert tools[0]["strict"] is False and tools[0]["description"] == "Get the weather"
    assert tools[1]["strict"] is True and tools[1]["parameters"]["additionalProperties"] is False
    assert sent(server)["parallel_tool_calls"] is False


@pytest.mark.parametrize(("choice", "wire"), [
    ("auto", None), ("required", "required"), ("none", "none"),
    (WEATHER, {"type": "function", "name": "get_weather"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "function", "name": "get_weather"}),
])
async def test_tool_choice(server: FakeServer, client: Any, choice: Any, wire: Any) -> None:
    result = await client.create(ASK, tools=[WEATHER], tool_choice=choice)
    assert sent(server).get("tool_choice") == wire
    assert result.finish_reason == ("stop" if choice == "none" else "function_calls")


async def test_tool_choice_naming_an_unknown_tool_is_refused_before_sending(server: FakeServer,
                                                                           client: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="'other'"):
        await client.create(ASK, tools=[WEATHER], tool_choice={"type": "function", "name": "other"})
    with pytest.raises(mp.InvalidRequestError, match="without any tools"):
        await client.create(ASK, tool_choice="required")
    assert server.requests == []


async def test_create_arguments_copied_and_unknown_ones_refused_by_name(server: FakeServer, make: Any) -> None:
    args = {"max_output_tokens": 500, "temperature": 0.5, "top_p": 0.9, "truncation": "auto",
            "service_tier": "flex", "prompt_cache_key": "k1", "metadata": {"a": "b"}, "safety_identifier": "u1",
            "include": ["message.output_text.logprobs"], "top_logprobs": 2}
    client = make(**args)
    await client.create(HELLO)
    body = sent(server)
    assert {key: body[key] for key in args} == args
    for bad, match in (({"max_tokens": 5}, "max_output_tokens"), ({"frequency_penalty": 1}, "'frequency_penalty'"),
                       ({"truncation": "middle"}, "'truncation'"), ({"reasoning": {"effort": "huge"}}, "'reasoning'"),
                       ({"instructions": "x"}, "SystemMessage")):
        with pytest.raises(mp.InvalidRequestError, match=match):
            await client.create(HELLO, extra_create_args=bad)
    with pytest.raises(mp.InvalidRequestError, match="'temperature'"):
        make(temperature=3)
    assert len(server.requests) == 1


async def test_previous_response_id_only_with_store(server: FakeServer, make: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="store=True"):
        await make().create(HELLO, extra_create_args={"previous_response_id": "resp_1"})
    await make(store=True).create(HELLO, extra_create_args={"previous_response_id": "resp_1"})
    assert sent(server)["store"] is True and sent(server)["previous_response_id"] == "resp_1"
    assert len(server.requests) == 1


async def test_reasoning_model_asks_for_encrypted_reasoning_unless_stored(server: FakeServer, make: Any) -> None:
    await make("gpt-5", reasoning={"effort": "low", "summary": "auto"}).create(HELLO)
    body = sent(server)
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    await make("gpt-5", store=True).create(HELLO, extra_create_args={"reasoning_effort": "high"})
    assert sent(server)["reasoning"] == {"effort": "high"} and "include" not in sent(server)
    await make("gpt-4o").create(HELLO)
    assert "include" not in sent(server) and "reasoning" not in sent(server)


# -- the reasoning round trip --

async def _round_trip(server: FakeServer, client: Any, *, stream: bool) -> tuple[CreateResult, dict[str, Any]]:
    if stream:
        _, result = await collect(client, ASK, tools=[WEATHER])
    else:
        result = await client.create(ASK, tools=[WEATHER])
    assert isinstance(result.content, list)
    call = result.content[0]
    results = FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id=call.id, content="sunny",
                                                                              name=call.name)])
    history = [*ASK, AssistantMessage(content=result.content, thought=result.thought, source="a"), results]
    answer = await client.create(history, tools=[WEATHER])
    assert answer.content == "The tool said: sunny"
    return result, sent(server)


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_item_returned_byte_for_byte_before_its_function_call(server: FakeServer, make: Any,
                                                                              stream: bool) -> None:
    client = make("gpt-5", reasoning={"effort": "low", "summary": "auto"})
    result, body = await _round_trip(server, client, stream=stream)
    assert result.thought == "The user wrote: What is the weather in Oslo?"
    first = server.requests[-2]
    assert first.json["include"] == ["reasoning.encrypted_content"]
    assert isinstance(result.content, list)
    kept = result.content[0].provider_fields[PROVIDER_FIELD]
    received = kept["items"][0]
    assert received["type"] == "reasoning" and received["encrypted_content"] == "gAAAAfake.fc_fake_0"
    assert [item.get("type", item.get("role")) for item in body["input"]] == [
        "user", "reasoning", "function_call", "function_call_output"]
    assert body["input"][1] == received
    assert body["input"][2] == {"type": "function_call", "call_id": "call_fake_0", "name": "get_weather",
                                "arguments": result.content[0].arguments, "id": "fc_fake_0"}
    raw = json.dumps(received["encrypted_content"]).encode()
    assert raw in server.requests[-1].body  # the same bytes went back


async def test_scripted_reasoning_with_message_between_kept_verbatim(server: FakeServer, client: Any) -> None:
    reasoning = reasoning_item(["Plan.", "Check."], encrypted_content="opaque/+==", item_id="rs_9")
    reasoning["future_field"] = {"kept": True}
    note = message_item("Let me check.", item_id="msg_9")
    response = responses_response([reasoning, note, function_call_item("call_9", "get_weather", {"city": "Oslo"},
                                                                        item_id="fc_9"),
                                   function_call_item("call_10", "get_weather", {"city": "Rome"}, item_id="fc_10")])
    _, streamed, created = await both(server, client, response, tools=[WEATHER])
    assert comparable(streamed) == comparable(created)
    assert isinstance(created.content, list) and len(created.content) == 2
    assert created.content[0].provider_fields == {PROVIDER_FIELD: {"items": [reasoning, note], "id": "fc_9",
                                                                   "call_id": "call_9"}}
    assert created.content[1].provider_fields is None
    assert created.thought == "Plan.\n\nCheck.\nLet me check."
    server.add(Reply.json(responses_response("done")))
    results = FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id=c.id, content="ok",
                                                                              name=c.name) for c in created.content])
    await client.create([*ASK, AssistantMessage(content=created.content, thought=created.thought, source="a"),
                         results])
    assert sent(server)["input"][1:5] == [reasoning, note,
                                          {"type": "function_call", "call_id": "call_9", "name": "get_weather",
                                           "arguments": '{"city": "Oslo"}', "id": "fc_9"},
                                          {"type": "function_call", "call_id": "call_10", "name": "get_weather",
                                           "arguments": '{"city": "Rome"}'}]


async def test_reasoning_without_encrypted_content_not_sent_back_when_nothing_is_stored(server: FakeServer,
                                                                                         make: Any) -> None:
    # a reasoning model under a name the registry does not know (an Azure deployment's): nothing asked the
    # encrypted reasoning, so its reasoning item cannot be verified when it goes back without a stored response
    client = make("prod-deployment", model_info=UNKNOWN_MODEL_INFO)
    response = responses_response([reasoning_item([], item_id="rs_1"),
                                   function_call_item("call_1", "get_weather", {"city": "Oslo"}, item_id="fc_1")])
    server.add(Reply.json(response))
    result = await client.create(ASK, tools=[WEATHER])
    assert isinstance(result.content, list)
    history = [*ASK, AssistantMessage(content=result.content, thought=result.thought, source="a"),
               FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id="call_1", content="sunny",
                                                                               name="get_weather")])]
    answer = await client.create(history, tools=[WEATHER])
    assert answer.content == "The tool said: sunny"
    assert sent(server)["input"][1:] == [
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]


async def test_history_edited_so_reasoning_loses_its_following_item_is_refused(server: FakeServer,
                                                                               make: Any) -> None:
    client = make("gpt-5", reasoning={"effort": "low"})
    result = await client.create(ASK, tools=[WEATHER])
    assert isinstance(result.content, list)
    original = result.content[0]
    moved = FunctionCall(id="call_other", name="get_weather", arguments="{}", provider_fields=original.provider_fields)
    history = [*ASK, AssistantMessage(content=[moved], source="a"),
               FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id="call_other", content="x",
                                                                               name="get_weather")])]
    with pytest.raises(mp.InvalidRequestError, match=r"messages\[1\]\.content\[0\].*'call_fake_0'"):
        await client.create(history, tools=[WEATHER])
    assert len(server.requests) == 1


def test_fake_server_refuses_reasoning_without_its_following_item(server: FakeServer) -> None:
    reasoning = reasoning_item([], encrypted_content="gAAAAfake.fc_fake_0")
    for items in ([{"role": "user", "content": "hi"}, reasoning],
                  [{"role": "user", "content": "hi"}, reasoning, {"type": "function_call", "call_id": "c",
                                                                  "name": "f", "arguments": "{}", "id": "fc_x"}]):
        request = urllib.request.Request(f"{server.base_url}/responses", method="POST",
                                         data=json.dumps({"model": "gpt-5", "input": items}).encode(),
                                         headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 400
        assert "without its required following item" in caught.value.read().decode()


async def test_thought_of_calls_made_elsewhere_goes_as_text(server: FakeServer, client: Any) -> None:
    call = FunctionCall(id="call_1", name="get_weather", arguments="{}")
    await client.create([*ASK, AssistantMessage(content=[call], thought="I should look.", source="a"),
                         FunctionExecutionResultMessage(content=[FunctionExecutionResult(
                             call_id="call_1", content="sunny", name="get_weather")])], tools=[WEATHER])
    assert sent(server)["input"][1] == {"role": "assistant", "content": "I should look."}


# -- answers: parity, statuses, usage --

RESPONSES = {
    "text": responses_response("Hello there, world."),
    "summary_parts_and_text": responses_response([reasoning_item(["First part.", "Second part."]),
                                                  message_item("The answer.")]),
    "reasoning_text": responses_response([reasoning_item(content=["Thinking hard."]), message_item("42")]),
    "two_calls": responses_response([function_call_item("c1", "get_weather", {"city": "Oslo"}, item_id="fc_1"),
                                     function_call_item("c2", "get_weather", {"city": "Rome"}, item_id="fc_2")]),
    "incomplete": responses_response("cut sho", status="incomplete", incomplete_reason="max_output_tokens"),
    "filtered": responses_response("partial", status="incomplete", incomplete_reason="content_filter"),
}


@pytest.mark.parametrize("name", sorted(RESPONSES))
async def test_stream_equals_the_whole_response(server: FakeServer, client: Any, name: str) -> None:
    deltas, streamed, created = await both(server, client, RESPONSES[name], tools=[WEATHER])
    assert comparable(streamed) == comparable(created)
    text = "".join(d for d in deltas if not isinstance(d, ThoughtChunk))
    if isinstance(created.content, str):
        assert text == created.content
    thought = "".join(d for d in deltas if isinstance(d, ThoughtChunk))
    assert (thought or None) == created.thought


@pytest.mark.parametrize(("name", "finish", "raw"), [
    ("text", "stop", "stop"), ("two_calls", "function_calls", "stop"), ("incomplete", "length", "length"),
    ("filtered", "content_filter", "content_filter"), ("reasoning_text", "stop", "stop"),
])
async def test_status_to_finish_reason(server: FakeServer, client: Any, name: str, finish: str, raw: str) -> None:
    server.add(Reply.json(RESPONSES[name]))
    result = await client.create(HELLO, tools=[WEATHER])
    assert (result.finish_reason, result.raw_finish_reason) == (finish, raw)


async def test_reasoning_summaries_and_reasoning_text_are_thought(server: FakeServer, client: Any) -> None:
    deltas, streamed, _ = await both(server, client, RESPONSES["summary_parts_and_text"])
    assert streamed.thought == "First part.\n\nSecond part."
    assert next(d for d in deltas if isinstance(d, ThoughtChunk)) == "First"
    _, streamed, _ = await both(server, client, RESPONSES["reasoning_text"])
    assert (streamed.thought, streamed.content) == ("Thinking hard.", "42")


async def test_max_output_tokens_cut_is_length(server: FakeServer, client: Any) -> None:
    long = [UserMessage(content=" ".join(["word"] * 40), source="user")]
    result = await client.create(long, extra_create_args={"max_output_tokens": 16})
    _, streamed = await collect(client, long, extra_create_args={"max_output_tokens": 16})
    assert result.finish_reason == streamed.finish_reason == "length"
    assert len(result.content.split()) == 16 and streamed.content == result.content


async def test_refusal_is_content_filter_with_its_text(server: FakeServer, client: Any) -> None:
    response = responses_response([refusal_item("I can't help with that.")])
    server.add(Reply.json(response))
    with pytest.raises(mp.ContentFilterError) as caught:
        await client.create(HELLO)
    assert caught.value.partial is not None
    assert caught.value.partial.refusal == "I can't help with that."
    assert caught.value.partial.finish_reason == "content_filter"
    server.add(responses_stream(response))
    with pytest.raises(mp.ContentFilterError) as streamed:
        await collect(client, HELLO)
    assert streamed.value.partial is not None and streamed.value.partial.refusal == "I can't help with that."
    mixed = responses_response([message_item("Partly: "), refusal_item("no more.", item_id="msg_2")])
    _, streamed_result, created = await both(server, client, mixed)
    assert comparable(streamed_result) == comparable(created)
    assert (created.content, created.refusal, created.finish_reason) == ("Partly: ", "no more.", "content_filter")


async def test_usage_with_cached_and_reasoning_tokens_and_cost(server: FakeServer, make: Any) -> None:
    client = make("gpt-5", provider="openai", api_key=KEY)
    usage = responses_usage(1000, 200, cached=600, reasoning=150, cache_write=100)
    _, streamed, created = await both(server, client, responses_response("ok", usage=usage, model="gpt-5"))
    assert comparable(streamed) == comparable(created)
    assert (created.usage.prompt_tokens, created.usage.completion_tokens) == (1000, 200)
    assert (created.usage.cached_prompt_tokens, created.usage.reasoning_tokens) == (600, 150)
    assert created.usage.cache_write_tokens == 100
    assert created.usage_reported
    assert created.cost is not None and float(created.cost) == pytest.approx(
        (400 * 1.25 + 600 * 0.125 + 200 * 10) / 1e6)


async def test_structured_output_through_text_format(server: FakeServer, client: Any) -> None:
    result = await client.create([UserMessage(content="Tell me about Oslo", source="u")], json_output=City)
    text_format = sent(server)["text"]["format"]
    assert text_format["type"] == "json_schema" and text_format["name"] == "City" and text_format["strict"] is True
    assert text_format["schema"]["additionalProperties"] is False
    assert isinstance(result.parsed, City) and result.parsed.name == "Oslo"
    _, streamed = await collect(client, [UserMessage(content="Tell me about Oslo", source="u")], json_output=City)
    assert streamed.parsed == result.parsed
    await client.create(HELLO, extra_create_args={"response_format": City})
    assert sent(server)["text"]["format"]["name"] == "City"
    result = await client.create([UserMessage(content="Answer in json", source="u")], json_output=True,
                                 extra_create_args={"text": {"verbosity": "low"}})
    assert sent(server)["text"] == {"verbosity": "low", "format": {"type": "json_object"}}
    assert json.loads(result.content) == {"answer": "Answer in json"}


# -- errors --

@pytest.mark.parametrize(("code", "error"), [
    ("server_error", mp.ServerError), ("rate_limit_exceeded", mp.RateLimitError),
    ("invalid_prompt", mp.BadRequestError), ("invalid_image_url", mp.BadRequestError),
])
async def test_failed_status_is_a_typed_error(server: FakeServer, make: Any, code: str, error: type) -> None:
    client = make(max_retries=0)
    failed = responses_response([message_item("half")], status="failed",
                                error={"code": code, "message": "it went wrong"})
    server.add(Reply.json(failed))
    with pytest.raises(error, match="it went wrong") as whole:
        await client.create(HELLO)
    assert whole.value.code == code and whole.value.partial is not None and whole.value.partial.content == "half"
    server.add(responses_stream(failed))
    with pytest.raises(error, match="it went wrong") as streamed:
        await collect(client, HELLO)
    assert streamed.value.partial is not None and streamed.value.partial.content == "half"


async def test_error_event_is_a_typed_in_band_error_with_what_arrived(server: FakeServer, make: Any) -> None:
    events = responses_events(responses_response("Hello there"))[:5]
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
    server.add(Reply.sse([*events, *responses_sse([error], start=5)], done=False))
    with pytest.raises(mp.RateLimitError, match="slow down") as caught:
        await collect(make(max_retries=0), HELLO)
    assert caught.value.in_stream and caught.value.partial is not None
    assert caught.value.partial.content == "Hello"


@pytest.mark.parametrize(("numbers", "what"), [((0, 1, 3), "lost"), ((0, 1, 1), "repeated")])
async def test_sequence_number_gap_or_repeat_is_a_protocol_error(server: FakeServer, make: Any,
                                                                 numbers: tuple[int, ...], what: str) -> None:
    head = {"type": "response.created", "response": responses_response([], status="in_progress")}
    events = [head, {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"},
              {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": " there"}]
    numbered = [{**event, "sequence_number": n} for event, n in zip(events, numbers, strict=True)]
    server.add(Reply.sse(responses_sse([*numbered, {"type": "response.completed",
                                                    "response": responses_response("Hi there")}]), done=False))
    with pytest.raises(mp.StreamProtocolError, match=what) as caught:
        await collect(make(max_retries=0), HELLO)
    assert caught.value.partial is not None and caught.value.partial.content == "Hi"


async def test_stream_without_a_terminal_event_is_incomplete(server: FakeServer, make: Any) -> None:
    events = responses_events(responses_response("Hello there"))[:-1]
    server.add(Reply.sse(events, done=False))
    with pytest.raises(mp.IncompleteStreamError) as caught:
        await collect(make(max_retries=0), HELLO)
    assert caught.value.partial is not None and caught.value.partial.content == "Hello there"


async def test_http_error_envelope_is_typed(server: FakeServer, make: Any) -> None:
    server.add(Reply.json({"error": {"message": "bad model", "type": "invalid_request_error", "param": "model",
                                     "code": "model_not_found"}}, status=404))
    with pytest.raises(mp.NotFoundError, match="bad model"):
        await make(max_retries=0).create(HELLO)


async def test_only_whole_items_still_assemble(server: FakeServer, client: Any) -> None:
    """A server that sends each item only whole (``output_item.done``, no deltas) still gives the same answer."""
    response = responses_response([reasoning_item("Why."), function_call_item("c1", "get_weather", {"city": "Oslo"})])
    events = [{"type": "response.output_item.done", "output_index": i, "item": item}
              for i, item in enumerate(response["output"])]
    server.add(Reply.sse(responses_sse([*events, {"type": "response.completed", "response": response}]), done=False),
               Reply.json(response))
    _, streamed = await collect(client, ASK, tools=[WEATHER])
    created = await client.create(ASK, tools=[WEATHER])
    assert comparable(streamed) == comparable(created)
    assert isinstance(created.content, list) and created.content[0].arguments == '{"city": "Oslo"}'


async def test_completed_answer_that_reached_max_output_tokens_is_length(server: FakeServer, client: Any) -> None:
    """llama.cpp's ``/v1/responses`` says ``completed`` for an answer cut at ``max_output_tokens``."""
    response = responses_response("Hello, ", usage=responses_usage(29, 3))
    args = {"extra_create_args": {"max_output_tokens": 3}}
    _, streamed, created = await both(server, client, response, **args)
    assert created.finish_reason == streamed.finish_reason == "length"
    _, streamed, created = await both(server, client, response, extra_create_args={"max_output_tokens": 4})
    assert created.finish_reason == streamed.finish_reason == "stop"


async def test_stream_without_output_index_or_sequence_number(server: FakeServer, client: Any) -> None:
    """llama.cpp's events number nothing: items are taken in the order they open."""
    response = responses_response([message_item("Let me see."), function_call_item("c1", "get_weather",
                                                                                  {"city": "Oslo"})])
    stripped = []
    for event in responses_events(response):
        data = json.loads(event.split("data: ", 1)[1])
        data.pop("sequence_number")
        data.pop("output_index", None)
        stripped.append(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n")
    server.add(Reply.sse(stripped, done=False), Reply.json(response))
    _, streamed = await collect(client, ASK, tools=[WEATHER])
    created = await client.create(ASK, tools=[WEATHER])
    assert comparable(streamed) == comparable(created)
    assert isinstance(created.content, list) and created.content[0].arguments == '{"city": "Oslo"}'
    assert created.thought == "Let me see."


async def test_an_event_of_an_unexpected_type_is_a_typed_error_that_says_so(server: FakeServer, make: Any) -> None:
    # A TypeError inside a dialect's parser was reported as "nested too deeply": orjson's JSONEncodeError, which the
    # depth check caught, is TypeError itself.
    head = {"type": "response.created", "response": responses_response([], status="in_progress")}
    events = [head, {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"}]
    numbered = [f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': str(n)})}\n\n"
                for n, e in enumerate(events)]
    done = responses_sse([{"type": "response.completed", "response": responses_response("Hi")}], start=2)
    server.add(Reply.sse([*numbered, *done], done=False))
    with pytest.raises(mp.StreamProtocolError) as caught:
        await collect(make(max_retries=0), HELLO)
    assert "nested too deeply" not in str(caught.value) and "TypeError" in str(caught.value)
