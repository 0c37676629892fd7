"""Point 8 of the first-hour review: ``--rpm`` starts requests evenly (a smooth rate) under the router's rolling
window, latency counts from each request's start with the wait for capacity told apart, and every progress line
fits an 80-column terminal. Measured from the fake server's side, with ``modelport batch`` run as a user runs it."""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from modelport import OpenAIChatCompletionClient, UserMessage
from modelport.batch import collect, run_batch
from modelport.errors import InvalidRequestError
from modelport.router import Deployment, RateLimit, Router
from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply

from .helpers import finish
from .test_batch import _batch, _busiest, _counting_arrivals, _router_config, _write_requests


def _one_second(requests: int) -> RateLimit:
    return RateLimit(requests=requests, per=1.0)


def _busiest_in(arrivals: list[float], span: float) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + span) for start in arrivals)


def test_point8_rpm_starts_requests_evenly(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 20)
    arrivals, reply = _counting_arrivals()
    with FakeServer(default=reply) as server:
        code, _, err = finish(
            _batch(
                str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--base-url", server.base_url,
                "--model", "gpt-4o", "--rpm", "600", "--concurrency", "20", warm=True,
            )
        )
        assert code == 0, err
    assert len(arrivals) == 20
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # 600 a minute is one every 0.1 s: spread over about two seconds, not twenty at once then nothing
    assert arrivals[-1] - arrivals[0] >= 19 * 0.1 * 0.9
    assert statistics.median(gaps) >= 0.09
    # five expected; a burst puts all twenty here. A loaded machine can hold a few back on the client's side (a
    # new connection each while the first is being made), which then arrive together, so some slack.
    assert _busiest_in(arrivals, 0.5) <= 10


async def test_point8_start_every_keeps_the_routers_rolling_window() -> None:
    arrivals, reply = _counting_arrivals()
    requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(10)]
    with FakeServer(default=reply) as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        router = Router([Deployment(client, "paced", limits=[RateLimit(requests=4, per=1.0)])])
        async with router:
            await client.create([UserMessage(content="warm", source="user")])  # the connection, made beforehand
            del arrivals[:]
            results = await collect(run_batch(router, requests, concurrency=10, start_every=0.1))
    assert len(results) == 10 and all(r.ok for r in results)
    assert _busiest(arrivals, 1.0) <= 4  # the window still holds: the pace alone would allow 10 a second
    # until the window is full the pace alone spaces the starts: a turn apart, half a turn at the closest
    assert arrivals[3] - arrivals[0] >= 0.25
    assert min(b - a for a, b in itertools.pairwise(arrivals[:4])) >= 0.03
    waited = sorted(r.waited for r in results)
    assert waited[-1] >= 1.0  # the later ones waited for the window ...
    assert max(r.seconds for r in results) < 0.9  # ... and their latency does not include that wait


async def test_point8_start_every_is_checked(client: OpenAIChatCompletionClient) -> None:
    for bad in (0, -1, "1", True, float("nan")):
        with pytest.raises(InvalidRequestError, match="start_every"):
            run_batch(client, [{"custom_id": "a", "messages": [{"role": "user", "content": "x"}]}], start_every=bad)


@pytest.mark.parametrize("limit", ["--rpm", "router"])
def test_point8_latency_counts_from_the_start_and_the_wait_is_told_apart(tmp_path: Path, limit: str) -> None:
    _write_requests(tmp_path / "in.jsonl", 15)
    with FakeServer() as server:
        if limit == "--rpm":  # one start every 0.1 s
            flags = ["--base-url", server.base_url, "--model", "gpt-4o", "--rpm", "600"]
        else:  # five starts in any second
            flags = ["--config", str(_router_config(tmp_path / "r.json", server.base_url, _one_second(5)))]
        code, stdout, err = finish(
            _batch(str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), *flags, "--concurrency", "15",
                   warm=True)
        )
        assert code == 0, err
    latency = re.search(r"^latency: p50 ([\d.]+) s · p95 ([\d.]+) s", stdout, re.M)
    waited = re.search(r"^waited for capacity: (\d+) calls, p50 .* max ([\d.]+) s$", stdout, re.M)
    assert latency, stdout
    assert float(latency.group(2)) < 1.0, stdout  # the fake server answers at once: a long latency is a wait
    assert waited, stdout
    assert float(waited.group(2)) >= 1.2 and int(waited.group(1)) >= 10  # the last ones waited over a second
    assert all(len(line) <= 80 for line in stdout.splitlines()[:-1])  # the summary fits 80 columns (but the path)


def _slow(delay: float) -> Any:
    def reply(request: RecordedRequest) -> Reply:
        return dataclasses.replace(default_reply(request), head_delay=delay)

    return reply


def _screens(session: str, until: str, timeout: float, *, joined: bool = False) -> list[str]:
    """The pane's screens until one shows ``until``; ``joined``: a line the terminal wrapped is one line."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    capture = ["tmux", "capture-pane", "-p", *(["-J"] if joined else []), "-t", session]
    while time.monotonic() < deadline:
        captured = subprocess.run(capture, capture_output=True, text=True)
        if captured.returncode:  # the session has ended
            break
        screen = captured.stdout
        seen.append(screen)
        if until in screen:
            break
        time.sleep(0.05)
    return seen


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_point8_every_progress_line_fits_80_columns(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 300)
    session = f"modelport-pacing-{os.getpid()}"
    with FakeServer(default=_slow(2.0)) as server:
        command = (
            f"{sys.executable} -m modelport.cli batch {tmp_path / 'in.jsonl'} -o {tmp_path / 'out.jsonl'} "
            f"--base-url {server.base_url} --model gpt-4o --rpm 6000 --concurrency 40; sleep 60"
        )
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "20", command], check=True)
        try:
            running = _screens(session, " left", 30)
            running += _screens(session, "results in", 1.0)  # a second more of the run
            subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
            stopping = _screens(session, "results in", 30)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    lines = [line for screen in running + stopping for line in screen.splitlines()]
    assert all(len(line) <= 80 for line in lines)
    bars = [line for line in lines if "/300" in line and "results in" not in line]
    notes = [line for line in bars if "stopping:" in line]
    assert notes, stopping[-1]
    # the whole note, on one line with the count, and nothing cut in the middle of a word
    assert re.search(r"\d+/300 · .*stopping: waiting for \d+ in flight \(Ctrl-C again: stop at once\)$", notes[-1])
    assert any("left" in line and "waiting for capacity" in line for line in bars), running[-1]
    assert "stopped:" in stopping[-1] and "results in" in stopping[-1]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_point8_progress_fits_a_40_column_terminal_and_shows_stopping_with_stdout_redirected(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 300)
    session = f"modelport-narrow-{os.getpid()}"
    summary = tmp_path / "summary.txt"
    with FakeServer(default=_slow(2.0)) as server:
        command = (
            f"PYTHONPATH={shlex.quote(os.environ.get('PYTHONPATH', ''))} "
            f"{sys.executable} -m modelport.cli batch {tmp_path / 'in.jsonl'} -o {tmp_path / 'out.jsonl'} "
            f"--base-url {server.base_url} --model gpt-4o --rpm 6000 --concurrency 40 --no-usage-log > {summary}; "
            "sleep 60"
        )  # stdout is a file, stderr the 40-column terminal
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "40", "-y", "20", command], check=True)
        try:
            running = _screens(session, " left", 30, joined=True)
            subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
            stopping = _screens(session, "stopping:", 10, joined=True)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    lines = [line for screen in running + stopping for line in screen.splitlines()]
    assert any("/300" in line for line in lines), running[-1]
    assert all(len(line) <= 40 for line in lines), [line for line in lines if len(line) > 40]  # nothing wrapped
    assert any(line.startswith("stopping: waiting for") for line in lines), stopping[-1]  # kept, cut to fit


async def test_point8_start_every_spaces_the_first_two_starts_a_whole_turn() -> None:
    arrivals, reply = _counting_arrivals()
    requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(3)]
    with FakeServer(default=reply) as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        await client.create([UserMessage(content="warm", source="user")])  # the connection, made beforehand
        del arrivals[:]
        results = await collect(run_batch(client, requests, concurrency=3, start_every=0.4))
        await client.close()
    assert len(results) == 3 and all(r.ok for r in results)
    # a run's first start is not late for an earlier turn: the second comes a whole turn after it, not half
    assert [round(b - a, 1) >= 0.3 for a, b in itertools.pairwise(arrivals)] == [True, True], arrivals
