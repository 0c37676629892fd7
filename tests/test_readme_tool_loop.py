"""The documented tool loop runs as written against the built-in server, which answers with two parallel tool calls:
the assistant message goes into the history once, then one result for each call."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from modelport.testing import FakeServer, Reply, completion

from .docs_blocks import DOCS, section

PAGE = DOCS / "messages-and-tools.md"

RUNNER = """\
import ast, asyncio, json, sys
from modelport import OpenAIChatCompletionClient

async def main() -> None:
    namespace = {"client": OpenAIChatCompletionClient(model="gpt-4o")}  # the server: OPENAI_BASE_URL
    code = compile(sys.stdin.read(), "messages-and-tools.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    ran = eval(code, namespace)
    if ran is not None:
        await ran
    await namespace["client"].close()
    print(json.dumps({"roles": [type(m).__name__ for m in namespace["messages"]],
                      "answer": namespace["answer"].content, "parsed": repr(namespace["result"].parsed)}))

asyncio.run(main())
"""


def _tool_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", section(PAGE, "## Tools and structured output"), flags=re.DOTALL)
    assert len(blocks) == 1
    return str(blocks[0])


def _call(call_id: str, city: str) -> dict[str, object]:
    arguments = json.dumps({"city": city})
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def test_readme_tool_loop_with_two_parallel_calls(server: FakeServer) -> None:
    server.add(Reply.json(completion(None, tool_calls=[_call("call_1", "Paris"), _call("call_2", "Lyon")],
                                     finish_reason="tool_calls")))
    environment = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-readme-tools"}
    done = subprocess.run([sys.executable, "-W", "error", "-c", RUNNER], input=_tool_block(), capture_output=True,
                          text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["roles"] == ["UserMessage", "AssistantMessage", "FunctionExecutionResultMessage"]
    assert "City(name=" in outcome["parsed"]
    second = server.requests[1].json["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in second[2:]] == ["call_1", "call_2"]
    assert [m["content"] for m in second[2:]] == ["21 degrees celsius in Paris", "21 degrees celsius in Lyon"]
