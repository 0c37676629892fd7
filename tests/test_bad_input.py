"""Bad input fails properly: an ``InvalidRequestError`` (a ``ValueError``) naming the field, before anything is sent.

Two halves:

- a catalogue of bad calls, each run through ``create`` and ``create_stream`` (the stream consumed), asserting the
  typed error, the field named in its message and ``server.requests == []``. Bad objects are built inside the test
  (``build`` is a factory), so a ``ValueError`` raised while building one (pydantic or modelport refusing it at
  construction) counts as the refusal too; a bad client argument may be refused by the constructor instead.
- a hypothesis property over the public inputs: every call either raises ``InvalidRequestError`` with no request
  recorded, or sends exactly one request that is valid JSON with no NaN/Infinity in it (orjson would write those as
  ``null``) and ends with a ``CreateResult`` or an ``APIError`` that came from the server's answer. Nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import modelport as mp
from modelport import (
    AssistantMessage,
    CancellationToken,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    InvalidRequestError,
    OpenAIChatCompletionClient,
    RetryPolicy,
    SystemMessage,
    UserMessage,
)
from modelport.providers.openai._request import CREATE_ARGUMENTS
from modelport.testing import FakeServer, RecordedRequest

API_KEY = "sk-test-bad-input-0123456789"
NAN = float("nan")
INF = float("inf")
HUGE = 2**70
PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                        "000002000001e221bc330000000049454e44ae426082")
PNG_B64 = base64.b64encode(PNG_1x1).decode("ascii")
GPT_4O_INFO: dict[str, Any] = {
    "vision": True,
    "function_calling": True,
    "json_output": True,
    "structured_output": True,
    "family": "gpt-4o",
    "multiple_system_messages": True,
    "context_window": 128000,
    "reasoning": False,
}


def get_weather(city: str) -> str:
    return f"sunny in {city}"


def get_time(zone: str) -> str:
    return "noon"


WEATHER = FunctionTool(get_weather, "Get the weather for a city.")
TIME = FunctionTool(get_time, "Get the time in a zone.")


class Answer(BaseModel):
    text: str


class SurrogateDoc(BaseModel):
    text: str = Field(description="a lone surrogate: \ud800")


class NanExample(BaseModel):
    value: float = Field(json_schema_extra={"examples": [float("nan")]})


# -- running one call --------------------------------------------------------------------------------------------


def new_client(base_url: str, model: str = "gpt-4o", **kwargs: Any) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model=model, base_url=base_url, api_key=API_KEY, timeout=30.0,
                                      retry_policy=RetryPolicy(max_retries=0), **kwargs)


@dataclass
class Outcome:
    """How one call went. ``stage`` is where it stopped: ``build`` (making the bad objects), ``client`` (the
    constructor), ``call`` (create / create_stream) or ``done``."""

    stage: str
    error: Exception | None = None
    result: Any = None
    fingerprint: Any = None

    def describe(self) -> str:
        if self.error is None:
            return f"no error, returned {type(self.result).__name__}"
        return f"{type(self.error).__name__} at {self.stage}: {str(self.error)[:300]!r}"


async def _consume(stream: Any) -> Any:
    last = None
    async with stream:
        async for item in stream:
            last = item
    return last


async def _settle(before: set[asyncio.Task[Any]]) -> None:
    """Let tasks the call left behind run to their end (a request sent after the call raised is still sent), then
    retrieve their outcome so nothing is logged as never retrieved."""
    leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
    if leftover:
        _, pending = await asyncio.wait(leftover, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)


async def run_call(base_url: str, build: Callable[[], dict[str, Any]], stream: bool, *,
                   fingerprint: bool = False) -> Outcome:
    before = asyncio.all_tasks()
    client: OpenAIChatCompletionClient | None = None
    outcome = Outcome("build")
    spec: dict[str, Any] = {}
    messages: Any = None
    try:
        spec = build()
        outcome.stage = "client"
        client = new_client(base_url, **spec.pop("client", {}))
        outcome.stage = "call"
        messages = spec.pop("messages") if "messages" in spec else [UserMessage(content="Hello")]
        if stream:
            outcome.result = await _consume(client.create_stream(messages, **spec))
        else:
            outcome.result = await client.create(messages, **spec)
        outcome.stage = "done"
    except Exception as exc:
        outcome.error = exc
    finally:
        await _settle(before)
        if client is not None:
            if fingerprint and outcome.stage in ("call", "done") and (
                outcome.error is None or isinstance(outcome.error, (mp.APIError, mp.OutputParseError))
            ):
                outcome.fingerprint = _fingerprint(client, messages, spec)
            await client.close()
    return outcome


def _fingerprint(client: OpenAIChatCompletionClient, messages: Any, spec: dict[str, Any]) -> Any:
    """The body ``create`` sends, before orjson encodes it (where a NaN is still a NaN), or what raised instead."""
    kwargs = {k: v for k, v in spec.items() if k != "cancellation_token"}
    try:
        return client.request_fingerprint(messages, **kwargs)
    except Exception as exc:
        return exc


# -- the catalogue -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    names: tuple[str, ...]
    """The error message must contain one of these (the offending field)."""
    build: Callable[[], dict[str, Any]]


def case(id: str, names: str | tuple[str, ...], build: Callable[[], dict[str, Any]]) -> Any:
    return pytest.param(Case(id, (names,) if isinstance(names, str) else names, build), id=id)


def hello() -> list[Any]:
    return [UserMessage(content="Hello")]


def exchange(call: Any = None, result: Any = None, thought: str | None = None) -> list[Any]:
    """A user turn, an assistant turn calling ``get_weather`` and the tool's result: messages[1] is the call,
    messages[2] the result."""
    call = call if call is not None else FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    result = result if result is not None else FunctionExecutionResult(content="sunny", name="get_weather",
                                                                       call_id="call_1")
    # pydantic does not revalidate model instances, so calls and results made with model_construct stay as they are
    return [UserMessage(content="Weather in Paris?"), AssistantMessage(content=[call], thought=thought),
            FunctionExecutionResultMessage(content=[result])]


def with_image(make_image: Callable[[], Any]) -> dict[str, Any]:
    return {"messages": [UserMessage(content=["what is this?", make_image()])]}


def schema_tool(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "get_weather", **fields}]


def object_params(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def self_referencing_parameters() -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    schema["properties"]["child"] = schema
    return schema


def recursive_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    return value


def args(**create_args: Any) -> dict[str, Any]:
    return {"extra_create_args": create_args}


def client_args(**kwargs: Any) -> dict[str, Any]:
    return {"client": kwargs}


IMAGE = "messages[0].content[1]"

MESSAGE_CASES = [
    case("messages-int", "messages", lambda: {"messages": 123}),
    case("messages-str", "messages", lambda: {"messages": "Hello"}),
    case("messages-dict", "messages", lambda: {"messages": {"role": "user", "content": "Hello"}}),
    case("messages-none", "messages", lambda: {"messages": None}),
    case("messages-empty", "messages", lambda: {"messages": []}),
    case("messages-bare-message", "messages", lambda: {"messages": UserMessage(content="Hello")}),
    case("messages-none-entry", "messages[0]", lambda: {"messages": [None]}),
    case("messages-int-entry", "messages[1]", lambda: {"messages": [*hello(), 5]}),
    case("messages-str-entry", "messages[0]", lambda: {"messages": ["Hello"]}),
    case("messages-dict-unknown-role", "messages[0]", lambda: {"messages": [{"role": "wizard", "content": "Hello"}]}),
    case("messages-nested-list", "messages[0]", lambda: {"messages": [hello()]}),
    case("user-content-int", "messages[0]", lambda: {"messages": [UserMessage.model_construct(content=5)]}),
    case("user-content-none", "messages[0]", lambda: {"messages": [UserMessage.model_construct(content=None)]}),
    case("user-content-dict", "messages[0]",
         lambda: {"messages": [UserMessage.model_construct(content={"text": "Hello"})]}),
    case("user-content-part-int", "messages[0].content[1]",
         lambda: {"messages": [UserMessage.model_construct(content=["Hello", 5])]}),
    case("user-content-part-bytes", "messages[0].content[0]",
         lambda: {"messages": [UserMessage.model_construct(content=[b"Hello"])]}),
    case("user-source-int", "messages[0]",
         lambda: {"messages": [UserMessage.model_construct(content="Hello", source=5)]}),
    case("system-content-int", "messages[0]",
         lambda: {"messages": [SystemMessage.model_construct(content=5), *hello()]}),
    case("system-content-none", "messages[0]",
         lambda: {"messages": [SystemMessage.model_construct(content=None), *hello()]}),
    case("assistant-content-int", "messages[1]",
         lambda: {"messages": [*hello(), AssistantMessage.model_construct(content=5)]}),
    case("assistant-content-list-of-str", "messages[1]",
         lambda: {"messages": [*hello(), AssistantMessage.model_construct(content=["Hi"])]}),
    case("assistant-thought-int", "messages[1]",
         lambda: {"messages": [*hello(), AssistantMessage.model_construct(
             content=[FunctionCall(id="call_1", name="get_weather", arguments="{}")], thought=5),
             FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="sunny", name="get_weather",
                                                                             call_id="call_1")])]}),
    case("tool-call-arguments-int", "messages[1]",
         lambda: {"messages": exchange(FunctionCall.model_construct(id="call_1", name="get_weather", arguments=5))}),
    case("tool-call-id-none", ("messages[1]", "messages[2]"),
         lambda: {"messages": exchange(
             FunctionCall.model_construct(id=None, name="get_weather", arguments="{}"),
             FunctionExecutionResult.model_construct(content="sunny", name="get_weather", call_id=None))}),
    case("tool-result-content-int", "messages[2]",
         lambda: {"messages": exchange(result=FunctionExecutionResult.model_construct(
             content=5, name="get_weather", call_id="call_1"))}),
    case("tool-result-message-content-none", "messages[1]",
         lambda: {"messages": [*hello(), FunctionExecutionResultMessage.model_construct(content=None)]}),
]

SURROGATE_CASES = [
    case("surrogate-user-content", "messages[0]", lambda: {"messages": [UserMessage(content="Hel\ud800lo")]}),
    case("surrogate-user-content-part", "messages[0]",
         lambda: {"messages": [UserMessage(content=["Hello", "\udc80"])]}),
    case("surrogate-source", "messages[0]", lambda: {"messages": [UserMessage(content="Hello", source="\ud800")]}),
    case("surrogate-source-with-name-prefixes", "messages[0]",
         lambda: {"messages": [UserMessage(content="Hello", source="ann\ud800")],
                  "client": {"add_name_prefixes": True}}),
    case("surrogate-system-content", "messages[0]",
         lambda: {"messages": [SystemMessage(content="be \udfff brief"), *hello()]}),
    case("surrogate-assistant-content", "messages[1]",
         lambda: {"messages": [*hello(), AssistantMessage(content="Hi \ud83d"), UserMessage(content="again")]}),
    case("surrogate-thought", "messages[1]", lambda: {"messages": exchange(thought="hmm \ud800")}),
    case("surrogate-tool-call-arguments", "messages[1]",
         lambda: {"messages": exchange(FunctionCall(id="call_1", name="get_weather",
                                                    arguments='{"city": "Par\ud800is"}'))}),
    case("surrogate-tool-call-id", ("messages[1]", "messages[2]"),
         lambda: {"messages": exchange(
             FunctionCall(id="call_\ud800", name="get_weather", arguments="{}"),
             FunctionExecutionResult(content="sunny", name="get_weather", call_id="call_\ud800"))}),
    case("surrogate-tool-result-content", "messages[2]",
         lambda: {"messages": exchange(result=FunctionExecutionResult(content="sun\udc00ny", name="get_weather",
                                                                      call_id="call_1"))}),
    case("surrogate-tool-description", "tools[0]",
         lambda: {"tools": schema_tool(description="weather \ud800", parameters=object_params())}),
    case("surrogate-tool-parameters", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(**{"ci\ud800ty": {"type": "string"}}))}),
    case("surrogate-extra-body-value", "extra_body", lambda: args(extra_body={"top_k": "\ud800"})),
    case("surrogate-extra-body-key", "extra_body", lambda: args(extra_body={"top_\ud800k": 1})),
    case("surrogate-user-argument", "user", lambda: args(user="\ud800")),
    case("surrogate-stop", "stop", lambda: args(stop=["\ud800"])),
    case("surrogate-model", "model", lambda: client_args(model="gpt-4o-\ud800", model_info=dict(GPT_4O_INFO))),
    case("surrogate-json-output-schema", "json_output", lambda: {"json_output": SurrogateDoc}),
]

TOOL_CASES = [
    case("tools-dict", "tools", lambda: {"tools": {"name": "get_weather", "parameters": object_params()}}),
    case("tools-str", "tools", lambda: {"tools": "get_weather"}),
    case("tools-int", "tools", lambda: {"tools": 5}),
    case("tools-list-none", "tools[0]", lambda: {"tools": [None]}),
    case("tools-list-int", "tools[0]", lambda: {"tools": [5]}),
    case("tools-list-str", "tools[0]", lambda: {"tools": ["get_weather"]}),
    case("tools-list-object", "tools[1]", lambda: {"tools": [WEATHER, object()]}),
    case("tools-bad-name", "tools[0]", lambda: {"tools": [{"name": "get weather"}]}),
    case("tools-missing-name", "tools[0]", lambda: {"tools": [{"description": "no name"}]}),
    case("tools-name-int", "tools[0]", lambda: {"tools": [{"name": 5}]}),
    case("tools-duplicate-name", "tools[1]", lambda: {"tools": [WEATHER, {"name": "get_weather"}]}),
    case("tools-parameters-str", "tools[0]", lambda: {"tools": schema_tool(parameters="city: str")}),
    case("tools-parameters-list", "tools[0]", lambda: {"tools": schema_tool(parameters=[{"type": "object"}])}),
    case("tools-parameters-int", "tools[0]", lambda: {"tools": schema_tool(parameters=5)}),
    case("tools-strict-parameters-str", "tools[0]",
         lambda: {"tools": schema_tool(parameters="city: str", strict=True)}),
    case("tools-parameters-self-reference", "tools[0]",
         lambda: {"tools": schema_tool(parameters=self_referencing_parameters())}),
    case("tools-strict-parameters-self-reference", "tools[0]",
         lambda: {"tools": schema_tool(parameters=self_referencing_parameters(), strict=True)}),
    case("tools-parameters-set", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(city={"enum": {"Paris", "Rome"}}))}),
    case("tools-parameters-bytes", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(city={"type": b"string"}))}),
    case("tools-parameters-nan", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(n={"type": "number", "maximum": NAN}))}),
    case("tools-parameters-inf", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(n={"type": "number", "minimum": -INF}))}),
    case("tools-parameters-huge-int", "tools[0]",
         lambda: {"tools": schema_tool(parameters=object_params(n={"type": "integer", "maximum": HUGE}))}),
    case("tools-parameters-non-str-key", "tools[0]",
         lambda: {"tools": schema_tool(parameters={"type": "object", "properties": {1: {"type": "string"}}})}),
    case("tools-description-int", "tools[0]", lambda: {"tools": schema_tool(description=5)}),
]

TOOL_CHOICE_CASES = [
    case("tool_choice-unknown-name", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": "get_time"}),
    case("tool_choice-unknown-name-dict", "tool_choice",
         lambda: {"tools": [WEATHER], "tool_choice": {"name": "get_time"}}),
    case("tool_choice-unlisted-tool", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": TIME}),
    case("tool_choice-int", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": 5}),
    case("tool_choice-list", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": ["auto"]}),
    case("tool_choice-name-int", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": {"name": 5}}),
    case("tool_choice-surrogate", "tool_choice", lambda: {"tools": [WEATHER], "tool_choice": "\ud800"}),
    case("tool_choice-required-without-tools", "tool_choice", lambda: {"tool_choice": "required"}),
    case("tool_choice-tool-without-tools", "tool_choice", lambda: {"tool_choice": WEATHER}),
]

JSON_OUTPUT_CASES = [
    case("json_output-BaseModel", "json_output", lambda: {"json_output": BaseModel}),
    case("json_output-non-model-class", "json_output", lambda: {"json_output": dict}),
    case("json_output-instance", "json_output", lambda: {"json_output": Answer(text="x")}),
    case("json_output-str", "json_output", lambda: {"json_output": "json"}),
    case("json_output-int", "json_output", lambda: {"json_output": 1}),
    case("json_output-nan-in-schema", "json_output", lambda: {"json_output": NanExample}),
]

CREATE_ARG_CASES = [
    case("max_tokens-huge", "max_tokens", lambda: args(max_tokens=HUGE)),
    case("max_tokens-negative", "max_tokens", lambda: args(max_tokens=-5)),
    case("max_tokens-zero", "max_tokens", lambda: args(max_tokens=0)),
    case("max_tokens-float", "max_tokens", lambda: args(max_tokens=1.5)),
    case("max_tokens-bool", "max_tokens", lambda: args(max_tokens=True)),
    case("max_tokens-str", "max_tokens", lambda: args(max_tokens="10")),
    case("temperature-nan", "temperature", lambda: args(temperature=NAN)),
    case("temperature-inf", "temperature", lambda: args(temperature=INF)),
    case("temperature-negative", "temperature", lambda: args(temperature=-1)),
    case("temperature-str", "temperature", lambda: args(temperature="hot")),
    case("top_p-5", "top_p", lambda: args(top_p=5)),
    case("top_p-nan", "top_p", lambda: args(top_p=NAN)),
    case("seed-huge", "seed", lambda: args(seed=HUGE)),
    case("stop-int", "stop", lambda: args(stop=5)),
    case("stop-list-int", "stop", lambda: args(stop=[1])),
    case("frequency_penalty-nan", "frequency_penalty", lambda: args(frequency_penalty=NAN)),
    case("presence_penalty-inf", "presence_penalty", lambda: args(presence_penalty=-INF)),
    case("logit_bias-nan", "logit_bias", lambda: args(logit_bias={"50256": NAN})),
    case("metadata-bytes", "metadata", lambda: args(metadata={"run": b"42"})),
    case("extra_body-set", "extra_body", lambda: args(extra_body={"top_k": {1, 2}})),
    case("extra_body-bytes", "extra_body", lambda: args(extra_body={"top_k": b"20"})),
    case("extra_body-nan", "extra_body", lambda: args(extra_body={"repetition_penalty": NAN})),
    case("extra_body-huge-int", "extra_body", lambda: args(extra_body={"top_k": HUGE})),
    case("extra_body-non-str-key", "extra_body", lambda: args(extra_body={1: "x"})),
    case("extra_body-recursive", "extra_body", lambda: args(extra_body=recursive_dict())),
]

CLIENT_ARG_CASES = [
    case("client-max_tokens-huge", "max_tokens", lambda: client_args(max_tokens=HUGE)),
    case("client-max_tokens-negative", "max_tokens", lambda: client_args(max_tokens=-5)),
    case("client-max_tokens-str", "max_tokens", lambda: client_args(max_tokens="10")),
    case("client-temperature-nan", "temperature", lambda: client_args(temperature=NAN)),
    case("client-temperature-str", "temperature", lambda: client_args(temperature="hot")),
    case("client-top_p-5", "top_p", lambda: client_args(top_p=5)),
    case("client-seed-huge", "seed", lambda: client_args(seed=HUGE)),
    case("client-stop-int", "stop", lambda: client_args(stop=5)),
    case("client-extra_body-set", "extra_body", lambda: client_args(extra_body={"top_k": {1, 2}})),
    case("client-extra_body-nan", "extra_body", lambda: client_args(extra_body={"repetition_penalty": NAN})),
    case("client-extra_body-surrogate", "extra_body", lambda: client_args(extra_body={"top_k": "\ud800"})),
]

IMAGE_CASES = [
    case("image-invalid-base64", (IMAGE, "data"), lambda: with_image(lambda: Image(data="not base64!!"))),
    case("image-empty", (IMAGE, "data", "url"), lambda: with_image(lambda: Image())),
    case("image-javascript-url", (IMAGE, "url"), lambda: with_image(lambda: Image(url="javascript:alert(1)"))),
    case("image-empty-url", (IMAGE, "url"), lambda: with_image(lambda: Image(url=""))),
    case("image-ftp-url", (IMAGE, "url"), lambda: with_image(lambda: Image(url="ftp://x"))),
    case("image-invalid-data-url", (IMAGE, "url"),
         lambda: with_image(lambda: Image(url="data:image/png;base64,not base64!!"))),
    case("image-media-type-not-image", (IMAGE, "media_type"),
         lambda: with_image(lambda: Image(data=PNG_B64, media_type="text/html"))),
    case("image-detail-invalid", (IMAGE, "detail"),
         lambda: with_image(lambda: Image.model_construct(data=PNG_B64, detail="ultra"))),
]

CANCELLATION_CASES = [
    case("cancellation_token-str", "cancellation_token", lambda: {"cancellation_token": "abc"}),
    case("cancellation_token-int", "cancellation_token", lambda: {"cancellation_token": 5}),
    case("cancellation_token-object", "cancellation_token", lambda: {"cancellation_token": object()}),
    case("cancellation_token-class", "cancellation_token", lambda: {"cancellation_token": CancellationToken}),
]

CASES = [*MESSAGE_CASES, *SURROGATE_CASES, *TOOL_CASES, *TOOL_CHOICE_CASES, *JSON_OUTPUT_CASES, *CREATE_ARG_CASES,
         *CLIENT_ARG_CASES, *IMAGE_CASES, *CANCELLATION_CASES]


def test_catalogue_ids_are_distinct() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("case", CASES)
async def test_bad_input_is_refused_before_sending(server: FakeServer, case: Case, stream: bool) -> None:
    outcome = await run_call(server.base_url, case.build, stream)
    sent = len(server.requests)
    what = f"{case.id} via {'create_stream' if stream else 'create'}: {outcome.describe()}; {sent} request(s) sent"
    error = outcome.error
    assert error is not None, f"nothing was raised: {what}"
    if outcome.stage == "build":
        assert isinstance(error, ValueError), f"a bad object must be refused with a ValueError: {what}"
    else:
        assert isinstance(error, InvalidRequestError), f"expected InvalidRequestError: {what}"
    assert any(name in str(error) for name in case.names), f"the message must name {' or '.join(case.names)}: {what}"
    assert sent == 0, f"nothing may be sent for bad input: {what}"


# -- the property ------------------------------------------------------------------------------------------------


@dataclass
class Make:
    """A recipe for an object, built inside the test so that a constructor refusing bad input is part of the run."""

    name: str
    factory: Callable[..., Any]
    kwargs: dict[str, Any]

    def build(self) -> Any:
        return self.factory(**{key: realize(value) for key, value in self.kwargs.items()})

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


def realize(value: Any) -> Any:
    if isinstance(value, Make):
        return value.build()
    if type(value) is list:
        return [realize(item) for item in value]
    return value


def make(name: str, factory: Callable[..., Any], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Make]:
    return st.fixed_dictionaries(fields).map(lambda kwargs: Make(name, factory, kwargs))


@dataclass
class CallInputs:
    messages: Any
    tools: Any
    tool_choice: Any
    json_output: Any
    extra_create_args: Any
    cancellation_token: Any
    client_args: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    def build(self) -> dict[str, Any]:
        return {
            "messages": realize(self.messages),
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "json_output": self.json_output,
            "extra_create_args": self.extra_create_args,
            "cancellation_token": self.cancellation_token,
            "client": dict(self.client_args),
        }


# Strategies. Each input has a valid strategy and an "any" strategy that mixes valid and invalid values; a drawn call
# takes up to two of its inputs from the "any" side, so most calls hold one problem at a time (not masked by another
# refusal) and about a third are wholly valid (and must go through).

surrogates = st.characters(categories=["Cs"])
plain_texts = st.one_of(st.sampled_from(["Hello", "What is the weather in Paris?", ""]), st.text(max_size=8))
texts = st.one_of(plain_texts, st.text(st.one_of(st.characters(), surrogates), min_size=1, max_size=8))
valid_names = st.sampled_from(["get_weather", "f", "lookup-2"])
names = st.one_of(valid_names, texts)
numbers = st.one_of(
    st.integers(-5, 100),
    st.integers(min_value=2**63 - 1, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) - 1),
    st.floats(),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, texts, st.binary(max_size=3),
                   st.sets(st.integers(0, 3), max_size=2))
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(texts, st.integers(0, 3)), children, max_size=3),
    ),
    max_leaves=6,
)

# messages
valid_images = st.sampled_from([
    Make("Image.from_bytes", Image.from_bytes, {"data": PNG_1x1}),
    Make("Image", Image, {"data": PNG_B64}),
    Make("Image", Image, {"url": "https://example.com/cat.png", "detail": "low"}),
])
any_images = st.one_of(
    valid_images,
    make("Image", Image, data=texts),
    make("Image", Image, url=st.one_of(st.sampled_from(
        ["", "javascript:alert(1)", "ftp://x", "data:image/png;base64,!!", "data:text/html,<b>"]), texts)),
    st.just(Make("Image", Image, {})),
    make("Image.model_construct", Image.model_construct, data=values, url=values, detail=values),
)


def single_messages(text: st.SearchStrategy[str], images: st.SearchStrategy[Make]) -> st.SearchStrategy[Make]:
    return st.one_of(
        make("SystemMessage", SystemMessage, content=text),
        make("UserMessage", UserMessage, content=text, source=st.one_of(st.just("user"), text)),
        make("UserMessage", UserMessage, content=st.lists(st.one_of(text, images), min_size=1, max_size=3)),
        make("AssistantMessage", AssistantMessage, content=text),
    )


any_single_messages = st.one_of(
    single_messages(texts, any_images),
    make("UserMessage.model_construct", UserMessage.model_construct, content=values),
    make("SystemMessage.model_construct", SystemMessage.model_construct, content=values),
    make("AssistantMessage.model_construct", AssistantMessage.model_construct, content=values),
    st.one_of(st.none(), st.integers(), texts, st.dictionaries(texts, texts, max_size=2)),
)


@st.composite
def exchanges(draw: st.DrawFn, valid: bool) -> list[Any]:
    """An assistant turn with tool calls and the message answering them (with ``valid=False``, calls sometimes
    built with ``model_construct`` and any values)."""
    text = plain_texts if valid else texts
    calls = draw(st.lists(
        st.tuples(st.sampled_from(["call_1", "call_2"]) if valid else st.one_of(st.sampled_from(["call_1"]), texts),
                  valid_names if valid else names,
                  st.one_of(st.sampled_from(["{}", '{"city": "Paris"}']), text)),
        min_size=1, max_size=2, unique_by=lambda call: call[0]))
    constructed = not valid and draw(st.booleans())
    factory = ("FunctionCall.model_construct", FunctionCall.model_construct) if constructed else (
        "FunctionCall", FunctionCall)
    made = [Make(*factory, {"id": id, "name": name, "arguments": draw(values) if constructed else arguments})
            for id, name, arguments in calls]
    result_factory = ("FunctionExecutionResult.model_construct", FunctionExecutionResult.model_construct) if (
        constructed) else ("FunctionExecutionResult", FunctionExecutionResult)
    results = [Make(*result_factory, {"content": draw(values if constructed else text), "name": name, "call_id": id})
               for id, name, _ in calls]
    thought = draw(st.one_of(st.none(), text))
    return [Make("AssistantMessage", AssistantMessage, {"content": made, "thought": thought}),
            Make("FunctionExecutionResultMessage", FunctionExecutionResultMessage, {"content": results})]


def message_lists(singles: st.SearchStrategy[Any], valid: bool) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(singles.map(lambda m: [m]), exchanges(valid)), min_size=1, max_size=3).map(
        lambda groups: [message for group in groups for message in group])


valid_messages = message_lists(single_messages(plain_texts, valid_images), valid=True)
any_messages = st.one_of(
    message_lists(any_single_messages, valid=False),
    st.one_of(st.none(), st.integers(), texts, st.just([]), st.dictionaries(texts, texts, max_size=2)),
)

# tools and tool_choice
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
valid_schemas = st.fixed_dictionaries(
    {"name": valid_names},
    optional={"description": plain_texts, "parameters": st.sampled_from([CITY, {"type": "object", "properties": {}}]),
              "strict": st.booleans()},
)
valid_tools = st.one_of(
    st.just(()),
    st.lists(st.one_of(valid_schemas, st.sampled_from([WEATHER, TIME])), min_size=1, max_size=2,
             unique_by=lambda tool: tool["name"] if isinstance(tool, dict) else tool.name),
)
any_parameters = st.one_of(
    st.none(),
    st.just(CITY),
    numbers.map(lambda n: {"type": "object", "properties": {"n": {"type": "number", "maximum": n}}}),
    leaves.map(lambda v: {"type": "object", "properties": {"x": {"enum": [v]}}}),
    st.builds(self_referencing_parameters),
    values,
)
any_schemas = st.fixed_dictionaries(
    {"name": names},
    optional={"description": st.one_of(texts, values), "parameters": any_parameters, "strict": st.booleans()},
)
any_tools = st.one_of(
    valid_tools,
    st.lists(st.one_of(any_schemas, st.just(WEATHER), st.none(), st.integers(), texts), min_size=1, max_size=2),
    st.one_of(st.none(), any_schemas, texts),
)
valid_tool_choices = st.sampled_from(["auto", None])
any_tool_choices = st.one_of(
    st.sampled_from(["auto", "required", "none", None]),
    names,
    st.fixed_dictionaries({"name": names}),
    st.sampled_from([WEATHER, TIME]),
    values,
)

# json_output
valid_json_outputs = st.sampled_from([None, False, True, Answer])
any_json_outputs = st.one_of(
    valid_json_outputs,
    st.sampled_from([BaseModel, dict, SurrogateDoc, NanExample]),
    st.just(Answer(text="x")),
    texts,
)

# create arguments (per call, and as client constructor keywords)
valid_create_args = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(1, 4096),
    "seed": st.integers(-(2**63), 2**63 - 1),
    "stop": st.one_of(plain_texts, st.lists(plain_texts, max_size=2)),
    "user": plain_texts,
    "presence_penalty": st.floats(-2, 2),
    "logprobs": st.booleans(),
    "metadata": st.dictionaries(plain_texts, plain_texts, max_size=2),
    "extra_body": st.dictionaries(st.sampled_from(["top_k", "min_p", "repetition_penalty"]),
                                  st.one_of(st.integers(0, 50), st.floats(0, 2)), max_size=2),
})
argument_values = st.one_of(
    st.integers(1, 64), st.floats(0, 1), st.sampled_from(["x", "low"]), st.booleans(), values,
    st.sampled_from([NAN, INF, -INF, HUGE, -5, "10"]),
    st.dictionaries(texts, values, max_size=2),
)
any_create_args = st.one_of(
    valid_create_args,
    st.dictionaries(st.sampled_from(sorted(CREATE_ARGUMENTS)), argument_values, min_size=1, max_size=3),
)

# cancellation_token
valid_tokens = st.one_of(st.none(), st.builds(CancellationToken))
any_tokens = st.one_of(valid_tokens, st.sampled_from(["abc", 5, CancellationToken]), st.builds(object))

INPUTS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "messages": (valid_messages, any_messages),
    "tools": (valid_tools, any_tools),
    "tool_choice": (valid_tool_choices, any_tool_choices),
    "json_output": (valid_json_outputs, any_json_outputs),
    "extra_create_args": (valid_create_args, any_create_args),
    "cancellation_token": (valid_tokens, any_tokens),
    "client_args": (valid_create_args, any_create_args),
}


@st.composite
def call_inputs(draw: st.DrawFn) -> CallInputs:
    mixed = draw(st.sets(st.sampled_from(sorted(INPUTS)), max_size=2))
    drawn = {name: draw(any_side if name in mixed else valid_side) for name, (valid_side, any_side) in INPUTS.items()}
    return CallInputs(**drawn, stream=draw(st.booleans()))


SERVER_ANSWER_ERRORS = (mp.APIStatusError, mp.ResponseValidationError, mp.StreamProtocolError,
                        mp.IncompleteStreamError)


def non_finite(value: Any, path: str = "$") -> list[str]:
    """Paths of the NaN and infinite floats in a request body (which orjson writes as ``null``)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in non_finite(item, f"{path}.{key}")]
    if isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in non_finite(item, f"{path}[{i}]")]
    return []


def check_refusal(outcome: Outcome, requests: list[RecordedRequest]) -> None:
    """The call raised something that is not an answer from the server: it must be the typed refusal (a ValueError
    when a bad object could not even be built), with nothing sent."""
    error = outcome.error
    assert error is not None
    typed = isinstance(error, ValueError if outcome.stage == "build" else InvalidRequestError)
    if not typed and requests:
        raise AssertionError(f"{type(error).__name__} (not InvalidRequestError) at {outcome.stage} after sending "
                             f"{len(requests)} request(s): {str(error)[:300]!r}") from error
    if not typed:
        raise AssertionError(f"untyped {type(error).__name__} at {outcome.stage}: {str(error)[:300]!r}") from error
    if requests:
        raise AssertionError(f"{type(error).__name__} was raised, but {len(requests)} request(s) were sent: "
                             f"{str(error)[:300]!r}") from error


def check_sent(outcome: Outcome, requests: list[RecordedRequest]) -> None:
    """The call went through: one request, valid JSON without NaN/Infinity, and an ending decided by the server's
    answer: a CreateResult, an APIError it caused, or (documented) OutputParseError when its text does not validate
    as the json_output model."""
    error = outcome.error
    assert len(requests) == 1, f"expected exactly one request (retries are off), got {len(requests)}"
    for request in requests:
        assert isinstance(orjson.loads(request.body), dict), "the request body is not a JSON object"
    if isinstance(outcome.fingerprint, BaseException):
        raise AssertionError(f"a request was sent, but request_fingerprint raised "
                             f"{type(outcome.fingerprint).__name__}") from outcome.fingerprint
    bad = non_finite(outcome.fingerprint["request"])
    assert not bad, f"a request was sent with non-finite numbers at {bad}; orjson wrote them as null"
    if error is None:
        assert isinstance(outcome.result, CreateResult), f"the call ended with {outcome.result!r}"
    elif isinstance(error, mp.OutputParseError):
        if not isinstance(error.result.content, str):
            raise AssertionError("OutputParseError for an answer of tool calls: the answer held no structured "
                                 f"output to validate: {str(error)[:300]!r}") from error
    elif not isinstance(error, SERVER_ANSWER_ERRORS):
        raise AssertionError(f"{type(error).__name__} did not come from the server's answer: "
                             f"{str(error)[:300]!r}") from error


def check_property(outcome: Outcome, requests: list[RecordedRequest]) -> None:
    error = outcome.error
    if error is None or isinstance(error, (mp.APIError, mp.OutputParseError)):
        check_sent(outcome, requests)
    else:
        check_refusal(outcome, requests)


@pytest.fixture(scope="module")
def property_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# On a failure, hypothesis's pytest plugin imports libcst (to suggest @example patches), which warns about
# mypy_extensions.TypedDict; with filterwarnings=error that warning would turn the failure into an INTERNALERROR that
# ends the whole session. The mark covers the report hook, so the failure is reported as a failure.
@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inputs=call_inputs())
def test_property_typed_refusal_or_a_valid_request(
    fake_server: FakeServer, property_loop: asyncio.AbstractEventLoop, inputs: CallInputs
) -> None:
    fake_server.reset()
    outcome = property_loop.run_until_complete(
        run_call(fake_server.base_url, inputs.build, inputs.stream, fingerprint=True)
    )
    requests = list(fake_server.requests)
    fake_server.reset()
    event(f"{outcome.stage}: {type(outcome.error).__name__ if outcome.error else 'CreateResult'}, "
          f"{len(requests)} request(s)")
    check_property(outcome, requests)
