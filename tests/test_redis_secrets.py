"""Redis URLs against real redis-servers: a password stays out of every ``repr``, log line and saved config of a
``RedisRouterState`` or a ``RedisStore`` wherever the URL carries it (``redis://:pw@host`` or ``?password=pw``), and
a saved router keeps every setting its Redis state was made with."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from modelport import ChatCompletionCache, RedisStore, load_component
from modelport.errors import InvalidRequestError
from modelport.router import Deployment, RateLimit, RedisRouterState, Router
from modelport.testing import FakeServer

from .test_router_redis import HELLO, _client, _free_port, _namespace, _start_redis

PASSWORD = "hunter2-SECRET"


@pytest.fixture
def locked_redis(redis_url: str, tmp_path: Any) -> Iterator[int]:
    """The port of a redis-server of this test's own that answers only after AUTH with :data:`PASSWORD`
    (``redis_url`` only skips without the binary)."""
    port = _free_port()
    process = _start_redis(port, str(tmp_path), "--requirepass", PASSWORD)
    yield port
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def echoing_redis(redis_url: str, tmp_path: Any) -> Iterator[int]:
    """The port of a redis-server whose AUTH command is turned off (as some hosted ones do): it answers AUTH with
    ``unknown command 'AUTH', with args beginning with: '<the password>'``."""
    port = _free_port()
    process = _start_redis(port, str(tmp_path), "--rename-command", "AUTH", "")
    yield port
    process.terminate()
    process.wait(timeout=10)


def _urls(port: int, *query: str) -> list[str]:
    """The URL of the redis-server on ``port`` with :data:`PASSWORD` in its query string, and in its user part."""
    more = "".join(f"&{q}" for q in query)
    return [f"redis://127.0.0.1:{port}/0?password={PASSWORD}{more}",
            f"redis://:{PASSWORD}@127.0.0.1:{port}/0" + (f"?{more[1:]}" if more else "")]


async def test_a_redis_password_in_the_query_string_stays_secret(locked_redis: int) -> None:
    import redis.asyncio

    for url in _urls(locked_redis):
        namespace = _namespace()
        state = RedisRouterState(url, namespace=namespace)
        store = RedisStore(url)
        check = redis.asyncio.from_url(url)
        with FakeServer() as server:
            router = Router([Deployment(_client(server.base_url), "a", limits=[RateLimit(requests=5, per=1.0)])],
                            state=state)
            try:
                await router.create(HELLO)
                assert await check.exists(f"{namespace}:{{a}}:entries") == 1  # Redis took the password
                await store.set("k", b"v")
                assert await store.get("k") == b"v"
                for shown in (repr(state), repr(store), repr(ChatCompletionCache(_client(server.base_url), store))):
                    assert PASSWORD not in shown and f"127.0.0.1:{locked_redis}/0" in shown, shown
                    assert "**********" in shown
                for dump in (router.dump_component, state.to_config, store.dump_component):
                    with pytest.raises(InvalidRequestError, match="password"):
                        dump(include_secrets=False)
                saved = router.dump_component(include_secrets=True)
                assert saved.config["state"]["url"] == url
                assert store.dump_component(include_secrets=True).config["url"] == url
                again = load_component(saved.model_dump())  # what was saved with the secret still works
                assert isinstance(again, Router)
                await again.create(HELLO)
                await again.close()
                await again.state.close()
            finally:
                await router.close()
                await state.close()
                await store.close()
                await check.aclose()


async def test_a_redis_error_that_echoes_the_password_is_logged_without_it(
    echoing_redis: int, caplog: pytest.LogCaptureFixture
) -> None:
    for url in _urls(echoing_redis, "protocol=2"):  # RESP2: the password goes in an AUTH command of its own
        caplog.clear()
        state = RedisRouterState(url, namespace=_namespace(), timeout=0.5)
        store = RedisStore(url, timeout=0.5)
        with FakeServer() as server:
            router = Router([Deployment(_client(server.base_url), "a")], state=state)
            try:
                with caplog.at_level(logging.WARNING):
                    await router.create(HELLO)  # on this process's own limits: Redis refused
                    assert await store.get("k") is None  # a miss
            finally:
                await router.close()
                await state.close()
                await store.close()
        logged = [r.getMessage() for r in caplog.records if r.name.startswith("modelport")]
        assert len(logged) == 2 and all("unknown command 'AUTH'" in line for line in logged), logged
        assert all(PASSWORD not in line and "**********" in line for line in logged), logged


async def test_a_saved_router_keeps_every_setting_of_its_redis_state(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_TEST_REDIS", redis_url)
    settings = {"namespace": _namespace(), "timeout": 0.5, "lease": 12.0, "retry": 0.25, "flush_after": 0.02}
    state = RedisRouterState(url_env="MODELPORT_TEST_REDIS", **settings)
    with FakeServer() as server:
        router = Router([_client(server.base_url)], state=state)
        saved = router.dump_component()
        loaded = load_component(saved.model_dump(), allow_env=["MODELPORT_TEST_REDIS"])
        try:
            assert isinstance(loaded, Router) and isinstance(loaded.state, RedisRouterState)
            assert {name: getattr(loaded.state, name) for name in settings} == settings
            assert loaded.dump_component() == saved
            await loaded.create(HELLO)
            assert await loaded.state.in_flight(loaded.deployments[0].name) == 0
        finally:
            await loaded.close()
            await loaded.state.close()
            await router.close()
            await state.close()
    store = RedisStore(url_env="MODELPORT_TEST_REDIS", timeout=0.75)
    reloaded = load_component(store.dump_component().model_dump(), allow_env=["MODELPORT_TEST_REDIS"])
    assert isinstance(reloaded, RedisStore) and reloaded.timeout == 0.75
    await store.close()
    await reloaded.close()
