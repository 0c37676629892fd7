"""N calls through a direct client or a Router over it, for counting instructions per call with callgrind (the
measure that does not move with the machine's load):

    python -m modelport.testing --port 8799 &
    for n in 100 400; do
        valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/router_calls.py memory $n \\
            --base-url http://127.0.0.1:8799/v1 2>&1 | grep Collected
    done
    # (instructions at 400 - instructions at 100) / 300 = instructions per call

Modes: ``direct`` (the client alone), ``nolimits`` (a Router over it), ``memory`` (a requests limit and
``max_concurrency``), ``tokens`` (a tokens limit as well, which counts each prompt's tokens).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


async def run(mode: str, n: int, base_url: str) -> None:
    from modelport import OpenAIChatCompletionClient, SystemMessage, UserMessage
    from modelport.router import Deployment, RateLimit, Router

    client = OpenAIChatCompletionClient(model="gpt-4o-2024-08-06", base_url=base_url, api_key="bench")
    messages = [
        SystemMessage(content="You are a helpful assistant."),
        UserMessage(content="What is the capital of France?"),
    ]
    requests = RateLimit(requests=1_000_000, per=60.0)
    runners: dict[str, Any] = {
        "direct": client,
        "nolimits": Router([client]),
        "memory": Router([Deployment(client, "a", limits=[requests], max_concurrency=100)]),
        "tokens": Router(
            [Deployment(client, "a", limits=[requests, RateLimit(tokens=10**9, per=60.0)], max_concurrency=100)]
        ),
    }
    runner = runners[mode]
    async with client:
        for _ in range(n):
            await runner.create(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["direct", "nolimits", "memory", "tokens"])
    parser.add_argument("n", type=int)
    parser.add_argument("--base-url", default="http://127.0.0.1:8799/v1")
    args = parser.parse_args()
    asyncio.run(run(args.mode, args.n, args.base_url))


if __name__ == "__main__":
    main()
