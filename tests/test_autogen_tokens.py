"""Point 2: AutoGen's own ``CancellationToken`` is a token every modelport call takes (duck-typed: ``add_callback``,
``is_cancelled``, ``link_future``), so AutoGen code that passes its agents' tokens to a client directly works with
only its import changed: AutoGen's model-client guide's agent, ``create`` and ``create_stream``, through a
``Router`` and a ``ChatCompletionCache`` too; and cancelling the token really cancels (the connection is closed, the
next chunk never comes). All over real HTTP against the fake server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("autogen_core")

import autogen_core as agc
from autogen_core import AgentId, MessageContext, RoutedAgent, SingleThreadedAgentRuntime, message_handler
from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage

import modelport as mp
from modelport import ChatCompletionCache, CreateResult, DiskCacheStore
from modelport.router import Deployment, Router
from modelport.testing import FakeServer, Reply, chunk

HELLO = [UserMessage(content="Hello there", source="user")]
SLOW = [chunk({"content": f"word{i} "}) for i in range(30)] + [chunk({}, finish_reason="stop")]
WRAPPERS = ["client", "router", "cache"]


# -- AutoGen's model-client guide, "Build Agent using Model Client", as written there but for the client's import --


@dataclass
class Message:
    content: str


class SimpleAgent(RoutedAgent):
    def __init__(self, model_client: ChatCompletionClient) -> None:
        super().__init__("A simple agent")
        self._system_messages = [SystemMessage(content="You are a helpful AI assistant.")]
        self._model_client = model_client

    @message_handler
    async def handle_user_message(self, message: Message, ctx: MessageContext) -> Message:
        # Prepare input to the chat completion model.
        user_message = UserMessage(content=message.content, source="user")
        response = await self._model_client.create(
            self._system_messages + [user_message], cancellation_token=ctx.cancellation_token  # noqa: RUF005
        )
        # Return with the model's response.
        assert isinstance(response.content, str)
        return Message(content=response.content)


async def test_point2_autogen_guide_agent_runs_on_a_modelport_client(server: FakeServer) -> None:
    from modelport import OpenAIChatCompletionClient  # was: from autogen_ext.models.openai import ...

    model_client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test")
    runtime = SingleThreadedAgentRuntime()
    await SimpleAgent.register(runtime, "simple_agent", lambda: SimpleAgent(model_client=model_client))  # type: ignore[arg-type]
    runtime.start()
    message = Message("Hello, what are some fun things to do in Seattle?")
    response = await runtime.send_message(message, AgentId("simple_agent", "default"))
    await runtime.stop()
    await model_client.close()
    assert response.content == "You said: Hello, what are some fun things to do in Seattle?"
    assert server.requests[0].json["messages"][0] == {"role": "system", "content": "You are a helpful AI assistant."}


# -- create and create_stream, on a client, a router and a cache --


def wrapped(kind: str, make_client: Any, tmp_path: Any) -> Any:
    client = make_client()
    if kind == "router":
        return Router([Deployment(client, "a")])
    if kind == "cache":
        return ChatCompletionCache(client, DiskCacheStore(tmp_path / "cache"))
    return client


async def wait_for_connections(server: FakeServer, at_most: int, within: float = 2.0) -> float:
    started = time.perf_counter()
    while server.open_connections > at_most:
        assert time.perf_counter() - started < within, f"{server.open_connections} connections still open"
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


@pytest.mark.parametrize("kind", WRAPPERS)
async def test_point2_autogen_token_is_taken_and_left_alone_after_the_call(
    server: FakeServer, make_client: Any, tmp_path: Any, kind: str
) -> None:
    client = wrapped(kind, make_client, tmp_path)
    token = agc.CancellationToken()
    result = await client.create(HELLO, cancellation_token=token)
    items = [item async for item in client.create_stream(HELLO, extra_create_args={"seed": 1},
                                                         cancellation_token=token)]
    assert result.content == "You said: Hello there" and isinstance(items[-1], CreateResult)
    assert "".join(i for i in items if isinstance(i, str)) == "You said: Hello there"
    token.cancel()  # after the calls: nothing to cancel, nothing raised
    assert len(server.requests) == 2


@pytest.mark.parametrize("kind", WRAPPERS)
async def test_point2_autogen_token_cancels_create_before_the_answer(
    server: FakeServer, make_client: Any, tmp_path: Any, kind: str
) -> None:
    client = wrapped(kind, make_client, tmp_path)
    await wait_for_connections(server, 0)
    server.add(Reply.hang())
    token = agc.CancellationToken()
    task = asyncio.ensure_future(client.create(HELLO, cancellation_token=token))
    started = time.perf_counter()
    while not server.requests:
        if task.done():
            task.result()  # raises what ended the call before it sent anything
        assert time.perf_counter() - started < 5, "the request never reached the server"
        await asyncio.sleep(0.01)
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - cancelled_at < 0.5
    assert await wait_for_connections(server, 0) < 1.0  # the socket was closed, not left to time out


@pytest.mark.parametrize("kind", WRAPPERS)
async def test_point2_autogen_token_cancels_a_stream_mid_way(
    server: FakeServer, make_client: Any, tmp_path: Any, kind: str
) -> None:
    client = wrapped(kind, make_client, tmp_path)
    await wait_for_connections(server, 0)
    server.add(Reply.sse(SLOW, delay=2.0))
    token = agc.CancellationToken()
    seen: list[Any] = []
    stream = client.create_stream(HELLO, cancellation_token=token)
    seen.append(await asyncio.wait_for(stream.__anext__(), 10))
    assert server.open_connections == 1
    cancelled_at = time.perf_counter()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        seen.append(await stream.__anext__())
    assert time.perf_counter() - cancelled_at < 0.5  # the next chunk was 2 s away
    assert seen == ["word0 "]
    assert await wait_for_connections(server, 0) < 1.0
    await stream.aclose()


@pytest.mark.parametrize("kind", WRAPPERS)
async def test_point2_a_cancelled_autogen_token_sends_nothing(
    server: FakeServer, make_client: Any, tmp_path: Any, kind: str
) -> None:
    client = wrapped(kind, make_client, tmp_path)
    token = agc.CancellationToken()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.create(HELLO, cancellation_token=token)
    with pytest.raises(asyncio.CancelledError):
        async for _ in client.create_stream(HELLO, cancellation_token=token):
            pass
    assert server.requests == []


async def test_point2_what_is_not_a_token_is_still_refused(server: FakeServer, make_client: Any) -> None:
    client = make_client()
    for bad in ("abc", 5, object(), mp.CancellationToken, agc.CancellationToken):
        with pytest.raises(mp.InvalidRequestError, match="cancellation_token"):
            await client.create(HELLO, cancellation_token=bad)
    assert server.requests == []
