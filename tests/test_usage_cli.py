"""Point 9 of the first-hour review: ``chat`` and ``batch`` record to the usage log by default (``--no-usage-log``
stops it), a ``UsageLog`` keeps a program's prompts out of its log files, ``modelport usage --json``, costs printed
as ``$0.000084`` rather than ``$8.40E-5``, and a ``--cache`` rerun of ``batch`` that spends nothing says so. Each runs
``modelport`` as a user does, in a process of its own, against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from modelport import EVENT_LOGGER_NAME, LLMCallEvent, OpenAIChatCompletionClient, UserMessage
from modelport.telemetry import UsageLog
from modelport.testing import FakeServer

from .helpers import finish
from .test_batch import _batch, _write_requests


def modelport(*args: str, db: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MODELPORT_USAGE_DB": str(db)},
    )


def usage_json(db: Path, *args: str) -> dict[str, Any]:
    done = modelport("usage", "--json", *args, db=db)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_point9_chat_and_batch_record_to_the_usage_log_by_default(tmp_path: Path) -> None:
    db = tmp_path / "home" / "usage.sqlite3"
    _write_requests(tmp_path / "in.jsonl", 3)
    with FakeServer() as server:
        flags = ["--base-url", server.base_url, "--model", "gpt-4o"]
        chat = modelport("chat", *flags, "What is 2+2?", db=db)
        assert chat.returncode == 0, chat.stderr
        assert db.exists()  # the folder made too
        batch = modelport("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), *flags, db=db)
        assert batch.returncode == 0, batch.stderr
        report = usage_json(db)
        assert report["total"]["calls"] == 4 and [row["key"] for row in report["rows"]] == ["gpt-4o"]
        assert report["total"]["prompt_tokens"] > 0 and report["db"] == str(db)

        quiet = modelport("chat", *flags, "--no-usage-log", "again", db=db)
        assert quiet.returncode == 0, quiet.stderr
        quiet_batch = modelport(
            "batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out2.jsonl"), *flags, "--no-usage-log", db=db
        )
        assert quiet_batch.returncode == 0, quiet_batch.stderr
        assert len(server.requests) == 8
    assert usage_json(db)["total"]["calls"] == 4  # the --no-usage-log runs added nothing

    untouched = tmp_path / "untouched.sqlite3"
    done = modelport("chat", "--offline", "hello", db=untouched)  # the fake server's answers are no usage
    assert done.returncode == 0, done.stderr
    nothing_sent = modelport("batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"), db=untouched)
    assert nothing_sent.returncode == 2 and nothing_sent.stderr.count("\n") == 1, nothing_sent.stderr
    assert not untouched.exists()  # the file is made with its first row


def test_point9_a_usage_log_keeps_prompts_and_answers_out_of_the_users_logs(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    script = textwrap.dedent(
        f"""
        import asyncio, logging
        from modelport import OpenAIChatCompletionClient, UserMessage, EVENT_LOGGER_NAME
        from modelport.telemetry import UsageLog
        from modelport.testing import FakeServer

        logging.basicConfig()  # the root logger prints WARNING and above to stderr, as many programs set it up
        logging.getLogger("app").warning("the program's own warning")

        async def main() -> None:
            with FakeServer() as server, UsageLog({str(db)!r}) as log:
                client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
                result = await client.create([UserMessage(content="my secret plan PURPLE-OTTER", source="user")])
                await client.close()
                assert "PURPLE-OTTER" in result.content  # the fake model echoes the prompt
                log.flush()
                assert log.written == 1, log.written
            assert logging.getLogger(EVENT_LOGGER_NAME).level == logging.NOTSET

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "the program's own warning" in done.stderr  # the root handler is there and prints
    assert "PURPLE-OTTER" not in done.stderr and "LLMCall" not in done.stderr
    report = usage_json(db)
    assert report["total"]["calls"] == 1 and report["total"]["prompt_tokens"] > 0


def test_point9_usage_json_and_costs_printed_readably(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    with contextlib.closing(UsageLog(db)) as log:  # fed by hand, as a handler
        for event in (
            LLMCallEvent(model="small", prompt_tokens=12, completion_tokens=3, cost="0.000084"),
            LLMCallEvent(model="big", prompt_tokens=900, completion_tokens=80, cost="1234.5"),
            LLMCallEvent(model="unpriced", prompt_tokens=5, completion_tokens=1),
        ):
            log.handle(logging.makeLogRecord({"name": EVENT_LOGGER_NAME, "msg": event, "levelno": logging.INFO}))
    table = modelport("usage", db=db)
    assert table.returncode == 0, table.stderr
    assert "E-" not in table.stdout
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines() if line.split()}
    assert rows["small"][6] == "$0.000084" and rows["big"][6] == "$1,234.5000" and rows["unpriced"][6] == "-"
    assert rows["total"][6] == "$1,234.5001*"  # four decimals from a tenth of a cent up

    report = usage_json(db, "--since", "1h")
    by_key = {row["key"]: row for row in report["rows"]}
    assert by_key["small"] == {
        "key": "small", "calls": 1, "errors": 0, "cached": 0, "prompt_tokens": 12, "completion_tokens": 3,
        "cost": "0.000084", "cost_complete": True, "avg_latency_ms": None,
    }
    assert by_key["unpriced"]["cost"] is None and report["total"]["cost_complete"] is False
    assert Decimal(report["total"]["cost"]) == Decimal("1234.500084")
    assert report["by"] == "model" and report["since"] is not None and len(report["days"]) == 1


def test_point9_a_cache_rerun_of_batch_reports_hits_and_spends_nothing(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    _write_requests(requests, 12)
    cache = tmp_path / "cache"
    with FakeServer() as server:
        client = OpenAIChatCompletionClient(
            model="gpt-4o", base_url=server.base_url, api_key="sk-test", prices={"gpt-4o": {"input": 2, "output": 8}}
        )
        config = tmp_path / "client.json"
        config.write_text(client.dump_component().model_dump_json())
        args = ["--config", str(config), "--cache", str(cache)]
        code, first, err = finish(_batch(str(requests), "-o", str(tmp_path / "first.jsonl"), *args))
        assert code == 0, err
        code, second, err = finish(_batch(str(requests), "-o", str(tmp_path / "second.jsonl"), *args))
        assert code == 0, err
        assert len(server.requests) == 12  # the rerun sent nothing
    assert "12 ok, 0 failed" in first and "from the cache" not in first
    assert "12 ok (12 from the cache), 0 failed" in second
    assert "tokens: 0 prompt + 0 completion = 0 · cost $0.0000 (the 12 cache hits spent none)" in second
    assert "cached" in err  # the progress lines count the hits


def test_point9_usage_json_costs_are_plain_decimals_never_exponents(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    with contextlib.closing(UsageLog(db)) as log:  # a tenth of a token-priced cent: Decimal's str() would say 2E-7
        event = LLMCallEvent(model="tiny", prompt_tokens=10, completion_tokens=0, cost="0.0000002")
        log.handle(logging.makeLogRecord({"name": EVENT_LOGGER_NAME, "msg": event, "levelno": logging.INFO}))
    report = usage_json(db)
    costs = [report["total"]["cost"], *(row["cost"] for row in report["rows"] + report["days"])]
    assert costs == ["0.0000002"] * 3
    assert Decimal(report["total"]["cost"]) == Decimal("0.0000002")


def test_point9_a_usage_log_installed_and_attached_counts_each_call_once(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    events = logging.getLogger(EVENT_LOGGER_NAME)
    level = events.level
    with FakeServer() as server:
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        log = UsageLog(db)
        events.setLevel(logging.INFO)
        events.addHandler(log)  # attached as a handler, as a program logging the events may already do ...
        try:
            with log:  # ... and installed as an observer as well

                async def call() -> None:
                    await client.create([UserMessage(content="hello", source="user")])
                    await client.close()

                asyncio.run(call())
        finally:
            events.removeHandler(log)
            events.setLevel(level)
    assert log.written == 1
    assert usage_json(db)["total"]["calls"] == 1
