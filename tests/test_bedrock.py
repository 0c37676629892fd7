# ruff: noqa: F811  (the fixtures imported from bedrock_helpers are parameters of the tests)
"""The Bedrock Converse client and dialect, over real HTTP against the fake server's Converse routes (the streams in
AWS's binary event-stream framing)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import BaseModel

from modelport import (
    AssistantMessage,
    BadRequestError,
    ContentFilterError,
    ContextLengthExceededError,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    IncompleteStreamError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamProtocolError,
    SystemMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport.providers.bedrock.dialect import OUTPUT_TOOL, PROVIDER_FIELD
from modelport.testing import FakeServer, Reply
from modelport.testing._bedrock import (
    bedrock_error,
    bedrock_event,
    bedrock_events,
    bedrock_exception,
    bedrock_stream,
    bedrock_usage,
    converse_response,
    reasoning_block,
    redacted_reasoning_block,
    text_content,
    tool_use_content,
)

from .bedrock_helpers import MODEL, aws_env, make_bedrock  # noqa: F401  (fixtures)
from .conftest import RecordingSleep
from .helpers import collect
from .test_validation import PNG_1x1

HELLO = [UserMessage(content="Hello Paris", source="user")]


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def clock(city: str, zone: str = "UTC") -> str:
    """The time in a city."""
    return "noon"


TOOLS = [FunctionTool(weather, description="The weather in a city."), FunctionTool(clock, description="The time.")]


# -- the wire: URLs and bodies --


async def test_create_and_stream_post_to_converse_and_converse_stream(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock("arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + MODEL)
    result = await client.create(HELLO)
    deltas, _ = await collect(client, HELLO)
    assert result.content == "You said: Hello Paris" and "".join(deltas) == result.content
    paths = [request.path for request in server.requests]
    escaped = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
    escaped += MODEL.replace(":", "%3A")
    assert paths == [f"/v1/model/{escaped}/converse", f"/v1/model/{escaped}/converse-stream"]
    assert "model" not in server.requests[0].json and "stream" not in server.requests[1].json


async def test_the_request_id_is_x_amzn_requestid(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    server.add(Reply.json(converse_response("hi"), headers={"x-amzn-RequestId": "rid-create"}))
    server.add(bedrock_stream(converse_response("hi"), headers={"x-amzn-RequestId": "rid-stream"}))
    server.add(bedrock_error(400, "ValidationException", "bad").__class__(
        status=400, headers={"x-amzn-ErrorType": "ValidationException", "x-amzn-RequestId": "rid-error",
                             "content-type": "application/json"}, segments=[(0.0, b'{"message": "bad"}')]))
    assert (await client.create(HELLO)).request_id == "rid-create"
    assert (await collect(client, HELLO))[1].request_id == "rid-stream"
    with pytest.raises(BadRequestError) as caught:
        await client.create(HELLO)
    assert caught.value.request_id == "rid-error"


async def test_system_messages_become_system_blocks_and_same_role_turns_merge(
    server: FakeServer, make_bedrock: Any
) -> None:
    client = make_bedrock()
    await client.create(
        [
            SystemMessage(content="Be brief."),
            UserMessage(content="one", source="u"),
            UserMessage(content=["two", Image.from_bytes(PNG_1x1, media_type="image/png")], source="u"),
            AssistantMessage(content="three  ", source="a"),
            SystemMessage(content="Answer in French."),
            UserMessage(content="   ", source="u"),
        ]
    )
    body = server.requests[-1].json
    assert body["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "one"},
                {"text": "two"},
                {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG_1x1).decode()}}},
            ],
        },
        {"role": "assistant", "content": [{"text": "three"}]},
    ]


async def test_inference_config_and_model_fields(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock(max_tokens=300, temperature=0.2)
    await client.create(
        HELLO,
        extra_create_args={
            "top_p": 0.9,
            "stop": "END",
            "additional_model_request_fields": {"top_k": 5},
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "guardrail_config": {"guardrailIdentifier": "g", "guardrailVersion": "1"},
        },
    )
    body = server.requests[-1].json
    assert body["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert body["additionalModelRequestFields"] == {"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert body["guardrailConfig"] == {"guardrailIdentifier": "g", "guardrailVersion": "1"}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"top_k": 3}, "top_k"),
        ({"temperature": 3}, "temperature"),
        ({"system": "x"}, "system"),
        ({"stop": "a", "stop_sequences": ["b"]}, "stop"),
    ],
)
async def test_bad_create_arguments_are_refused_before_sending(
    server: FakeServer, make_bedrock: Any, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError, match=field):
        await make_bedrock().create(HELLO, extra_create_args=arguments)
    assert server.requests == []


async def test_an_image_url_is_refused_before_sending(server: FakeServer, make_bedrock: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\].content\[1\]"):
        await make_bedrock().create([UserMessage(content=["see", Image.from_url("https://x.test/a.png")], source="u")])
    assert server.requests == []


# -- tools --


async def test_tool_config_and_tool_choice(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    await client.create(HELLO, tools=TOOLS)
    config = server.requests[-1].json["toolConfig"]
    assert [tool["toolSpec"]["name"] for tool in config["tools"]] == ["weather", "clock"]
    assert config["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["city"]["type"] == "string"
    assert "toolChoice" not in config
    await client.create(HELLO, tools=TOOLS, tool_choice="required")
    assert server.requests[-1].json["toolConfig"]["toolChoice"] == {"any": {}}
    await client.create(HELLO, tools=TOOLS, tool_choice=TOOLS[1])
    assert server.requests[-1].json["toolConfig"]["toolChoice"] == {"tool": {"name": "clock"}}
    await client.create(HELLO, tools=TOOLS, tool_choice="none")
    assert "toolConfig" not in server.requests[-1].json


async def test_tools_round_trip_with_every_result_in_one_user_turn(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    calls = [FunctionCall(id="t1", name="weather", arguments='{"city": "Paris"}'),
             FunctionCall(id="t2", name="clock", arguments='{"city": "Rome"}')]
    history = [
        *HELLO,
        AssistantMessage(content=calls, source="a"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="sunny", name="weather",
                                                                        call_id="t1")]),
        FunctionExecutionResultMessage(
            content=[FunctionExecutionResult(content="boom", name="clock", call_id="t2", is_error=True)]
        ),
    ]
    result = await client.create(history, tools=TOOLS)
    assert result.content == "The tool said: sunny; boom"
    messages = server.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "t2", "name": "clock", "input": {"city": "Rome"}}},
    ]
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}], "status": "success"}},
        {"toolResult": {"toolUseId": "t2", "content": [{"text": "boom"}], "status": "error"}},
    ]


async def test_a_history_with_tool_calls_keeps_a_tool_config(server: FakeServer, make_bedrock: Any) -> None:
    """Converse refuses toolUse and toolResult blocks without a toolConfig, so one is sent even with no tools."""
    client = make_bedrock()
    history = [
        *HELLO,
        AssistantMessage(content=[FunctionCall(id="t1", name="weather", arguments="{}")], source="a"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="sunny", name="weather",
                                                                        call_id="t1")]),
        UserMessage(content="Thanks", source="u"),
    ]
    for tool_choice in ("auto", "none"):
        result = await client.create(history, tool_choice=tool_choice)
        assert isinstance(result.content, str)
        names = [t["toolSpec"]["name"] for t in server.requests[-1].json["toolConfig"]["tools"]]
        assert names == ["weather"]
    await client.create(history, tools=TOOLS, tool_choice="none")
    config = server.requests[-1].json["toolConfig"]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["weather", "clock"] and "toolChoice" not in config


async def test_a_tool_call_without_its_result_is_refused_before_sending(server: FakeServer, make_bedrock: Any) -> None:
    history = [*HELLO, AssistantMessage(content=[FunctionCall(id="t1", name="weather", arguments="{}")], source="a")]
    with pytest.raises(InvalidRequestError, match="without results: t1"):
        await make_bedrock().create([*history, UserMessage(content="and?", source="u")])
    assert server.requests == []


async def test_streamed_tool_input_fragments_are_assembled_per_block_index(
    server: FakeServer, make_bedrock: Any
) -> None:
    def delta(index: int, piece: str) -> bytes:
        return bedrock_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}})

    def start(index: int, call_id: str, name: str) -> bytes:
        use = {"toolUseId": call_id, "name": name}
        return bedrock_event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": use}})

    events = [
        bedrock_event("messageStart", {"role": "assistant"}),
        bedrock_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me look."}}),
        bedrock_event("contentBlockStop", {"contentBlockIndex": 0}),
        start(1, "t1", "weather"), delta(1, '{"ci'), delta(1, 'ty": "Pa'), delta(1, 'ris"}'),
        bedrock_event("contentBlockStop", {"contentBlockIndex": 1}),
        start(2, "t2", "clock"), delta(2, '{"city"'), delta(2, ': "Rome", "zone": "CET"}'),
        bedrock_event("contentBlockStop", {"contentBlockIndex": 2}),
        bedrock_event("messageStop", {"stopReason": "tool_use"}),
        bedrock_event("metadata", {"usage": bedrock_usage(20, 9)}),
    ]
    server.add(bedrock_stream(events, split=7))
    _, result = await collect(make_bedrock(), HELLO, tools=TOOLS)
    assert result.finish_reason == "function_calls"
    assert result.content == [
        FunctionCall(id="t1", name="weather", arguments='{"city":"Paris"}'),
        FunctionCall(id="t2", name="clock", arguments='{"city":"Rome","zone":"CET"}'),
    ]
    assert result.thought == "Let me look."


# -- reasoning --


async def test_reasoning_with_its_signature_comes_back_byte_for_byte(server: FakeServer, make_bedrock: Any) -> None:
    """With thinking on, the fake refuses a tool turn that does not start with its signed reasoning."""
    client = make_bedrock(thinking={"type": "enabled", "budget_tokens": 2048})
    for streamed in (False, True):
        server.reset()
        first = (await collect(client, HELLO, tools=TOOLS))[1] if streamed else await client.create(HELLO, tools=TOOLS)
        assert first.thought == "The user wrote: Hello Paris"
        assert isinstance(first.content, list)
        history = [
            *HELLO,
            AssistantMessage(content=first.content, thought=first.thought, source="a"),
            FunctionExecutionResultMessage(
                content=[FunctionExecutionResult(content="sunny", name="weather", call_id=first.content[0].id)]
            ),
        ]
        second = await client.create(history, tools=TOOLS)
        assert second.content == "The tool said: sunny"
        sent = server.requests[-1].json["messages"][1]["content"][0]
        assert sent == reasoning_block("The user wrote: Hello Paris")


async def test_redacted_reasoning_is_kept_for_the_next_turn(server: FakeServer, make_bedrock: Any) -> None:
    response = converse_response(
        [redacted_reasoning_block("b3BhcXVl"), tool_use_content("t1", "weather", {"city": "Oslo"})],
        stop_reason="tool_use",
    )
    server.add(Reply.json(response), bedrock_stream(response))
    client = make_bedrock()
    whole = await client.create(HELLO, tools=TOOLS)
    _, streamed = await collect(client, HELLO, tools=TOOLS)
    for result in (whole, streamed):
        assert isinstance(result.content, list)
        assert result.content[0].provider_fields == {PROVIDER_FIELD: [redacted_reasoning_block("b3BhcXVl")]}


async def test_streamed_reasoning_is_yielded_as_thought_chunks(server: FakeServer, make_bedrock: Any) -> None:
    server.add(bedrock_stream(converse_response([reasoning_block("hmm, let me see"), text_content("Yes.")])))
    deltas, result = await collect(make_bedrock(), HELLO)
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == [ThoughtChunk("hmm,"), ThoughtChunk(" let"),
                                                                  ThoughtChunk(" me"), ThoughtChunk(" see")]
    assert result.thought == "hmm, let me see" and result.content == "Yes."


# -- structured output --


class City(BaseModel):
    name: str
    population: int


async def test_structured_output_through_a_forced_tool(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    result = await client.create(HELLO, json_output=City)
    _, streamed = await collect(client, HELLO, json_output=City)
    for answer in (result, streamed):
        assert isinstance(answer.parsed, City)
        assert answer.content == answer.parsed.model_dump_json()
    config = server.requests[0].json["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": OUTPUT_TOOL}}
    assert config["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["name", "population"]


async def test_structured_output_with_thinking_is_refused_before_sending(server: FakeServer, make_bedrock: Any) -> None:
    with pytest.raises(InvalidRequestError, match="thinking"):
        await make_bedrock(thinking={"type": "enabled", "budget_tokens": 2048}).create(HELLO, json_output=City)
    assert server.requests == []


# -- stop reasons, usage and caching --


@pytest.mark.parametrize(
    ("raw", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
     ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter")],
)
async def test_stop_reasons(server: FakeServer, make_bedrock: Any, raw: str, finish: str) -> None:
    response = converse_response("partial answer", stop_reason=raw)
    server.add(Reply.json(response), bedrock_stream(response))
    client = make_bedrock()
    whole = await client.create(HELLO)
    streamed = (await collect(client, HELLO))[1]
    assert (whole.finish_reason, whole.raw_finish_reason) == (finish, raw)
    assert (streamed.finish_reason, streamed.raw_finish_reason) == (finish, raw)


async def test_a_filtered_answer_without_content_is_a_content_filter_error(
    server: FakeServer, make_bedrock: Any
) -> None:
    server.add(Reply.json(converse_response([], stop_reason="guardrail_intervened")))
    with pytest.raises(ContentFilterError):
        await make_bedrock().create(HELLO)


async def test_a_context_window_exceeded_is_a_context_length_error_with_what_arrived(
    server: FakeServer, make_bedrock: Any
) -> None:
    response = converse_response("cut", stop_reason="model_context_window_exceeded")
    server.add(Reply.json(response), bedrock_stream(response))
    client = make_bedrock()
    with pytest.raises(ContextLengthExceededError) as whole:
        await client.create(HELLO)
    with pytest.raises(ContextLengthExceededError) as streamed:
        await collect(client, HELLO)
    assert whole.value.partial is not None and whole.value.partial.content == "cut"
    assert streamed.value.partial is not None and streamed.value.partial.content == "cut"


async def test_prompt_caching_places_cache_points_and_reads_cache_usage(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock(prompt_caching=True)
    result = await client.create([SystemMessage(content="Be brief."), *HELLO], tools=TOOLS[:1])
    body = server.requests[-1].json
    point = {"cachePoint": {"type": "default"}}
    assert body["system"][-1] == point and body["toolConfig"]["tools"][-1] == point
    assert body["messages"][-1]["content"][-1] == point
    assert result.usage.cached_prompt_tokens and result.usage.cached_prompt_tokens > 0
    usage = bedrock_usage(10, 5, cache_read=100, cache_write=7)
    server.add(Reply.json(converse_response("hi", usage=usage)), bedrock_stream(converse_response("hi", usage=usage)))
    for answer in (await client.create(HELLO), (await collect(client, HELLO))[1]):
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (117, 5)
        assert (answer.usage.cached_prompt_tokens, answer.usage.cache_write_tokens) == (100, 7)


# -- parity --

SCRIPTED = [
    converse_response("Hello there, world"),
    converse_response([text_content("Checking."), tool_use_content("t1", "weather", {"city": "Paris"})],
                      stop_reason="tool_use", usage=bedrock_usage(3, 4, cache_read=2)),
    converse_response([reasoning_block("think"), text_content("Ok."), tool_use_content("t1", "weather", {}),
                       tool_use_content("t2", "clock", {"city": "Rome", "zone": "CET"})], stop_reason="tool_use"),
    converse_response([reasoning_block("only thinking"), text_content("Answer.")], stop_reason="max_tokens"),
    converse_response([tool_use_content("o1", OUTPUT_TOOL, {"name": "Paris", "population": 2})]),
]


@pytest.mark.parametrize("response", SCRIPTED)
async def test_a_stream_assembles_to_the_same_result_as_the_whole_answer(
    server: FakeServer, make_bedrock: Any, response: dict[str, Any]
) -> None:
    server.add(Reply.json(response, headers={"x-amzn-RequestId": "r"}),
               bedrock_stream(response, split=5, headers={"x-amzn-RequestId": "r"}))
    client = make_bedrock()
    whole = await client.create(HELLO, tools=TOOLS)
    _, streamed = await collect(client, HELLO, tools=TOOLS)
    assert streamed == whole


async def test_a_stream_that_ends_after_message_stop_without_metadata_is_whole(
    server: FakeServer, make_bedrock: Any
) -> None:
    server.add(bedrock_stream(converse_response("done"), metadata=False))
    _, result = await collect(make_bedrock(), HELLO)
    assert result.content == "done" and result.usage_reported is False


async def test_a_stream_cut_before_message_stop_is_incomplete(server: FakeServer, make_bedrock: Any) -> None:
    events = bedrock_events(converse_response("never finished"))[:-2]
    server.add(*[bedrock_stream(events)] * 4)
    with pytest.raises(IncompleteStreamError):
        await collect(make_bedrock(max_retries=0), HELLO)


async def test_a_stream_cut_inside_a_prelude_is_incomplete(server: FakeServer, make_bedrock: Any) -> None:
    events = bedrock_events(converse_response("cut"))
    server.add(bedrock_stream([*events[:-1], events[-1][:7]]))
    with pytest.raises(IncompleteStreamError, match="middle of an event"):
        await collect(make_bedrock(max_retries=0), HELLO)


async def test_a_crc_mismatch_mid_stream_is_a_protocol_error_with_what_arrived(
    server: FakeServer, make_bedrock: Any
) -> None:
    events = bedrock_events(converse_response("good words then garbage"))
    bad = bytearray(events[3])
    bad[-1] ^= 0xFF
    server.add(bedrock_stream([*events[:3], bytes(bad), *events[4:]]))
    client = make_bedrock(max_retries=0)
    seen: list[Any] = []
    with pytest.raises(StreamProtocolError) as caught:
        async with client.create_stream(HELLO) as stream:
            async for item in stream:
                seen.append(item)
    assert caught.value.provider == "bedrock"
    assert caught.value.partial is not None and caught.value.partial.content == "good words"


# -- errors --


@pytest.mark.parametrize(
    ("status", "kind", "message", "error", "retried"),
    [
        (429, "ThrottlingException", "Too many requests, please wait", RateLimitError, True),
        (400, "ValidationException", "The model returned an error", BadRequestError, False),
        (400, "ValidationException", "Input is too long for requested model.", ContextLengthExceededError, False),
        (403, "AccessDeniedException", "You don't have access to the model", PermissionDeniedError, False),
        (404, "ResourceNotFoundException", "Model not found", NotFoundError, False),
        (408, "ModelTimeoutException", "Model timed out", RequestTimeoutError, True),
        (503, "ServiceUnavailableException", "Service unavailable", ServerError, True),
        (429, "ModelNotReadyException", "The model is not ready", RateLimitError, True),
    ],
)
async def test_x_amzn_error_type_picks_the_error(
    server: FakeServer,
    make_bedrock: Any,
    sleeps: RecordingSleep,
    status: int,
    kind: str,
    message: str,
    error: type[Exception],
    retried: bool,
) -> None:
    server.add(*[bedrock_error(status, kind, message)] * 2)
    with pytest.raises(error) as caught:
        await make_bedrock(max_retries=1).create(HELLO)
    assert type(caught.value) is error
    assert caught.value.code == kind and message in str(caught.value)  # type: ignore[attr-defined]
    assert len(server.requests) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("throttlingException", RateLimitError), ("validationException", BadRequestError),
     ("modelStreamErrorException", ServerError), ("serviceUnavailableException", ServerError),
     ("internalServerException", ServerError)],
)
async def test_an_exception_frame_is_a_typed_in_band_error_with_what_arrived(
    server: FakeServer, make_bedrock: Any, kind: str, error: type[Exception]
) -> None:
    events = bedrock_events(converse_response("half an answer"))
    server.add(bedrock_stream([*events[:3], bedrock_exception(kind, "it broke")]))
    with pytest.raises(error) as caught:
        await collect(make_bedrock(max_retries=0), HELLO)
    assert type(caught.value) is error
    assert caught.value.in_stream and caught.value.code == kind  # type: ignore[attr-defined]
    assert caught.value.partial is not None and caught.value.partial.content == "half an"  # type: ignore[attr-defined]


async def test_a_throttling_frame_before_any_delta_is_retried(
    server: FakeServer, make_bedrock: Any, sleeps: RecordingSleep
) -> None:
    server.add(bedrock_stream([bedrock_event("messageStart", {"role": "assistant"}),
                               bedrock_exception("throttlingException", "slow down")]))
    _, result = await collect(make_bedrock(), HELLO)
    assert result.content == "You said: Hello Paris" and len(sleeps.waits) == 1


async def test_results_are_equal_across_create_and_stream_for_the_default_model(
    server: FakeServer, make_bedrock: Any
) -> None:
    client = make_bedrock()
    whole = await client.create(HELLO, tools=TOOLS)
    _, streamed = await collect(client, HELLO, tools=TOOLS)
    assert isinstance(whole, CreateResult)
    assert (streamed.content, streamed.usage) == (whole.content, whole.usage)


async def test_the_cost_comes_from_bedrocks_prices_with_cache_reads_and_writes(
    server: FakeServer, make_bedrock: Any
) -> None:
    usage = bedrock_usage(1_000_000, 1_000_000, cache_read=1_000_000, cache_write=1_000_000)
    server.add(Reply.json(converse_response("hi", usage=usage)))
    result = await make_bedrock().create(HELLO)
    assert result.cost is not None and float(result.cost) == 3 + 15 + 0.3 + 3.75


@pytest.mark.parametrize(("model", "family", "window", "vision"), [
    ("amazon.nova-pro-v1:0", "nova", 300_000, True),
    ("us.amazon.nova-lite-v1:0", "nova", 300_000, True),
    ("eu.amazon.nova-micro-v1:0", "nova", 128_000, False),
    ("us.amazon.nova-premier-v1:0", "nova", 1_000_000, True),
    ("global.amazon.nova-2-lite-v1:0", "nova", 1_000_000, True),
    ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", "nova", 300_000, True),
    ("meta.llama3-8b-instruct-v1:0", "llama-3", 8_192, False),
    ("us.meta.llama3-1-70b-instruct-v1:0", "llama-3", 131_072, False),
    ("us.meta.llama3-2-3b-instruct-v1:0", "llama-3", 131_072, False),
    ("us.meta.llama3-2-90b-instruct-v1:0", "llama-3", 131_072, True),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0", "llama-3",
     131_072, False),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", "llama-4", 1_048_576, True),
    ("mistral.mistral-large-2402-v1:0", "mistral", 32_768, False),
    ("mistral.mistral-large-2407-v1:0", "mistral", 131_072, False),
    ("mistral.mixtral-8x7b-instruct-v0:1", "mistral", 32_768, False),
    ("us.mistral.pixtral-large-2502-v1:0", "mistral", 131_072, True),
    ("apac.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet", 200_000, True),
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-4-5-haiku", 200_000, True),
    ("us.deepseek.r1-v1:0", "r1", 131_072, False),
])
async def test_current_bedrock_model_ids_resolve_to_their_registry_entry(
    server: FakeServer, make_bedrock: Any, model: str, family: str, window: int, vision: bool
) -> None:
    """Model ids, inference-profile ids (``us.``, ``eu.``, ``apac.``, ``global.``) and ARNs of the models Bedrock
    serves through Converse, with no UnknownModelWarning (an error under the suite's filterwarnings)."""
    client = make_bedrock(model)
    await client.create(HELLO)
    assert (client.model_info["family"], client.context_window, client.model_info["vision"]) == (
        family, window, vision)
