#!/usr/bin/env python3
"""A minimal, fast OpenAI-compatible server for the peer comparison (``compare.py``) and ``agent_bench.py``.

    python bench/fast_server.py [--host 127.0.0.1] [--port 8765]

``POST .../chat/completions`` answers a canned completion ("The capital of France is Paris."); with
``"stream": true`` it answers an SSE stream of ``max_tokens`` content chunks (`` tok0``, `` tok1``, ...; 50 when
unset) after a role chunk, then the finish chunk, a usage chunk when ``stream_options.include_usage`` asks for one,
and ``[DONE]``. A model name containing ``tools`` gets a ``get_weather`` tool call instead (streamed as deltas).
Any ``GET`` answers ``{"ok": true}``. Only the standard library: it runs under any Python, with no package installed.

Why not ``python -m modelport.testing``: the built-in fake server builds every answer afresh and writes a stream
event by event (chunked, one write each), which costs it about as much CPU per event as the fastest client spends
reading one, so in the stream mode it would set the pace and change how the bytes reach the client. This server
writes each answer, stream included, as one prepared body under a ``content-length``, built once per shape and
cached, on a raw asyncio protocol: it costs far less CPU than any client under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

ANSWER = "The capital of France is Paris."
DEFAULT_CHUNKS = 50
MODEL = "gpt-4o-2024-08-06"
TOOL_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
}


def completion_body(tools: bool) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER, "refusal": None}
    if tools:
        message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tools else "stop"}
    usage = {"prompt_tokens": 15, "completion_tokens": 8, "total_tokens": 23}
    return json.dumps({**head("chat.completion"), "choices": [choice], "usage": usage}).encode()


def head(kind: str) -> dict[str, Any]:
    """The fields every body starts with, in OpenAI's order."""
    return {
        "id": "chatcmpl-bench",
        "object": kind,
        "created": 1700000000,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
    }


def event(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    """One ``data:`` line of a stream: a chunk with ``delta``, or (``delta`` None) the usage chunk, no choices."""
    body: dict[str, Any] = {**head("chat.completion.chunk"), "choices": []}
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def tool_deltas(n: int) -> list[bytes]:
    opening = {
        "index": 0,
        "id": TOOL_CALL["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    parts = [event({"tool_calls": [opening]})]
    for i in range(n):
        arguments = '{"k0": 1}' if i == 0 else " "
        parts.append(event({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}))
    return parts


def stream_body(n: int, tools: bool, include_usage: bool) -> bytes:
    parts = [event({"role": "assistant", "content": ""})]
    parts += tool_deltas(n) if tools else [event({"content": f" tok{i}"}) for i in range(n)]
    parts.append(event({}, finish="tool_calls" if tools else "stop"))
    if include_usage:
        parts.append(event(None, usage={"prompt_tokens": 15, "completion_tokens": n, "total_tokens": 15 + n}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


BODIES: dict[tuple[Any, ...], bytes] = {}


def cached(*key: Any) -> bytes:
    """The body for ``key`` (``("completion", tools)`` or ``("stream", n, tools, usage)``), built once."""
    if key not in BODIES:
        BODIES[key] = completion_body(key[1]) if key[0] == "completion" else stream_body(*key[1:])
    return BODIES[key]


class OpenAIProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, requests with a ``content-length`` body (what every client under test sends)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head[0].split(" ", 1)[0], body)

    def answer(self, method: str, body: bytes) -> None:
        if method == "GET":
            self.respond(b"200 OK", b"application/json", b'{"ok":true}')
            return
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            error = b'{"error":{"message":"the body is not JSON","type":"invalid_request_error"}}'
            self.respond(b"400 Bad Request", b"application/json", error)
            return
        tools = "tools" in str(request.get("model", ""))
        if not request.get("stream"):
            self.respond(b"200 OK", b"application/json", cached("completion", tools))
            return
        n = int(request.get("max_tokens") or request.get("max_completion_tokens") or DEFAULT_CHUNKS)
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self.respond(b"200 OK", b"text/event-stream", cached("stream", n, tools, include_usage))

    def respond(self, status: bytes, content_type: bytes, payload: bytes) -> None:
        length = str(len(payload)).encode()
        head = b"HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %s\r\nx-request-id: req_bench\r\n\r\n" % (
            status,
            content_type,
            length,
        )
        self.transport.write(head + payload)


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(OpenAIProtocol, host, port, backlog=2048)
    print(f"OpenAI-compatible bench server on http://{host}:{port}/v1", flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
