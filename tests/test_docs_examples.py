"""Every ```python block of the README and of the documentation pages runs as written, offline, against the
built-in server.

The convention, for every page (docs/examples.md says it for writers): the blocks of one page run in order in one
Python process, sharing their names like a notebook's cells, so a later block may use what an earlier one made.
A block may ``await`` at the top level. Each page starts with two names already defined: ``client``, an
``OpenAIChatCompletionClient`` for ``gpt-4o-mini``, and ``messages``, a one-question conversation. Every provider's
server is the built-in one (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``, ``OLLAMA_HOST``,
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, with test keys), and the working directory is an empty temporary one. A block
marked ``<!-- not run: why -->`` is left out (and listed); one marked ``<!-- requires: module -->`` is left out where
that module does not import. A block that exits, or leaves a file or a client session open, fails its page.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelport.testing import FakeServer

from .docs_blocks import ROOT, Block, blocks, pages

RUNNER = """\
import ast, asyncio, gc, inspect, json, sys, warnings
from modelport import OpenAIChatCompletionClient, UnknownModelWarning, UserMessage

warnings.simplefilter("default", UnknownModelWarning)  # a model of the reader's own is said to be unknown, once
left_open = []  # what a finaliser raised: with -W error, a ResourceWarning for a file or session never closed
sys.unraisablehook = lambda unraisable: left_open.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value}")

namespace = {"__name__": "__main__"}
loop = asyncio.new_event_loop()

async def seed() -> None:
    namespace["client"] = OpenAIChatCompletionClient(model="gpt-4o-mini")
    namespace["messages"] = [UserMessage(content="Why is the sky blue?")]

def run(page, line, source) -> None:
    code = compile("\\n" * (line - 1) + source, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(eval(code, namespace))
        else:
            asyncio.set_event_loop(None)
            exec(code, namespace)
    except SystemExit as exit:  # the blocks after it would be left out, unnoticed
        raise RuntimeError(f"the block at {page}:{line} exited ({exit.code!r})") from None

loop.run_until_complete(seed())
try:
    for page, line, source in json.load(sys.stdin):
        run(page, line, source)
finally:
    client = namespace.get("client")
    if client is not None and hasattr(client, "close"):
        asyncio.set_event_loop(loop)
        loop.run_until_complete(client.close())
    loop.close()
    namespace.clear()
    gc.collect()
if left_open:
    sys.exit("left open by the blocks: " + "; ".join(left_open))
"""

PAGES = [page for page in pages() if blocks(page)]


def _environment(server: FakeServer) -> dict[str, str]:
    root = server.base_url.removesuffix("/v1")
    return {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-docs-test",
            "ANTHROPIC_BASE_URL": root, "ANTHROPIC_API_KEY": "sk-ant-docs-test", "OLLAMA_HOST": root,
            "GOOGLE_API_KEY": "docs-test", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": root, "AWS_REGION": "us-east-1",
            "AZURE_OPENAI_API_KEY": "docs-test", "AWS_ACCESS_KEY_ID": "AKIDDOCSTEST",
            "AWS_SECRET_ACCESS_KEY": "docs-test-secret", "MODELPORT_USAGE_DB": "usage.sqlite3"}


def _runs(block: Block) -> bool:
    if block.not_run is not None:
        return False
    return block.requires is None or importlib.util.find_spec(block.requires) is not None


def _unimported_requirements(page: Path) -> list[str]:
    """The ``requires`` marks of ``page`` naming a module that neither the block nor one before it imports: a typo
    there would leave the block out everywhere, silently, since no such module imports anywhere."""
    imported: set[str] = set()
    problems = []
    for block in blocks(page):
        imported |= _imports(block.code)
        wanted = block.requires
        if wanted is not None and not any(name == wanted or name.startswith(wanted + ".") for name in imported):
            problems.append(f"{block.page}:{block.line}: requires {wanted}, which the page never imports")
    return problems


def _imports(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()  # the run reports it
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_python_block_of_the_page_runs(server: FakeServer, tmp_path: Path, page: Path) -> None:
    chosen = [block for block in blocks(page) if _runs(block)]
    if not chosen:
        pytest.skip("every block of this page is marked not to run here")
    done = _run(chosen, server, tmp_path)
    assert done.returncode == 0, done.stderr


def _run(chosen: list[Block], server: FakeServer, folder: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``chosen`` in order in one new Python process, as a page's blocks are run."""
    listing = json.dumps([(block.page, block.line, block.code) for block in chosen])
    return subprocess.run([sys.executable, "-W", "error", "-c", RUNNER], input=listing, capture_output=True,
                          text=True, timeout=300, env=_environment(server), cwd=folder)


def test_the_blocks_not_run_are_few_and_say_why() -> None:
    marked = [block for page in pages() for block in blocks(page) if block.not_run is not None]
    listing = "\n".join(f"{block.page}:{block.line}: {block.not_run}" for block in marked)
    print(f"{len(marked)} blocks not run:\n{listing}")
    assert all(block.not_run for block in marked), listing
    assert len(marked) <= 5, listing


def test_a_mark_is_read_from_the_line_before_the_fence(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text.\n\n<!-- not run: needs a real AWS account -->\n```python\nx = 1\n```\n\n"
                    "<!-- requires: dbgpt -->\n```python\ny = 2\n```\n\n```python\nz = 3\n```\n")
    found = blocks(page)
    assert [(b.line, b.code, b.not_run, b.requires) for b in found] == [
        (5, "x = 1\n", "needs a real AWS account", None), (10, "y = 2\n", None, "dbgpt"), (14, "z = 3\n", None, None)]


def test_a_block_in_a_list_an_admonition_or_a_py_fence_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("- A step:\n\n    ```python\n    x = 1\n    if x:\n        y = 2\n    ```\n\n"
                    '!!! note\n    ```py\n    z = 3\n    ```\n\n```python title="example.py"\nw = 4\n```\n\n'
                    "````markdown\n```python\nnot_a_block = 1\n```\n````\n")
    found = blocks(page)
    assert [(b.line, b.code) for b in found] == [(4, "x = 1\nif x:\n    y = 2\n"), (11, "z = 3\n"), (15, "w = 4\n")]


def _page_blocks(tmp_path: Path, *codes: str) -> list[Block]:
    page = tmp_path / "page.md"
    page.write_text("".join(f"```python\n{code}\n```\n\n" for code in codes), encoding="utf-8")
    return blocks(page)


def test_a_block_that_raises_fails_its_page(server: FakeServer, tmp_path: Path) -> None:
    done = _run(_page_blocks(tmp_path, "x = 1", "raise ValueError('the example is wrong')"), server, tmp_path)
    assert done.returncode != 0
    assert "the example is wrong" in done.stderr


def test_a_block_that_exits_fails_its_page_rather_than_skipping_the_blocks_after_it(
    server: FakeServer, tmp_path: Path
) -> None:
    done = _run(_page_blocks(tmp_path, "raise SystemExit", "raise ValueError('never reached')"), server, tmp_path)
    assert done.returncode != 0
    assert "page.md:2" in done.stderr


def test_a_resource_a_block_leaves_open_fails_its_page(server: FakeServer, tmp_path: Path) -> None:
    """A warning from a finaliser (a file or a client session never closed) is an error, as in the other tests."""
    done = _run(_page_blocks(tmp_path, "open('notes.txt', 'w').write('x')"), server, tmp_path)
    assert done.returncode != 0
    assert "ResourceWarning" in done.stderr


def test_a_requires_mark_with_a_typo_is_caught_rather_than_skipping_its_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- requires: autogen_agentchatt -->\n```python\nimport autogen_agentchat\n```\n\n"
                    "<!-- requires: redis -->\n```python\nfrom redis import Redis\n```\n\n"
                    "<!-- requires: redis -->\n```python\nstore = Redis()\n```\n", encoding="utf-8")
    assert _unimported_requirements(page) == ["page.md:3: requires autogen_agentchatt, which the page never imports"]


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_requires_mark_names_a_module_its_page_imports(page: Path) -> None:
    assert _unimported_requirements(page) == []
