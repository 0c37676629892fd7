"""``modelport batch`` as a user runs it (a subprocess against the fake server), and ``run_batch`` in code."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modelport import OpenAIChatCompletionClient, RetryPolicy
from modelport.batch import BatchFileError, collect, read_finished, read_requests, run_batch
from modelport.errors import InvalidRequestError
from modelport.router import Deployment, RateLimit, Router
from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply

from .helpers import finish


def _write_requests(path: Path, count: int, *, plain_every: int = 3) -> list[str]:
    """A requests file: Batch API lines, with every ``plain_every``-th line in the plain form."""
    ids = [f"req-{i:05d}" for i in range(count)]
    with open(path, "w") as f:
        for i, custom_id in enumerate(ids):
            messages = [{"role": "user", "content": f"prompt {custom_id}"}]
            if i % plain_every == 0:
                line: dict[str, Any] = {"custom_id": custom_id, "messages": messages, "max_tokens": 16}
            else:
                body = {"model": "gpt-4o", "messages": messages, "max_tokens": 16, "temperature": 0}
                line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
            f.write(json.dumps(line) + "\n")
    return ids


def _slow(delay: float) -> Any:
    def reply(request: RecordedRequest) -> Reply:
        return dataclasses.replace(default_reply(request), head_delay=delay)

    return reply


def _prompts(server: FakeServer) -> Counter[str]:
    """How many times the server was asked each prompt."""
    return Counter(r.json["messages"][-1]["content"] for r in server.requests)


# ``modelport batch`` in a process whose HTTP library is loaded before the run starts. A cold process loads it
# while its first call, already reserved, is on its way (half a second; seconds on a loaded machine): that call then
# reaches the server long after its reservation has left a one-second window, and the server counts it together with
# the next window's calls. The workers of the Redis tests are warmed with a first call for the same reason.
_WARM = "import sys, aiohttp; from modelport.cli import main; sys.exit(main(sys.argv[1:]))"


def _batch(*args: str, warm: bool = False, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *(["-c", _WARM] if warm else ["-m", "modelport.cli"]), "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def _results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {count} lines")


def _counting_arrivals() -> tuple[list[float], Any]:
    """A fake server's default reply that notes each request's arrival time."""
    arrivals: list[float] = []

    def reply(request: RecordedRequest) -> Reply:
        arrivals.append(time.monotonic())
        return default_reply(request)

    return arrivals, reply


def _busiest(arrivals: list[float], per: float) -> int:
    """The most arrivals in any window a little shorter than ``per``: a request reaches the server a moment after
    its reservation (longer when the machine is loaded), which the router cannot see; a limit not kept still shows,
    since its extra calls start with the others."""
    return max(sum(1 for t in arrivals if start <= t < start + per - 0.1) for start in arrivals)


def _router_config(path: Path, base_url: str, limit: RateLimit, state: Any = None) -> Path:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="sk-test")
    path.write_text(
        Router([Deployment(client, "shared", limits=[limit])], state=state).dump_component().model_dump_json()
    )
    return path


def _flags(server: FakeServer) -> list[str]:
    return ["--base-url", server.base_url, "--model", "gpt-4o", "--progress-every", "0.2"]


def test_a_thousand_lines_give_a_thousand_results(tmp_path: Path) -> None:
    ids = _write_requests(tmp_path / "in.jsonl", 1000)
    out = tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, stdout, err = finish(_batch(str(tmp_path / "in.jsonl"), "-o", str(out), *_flags(server)))
        assert code == 0, err
        results = _results(out)
        assert sorted(r["custom_id"] for r in results) == ids
        assert len(server.requests) == 1000
    first = next(r for r in results if r["custom_id"] == "req-00000")
    assert first["response"]["status_code"] == 200 and first["error"] is None
    body = first["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "You said: prompt req-00000"}
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert "1,000 calls" in stdout and "1,000 ok, 0 failed" in stdout and "p99" in stdout
    assert "batch: " in err  # progress lines, not on a terminal


@pytest.mark.parametrize("how", ["kill", "interrupt", "terminate"])
def test_a_stopped_run_resumes_without_sending_a_finished_request_again(tmp_path: Path, how: str) -> None:
    ids = _write_requests(tmp_path / "in.jsonl", 400)
    out = tmp_path / "out.jsonl"
    with FakeServer(default=_slow(0.02)) as server:
        args = (str(tmp_path / "in.jsonl"), "-o", str(out), *_flags(server), "--concurrency", "8")
        first = _batch(*args)
        _wait_for_lines(out, 100)
        sent = {"kill": signal.SIGKILL, "interrupt": signal.SIGINT, "terminate": signal.SIGTERM}[how]
        first.send_signal(sent)
        code, _, err = finish(first)
        if how == "kill":
            assert code == -signal.SIGKILL
        else:
            assert code == (130 if how == "interrupt" else 143), err
            assert "stopping: waiting for" in err  # the first Ctrl-C or SIGTERM lets those in flight finish
        done_first = {json.loads(line)["custom_id"] for line in out.read_text().splitlines() if line.strip()}
        assert 100 <= len(done_first) < 400
        code, stdout, err = finish(_batch(*args))
        assert code == 0, err
        assert f"{len(done_first):,} already in" in stdout
        prompts = _prompts(server)
    results = _results(out)
    assert sorted(r["custom_id"] for r in results) == ids  # every id exactly once
    assert all(prompts[f"prompt {custom_id}"] == 1 for custom_id in done_first)  # none sent twice
    if how != "kill":  # those in flight at the first Ctrl-C or SIGTERM were waited for, not lost
        assert sum(prompts.values()) == 400


def test_a_second_interrupt_stops_at_once_and_the_output_stays_valid(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    with FakeServer(default=_slow(0.3)) as server:
        args = (str(tmp_path / "in.jsonl"), "-o", str(out), *_flags(server), "--concurrency", "4")
        first = _batch(*args)
        _wait_for_lines(out, 4)
        first.send_signal(signal.SIGINT)
        time.sleep(0.05)
        first.send_signal(signal.SIGINT)
        code, stdout, _ = finish(first, timeout=10)
        assert code == 130
        assert "run the same command again" in stdout
        results = _results(out)  # every line whole
        code, _, err = finish(_batch(*args))
        assert code == 0, err
        assert len(_results(out)) == 60 and len(results) < 60


def test_a_malformed_line_is_reported_with_its_number_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    _write_requests(path, 5)
    lines = path.read_text().splitlines()
    lines[2] = '{"custom_id": "x", "messages": [{"role": "user"'  # cut short
    lines.insert(4, json.dumps({"custom_id": "req-00001", "messages": [{"role": "user", "content": "again"}]}))
    lines.append(json.dumps({"custom_id": "y", "body": {"messages": [{"role": "wizard", "content": "hi"}]}}))
    lines.append(json.dumps({"custom_id": "z", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}))
    path.write_text("\n".join(lines) + "\n")
    with FakeServer() as server:
        code, _, err = finish(_batch(str(path), "-o", str(tmp_path / "out.jsonl"), *_flags(server)))
        assert code == 2
        assert "line 3: not JSON" in err
        assert "line 5: custom_id 'req-00001' repeats line 2" in err
        assert "line 7: body.messages[0].role" in err or ("line 7:" in err and "wizard" in err)
        assert "line 8 (z): " in err and "temperature" in err  # built as the client would send it
        assert "4 problem(s)" in err
        assert server.requests == [] and not (tmp_path / "out.jsonl").exists()


def test_a_line_the_routers_first_deployment_refuses_is_reported_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [{"custom_id": "a", "messages": [{"role": "user", "content": "hi"}]},
             {"custom_id": "b", "messages": [{"role": "user", "content": "hi"}], "top_k": 5}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with FakeServer() as server:
        router = Router([OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")])
        with pytest.raises(BatchFileError, match=r"line 2 \(b\): unknown create argument 'top_k'"):
            read_requests(path, client=router)
        assert server.requests == []


def test_three_shards_merged_equal_one_run(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    ids = _write_requests(requests, 300)
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(tmp_path / "whole.jsonl"), *_flags(server)))
        assert code == 0, err
        parts = []
        for shard in (1, 2, 3):
            part = tmp_path / f"part{shard}.jsonl"
            code, _, err = finish(_batch(str(requests), "-o", str(part), "--shard", f"{shard}/3", *_flags(server)))
            assert code == 0, err
            parts.append(str(part))
        sizes = [len(_results(Path(p))) for p in parts]
        assert sum(sizes) == 300 and all(60 < size < 140 for size in sizes)  # a real split
        assert len(server.requests) == 600
    merged = tmp_path / "merged.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "modelport.cli", "batch", "merge", str(requests), *parts, "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr

    def answers(path: Path) -> list[tuple[str, str]]:
        lines = _results(path)
        return [(r["custom_id"], r["response"]["body"]["choices"][0]["message"]["content"]) for r in lines]

    assert [custom_id for custom_id, _ in answers(merged)] == ids  # in the input's order
    assert sorted(answers(merged)) == sorted(answers(tmp_path / "whole.jsonl"))
    done = subprocess.run(
        [sys.executable, "-m", "modelport.cli", "batch", "merge", str(requests), *parts[:2], "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "have no result in the parts" in done.stderr


def test_dry_run_counts_and_sends_nothing(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 50)
    with FakeServer() as server:
        code, stdout, err = finish(_batch(str(tmp_path / "in.jsonl"), "--dry-run", *_flags(server)))
        assert code == 0, err
        assert server.requests == []
    assert "50 requests" in stdout and "prompt tokens:" in stdout and "replies at most 800" in stdout


def test_failed_lines_keep_their_error_and_retry_failed_reruns_only_them(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    _write_requests(path, 30)
    out = tmp_path / "out.jsonl"
    failing = {"prompt req-00004", "prompt req-00017"}

    def reply(request: RecordedRequest) -> Reply:
        if request.json["messages"][-1]["content"] in failing:
            return Reply.json({"error": {"message": "no such luck", "type": "invalid_request_error"}}, status=400)
        return default_reply(request)

    with FakeServer(default=reply) as server:
        args = (str(path), "-o", str(out), *_flags(server))
        code, stdout, _ = finish(_batch(*args))
        assert code == 1 and "28 ok, 2 failed (HTTP 400 2)" in stdout
        failed = [r for r in _results(out) if r["response"]["status_code"] != 200]
        assert sorted(r["custom_id"] for r in failed) == ["req-00004", "req-00017"]
        assert failed[0]["response"]["body"]["error"]["message"] == "no such luck"
        server.reset()
        code, _, _ = finish(_batch(*args))
        assert code == 1 and server.requests == []  # a plain rerun leaves failures as they are
        failing.clear()
        code, stdout, err = finish(_batch(*args, "--retry-failed"))
        assert code == 0, err
        assert sorted(_prompts(server)) == ["prompt req-00004", "prompt req-00017"]
    assert len(_results(out)) == 30 and all(r["response"]["status_code"] == 200 for r in _results(out))


def test_a_line_cut_by_a_crash_is_detected_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    ids = _write_requests(path, 10)
    out = tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, _, _ = finish(_batch(str(path), "-o", str(out), *_flags(server)))
        assert code == 0
        whole = out.read_bytes()
        last = whole.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        out.write_bytes(whole[: len(whole) - len(last) // 2 - 1])  # the last line half written
        cut_id = json.loads(last)["custom_id"]
        server.reset()
        code, _, err = finish(_batch(str(path), "-o", str(out), *_flags(server)))
        assert code == 0, err
        assert "last line was cut short" in err
        assert list(_prompts(server)) == [f"prompt {cut_id}"]
    assert sorted(r["custom_id"] for r in _results(out)) == ids


def test_limits_from_a_router_config_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    _write_requests(path, 15)
    arrivals, reply = _counting_arrivals()
    with FakeServer(default=reply) as server:
        config = _router_config(tmp_path / "router.json", server.base_url, RateLimit(requests=5, per=1.0))
        code, _, err = finish(_batch(str(path), "-o", str(tmp_path / "out.jsonl"), "--config", str(config), warm=True))
        assert code == 0, err
    assert len(arrivals) == 15
    assert arrivals[-1] - arrivals[0] >= 1.9  # 15 calls at 5 per rolling second: the last five wait two windows
    assert _busiest(arrivals, 1.0) <= 5


def test_refuses_results_of_another_file(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    stranger = {"id": "batch_req_1", "custom_id": "stranger", "response": {"status_code": 200}, "error": None}
    out.write_text(json.dumps(stranger) + "\n")  # a result line, of another requests file
    with FakeServer() as server:
        code, _, err = finish(_batch(str(tmp_path / "in.jsonl"), "-o", str(out), *_flags(server)))
        assert code == 2 and "line 1: custom_id 'stranger' is not in the requests file" in err
        assert server.requests == []


@pytest.mark.parametrize("retry_failed", [False, True])
def test_a_file_that_is_not_this_jobs_results_is_left_as_it_is(tmp_path: Path, retry_failed: bool) -> None:
    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 3)
    notes = tmp_path / "notes.jsonl"
    text = '{"user": "ann", "note": "keep me"}\nplain text line\n'
    other = json.dumps({"custom_id": "other-2", "response": {"status_code": 500}, "error": None}) + "\n"
    with FakeServer() as server:
        for content in (text, other):
            notes.write_text(content)
            flags = ["--retry-failed"] if retry_failed else []
            code, _, err = finish(_batch(str(requests), "-o", str(notes), *flags, *_flags(server)))
            assert code == 2 and "It was left as it is" in err, err
            assert notes.read_text() == content  # not a byte changed
        assert server.requests == []


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    ids = _write_requests(path, 5)
    out = tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, _, _ = finish(_batch(str(path), "-o", str(out), *_flags(server)))
        assert code == 0
        out.write_bytes(out.read_bytes().rstrip(b"\n"))  # whole, but the newline never reached the disk
        server.reset()
        code, stdout, err = finish(_batch(str(path), "-o", str(out), *_flags(server)))
        assert code == 0 and "nothing to run" in stdout, err
        assert server.requests == []
    assert out.read_bytes().endswith(b"\n") and sorted(r["custom_id"] for r in _results(out)) == ids


# -- in code --


async def test_run_batch_yields_every_result_and_failures_as_results() -> None:
    def reply(request: RecordedRequest) -> Reply:
        if "fail" in request.json["messages"][-1]["content"]:
            return Reply.json({"error": {"message": "down", "type": "server_error"}}, status=503)
        return default_reply(request)

    with FakeServer(default=reply) as server:
        client = OpenAIChatCompletionClient(
            model="gpt-4o", base_url=server.base_url, api_key="sk-test", retry_policy=RetryPolicy(max_retries=0)
        )
        requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(40)]
        requests.append({"custom_id": "bad", "messages": [{"role": "user", "content": "fail"}]})
        async with client:
            results = await collect(run_batch(client, requests, concurrency=7))
            assert sorted(r.custom_id for r in results) == sorted(r["custom_id"] for r in requests)
            failed = [r for r in results if not r.ok]
            assert [r.custom_id for r in failed] == ["bad"]
            assert failed[0].output_line()["response"]["status_code"] == 503
            ok = next(r for r in results if r.custom_id == "q3")
            assert ok.result is not None and ok.result.content == "You said: n3"
            sent = len(server.requests)
            with pytest.raises(BatchFileError, match=r"'q1'.*max_tokens"):
                run_batch(
                    client, [{"custom_id": "q1", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}]
                )
            assert len(server.requests) == sent


async def test_run_batch_stop_lets_those_in_flightfinish() -> None:
    with FakeServer(default=_slow(0.2)) as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        requests = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(50)]
        async with client:
            run = run_batch(client, requests, concurrency=5)
            results, sent_at_stop = [], None
            async for result in run:
                results.append(result)
                if sent_at_stop is None:
                    run.stop()
                    sent_at_stop = run.started
            assert len(results) == sent_at_stop and all(r.ok for r in results)  # those in flight finished
            assert len(server.requests) == sent_at_stop < 50  # and none was sent after the stop


def test_read_requests_names_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"custom_id": "a", "messages": []}\n[1]\n{"messages": [{"role": "user", "content": "x"}]}\n\n')
    with pytest.raises(BatchFileError) as caught:
        read_requests(path)
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 2", "line 3"]
    assert "custom_id" in caught.value.problems[1]


# -- the progress bar on a real terminal --


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    _write_requests(tmp_path / "in.jsonl", 200)
    session = f"modelport-batch-{os.getpid()}"
    with FakeServer(default=_slow(0.05)) as server:
        command = (
            f"{sys.executable} -m modelport.cli batch {tmp_path / 'in.jsonl'} -o {tmp_path / 'out.jsonl'} "
            f"--base-url {server.base_url} --model gpt-4o --concurrency 4; sleep 30"
        )
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "20", command], check=True)
        try:
            seen: list[str] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                screen = subprocess.run(
                    ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
                ).stdout
                seen.append(screen)
                if "results in" in screen:
                    break
                time.sleep(0.1)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    during = [s for s in seen if "█" in s and "results in" not in s]
    assert during, seen[-1]
    bar = next(line for line in during[-1].splitlines() if "█" in line or "░" in line)
    assert "/200" in bar and "/s" in bar and "tok" in bar and "left" in bar
    assert all(screen.count("░") <= 30 for screen in during)  # redrawn in place, not one line per update
    final = seen[-1]
    assert "200/200" in final and "200 ok, 0 failed" in final and "latency: p50" in final


def test_shards_in_parallel_share_one_quota_through_redis(tmp_path: Path, redis_url: str) -> None:
    from modelport.router import RedisRouterState

    requests = tmp_path / "in.jsonl"
    ids = _write_requests(requests, 36)
    arrivals, reply = _counting_arrivals()
    with FakeServer(default=reply) as server:
        # A generous timeout: three processes starting at once on a small machine must not miss Redis and count
        # alone (the fallback for an unreachable Redis, tested with the router).
        state = RedisRouterState(redis_url, namespace=f"batch-test-{os.getpid()}-{time.time_ns()}", timeout=5.0)
        config = _router_config(tmp_path / "router.json", server.base_url, RateLimit(requests=10, per=1.0), state)
        parts = [tmp_path / f"part{shard}.jsonl" for shard in (1, 2, 3)]
        runs = [
            _batch(str(requests), "-o", str(part), "--config", str(config), "--shard", f"{shard}/3", warm=True)
            for shard, part in zip((1, 2, 3), parts, strict=True)
        ]
        for run in runs:
            code, _, err = finish(run)
            assert code == 0, err
            assert "unreachable" not in err  # shared all along, never this process's own limits
    assert len(arrivals) == 36
    assert _busiest(arrivals, 1.0) <= 10
    assert arrivals[-1] - arrivals[0] >= 2.0  # 36 calls at 10 per rolling second, whichever shard sent them
    merged = tmp_path / "merged.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "modelport.cli", "batch", "merge", str(requests), *map(str, parts), "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [r["custom_id"] for r in _results(merged)] == ids


def test_file_mistakes_are_one_line_errors_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelport.cli import main

    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 3)
    (tmp_path / "empty.jsonl").write_text("\n")
    with FakeServer() as server:
        flags = ["--base-url", server.base_url, "--model", "gpt-4o"]
        cases = [
            (["batch", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")], "No such file or directory"),
            (["batch", str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "o.jsonl")], "holds no requests"),
            (["batch", str(requests), "-o", str(requests)], "is the requests file itself"),
            (["batch", str(requests), "-o", str(tmp_path / "no" / "o.jsonl")], "does not exist"),
            (["batch", str(requests)], "-o OUT.jsonl is required"),
            (["batch", str(requests), "-o", str(tmp_path / "o.jsonl"), "--shard", "0/3"], "between 1 and N"),
            (["batch", str(requests), "-o", str(tmp_path / "o.jsonl"), "--rpm", "0"], "--rpm must be at least 1"),
        ]
        for argv, said in cases:
            assert main([*argv, *flags]) == 2, argv
            err = capsys.readouterr().err
            assert said in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert server.requests == []
        assert requests.read_text().count("\n") == 3  # the requests file was not touched


def test_a_byte_order_mark_is_not_a_broken_first_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps({"custom_id": "a", "messages": [{"role": "user", "content": "x"}]}).encode()
        + b"\n"
    )
    assert [r.custom_id for r in read_requests(path)] == ["a"]


def test_a_cache_answers_a_second_run_without_sending(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 20)
    cache = tmp_path / "cache"
    with FakeServer() as server:
        for out in ("first.jsonl", "second.jsonl"):
            args = (str(requests), "-o", str(tmp_path / out), "--cache", str(cache), "--rpm", "100000", *_flags(server))
            code, _, err = finish(_batch(*args))
            assert code == 0, err
        assert len(server.requests) == 20  # the second run came from the cache, through the same limiter
    first, second = _results(tmp_path / "first.jsonl"), _results(tmp_path / "second.jsonl")

    def answers(lines: list[dict[str, Any]]) -> dict[str, str]:
        return {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in lines}

    assert answers(first) == answers(second) and len(second) == 20


def test_the_summary_and_the_results_carry_the_cost_when_priced(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 10)
    with FakeServer() as server:
        client = OpenAIChatCompletionClient(
            model="gpt-4o", base_url=server.base_url, api_key="sk-test", prices={"gpt-4o": {"input": 2, "output": 8}}
        )
        config = tmp_path / "client.json"
        config.write_text(client.dump_component().model_dump_json())
        code, stdout, err = finish(_batch(str(requests), "-o", str(tmp_path / "out.jsonl"), "--config", str(config)))
        assert code == 0, err
    results = _results(tmp_path / "out.jsonl")
    usages = [r["response"]["body"]["usage"] for r in results]
    expected = sum(u["prompt_tokens"] * 2 + u["completion_tokens"] * 8 for u in usages) / 1_000_000
    assert sum(u["cost"] for u in usages) == pytest.approx(expected)
    shown = re.search(r"cost \$([\d.,]+)", stdout)
    assert shown, stdout  # a plain decimal ($0.00031), never $3.1E-4
    assert float(shown.group(1)) == pytest.approx(expected, rel=0.02)  # two significant digits at least


def test_the_first_interrupt_ends_calls_still_waiting_for_capacity(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 40)
    out = tmp_path / "out.jsonl"
    arrivals, reply = _counting_arrivals()
    with FakeServer(default=reply) as server:
        config = _router_config(tmp_path / "router.json", server.base_url, RateLimit(requests=2, per=1.0))
        run = _batch(str(requests), "-o", str(out), "--config", str(config), "--concurrency", "16")
        _wait_for_lines(out, 3)
        run.send_signal(signal.SIGINT)
        stopped_at = time.monotonic()
        code, _, err = finish(run, timeout=20)
        assert code == 130, err
    assert time.monotonic() - stopped_at < 1.5  # not the minutes the waiting calls would have taken
    assert sum(1 for t in arrivals if t > stopped_at) <= 1  # at most a call granted just before the stop
    assert len(_results(out)) == len(arrivals)  # whatever was sent was answered and written


async def test_run_batch_without_the_check_raises_for_a_request_it_cannot_read() -> None:
    with FakeServer(default=_slow(0.1)) as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        good = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": "x"}]} for i in range(3)]
        yielded = []
        async with client:
            with pytest.raises(InvalidRequestError, match=r"requests\[3\].*custom_id"):
                async for result in run_batch(client, [*good, {"messages": []}, *good], check=False, concurrency=2):
                    yielded.append(result.custom_id)
            assert len(yielded) == len(server.requests) == 3  # what was sent was answered first


@pytest.mark.parametrize(
    "content",
    [
        b'{"api": "prod", "keys": ["k1", "k2"]}',  # a minified JSON file, no newline at its end
        b"a note without a newline",
        b'{"custom_id": "stranger", "response": null, "error": null}',  # another job's last result
        b'{"api": "prod"}\n{"custom_id": "a", "response": null, "error": null}',
    ],
)
def test_a_last_line_that_is_not_ours_is_refused_not_dropped(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(content)
    with pytest.raises(BatchFileError, match="It was left as it is"):
        read_finished(path, known={"a"})
    assert path.read_bytes() == content


def test_only_a_cut_line_of_ours_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = json.dumps({"id": "batch_req_1", "custom_id": "a", "response": {"status_code": 200}, "error": None})
    path.write_text(whole.replace(" ", "") + "\n" + '{"id":"batch_req_2","custom_id":"b","resp')
    finished = read_finished(path, known={"a", "b"})
    assert (list(finished.lines), finished.cut) == (["a"], 1)
    assert path.read_text() == whole.replace(" ", "") + "\n"
