"""max_connections and max_connections_per_host: checked, saved in configs, and holding the pool to the limit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import modelport as mp
from modelport import OpenAIChatCompletionClient
from modelport._http import default_max_connections
from modelport.testing import FakeServer, Reply, completion

from .helpers import HELLO


def test_the_default_follows_the_open_file_limit() -> None:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    expected = 10_000 if soft == resource.RLIM_INFINITY else max(100, min(10_000, soft // 2))
    assert default_max_connections() == expected
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1")
    assert client._transport.max_connections == expected


@pytest.mark.parametrize("value", [0, -1, 2.5, "10", True])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(value: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="max_connections"):
        OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", max_connections=value)


def test_limits_are_saved_and_loaded() -> None:
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", max_connections=20000,
                                        max_connections_per_host=300)
    loaded = mp.load_component(client.dump_component())
    assert (loaded._transport.max_connections, loaded._transport.max_connections_per_host) == (20000, 300)


@pytest.mark.parametrize("limit, serialised", [(1, True), (2, False)])
async def test_the_pool_holds_to_the_limit(server: FakeServer, make_client: Any, limit: int,
                                           serialised: bool) -> None:
    server.add(Reply.json(completion("a"), head_delay=0.3), Reply.json(completion("b"), head_delay=0.3))
    client = make_client(max_connections=limit)
    started = time.monotonic()
    await asyncio.gather(client.create(HELLO), client.create(HELLO))
    elapsed = time.monotonic() - started
    assert (elapsed >= 0.6) is serialised
