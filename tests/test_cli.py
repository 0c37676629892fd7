"""The ``modelport`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import subprocess
import sys

from modelport.testing import FakeServer, Reply


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "modelport.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=environment)


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
        done = run("chat", "--base-url", server.base_url, "--model", "llama3.1", "--no-stream",
                   stdin="first\nsecond\n\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["You said: first", "You said: second"]
        roles = [m["role"] for m in server.requests[-1].json["messages"]]
        assert roles == ["user", "assistant", "user"]


def test_chat_without_key_explains() -> None:
    done = run("chat", "hi")
    assert done.returncode == 2 and "OPENAI_API_KEY" in done.stderr and "modelport demo" in done.stderr


def test_chat_reports_api_errors() -> None:
    with FakeServer() as server:
        server.add(Reply.json({"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}},
                              status=404))
        done = run("chat", "--base-url", server.base_url, "--model", "nope", "hi")
    assert done.returncode == 1 and "NotFoundError" in done.stderr


def test_output_closed_early_is_not_a_traceback() -> None:
    reader = subprocess.Popen([sys.executable, "-m", "modelport.cli", "demo"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()  # as `modelport demo | head -1` does
    errors = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait(timeout=60) in (0, 141)
    assert "Traceback" not in errors
