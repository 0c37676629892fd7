"""The usage log: one SQLite row per call, written from the call events by a worker thread, and the report that
``modelport usage`` prints from it.

``UsageLog`` is a :class:`logging.Handler` on the ``modelport.events`` logger. Its ``emit`` only puts the event's
fields on a queue; a daemon thread turns them into rows and writes them in batches (one transaction each) to a
SQLite file in WAL mode, so a call never waits for the disk and several processes can append to one file. A
failure to write (an unwritable path, a locked or corrupt file) is logged as a warning on the ``modelport.telemetry``
logger and never reaches a call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from ..events import EVENT_LOGGER_NAME, LLMEvent

__all__ = ["DEFAULT_USAGE_DB_ENV", "UsageLog", "UsageReport", "default_usage_path", "read_usage", "render_report"]

DEFAULT_USAGE_DB_ENV = "MODELPORT_USAGE_DB"
log = logging.getLogger("modelport.telemetry")

_TABLE = "calls"
_COLUMNS = (
    "ts",  # unix seconds (UTC) when the call ended
    "kind",  # create | stream | error
    "model",  # the model asked for
    "resolved_model",  # the model that answered
    "provider",
    "deployment",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "cost",  # USD as the Decimal's text, NULL when the price is unknown
    "latency_ms",
    "ttft_ms",
    "retries",
    "cached",  # 1 when the cache answered
    "error",  # the error class, NULL on success
    "status_code",
    "request_id",
    "pid",
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    resolved_model TEXT,
    provider TEXT,
    deployment TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cached_prompt_tokens INTEGER,
    reasoning_tokens INTEGER,
    cache_write_tokens INTEGER,
    cost TEXT,
    latency_ms REAL,
    ttft_ms REAL,
    retries INTEGER,
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    status_code INTEGER,
    request_id TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS {_TABLE}_ts ON {_TABLE} (ts);
"""
_INSERT = f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_KINDS = {"LLMCall": "create", "LLMStreamEnd": "stream", "LLMCallError": "error"}
_BUSY_TIMEOUT = 30.0


def default_usage_path() -> Path:
    """``$MODELPORT_USAGE_DB``, else ``~/.modelport/usage.sqlite3``."""
    env = os.environ.get(DEFAULT_USAGE_DB_ENV)
    return Path(env).expanduser() if env else Path.home() / ".modelport" / "usage.sqlite3"


# -- writing --


class _Flush:
    """A marker on the queue: set once everything put before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class UsageLog(logging.Handler):
    """Append one row per call (``create``, stream, error, cache hit) to the SQLite file at ``path``.

    ``install()`` attaches it to the ``modelport.events`` logger (and sets that logger to INFO if it was not
    enabled for INFO, so the events are built); ``close()`` detaches it and returns once every row it received is
    written. As a context manager it installs on entry and closes on exit::

        with UsageLog("usage.sqlite3"):
            ...  # calls made here are logged

    ``emit`` only queues the event's fields; a daemon thread writes them in batches of up to ``batch_size``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, batch_size: int = 500) -> None:
        super().__init__(level=logging.INFO)
        self.path = Path(path).expanduser() if path is not None else default_usage_path()
        self.batch_size = max(1, batch_size)
        self.written = 0
        """Rows written so far."""
        self.dropped = 0
        """Rows that could not be written (each failure is logged as a warning)."""
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._installed = False
        self._set_level = False
        self._conn: sqlite3.Connection | None = None
        self._last_error: str | None = None
        self._worker = threading.Thread(target=self._run, name="modelport-usage-log", daemon=True)
        self._worker.start()

    # -- the logging side (the caller's thread) --

    def install(self) -> UsageLog:
        """Attach to the ``modelport.events`` logger; returns ``self``."""
        if self._closed:
            raise RuntimeError("this UsageLog is closed")
        logger = logging.getLogger(EVENT_LOGGER_NAME)
        if not self._installed:
            logger.addHandler(self)
            self._installed = True
            if not logger.isEnabledFor(logging.INFO):
                logger.setLevel(logging.INFO)
                self._set_level = True
        return self

    def uninstall(self) -> None:
        """Detach from the ``modelport.events`` logger (the rows already received are still written); the logger's
        level is put back if this log raised it and no other usage log is attached."""
        if not self._installed:
            return
        logger = logging.getLogger(EVENT_LOGGER_NAME)
        logger.removeHandler(self)
        self._installed = False
        others = [h for h in logger.handlers if isinstance(h, UsageLog)]
        if self._set_level and not others and logger.level == logging.INFO:
            logger.setLevel(logging.NOTSET)
        elif self._set_level and others:
            others[0]._set_level = True  # the last one out puts the level back
        self._set_level = False

    def emit(self, record: logging.LogRecord) -> None:
        # Runs in the caller's thread, under the handler's lock: no I/O, no conversion, just a queue put.
        event = record.msg
        if self._closed or not isinstance(event, LLMEvent) or event.name not in _KINDS:
            return
        self._queue.put((record.created, event.name, event.kwargs))

    def flush(self) -> None:
        """Wait until every row received so far is written (or has failed to be)."""
        if threading.current_thread() is self._worker or not self._worker.is_alive():
            return
        marker = _Flush()
        self._queue.put(marker)
        marker.done.wait()

    def close(self) -> None:
        """Detach, write every row received, stop the worker and close the file. Safe to call twice."""
        self.uninstall()
        with self.lock if self.lock is not None else contextlib.nullcontext():
            already = self._closed
            self._closed = True  # emit checks this under the same lock: nothing is queued after the stop marker
        if not already:
            self._queue.put(_STOP)
        if threading.current_thread() is not self._worker:
            self._worker.join()
        super().close()

    def __enter__(self) -> UsageLog:
        return self.install()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<UsageLog {str(self.path)!r}>"

    # -- the worker thread --

    def _run(self) -> None:
        try:
            self._connect()
            while self._step([self._queue.get(), *self._drain(self.batch_size - 1)]):
                pass
            self._step(self._drain(None))  # anything put after the stop marker (there should be nothing)
        finally:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def _drain(self, limit: int | None) -> list[Any]:
        items: list[Any] = []
        while limit is None or len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _step(self, items: list[Any]) -> bool:
        """Write one batch of rows, then release the flushes waiting on it; False once the stop marker came."""
        rows: list[tuple[Any, ...]] = []
        markers: list[_Flush] = []
        go_on = True
        for item in items:
            if item is _STOP:
                go_on = False
            elif isinstance(item, _Flush):
                markers.append(item)
            elif (row := self._row(item)) is not None:
                rows.append(row)
        if rows:
            self._write(rows)
        for marker in markers:
            marker.done.set()
        return go_on

    def _row(self, item: tuple[float, str, Mapping[str, Any]]) -> tuple[Any, ...] | None:
        try:
            return _row(*item)
        except Exception as exc:  # a malformed event must not stop the log
            self._warn(f"an event could not be read: {type(exc).__name__}: {exc}")
            self.dropped += 1
            return None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        try:
            self._conn = connect(self.path, create=True)
        except (OSError, sqlite3.Error) as exc:
            self._warn(f"cannot open the usage log {str(self.path)!r}: {type(exc).__name__}: {exc}")
            return None
        return self._conn

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connect()
        if conn is None:
            self.dropped += len(rows)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.dropped += len(rows)
            self._warn(f"{len(rows)} row(s) not written to the usage log {str(self.path)!r}: {exc}")
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._conn = None  # reopen on the next batch
            return
        self.written += len(rows)
        self._last_error = None

    def _warn(self, message: str) -> None:
        if message != self._last_error:  # once per distinct failure, not once per batch
            self._last_error = message
            log.warning("modelport usage log: %s", message)


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with a busy timeout; ``create``: make the file,
    its folder and the table if missing, in WAL mode."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    else:
        if not path.is_file():
            raise FileNotFoundError(str(path))
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT, isolation_level=None
        )
    try:
        if create:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _row(created: float, name: str, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row of one event: the event's own fields first, else what its ``response`` (a dumped CreateResult)
    says."""
    response = fields.get("response")
    response = response if isinstance(response, Mapping) else {}
    usage = response.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}

    def pick(key: str) -> Any:
        value = fields.get(key)
        return usage.get(key) if value is None else value

    # Only the event's own cost: a cache hit's response carries the cost of the call that filled the cache.
    cost = None if fields.get("cached") else fields.get("cost")
    retries = fields.get("retries")
    if retries is None and isinstance(fields.get("attempts"), int):
        retries = max(0, fields["attempts"] - 1)
    values = {
        "ts": created,
        "kind": _KINDS[name],
        "model": _text(fields.get("model")),
        "resolved_model": _text(fields.get("resolved_model", response.get("model"))),
        "provider": _text(fields.get("provider")),
        "deployment": _text(fields.get("deployment")),
        "prompt_tokens": _int(pick("prompt_tokens")),
        "completion_tokens": _int(pick("completion_tokens")),
        "cached_prompt_tokens": _int(pick("cached_prompt_tokens")),
        "reasoning_tokens": _int(pick("reasoning_tokens")),
        "cache_write_tokens": _int(pick("cache_write_tokens")),
        "cost": _cost(cost),
        "latency_ms": _float(fields.get("latency_ms")),
        "ttft_ms": _float(fields.get("ttft_ms")),
        "retries": _int(retries),
        "cached": 1 if fields.get("cached") else 0,
        "error": _text(fields.get("error")) if name == "LLMCallError" else None,
        "status_code": _int(fields.get("status_code")),
        "request_id": _text(fields.get("request_id")),
        "pid": os.getpid(),
    }
    return tuple(values[c] for c in _COLUMNS)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cost(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return str(number) if number.is_finite() else None


# -- reading: the report behind `modelport usage` --

_GROUP_SQL: dict[str, str] = {
    "model": "COALESCE(model, resolved_model, '(unknown)')",
    "day": "date(ts, 'unixepoch', 'localtime')",
    "provider": "COALESCE(provider, '(unknown)')",
}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: float | None = None) -> float:
    """``--since`` as unix seconds: ``7d``, ``24h``, ``30m``, ``2w`` before now, or an ISO date or date-time
    (local time unless it names its zone). Raises ``ValueError``."""
    now = time.time() if now is None else now
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} is neither an ISO date (2025-01-31, 2025-01-31T09:00) nor a span such as 7d or 24h"
        ) from None
    return when.timestamp()  # a naive date-time is taken as local time


class _DecimalSum:
    """A SQLite aggregate: the exact sum of the Decimal texts in the cost column (NULL when none is known)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        with contextlib.suppress(InvalidOperation):
            self.total = (self.total or Decimal(0)) + Decimal(str(value))

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


@dataclass
class UsageRow:
    """One group of the report (or the totals)."""

    key: str
    calls: int = 0
    errors: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal | None = None
    priced: int = 0
    """Calls whose cost is known (the others add nothing to ``cost``)."""
    billed: int = 0
    """Calls a provider answered: not errors, not cache hits (these are the ones with tokens and a cost)."""
    latency_ms: float | None = None
    """The mean latency."""


@dataclass
class UsageReport:
    by: str
    rows: list[UsageRow]
    total: UsageRow
    days: list[UsageRow] = field(default_factory=list)
    """One row per day, oldest first, for the chart."""


def read_usage(path: str | os.PathLike[str], *, by: str = "model", since: float | None = None) -> UsageReport:
    """Sum the log at ``path`` by ``model``, ``day`` or ``provider``, from ``since`` (unix seconds) on. Raises
    ``FileNotFoundError`` when there is no log, ``sqlite3.Error`` when the file is not one."""
    if by not in _GROUP_SQL:
        raise ValueError(f"--by must be one of {', '.join(_GROUP_SQL)}, not {by!r}")
    conn = connect(Path(path).expanduser(), create=False)
    try:
        conn.create_aggregate("decsum", 1, _DecimalSum)  # type: ignore[arg-type]
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (_TABLE,)).fetchone()
        if not exists:
            return UsageReport(by, [], UsageRow("total"))
        where, params = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
        rows = _grouped(conn, _GROUP_SQL[by], where, params)
        days = _grouped(conn, _GROUP_SQL["day"], where, params)
        totals = _grouped(conn, "'total'", where, params)
    finally:
        conn.close()
    order = (lambda r: r.key) if by == "day" else (lambda r: (-(r.cost or 0), -r.calls, r.key))
    rows.sort(key=order)
    return UsageReport(by, rows, totals[0] if totals else UsageRow("total"), sorted(days, key=lambda r: r.key))


def _grouped(conn: sqlite3.Connection, key: str, where: str, params: Sequence[Any]) -> list[UsageRow]:
    query = f"""
        SELECT {key} AS k, COUNT(*), COUNT(error), SUM(cached),
               SUM(CASE WHEN cached THEN 0 ELSE COALESCE(prompt_tokens, 0) END),
               SUM(CASE WHEN cached THEN 0 ELSE COALESCE(completion_tokens, 0) END),
               decsum(cost), COUNT(cost), SUM(error IS NULL AND NOT cached), AVG(latency_ms)
        FROM {_TABLE} {where} GROUP BY k
    """
    out = []
    for k, calls, errors, cached, prompt, completion, cost, priced, billed, latency in conn.execute(query, params):
        out.append(
            UsageRow(
                key=str(k),
                calls=calls,
                errors=errors,
                cached=cached or 0,
                prompt_tokens=prompt or 0,
                completion_tokens=completion or 0,
                cost=None if cost is None else Decimal(cost),
                priced=priced,
                billed=billed or 0,
                latency_ms=latency,
            )
        )
    return out


def format_cost(row: UsageRow) -> str:
    """``$0.0123``; ``-`` when no call of the row has a known price; a ``*`` when only some have."""
    if row.cost is None:
        return "-"
    text = f"${row.cost:,.4f}" if row.cost >= Decimal("0.0001") or row.cost == 0 else f"${row.cost:.2E}"
    return text + ("*" if row.priced < row.billed else "")


def render_table(report: UsageReport) -> str:
    """Calls, errors, cache hits, tokens, cost and mean latency per group, and the totals. Tokens and cost count
    the calls a provider answered; a cache hit is counted under ``cached`` only."""
    headers = [report.by, "calls", "errors", "cached", "prompt", "completion", "cost", "avg ms"]

    def cells(row: UsageRow) -> list[str]:
        latency = "-" if row.latency_ms is None else f"{row.latency_ms:,.0f}"
        return [
            row.key,
            f"{row.calls:,}",
            f"{row.errors:,}",
            f"{row.cached:,}",
            f"{row.prompt_tokens:,}",
            f"{row.completion_tokens:,}",
            format_cost(row),
            latency,
        ]

    body = [cells(r) for r in report.rows]
    total = cells(report.total)
    total[0] = "total"
    widths = [max(len(line[i]) for line in [headers, *body, total]) for i in range(len(headers))]

    def line(values: Iterable[str]) -> str:
        parts = [v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(headers), rule, *(line(r) for r in body), rule, line(total)]
    if any(r.cost is not None and r.priced < r.billed for r in [*report.rows, report.total]):
        lines.append("* some calls have no known price and add nothing to the cost")
    return "\n".join(lines)


_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(value: float, top: float, width: int) -> str:
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def render_chart(report: UsageReport, *, width: int = 40, max_days: int = 60) -> str:
    """One line per day (gaps included, the last ``max_days`` at most): a bar scaled to the day's cost, or to its
    calls when no cost is known in the range."""
    if not report.days:
        return ""
    by_day = {r.key: r for r in report.days}
    first, last = dt.date.fromisoformat(report.days[0].key), dt.date.fromisoformat(report.days[-1].key)
    first = max(first, last - dt.timedelta(days=max_days - 1))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    rows = [by_day.get(d.isoformat(), UsageRow(d.isoformat())) for d in days]
    by_cost = any(r.cost is not None for r in rows)
    values = [float(r.cost or 0) if by_cost else float(r.calls) for r in rows]
    top = max(values, default=0.0)
    title = "cost per day" if by_cost else "calls per day (no cost known)"
    lines = [title]
    bars = [_bar(v, top, width) for v in values]
    for row, bar in zip(rows, bars, strict=True):
        figure = f"{format_cost(row)}  {row.calls:,} calls" if by_cost else f"{row.calls:,} calls"
        lines.append(f"{row.key}  {bar.ljust(width + 1)} {figure}".rstrip())
    return "\n".join(lines)


def render_report(report: UsageReport) -> str:
    if report.total.calls == 0:
        return "no calls recorded"
    return render_table(report) + "\n\n" + render_chart(report)
