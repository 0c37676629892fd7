"""``python -m modelport`` is the ``modelport`` command."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "modelport", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_python_m_modelport_shows_the_commands() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert "demo" in done.stdout and "chat" in done.stdout and "batch" in done.stdout


def test_python_m_modelport_runs_the_offline_demo() -> None:
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    assert "A tool call" in done.stdout and "Total usage:" in done.stdout
