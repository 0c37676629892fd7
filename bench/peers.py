#!/usr/bin/env python3
"""One client library, measured in this process against the bench server; prints one JSON line. ``compare.py``
runs it once per (peer, mode, round), each peer under its own interpreter.

    python bench/peers.py PEER MODE --base-url URL [--n N] [--chunks C] [--concurrency K]

PEER is a key of ``PEERS`` below: three floors (the least a client can do over raw asyncio streams, aiohttp or
httpx, parsing with the standard library's json), the OpenAI SDK, autogen-ext's OpenAI client, LiteLLM,
pydantic-ai, and modelport (``project``, from the environment that runs this file). MODE is ``nonstream`` (N calls
one after another), ``stream`` (N streams of C chunks), ``concurrent`` (N calls, K at a time) or ``import`` (start
to the end of the first call, wall time). Each peer does the same job: the same two messages, the answer's text
read out (the whole text of a stream), and the figures say whether the text was right.

Figures: client CPU time (``time.process_time``: the server's work is not counted) per call and per chunk, wall
time, calls per second, peak RSS, and the versions of the packages measured. Only the standard library is imported
before the measured code, so the same file runs in the project's environment and in the peers'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import resource
import time
import warnings
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, NamedTuple
from urllib.parse import urlsplit

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
ANSWER = "The capital of France is Paris."  # what the bench server answers; a stream's text is " tok0 tok1 ..."


class Peer(NamedTuple):
    """A client under test: ``setup()`` makes its state (imports included), ``call(state, chunks)`` makes one call
    and returns the answer's text (a stream of ``chunks`` when that is not 0), ``close(state)`` ends it."""

    setup: Callable[[], Awaitable[Any]]
    call: Callable[[Any, int], Awaitable[str]]
    close: Callable[[Any], Awaitable[Any]]
    distributions: tuple[str, ...]


async def nothing(state: Any) -> None:
    return None


def sse_text(lines: list[bytes]) -> str:
    """The text of a stream's ``data:`` lines, as a floor reads it: the standard json, each delta's content."""
    out = []
    for line in lines:
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
            choices = json.loads(line[6:])["choices"]
            if choices:
                out.append(choices[0]["delta"].get("content") or "")
    return "".join(out)


def request_body(chunks: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES}
    if chunks:
        body.update(stream=True, max_tokens=chunks)
    return body


def floor_raw(base: str) -> Peer:
    """Plain asyncio streams on one HTTP/1.1 keep-alive connection: the least a Python client can do (one
    connection, so it has no concurrent figure)."""
    url = urlsplit(base)

    async def setup() -> Any:
        return await asyncio.open_connection(url.hostname, url.port)

    async def call(state: Any, chunks: int) -> str:
        reader, writer = state
        data = json.dumps(request_body(chunks)).encode()
        writer.write(
            b"POST %s/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer x\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (url.path.encode(), len(data), data)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        payload = await reader.readexactly(int(length.group(1)) if length else 0)
        if chunks:
            return sse_text(payload.split(b"\n\n"))
        return str(json.loads(payload)["choices"][0]["message"]["content"])

    async def close(state: Any) -> None:
        state[1].close()

    return Peer(setup, call, close, ())


def floor_aiohttp(base: str) -> Peer:
    async def setup() -> Any:
        import aiohttp

        return aiohttp.ClientSession(base_url=base.rstrip("/") + "/", headers={"authorization": "Bearer x"})

    async def call(session: Any, chunks: int) -> str:
        async with session.post("chat/completions", json=request_body(chunks)) as response:
            if chunks:
                return sse_text([line async for line in response.content])
            return str(json.loads(await response.read())["choices"][0]["message"]["content"])

    return Peer(setup, call, lambda session: session.close(), ("aiohttp",))


def floor_httpx(base: str) -> Peer:
    async def setup() -> Any:
        import httpx

        return httpx.AsyncClient(base_url=base, headers={"authorization": "Bearer x"}, timeout=60)

    async def call(client: Any, chunks: int) -> str:
        if not chunks:
            response = await client.post("/chat/completions", json=request_body(0))
            return str(json.loads(response.content)["choices"][0]["message"]["content"])
        async with client.stream("POST", "/chat/completions", json=request_body(chunks)) as response:
            return sse_text([line.encode() async for line in response.aiter_lines()])

    return Peer(setup, call, lambda client: client.aclose(), ("httpx",))


def openai_sdk(base: str) -> Peer:
    async def setup() -> Any:
        from openai import AsyncOpenAI

        return AsyncOpenAI(base_url=base, api_key="x")

    async def call(client: Any, chunks: int) -> str:
        if not chunks:
            reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            return str(reply.choices[0].message.content)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, max_tokens=chunks)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    return Peer(setup, call, lambda client: client.close(), ("openai",))


def litellm_peer(base: str) -> Peer:
    async def setup() -> Any:
        import litellm

        litellm.suppress_debug_info = True
        return litellm

    async def call(litellm: Any, chunks: int) -> str:
        common = {"model": "openai/gpt-4o", "messages": MESSAGES, "api_base": base, "api_key": "x"}
        if not chunks:
            reply = await litellm.acompletion(**common)
            return str(reply.choices[0].message.content)
        stream = await litellm.acompletion(**common, stream=True, max_tokens=chunks)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    return Peer(setup, call, nothing, ("litellm", "openai"))


def pydantic_ai_peer(base: str) -> Peer:
    async def setup() -> Any:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(base_url=base, api_key="x"))

    async def call(model: Any, chunks: int) -> str:
        from pydantic_ai.direct import model_request, model_request_stream
        from pydantic_ai.messages import ModelRequest
        from pydantic_ai.settings import ModelSettings

        messages = [ModelRequest.user_text_prompt(QUESTION, instructions=SYSTEM)]
        if not chunks:
            return str((await model_request(model, messages)).parts[0].content)
        async with model_request_stream(model, messages, model_settings=ModelSettings(max_tokens=chunks)) as stream:
            async for _ in stream:
                pass
            return str(stream.get().parts[0].content)

    return Peer(setup, call, nothing, ("pydantic-ai-slim", "openai"))


def autogen_peer(base: str) -> Peer:
    """autogen-ext's ``OpenAIChatCompletionClient``, with autogen-core's message types."""

    async def setup() -> Any:
        from autogen_core.models import SystemMessage, UserMessage
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        messages = [SystemMessage(content=SYSTEM), UserMessage(content=QUESTION, source="user")]
        return OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base, api_key="x"), messages

    return Peer(setup, create_or_stream, lambda state: state[0].close(), ("autogen-ext", "openai"))


def project_peer(base: str) -> Peer:
    """modelport, through its public names: the same calls as autogen-ext's client, which it mirrors."""

    async def setup() -> Any:
        from modelport import OpenAIChatCompletionClient, SystemMessage, UserMessage

        messages = [SystemMessage(content=SYSTEM), UserMessage(content=QUESTION, source="user")]
        return OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base, api_key="x"), messages

    return Peer(setup, create_or_stream, lambda state: state[0].close(), ("modelport", "aiohttp"))


async def create_or_stream(state: Any, chunks: int) -> str:
    """One call through the AutoGen-shaped interface (``create``, or ``create_stream`` whose last item is the
    result)."""
    client, messages = state
    if not chunks:
        return str((await client.create(messages)).content)
    last = None
    async for item in client.create_stream(messages, extra_create_args={"max_tokens": chunks}):
        last = item
    return str(getattr(last, "content", None))


PEERS: dict[str, Callable[[str], Peer]] = {
    "floor_raw": floor_raw,
    "floor_aiohttp": floor_aiohttp,
    "floor_httpx": floor_httpx,
    "openai": openai_sdk,
    "autogen": autogen_peer,
    "litellm": litellm_peer,
    "pydantic_ai": pydantic_ai_peer,
    "project": project_peer,
}
MODES = ("nonstream", "stream", "concurrent", "import")


async def measure(peer: Peer, mode: str, n: int, chunks: int, concurrency: int) -> dict[str, Any]:
    """The figures of ``mode``; a first call (imports, connection, first use) is made before any is measured."""
    chunks = chunks if mode == "stream" else 0
    expected = "".join(f" tok{i}" for i in range(chunks)) if chunks else ANSWER
    wall0, cpu0 = time.perf_counter(), time.process_time()
    state = await peer.setup()
    figures: dict[str, Any] = {"correct": await peer.call(state, chunks) == expected}
    if mode == "import":
        figures["import_and_first_call_wall_s"] = time.perf_counter() - wall0
        figures["import_and_first_call_cpu_s"] = time.process_time() - cpu0
    elif mode == "concurrent":
        figures.update(await measure_concurrent(peer, state, n, concurrency))
    else:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        answers = [await peer.call(state, chunks) for _ in range(n)]
        figures["cpu_per_call_us"] = (time.process_time() - cpu0) / n * 1e6
        figures["wall_per_call_us"] = (time.perf_counter() - wall0) / n * 1e6
        figures["correct"] = figures["correct"] and all(a == expected for a in answers)
        if chunks:
            figures["cpu_per_chunk_us"] = figures["cpu_per_call_us"] / chunks
    await peer.close(state)
    return figures


async def measure_concurrent(peer: Peer, state: Any, n: int, concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            return await peer.call(state, 0)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    answers = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    errors = [a for a in answers if isinstance(a, BaseException)]
    return {
        "errors": len(errors),
        "first_error": f"{type(errors[0]).__name__}: {errors[0]}"[:200] if errors else None,
        "correct": all(a == ANSWER for a in answers if not isinstance(a, BaseException)),
        "wall_s": wall,
        "cpu_per_call_us": cpu / n * 1e6,
        "calls_per_s": n / wall,
    }


def versions(distributions: tuple[str, ...]) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=PEERS)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    peer = PEERS[args.peer](args.base_url)
    figures = asyncio.run(measure(peer, args.mode, args.n, args.chunks, args.concurrency))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peer": args.peer, "mode": args.mode, **figures, "versions": versions(peer.distributions)}))


if __name__ == "__main__":
    main()
