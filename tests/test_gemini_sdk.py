"""Google's own SDK (``google-genai``) pointed at the fake server parses every scripted Gemini reply, streamed and
not: the fake speaks Gemini as Google does. Skipped where the SDK is not installed (it is in the ``dev`` extra)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from modelport.testing import (
    FakeServer,
    Reply,
    gemini_blocked,
    gemini_call_part,
    gemini_error,
    gemini_response,
    gemini_stream,
    gemini_text_part,
    gemini_usage,
)

genai = pytest.importorskip("google.genai")
types = pytest.importorskip("google.genai.types")
errors = pytest.importorskip("google.genai.errors")

MODEL = "gemini-2.5-flash"

SCRIPTED = {
    "text": gemini_response("Hello there, how are you today?"),
    "signed tool turn": gemini_response(
        [
            gemini_text_part("Let me think.", thought=True),
            gemini_text_part("Checking.", signature="dGV4dC1zaWc="),
            gemini_call_part("weather", {"city": "Paris"}, signature="c2lnLTE="),
            gemini_call_part("weather", {"city": "Oslo"}, call_id="fc-2"),
        ],
        usage=gemini_usage(20, 10, thoughts=7, cached=4, tool_use=2),
    ),
    "max tokens": gemini_response("cut short", finish_reason="MAX_TOKENS"),
    "safety": gemini_response([], finish_reason="SAFETY"),
    "malformed call": gemini_response("odd", finish_reason="MALFORMED_FUNCTION_CALL"),
}


@pytest.fixture
def sdk(server: FakeServer) -> Iterator[Any]:
    root = server.base_url.removesuffix("/v1")
    client = genai.Client(api_key="AIza-sdk-test", http_options=types.HttpOptions(base_url=root))
    yield client
    client.close()


def _parts(response: Any) -> list[Any]:
    return list(response.candidates[0].content.parts or []) if response.candidates else []


@pytest.mark.parametrize("name", list(SCRIPTED))
def test_the_sdk_parses_every_scripted_reply_whole_and_streamed(server: FakeServer, sdk: Any, name: str) -> None:
    scripted = SCRIPTED[name]
    server.add(Reply.json(scripted), gemini_stream(scripted))
    whole = sdk.models.generate_content(model=MODEL, contents="hi")
    frames = list(sdk.models.generate_content_stream(model=MODEL, contents="hi"))
    expected = scripted["candidates"][0]
    assert whole.candidates[0].finish_reason.value == expected["finishReason"]
    assert frames[-1].candidates[0].finish_reason.value == expected["finishReason"]
    streamed_parts = [part for frame in frames for part in _parts(frame)]
    for parts in (_parts(whole), streamed_parts):
        calls = [p.function_call for p in parts if p.function_call]
        assert [c.args for c in calls] == [p["functionCall"]["args"] for p in expected["content"]["parts"]
                                           if "functionCall" in p]
        signatures = [base64.b64encode(p.thought_signature).decode() for p in parts if p.thought_signature]
        assert signatures == [p["thoughtSignature"] for p in expected["content"]["parts"] if "thoughtSignature" in p]
        text = "".join(p.text for p in parts if p.text and not p.thought)
        assert text == "".join(p.get("text", "") for p in expected["content"]["parts"] if not p.get("thought"))
    usage = scripted["usageMetadata"]
    assert whole.usage_metadata.prompt_token_count == usage["promptTokenCount"]
    assert frames[-1].usage_metadata.candidates_token_count == usage.get("candidatesTokenCount")


def test_the_sdk_reads_a_blocked_prompt(server: FakeServer, sdk: Any) -> None:
    server.add(Reply.json(gemini_blocked("PROHIBITED_CONTENT")))
    response = sdk.models.generate_content(model=MODEL, contents="hi")
    assert not response.candidates
    assert response.prompt_feedback.block_reason.value == "PROHIBITED_CONTENT"


def test_the_sdk_reads_google_s_error_envelope(server: FakeServer, sdk: Any) -> None:
    server.add(Reply.json(gemini_error(429, "RESOURCE_EXHAUSTED", "slow down", retry_delay="7s"), status=429))
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents="hi", config=types.GenerateContentConfig(
            http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))))
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"


def test_the_default_model_calls_functions_for_the_sdk(server: FakeServer, sdk: Any) -> None:
    weather = types.FunctionDeclaration(
        name="weather",
        description="The weather in a city.",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather])])
    response = sdk.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    call = response.function_calls[0]
    assert (call.name, call.args) == ("weather", {"city": "Paris"})
    assert _parts(response)[0].thought_signature
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        response.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(name="weather",
                                                                           response={"result": "sunny"})]),
    ]
    answer = sdk.models.generate_content(model=MODEL, contents=history, config=config)
    assert answer.text == "The tool said: sunny"


def test_the_default_model_answers_json_schema_for_the_sdk(server: FakeServer, sdk: Any) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
              "required": ["name", "size"]}
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    response = sdk.models.generate_content(model=MODEL, contents="A city like Paris", config=config)
    assert set(response.parsed) == {"name", "size"}


def test_the_default_model_thinks_for_the_sdk(server: FakeServer, sdk: Any) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True,
                                                                               thinking_budget=128))
    frames = list(sdk.models.generate_content_stream(model=MODEL, contents="Hello there", config=config))
    parts = [part for frame in frames for part in _parts(frame)]
    assert "".join(p.text for p in parts if p.thought) == "The user wrote: Hello there"
    assert "".join(p.text for p in parts if not p.thought) == "You said: Hello there"
    assert frames[-1].usage_metadata.thoughts_token_count == 5


# google-genai before 3.0 (what a pydantic capped at 2.12.0, as camel-ai's is, resolves to) lists Vertex models
# through pydantic's deprecated BaseModel.copy: the SDK's own warning, not modelport's.
@pytest.mark.filterwarnings("ignore:The `copy` method is deprecated:DeprecationWarning")
def test_the_sdk_lists_vertex_publisher_models_from_the_fake(server: FakeServer) -> None:
    credentials = pytest.importorskip("google.oauth2.credentials")
    root = server.base_url.removesuffix("/v1")
    client = genai.Client(
        vertexai=True,
        project="my-proj",
        location="us-central1",
        credentials=credentials.Credentials(token="ya29.sdk-test"),
        http_options=types.HttpOptions(base_url=root),
    )
    try:
        names = [model.name for model in client.models.list(config={"page_size": 2})]
    finally:
        client.close()
    listed = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview")
    assert names == [f"publishers/google/models/{model}" for model in listed]
    assert {r.path for r in server.requests} == {"/v1beta1/publishers/google/models"}
