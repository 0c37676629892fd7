# ruff: noqa: F811  (the fixtures imported from bedrock_helpers are parameters of the tests)
"""The fake server's Converse routes read by AWS's own SDK: boto3's ``bedrock-runtime`` client, pointed at the fake
server, parses every scripted reply (botocore's event-stream parser checks every CRC) and the default model's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402

from modelport.testing import FakeServer, Reply  # noqa: E402
from modelport.testing._bedrock import (  # noqa: E402
    bedrock_error,
    bedrock_event,
    bedrock_events,
    bedrock_exception,
    bedrock_stream,
    bedrock_usage,
    converse_response,
    reasoning_block,
    text_content,
    tool_use_content,
)

from .bedrock_helpers import MODEL, aws_env  # noqa: E402, F401  (fixtures)

USER = [{"role": "user", "content": [{"text": "Hello Paris"}]}]
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "weather",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}
SCRIPTED = [
    converse_response("Hello there, world", usage=bedrock_usage(3, 4, cache_read=2, cache_write=1)),
    converse_response(
        [text_content("Checking."), tool_use_content("t1", "weather", {"city": "Paris"})], stop_reason="tool_use"
    ),
    converse_response(
        [reasoning_block("think it through"), tool_use_content("t1", "weather", {"city": "Oslo"})],
        stop_reason="tool_use",
    ),
    converse_response("cut", stop_reason="max_tokens"),
]


@pytest.fixture
def bedrock(server: FakeServer, aws_env: Path) -> Iterator[Any]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://{server.host}:{server.port}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    yield client
    client.close()  # its pooled sockets, else closed by the garbage collector with a ResourceWarning


def _streamed(bedrock: Any, **kwargs: Any) -> list[dict[str, Any]]:
    stream = bedrock.converse_stream(modelId=MODEL, messages=USER, **kwargs)["stream"]
    try:
        return list(stream)
    finally:  # a stream that raised holds its socket until closed (the pool only closes the ones given back)
        stream.close()


def _assembled(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A ConverseStream's events joined into the shape of a Converse response, as an SDK user would join them."""
    blocks: dict[int, dict[str, Any]] = {}
    stop, usage = None, None
    for event in events:
        (kind, body), = event.items()
        if kind == "contentBlockStart":
            use = body["start"]["toolUse"]
            blocks[body["contentBlockIndex"]] = {"toolUse": {**use, "input": ""}}
        elif kind == "contentBlockDelta":
            delta, index = body["delta"], body["contentBlockIndex"]
            if "text" in delta:
                blocks.setdefault(index, {"text": ""})["text"] += delta["text"]
            elif "toolUse" in delta:
                blocks[index]["toolUse"]["input"] += delta["toolUse"]["input"]
            else:
                text = blocks.setdefault(index, {"reasoningContent": {"reasoningText": {"text": ""}}})
                reasoning = delta["reasoningContent"]
                inner = text["reasoningContent"]["reasoningText"]
                inner["text"] += reasoning.get("text", "")
                if "signature" in reasoning:
                    inner["signature"] = reasoning["signature"]
        elif kind == "messageStop":
            stop = body["stopReason"]
        elif kind == "metadata":
            usage = body["usage"]
    for block in blocks.values():
        if "toolUse" in block:
            block["toolUse"]["input"] = json.loads(block["toolUse"]["input"])
    return {"content": [blocks[i] for i in sorted(blocks)], "stopReason": stop, "usage": usage}


@pytest.mark.parametrize("response", SCRIPTED)
def test_boto3_parses_every_scripted_reply_whole_and_streamed(
    server: FakeServer, bedrock: Any, response: dict[str, Any]
) -> None:
    server.add(Reply.json(response), bedrock_stream(response, split=3))
    whole = bedrock.converse(modelId=MODEL, messages=USER)
    assert whole["output"] == response["output"] and whole["stopReason"] == response["stopReason"]
    assert whole["usage"] == response["usage"]
    streamed = _assembled(_streamed(bedrock))
    assert streamed == {
        "content": response["output"]["message"]["content"],
        "stopReason": response["stopReason"],
        "usage": response["usage"],
    }


def test_boto3_reads_the_default_model_with_tools(server: FakeServer, bedrock: Any) -> None:
    whole = bedrock.converse(modelId=MODEL, messages=USER, toolConfig=TOOL_CONFIG)
    assert whole["stopReason"] == "tool_use"
    use = whole["output"]["message"]["content"][0]["toolUse"]
    assert use["name"] == "weather" and use["input"] == {"city": "Paris"}
    history = [
        *USER,
        whole["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny"}]}}]},
    ]
    events = list(bedrock.converse_stream(modelId=MODEL, messages=history, toolConfig=TOOL_CONFIG)["stream"])
    assert _assembled(events)["content"] == [{"text": "The tool said: sunny"}]


def test_boto3_reads_reasoning_with_its_signature(server: FakeServer, bedrock: Any) -> None:
    fields = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    whole = bedrock.converse(modelId=MODEL, messages=USER, additionalModelRequestFields=fields)
    streamed = _assembled(_streamed(bedrock, additionalModelRequestFields=fields))
    expected = reasoning_block("The user wrote: Hello Paris")
    assert whole["output"]["message"]["content"][0] == expected == streamed["content"][0]


def test_boto3_raises_an_exception_frame(server: FakeServer, bedrock: Any) -> None:
    events = bedrock_events(converse_response("half"))[:2]
    server.add(bedrock_stream([*events, bedrock_exception("throttlingException", "Too many tokens")]))
    with pytest.raises(EventStreamError) as caught:
        _streamed(bedrock)
    assert caught.value.response["Error"]["Code"] == "throttlingException"
    assert caught.value.response["Error"]["Message"] == "Too many tokens"


def test_boto3_reads_an_error_response(server: FakeServer, bedrock: Any) -> None:
    server.add(bedrock_error(400, "ValidationException", "Input is too long for requested model."))
    with pytest.raises(ClientError) as caught:
        bedrock.converse(modelId=MODEL, messages=USER)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_boto3_sees_the_fakes_validation_of_tool_blocks_without_a_tool_config(
    server: FakeServer, bedrock: Any
) -> None:
    use = {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": "x"}]}}
    history = [*USER, {"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
    with pytest.raises(ClientError, match="toolConfig field must be defined"):
        bedrock.converse(modelId=MODEL, messages=history)


def test_boto3_ignores_the_padding_field_of_events(server: FakeServer, bedrock: Any) -> None:
    server.add(bedrock_stream([bedrock_event("messageStart", {"role": "assistant", "p": "abcdefgh"}),
                               bedrock_event("messageStop", {"stopReason": "end_turn", "p": "ab"})]))
    assert _streamed(bedrock) == [{"messageStart": {"role": "assistant"}}, {"messageStop": {"stopReason": "end_turn"}}]
