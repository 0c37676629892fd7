#!/usr/bin/env python3
"""modelport's own benchmark: client CPU per call and per streamed chunk, and throughput under concurrency,
against the built-in fake server (``python -m modelport.testing``) running in a separate process.

    python bench/bench.py                 # every measure but scale
    python bench/bench.py --only stream   # one of: import, nonstream, stream, anthropic_stream, ollama_stream,
                                          # concurrent, context, cache, router, scale (N concurrent trickled
                                          # streams)
    python bench/bench.py --json out.json

Figures are the client process's CPU time (the server's work is not counted), so they compare across runs on
one machine; compare with other libraries through ``compare.py``, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

MEASURES = (
    "import",
    "nonstream",
    "stream",
    "anthropic_stream",
    "ollama_stream",
    "concurrent",
    "context",
    "cache",
    "router",
    "scale",
)
ON_REQUEST = ("scale",)  # minutes long: run with --only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, attempts: int = 200) -> None:
    """Until something listens on ``port`` (a server process just started), at most about ten seconds."""
    for _ in range(attempts):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "modelport.testing", "--port", str(port)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "1", *cmd]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server, f"http://127.0.0.1:{port}/v1"


def measure_import() -> dict[str, float]:
    code = (
        "import time; t=time.perf_counter(); import modelport; a=time.perf_counter()-t; "
        "from modelport import OpenAIChatCompletionClient; b=time.perf_counter()-t; print(a, b)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        for _ in range(5)
    ]
    return {
        "import_modelport_ms": min(float(r[0]) for r in runs) * 1000,
        "import_client_ms": min(float(r[1]) for r in runs) * 1000,
    }


def bench_client(measure: str, base_url: str) -> Any:
    """The client a measure runs: Anthropic's Messages dialect for ``anthropic_*``, else OpenAI's."""
    if measure.startswith("anthropic_"):
        from modelport.providers.anthropic import AnthropicChatCompletionClient

        return AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=base_url, api_key="bench")
    if measure.startswith("ollama_"):
        from modelport import OllamaChatCompletionClient

        return OllamaChatCompletionClient("llama3.1", host=base_url.removesuffix("/v1"))
    from modelport import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base_url, api_key="bench")


async def measure_calls(base_url: str, measure: str, n: int, chunks: int, concurrency: int) -> dict[str, float]:
    from modelport import SystemMessage, UserMessage

    client = bench_client(measure, base_url)
    words = " ".join(f"w{i}" for i in range(chunks - 2))

    def messages(text: str) -> list:
        return [SystemMessage(content="You are a helpful assistant."), UserMessage(content=text)]

    async def plain() -> None:
        await client.create(messages("What is the capital of France?"))

    async def streamed() -> int:
        count = 0
        async with client.create_stream(messages(words)) as stream:
            async for _ in stream:
                count += 1
        return count

    async with client:
        await plain()
        if measure == "nonstream":
            c0 = time.process_time()
            for _ in range(n):
                await plain()
            return {"cpu_per_call_us": (time.process_time() - c0) / n * 1e6}
        if measure in ("stream", "anthropic_stream", "ollama_stream"):
            per_stream = await streamed()
            c0 = time.process_time()
            for _ in range(n):
                await streamed()
            cpu = time.process_time() - c0
            return {"cpu_per_chunk_us": cpu / (n * per_stream) * 1e6, "chunks_per_stream": per_stream}
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                await plain()

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
        wall = time.perf_counter() - t0
        errors = sum(isinstance(r, BaseException) for r in results)
        return {"calls_per_s": n / wall, "errors": errors, "concurrency": concurrency}


async def measure_context(size: int = 1000, rounds: int = 200) -> dict[str, float]:
    """What adding one message to a ``size``-message token-limited context costs, next to counting one message and
    counting the whole history afresh (every message new to the cache)."""
    from modelport import OpenAIChatCompletionClient, UserMessage
    from modelport.model_context import TokenLimitedChatCompletionContext

    client = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", api_key="bench")
    tag = time.perf_counter_ns()
    history = [UserMessage(content=f"history message {tag} {i}: some words about the weather") for i in range(size)]
    context = TokenLimitedChatCompletionContext(client, token_limit=20_000, initial_messages=history)
    await context.get_messages()
    t0 = time.perf_counter()
    for i in range(rounds):
        await context.add_message(UserMessage(content=f"new message {tag} {i}: a question about the weather"))
        await context.get_messages()
    add_and_get = (time.perf_counter() - t0) / rounds
    t0 = time.perf_counter()
    for i in range(rounds):
        client.count_tokens([UserMessage(content=f"single {tag} {i}: a question about the weather")])
    one = (time.perf_counter() - t0) / rounds
    fresh = [UserMessage(content=f"fresh {tag} {i}: some words about the weather") for i in range(size)]
    t0 = time.perf_counter()
    count = client.count_tokens(fresh)
    whole = time.perf_counter() - t0
    return {
        "add_and_get_us": add_and_get * 1e6,
        "count_one_message_us": one * 1e6,
        "count_whole_history_us": whole * 1e6,
        "history": size,
        "estimated": bool(getattr(count, "estimated", False)),
    }


def start_redis() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """A throwaway redis-server on a free port when the binary is installed (or REDIS_URL, if set)."""
    if os.environ.get("REDIS_URL"):
        return None, os.environ["REDIS_URL"]
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process, f"redis://127.0.0.1:{port}/0"


async def measure_cache(base_url: str, hits: int = 1000) -> dict[str, float]:
    """Wall time of a cache hit through ``ChatCompletionCache.create`` for each store, next to a miss that goes
    to the built-in server."""
    import tempfile

    from modelport import ChatCompletionCache, DiskCacheStore, InMemoryStore, OpenAIChatCompletionClient, UserMessage
    from modelport.cache import RedisStore

    client = OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base_url, api_key="bench")
    messages = [UserMessage(content="What is the capital of France?")]
    figures: dict[str, float] = {}
    async with client:
        await client.create(messages)
        t0 = time.perf_counter()
        for _ in range(200):
            await client.create(messages)
        figures["miss_to_server_us"] = (time.perf_counter() - t0) / 200 * 1e6
        redis_process, redis_url = start_redis()
        with tempfile.TemporaryDirectory() as folder:
            stores: dict[str, object] = {"memory": InMemoryStore(), "disk": DiskCacheStore(folder)}
            if redis_url:
                stores["redis"] = RedisStore(redis_url)
            try:
                for name, store in stores.items():
                    cache = ChatCompletionCache(client, store)  # type: ignore[arg-type]
                    await cache.create(messages)
                    t0 = time.perf_counter()
                    for _ in range(hits):
                        await cache.create(messages)
                    figures[f"{name}_hit_us"] = (time.perf_counter() - t0) / hits * 1e6
            finally:
                stores["disk"].close()  # type: ignore[attr-defined]
                if "redis" in stores:
                    await stores["redis"].close()  # type: ignore[attr-defined]
                if redis_process is not None:
                    redis_process.terminate()
                    redis_process.wait()
    return figures


def redis_stats(conn: Any) -> tuple[int, int, int]:
    """Redis's own counts so far: the reads it processed (``total_reads_processed``: one per burst of commands a
    client sent, so a pipeline of several scripts is one round trip), the scripts it ran (EVALSHA), and the commands
    run inside them. Each reading is itself one read, one INFO command."""
    reads = int(conn.info("stats")["total_reads_processed"])
    stats = conn.info("commandstats")
    scripts = sum(int(stats.get(k, {}).get("calls", 0)) for k in ("cmdstat_evalsha", "cmdstat_eval"))
    outer = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_info", "cmdstat_script|load")
    inner = sum(int(v["calls"]) for k, v in stats.items() if k not in outer)
    return reads, scripts, inner


async def measure_router(base_url: str, n: int = 300, rounds: int = 5) -> dict[str, float]:
    """Client CPU per call: a direct client, a Router over that client in memory, and (with a redis-server) a Router
    over a RedisRouterState; Redis round trips, scripts and commands per routed call from Redis's own stats. The
    best of ``rounds`` alternating runs, so the ratio is not a scheduling accident."""
    import redis

    from modelport import OpenAIChatCompletionClient, SystemMessage, UserMessage
    from modelport.router import Deployment, RateLimit, RedisRouterState, Router

    messages = [
        SystemMessage(content="You are a helpful assistant."),
        UserMessage(content="What is the capital of France?"),
    ]
    client = OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base_url, api_key="bench")
    limits = [RateLimit(requests=1_000_000, per=60.0)]
    tokens = [*limits, RateLimit(tokens=1_000_000_000, per=60.0)]  # a tokens limit also counts the prompt's tokens
    runners: dict[str, Any] = {
        "direct": client,
        "memory_no_limits": Router([client]),
        "memory": Router([Deployment(client, "a", limits=limits, max_concurrency=100)]),
        "memory_tokens": Router([Deployment(client, "a", limits=tokens, max_concurrency=100)]),
    }
    redis_process, redis_url = start_redis()
    state = None
    if redis_url:
        state = RedisRouterState(redis_url, namespace=f"bench:{time.time_ns()}", timeout=1.0)
        runners["redis"] = Router([Deployment(client, "a", limits=limits, max_concurrency=100)], state=state)
    best: dict[str, float] = {}
    figures: dict[str, float] = {}
    try:
        async with client:
            for runner in runners.values():
                for _ in range(20):
                    await runner.create(messages)
            for _ in range(rounds):
                for name, runner in runners.items():
                    c0 = time.process_time()
                    for _ in range(n):
                        await runner.create(messages)
                    cpu = (time.process_time() - c0) / n * 1e6
                    best[name] = min(best.get(name, cpu), cpu)
            if redis_url:
                with redis.Redis.from_url(redis_url) as conn:
                    before = redis_stats(conn)
                    for _ in range(n):
                        await runners["redis"].create(messages)
                    await state.flush()
                    after = redis_stats(conn)
                trips, scripts, inner = (a - b for a, b in zip(after, before, strict=True))
                figures["redis_round_trips_per_call"] = (trips - 2) / n  # less the second reading's two INFOs
                figures["redis_scripts_per_call"] = scripts / n
                figures["redis_commands_in_scripts_per_call"] = inner / n
    finally:
        if state is not None:
            await state.close()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait()
    figures["direct_cpu_per_call_us"] = best["direct"]
    figures["memory_cpu_per_call_us"] = best["memory"]
    figures["memory_no_limits_ratio"] = best["memory_no_limits"] / best["direct"]
    figures["memory_ratio"] = best["memory"] / best["direct"]
    figures["memory_tokens_cpu_per_call_us"] = best["memory_tokens"]
    figures["memory_tokens_ratio"] = best["memory_tokens"] / best["direct"]
    if "redis" in best:
        figures["redis_cpu_per_call_us"] = best["redis"]
        figures["redis_ratio"] = best["redis"] / best["direct"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=MEASURES)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    chosen = [args.only] if args.only else [m for m in MEASURES if m not in ON_REQUEST]
    figures: dict[str, dict[str, float]] = {}
    if "import" in chosen:
        figures["import"] = measure_import()
    server, base_url = start_server()
    try:
        plan = {
            "nonstream": (300, 0, 1),
            "stream": (20, 500, 1),
            "anthropic_stream": (20, 500, 1),
            "ollama_stream": (20, 500, 1),
            "concurrent": (2000, 0, 500),
        }
        for measure in ("nonstream", "stream", "anthropic_stream", "ollama_stream", "concurrent"):
            if measure in chosen:
                n, chunks, concurrency = plan[measure]
                figures[measure] = asyncio.run(measure_calls(base_url, measure, n, chunks, concurrency))
        if "cache" in chosen:
            figures["cache"] = asyncio.run(measure_cache(base_url))
        if "router" in chosen:
            figures["router"] = asyncio.run(measure_router(base_url))
    finally:
        server.terminate()
        server.wait()
    if "context" in chosen:
        figures["context"] = asyncio.run(measure_context())
    if "scale" in chosen:  # N concurrent streams against a trickling server: see scale.py
        import scale

        scale.main([])
    for measure, values in figures.items():
        shown = ", ".join(
            f"{k}={v:.2f}"
            if k.endswith(("_ratio", "_per_call"))
            else f"{k}={v:.1f}"
            if isinstance(v, float)
            else f"{k}={v}"
            for k, v in values.items()
        )
        print(f"{measure:<11} {shown}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
