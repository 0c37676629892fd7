"""The report behind ``modelport usage``: the usage log summed by model, day or provider, as a table with a chart
of the days, or as JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .._money import format_usd
from ._usage import _TABLE, connect

__all__ = ["UsageReport", "UsageRow", "parse_since", "read_usage", "render_report", "report_json"]

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
    """``$0.0123`` (``$0.000084`` for less); ``-`` when no call of the row has a known price; a ``*`` when only
    some have."""
    if row.cost is None:
        return "-"
    return format_usd(row.cost) + ("*" if row.priced < row.billed else "")


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


def _row_json(row: UsageRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "calls": row.calls,
        "errors": row.errors,
        "cached": row.cached,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cost": None if row.cost is None else format(row.cost, "f"),  # never an exponent (2E-7)
        "cost_complete": row.cost is not None and row.priced >= row.billed,
        "avg_latency_ms": None if row.latency_ms is None else round(row.latency_ms, 3),
    }


def report_json(report: UsageReport, *, path: str | os.PathLike[str], since: float | None = None) -> dict[str, Any]:
    """The report as JSON-ready data: ``rows`` (one per group), ``total`` and ``days``; a ``cost`` is the exact
    amount in US dollars as a string (``null`` when no call of the row has a known price), ``cost_complete`` false
    when some calls have none; ``since`` in ISO form (UTC) or ``null``."""
    since_text = None if since is None else dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat()
    return {
        "db": str(path),
        "by": report.by,
        "since": since_text,
        "rows": [_row_json(r) for r in report.rows],
        "total": _row_json(report.total),
        "days": [_row_json(r) for r in report.days],
    }
