"""Batch throughput: a file of N requests run at concurrency C against the built-in fake server (its own process),
as lines per second, for three ways of doing the same job:

- ``modelport batch IN -o OUT --concurrency C``: the command, end to end (start-up and import included);
- the loop people write with the OpenAI SDK: ``AsyncOpenAI`` calls under a semaphore of C, each result written
  as a line;
- LiteLLM's ``batch_completion`` (its thread pool), results written as lines.

    python bench/batch_bench.py                      # 10,000 lines at concurrency 256
    python bench/batch_bench.py --lines 2000 --rounds 3

The peers run from the virtual environment named by ``MODELPORT_PEERS_VENV`` (one with ``openai`` and ``litellm``,
as ``bench/requirements-peers.txt`` makes); without it only modelport is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import start_server

SDK_LOOP = r"""
import asyncio, json, sys
from openai import AsyncOpenAI

async def main(path, out, base_url, concurrency):
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    lines = [json.loads(line) for line in open(path)]
    gate = asyncio.Semaphore(concurrency)
    with open(out, "w") as sink:
        async def one(line):
            async with gate:
                try:
                    reply = await client.chat.completions.create(**line["body"])
                    row = {"custom_id": line["custom_id"], "response": {"status_code": 200, "body": reply.model_dump()}}
                except Exception as exc:
                    row = {"custom_id": line["custom_id"], "error": {"message": str(exc)}}
                sink.write(json.dumps(row) + "\n")
        await asyncio.gather(*(one(line) for line in lines))
    await client.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""

LITELLM = r"""
import json, sys
import litellm

path, out, base_url, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = [json.loads(line) for line in open(path)]
replies = litellm.batch_completion(model="openai/" + lines[0]["body"]["model"],
                                   messages=[line["body"]["messages"] for line in lines],
                                   max_tokens=lines[0]["body"]["max_tokens"], api_base=base_url, api_key="bench",
                                   max_workers=concurrency)
with open(out, "w") as sink:
    for line, reply in zip(lines, replies):
        body = reply.model_dump() if hasattr(reply, "model_dump") else {"error": str(reply)}
        sink.write(json.dumps({"custom_id": line["custom_id"], "response": {"body": body}}) + "\n")
"""


def write_requests(path: Path, lines: int) -> None:
    with open(path, "w") as f:
        for i in range(lines):
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"Label item {i}"}], "max_tokens": 16}
            f.write(
                json.dumps({"custom_id": f"item-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
                + "\n"
            )


def timed(command: list[str], out: Path, lines: int) -> float:
    """Lines per second of ``command``, checking it wrote one result per line."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-2000:]}")
    with open(out) as results:
        written = sum(1 for _ in results)
    if written != lines:
        raise SystemExit(f"{command[:4]} wrote {written} lines, not {lines}")
    return lines / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=1, help="best of this many runs of each")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    venv = os.environ.get("MODELPORT_PEERS_VENV")
    peer_python = os.path.join(venv, "bin", "python") if venv else None
    if peer_python and not os.path.exists(peer_python):
        raise SystemExit(f"MODELPORT_PEERS_VENV names {venv}, which has no bin/python")
    server, base_url = start_server()
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            requests, out = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
            write_requests(requests, args.lines)
            runs = {
                "modelport": [
                    sys.executable,
                    "-m",
                    "modelport.cli",
                    "batch",
                    str(requests),
                    "-o",
                    str(out),
                    "--base-url",
                    base_url,
                    "--model",
                    "gpt-4o",
                    "--concurrency",
                    str(args.concurrency),
                    "--progress-every",
                    "3600",
                ],
            }
            if peer_python:
                for name, source in (("openai_sdk_loop", SDK_LOOP), ("litellm_batch_completion", LITELLM)):
                    script = Path(folder) / f"{name}.py"
                    script.write_text(source)
                    job = [str(requests), str(out), base_url, str(args.concurrency)]
                    runs[name] = [peer_python, str(script), *job]
            for _ in range(args.rounds):
                for name, command in runs.items():
                    rate = timed(command, out, args.lines)
                    figures[name] = max(figures.get(name, 0.0), rate)
    finally:
        server.terminate()
        server.wait()
    print(f"{args.lines:,} lines at concurrency {args.concurrency}, lines per second (best of {args.rounds}):")
    for name, rate in figures.items():
        ratio = f"  modelport is {figures['modelport'] / rate:.1f}x this" if name != "modelport" else ""
        print(f"  {name:<26} {rate:>9,.0f}/s{ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
