"""Requests that real providers accepted, taken as they came: OpenAI's own tool-choice form, message dicts with
``name: null``, custom tool calls in the history, a system message later in a Claude conversation, registry
lookups of current model names, and the create-argument check naming its argument."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport import UserMessage
from modelport.testing import FakeServer

HELLO = [UserMessage(content="Hello")]


# -- point 5: a create-arguments value that is not a dict is refused by its name --


@pytest.mark.parametrize("value", [42, [("temperature", 0)], "temperature=0"])
@pytest.mark.parametrize("stream", [False, True])
async def test_extra_create_args_that_is_not_a_dict_is_refused_by_name(server: FakeServer, client: Any, value: Any,
                                                                        stream: bool) -> None:
    with pytest.raises(mp.InvalidRequestError, match="extra_create_args must be a dict"):
        if stream:
            client.create_stream(HELLO, extra_create_args=value)
        else:
            await client.create(HELLO, extra_create_args=value)
    with pytest.raises(mp.InvalidRequestError, match="extra_create_args must be a dict"):
        client.request_fingerprint(HELLO, extra_create_args=value)
    assert server.requests == []


async def test_extra_create_args_none_means_none(server: FakeServer, client: Any) -> None:
    result = await client.create(HELLO, extra_create_args=None)
    assert result.content == "You said: Hello"
    assert "temperature" not in server.requests[0].json
