"""The fake server's answers in each dialect, over real HTTP.

Point 1: Anthropic replies carry the request id under ``request-id`` (as the Messages API sends it), not OpenAI's
``x-request-id``; the built-in model keeps to a ``json_schema`` format (or a forced output tool) after tool results;
and it answers recursive ``json_output`` models (a tree whose union lists the branch first, an expression, a
discriminated union) with data that validates, in every dialect.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
import pytest
from pydantic import BaseModel, Field

import modelport as mp
from modelport import (
    AnthropicChatCompletionClient,
    AssistantMessage,
    ChatCompletionClient,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    OllamaChatCompletionClient,
    OpenAIChatCompletionClient,
    RetryPolicy,
    UserMessage,
)
from modelport.testing import FakeServer, anthropic_message, anthropic_stream

from .helpers import collect

KEY = "sk-test-answers-0123456789"


class City(BaseModel):
    name: str
    population: int


class Leaf(BaseModel):
    value: int


class Branch(BaseModel):
    left: Tree
    right: Tree


class Tree(BaseModel):
    node: Branch | Leaf  # the branch first: a model that always takes the first option never ends


class Num(BaseModel):
    n: float


class Op(BaseModel):
    op: Literal["add", "mul"]
    left: Expr
    right: Expr


class Expr(BaseModel):
    e: Op | Num


class Fork(BaseModel):
    kind: Literal["fork"] = "fork"
    children: list[Tagged] = Field(min_length=1)


class Tip(BaseModel):
    kind: Literal["tip"] = "tip"
    value: int


class Tagged(BaseModel):
    node: Annotated[Fork | Tip, Field(discriminator="kind")]


CLIENTS = ["openai", "anthropic-native", "anthropic-tool", "ollama"]


@pytest.fixture
async def make_any(server: FakeServer) -> AsyncIterator[Any]:
    made: list[ChatCompletionClient] = []

    def make(kind: str) -> ChatCompletionClient:
        policy = RetryPolicy(max_retries=0)
        client: ChatCompletionClient
        if kind == "openai":
            client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=KEY,
                                                retry_policy=policy)
        elif kind.startswith("anthropic"):
            model = "claude-sonnet-4-5" if kind == "anthropic-native" else "claude-sonnet-4-20250514"
            client = AnthropicChatCompletionClient(model, base_url=server.base_url, api_key=KEY, retry_policy=policy)
        else:
            client = OllamaChatCompletionClient("llama3.1", host=f"http://{server.host}:{server.port}",
                                                retry_policy=policy)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def raw_post(server: FakeServer, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    request = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=orjson.dumps(body),
                                     headers={"content-type": "application/json", **headers}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return response.headers


# -- point 1: the request id header --


def test_point1_anthropic_replies_carry_request_id_as_the_messages_api_does(server: FakeServer) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    anthropic = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    headers = raw_post(server, "/v1/messages", body, anthropic)
    assert headers["request-id"] == "req_fake_1" and "x-request-id" not in headers
    server.add(anthropic_stream(anthropic_message("Hello")))  # a scripted reply gets it too
    headers = raw_post(server, "/v1/messages", {**body, "stream": True}, anthropic)
    assert headers["request-id"] == "req_fake_2" and "x-request-id" not in headers
    headers = raw_post(server, "/v1/chat/completions", {"model": "gpt-4o", "messages": body["messages"]}, {})
    assert headers["x-request-id"] == "req_fake_3" and "request-id" not in headers  # OpenAI's name, as before


async def test_point1_the_anthropic_client_reads_the_request_id(server: FakeServer, make_any: Any) -> None:
    client = make_any("anthropic-native")
    result = await client.create([UserMessage(content="Hello")])
    _, streamed = await collect(client, [UserMessage(content="Hello")])
    assert (result.request_id, streamed.request_id) == ("req_fake_1", "req_fake_2")
    assert all("anthropic-version" in r.headers for r in server.requests)


# -- point 1: the built-in model after tool results, and recursive models --


def tool_exchange() -> list[Any]:
    call = FunctionCall(id="call_1", name="get_city", arguments='{"name": "Paris"}')
    result = FunctionExecutionResult(content="Paris, 2.1 million", name="get_city", call_id="call_1")
    return [UserMessage(content="Tell me about Paris"), AssistantMessage(content=[call]),
            FunctionExecutionResultMessage(content=[result])]


def get_city(name: str) -> str:
    return f"{name}, 2.1 million"


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("kind", CLIENTS)
async def test_point1_json_output_is_kept_after_a_tool_result(make_any: Any, kind: str, stream: bool) -> None:
    client = make_any(kind)
    tools = [mp.FunctionTool(get_city, "Look a city up")]
    if stream:
        _, result = await collect(client, tool_exchange(), tools=tools, json_output=City)
    else:
        result = await client.create(tool_exchange(), tools=tools, json_output=City)
    assert isinstance(result.parsed, City), result.content
    assert result.parsed.name == "Paris"


async def test_point1_json_object_after_a_tool_result_is_json(make_any: Any) -> None:
    result = await make_any("openai").create(tool_exchange(), json_output=True)
    assert isinstance(result.content, str)
    assert orjson.loads(result.content) == {"answer": "The tool said: Paris, 2.1 million"}


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("model", [Tree, Expr, Tagged])
@pytest.mark.parametrize("kind", CLIENTS)
async def test_point1_recursive_json_output_models_get_valid_data(
    make_any: Any, kind: str, model: type[BaseModel], stream: bool
) -> None:
    client = make_any(kind)
    messages = [UserMessage(content="Describe Paris as data")]
    if stream:
        _, result = await collect(client, messages, json_output=model)
    else:
        result = await client.create(messages, json_output=model)
    assert isinstance(result.parsed, model)
