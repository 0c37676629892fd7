"""The usage log: real calls against the fake server recorded by ``UsageLog``, then ``modelport usage`` run as a
user runs it (a separate process) over the file; failures that never reach a call; several writers on one file."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelport import EVENT_LOGGER_NAME, BadRequestError, ChatCompletionCache, LLMCallEvent, LLMStreamEndEvent
from modelport.events import LLMCallErrorEvent, LLMEvent
from modelport.telemetry import UsageLog, default_usage_path
from modelport.telemetry._usage_report import parse_since, read_usage, render_report
from modelport.testing import FakeServer, Reply

from .helpers import HELLO, collect


def usage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli", "usage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def table(stdout: str) -> dict[str, list[str]]:
    """The report's rows by their first cell (``total`` included), each as its cells."""
    rows: dict[str, list[str]] = {}
    for line in stdout.split("\n\n")[0].splitlines()[2:]:
        if line and not line.startswith("-") and not line.startswith("*"):
            cells = line.split()
            rows[cells[0]] = cells[1:]
    return rows


def figures(cells: list[str]) -> tuple[int, int, int, int, int, str]:
    """calls, errors, cached, prompt, completion (as ints) and cost (as printed)."""
    calls, errors, cached, prompt, completion = (int(c.replace(",", "")) for c in cells[:5])
    return calls, errors, cached, prompt, completion, cells[5]


def shown_cost(*costs: Decimal | None) -> str:
    known = [c for c in costs if c is not None]
    return f"${sum(known, Decimal(0)):,.4f}" if known else "-"


@pytest.fixture
def events_logger_level() -> Any:
    logger = logging.getLogger(EVENT_LOGGER_NAME)
    level = logger.level
    yield logger
    logger.setLevel(level)


async def test_usage_report_over_real_calls(server: FakeServer, make_client: Any, tmp_path: Path) -> None:
    db = tmp_path / "logs" / "usage.sqlite3"  # the folder is created too
    client = make_client()
    cache = ChatCompletionCache(client)
    with UsageLog(db) as log:
        miss = await cache.create(HELLO)
        hit = await cache.create(HELLO)
        _, streamed = await collect(client)
        server.add(Reply.json({"error": {"message": "bad request", "type": "invalid_request_error"}}, status=400))
        with pytest.raises(BadRequestError):
            await client.create(HELLO)
    assert (miss.cached, hit.cached) == (False, True)
    assert (log.written, log.dropped) == (4, 0)

    prompt = miss.usage.prompt_tokens + streamed.usage.prompt_tokens
    completion = miss.usage.completion_tokens + streamed.usage.completion_tokens
    cost = shown_cost(getattr(miss, "cost", None), getattr(streamed, "cost", None))  # once results carry a cost
    expected_total = (4, 1, 1, prompt, completion, cost)

    by_model = usage("--db", str(db), "--by", "model")
    assert by_model.returncode == 0, by_model.stderr
    rows = table(by_model.stdout)
    assert figures(rows["total"]) == expected_total
    assert figures(rows["gpt-4o"]) == expected_total
    assert by_model.stdout.splitlines()[0].split()[:7] == [
        "model", "calls", "errors", "cached", "prompt", "completion", "cost"
    ]

    by_day = usage("--db", str(db), "--by", "day")
    assert by_day.returncode == 0, by_day.stderr
    today = dt.date.today().isoformat()
    assert figures(table(by_day.stdout)[today]) == expected_total
    chart = by_day.stdout.split("\n\n")[1].splitlines()
    assert chart[0] in ("cost per day", "calls per day (no cost known)")
    assert chart[1].startswith(today) and "█" * 40 in chart[1] and "4 calls" in chart[1]

    by_provider = usage("--db", str(db), "--by", "provider")
    assert by_provider.returncode == 0, by_provider.stderr
    rows = table(by_provider.stdout)
    assert figures(rows.pop("total")) == expected_total
    assert sum(figures(cells)[0] for cells in rows.values()) == 4
    assert set(rows) <= {"(unknown)", client.provider_name}  # the provider shows once the events carry it

    recent = usage("--db", str(db), "--since", "1h")
    assert figures(table(recent.stdout)["total"]) == expected_total
    future = usage("--db", str(db), "--since", (dt.date.today() + dt.timedelta(days=2)).isoformat())
    assert future.returncode == 0 and future.stdout.startswith("no calls recorded since")

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        rows_db = conn.execute("SELECT kind, cached, error, status_code, ttft_ms FROM calls ORDER BY id").fetchall()
    assert [r[:4] for r in rows_db] == [
        ("create", 0, None, None),
        ("create", 1, None, None),
        ("stream", 0, None, None),
        ("error", 0, "BadRequestError", 400),
    ]
    assert rows_db[2][4] is not None  # the stream's time to first chunk


def _record(event: LLMEvent, created: float) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": EVENT_LOGGER_NAME, "msg": event, "levelno": logging.INFO})
    record.created = created
    return record


def test_cost_table_and_chart(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    day = 86400.0
    now = time.time()
    log = UsageLog(db)
    events = [
        (LLMCallEvent(model="gpt-4o", prompt_tokens=100, completion_tokens=10, cost="0.0010", provider="openai"), 3),
        (LLMStreamEndEvent(model="gpt-4o", prompt_tokens=200, completion_tokens=20, cost="0.0030", ttft_ms=12.5,
                           provider="openai", cached_prompt_tokens=50, reasoning_tokens=5), 3),
        (LLMCallEvent(model="llama3", prompt_tokens=7, completion_tokens=3, cost=None, provider="ollama"), 1),
        (LLMCallEvent(model="gpt-4o", prompt_tokens=100, completion_tokens=10, cached=True, cost="0.0010"), 1),
        (LLMCallErrorEvent(model="gpt-4o", error="RateLimitError", status_code=429, attempts=3), 1),
    ]
    for event, days_ago in events:
        log.handle(_record(event, now - days_ago * day))
    log.close()

    by_model = read_usage(db, by="model")
    text = render_report(by_model)
    rows = table(text)
    assert figures(rows["gpt-4o"]) == (4, 1, 1, 300, 30, "$0.0040")  # a cache hit adds no tokens and no cost
    assert figures(rows["llama3"]) == (1, 0, 0, 7, 3, "-")
    assert figures(rows["total"]) == (5, 1, 1, 307, 33, "$0.0040*")
    assert "* some calls have no known price" in text
    assert list(rows)[:2] == ["gpt-4o", "llama3"]  # the dearest first

    chart = text.split("\n\n")[1].splitlines()
    assert chart[0] == "cost per day"
    assert len(chart) == 1 + 3  # three days, the one between without calls included
    three_ago, two_ago, yesterday = chart[1:]
    assert "█" * 40 in three_ago and three_ago.endswith("$0.0040  2 calls")
    assert "█" not in two_ago and two_ago.endswith("-  0 calls")
    assert "█" not in yesterday and yesterday.endswith("-  3 calls")  # no cost known that day

    by_provider = table(render_report(read_usage(db, by="provider")))
    assert figures(by_provider["openai"])[:2] == (2, 0) and figures(by_provider["(unknown)"])[:3] == (2, 1, 1)
    since = read_usage(db, since=parse_since("2d", now=now))
    assert since.total.calls == 3

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        row = conn.execute(
            "SELECT cached_prompt_tokens, reasoning_tokens, ttft_ms, cost FROM calls WHERE kind='stream'"
        ).fetchone()
        retries, cost = conn.execute("SELECT retries, cost FROM calls WHERE kind='error'").fetchone()
        hit_cost = conn.execute("SELECT cost FROM calls WHERE cached=1").fetchone()[0]
    assert row == (50, 5, 12.5, "0.0030") and (retries, cost, hit_cost) == (2, None, None)


def test_chart_counts_calls_when_no_cost_is_known(tmp_path: Path) -> None:
    db = tmp_path / "usage.sqlite3"
    with contextlib.closing(UsageLog(db)) as log:  # fed by hand, as a handler
        for n in (4, 2):
            for _ in range(n):
                log.handle(_record(LLMCallEvent(model="m", prompt_tokens=1, completion_tokens=1), time.time()))
    chart = render_report(read_usage(db, by="day")).split("\n\n")[1].splitlines()
    assert chart == ["calls per day (no cost known)", f"{dt.date.today().isoformat()}  {'█' * 40}  6 calls"]


async def test_unwritable_path_never_reaches_a_call(
    make_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    client = make_client()
    with UsageLog(blocker / "usage.sqlite3") as log:
        result = await client.create(HELLO)
        _, streamed = await collect(client)
    assert result.content and streamed.content
    assert (log.written, log.dropped) == (0, 2)
    warnings = [r for r in caplog.records if r.name == "modelport.telemetry" and r.levelno == logging.WARNING]
    assert warnings and "cannot open the usage log" in warnings[0].getMessage()


def test_a_corrupt_file_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "usage.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    with contextlib.closing(UsageLog(db)) as log:  # fed by hand, as a handler
        log.handle(_record(LLMCallEvent(model="m"), time.time()))
    assert log.dropped == 1
    assert any(r.name == "modelport.telemetry" for r in caplog.records)
    done = usage("--db", str(db))
    assert done.returncode == 2 and "cannot read the usage log" in done.stderr


def test_close_writes_every_row(tmp_path: Path, events_logger_level: Any) -> None:
    logger = events_logger_level
    logger.setLevel(logging.INFO)
    db = tmp_path / "usage.sqlite3"
    log = UsageLog(db, batch_size=64)
    logger.addHandler(log)  # a usage log attached to the events' logger by hand records the events logged there
    try:
        for i in range(3000):
            logger.info(LLMCallEvent(model="m", prompt_tokens=i, completion_tokens=1))
        logger.info("a plain message, not an event")
        log.flush()
        assert log.written == 3000
        for _ in range(500):
            logger.info(LLMCallEvent(model="m", prompt_tokens=0, completion_tokens=1))
        log.close()
        log.close()  # twice is harmless
        logger.info(LLMCallEvent(model="m"))  # after close: not recorded, not an error
    finally:
        logger.removeHandler(log)
    report = read_usage(db)
    assert report.total.calls == 3500 and report.total.prompt_tokens == sum(range(3000))
    with pytest.raises(RuntimeError):
        log.install()


def test_two_processes_append_to_one_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    script = textwrap.dedent(
        f"""
        import sys
        import time
        from modelport import LLMCallEvent
        from modelport.telemetry import UsageLog

        with UsageLog({str(db)!r}, batch_size=7) as log:
            for i in range(300):
                event = LLMCallEvent(model=sys.argv[1], prompt_tokens=1, completion_tokens=2, cost="0.001")
                log.record(event, time.time())
        assert (log.written, log.dropped) == (300, 0), (log.written, log.dropped)
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, f"proc{n}"], stderr=subprocess.PIPE) for n in range(3)]
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err.decode()
    done = usage("--db", str(db))
    rows = table(done.stdout)
    assert {name: figures(rows[name]) for name in ("proc0", "proc1", "proc2")} == {
        f"proc{n}": (300, 0, 0, 300, 600, "$0.3000") for n in range(3)
    }
    assert figures(rows["total"]) == (900, 0, 0, 900, 1800, "$0.9000")


def test_default_path_and_missing_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_USAGE_DB", str(tmp_path / "from-env.sqlite3"))
    assert default_usage_path() == tmp_path / "from-env.sqlite3"
    monkeypatch.delenv("MODELPORT_USAGE_DB")
    assert default_usage_path() == Path.home() / ".modelport" / "usage.sqlite3"

    missing = usage(env={"MODELPORT_USAGE_DB": str(tmp_path / "nothing-here.sqlite3")})
    assert missing.returncode == 2 and "no usage log at" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "nothing-here.sqlite3").exists()  # reading never creates the file
    bad = usage("--db", str(tmp_path / "x.sqlite3"), "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_parse_since() -> None:
    now = 1_700_000_000.0
    assert parse_since("7d", now=now) == now - 7 * 86400
    assert parse_since("24h", now=now) == now - 86400
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("2025-01-31") == dt.datetime(2025, 1, 31).timestamp()
    assert parse_since("2025-01-31T00:00:00+00:00") == dt.datetime(2025, 1, 31, tzinfo=dt.timezone.utc).timestamp()
    with pytest.raises(ValueError):
        parse_since("yesterday")
