"""The store objects AutoGen's guide hands to the cache: a synchronous ``redis.Redis`` works (a ``diskcache.Cache``
too: see test_autogen_compat.py); anything that is not a folder is refused with the fix."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport import ChatCompletionCache, DiskCacheStore, RedisStore

from .helpers import HELLO


async def test_a_synchronous_redis_client_is_used_and_hits(redis_url: str, make_client: Any, server: Any) -> None:
    redis = pytest.importorskip("redis")
    sync_client = redis.Redis.from_url(redis_url)
    cache = ChatCompletionCache(make_client(), RedisStore(client=sync_client, timeout=2.0), namespace="sync-client")
    try:
        first = await cache.create(HELLO)
        second = await cache.create(HELLO)
    finally:
        stored = sync_client.keys("sync-client:*")
        sync_client.close()
    assert len(stored) == 1
    assert not first.cached and second.cached and second.content == first.content
    assert len(server.requests) == 1


def test_an_object_that_is_no_folder_is_refused_naming_the_fix() -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"DiskCacheStore\(directory\)"):
        DiskCacheStore(42)
