"""The ``modelport`` command asks for a key only where the library does: a server named by ``OPENAI_BASE_URL`` needs
none, and the requests file and the flags are checked before the key. Each test runs the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelport.testing import FakeServer

COMMAND = shutil.which("modelport", path=str(Path(sys.executable).parent)) or shutil.which("modelport")


def modelport(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``modelport`` command, with no key of any provider and no ``OPENAI_BASE_URL`` unless ``env`` sets them."""
    if COMMAND is None:
        pytest.skip("the modelport command is not installed")
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "OPENAI_BASE_URL"}
    environment.update(env or {})
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=60, env=environment, cwd=cwd)


def _requests_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    lines = [{"custom_id": f"r{i}", "messages": [{"role": "user", "content": f"question {i}"}]} for i in range(2)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_chat_with_openai_base_url_and_no_key_works() -> None:
    with FakeServer() as server:
        done = modelport("chat", "--no-stream", "hello", env={"OPENAI_BASE_URL": server.base_url})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "You said: hello"
        assert "authorization" not in server.requests[0].headers


def test_batch_with_openai_base_url_and_no_key_works(tmp_path: Path) -> None:
    requests = _requests_file(tmp_path)
    with FakeServer() as server:
        done = modelport("batch", str(requests), "-o", "out.jsonl", env={"OPENAI_BASE_URL": server.base_url},
                         cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(server.requests) == 2
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["custom_id"] for r in results) == ["r0", "r1"]


def test_openai_itself_still_needs_its_key() -> None:
    done = modelport("chat", "hi", env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    assert done.returncode == 2 and "OPENAI_API_KEY is not set" in done.stderr


def test_batch_missing_requests_file_is_said_before_the_key(tmp_path: Path) -> None:
    done = modelport("batch", "nope.jsonl", "-o", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 2
    assert "nope.jsonl" in done.stderr and "No such file" in done.stderr
    assert "OPENAI_API_KEY" not in done.stderr


@pytest.mark.parametrize("flag", ["--rpm", "--tpm"])
def test_batch_bad_rate_flag_is_said_before_the_key(tmp_path: Path, flag: str) -> None:
    requests = _requests_file(tmp_path)
    done = modelport("batch", str(requests), "-o", "out.jsonl", flag, "-1", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{flag} must be at least 1, got -1" in done.stderr
    assert "OPENAI_API_KEY" not in done.stderr
