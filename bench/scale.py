"""Many concurrent streams through one client, against a server that trickles its chunks.

    python bench/scale.py                       # 1,000, 5,000 and 10,000 streams (or: bench.py --only scale)
    python bench/scale.py --streams 10000 --chunks 10 --interval 0.5
    python bench/scale.py --streams 10000 --floor   # the same streams read by bare aiohttp, no modelport

The server runs in its own process (a minimal OpenAI-compatible stream: ``chunks`` content chunks ``interval``
seconds apart, then the finish chunk and ``[DONE]``), so the client's figures are its own. For each N it reports
the wall time against one stream alone, errors, the client's CPU per chunk, and its peak memory per stream (the
growth of the process's peak resident memory over its size before the streams, divided by N).

``--floor`` runs the same streams through bare aiohttp (one session, ``readany`` and a split on blank lines, orjson
per event): what the transport alone costs on this machine, against which the client's figures can be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import time
from typing import Any

SERVER = r"""
import asyncio, json, sys
chunks, interval = int(sys.argv[2]), float(sys.argv[3])
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"

def frame(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)

def event(delta: dict, finish=None) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return frame(b"data: " + json.dumps(body).encode() + b"\n\n")

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(HEAD + event({"role": "assistant", "content": ""}))
            for i in range(chunks):
                await asyncio.sleep(interval)
                writer.write(event({"content": f" tok{i}"}))
            writer.write(event({}, "stop") + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=16384)
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _run(base_url: str, streams: int, chunks: int, floor: bool = False) -> dict[str, Any]:
    one, close = (_floor_client if floor else _modelport_client)(base_url, streams)
    await one()  # warm-up: the pool, the session, the first import of the transport
    baseline = _peak_rss_kb()
    cpu, wall = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(streams)), return_exceptions=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await close()
    errors = [r for r in results if isinstance(r, BaseException)]
    delivered = sum(r for r in results if isinstance(r, int))
    return {
        "streams": streams,
        "wall_s": round(wall, 2),
        "errors": len(errors),
        "first_error": repr(errors[0])[:200] if errors else None,
        "chunks": delivered,
        "cpu_per_chunk_us": round(cpu / max(delivered, 1) * 1e6, 1),
        "peak_kb_per_stream": round((_peak_rss_kb() - baseline) / streams, 1),
    }


def _modelport_client(base_url: str, streams: int) -> tuple[Any, Any]:
    from modelport import OpenAIChatCompletionClient, UserMessage

    client = OpenAIChatCompletionClient(
        model="gpt-4o",
        base_url=base_url,
        api_key="sk-bench",
        max_retries=0,
        timeout=60,
        max_connections=max(streams, 100),
    )
    messages = [UserMessage(content="Hello")]

    async def one() -> int:
        count = 0
        async for item in client.create_stream(messages):
            if isinstance(item, str):
                count += 1
        return count

    return one, client.close


def _floor_client(base_url: str, streams: int) -> tuple[Any, Any]:
    import aiohttp
    import orjson

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(streams, 100)))
    url = base_url + "/chat/completions"
    body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}], "stream": True})
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

    async def one() -> int:
        count, pending = 0, b""
        async with session.post(url, data=body, headers=headers) as response:
            while chunk := await response.content.readany():
                *events, pending = (pending + chunk).split(b"\n\n")
                for event in events:
                    if event.startswith(b"data: {"):
                        delta = orjson.loads(event[6:])["choices"][0]["delta"]
                        count += bool(delta.get("content"))
        return count

    return one, session.close


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--floor", action="store_true", help="bare aiohttp instead of modelport")
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(args.chunks), str(args.interval)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        base_url = f"http://127.0.0.1:{port}/v1"
        alone = asyncio.run(_run(base_url, 1, args.chunks, args.floor))
        print(json.dumps({"one_stream_alone": alone}), flush=True)
        for n in args.streams:  # each N in its own process, so one run's peak memory does not hide the next's
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(n), base_url, str(args.chunks), str(int(args.floor))],
                capture_output=True,
                text=True,
                timeout=600,
            )
            figures = (
                json.loads(done.stdout.strip().splitlines()[-1])
                if done.returncode == 0
                else {"streams": n, "failed": done.stderr[-500:]}
            )
            figures["x_one_stream"] = round(figures.get("wall_s", 0) / alone["wall_s"], 2)
            print(json.dumps(figures), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
        print(json.dumps(asyncio.run(_run(sys.argv[3], int(sys.argv[2]), int(sys.argv[4]), sys.argv[5] == "1"))))
    else:
        main()
