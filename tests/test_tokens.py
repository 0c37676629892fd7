"""Token counting: OpenAI's published figures, the offline estimate, caching, context windows, /models."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from modelport import Image, OpenAIChatCompletionClient, SystemMessage, UserMessage
from modelport.model_info import DEFAULT_CONTEXT_WINDOW, ModelListing
from modelport.testing import FakeServer, Reply
from modelport.tokens import count_message_tokens, count_openai_messages, image_tokens, tokenizer

from .conftest import API_KEY, TIKTOKEN_DATA

needs_encodings = pytest.mark.skipif(not (TIKTOKEN_DATA / "fb374d419588a4632f3f557e76b4b70aebbca790").exists(),
                                     reason="tiktoken's encoding files are not beside the project")

# Source of the figures below: OpenAI Cookbook, "How to count tokens with tiktoken"
# (github.com/openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb), section 6 ("Counting
# tokens for chat completions API calls") and section 7 ("Counting tokens for chat completions with tool calls"),
# where each count is checked against the prompt_tokens the OpenAI API reported.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
                                  "into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base "
                                                          "on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
COOKBOOK_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@needs_encodings
@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_cookbook_example_conversation(encoding: str, expected: int) -> None:
    # gpt-3.5-turbo and gpt-4: 129 prompt tokens; gpt-4o and gpt-4o-mini: 124 (cookbook section 6).
    count = count_openai_messages(COOKBOOK_MESSAGES, encoding=encoding)
    assert count == expected and count.estimated is False


@needs_encodings
@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", 105), ("o200k_base", 101)])
def test_cookbook_tool_example(encoding: str, expected: int) -> None:
    # gpt-3.5-turbo and gpt-4: 105 prompt tokens; gpt-4o and gpt-4o-mini: 101 (cookbook section 7).
    assert count_openai_messages(COOKBOOK_TOOL_MESSAGES, encoding=encoding, tools=COOKBOOK_TOOLS) == expected


@needs_encodings
@pytest.mark.parametrize(("model", "expected"), [("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-4", 105)])
def test_client_counts_match_the_cookbook(model: str, expected: int) -> None:
    client = OpenAIChatCompletionClient(model=model, base_url="http://127.0.0.1:9/v1", api_key=API_KEY)
    messages = [SystemMessage(content=COOKBOOK_TOOL_MESSAGES[0]["content"]),
                UserMessage(content=COOKBOOK_TOOL_MESSAGES[1]["content"], source="")]
    tool = COOKBOOK_TOOLS[0]["function"]
    assert client.count_tokens(messages, tools=[tool]) == expected  # type: ignore[list-item]


@pytest.mark.parametrize(("size", "detail", "expected"), [((1024, 1024), "high", 765), ((2048, 4096), "high", 1105),
                                                          ((4096, 8192), "low", 85)])
def test_image_tokens_match_openai_vision_pricing(size: tuple[int, int], detail: str, expected: int) -> None:
    # OpenAI's vision guide ("Calculating costs"): 1024x1024 at high detail costs 765 tokens, 2048x4096 costs 1105,
    # and any image at low detail costs 85.
    image = Image(url="https://example.com/a.png", width=size[0], height=size[1], detail=detail)  # type: ignore[arg-type]
    assert image_tokens(image) == expected


OFFLINE_SCRIPT = """
import sys, warnings
warnings.simplefilter("always")
from modelport import SystemMessage, UserMessage
from modelport.model_info import lookup_model_info
from modelport.tokens import count_message_tokens
with warnings.catch_warnings(record=True) as caught:
    info = lookup_model_info("gpt-4o")
    first = count_message_tokens([SystemMessage(content="You are helpful."), UserMessage(content="Hi there")], info)
    second = count_message_tokens([UserMessage(content="Another one")], info)
print(int(first), first.estimated, second.estimated, len([w for w in caught if "estimates" in str(w.message)]),
      "tiktoken" in sys.modules)
"""


@pytest.mark.parametrize("cache", ["unset", "empty"])
def test_offline_counts_are_marked_estimates_and_never_hang(tmp_path: Path, cache: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    env["TMPDIR"] = str(tmp_path)  # tiktoken's default cache lives under the temp folder: make it empty too
    if cache == "empty":
        (tmp_path / "empty").mkdir()
        env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty")
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    count, first, second, warned, imported = done.stdout.split()
    assert int(count) > 5 and first == second == "True"
    assert warned == "1" and imported == "False"  # one warning; tiktoken never even imported


@needs_encodings
def test_counts_are_cached_per_message() -> None:
    info = {"family": "gpt-4o", "vision": True, "function_calling": True, "json_output": True}
    unique = uuid.uuid4().hex  # messages no other test has counted
    history = [UserMessage(content=f"{unique}: message number {i} with some words") for i in range(200)]
    count_message_tokens(history, info)
    tok = tokenizer("o200k_base")
    before = len(tok._cache)
    history.append(UserMessage(content=f"{unique}: one more"))
    total = count_message_tokens(history, info)
    assert len(tok._cache) == before + 1
    assert total == count_message_tokens(history[:-1], info) + count_message_tokens([history[-1]], info) - 3


def test_custom_token_counter(make_client: Any) -> None:
    client = make_client(token_counter=lambda messages, tools: 7 * len(messages) + len(tools))
    assert client.count_tokens([UserMessage(content="x")] * 3) == 21
    assert client.remaining_tokens([UserMessage(content="x")]) == 128_000 - 7


def test_custom_token_counter_must_be_callable(make_client: Any) -> None:
    with pytest.raises(ValueError, match="token_counter"):
        make_client(token_counter=42)


async def test_remaining_tokens_for_an_unknown_model_uses_the_server_listing(server: FakeServer,
                                                                            make_client: Any) -> None:
    with pytest.warns(Warning):
        client = make_client("my-local-model")
    messages = [UserMessage(content="hi")]
    assert client.remaining_tokens(messages) == DEFAULT_CONTEXT_WINDOW - client.count_tokens(messages)
    server.add(Reply.json({"object": "list", "data": [
        {"id": "my-local-model", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
        {"id": "other", "object": "model"}]}))
    listings = await client.list_models()
    assert listings[0] == ModelListing(id="my-local-model", context_window=32768, owned_by="vllm")
    assert listings[1].context_window is None
    assert server.requests[0].method == "GET" and server.requests[0].path == "/v1/models"
    assert client.remaining_tokens(messages) == 32768 - client.count_tokens(messages)


@pytest.mark.parametrize(("entry", "window"), [
    ({"id": "a", "context_length": 131072}, 131072),  # OpenRouter, LM Studio
    ({"id": "a", "context_window": 8192}, 8192),  # Groq
    ({"id": "a", "meta": {"n_ctx_train": 4096}}, 4096),  # llama.cpp
    ({"id": "a", "top_provider": {"context_length": 65536}}, 65536),  # OpenRouter's provider block
])
async def test_list_models_context_lengths(server: FakeServer, client: Any, entry: dict, window: int) -> None:
    server.add(Reply.json({"data": [entry]}))
    assert (await client.list_models())[0].context_window == window


async def test_list_models_bad_body(server: FakeServer, client: Any) -> None:
    from modelport import ResponseValidationError

    server.add(Reply.json({"nothing": True}))
    with pytest.raises(ResponseValidationError):
        await client.list_models()


async def test_server_reported_window_wins_over_the_registry(server: FakeServer, client: Any) -> None:
    assert client.context_window == 128_000
    server.add(Reply.json({"data": [{"id": "gpt-4o", "max_model_len": 16384}]}))
    await client.list_models()
    assert client.context_window == 16384
