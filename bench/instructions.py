"""Instructions per call and per streamed chunk, counted by callgrind: the measure that does not move with the
machine's load, for changes where a few percent matter.

    python bench/instructions.py                      # every dialect, per non-streamed call and per chunk
    python bench/instructions.py --dialects openai --modes chunk

It starts the built-in server's default model in its own process, writing each answer whole (a stream in one
write, so that how the client's reads fall does not depend on timing), then runs this file under
``valgrind --tool=callgrind`` twice for each figure: once with a small count and once with a large one (calls, or the
words of a streamed answer, one chunk each), so that start-up and imports cancel out. The figure is the difference
of the two totals divided by the difference of the counts. Needs valgrind on the PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from typing import Any

DIALECTS = ("openai", "responses", "anthropic", "gemini", "ollama", "bedrock")
COUNTS = {"call": (50, 250), "chunk": (500, 2500)}


def make_client(dialect: str, base_url: str) -> Any:
    import modelport

    if dialect == "openai":
        return modelport.OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base_url, api_key="bench")
    if dialect == "responses":
        return modelport.OpenAIResponsesClient("gpt-4o-2024-08-06", base_url=base_url, api_key="bench")
    if dialect == "anthropic":
        return modelport.AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=base_url, api_key="bench")
    if dialect == "gemini":
        return modelport.GeminiChatCompletionClient("gemini-2.5-flash", base_url=base_url, api_key="bench")
    if dialect == "ollama":
        return modelport.OllamaChatCompletionClient(model="llama3.1:8b", host=base_url.removesuffix("/v1"))
    if dialect == "bedrock":  # signed with SigV4, as a call with AWS keys is
        return modelport.BedrockChatCompletionClient(
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            region="us-east-1",
            aws_access_key_id="AKIDBENCH",
            aws_secret_access_key="bench-secret",
            base_url=base_url,
        )
    raise SystemExit(f"unknown dialect {dialect!r}")


async def child(dialect: str, mode: str, count: int, base_url: str) -> None:
    """What runs under callgrind: ``count`` non-streamed calls, or one stream of ``count`` words."""
    from modelport import SystemMessage, UserMessage

    client = make_client(dialect, base_url)
    system = SystemMessage(content="You are a helpful assistant.")
    await client.create([system, UserMessage(content="warm up")])
    if mode == "call":
        for _ in range(count):
            await client.create([system, UserMessage(content="What is the capital of France?")])
    else:
        words = " ".join(["word"] * count)
        async with client.create_stream([system, UserMessage(content=words)]) as stream:
            async for _ in stream:
                pass
    await client.close()


def instructions(dialect: str, mode: str, count: int, base_url: str) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    command += ["--child", dialect, mode, str(count), base_url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed for {dialect} {mode} {count}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> None:
    """The built-in server's default model, each answer written in one piece."""
    import dataclasses

    from modelport.testing import FakeServer, default_reply

    def whole(request: Any) -> Any:
        reply = default_reply(request)
        body = b"".join(data for _, data in reply.segments)
        return dataclasses.replace(reply, segments=[(0.0, body)], chunked=False)

    with FakeServer(port=port, default=whole):
        while True:
            time.sleep(3600)


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialects", default=",".join(DIALECTS))
    parser.add_argument("--modes", default="call,chunk")
    parser.add_argument("--child", nargs=4, metavar=("DIALECT", "MODE", "COUNT", "BASE_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.child:
        dialect, mode, count, base_url = args.child
        asyncio.run(child(dialect, mode, int(count), base_url))
        return
    server, base_url = start_server()
    try:
        print(f"{'dialect':10} {'mode':6} instructions")
        for dialect in args.dialects.split(","):
            for mode in args.modes.split(","):
                low, high = COUNTS[mode]
                per = (instructions(dialect, mode, high, base_url) - instructions(dialect, mode, low, base_url)) / (
                    high - low
                )
                print(f"{dialect:10} {mode:6} {per:,.0f} per {mode}", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
