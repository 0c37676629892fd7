"""The ``modelport`` script: model strings in ``--model``, ``--provider`` reaching each provider's own client, and
``modelport models``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from modelport.testing import FakeServer

SCRIPT = shutil.which("modelport")
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="the modelport script is not installed")
KEY = "test-key-0123456789abcdef"


def modelport(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("AZURE_")}
    environment.update(env or {})
    assert SCRIPT is not None
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=environment)


def chat(server: FakeServer, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return modelport("chat", "--no-stream", *flags, "hello", env=env)


@pytest.mark.parametrize(
    ("flags", "path", "sent"),
    [
        (["--model", "anthropic:claude-sonnet-4-5", "--api-key-env", "ANTHROPIC_API_KEY"], "/v1/messages",
         "claude-sonnet-4-5"),
        (["--model", "gemini:gemini-2.5-flash", "--api-key-env", "GEMINI_API_KEY"],
         "/v1beta/models/gemini-2.5-flash:generateContent", None),
        (["--provider", "gemini", "--api-key-env", "GEMINI_API_KEY"],
         "/v1beta/models/gemini-2.5-flash:generateContent", None),
        (["--provider", "groq", "--model", "groq:openai/gpt-oss-120b", "--api-key-env", "GROQ_API_KEY"],
         "/v1/chat/completions", "openai/gpt-oss-120b"),
        (["--model", "mistral:7b"], "/v1/chat/completions", "mistral:7b"),
        (["--provider", "openrouter", "--model", "anthropic/claude-sonnet-4.5", "--api-key-env", "OPENROUTER_API_KEY"],
         "/v1/chat/completions", "anthropic/claude-sonnet-4.5"),
        (["--model", "openai-responses:gpt-5", "--api-key-env", "OPENAI_API_KEY"], "/v1/responses", "gpt-5"),
    ],
    ids=["anthropic-string", "gemini-string", "provider-gemini", "groq-slash-model", "base-url-keeps-mistral-7b",
         "openrouter-verbatim", "responses-string"],
)
def test_model_strings_and_provider_reach_the_providers_own_client(
    server: FakeServer, flags: list[str], path: str, sent: str | None
) -> None:
    env = {name: KEY for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY",
                                  "OPENAI_API_KEY")}
    done = chat(server, "--base-url", server.base_url, *flags, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello" and done.stderr == ""
    assert server.requests[-1].path == path
    if sent is not None:
        assert server.requests[-1].json["model"] == sent


def test_provider_azure_openai_responses_works(server: FakeServer) -> None:
    done = chat(server, "--provider", "azure-openai-responses", "--model", "gpt-5", "--base-url",
                server.base_url.removesuffix("/v1"), "--api-key-env", "AZURE_OPENAI_API_KEY",
                env={"AZURE_OPENAI_API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello"
    assert server.requests[-1].path == "/openai/v1/responses"
    assert server.requests[-1].headers["api-key"] == KEY
    offline = modelport("chat", "--offline", "--no-stream", "--provider", "azure-openai-responses", "--model", "gpt-5",
                        "hi")
    assert offline.returncode == 0 and offline.stdout.strip() == "You said: hi", offline.stderr


def test_offline_model_strings_use_litellms_slash_form() -> None:
    bedrock = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    for model in ("ollama/qwen3:8b", bedrock, "vertex_ai/gemini-2.5-pro"):
        done = modelport("chat", "--offline", "--no-stream", "--model", model, "hi")
        assert done.returncode == 0 and done.stdout.strip() == "You said: hi", (model, done.stderr)
        assert done.stderr == "", model  # read as the provider's model, which the registry knows


def test_unknown_provider_lists_every_provider_from_the_table() -> None:
    done = modelport("chat", "--provider", "gemni", "hi")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("modelport: --provider 'gemni' is unknown; known: ")
    for name in ("openai-responses", "azure-openai-responses", "bedrock", "gemini", "groq", "ollama"):
        assert f" {name}," in done.stderr or f" {name} " in done.stderr, name
    assert "(did you mean 'gemini'?)" in done.stderr


def test_flag_mistakes_beside_a_model_string_are_one_line_errors() -> None:
    clash = modelport("chat", "--provider", "ollama", "--model", "anthropic:claude-sonnet-4-5", "hi")
    assert clash.returncode == 2
    assert clash.stderr == (
        "modelport: --model 'anthropic:claude-sonnet-4-5' names the provider 'anthropic', but --provider is 'ollama'\n"
    )
    keyless = modelport("chat", "--model", "ollama:qwen3", "--api-key-env", "OPENAI_API_KEY", "hi")
    assert keyless.returncode == 2 and keyless.stderr == "modelport: --api-key-env: ollama takes no key\n"
    empty = modelport("chat", "--model", "anthropic:", "hi")
    assert empty.returncode == 2
    assert empty.stderr == "modelport: --model 'anthropic:' names no model after 'anthropic'\n"


def test_models_lists_context_windows_and_prices() -> None:
    done = modelport("models", "--provider", "anthropic", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["date"] and document["source"]
    sonnet = next(m for m in document["models"] if m["model"] == "claude-sonnet-4-5")
    assert sonnet["model_string"] == "anthropic:claude-sonnet-4-5"
    assert sonnet["context_window"] == 200_000 and sonnet["max_output_tokens"] == 64_000
    assert sonnet["price_per_million_tokens"]["input"] == "3"
    assert {m["provider"] for m in document["models"]} == {"anthropic"}
    table = modelport("models")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "STRING", "CONTEXT"]
    assert any(line.split()[:2] == ["gemini:gemini-2.5-pro", "1,049k"] for line in lines)
    assert any(line.startswith("bedrock:us.anthropic.claude-sonnet-4-5 ") and "200k" in line for line in lines)
    ollama = modelport("models", "--provider", "ollama")
    assert ollama.returncode == 0 and "list_models()" in ollama.stdout
    wrong = modelport("models", "--provider", "antropic")
    assert wrong.returncode == 2 and "(did you mean 'anthropic'?)" in wrong.stderr


@pytest.mark.parametrize(
    "flags", [["--provider", "azure-openai-responses", "--model", "dep"], ["--model", "azure:dep"]],
    ids=["provider-azure-responses", "azure-string"],
)
def test_base_url_gets_the_azure_key_only_with_api_key_env(server: FakeServer, flags: list[str]) -> None:
    root = server.base_url.removesuffix("/v1")
    env = {"AZURE_OPENAI_API_KEY": KEY, "OPENAI_API_VERSION": "2024-10-21"}
    refused = chat(server, "--base-url", root, *flags, env=env)
    assert refused.returncode == 2 and server.requests == []
    assert "--api-key-env AZURE_OPENAI_API_KEY" in refused.stderr and KEY not in refused.stderr
    allowed = chat(server, "--base-url", root, *flags, "--api-key-env", "AZURE_OPENAI_API_KEY", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "You said: hello" and server.requests[-1].headers["api-key"] == KEY
    # the endpoint AZURE_OPENAI_ENDPOINT names is the key's own server
    own = chat(server, "--base-url", root, *flags, env={**env, "AZURE_OPENAI_ENDPOINT": root})
    assert own.returncode == 0, own.stderr
    assert own.stdout.strip() == "You said: hello" and server.requests[-1].headers["api-key"] == KEY


@pytest.mark.parametrize("provider", ["ollama", "vllm"])
def test_provider_keeps_a_model_id_that_starts_with_a_presets_name(server: FakeServer, provider: str) -> None:
    done = chat(server, "--base-url", server.base_url, "--provider", provider, "--model", "mistral:7b")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello" and server.requests[-1].json["model"] == "mistral:7b"


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", ""])
def test_base_url_of_the_openai_compatible_endpoint_reaches_the_native_ollama_client(
    server: FakeServer, suffix: str
) -> None:
    root = server.base_url.removesuffix("/v1")
    done = chat(server, "--base-url", root + suffix, "--model", "ollama:qwen3")  # as --base-url's help shows it
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello" and [r.path for r in server.requests] == ["/api/chat"]
