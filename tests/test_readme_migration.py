"""The "Coming from ..." page's blocks for the OpenAI SDK, AutoGen, CAMEL and DB-GPT run as written, against the
built-in server (through OPENAI_BASE_URL), and answer the question they ask."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from modelport.testing import FakeServer

from .docs_blocks import DOCS, section

PAGE = DOCS / "coming-from.md"
HEADINGS = ["## The OpenAI SDK", "## AutoGen", "## CAMEL", "## DB-GPT"]


def _blocks() -> list[str]:
    return [re.findall(r"```python\n(.*?)```", section(PAGE, heading), flags=re.DOTALL)[0] for heading in HEADINGS]


BLOCKS = _blocks()


def test_the_section_has_a_block_for_each_library() -> None:
    joined = "\n".join(BLOCKS)
    assert len(BLOCKS) == 4
    for origin in ("from openai", "autogen", "camel", "dbgpt"):
        assert origin in joined


@pytest.mark.parametrize("block", BLOCKS, ids=["openai-sdk", "autogen", "camel", "db-gpt"])
def test_each_block_runs_as_written(fake_server: FakeServer, block: str) -> None:
    fake_server.reset()
    if "autogen_agentchat" in block:
        pytest.importorskip("autogen_agentchat")
    if "camel" in block:
        pytest.importorskip("camel")
    environment = {**os.environ, "OPENAI_BASE_URL": fake_server.base_url, "OPENAI_API_KEY": "sk-readme-test"}
    done = subprocess.run([sys.executable, "-W", "error", "-c", block], capture_output=True, text=True, timeout=120,
                          env=environment)
    assert done.returncode == 0, done.stderr
    assert "Why is the sky blue?" in done.stdout  # the built-in server echoes the question
    assert len(fake_server.requests) >= 1
