"""``modelport`` with ``--provider bedrock``: the demo offline, and chat through the Converse client."""

from __future__ import annotations

from modelport.testing import FakeServer

from .test_cli import run

AWS_FREE = {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true"}


def test_demo_with_provider_bedrock_runs_offline() -> None:
    done = run("demo", "--provider", "bedrock", env=AWS_FREE)
    assert done.returncode == 0, done.stderr
    for step in ("1. A plain call", "2. A stream", "3. A tool call", "4. Structured output"):
        assert step in done.stdout
    assert "City(name='Paris'" in done.stdout and "Warning" not in done.stderr


def test_chat_with_provider_bedrock_speaks_converse() -> None:
    with FakeServer() as server:
        done = run("chat", "--provider", "bedrock", "--base-url", server.base_url, "--no-stream", "hello", "there",
                   env=AWS_FREE)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "You said: hello there"
        assert [r.path for r in server.requests] == [
            "/v1/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
        ]
