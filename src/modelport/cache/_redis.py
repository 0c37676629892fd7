"""``RedisStore``: a cache shared by every process that reaches one Redis, with expiry by Redis's own TTL.

Needs the ``redis`` package (``pip install "modelport[redis]"``), imported only when a ``RedisStore`` is made. A
Redis that is down or slow costs at most ``timeout`` seconds and answers a logged miss: the call still succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["RedisStore"]

logger = logging.getLogger("modelport.cache")


class RedisStore:
    """Args:
    url: ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS); or give ``client``.
    client: an existing ``redis.asyncio.Redis``; you close it.
    timeout: the longest a cache read or write may take before it counts as a miss (seconds).
    """

    def __init__(self, url: str | None = None, *, client: Any = None, timeout: float = 0.25) -> None:
        if (url is None) == (client is None):
            raise InvalidRequestError("RedisStore takes either url= or client=")
        if timeout <= 0:
            raise InvalidRequestError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            assert url is not None
            try:
                import redis.asyncio
            except ImportError:
                raise InvalidRequestError(
                    'RedisStore needs the redis package: pip install "modelport[redis]"'
                ) from None
            client = redis.asyncio.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._client = client
        self._url = url

    async def _run(self, what: str, operation: Any) -> Any:
        try:
            return await asyncio.wait_for(operation, self.timeout)
        except Exception as exc:  # down, slow, refused, bad reply: a miss, never a failed call
            logger.warning("redis cache %s failed (%s: %s): treated as a miss", what, type(exc).__name__, exc)
            return None

    async def get(self, key: str) -> bytes | None:
        value = await self._run("read", self._client.get(key))
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expire_ms = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await self._run("write", self._client.set(key, value, px=expire_ms))

    async def delete(self, key: str) -> None:
        await self._run("delete", self._client.delete(key))

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        # Never show a password that the URL may hold.
        shown = self._url.split("@")[-1] if self._url else "client"
        return f"RedisStore({shown!r})"
