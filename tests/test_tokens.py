"""Token counting: OpenAI's published figures, the shipped encoding files, the estimate when no file is found,
caching, context windows, /models."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import modelport
from modelport import Image, OpenAIChatCompletionClient, SystemMessage, UserMessage
from modelport.model_info import DEFAULT_CONTEXT_WINDOW, ModelListing
from modelport.testing import FakeServer, Reply
from modelport.tokens import (
    PACKAGE_DATA,
    count_message_tokens,
    count_openai_messages,
    count_text,
    image_tokens,
    tokenizer,
)

from .conftest import API_KEY

# tiktoken's cache names each file by the SHA-1 of its download URL
# (https://openaipublic.blob.core.windows.net/encodings/<name>.tiktoken).
CACHE_NAMES = {"o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
               "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"}
# tiktoken's expected_hash for each file (tiktoken_ext/openai_public.py).
SHA256 = {"o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
          "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"}
PACKAGED = {name: Path(PACKAGE_DATA) / f"{name}.tiktoken" for name in CACHE_NAMES}


def tiktoken_cache(folder: Path, *names: str) -> Path:
    """A folder laid out as tiktoken's cache, holding copies of the packaged files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or tuple(CACHE_NAMES):
        shutil.copyfile(PACKAGED[name], folder / CACHE_NAMES[name])
    return folder

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


@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_cookbook_example_conversation(encoding: str, expected: int) -> None:
    # gpt-3.5-turbo and gpt-4: 129 prompt tokens; gpt-4o and gpt-4o-mini: 124 (cookbook section 6).
    count = count_openai_messages(COOKBOOK_MESSAGES, encoding=encoding)
    assert count == expected and count.estimated is False


@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", 105), ("o200k_base", 101)])
def test_cookbook_tool_example(encoding: str, expected: int) -> None:
    # gpt-3.5-turbo and gpt-4: 105 prompt tokens; gpt-4o and gpt-4o-mini: 101 (cookbook section 7).
    assert count_openai_messages(COOKBOOK_TOOL_MESSAGES, encoding=encoding, tools=COOKBOOK_TOOLS) == expected


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


# Run in a fresh process: a hook refuses any network access (and records the attempt), and every encoding file
# opened is recorded, so the output shows which file each count read.
FRESH_SCRIPT = r"""
import json, os, sys, warnings
network, opened = [], []
def audit(event, args):
    if event.startswith(("socket.", "urllib.", "http.")):
        network.append(event)
        raise RuntimeError("network access: " + event)
    if event == "open" and isinstance(args[0], str) and (".tiktoken" in args[0] or args[0].startswith(sys.argv[2])):
        opened.append(args[0])
sys.addaudithook(audit)
messages, tools, tool_messages = json.loads(sys.argv[1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from modelport.tokens import count_openai_messages
    counts = [count_openai_messages(messages, encoding="o200k_base"),
              count_openai_messages(messages, encoding="cl100k_base"),
              count_openai_messages(tool_messages, encoding="o200k_base", tools=tools),
              count_openai_messages(tool_messages, encoding="cl100k_base", tools=tools)]
    first_warnings, first_opened = [str(w.message) for w in caught], list(opened)
    os.environ["TIKTOKEN_CACHE_DIR"] = sys.argv[2]  # a count after this uses the folder
    counts.append(count_openai_messages(messages, encoding="o200k_base"))
    unshipped = count_openai_messages(messages, encoding="p50k_base")
    unshipped_again = count_openai_messages(messages, encoding="p50k_base")
print(json.dumps({"counts": [int(c) for c in counts], "estimated": [c.estimated for c in counts],
                  "first_warnings": first_warnings, "first_opened": first_opened, "opened": opened,
                  "unshipped": [unshipped.estimated, unshipped_again.estimated],
                  "warnings": [(w.category.__name__, str(w.message)) for w in caught],
                  "network": network, "requests": "requests" in sys.modules}))
"""


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env["TMPDIR"] = str(tmpdir)  # tiktoken's default cache is <tmp>/data-gym-cache: make that absent too
    return env


@pytest.mark.parametrize("cache", ["unset", "empty", "disabled"])
def test_a_fresh_process_counts_exactly_offline_from_the_packaged_files(tmp_path: Path, cache: str) -> None:
    env = clean_env(tmp_path)
    if cache == "empty":
        (tmp_path / "empty").mkdir()
        env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty")
    elif cache == "disabled":
        env["TIKTOKEN_CACHE_DIR"] = ""  # tiktoken's way of saying "no cache"
    later = tiktoken_cache(tmp_path / "later", "o200k_base")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    data = json.dumps([COOKBOOK_MESSAGES, COOKBOOK_TOOLS, COOKBOOK_TOOL_MESSAGES])
    done = subprocess.run([sys.executable, "-c", FRESH_SCRIPT, data, str(later)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # The cookbook's figures (sections 6 and 7), exact, with no warning, no network and nothing written anywhere.
    assert out["counts"] == [124, 129, 101, 105, 124]
    assert out["estimated"] == [False] * 5
    assert out["first_warnings"] == []
    assert out["network"] == [] and out["requests"] is False
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    # Each packaged file was read once; after TIKTOKEN_CACHE_DIR was set, the count read the file there.
    assert out["first_opened"] == [str(PACKAGED["o200k_base"]), str(PACKAGED["cl100k_base"])]
    assert out["opened"] == [*out["first_opened"], str(later / CACHE_NAMES["o200k_base"])]
    # An encoding modelport does not ship is still a marked estimate, with one warning.
    assert out["unshipped"] == [True, True]
    assert len(out["warnings"]) == 1 and out["warnings"][0][0] == "TokenEstimateWarning"
    assert "p50k_base" in out["warnings"][0][1]


MISSING_SCRIPT = r"""
import json, os, sys, warnings
import modelport
from modelport import SystemMessage, UserMessage
from modelport.model_info import lookup_model_info
from modelport.tokens import count_message_tokens, count_openai_messages, tokenizer
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    info = lookup_model_info("gpt-4o")
    first = count_message_tokens([SystemMessage(content="You are helpful."), UserMessage(content="Hi there")], info)
    second = count_message_tokens([UserMessage(content="Another one")], info)
    imported = "tiktoken" in sys.modules
    os.environ["TIKTOKEN_CACHE_DIR"] = sys.argv[2]
    exact = count_openai_messages(json.loads(sys.argv[1]), encoding="o200k_base")
print(json.dumps({"module": modelport.__file__, "first": int(first), "estimated": [first.estimated,
                  second.estimated, exact.estimated], "exact": int(exact), "source": tokenizer("o200k_base").source,
                  "imported": imported, "warnings": [(w.category.__name__, str(w.message)) for w in caught]}))
"""


@pytest.mark.parametrize("cache", ["unset", "empty"])
def test_without_any_encoding_file_counts_are_marked_estimates_and_never_hang(tmp_path: Path, cache: str) -> None:
    # A copy of the package with its data folder removed, imported ahead of the installed one.
    package = Path(modelport.__file__).parent
    site = tmp_path / "site"
    shutil.copytree(package, site / "modelport", ignore=lambda folder, names: [
        n for n in names if n == "__pycache__" or (Path(folder) == package and n == "data")])
    env = clean_env(tmp_path)
    env["PYTHONPATH"] = str(site)
    if cache == "empty":
        (tmp_path / "empty").mkdir()
        env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty")
    later = tiktoken_cache(tmp_path / "later", "o200k_base")
    done = subprocess.run([sys.executable, "-c", MISSING_SCRIPT, json.dumps(COOKBOOK_MESSAGES), str(later)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["module"] == str(site / "modelport" / "__init__.py")
    assert out["first"] > 5 and out["estimated"] == [True, True, False]
    assert out["imported"] is False  # tiktoken was never even imported for the estimate
    assert len(out["warnings"]) == 1 and out["warnings"][0][0] == "TokenEstimateWarning"
    # Once TIKTOKEN_CACHE_DIR holds the file, the next count in the same process is exact, read from there.
    assert out["exact"] == 124 and out["source"] == str(later / CACHE_NAMES["o200k_base"])


@pytest.mark.parametrize("variable", ["TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"])
def test_a_count_after_the_cache_folder_changes_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        variable: str) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(variable, str(tmp_path / "empty"))
    assert tokenizer("o200k_base").source == str(PACKAGED["o200k_base"])
    cache = tiktoken_cache(tmp_path / "cache")
    monkeypatch.setenv(variable, str(cache))
    info = {"family": "gpt-4o"}
    tok = tokenizer("o200k_base")
    assert tok.source == str(cache / CACHE_NAMES["o200k_base"]) and tok.estimated is False
    count = count_message_tokens([UserMessage(content=f"{uuid.uuid4().hex}: counted once")], info)
    assert count.estimated is False and len(tok._cache) == 1  # the count went through the file in the new folder
    assert count_openai_messages(COOKBOOK_MESSAGES, encoding="cl100k_base") == 129
    assert tokenizer("cl100k_base").source == str(cache / CACHE_NAMES["cl100k_base"])
    monkeypatch.setenv(variable, str(tmp_path / "empty"))
    assert tokenizer("o200k_base").source == str(PACKAGED["o200k_base"])


def test_a_damaged_cached_file_is_skipped_and_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    damaged = cache / CACHE_NAMES["o200k_base"]
    damaged.write_bytes(PACKAGED["o200k_base"].read_bytes()[:100_000])  # a download cut short
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert count_openai_messages(COOKBOOK_MESSAGES, encoding="o200k_base") == 124
    assert tokenizer("o200k_base").source == str(PACKAGED["o200k_base"])
    assert damaged.stat().st_size == 100_000  # tiktoken would delete it and download again; modelport does neither
    shutil.copyfile(PACKAGED["o200k_base"], damaged)  # repaired: the next count uses it
    assert tokenizer("o200k_base").source == str(damaged)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_the_packaged_files_are_tiktokens_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    import tiktoken_ext.openai_public as openai_public

    data = PACKAGED[name].read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name]
    assert f'expected_hash="{SHA256[name]}"' in inspect.getsource(openai_public)  # what tiktoken itself checks
    assert SHA256[name] in (PACKAGED[name].parent / "README.md").read_text()
    # tiktoken's own constructor, reading its cache (a copy of the packaged file): the same encoding, part for part.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache(tmp_path / "cache", name)))
    reference = openai_public.ENCODING_CONSTRUCTORS[name]()
    ours = tokenizer(name).encoding
    assert ours is not None
    assert ours._pat_str == reference["pat_str"] and ours._special_tokens == reference["special_tokens"]
    assert ours._mergeable_ranks == reference["mergeable_ranks"]


TEXTS = ["hello world", "", "Grüße aus Köln: naïve café, déjà vu", "日本語のテキストを数えます。", "Привет, мир!",
         "emoji 🎉🚀👩‍👩‍👧 and مرحبا بالعالم", "def f(x):\n    return x ** 2  # tabs\tand\r\nnewlines",
         "   leading and trailing spaces   ", "1234567890 3.14159 1e-9", "<|endoftext|> is plain text here"]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "o1", "gpt-4", "gpt-3.5-turbo"])
def test_count_text_matches_tiktoken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    import tiktoken

    expected_counts = [count_text(text, model=model) for text in TEXTS]
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache(tmp_path / "cache")))
    reference = tiktoken.encoding_for_model(model)  # tiktoken's own choice of encoding, from its own cache
    assert expected_counts == [len(reference.encode(text, disallowed_special=())) for text in TEXTS]
    assert all(count.estimated is False for count in expected_counts)
    assert count_text("日本語") < len("日本語".encode()) // 4 + 3 and count_text("日本語") > 0


def test_count_text_default_model_and_unknown_models() -> None:
    assert count_text("hello world") == count_text("hello world", model="gpt-4o") == 2
    # A model outside modelport's registry: cl100k_base, and no UnknownModelWarning (filterwarnings = error).
    assert count_text("Grüße, 世界", model="my-local-model") == count_text("Grüße, 世界", model="gpt-4")


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
