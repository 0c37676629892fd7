"""The native Gemini client and dialect, over real HTTP against the fake server's Gemini routes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import orjson
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
    RetryPolicy,
    SystemMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport.providers.gemini import GeminiChatCompletionClient
from modelport.providers.gemini.dialect import PARTS_FIELD, SIGNATURE_FIELD
from modelport.testing import (
    FakeServer,
    Reply,
    gemini_blocked,
    gemini_call_part,
    gemini_error,
    gemini_frames,
    gemini_response,
    gemini_stream,
    gemini_text_part,
    gemini_usage,
)

from .conftest import RecordingSleep
from .helpers import collect
from .test_validation import PNG_1x1

PNG_B64 = base64.b64encode(PNG_1x1).decode()

KEY = "AIza-test-SECRET-0123456789"
HELLO = [UserMessage(content="Hello from Paris")]


@pytest.fixture
async def make_gemini(server: FakeServer, sleeps: RecordingSleep) -> AsyncIterator[Any]:
    made: list[GeminiChatCompletionClient] = []

    def make(model: str = "gemini-2.5-flash", **kwargs: Any) -> GeminiChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault(
            "retry_policy", RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps, random=lambda: 0.0)
        )
        client = GeminiChatCompletionClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


WEATHER = FunctionTool(weather, description="The weather in a city.")


# -- the wire: URL, key, body --


async def test_create_posts_generate_content_with_the_key_in_a_header(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini()
    result = await client.create([SystemMessage(content="Be brief."), *HELLO])
    assert result.content == "You said: Hello from Paris"
    assert result.finish_reason == "stop" and result.raw_finish_reason == "STOP"
    request = server.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.query == {}
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY.encode() not in request.path.encode() + orjson.dumps(request.query)
    assert request.json == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello from Paris"}]}],
    }


async def test_stream_reads_stream_generate_content_as_sse(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini()
    deltas, result = await collect(client, HELLO)
    assert "".join(deltas) == result.content == "You said: Hello from Paris"
    assert len(deltas) > 1
    request = server.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == {"alt": ["sse"]}
    assert "key" not in request.query
    assert result.usage.prompt_tokens > 0 and result.usage_reported


async def test_consecutive_turns_are_merged_and_roles_are_user_and_model(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini()
    await client.create(
        [
            UserMessage(content="one"),
            UserMessage(content=["two", Image.from_base64(PNG_B64, "image/png")]),
            AssistantMessage(content="three"),
            AssistantMessage(content="four"),
            UserMessage(content=[Image(url="https://example.com/cat.jpg", media_type="image/jpeg")]),
        ]
    )
    assert server.requests[-1].json["contents"] == [
        {
            "role": "user",
            "parts": [{"text": "one"}, {"text": "two"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}],
        },
        {"role": "model", "parts": [{"text": "three"}, {"text": "four"}]},
        {"role": "user", "parts": [{"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}]},
    ]


async def test_create_arguments_map_onto_generation_config(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini(
        temperature=0.5,
        thinking={"thinking_budget": 512, "include_thoughts": True},
        safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    )
    await client.create(
        HELLO,
        extra_create_args={
            "top_p": 0.9,
            "top_k": 20,
            "max_tokens": 100,
            "stop": "END",
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "cached_content": "cachedContents/abc",
        },
    )
    body = server.requests[-1].json
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 20,
        "maxOutputTokens": 100,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 512, "includeThoughts": True},
    }
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    assert body["cachedContent"] == "cachedContents/abc"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"candidate_count": 2}, "candidate_count"),
        ({"n": 2}, "'n'"),
        ({"temperature": 3}, "temperature"),
        ({"thinking": {"thinking_level": "extreme"}}, "thinking"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
async def test_bad_create_arguments_are_named_before_sending(
    server: FakeServer, make_gemini: Any, args: dict[str, Any], field: str
) -> None:
    client = make_gemini()
    with pytest.raises(mp.InvalidRequestError, match=field):
        await client.create(HELLO, extra_create_args=args)
    assert server.requests == []


# -- tools --


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        ("auto", None),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        (WEATHER, {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}),
    ],
)
async def test_tool_choice_becomes_function_calling_config(
    server: FakeServer, make_gemini: Any, tool_choice: Any, config: Any
) -> None:
    await make_gemini().create(HELLO, tools=[WEATHER], tool_choice=tool_choice)
    body = server.requests[-1].json
    assert body.get("toolConfig") == config
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "weather"
    assert declaration["parametersJsonSchema"]["properties"]["city"]["type"] == "string"


async def test_tool_round_trip_returns_the_thought_signature_byte_for_byte(
    server: FakeServer, make_gemini: Any
) -> None:
    client = make_gemini("gemini-3-pro-preview", model_info=mp.ModelInfo(vision=True, function_calling=True,
                                                                          json_output=True, family="gemini"))
    first = await client.create(HELLO, tools=[WEATHER])
    assert isinstance(first.content, list) and first.finish_reason == "function_calls"
    call = first.content[0]
    assert call.arguments == '{"city":"Paris"}'
    signature = call.provider_fields[SIGNATURE_FIELD]  # type: ignore[index]
    results = FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(call_id=call.id, name=call.name, content="sunny")]
    )
    second = await client.create(
        [*HELLO, AssistantMessage(content=first.content, thought=first.thought), results], tools=[WEATHER],
        tool_choice="none",
    )
    assert second.content == "The tool said: sunny"
    sent = server.requests[-1].json["contents"]
    assert sent[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": signature}],
    }
    assert sent[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "weather", "response": {"result": "sunny"}}}],
    }


async def test_a_gemini_3_call_sent_back_without_its_signature_is_refused_by_the_fake(make_gemini: Any) -> None:
    client = make_gemini("gemini-3-pro-preview", model_info=mp.ModelInfo(vision=True, function_calling=True,
                                                                          json_output=True, family="gemini"))
    call = FunctionCall(id="c1", name="weather", arguments='{"city":"Oslo"}')
    results = FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id="c1", name="weather",
                                                                              content="x")])
    with pytest.raises(mp.BadRequestError, match="thought_signature"):
        await client.create([*HELLO, AssistantMessage(content=[call]), results], tools=[WEATHER])


SIGNED_TURN = gemini_response(
    [
        gemini_text_part("Let me think about the weather.", thought=True),
        gemini_text_part("Checking both cities.", signature="dGV4dC1zaWc="),
        gemini_call_part("weather", {"city": "Paris"}, signature="c2lnLTE=\n+/"),
        gemini_call_part("weather", {"city": "Oslo"}),
    ],
    usage=gemini_usage(20, 10, thoughts=7),
)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_turn_with_thoughts_and_text_goes_back_as_gemini_sent_it(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    server.add(gemini_stream(SIGNED_TURN) if stream else Reply.json(SIGNED_TURN))
    client = make_gemini()
    result = (await collect(client, HELLO, tools=[WEATHER]))[1] if stream else await client.create(
        HELLO, tools=[WEATHER]
    )
    assert isinstance(result.content, list) and [c.arguments for c in result.content] == [
        '{"city":"Paris"}',
        '{"city":"Oslo"}',
    ]
    assert result.thought == "Let me think about the weather.\nChecking both cities."
    assert result.content[0].provider_fields[SIGNATURE_FIELD] == "c2lnLTE=\n+/"  # type: ignore[index]
    results = FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(call_id=c.id, name=c.name, content="ok") for c in result.content]
    )
    await client.create([*HELLO, AssistantMessage(content=result.content, thought=result.thought), results])
    sent = server.requests[-1].json["contents"]
    assert sent[1] == {"role": "model", "parts": SIGNED_TURN["candidates"][0]["content"]["parts"]}
    assert [p["functionResponse"]["name"] for p in sent[2]["parts"]] == ["weather", "weather"]


async def test_call_ids_are_gemini_s_when_given_and_never_sent_back_when_made(
    server: FakeServer, make_gemini: Any
) -> None:
    server.add(Reply.json(gemini_response([gemini_call_part("weather", {"city": "A"}, call_id="fc-1"),
                                           gemini_call_part("weather", {"city": "B"})])))
    client = make_gemini()
    result = await client.create(HELLO, tools=[WEATHER])
    assert isinstance(result.content, list)
    given, made = result.content
    assert given.id == "fc-1" and made.id != given.id and made.id
    results = FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(call_id=c.id, name=c.name, content="ok") for c in result.content]
    )
    await client.create([*HELLO, AssistantMessage(content=result.content), results])
    sent = server.requests[-1].json["contents"]
    assert [p["functionCall"].get("id") for p in sent[1]["parts"]] == ["fc-1", None]
    assert [p["functionResponse"].get("id") for p in sent[2]["parts"]] == ["fc-1", None]


async def test_a_tool_call_without_its_result_is_refused_before_sending(server: FakeServer, make_gemini: Any) -> None:
    call = FunctionCall(id="c1", name="weather", arguments="{}")
    with pytest.raises(mp.InvalidRequestError, match="without results"):
        await make_gemini().create([*HELLO, AssistantMessage(content=[call]), UserMessage(content="and?")])
    assert server.requests == []


# -- structured output --


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("stream", [False, True])
async def test_structured_output_asks_for_json_schema_and_fills_parsed(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    client = make_gemini()
    result = (await collect(client, HELLO, json_output=City))[1] if stream else await client.create(
        HELLO, json_output=City
    )
    assert isinstance(result.parsed, City)
    config = server.requests[-1].json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == City.model_json_schema()


# -- answers: thoughts, finish reasons, usage --


async def test_thought_parts_are_thought_and_stream_as_thought_chunks(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini(thinking={"include_thoughts": True})
    deltas, result = await collect(client, HELLO)
    thoughts = [d for d in deltas if isinstance(d, ThoughtChunk)]
    assert "".join(thoughts) == result.thought == "The user wrote: Hello from Paris"
    assert "".join(d for d in deltas if not isinstance(d, ThoughtChunk)) == result.content
    assert result.usage.reasoning_tokens == 6


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "unknown"),
        ("OTHER", "unknown"),
    ],
)
async def test_finish_reasons_map_and_stay_raw(
    server: FakeServer, make_gemini: Any, reason: str, finish: str
) -> None:
    server.add(Reply.json(gemini_response("partial answer", finish_reason=reason)))
    result = await make_gemini().create(HELLO)
    assert (result.finish_reason, result.raw_finish_reason) == (finish, reason)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_safety_stop_with_no_text_is_a_content_filter_error(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    response = gemini_response([], finish_reason="SAFETY")
    server.add(gemini_stream(response) if stream else Reply.json(response))
    client = make_gemini()
    with pytest.raises(mp.ContentFilterError) as caught:
        await (collect(client, HELLO) if stream else client.create(HELLO))
    assert caught.value.stage == "completion"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_blocked_prompt_with_no_candidates_is_a_content_filter_error(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    server.add(Reply.sse([gemini_blocked("PROHIBITED_CONTENT")], done=False) if stream else
               Reply.json(gemini_blocked("PROHIBITED_CONTENT")))
    client = make_gemini()
    with pytest.raises(mp.ContentFilterError) as caught:
        await (collect(client, HELLO) if stream else client.create(HELLO))
    assert caught.value.stage == "prompt" and caught.value.code == "PROHIBITED_CONTENT"
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_counts_tool_use_prompt_thoughts_and_cached_tokens(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    response = gemini_response("hi", usage=gemini_usage(100, 20, thoughts=30, cached=40, tool_use=5))
    server.add(gemini_stream(response) if stream else Reply.json(response))
    client = make_gemini()
    result = (await collect(client, HELLO))[1] if stream else await client.create(HELLO)
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (105, 50)
    assert (usage.cached_prompt_tokens, usage.reasoning_tokens) == (40, 30)
    assert result.cost is not None and result.cost > 0


# -- parity --

SCRIPTED = [
    gemini_response("Hello there, how are you today?"),
    SIGNED_TURN,
    gemini_response([gemini_text_part("a thought", thought=True), gemini_text_part("answer", signature="c2ln")]),
    gemini_response("cut short", finish_reason="MAX_TOKENS", usage=gemini_usage(5, 2)),
    gemini_response([gemini_call_part("weather", {"city": "Rome"}, signature="eA==")]),
    gemini_response("unusual", finish_reason="MALFORMED_FUNCTION_CALL"),
]


@pytest.mark.parametrize("response", SCRIPTED)
async def test_parity_streamed_and_whole_answers_are_equal(
    server: FakeServer, make_gemini: Any, response: dict[str, Any]
) -> None:
    client = make_gemini()
    server.add(Reply.json(response), gemini_stream(response))
    whole = await client.create(HELLO, tools=[WEATHER])
    deltas, streamed = await collect(client, HELLO, tools=[WEATHER])
    assert streamed.model_dump(exclude={"request_id"}) == whole.model_dump(exclude={"request_id"})
    text = "".join(d for d in deltas if not isinstance(d, ThoughtChunk))
    assert text == (whole.content if isinstance(whole.content, str) else text)


# -- errors --


async def test_retry_delay_is_honoured_as_retry_after(
    server: FakeServer, make_gemini: Any, sleeps: RecordingSleep
) -> None:
    limited = gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                           "billing details.", retry_delay="7s")
    server.add(Reply.json(limited, status=429))
    result = await make_gemini().create(HELLO)
    assert result.content == "You said: Hello from Paris"
    assert sleeps.waits == [7.0]


async def test_a_429_with_retry_info_is_a_rate_limit_with_retry_after(server: FakeServer, make_gemini: Any) -> None:
    server.add(Reply.json(gemini_error(429, "RESOURCE_EXHAUSTED", "quota exceeded", retry_delay="1.5s"), status=429))
    with pytest.raises(mp.RateLimitError) as caught:
        await make_gemini(max_retries=0).create(HELLO)
    error = caught.value
    assert not isinstance(error, mp.QuotaExceededError)
    assert (error.status_code, error.code, error.retry_after) == (429, "RESOURCE_EXHAUSTED", 1.5)


@pytest.mark.parametrize(
    ("status", "envelope", "cls"),
    [
        (400, gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                           reason="API_KEY_INVALID"), mp.AuthenticationError),
        (400, gemini_error(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of "
                           "tokens allowed (1048576)."), mp.ContextLengthExceededError),
        (429, gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                           "billing details."), mp.QuotaExceededError),
        (404, gemini_error(404, "NOT_FOUND", "models/gemini-9 is not found"), mp.NotFoundError),
        (503, gemini_error(503, "UNAVAILABLE", "The model is overloaded."), mp.ServerError),
    ],
)
async def test_google_error_envelopes_map_onto_the_error_tree(
    server: FakeServer, make_gemini: Any, status: int, envelope: dict[str, Any], cls: type[Exception]
) -> None:
    server.add(Reply.json(envelope, status=status))
    with pytest.raises(cls) as caught:
        await make_gemini(max_retries=0).create(HELLO)
    assert type(caught.value) is cls
    assert envelope["error"]["message"] in str(caught.value)
    assert KEY not in repr(caught.value) and KEY not in str(caught.value)


async def test_a_mid_stream_error_is_typed_and_carries_what_arrived(server: FakeServer, make_gemini: Any) -> None:
    frames = gemini_frames(gemini_response("one two three", finish_reason=None))
    server.add(Reply.sse([*frames, gemini_error(503, "UNAVAILABLE", "The model is overloaded.")], done=False))
    with pytest.raises(mp.ServerError) as caught:
        await collect(make_gemini(), HELLO)
    error = caught.value
    assert error.in_stream and error.status_code == 503 and error.code == "UNAVAILABLE"
    assert error.partial is not None and error.partial.content == "one two three"
    assert len(server.requests) == 1  # deltas had reached the caller: not retried


async def test_a_mid_stream_429_before_the_first_delta_is_retried_after_its_delay(
    server: FakeServer, make_gemini: Any, sleeps: RecordingSleep
) -> None:
    limited = gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", retry_delay="3s")
    server.add(Reply.sse([limited], done=False))
    _, result = await collect(make_gemini(), HELLO)
    assert result.content == "You said: Hello from Paris"
    assert len(server.requests) == 2 and sleeps.waits == [3.0]


async def test_an_error_inside_a_200_body_is_typed(server: FakeServer, make_gemini: Any) -> None:
    server.add(Reply.json(gemini_error(500, "INTERNAL", "An internal error has occurred.")))
    with pytest.raises(mp.ServerError):
        await make_gemini(max_retries=0).create(HELLO)


async def test_a_stream_without_a_finish_reason_is_incomplete(server: FakeServer, make_gemini: Any) -> None:
    server.add(gemini_stream(gemini_response("cut off here", finish_reason=None)))
    with pytest.raises(mp.IncompleteStreamError) as caught:
        await collect(make_gemini(max_retries=0), HELLO)
    assert caught.value.partial is not None and caught.value.partial.content == "cut off here"


# -- keys --


async def test_google_api_key_wins_over_gemini_api_key_with_a_warning(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini-0123456789")
    with pytest.warns(UserWarning, match="GOOGLE_API_KEY is used"):
        client = GeminiChatCompletionClient("gemini-2.5-flash")
    assert client._request_headers["x-goog-api-key"] == "AIza-google-0123456789"
    assert "AIza" not in repr(client)
    await client.close()


async def test_a_key_from_the_environment_does_not_go_to_another_server(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini-0123456789")
    client = GeminiChatCompletionClient("gemini-2.5-flash", base_url=server.base_url)
    with pytest.raises(mp.PermissionDeniedError):
        await client.create(HELLO)
    assert "x-goog-api-key" not in server.requests[-1].headers
    await client.close()
    sending = GeminiChatCompletionClient("gemini-2.5-flash", base_url=server.base_url, api_key_env="GEMINI_API_KEY")
    await sending.create(HELLO)
    assert server.requests[-1].headers["x-goog-api-key"] == "AIza-gemini-0123456789"
    await sending.close()


async def test_a_stream_answered_with_a_json_array_of_frames_is_read_whole(
    server: FakeServer, make_gemini: Any
) -> None:
    server.add(Reply.json(SIGNED_TURN), Reply.json(gemini_frames(SIGNED_TURN)))  # frames: alt=sse was lost
    whole = await make_gemini().create(HELLO, tools=[WEATHER])
    _, streamed = await collect(make_gemini(), HELLO, tools=[WEATHER])
    assert streamed.model_dump(exclude={"request_id"}) == whole.model_dump(exclude={"request_id"})
    assert isinstance(streamed.content, list) and len(streamed.content) == 2


class Trip(BaseModel):
    city: City
    note: str | None = None


@pytest.mark.parametrize("stream", [False, True])
async def test_openapi_schemas_for_models_that_take_no_json_schema(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    def plan(trip: Trip) -> str:
        return "ok"

    client = make_gemini(schema_format="openapi")
    await client.create(HELLO, tools=[FunctionTool(plan, description="Plan a trip.")])
    declaration = server.requests[-1].json["tools"][0]["functionDeclarations"][0]
    assert "parametersJsonSchema" not in declaration
    trip = declaration["parameters"]["properties"]["trip"]
    assert trip["type"] == "OBJECT" and "$ref" not in str(declaration)
    assert trip["properties"]["city"]["properties"]["population"]["type"] == "INTEGER"
    assert trip["properties"]["note"] == {"type": "STRING", "nullable": True, "default": None, "title": "Note"}
    result = (await collect(client, HELLO, json_output=City))[1] if stream else await client.create(
        HELLO, json_output=City
    )
    assert isinstance(result.parsed, City)
    config = server.requests[-1].json["generationConfig"]
    assert "responseJsonSchema" not in config and config["responseSchema"]["type"] == "OBJECT"


class Tree(BaseModel):
    name: str
    children: list[Tree] = []


async def test_a_recursive_schema_cannot_be_openapi_and_says_so(server: FakeServer, make_gemini: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="refers to itself"):
        await make_gemini(schema_format="openapi").create(HELLO, json_output=Tree)
    assert server.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_signed_answer_keeps_its_parts_in_provider_metadata(
    server: FakeServer, make_gemini: Any, stream: bool
) -> None:
    response = gemini_response([gemini_text_part("hmm", thought=True), gemini_text_part("Paris.", signature="c2ln")])
    server.add(gemini_stream(response) if stream else Reply.json(response))
    client = make_gemini()
    result = (await collect(client, HELLO))[1] if stream else await client.create(HELLO)
    assert result.content == "Paris." and result.thought == "hmm"
    assert result.provider_metadata == {PARTS_FIELD: response["candidates"][0]["content"]["parts"]}
    server.add(Reply.json(gemini_response("plain")))
    assert (await client.create(HELLO)).provider_metadata is None


GS_IMAGE = "gs://my-bucket/cat.jpg"


async def test_a_gs_image_url_is_sent_as_file_data(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini()
    await client.create([UserMessage(content=["What is this?", Image.from_url(GS_IMAGE)])])
    assert server.requests[-1].json["contents"][0]["parts"][1] == {
        "fileData": {"mimeType": "image/jpeg", "fileUri": GS_IMAGE}
    }
    await client.create([UserMessage(content=[Image(url=GS_IMAGE, media_type="image/webp")])])
    assert server.requests[-1].json["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/webp", "fileUri": GS_IMAGE}}
    ]


async def test_an_image_url_s_type_is_guessed_from_its_file_name(server: FakeServer, make_gemini: Any) -> None:
    client = make_gemini()
    urls = ["https://example.com/cat.jpeg?size=2", "https://example.com/a.webp", "https://example.com/picture"]
    await client.create([UserMessage(content=[Image.from_url(url) for url in urls])])
    sent = [part["fileData"]["mimeType"] for part in server.requests[-1].json["contents"][0]["parts"]]
    assert sent == ["image/jpeg", "image/webp", "image/png"]


async def test_the_other_providers_refuse_a_gs_image_url_before_sending(server: FakeServer) -> None:
    from modelport import AnthropicChatCompletionClient, OllamaChatCompletionClient, OpenAIChatCompletionClient
    from modelport.providers.bedrock import BedrockChatCompletionClient

    clients = [
        OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=KEY),
        AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key=KEY),
        OllamaChatCompletionClient("llama3.2-vision", host=server.base_url),
        BedrockChatCompletionClient(
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            base_url=server.base_url,
            region="us-east-1",
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="secret-example",
        ),
    ]
    messages = [UserMessage(content=["What is this?", Image.from_url(GS_IMAGE)])]
    for client in clients:
        async with client:
            with pytest.raises(mp.InvalidRequestError, match=r"messages\[0\]\.content\[1\]") as caught:
                await client.create(messages)
            assert "URL" in str(caught.value)
    assert server.requests == []


async def test_function_responses_go_in_the_order_of_the_calls(server: FakeServer, make_gemini: Any) -> None:
    """Gemini gives these calls no id, so it tells the two answers apart only by their place."""
    calls = [
        gemini_call_part("weather", {"city": "Paris"}, signature="c2ln"),
        gemini_call_part("weather", {"city": "Rome"}),
    ]
    server.add(Reply.json(gemini_response(calls, finish_reason="STOP")))
    client = make_gemini()
    first = await client.create(HELLO, tools=[WEATHER])
    paris, rome = first.content
    given_backwards = [
        *HELLO,
        AssistantMessage(content=first.content),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id=rome.id, name="w", content="rain")]),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(call_id=paris.id, name="w", content="sun")]),
        UserMessage(content="Where should I go?"),
    ]
    await client.create(given_backwards, tools=[WEATHER])
    answers = server.requests[-1].json["contents"][2]["parts"]
    assert [part["functionResponse"]["response"] for part in answers[:2]] == [{"result": "sun"}, {"result": "rain"}]
    assert answers[2] == {"text": "Where should I go?"}
