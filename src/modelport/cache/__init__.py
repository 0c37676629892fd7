"""Response caching: :class:`ChatCompletionCache` over :class:`InMemoryStore`, :class:`DiskCacheStore` or
:class:`RedisStore`."""

from ._cache import CHAT_CACHE_VALUE_TYPE, KEY_VERSION, ChatCompletionCache, canonical_json
from ._redis import RedisStore
from ._stores import CacheStore, DiskCacheStore, InMemoryStore

__all__ = [
    "CHAT_CACHE_VALUE_TYPE",
    "KEY_VERSION",
    "CacheStore",
    "ChatCompletionCache",
    "DiskCacheStore",
    "InMemoryStore",
    "RedisStore",
    "canonical_json",
]
