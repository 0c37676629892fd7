"""``OLLAMA_HOST`` is honoured by the OpenAI client's ``ollama`` preset (``provider="ollama"``, ``--provider ollama``)
as the native client honours it: the server it names, plus ``/v1``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelport import InvalidRequestError, OllamaChatCompletionClient, OpenAIChatCompletionClient, UserMessage
from modelport.testing import FakeServer

HELLO = [UserMessage(content="Hello", source="user")]


async def test_ollama_preset_honours_ollama_host(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"{server.host}:{server.port}")  # as `ollama serve` users write it
    async with OpenAIChatCompletionClient(model="llama3.1", provider="ollama", max_retries=0) as client:
        assert client.base_url == f"http://{server.host}:{server.port}/v1"
        native = OllamaChatCompletionClient("llama3.1")
        assert client.base_url == f"{native.host}/v1"
        await native.close()
        result = await client.create(HELLO)
    assert result.content == "You said: Hello"
    assert server.requests[0].path == "/v1/chat/completions"


def test_ollama_preset_without_ollama_host_is_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    client = OpenAIChatCompletionClient(model="llama3.1", provider="ollama")
    assert client.base_url == "http://localhost:11434/v1"


def test_base_url_given_wins_over_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    client = OpenAIChatCompletionClient(model="llama3.1", provider="ollama", base_url="http://127.0.0.1:9/v1")
    assert client.base_url == "http://127.0.0.1:9/v1"


def test_bad_ollama_host_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "ftp://gpu-box")
    with pytest.raises(InvalidRequestError, match="OLLAMA_HOST"):
        OpenAIChatCompletionClient(model="llama3.1", provider="ollama")
    with pytest.raises(InvalidRequestError, match="OLLAMA_HOST"):
        OllamaChatCompletionClient("llama3.1")


def test_command_line_provider_ollama_honours_ollama_host() -> None:
    with FakeServer() as server:
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "OPENAI_BASE_URL"}
        environment["OLLAMA_HOST"] = f"http://{server.host}:{server.port}"
        done = subprocess.run(
            [sys.executable, "-m", "modelport.cli", "chat", "--provider", "ollama", "--model", "llama3.1",
             "--no-stream", "hello"],
            capture_output=True, text=True, timeout=60, env=environment,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "You said: hello"
        assert server.requests[0].path == "/v1/chat/completions"
