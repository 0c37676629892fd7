"""DB-GPT apps on modelport: ``DBGPTClient`` under real dbgpt AWEL DAGs, against the built-in server.

dbgpt pins aiohttp 3.8.4, so it is not in the main test environment: these tests run in the floor tier's own
environment (tests/test_floor.py), and skip where dbgpt is not installed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

dbgpt_core = pytest.importorskip("dbgpt.core")

from dbgpt.core import ModelMessage, ModelMessageRoleType, ModelOutput, ModelRequest  # noqa: E402
from dbgpt.core.awel import DAG, MapOperator  # noqa: E402
from dbgpt.model.operators import LLMOperator, StreamingLLMOperator  # noqa: E402

import modelport  # noqa: E402
from modelport.integrations.dbgpt import DBGPTClient  # noqa: E402
from modelport.testing import FakeServer, Reply, chunk, completion  # noqa: E402

from .conftest import API_KEY  # noqa: E402


def request_for(text: str, **fields: Any) -> ModelRequest:
    messages = [
        ModelMessage(role=ModelMessageRoleType.SYSTEM, content="Be brief."),
        ModelMessage(role=ModelMessageRoleType.HUMAN, content=text),
    ]
    return ModelRequest.build_request("gpt-4o", messages, **fields)


def llm_dag(client: Any, *, stream: bool) -> Any:
    with DAG("modelport_dbgpt_test"):
        build = MapOperator(lambda text: request_for(text, stream=stream))
        llm = StreamingLLMOperator(llm_client=client) if stream else LLMOperator(llm_client=client)
        build >> llm
    return llm


async def test_awel_llm_operator_answers_through_modelport(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion("Paris.", usage={"prompt_tokens": 12, "completion_tokens": 2})))
    output: ModelOutput = await llm_dag(DBGPTClient(client), stream=False).call("Capital of France?")
    assert output.success and output.text == "Paris."
    assert output.usage == {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    sent = server.requests[-1].json
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "Capital of France?"


async def test_awel_streaming_llm_operator_yields_the_text_so_far(server: FakeServer, client: Any) -> None:
    server.add(
        Reply.sse([chunk({"role": "assistant", "content": "Par"}), chunk({"content": "is."}),
                   chunk({}, finish_reason="stop")])
    )  # fmt: skip
    outputs = [output async for output in await llm_dag(DBGPTClient(client), stream=True).call_stream("Capital?")]
    texts = [output.text for output in outputs]
    assert texts[:2] == ["Par", "Paris."]
    assert outputs[-1].text == "Paris." and outputs[-1].finish_reason == "stop"
    assert server.requests[-1].json["stream"] is True


async def test_request_sampling_fields_become_create_arguments(server: FakeServer, client: Any) -> None:
    request = request_for("hi", temperature=0.25, top_p=0.5, max_new_tokens=7, stop=["END"])
    await DBGPTClient(client).generate(request)
    sent = server.requests[-1].json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"]) == (0.25, 0.5, 7, ["END"])


async def test_reasoning_becomes_dbgpt_thinking(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion("42.", reasoning_content="Six times seven.")))
    output = await DBGPTClient(client).generate(request_for("6*7?"))
    assert output.has_thinking and output.thinking_text == "Six times seven."
    assert output.text == "42."


async def test_streamed_reasoning_becomes_dbgpt_thinking_so_far(server: FakeServer, client: Any) -> None:
    server.add(
        Reply.sse([chunk({"role": "assistant", "reasoning_content": "Six "}), chunk({"reasoning_content": "sevens."}),
                   chunk({"content": "42."}), chunk({}, finish_reason="stop")])
    )  # fmt: skip
    outputs = [o async for o in DBGPTClient(client).generate_stream(request_for("6*7?", stream=True))]
    assert [o.thinking_text for o in outputs[:2]] == ["Six ", "Six sevens."]
    assert outputs[2].thinking_text == "Six sevens." and outputs[2].text == "42."
    assert outputs[-1].thinking_text == "Six sevens." and outputs[-1].text == "42."


@pytest.mark.parametrize(
    ("field", "value"), [("stop_token_ids", [128009]), ("echo", True)], ids=["stop_token_ids", "echo"]
)
@pytest.mark.parametrize("stream", [False, True], ids=["generate", "generate_stream"])
async def test_request_field_modelport_cannot_send_is_refused_by_name(
    server: FakeServer, client: Any, field: str, value: Any, stream: bool
) -> None:
    """A ``ModelRequest`` field the chat-completion wire has no place for is refused naming it, before anything is
    sent, rather than dropped (the answer would not be what the request asked for)."""
    request = request_for("hi", **{field: value})
    with pytest.raises(modelport.InvalidRequestError, match=field):
        if stream:
            async for _ in DBGPTClient(client).generate_stream(request):
                pass
        else:
            await DBGPTClient(client).generate(request)
    assert server.requests == []


async def test_failed_call_is_an_error_output_as_dbgpt_clients_give_it(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401))
    output = await DBGPTClient(make_client(max_retries=0)).generate(request_for("hi"))
    assert output.error_code == 1 and "bad key" in output.text
    assert API_KEY not in output.text


async def test_cancelling_generate_closes_the_request(server: FakeServer, client: Any) -> None:
    server.add(Reply.hang())
    task = asyncio.ensure_future(llm_dag(DBGPTClient(client), stream=False).call("hi"))
    for _ in range(200):
        if server.requests:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_leaving_a_stream_early_closes_it(server: FakeServer, client: Any) -> None:
    server.add(Reply(headers={"content-type": "text/event-stream"}, chunked=True, stall=True,
                     segments=[(0.0, b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')]))  # fmt: skip
    stream = DBGPTClient(client).generate_stream(request_for("hi", stream=True))
    first = await stream.__anext__()
    assert first.text == "Hel"
    await stream.aclose()
    # the stalled response was dropped, not left holding the pool: the next call is answered
    output = await DBGPTClient(client).generate(request_for("again"))
    assert output.success


async def test_through_a_router(server: FakeServer, make_client: Any) -> None:
    router = modelport.Router([make_client(), make_client()])
    server.add(Reply.json(completion("routed")))
    output = await llm_dag(DBGPTClient(router), stream=False).call("hi")
    assert output.text == "routed"
    streamed = [o async for o in await llm_dag(DBGPTClient(router), stream=True).call_stream("hi")]
    assert streamed[-1].success and streamed[-1].text


async def test_models_and_count_token(client: Any) -> None:
    wrapper = DBGPTClient(client, model_name="gpt-4o")
    (metadata,) = await wrapper.models()
    assert metadata.model == "gpt-4o" and metadata.context_length == client.model_info["context_window"]
    assert metadata.function_calling is True
    assert (await wrapper.get_model_metadata("any-name")).model == "gpt-4o"
    assert await wrapper.count_token("gpt-4o", "hello world") == 2


async def test_message_converter_is_applied(server: FakeServer, client: Any) -> None:
    from dbgpt.core import DefaultMessageConverter

    await DBGPTClient(client).generate(request_for("hi"), DefaultMessageConverter())
    last = server.requests[-1].json["messages"][-1]
    assert (last["role"], last["content"]) == ("user", "hi")


def docs_blocks() -> list[str]:
    """The ``python`` blocks of docs/integrations/dbgpt.md marked ``<!-- requires: dbgpt -->``."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "integrations" / "dbgpt.md").read_text()
    return re.findall(r"<!-- requires: dbgpt -->\n```python\n(.*?)```", page, flags=re.S)


@pytest.mark.parametrize("block", docs_blocks())
def test_docs_page_blocks_run(block: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
