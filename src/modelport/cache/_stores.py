"""Cache stores behind one async protocol: ``get``, ``set`` with a TTL, ``delete``. Values are bytes (JSON).

- :class:`InMemoryStore`: bounded, least recently used first out.
- :class:`DiskCacheStore`: one SQLite file in WAL mode. SQLite ships with Python (no dependency), its locking makes
  one folder safe for several processes at once, every write is one atomic transaction, and values stay JSON
  (``diskcache`` would have needed a custom serialiser to avoid pickle, the unsafe default on a shared folder).
- :class:`~modelport.cache.RedisStore` (in ``_redis.py``): Redis, with expiry by Redis's own TTL.

A store never raises for a backend failure: it logs and answers a miss, so a broken cache never breaks a call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from ..components import Component
from ..errors import InvalidRequestError

__all__ = ["CacheStore", "DiskCacheStore", "InMemoryStore", "T"]

logger = logging.getLogger("modelport.cache")

T = TypeVar("T", default=Any)
"""What a store is subscripted with, as AutoGen's generic stores are (``DiskCacheStore[CHAT_CACHE_VALUE_TYPE]``):
a name for readers and type checkers only (a bare ``DiskCacheStore`` is ``DiskCacheStore[Any]``); every store
holds bytes."""


@runtime_checkable
class CacheStore(Protocol):
    """What :class:`~modelport.cache.ChatCompletionCache` needs of a store."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...


class InMemoryStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_entries: int = Field(default=1024, gt=0)


class DiskCacheStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str


class InMemoryStore(Component, Generic[T]):
    """A bounded in-process store: the least recently used entry goes first when ``max_entries`` is reached.

    ``clock`` (monotonic seconds) can be replaced to test expiry without waiting. Its config saves the bound,
    not the entries."""

    component_type = "cache_store"
    component_provider = "in_memory_store"
    component_config_schema = InMemoryStoreConfig

    def __init__(self, max_entries: int = 1024, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries <= 0:
            raise InvalidRequestError(f"max_entries must be positive, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at is not None and self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires_at = None if ttl is None else self._clock() + ttl
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _to_config(self, *, include_secrets: bool) -> InMemoryStoreConfig:
        return InMemoryStoreConfig(max_entries=self.max_entries)

    @classmethod
    def _from_config(cls, config: InMemoryStoreConfig) -> InMemoryStore:
        return cls(config.max_entries)

    def __repr__(self) -> str:
        return f"InMemoryStore(max_entries={self.max_entries}, entries={len(self._entries)})"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at REAL
)
"""


def _check_folder(directory: Path) -> None:
    """Refuse ``directory`` when it, or the nearest part of it that exists, is a file: the folder could never be
    made, and a lazy store would only find out at its first read or write."""
    for path in (directory, *directory.parents):
        if path.exists():
            if not path.is_dir():
                raise InvalidRequestError(
                    f"directory {str(directory)!r} cannot be a cache folder: {str(path)!r} is a file"
                )
            return


def _folder_of(directory: Any) -> str | os.PathLike[str]:
    """The folder a store is given: a path, or the ``directory`` of a ``diskcache.Cache`` (AutoGen's guide's form)."""
    if isinstance(directory, (str, os.PathLike)):
        return directory
    folder = getattr(directory, "directory", None)
    if isinstance(folder, (str, os.PathLike)):
        return folder
    raise InvalidRequestError(
        f"DiskCacheStore takes a folder (or a diskcache.Cache, for its folder), not a {type(directory).__name__}: "
        "write DiskCacheStore(directory)"
    )


class DiskCacheStore(Component, Generic[T]):
    """A cache folder shared safely by several processes: ``<directory>/modelport-cache.sqlite3`` in WAL mode.

    ``directory`` is a folder, or a ``diskcache.Cache`` as AutoGen's guide passes one (``DiskCacheStore(Cache(dir))``),
    whose folder is then used: modelport keeps its own file there, so the ``diskcache`` package is not needed and that
    cache's own entries and settings are not used. Subscripting (``DiskCacheStore[CHAT_CACHE_VALUE_TYPE]``) is
    accepted as AutoGen writes it.

    Reads and writes run in a worker thread, so the event loop never waits on the disk. ``clock`` (wall-clock
    seconds, shared by the processes) can be replaced to test expiry without waiting. ``lazy=True`` creates the
    folder and opens its database at the first read or write instead of at once: a store loaded from a config is
    made so, and loading or validating a config creates nothing on disk."""

    FILENAME = "modelport-cache.sqlite3"
    component_type = "cache_store"
    component_provider = "disk_cache_store"
    component_config_schema = DiskCacheStoreConfig

    def __init__(
        self,
        directory: str | os.PathLike[str] | Any,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
        lazy: bool = False,
    ) -> None:
        self.directory = Path(_folder_of(directory))
        _check_folder(self.directory)
        self.path = self.directory / self.FILENAME
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        if not lazy:
            self._db()

    def _db(self) -> sqlite3.Connection:
        """The open database: the folder and the file are made the first time it is needed."""
        if self._connection is None:
            with self._open_lock:
                if self._connection is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    connection = sqlite3.connect(
                        self.path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
                    )
                    try:
                        self._initialise(connection, self._busy_timeout)
                    except BaseException:
                        connection.close()
                        raise
                    # A store dropped without close() still closes its database (Python 3.13 warns about one left
                    # open).
                    self._closer = weakref.finalize(self, connection.close)
                    self._connection = connection
        return self._connection

    def _initialise(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        """WAL mode and the table. Switching to WAL is not covered by SQLite's busy timeout, and several processes
        may open a new folder at the same moment, so a locked database is retried here until the timeout."""
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                with self._lock:
                    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                    if str(mode).lower() != "wal":
                        connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute("PRAGMA synchronous=NORMAL")
                    connection.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _get(self, key: str) -> bytes | None:
        db = self._db()
        with self._lock:
            row = db.execute("SELECT value, expires_at FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and self._clock() >= expires_at:
            self._delete(key)
            return None
        return bytes(value)

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        expires_at = None if ttl is None else self._clock() + ttl
        db = self._db()
        with self._lock:
            db.execute(
                "INSERT OR REPLACE INTO entries (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at)
            )

    def _delete(self, key: str) -> None:
        db = self._db()
        with self._lock:
            db.execute("DELETE FROM entries WHERE key = ?", (key,))

    async def get(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._get, key)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("disk cache read failed (%s): treated as a miss", exc)
            return None

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        try:
            await asyncio.to_thread(self._set, key, value, ttl)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("disk cache write failed (%s): the result was not cached", exc)

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._delete, key)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("disk cache delete failed (%s)", exc)

    def close(self) -> None:
        with self._open_lock, self._lock:
            if self._connection is not None:
                self._closer()

    def __repr__(self) -> str:
        return f"DiskCacheStore({str(self.directory)!r})"

    def _to_config(self, *, include_secrets: bool) -> DiskCacheStoreConfig:
        return DiskCacheStoreConfig(directory=str(self.directory))

    @classmethod
    def _from_config(cls, config: DiskCacheStoreConfig) -> DiskCacheStore:
        return cls(config.directory, lazy=True)
