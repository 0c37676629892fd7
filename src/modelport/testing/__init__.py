"""Test helpers: a fake OpenAI-compatible (and OpenAI Responses, Anthropic Messages, Gemini, Bedrock and Ollama)
server, scripted per test, that runs offline on loopback, and a scripted client.

    from modelport.testing import FakeServer, Reply, chunk

    with FakeServer() as server:
        server.add(Reply.sse([chunk({"content": "Hel"}), chunk({"content": "lo"}), chunk(finish_reason="stop")]))
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="test")
        ...
        assert server.requests[0].json["stream"] is True

modelport's own test suite uses exactly this server. :class:`ReplayChatCompletionClient` needs no server at all: it
answers from a list (AutoGen's ``ReplayChatCompletionClient``), and is loaded on first use. :class:`Cassette`
records what real requests and responses crossed the wire and replays them without a server (loaded on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._anthropic import (
    anthropic_error,
    anthropic_event,
    anthropic_events,
    anthropic_message,
    anthropic_stream,
    anthropic_usage,
    redacted_thinking_block,
    text_block,
    thinking_block,
    tool_use_block,
)
from ._gemini import (
    gemini_blocked,
    gemini_call_part,
    gemini_error,
    gemini_frames,
    gemini_response,
    gemini_stream,
    gemini_text_part,
    gemini_usage,
)
from ._ollama import ollama_chunk, ollama_error, ollama_response, ollama_stream
from ._openai import chunk, completion, instance_of, usage
from ._reply import RecordedRequest, Reply
from ._responses import (
    function_call_item,
    message_item,
    reasoning_item,
    refusal_item,
    responses_events,
    responses_response,
    responses_sse,
    responses_stream,
    responses_usage,
)
from ._routes import default_reply
from ._server import FakeServer

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteMismatchError",
    "FakeServer",
    "RecordedRequest",
    "ReplayChatCompletionClient",
    "Reply",
    "anthropic_error",
    "anthropic_event",
    "anthropic_events",
    "anthropic_message",
    "anthropic_stream",
    "anthropic_usage",
    "chunk",
    "completion",
    "default_reply",
    "function_call_item",
    "gemini_blocked",
    "gemini_call_part",
    "gemini_error",
    "gemini_frames",
    "gemini_response",
    "gemini_stream",
    "gemini_text_part",
    "gemini_usage",
    "instance_of",
    "message_item",
    "ollama_chunk",
    "ollama_error",
    "ollama_response",
    "ollama_stream",
    "reasoning_item",
    "redacted_thinking_block",
    "refusal_item",
    "responses_events",
    "responses_response",
    "responses_sse",
    "responses_stream",
    "responses_usage",
    "text_block",
    "thinking_block",
    "tool_use_block",
    "usage",
]


_CASSETTE_NAMES = ("Cassette", "CassetteError", "CassetteMismatchError")


def __getattr__(name: str) -> Any:
    if name in _CASSETTE_NAMES:
        from . import _cassette

        value = globals()[name] = getattr(_cassette, name)
        return value
    if name == "ReplayChatCompletionClient":  # it imports the client stack (aiohttp, pydantic): only when asked
        from ._replay import ReplayChatCompletionClient

        globals()[name] = ReplayChatCompletionClient
        return ReplayChatCompletionClient
    raise AttributeError(f"module 'modelport.testing' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._cassette import Cassette, CassetteError, CassetteMismatchError
    from ._replay import ReplayChatCompletionClient
