"""A router in a process that has sent nothing yet, against the fake server: its first calls keep a short limit at
the server, since what sending needs is loaded before the first call reserves (a request that left long after its
reservation would reach the server together with the calls of the next window)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply

from .helpers import finish

# Six calls at once through a Router whose one deployment allows 2 requests per 0.3 s, in a fresh process. It says
# whether the HTTP library was loaded before the calls (it must not be: the test is about a cold process).
COLD = """
import asyncio, sys
from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage
from modelport.router import Deployment, RateLimit, Router

async def main(base_url):
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="sk-test",
                                        retry_policy=RetryPolicy(max_retries=0))
    router = Router([Deployment(client, "a", limits=[RateLimit(requests=2, per=0.3)])])
    print("cold" if "aiohttp" not in sys.modules else "warm")
    await asyncio.gather(*(router.create([UserMessage(content="hi", source="user")]) for _ in range(6)))
    await router.close()

asyncio.run(main(sys.argv[1]))
"""


def test_a_cold_process_keeps_a_short_limit_at_the_server(tmp_path: Path) -> None:
    arrivals: list[float] = []

    def reply(request: RecordedRequest) -> Reply:
        arrivals.append(time.monotonic())
        return default_reply(request)

    # No bytecode cached or written, as in a container built with PYTHONDONTWRITEBYTECODE=1: the HTTP library then
    # takes over half a second to import (a fifth of a second from a warm cache), longer than the limit's window.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "no-bytecode")}
    with FakeServer(default=reply) as server:
        process = subprocess.Popen([sys.executable, "-c", COLD, server.base_url], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
        code, out, err = finish(process)
    assert code == 0, err
    assert out.split() == ["cold"]
    assert len(arrivals) == 6
    # Judged over windows a tenth of a second shorter than the limit's: a request reaches the server a moment after
    # its reservation (longer on a loaded machine). A request held back by the import arrives with the next ones.
    busiest = max(sum(1 for t in arrivals if start <= t < start + 0.2) for start in arrivals)
    assert busiest <= 2, [round(t - arrivals[0], 3) for t in arrivals]
    assert arrivals[-1] - arrivals[0] >= 0.55  # 6 calls at 2 per rolling 0.3 s: the last two wait two windows
