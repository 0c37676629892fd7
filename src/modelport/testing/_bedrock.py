"""The fake server's Amazon Bedrock Converse dialect, helpers to script Converse replies, and an AWS event-stream
encoder to send streams in the real framing.

Routes: ``POST /model/{model}/converse`` and ``POST /model/{model}/converse-stream`` (also under ``/v1``, the fake
server's ``base_url``). The default "model" answers as the others do: ``You said: ...``, a call of the first tool
(or the one ``toolChoice`` names) with input made from its schema, ``The tool said: ...`` after tool results, and
with ``additionalModelRequestFields.thinking`` on a signed reasoning block first. Streams arrive word by word, tool
input in JSON fragments, the signature last, then ``messageStop`` and ``metadata``.

Like the real service it refuses (400 with ``x-amzn-ErrorType: ValidationException``) what breaks Converse's
rules: no messages, roles that do not alternate or a first turn not the user's, blank text, ``toolUse`` without
its ``toolResult`` in the next turn, tool blocks without a ``toolConfig``, and with thinking on, a last tool-use
turn that does not start with the signed reasoning it came with.

    server.add(bedrock_stream(converse_response([reasoning_block("hmm"), tool_use_block("t1", "f", {})],
                                                stop_reason="tool_use")))
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any

import orjson

from ._bedrock_model import answer, shape_error
from ._reply import RecordedRequest, Reply

__all__ = [
    "bedrock_error",
    "bedrock_event",
    "bedrock_events",
    "bedrock_exception",
    "bedrock_stream",
    "bedrock_usage",
    "converse_response",
    "encode_event_message",
    "is_bedrock_request",
    "reasoning_block",
    "redacted_reasoning_block",
    "text_content",
    "tool_use_content",
]

SIGNATURE = "fake-bedrock-signature-0"
"""The signature the default model signs its reasoning with; a reasoning block sent back must carry it."""
EVENT_STREAM = "application/vnd.amazon.eventstream"
REQUEST_ID_HEADER = "x-amzn-requestid"
_PATH = re.compile(r"^(?:/v1)?/model/([^/]+)/(converse|converse-stream)$")
_MODELS_PATH = re.compile(r"^(?:/v1)?/foundation-models$")
FOUNDATION_MODELS = [
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Anthropic"),
    ("amazon.nova-pro-v1:0", "Nova Pro", "Amazon"),
    ("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", "Meta"),
]


# -- the event-stream encoder --


def _header(name: str, value: Any) -> bytes:
    """One header: a ``bool``, an ``int`` (as a 32-bit integer), ``bytes`` (a byte array) or a ``str``."""
    encoded = name.encode()
    head = struct.pack(">B", len(encoded)) + encoded
    if isinstance(value, bool):
        return head + (b"\x00" if value else b"\x01")
    if isinstance(value, int):
        return head + b"\x04" + struct.pack(">i", value)
    if isinstance(value, bytes):
        return head + b"\x06" + struct.pack(">H", len(value)) + value
    text = str(value).encode()
    return head + b"\x07" + struct.pack(">H", len(text)) + text


def encode_event_message(headers: dict[str, Any], payload: bytes, *, raw_headers: bytes = b"") -> bytes:
    """One event-stream message: prelude (lengths, CRC), headers, payload and message CRC. ``raw_headers`` are
    appended as they are (to send a header of a type the format does not define)."""
    head = b"".join(_header(name, value) for name, value in headers.items()) + raw_headers
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """One ``event`` message of a ConverseStream."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_message(headers, orjson.dumps(payload))


def bedrock_exception(exception_type: str, message: str, **fields: Any) -> bytes:
    """An ``exception`` message (``throttlingException``, ``modelStreamErrorException``, ...)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_message(headers, orjson.dumps({"message": message, **fields}))


# -- bodies --


def text_content(text: str) -> dict[str, Any]:
    return {"text": text}


def tool_use_content(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}}


def reasoning_block(text: str, signature: str = SIGNATURE) -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}}


def redacted_reasoning_block(data: str) -> dict[str, Any]:
    return {"reasoningContent": {"redactedContent": data}}


def bedrock_usage(
    input_tokens: int, output_tokens: int, *, cache_read: int | None = None, cache_write: int | None = None
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens + (cache_read or 0) + (cache_write or 0),
    }
    if cache_read is not None:
        usage["cacheReadInputTokens"] = cache_read
    if cache_write is not None:
        usage["cacheWriteInputTokens"] = cache_write
    return usage


def converse_response(
    content: str | list[dict[str, Any]] = "",
    *,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Converse response; ``content`` text becomes one text block."""
    blocks = [text_content(content)] if isinstance(content, str) else list(content)
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop_reason,
        "usage": usage if usage is not None else bedrock_usage(10, 5),
        "metrics": {"latencyMs": 12},
        **fields,
    }


def bedrock_error(status: int, error_type: str, message: str) -> Reply:
    """An error response as Bedrock sends it: the type in ``x-amzn-ErrorType``, the text in the body."""
    return Reply.json(
        {"message": message},
        status=status,
        headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


# -- streams --


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else []


def _json_pieces(value: Any) -> list[str]:
    text = json.dumps(value)
    third = max(1, len(text) // 3)
    return [text[i : i + third] for i in range(0, len(text), third)]


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    def delta(body: dict[str, Any]) -> bytes:
        return bedrock_event("contentBlockDelta", {"contentBlockIndex": index, "delta": body, "p": "abcd"})

    events: list[bytes] = []
    if "text" in block:
        events += [delta({"text": word}) for word in _words(block["text"])]
    elif "toolUse" in block:
        use = block["toolUse"]
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        events.append(bedrock_event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        events += [delta({"toolUse": {"input": piece}}) for piece in _json_pieces(use["input"])]
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]
        if "redactedContent" in reasoning:
            events.append(delta({"reasoningContent": {"redactedContent": reasoning["redactedContent"]}}))
        else:
            text = reasoning["reasoningText"]
            events += [delta({"reasoningContent": {"text": word}}) for word in _words(text["text"])]
            if text.get("signature"):
                events.append(delta({"reasoningContent": {"signature": text["signature"]}}))
    events.append(bedrock_event("contentBlockStop", {"contentBlockIndex": index}))
    return events


def bedrock_events(response: dict[str, Any], *, metadata: bool = True) -> list[bytes]:
    """``response`` (see :func:`converse_response`) as the ConverseStream that sends it: ``messageStart``, each
    block's events, ``messageStop`` and ``metadata`` (usage)."""
    events = [bedrock_event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(response["output"]["message"]["content"]):
        events += _block_events(index, block)
    events.append(bedrock_event("messageStop", {"stopReason": response["stopReason"]}))
    if metadata:
        events.append(bedrock_event("metadata", {"usage": response["usage"], "metrics": response["metrics"]}))
    return events


def bedrock_stream(
    response: dict[str, Any] | list[bytes],
    *,
    split: int | None = None,
    metadata: bool = True,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A scripted ConverseStream reply: a response's events (or the given messages) in the event-stream framing;
    ``split`` cuts the body into pieces of that many bytes."""
    pieces = response if isinstance(response, list) else bedrock_events(response, metadata=metadata)
    if split:
        body = b"".join(pieces)
        pieces = [body[i : i + split] for i in range(0, len(body), split)]
    return Reply(
        headers={"content-type": EVENT_STREAM, **(headers or {})},
        segments=[(0.0, piece) for piece in pieces],
        chunked=True,
    )


# -- the default model --


def handles(request: RecordedRequest) -> bool:
    return is_bedrock_request(request)


def is_bedrock_request(request: RecordedRequest) -> bool:
    """Converse and ConverseStream paths, and the control plane's ``GET /foundation-models``."""
    return _PATH.match(request.path) is not None or (
        request.method == "GET" and _MODELS_PATH.match(request.path) is not None
    )


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer to a Converse request (or the foundation models listing)."""
    if request.method == "GET" and _MODELS_PATH.match(request.path):
        return _foundation_models()
    match = _PATH.match(request.path)
    if request.method != "POST" or match is None:
        return bedrock_error(404, "ResourceNotFoundException", f"Not found: {request.method} {request.path}")
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return bedrock_error(400, "ValidationException", "the body is not JSON")
    if not isinstance(body, dict):
        return bedrock_error(400, "ValidationException", "the body is not a JSON object")
    problem = shape_error(body, SIGNATURE)
    if problem:
        return bedrock_error(400, "ValidationException", problem)
    blocks, stop_reason, usage = answer(body, max(1, len(request.body) // 4), SIGNATURE)
    response = converse_response(blocks, stop_reason=stop_reason, usage=usage)
    if match.group(2) == "converse-stream":
        return bedrock_stream(response)
    return Reply.json(response)


def _foundation_models() -> Reply:
    summaries = [
        {
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": name,
            "providerName": provider,
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }
        for model_id, name, provider in FOUNDATION_MODELS
    ]
    return Reply.json({"modelSummaries": summaries})
