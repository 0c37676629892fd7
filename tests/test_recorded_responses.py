"""Answers as real providers sent them (Mistral's Magistral, OpenRouter, LiteLLM's proxy, GPT-5's custom tools),
each served streamed and whole by the fake server: what the stream assembles equals what ``create`` returns.

The shapes are the recorded ones, shortened: Mistral's thinking parts as ``magistral-medium-latest`` streams and
returns them, OpenRouter's ``reasoning`` and ``reasoning_details`` entries, openai-python's custom tool call."""

from __future__ import annotations

from typing import Any

import pytest

from modelport import (
    AssistantMessage,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    ThoughtChunk,
    UserMessage,
)
from modelport._assembly import Assembler
from modelport.batch import collect as collect_batch
from modelport.batch import run_batch
from modelport.messages import from_openai, to_openai
from modelport.testing import FakeServer, Reply

from .helpers import collect

HELLO = [UserMessage(content="Hello")]


def chunk(delta: dict[str, Any] | None, *, model: str, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``chat.completion.chunk`` as the recorded providers send it."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "gen-1", "object": "chat.completion.chunk", "created": 1766420335, "model": model,
            "choices": choices, **extra}


def completion(message: dict[str, Any], *, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {"id": "gen-1", "object": "chat.completion", "created": 1757111400, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}],
            "usage": usage}


async def both_ways(server: FakeServer, client: Any, stream: list[Any], whole: dict[str, Any]) -> tuple[
        list[str], CreateResult]:
    """The stream's deltas and result, checked equal to the non-streamed result."""
    server.add(Reply.sse(stream), Reply.json(whole))
    deltas, streamed = await collect(client)
    created = await client.create(HELLO)
    assert streamed.model_dump(exclude={"request_id"}) == created.model_dump(exclude={"request_id"})
    return deltas, created


# -- point 1: Mistral's thinking parts, OpenRouter's reasoning_details --

MAGISTRAL = "magistral-medium-latest"


def think(text: str) -> list[dict[str, Any]]:
    return [{"type": "thinking", "thinking": [{"type": "text", "text": text}]}]


async def test_mistral_thinking_parts_are_thought(server: FakeServer, client: Any) -> None:
    stream = [
        chunk({"role": "assistant", "content": ""}, model=MAGISTRAL),
        chunk({"content": ""}, model=MAGISTRAL),
        *(chunk({"content": think(piece)}, model=MAGISTRAL) for piece in ("Okay", ",", " the user", " asks.")),
        *(chunk({"content": piece}, model=MAGISTRAL) for piece in ("Look", " both", " ways.")),
        chunk({"content": ""}, model=MAGISTRAL, finish="stop",
              usage={"prompt_tokens": 10, "total_tokens": 285, "completion_tokens": 275}),
    ]
    whole = completion({"tool_calls": None, "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Okay, the user"},
                                          {"type": "text", "text": " asks."}]},
        {"type": "text", "text": "Look both ways."},
    ]}, model=MAGISTRAL, usage={"prompt_tokens": 10, "total_tokens": 285, "completion_tokens": 275})
    deltas, result = await both_ways(server, client, stream, whole)
    assert result.thought == "Okay, the user asks." and result.content == "Look both ways."
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["Okay", ",", " the user", " asks."]
    assert "".join(d for d in deltas if not isinstance(d, ThoughtChunk)) == "Look both ways."


OPENROUTER = "openai/gpt-5-mini"


def summary(text: str) -> dict[str, Any]:
    return {"type": "reasoning.summary", "summary": text, "format": "openai-responses-v1", "index": 0}


ENCRYPTED = {"type": "reasoning.encrypted", "data": "gAAAAABpgLmIevBdEjwS", "format": "openai-responses-v1",
             "id": "rs_0057196777a5a08c", "index": 0}


async def test_openrouter_reasoning_and_reasoning_details_count_once(server: FakeServer, client: Any) -> None:
    stream = [
        chunk({"role": "assistant", "content": ""}, model=OPENROUTER),
        chunk({"role": "assistant", "content": "", "reasoning": "**Greeting", "reasoning_details": [
            summary("**Greeting")]}, model=OPENROUTER),
        chunk({"role": "assistant", "content": "", "reasoning": " warmly**", "reasoning_details": [
            summary(" warmly**")]}, model=OPENROUTER),
        chunk({"role": "assistant", "content": "", "reasoning": None, "reasoning_details": [ENCRYPTED]},
              model=OPENROUTER),
        chunk({"role": "assistant", "content": "Hello!"}, model=OPENROUTER),
        chunk({"role": "assistant", "content": ""}, model=OPENROUTER, finish="stop"),
    ]
    whole = completion({"content": "Hello!", "refusal": None, "reasoning": "**Greeting warmly**",
                        "reasoning_details": [summary("**Greeting warmly**"), ENCRYPTED]},
                       model=OPENROUTER, usage={"prompt_tokens": 8, "completion_tokens": 150, "total_tokens": 158})
    server.add(Reply.sse(stream))
    deltas, streamed = await collect(client)
    server.add(Reply.json(whole))
    created = await client.create(HELLO)
    for result in (streamed, created):
        assert result.thought == "**Greeting warmly**" and result.content == "Hello!"
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["**Greeting", " warmly**"]


async def test_reasoning_sent_only_as_reasoning_details_text_is_thought(server: FakeServer, client: Any) -> None:
    model = "anthropic/claude-sonnet-4"

    def text(piece: str) -> dict[str, Any]:
        return {"type": "reasoning.text", "text": piece, "format": "anthropic-claude-v1", "index": 0}

    stream = [
        chunk({"role": "assistant", "content": "", "reasoning": None, "reasoning_details": [text("Two")]}, model=model),
        chunk({"role": "assistant", "content": "", "reasoning": None, "reasoning_details": [
            {**text(" plus two."), "signature": "EqQBCkYIBxgCKkD"}]}, model=model),
        chunk({"role": "assistant", "content": "4"}, model=model, finish="stop"),
        chunk(None, model=model, usage={"prompt_tokens": 12, "completion_tokens": 9}),
    ]
    whole = completion({"content": "4", "reasoning": None, "reasoning_details": [
        {**text("Two plus two."), "signature": "EqQBCkYIBxgCKkD"}]}, model=model,
        usage={"prompt_tokens": 12, "completion_tokens": 9})
    deltas, result = await both_ways(server, client, stream, whole)
    assert result.thought == "Two plus two." and result.content == "4"
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["Two", " plus two."]


# -- point 2: usage split or repeated across stream chunks --


async def test_usage_split_across_chunks_is_merged_and_repeats_count_once(server: FakeServer,
                                                                           make_client: Any) -> None:
    client = make_client(provider="openai")  # priced as OpenAI: the cost shows what the usage lost
    model = "gpt-4o"
    prompt = {"prompt_tokens": 1200, "prompt_tokens_details": {"cached_tokens": 1024}}
    stream = [  # LiteLLM's proxy: the prompt counts come early, the last report lacks them
        chunk({"role": "assistant", "content": "Hi"}, model=model,
              usage={**prompt, "completion_tokens": 1, "total_tokens": 1201}),
        chunk({"content": " there"}, model=model, usage={"completion_tokens": 2, "prompt_tokens": None}),
        chunk({}, model=model, finish="stop"),
        chunk(None, model=model, usage={"completion_tokens": 57, "total_tokens": 1257,
                                        "completion_tokens_details": {"reasoning_tokens": 0}}),
    ]
    whole = completion({"content": "Hi there"}, model=model, usage={
        **prompt, "completion_tokens": 57, "total_tokens": 1257, "completion_tokens_details": {"reasoning_tokens": 0}})
    _, result = await both_ways(server, client, stream, whole)
    usage = result.usage
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens) == (1200, 1024, 57)
    assert usage.reasoning_tokens == 0 and result.usage_reported and result.cost is not None and result.cost > 0
    assert client.total_usage().completion_tokens == 2 * 57  # two calls; no report was added to another


# -- point 3: GPT-5's custom tool calls come back as calls, and go back as custom calls --

CUSTOM_TOOL = {"type": "custom", "custom": {"name": "code_exec", "description": "Runs Python; input is the code."}}
CALL_ID = "call_7IbBY0CwZTKZkD3E4CkfhXph"


async def test_custom_tool_calls_are_returned_and_sent_back_as_custom_calls(server: FakeServer, client: Any,
                                                                             caplog: Any) -> None:
    model = "gpt-5-2025-08-07"
    stream = [
        chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": CALL_ID, "type": "custom", "custom": {"name": "code_exec", "input": ""}}]}, model=model),
        chunk({"tool_calls": [{"index": 0, "custom": {"input": "print("}}]}, model=model),
        chunk({"tool_calls": [{"index": 0, "custom": {"input": "2 + 2)"}}]}, model=model),
        chunk({}, model=model, finish="tool_calls"),
        chunk(None, model=model, usage={"prompt_tokens": 75, "completion_tokens": 21}),
    ]
    whole = completion({"content": None, "refusal": None, "annotations": [], "tool_calls": [
        {"id": CALL_ID, "type": "custom", "custom": {"name": "code_exec", "input": "print(2 + 2)"}}]},
        model=model, usage={"prompt_tokens": 75, "completion_tokens": 21})
    whole["choices"][0]["finish_reason"] = "tool_calls"
    with caplog.at_level("WARNING", logger="modelport"):
        _, result = await both_ways(server, client, stream, whole)
    assert not [r for r in caplog.records if "dropped" in r.getMessage()]
    assert result.finish_reason == "function_calls"
    assert result.content == [FunctionCall(id=CALL_ID, name="code_exec", arguments="print(2 + 2)",
                                           provider_fields={"tool_type": "custom"})]

    history = [*HELLO, AssistantMessage(content=result.content), FunctionExecutionResultMessage(content=[
        FunctionExecutionResult(content="4", name="code_exec", call_id=CALL_ID)])]
    await client.create(history, extra_create_args={"extra_body": {"tools": [CUSTOM_TOOL]}})
    sent = server.requests[-1].json
    assert sent["tools"] == [CUSTOM_TOOL]
    assert sent["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": CALL_ID, "type": "custom", "custom": {"name": "code_exec", "input": "print(2 + 2)"}}]}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": CALL_ID, "content": "4"}
    assert to_openai(from_openai(sent["messages"])) == sent["messages"]  # the dict form converts both ways


async def test_a_custom_call_with_empty_input_keeps_it_empty(server: FakeServer, client: Any) -> None:
    call = {"id": CALL_ID, "type": "custom", "custom": {"name": "ping", "input": ""}}
    whole = completion({"content": None, "tool_calls": [call]}, model="gpt-5", usage={"prompt_tokens": 5,
                                                                                    "completion_tokens": 3})
    whole["choices"][0]["finish_reason"] = "tool_calls"
    stream = [chunk({"tool_calls": [{"index": 0, **call}]}, model="gpt-5", finish="tool_calls"),
              chunk(None, model="gpt-5", usage={"prompt_tokens": 5, "completion_tokens": 3})]
    _, result = await both_ways(server, client, stream, whole)
    assert isinstance(result.content, list) and result.content[0].arguments == ""



@pytest.mark.parametrize("kind", ["custom", "function"])
async def test_a_call_whose_name_is_not_text_is_dropped_not_a_crash(server: FakeServer, client: Any, kind: str,
                                                                     caplog: Any) -> None:
    part = {"name": 5, "input": "x"} if kind == "custom" else {"name": 5, "arguments": "{}"}
    call = {"id": CALL_ID, "type": kind, kind: part}
    whole = completion({"content": "Done.", "tool_calls": [call]}, model="gpt-5", usage={"prompt_tokens": 5,
                                                                                       "completion_tokens": 3})
    stream = [chunk({"content": "Done.", "tool_calls": [{"index": 0, **call}]}, model="gpt-5", finish="stop"),
              chunk(None, model="gpt-5", usage={"prompt_tokens": 5, "completion_tokens": 3})]
    with caplog.at_level("WARNING", logger="modelport"):
        _, result = await both_ways(server, client, stream, whole)  # before: TypeError, from both
    assert result.content == "Done." and result.finish_reason == "stop"
    assert [r for r in caplog.records if "no function name" in r.getMessage()]

async def test_a_custom_call_in_a_batch_result_line_stays_a_custom_call(server: FakeServer, client: Any) -> None:
    call = {"id": CALL_ID, "type": "custom", "custom": {"name": "code_exec", "input": "print(2 + 2)"}}
    whole = completion({"content": None, "tool_calls": [call]}, model="gpt-5", usage={"prompt_tokens": 5,
                                                                                    "completion_tokens": 3})
    whole["choices"][0]["finish_reason"] = "tool_calls"
    server.add(Reply.json(whole))
    request = {"custom_id": "q", "messages": [{"role": "user", "content": "hi"}]}
    [done] = await collect_batch(run_batch(client, [request]))
    message = done.output_line()["response"]["body"]["choices"][0]["message"]
    # Before: {"type": "function", "function": {"name": "code_exec", "arguments": "print(2 + 2)"}}
    assert message["tool_calls"] == [call]
    assert from_openai([message])[0].content[0].provider_fields == {"tool_type": "custom"}


# -- point 6: leading white space is held back for 0.1 s at most, not until 32 characters --


async def test_leading_whitespace_on_a_slow_server_is_shown_after_a_tenth_of_a_second(server: FakeServer,
                                                                                       client: Any) -> None:
    model = "qwen3:8b"
    pieces = [chunk({"content": "\n"}, model=model) for _ in range(10)]  # 10 characters, 0.05 s apart
    server.add(Reply.sse([*pieces, chunk({"content": "Hi"}, model=model, finish="stop")], delay=0.05))
    deltas, streamed = await collect(client)
    # Before: one delta, "\n" * 10 + "Hi", half a second after the first newline arrived.
    assert deltas[0].strip() == "" and deltas[-1] == "Hi" and len(deltas) >= 3
    server.add(Reply.json(completion({"content": "\n" * 10 + "Hi"}, model=model, usage={})))
    created = await client.create(HELLO)
    assert streamed.content == created.content == "\n" * 10 + "Hi"


async def test_white_space_shown_before_a_think_tag_is_not_answer(server: FakeServer, client: Any) -> None:
    model = "qwen3:8b"
    stream = [chunk({"content": "\n"}, model=model), b": keep-alive\n\n",
              *(chunk({"content": piece}, model=model) for piece in (" ", "<think>", "hmm", "</think>\n\nHi")),
              chunk({}, model=model, finish="stop")]
    server.add(Reply.sse(stream, delay=0.06))
    deltas, streamed = await collect(client)
    server.add(Reply.json(completion({"content": "\n <think>hmm</think>\n\nHi"}, model=model, usage={})))
    created = await client.create(HELLO)
    assert (streamed.thought, streamed.content) == (created.thought, created.content) == ("hmm", "Hi")
    assert [d for d in deltas if isinstance(d, ThoughtChunk)] == ["hmm"] and deltas[-1] == "Hi"


def test_the_hold_is_bounded_by_the_clock_the_assembler_is_given() -> None:
    now = [0.0]
    asm = Assembler(clock=lambda: now[0])
    asm.add_text(0, " ")
    now[0] = 0.05
    asm.add_text(0, " ")
    assert asm.out == []  # held: 0.05 s and 2 characters
    now[0] = 0.1
    asm.add_text(0, "\n")
    assert asm.out == ["  \n"]  # a tenth of a second since the first: shown
    asm.add_text(0, " ")
    assert asm.out == ["  \n", " "]  # and white space after it is shown at once
    asm.add_text(0, "<thi")
    asm.add_text(0, "nk>why</think>Yes")
    assert asm.out[2:] == [ThoughtChunk("why"), "Yes"]
    result = asm.result()
    assert (result.thought, result.content) == ("why", "Yes")

