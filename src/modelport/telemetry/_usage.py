"""The usage log: one SQLite row per call, written by a worker thread (the report that ``modelport usage`` prints
from it is in ``_usage_report``).

``UsageLog`` observes every call as the other call observers do, without turning on any logger: a call's fields
(never its messages or its answer) go on a queue; a daemon thread turns them into rows and writes them in batches
(one transaction each) to a SQLite file in WAL mode, so a call never waits for the disk and several processes can
append to one file. A failure to write (an unwritable path, a locked or corrupt file) is logged as a warning on the
``modelport.telemetry`` logger and never reaches a call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from ..events import LLMEvent, _EventObservation
from . import _hooks

__all__ = ["DEFAULT_USAGE_DB_ENV", "UsageLog", "default_usage_path"]

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


class _Observation:
    """One call seen by a usage log: at its end, the fields of its event (without content) go on the log's queue."""

    __slots__ = ("_call", "_log")

    def __init__(self, log: UsageLog, info: Any) -> None:
        self._log = log
        self._call = _EventObservation(info)

    def first_chunk(self) -> None:
        self._call.first_chunk()

    def end(self, result: Any, error: BaseException | None, *, retries: int = 0) -> None:
        event = self._call.event(result, error, retries=retries, content=False)
        if event is not None:
            self._log.record(event, time.time())


class UsageLog(logging.Handler):
    """Append one row per call (``create``, stream, error, cache hit) to the SQLite file at ``path``.

    ``install()`` adds it to the observers of every call (no logger's level changes, and nothing of a call's
    messages or answer is kept); ``close()`` removes it and returns once every row it received is written. As a
    context manager it installs on entry and closes on exit::

        with UsageLog("usage.sqlite3"):
            ...  # calls made here are logged

    It is also a :class:`logging.Handler`: attached to the ``modelport.events`` logger by hand, it records the
    events logged there instead (while it is also installed, those are left out: each call counts once). A daemon
    thread writes the rows in batches of up to ``batch_size``.
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
        self._conn: sqlite3.Connection | None = None
        self._last_error: str | None = None
        self._worker = threading.Thread(target=self._run, name="modelport-usage-log", daemon=True)
        self._worker.start()

    # -- the logging side (the caller's thread) --

    def install(self) -> UsageLog:
        """Observe every call from now on; returns ``self``."""
        if self._closed:
            raise RuntimeError("this UsageLog is closed")
        if not self._installed:
            _hooks.OBSERVERS.append(self)
            self._installed = True
        return self

    def uninstall(self) -> None:
        """Stop observing calls (the rows already received are still written)."""
        if self._installed:
            with contextlib.suppress(ValueError):
                _hooks.OBSERVERS.remove(self)
            self._installed = False

    def start(self, info: Any) -> _Observation:
        """The observation of a starting call (the :class:`~modelport.telemetry._hooks.CallObserver` side)."""
        return _Observation(self, info)

    def record(self, event: LLMEvent, created: float) -> None:
        """Queue the row of ``event`` (a call's end), made at ``created`` (unix seconds)."""
        # Runs in the caller's thread: no I/O, no conversion, just a queue put, under the lock that close takes.
        with self.lock if self.lock is not None else contextlib.nullcontext():
            if not self._closed and event.name in _KINDS:
                self._queue.put((created, event.name, event.kwargs))

    def emit(self, record: logging.LogRecord) -> None:
        # Installed, it sees every call as an observer already: the same call's logged event would count twice.
        if isinstance(record.msg, LLMEvent) and not self._installed:
            self.record(record.msg, record.created)

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
        try:  # the file is opened with the first row: a run that records nothing does not touch it
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
