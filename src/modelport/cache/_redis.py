"""``RedisStore``: a cache shared by every process that reaches one Redis, with expiry by Redis's own TTL.

Needs the ``redis`` package (``pip install "modelport[redis]"``), imported only when a ``RedisStore`` is made. A
Redis that is down or slow costs at most ``timeout`` seconds and answers a logged miss: the call still succeeds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Callable
from typing import Any, Generic
from urllib.parse import unquote, unquote_plus, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ..components import Component, ComponentConfigError, config_env
from ..errors import InvalidRequestError
from ._stores import T

__all__ = ["RedisStore", "redis_from_url", "scrubbed", "shown_url", "url_or_env", "url_passwords"]

logger = logging.getLogger("modelport.cache")


def url_or_env(url: str | None, url_env: str | None) -> str | None:
    """``url``, else the value of the variable ``url_env`` names (which a loaded config reads only if allowed: the
    URL, password included, decides where the data goes)."""
    if url is None and url_env is not None:
        url = config_env(url_env, "named by url_env")
        if url is None:
            raise InvalidRequestError(f"url_env names {url_env!r}, which is not set")
    return url


def _is_password_field(name: str) -> bool:
    """Whether a query parameter of a Redis URL carries a password (``password``, ``ssl_password``)."""
    return "passw" in unquote_plus(name).lower()


def url_passwords(url: str) -> tuple[str, ...]:
    """Every password ``url`` holds, as written and percent-decoded: the one after ``:`` in its user part and those
    of its query (``?password=...``, which Redis reads like the first). Empty when it holds none."""
    parts = urlsplit(url)
    found: list[str] = []
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    for field in parts.query.split("&"):
        name, equals, value = field.partition("=")
        if equals and value and _is_password_field(name):
            found += [value, unquote_plus(value)]
    return tuple(dict.fromkeys(found))


def shown_url(url: str) -> str:
    """``url`` as a ``repr`` or a log may show it: each password it holds (see :func:`url_passwords`) replaced by
    ``**********``, and any ``#fragment`` (which Redis ignores) left out."""
    from .._redact import MASK

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{MASK}@{host}"
    fields = [_masked_field(field, MASK) for field in parts.query.split("&")] if parts.query else []
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{'&'.join(fields)}" if fields else "")


def _masked_field(field: str, mask: str) -> str:
    name, equals, value = field.partition("=")
    return f"{name}={mask}" if equals and value and _is_password_field(name) else field


def scrubbed(text: str, passwords: tuple[str, ...]) -> str:
    """``text`` (a Redis error's, which may echo what was sent: ``unknown command 'AUTH', with args beginning
    with: '<password>'``) with the URL's ``passwords`` masked."""
    from .._redact import _MIN_SECRET, redact_text

    return redact_text(text, [p for p in passwords if len(p) >= _MIN_SECRET])


def redis_from_url(url: str, url_env: str | None, timeout: float, owner: str) -> Any:
    """A ``redis.asyncio`` client for ``url``. A URL that Redis cannot read is an :class:`InvalidRequestError`
    naming where it came from, never its text (which may hold a password)."""
    try:
        import redis.asyncio
    except ImportError:
        raise InvalidRequestError(f'{owner} needs the redis package: pip install "modelport[redis]"') from None
    try:
        return redis.asyncio.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError:
        where = f"url_env: the value of {url_env}" if url_env else "url"
        raise InvalidRequestError(
            f"{owner} {where} is not a Redis URL (redis://[:password@]host:port/db, rediss://... or unix://...)"
        ) from None


def _check_client(client: Any) -> None:
    """``client`` if it reads and writes as a Redis client does, else :class:`InvalidRequestError`: a mistyped URL
    (bytes, a port number) taken as a client would make every cache call fail quietly as a miss."""
    if not all(callable(getattr(client, name, None)) for name in ("get", "set", "delete")):
        raise InvalidRequestError(
            f"RedisStore takes a redis:// URL (a str) or a Redis client (redis.Redis or redis.asyncio.Redis), "
            f"not a {type(client).__name__}"
        )


class RedisStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="Written only without a password, or with include_secrets.")
    url_env: str | None = Field(default=None, description="The environment variable that holds the URL.")
    timeout: float = Field(default=0.25, gt=0)


class RedisStore(Component, Generic[T]):
    """A store in Redis.

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS); or give ``url_env`` or ``client``.
            A Redis client object given here (``RedisStore(redis_instance)``, as AutoGen's guide writes it) is taken
            as ``client``. Subscripting (``RedisStore[CHAT_CACHE_VALUE_TYPE]``) is accepted as AutoGen writes it.
        url_env: the environment variable that holds the URL (what a config saves when the URL has a password).
        client: an existing ``redis.asyncio.Redis``, or a synchronous ``redis.Redis`` (its calls then run in a
            worker thread); you close it.
        timeout: the longest a cache read or write may take before it counts as a miss (seconds).
    """

    component_type = "cache_store"
    component_provider = "redis_store"
    component_version = 2
    component_config_schema = RedisStoreConfig

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Version 1 is AutoGen's shape (``host``, ``port``, ``db``, ``username``, ``password``, ``ssl``,
        ``socket_timeout``); version 2 is one URL."""
        if from_version != 1:
            raise ComponentConfigError(f"redis_store: no migration from component_version {from_version}")
        from urllib.parse import quote

        for field, kind in (("host", str), ("port", int), ("db", int), ("username", str), ("password", str)):
            value = config.get(field)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                what = "a string" if kind is str else "a whole number"
                raise ComponentConfigError(f"redis_store config: {field} must be {what}, not {type(value).__name__}")
        user, password = config.get("username"), config.get("password")
        auth = ""
        if user or password:
            auth = f"{quote(user or '', safe='')}:{quote(password or '', safe='')}@"
        scheme = "rediss" if config.get("ssl") else "redis"
        url = f"{scheme}://{auth}{config.get('host', 'localhost')}:{config.get('port', 6379)}/{config.get('db', 0)}"
        migrated: dict[str, Any] = {"url": url}
        if config.get("socket_timeout"):
            migrated["timeout"] = config["socket_timeout"]
        return migrated

    def __init__(
        self, url: str | Any = None, *, url_env: str | None = None, client: Any = None, timeout: float = 0.25
    ) -> None:
        if url is not None and not isinstance(url, str):
            if client is not None:
                raise InvalidRequestError("RedisStore takes one client: give it positionally or as client=, not both")
            _check_client(url)
            url, client = None, url
        self._url_env = url_env
        self._url: str | None = None
        url = url_or_env(url, url_env)
        if (url is None) == (client is None):
            raise InvalidRequestError("RedisStore takes one of url=, url_env= or client=")
        if timeout <= 0:
            raise InvalidRequestError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            assert url is not None
            client = redis_from_url(url, url_env, timeout, "RedisStore")
        self._client = client
        self._url = url
        self._passwords = url_passwords(url) if url is not None else ()
        # A synchronous client (``redis.Redis()``, as in AutoGen's guide) is used from a worker thread, so the
        # event loop never blocks on it.
        self._sync = not inspect.iscoroutinefunction(getattr(client, "execute_command", None))

    async def _run(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            operation = asyncio.to_thread(call) if self._sync else call()
            return await asyncio.wait_for(operation, self.timeout)
        except Exception as exc:  # down, slow, refused, bad reply: a miss, never a failed call
            text = scrubbed(str(exc), self._passwords)
            logger.warning("redis cache %s failed (%s: %s): treated as a miss", what, type(exc).__name__, text)
            return None

    async def get(self, key: str) -> bytes | None:
        value = await self._run("read", lambda: self._client.get(key))
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expire_ms = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await self._run("write", lambda: self._client.set(key, value, px=expire_ms))

    async def delete(self, key: str) -> None:
        await self._run("delete", lambda: self._client.delete(key))

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({shown_url(self._url) if self._url else 'client'!r})"

    def _to_config(self, *, include_secrets: bool) -> RedisStoreConfig:
        if self._url is None:
            raise InvalidRequestError(
                "this RedisStore was made from a client object, which a config cannot hold; "
                "make it with url= or url_env= to save it"
            )
        if self._url_env is not None and not include_secrets:
            return RedisStoreConfig(url_env=self._url_env, timeout=self.timeout)
        if self._passwords and not include_secrets:
            raise InvalidRequestError(
                "this RedisStore's URL holds a password: make the store with url_env= (the "
                "config then names the variable) or dump with include_secrets=True"
            )
        return RedisStoreConfig(url=self._url, timeout=self.timeout)

    @classmethod
    def _from_config(cls, config: RedisStoreConfig) -> RedisStore:
        if (config.url is None) == (config.url_env is None):
            raise ComponentConfigError("redis_store config: give one of url or url_env")
        return cls(config.url, url_env=config.url_env, timeout=config.timeout)
