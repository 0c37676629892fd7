"""Small helpers shared by the tests."""

from __future__ import annotations

import subprocess
from typing import Any

from modelport import ChatCompletionClient, CreateResult, UserMessage

HELLO = [UserMessage(content="Hello")]


async def collect(client: ChatCompletionClient, messages: Any = None, **kwargs: Any) -> tuple[list[str], CreateResult]:
    """Run a stream to its end: (the str deltas, the final CreateResult)."""
    deltas: list[str] = []
    result: CreateResult | None = None
    async with client.create_stream(messages or HELLO, **kwargs) as stream:
        async for item in stream:
            if isinstance(item, CreateResult):
                assert result is None, "more than one CreateResult"
                result = item
            else:
                assert result is None, "a delta after the CreateResult"
                deltas.append(item)
    assert result is not None, "the stream ended without a CreateResult"
    return deltas, result


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for a test's subprocess: (exit status, stdout, stderr); killed, and the timeout raised, if it overruns."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err
