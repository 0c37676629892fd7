"""Point 4: ``OllamaChatCompletionClient.list_models()`` reads each model's context length from ``/api/show``, a few
requests at a time, over real HTTP against the fake server."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport import OllamaChatCompletionClient
from modelport.testing import FakeServer, RecordedRequest, Reply
from modelport.testing._ollama import ollama_reply

INFO: dict[str, Any] = {"vision": False, "function_calling": True, "json_output": True, "family": "unknown",
                        "context_window": 8192}


def numbered_models(count: int, head_delay: float = 0.0) -> Any:
    """A default reply for a server with ``count`` models ``m0:latest``...: ``m<i>`` has a window of 1,000 * (i + 1)
    tokens; ``m1`` cannot be shown (404, as a model removed since the listing)."""

    def reply(request: RecordedRequest) -> Reply:
        if request.path == "/api/tags":
            return Reply.json({"models": [{"name": f"m{i}:latest", "model": f"m{i}:latest"} for i in range(count)]})
        if request.path == "/api/show":
            name = request.json["model"]
            if name == "m1:latest":
                return Reply.json({"error": f"model '{name}' not found"}, status=404, head_delay=head_delay)
            index = int(name[1:].split(":")[0])
            info = {"general.architecture": "llama", "llama.context_length": 1000 * (index + 1)}
            return Reply.json({"model_info": info, "parameters": ""}, head_delay=head_delay)
        return ollama_reply(request)

    return reply


async def test_point4_ollama_list_models_reads_each_context_length(server: FakeServer) -> None:
    client = OllamaChatCompletionClient("qwen3:8b", host=f"http://{server.host}:{server.port}")
    try:
        listings = await client.list_models()
    finally:
        await client.close()
    assert [(m.id, m.context_window) for m in listings] == [("llama3.1:latest", 131072), ("qwen3:8b", 40960)]
    assert listings[0].raw["details"]["quantization_level"] == "Q4_K_M"
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/tags"), ("POST", "/api/show"),
                                                             ("POST", "/api/show")]
    assert sorted(r.json["model"] for r in server.requests[1:]) == ["llama3.1:latest", "qwen3:8b"]
    assert client.context_window == 40960


async def test_point4_ollama_list_models_asks_a_few_at_a_time() -> None:
    with FakeServer(default=numbered_models(12, head_delay=0.1)) as server:
        client = OllamaChatCompletionClient("m3", host=f"http://{server.host}:{server.port}", model_info=INFO)
        try:
            assert client.context_window == 8192
            listings = await client.list_models(concurrency=3)
        finally:
            await client.close()
        opened = server.connections_opened
    expected = [(f"m{i}:latest", None if i == 1 else 1000 * (i + 1)) for i in range(12)]
    assert [(m.id, m.context_window) for m in listings] == expected
    assert len(server.requests) == 13
    assert 2 <= opened <= 3, f"{opened} connections: the shows must overlap, three at most at once"
    assert client.context_window == 4000  # "m3" is listed as m3:latest


async def test_point4_ollama_list_models_refuses_a_bad_concurrency(server: FakeServer) -> None:
    client = OllamaChatCompletionClient("llama3.1", host=f"http://{server.host}:{server.port}")
    try:
        for bad in (0, -1, 1.5, "4", True):
            with pytest.raises(mp.InvalidRequestError, match="concurrency"):
                await client.list_models(concurrency=bad)
    finally:
        await client.close()
    assert server.requests == []
