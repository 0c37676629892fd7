"""Stream framing, chunk shapes, in-band errors and finish states, over real HTTP (wire-behaviour B3 to B8)."""

from __future__ import annotations

from typing import Any

import pytest

from modelport import (
    APIConnectionError,
    BadRequestError,
    ContentFilterError,
    IncompleteStreamError,
    OverloadedError,
    ServerError,
    StreamProtocolError,
    ThoughtChunk,
)
from modelport.testing import FakeServer, Reply, chunk, usage

from .helpers import collect


def text_chunks(*words: str) -> list[dict[str, Any]]:
    return [chunk({"content": w}) for w in words]


async def test_B32_keepalive_comments_between_chunks(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": ""}), ": keep-alive\n\n", chunk({"content": "Hi"}),
                          ":ping\n\n", chunk(finish_reason="stop")]))
    deltas, result = await collect(client)
    assert deltas == ["Hi"] and result.content == "Hi" and result.finish_reason == "stop"


async def test_B33_named_event_without_data_is_ignored(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse(["event: ping\n\n", chunk({"content": "ok"}), "event: ping\n\n", chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == "ok"


@pytest.mark.parametrize("split", [1, 3, 7, 64])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
async def test_B34_network_splits_and_line_endings(server: FakeServer, client: Any, split: int, ending: str) -> None:
    events = [chunk({"content": "caf\u00e9 "}), chunk({"content": "\U0001f600"}), chunk(finish_reason="stop")]
    server.add(Reply.sse(events, split=split, line_ending=ending))
    deltas, result = await collect(client)
    assert "".join(deltas) == "caf\u00e9 \U0001f600" == result.content


async def test_B37_malformed_json_raises_stream_protocol_error(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hel"}), 'data: {"id":"c1","choices":[\n\n']))
    with pytest.raises(StreamProtocolError) as info:
        await collect(client)
    assert info.value.raw == '{"id":"c1","choices":['
    assert info.value.partial is not None and info.value.partial.content == "Hel"


async def test_B38_eof_without_done_and_without_finish_reason(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hello wor"})], done=False))
    with pytest.raises(IncompleteStreamError) as info:
        await collect(client)
    assert info.value.partial is not None and info.value.partial.content == "Hello wor"


async def test_B38_finish_reason_without_done_is_complete(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Done"}), chunk(finish_reason="stop")], done=False))
    _, result = await collect(client)
    assert result.content == "Done" and result.finish_reason == "stop"


async def test_B39_eof_inside_an_event(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "A"}), 'data: {"id":"c1","choi'], done=False))
    with pytest.raises(IncompleteStreamError) as info:
        await collect(client)
    assert info.value.raw is not None and '"choi' in info.value.raw
    assert info.value.partial is not None and info.value.partial.content == "A"


async def test_B40_llamacpp_error_line(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "x"}),
                          'error: {"code":400,"message":"the request exceeds the available context size"}\n\n'],
                         done=False))
    with pytest.raises(BadRequestError) as info:
        await collect(client)
    assert info.value.in_stream and "context size" in str(info.value)


async def test_B42_long_stream(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "t"}) for _ in range(20_000)] + [chunk(finish_reason="stop")],
                         split=65536))
    deltas, result = await collect(client)
    assert len(deltas) == 20_000 and result.content == "t" * 20_000


async def test_B43_openai_inband_error_after_content(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "partial"}),
                          {"error": {"message": "The server had an error processing your request.",
                                     "type": "server_error", "code": None}}], done=False))
    with pytest.raises(ServerError) as info:
        await collect(client)
    err = info.value
    assert err.in_stream and "processing your request" in str(err)
    assert err.partial is not None and err.partial.content == "partial"
    assert len(server.requests) == 1, "an error after a delta reached the caller is never retried"


async def test_B45_groq_tool_use_failed_in_stream(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"reasoning": "thinking...", "channel": "analysis"}),
                          'event: error\ndata: {"error":{"message":"Tool call validation failed: did not match schema",'
                          '"type":"invalid_request_error","code":"tool_use_failed","failed_generation":"{\\"x\\":1}",'
                          '"status_code":400}}\n\n'], done=False))
    with pytest.raises(BadRequestError) as info:
        await collect(client)
    assert info.value.status_code == 400 and info.value.code == "tool_use_failed"
    assert info.value.failed_generation == '{"x":1}'


async def test_B46_overloaded_event_after_a_delta(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}),
                          'event: error\ndata: {"type":"error","error":{"details":null,"type":"overloaded_error",'
                          '"message":"Overloaded"},"request_id":"req_1"}\n\n'], done=False))
    with pytest.raises(OverloadedError) as info:
        await collect(client)
    assert info.value.in_stream and info.value.partial is not None and info.value.partial.content == "Hi"


async def test_B48_azure_first_chunk_with_empty_choices(server: FakeServer, client: Any) -> None:
    first = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
             "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                 "hate": {"filtered": False, "severity": "safe"}}}]}
    server.add(Reply.sse([first, chunk({"content": "Hi"}, model="gpt-4o-2024-08-06"), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == "Hi" and result.model == "gpt-4o-2024-08-06"


async def test_B49_azure_async_filter_annotation_chunk(server: FakeServer, client: Any) -> None:
    annotation = {"id": "", "object": "", "created": 0, "model": "", "usage": None, "choices": [
        {"index": 0, "finish_reason": None, "content_filter_results": {"hate": {"filtered": False}},
         "content_filter_offsets": {"check_offset": 44, "start_offset": 44, "end_offset": 198}}]}
    server.add(Reply.sse([chunk({"content": "Hi"}), annotation, chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == "Hi"


async def test_B51_usage_only_final_chunk(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}), chunk(finish_reason="stop"),
                          chunk(usage=usage(24, 58), choices=False)]))
    _, result = await collect(client)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (24, 58) and result.usage_reported
    assert client.total_usage().prompt_tokens == 24


async def test_B52_usage_in_finish_chunk_and_repeated_counts_once(server: FakeServer, client: Any) -> None:
    finish = chunk(finish_reason="stop", usage=usage(304, 49))
    finish["x_groq"] = {"usage": {"prompt_tokens": 304, "completion_tokens": 49, "queue_time": 0.0049}}
    proxy_usage = chunk({}, usage=usage(304, 49))  # LiteLLM proxies put a choice on the usage chunk
    server.add(Reply.sse([chunk({"content": "Hi"}), finish, proxy_usage]))
    _, result = await collect(client)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (304, 49)
    assert result.finish_reason == "stop"
    assert client.total_usage().completion_tokens == 49


async def test_B55_no_usage_is_unknown_not_zero(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.usage_reported is False


async def test_B55_stream_options_sent_by_default_and_can_be_turned_off(server: FakeServer, make_client: Any) -> None:
    await collect(make_client())
    assert server.requests[-1].json["stream_options"] == {"include_usage": True}
    await collect(make_client(), extra_create_args={"stream_options": {"include_usage": False}})
    assert server.requests[-1].json["stream_options"] == {"include_usage": False}


async def test_B56_no_finish_reason_ever_is_unknown(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"})], done=True))
    _, result = await collect(client)
    assert result.finish_reason == "unknown" and result.content == "Hi"


async def test_B57_multiple_choices_interleaved(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "B1"}, index=1), chunk({"content": "A1"}, index=0),
                          chunk({"content": "B2"}, index=1), chunk({"content": "A2"}, index=0),
                          chunk(finish_reason="length", index=1), chunk(finish_reason="stop", index=0),
                          chunk(usage=usage(5, 8), choices=False)]))
    deltas, result = await collect(client)
    assert deltas == ["A1", "A2"] and result.content == "A1A2" and result.finish_reason == "stop"
    assert result.usage.completion_tokens == 8


async def test_B59_empty_deltas_and_empty_choices(server: FakeServer, client: Any) -> None:
    events: list[Any] = [chunk({"role": "assistant"})]
    events += [chunk({"content": ""}) for _ in range(50)] + [chunk(choices=False) for _ in range(200)]
    events += [chunk({"content": "real"}), chunk(finish_reason="stop")]
    server.add(Reply.sse(events))
    deltas, result = await collect(client)
    assert deltas == ["real"] and result.content == "real"


async def test_B60_unknown_extra_fields(server: FakeServer, client: Any) -> None:
    c = chunk({"content": "Hi"}, stop_reason=None, matched_stop=None)
    c.update(obfuscation="xxxx", system_fingerprint="fp", service_tier="default", x_groq={"id": "1"})
    server.add(Reply.sse([c, chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == "Hi"


async def test_B61_resolved_model_is_reported_without_warning(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}, model="gpt-4o-2024-08-06"), chunk(finish_reason="stop")]))
    _, result = await collect(client)  # filterwarnings=error: a warning would fail the test
    assert result.model == "gpt-4o-2024-08-06"


async def test_B80_reasoning_content_stream(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"reasoning_content": "Let"}), chunk({"reasoning_content": " me think"}),
        chunk({"content": "Paris", "reasoning_content": None}), chunk(finish_reason="stop"),
        chunk(usage={**usage(5, 9), "completion_tokens_details": {"reasoning_tokens": 7}}, choices=False)]))
    deltas, result = await collect(client)
    assert [type(d) for d in deltas] == [ThoughtChunk, ThoughtChunk, str]
    assert result.thought == "Let me think" and result.content == "Paris"
    assert result.usage.reasoning_tokens == 7


@pytest.mark.parametrize("pieces", [
    ["<think>plan</think>answer"],
    ["<thi", "nk>plan</th", "ink>answer"],
    ["<", "t", "h", "i", "n", "k", ">", "pl", "an", "<", "/", "think", ">", "\n\n", "ans", "wer"],
    ["\n<think>\nplan", "\n</think>\n\nanswer"],
])
async def test_B83_think_tags_split_across_chunks(server: FakeServer, client: Any, pieces: list[str]) -> None:
    server.add(Reply.sse([chunk({"content": p}) for p in pieces] + [chunk(finish_reason="stop")]))
    deltas, result = await collect(client)
    assert result.content == "answer" and result.thought is not None and result.thought.strip() == "plan"
    assert "".join(d for d in deltas if not isinstance(d, ThoughtChunk)) == "answer"


async def test_B83_empty_think_block_before_tool_call(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "<think>\n</think>\n\n"}),
                          chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                                 "function": {"name": "f", "arguments": "{}"}}]}),
                          chunk(finish_reason="tool_calls")]))
    _, result = await collect(client)
    assert result.finish_reason == "function_calls" and result.thought is None
    assert [c.name for c in result.content] == ["f"]  # type: ignore[union-attr]


async def test_B83_text_that_merely_mentions_think_is_untouched(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([*text_chunks("The key insight: ", "<think> is a tag"), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.content == "The key insight: <think> is a tag" and result.thought is None


async def test_B86_refusal(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"role": "assistant", "content": None, "refusal": ""}), chunk({"refusal": "I'm"}),
                          chunk({"refusal": " sorry"}), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.refusal == "I'm sorry" and result.content == ""


async def test_B87_content_filter_with_partial_content_is_returned(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Some text"}), chunk(finish_reason="content_filter")]))
    _, result = await collect(client)
    assert result.finish_reason == "content_filter" and result.content == "Some text"


async def test_B87_content_filter_without_content_raises(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk(finish_reason="content_filter", content_filter_results={"hate": {"filtered": True}})]))
    with pytest.raises(ContentFilterError) as info:
        await collect(client)
    assert info.value.stage == "completion"


async def test_B89_length_truncation(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "cut"}), chunk(finish_reason="length")]))
    _, result = await collect(client)
    assert result.finish_reason == "length"


async def test_B91_logprobs_appended_across_chunks(server: FakeServer, client: Any) -> None:
    def lp(*tokens: str) -> dict[str, Any]:
        return {"content": [{"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []}
                            for t in tokens]}
    server.add(Reply.sse([chunk({"content": "Hello!"}, logprobs=lp("Hello", "!")),
                          chunk({"reasoning_content": "x"}, logprobs=None),
                          chunk({"content": " Bye"}, logprobs=lp(" Bye")), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.logprobs is not None and [t.token for t in result.logprobs] == ["Hello", "!", " Bye"]


async def test_B91_no_logprobs_sent_means_none(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "Hi"}), chunk(finish_reason="stop")]))
    _, result = await collect(client)
    assert result.logprobs is None


async def test_stream_of_plain_json_when_server_ignores_stream_flag(server: FakeServer, client: Any) -> None:
    from modelport.testing import completion

    server.add(Reply.json(completion("whole answer")))
    deltas, result = await collect(client)
    assert deltas == ["whole answer"] and result.content == "whole answer"


async def test_chunk_that_is_not_an_object(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), "data: [1, 2]\n\n"]))
    with pytest.raises(Exception) as info:
        await collect(client)
    assert type(info.value).__name__ == "ResponseValidationError"


async def test_reset_after_done_is_still_complete(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk(finish_reason="stop")], reset=True))
    _, result = await collect(client)
    assert result.content == "a"


async def test_connection_error_is_typed_and_keeps_partial(server: FakeServer, client: Any) -> None:
    server.add(Reply.sse([chunk({"content": "one "}), chunk({"content": "two"})], done=False, reset=True))
    with pytest.raises(APIConnectionError) as info:
        await collect(client)
    assert info.value.partial is not None and info.value.partial.content == "one two"
