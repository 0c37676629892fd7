"""Tool-call assembly across providers' streaming quirks, over real HTTP (wire-behaviour B6)."""

from __future__ import annotations

from typing import Any

import pytest

from modelport import FunctionCall
from modelport.testing import FakeServer, Reply, chunk, completion

from .helpers import HELLO, collect


def tc(index: int | None = None, id: str | None = None, name: str | None = None, arguments: Any = None,
       **extra: Any) -> dict[str, Any]:
    call: dict[str, Any] = dict(extra)
    if index is not None:
        call["index"] = index
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call["function"] = function
    return call


def calls(*tool_calls: dict[str, Any], finish: str = "tool_calls") -> list[dict[str, Any]]:
    return [chunk({"tool_calls": [c]}) for c in tool_calls] + [chunk(finish_reason=finish)]


def simple(result: Any) -> list[tuple[str, str, Any]]:
    assert isinstance(result.content, list)
    return [(c.id, c.name, c.parse_arguments()) for c in result.content]


async def test_B62_standard_split_tool_call(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "call_1", "get_weather", ""), tc(0, arguments='{"city": "Pa'),
                               tc(0, arguments='ris"}'))))
    _, result = await collect(client)
    assert result.finish_reason == "function_calls"
    assert simple(result) == [("call_1", "get_weather", {"city": "Paris"})]


async def test_B64_name_and_id_repeated_on_every_delta(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "call_1", "add_two_numbers", '{"a": 1'),
                               tc(0, "call_1", "add_two_numbers", ', "b": 2}'))))
    _, result = await collect(client)
    assert simple(result) == [("call_1", "add_two_numbers", {"a": 1, "b": 2})]


async def test_B66_gemini_no_index_metadata_deltas_and_stop(server: FakeServer, client: Any) -> None:
    signature = {"google": {"thought_signature": "sig=="}}
    server.add(Reply.sse(calls(tc(id="call_297140", name="read", arguments='{"pa', extra_content=signature),
                               tc(arguments='th": "a.py"}'),
                               tc(id="call_297141", name="read", arguments='{"path": "b.py"}'),
                               finish="stop")))
    _, result = await collect(client)
    assert result.finish_reason == "function_calls" and result.raw_finish_reason == "stop"
    assert simple(result) == [("call_297140", "read", {"path": "a.py"}), ("call_297141", "read", {"path": "b.py"})]
    first = result.content[0]
    assert isinstance(first, FunctionCall) and first.provider_fields == {"extra_content": signature}


async def test_B66_thought_signature_is_sent_back_next_turn(server: FakeServer, client: Any) -> None:
    from modelport import AssistantMessage, FunctionExecutionResult, FunctionExecutionResultMessage, UserMessage

    call = FunctionCall(id="c1", name="read", arguments="{}",
                        provider_fields={"extra_content": {"google": {"thought_signature": "sig=="}}})
    await client.create([UserMessage(content="go"), AssistantMessage(content=[call]),
                         FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="x", name="read",
                                                                                         call_id="c1")])])
    sent = server.requests[-1].json["messages"][1]["tool_calls"][0]
    assert sent["extra_content"] == {"google": {"thought_signature": "sig=="}}


async def test_B67_parallel_calls_interleaved(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "c0", "a", ""), tc(1, "c1", "b", ""), tc(0, arguments='{"x"'),
                               tc(1, arguments='{"y": 2}'), tc(0, arguments=": 1}"))))
    _, result = await collect(client)
    assert simple(result) == [("c0", "a", {"x": 1}), ("c1", "b", {"y": 2})]


async def test_B67_same_index_new_id_splits_the_call(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "call_A", "fa", '{"x":1}'), tc(0, "call_B", "fb", '{"y":2}'))))
    _, result = await collect(client)
    assert simple(result) == [("call_A", "fa", {"x": 1}), ("call_B", "fb", {"y": 2})]


async def test_B67_sparse_first_index(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(1, "c1", "only", '{"k": true}'))))
    _, result = await collect(client)
    assert simple(result) == [("c1", "only", {"k": True})]


async def test_B70_entire_call_in_one_delta(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "call_1", "get_weather", '{"city":"Paris"}'))))
    _, result = await collect(client)
    assert simple(result) == [("call_1", "get_weather", {"city": "Paris"})]


async def test_B70_llamacpp_first_delta_carries_opening_brace(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "call_1", "get_weather", "{"), tc(0, arguments='"city":"Paris"}'))))
    _, result = await collect(client)
    assert simple(result) == [("call_1", "get_weather", {"city": "Paris"})]


async def test_B70_arguments_as_a_json_object(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "c", "f", {"city": "Paris"}))))
    _, result = await collect(client)
    assert simple(result) == [("c", "f", {"city": "Paris"})]


@pytest.mark.parametrize(("arguments", "finish"), [('{"a": 1,', "length"), ('{"a":1}{"b":2}', "tool_calls"),
                                                    ("I think a=1", "tool_calls")])
async def test_B72_invalid_json_arguments_kept_raw(server: FakeServer, client: Any, arguments: str,
                                                   finish: str) -> None:
    server.add(Reply.sse(calls(tc(0, "c", "f", arguments), finish=finish)))
    _, result = await collect(client)
    call = result.content[0]
    assert isinstance(call, FunctionCall) and call.arguments == arguments
    assert result.raw_finish_reason == finish
    with pytest.raises(ValueError, match="'f'"):
        call.parse_arguments()


@pytest.mark.parametrize("arguments", ["", None])
async def test_B73_empty_arguments_mean_empty_object(server: FakeServer, client: Any, arguments: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "c", "no_args", arguments))))
    _, result = await collect(client)
    assert simple(result) == [("c", "no_args", {})] and result.content[0].arguments == "{}"  # type: ignore[union-attr]


async def test_B74_text_and_tool_call_in_the_same_delta(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Let me check. ", "tool_calls": [tc(0, "c", "look", "{}")]}),
                          chunk(finish_reason="tool_calls")]))
    deltas, result = await collect(client)
    assert deltas == ["Let me check. "]
    assert simple(result) == [("c", "look", {})] and result.thought == "Let me check. "


async def test_B75_tool_calls_with_finish_stop_are_a_tool_turn(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(calls(tc(0, "c", "f", "{}"), finish="stop")))
    _, result = await collect(client)
    assert result.finish_reason == "function_calls" and result.raw_finish_reason == "stop"


async def test_B75_finish_tool_calls_without_calls_is_text(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "just text"}), chunk(finish_reason="tool_calls")]))
    _, result = await collect(client)
    assert result.finish_reason == "stop" and result.content == "just text"


async def test_B76_tool_call_written_as_text_is_returned_unchanged(server: FakeServer, client: Any) -> None:
    text = '<tool_call>\n{"name":"get_weather","arguments":{}}</tool_call>'
    server.add(Reply.sse([chunk({"content": text, "tool_calls": []}), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == text


async def test_B79_ollama_shape_whole_call_then_done(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_x", "index": 0, "type": "function", "function": {"name": "f", "arguments": '{"q": "a"}'}}]}),
        chunk({"content": ""}, finish_reason="tool_calls")]))
    _, result = await collect(client)
    assert simple(result) == [("call_x", "f", {"q": "a"})]


async def test_non_stream_tool_calls(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion(None, finish_reason="tool_calls", tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "b", "arguments": ""}}])))
    result = await client.create(HELLO)
    assert simple(result) == [("c1", "a", {"x": 1}), ("c2", "b", {})]
