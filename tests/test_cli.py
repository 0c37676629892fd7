"""The ``modelport`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelport.testing import FakeServer, RecordedRequest, Reply, default_reply


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def test_demo_runs_offline() -> None:
    done = run("demo")
    assert done.returncode == 0, done.stderr
    for step in ("1. A plain call", "2. A stream", "3. A tool call", "4. Structured output"):
        assert step in done.stdout
    assert "get_weather" in done.stdout and "City(name='Paris'" in done.stdout


def test_chat_one_prompt_offline() -> None:
    done = run("chat", "--offline", "hello", "there")
    assert done.returncode == 0 and done.stdout.strip() == "You said: hello there"


def test_chat_interactive_keeps_history() -> None:
    with FakeServer() as server:
        done = run(
            "chat", "--base-url", server.base_url, "--model", "llama3.1", "--no-stream", stdin="first\nsecond\n\n"
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["You said: first", "You said: second"]
        roles = [m["role"] for m in server.requests[-1].json["messages"]]
        assert roles == ["user", "assistant", "user"]


def test_chat_without_key_explains() -> None:
    done = run("chat", "hi")
    assert done.returncode == 2 and "OPENAI_API_KEY" in done.stderr and "modelport demo" in done.stderr


def test_chat_reports_api_errors() -> None:
    with FakeServer() as server:
        server.add(
            Reply.json({"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}}, status=404)
        )
        done = run("chat", "--base-url", server.base_url, "--model", "nope", "hi")
    assert done.returncode == 1 and "NotFoundError" in done.stderr


def test_output_closed_early_is_not_a_traceback() -> None:
    reader = subprocess.Popen(
        [sys.executable, "-m", "modelport.cli", "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()  # as `modelport demo | head -1` does
    errors = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait(timeout=60) in (0, 141)
    assert "Traceback" not in errors


def test_demo_live_without_key_is_one_error_line_not_a_traceback() -> None:
    done = run("demo", "--live")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    first, *rest = done.stderr.splitlines()
    assert first.startswith("modelport: OPENAI_API_KEY is not set") and "--base-url URL" in first
    assert rest == ["(try `modelport demo`, or `modelport chat --offline`, to run without a key)"]
    assert done.stdout == ""


def test_demo_live_runs_against_the_server_given() -> None:
    with FakeServer() as server:
        done = run("demo", "--live", "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    assert f"demo against {server.base_url} (gpt-4o-mini)" in done.stdout and "City(name='Paris'" in done.stdout


def test_errors_name_flags_and_only_a_missing_key_suggests_the_demo() -> None:
    done = run("chat", "--base-url", "localhost:11434/v1", "hi")
    assert done.returncode == 2
    assert done.stderr == "modelport: --base-url must start with http:// or https://, got 'localhost:11434/v1'\n"
    done = run("chat", "--provider", "olama", "hi")
    assert done.returncode == 2 and done.stderr.startswith("modelport: --provider 'olama' is unknown; known: ")
    assert "modelport demo" not in done.stderr
    done = run("chat", "hi")
    assert "base_url" not in done.stderr and "--base-url URL" in done.stderr and "modelport demo" in done.stderr


def test_api_key_env_names_the_variable_that_holds_the_key() -> None:
    with FakeServer() as server:
        done = run(
            "chat",
            "--base-url",
            server.base_url,
            "--api-key-env",
            "MY_SERVER_KEY",
            "hi",
            env={"MY_SERVER_KEY": "sk-mine"},
        )
        assert done.returncode == 0, done.stderr
        assert server.requests[-1].headers["authorization"] == "Bearer sk-mine"
    done = run("chat", "--api-key-env", "MY_SERVER_KEY", "hi")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == "modelport: --api-key-env names MY_SERVER_KEY, which is not set"
    assert "modelport demo" in done.stderr


def test_model_flag_replaces_the_config_model(tmp_path: Path) -> None:
    with FakeServer() as server:
        path = tmp_path / "model.json"
        path.write_text(json.dumps({"provider": "openai", "config": {"model": "gpt-4o", "base_url": server.base_url}}))
        assert run("chat", "--config", str(path), "hi").returncode == 0
        assert server.requests[-1].json["model"] == "gpt-4o"
        done = run("chat", "--config", str(path), "--model", "gpt-4.1-mini", "hi")
        assert done.returncode == 0, done.stderr
        assert server.requests[-1].json["model"] == "gpt-4.1-mini"

        cached = tmp_path / "cached.json"
        cached.write_text(
            json.dumps({"provider": "chat_completion_cache", "config": {"client": json.loads(path.read_text())}})
        )
        done = run("chat", "--config", str(cached), "--model", "gpt-4o-mini", "hi")
        assert done.returncode == 0, done.stderr
        assert server.requests[-1].json["model"] == "gpt-4o-mini"


def test_flags_a_config_would_ignore_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"provider": "openai", "config": {"model": "gpt-4o", "base_url": "http://x/v1"}}))
    done = run("chat", "--config", str(path), "--base-url", "http://localhost:8000/v1", "hi")
    assert done.returncode == 2
    assert done.stderr == f"modelport: --base-url cannot be combined with --config: set it in {path} instead\n"
    azure = tmp_path / "azure.json"
    azure.write_text(
        json.dumps(
            {
                "provider": "azure_openai",
                "config": {
                    "model": "gpt-4o",
                    "azure_deployment": "my-gpt-4o",
                    "azure_endpoint": "https://r.openai.azure.com",
                    "api_version": "2024-10-21",
                    "api_key_env": "UNSET_AZURE_KEY",
                },
            }
        )
    )
    done = run("chat", "--config", str(azure), "--model", "gpt-4.1", "hi")
    assert done.returncode == 2 and "azure_deployment ('my-gpt-4o')" in done.stderr and "Traceback" not in done.stderr


def test_unknown_model_warns_in_one_line_once() -> None:
    with FakeServer() as server:
        done = run("chat", "--base-url", server.base_url, "--model", "my-own-model", stdin="first\nsecond\n\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["You said: first", "You said: second"]
    (line,) = done.stderr.splitlines()
    assert line.startswith("modelport: warning: model 'my-own-model' is not in modelport's registry: ")
    assert "--config" in line and "model_info=" not in line and ".py" not in line


def test_base_url_without_its_version_is_a_404_with_a_hint() -> None:
    with FakeServer() as server:
        root = server.base_url.removesuffix("/v1")
        done = run("chat", "--base-url", root, "hi")
    assert done.returncode == 1
    assert "NotFoundError" in done.stderr and "Invalid URL (POST /chat/completions)" in done.stderr
    assert f"try --base-url {root}/v1" in done.stderr and "modelport demo" not in done.stderr


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/v1/models", 200),
        ("POST", "/openai/deployments/my-gpt-4o/chat/completions", 200),
        ("POST", "/openai/v1/chat/completions", 200),
        ("GET", "/openai/v1/models", 200),
        ("POST", "/chat/completions", 404),
        ("GET", "/models", 404),
        ("POST", "/v2/chat/completions", 404),
        ("POST", "/v1/v1/chat/completions", 404),
        ("GET", "/v1/chat/completions", 404),
        ("POST", "/v1/models", 404),
        ("POST", "/openai/deployments/chat/completions", 404),
        ("POST", "/openai/deployments/a/b/chat/completions", 404),
    ],
)
def test_built_in_server_answers_only_where_a_real_one_does(method: str, path: str, status: int) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    reply = default_reply(RecordedRequest(method, path, {}, {}, body if method == "POST" else b""))
    assert reply.status == status
    if status == 404:
        answer = json.loads(b"".join(data for _, data in reply.segments))
        assert answer == {
            "error": {
                "message": f"Invalid URL ({method} {path})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
