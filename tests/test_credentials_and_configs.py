"""Where keys from the environment may go, what an error keeps of an echoed key, and what a loaded config may read
and must hold: a preset's key stays on the preset's own server, every text field of an error is scrubbed, a config
from someone else cannot send your environment's variables to a host it names, and a config is checked whole at
load without touching the disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelport as mp
from modelport import AnthropicChatCompletionClient, OpenAIChatCompletionClient, load_component
from modelport.components import ComponentConfigError
from modelport.testing import FakeServer, Reply

from .conftest import API_KEY
from .helpers import HELLO, collect

SECRET = "aws-SECRET-value-0123456789"
LOCAL = {"provider": "openai", "config": {"model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1"}}
GROQ_KEY = "gsk-SECRET-groq-0123456789"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real ``modelport`` process, with no key in its environment but those given."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "modelport.cli", *args], capture_output=True, text=True,
                          timeout=60, env=environment)


def openai_config(server: FakeServer, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "config": {"model": "gpt-4o", "base_url": server.base_url, **fields}}


def azure_config(server: FakeServer, **fields: Any) -> dict[str, Any]:
    return {"provider": "azure_openai", "config": {"azure_deployment": "dep", "model": "gpt-4o",
                                                   "api_version": "2024-10-21", **fields}}


async def send(client: Any) -> None:
    try:
        await client.create(HELLO)
    finally:
        await client.close()


# -- 1. a preset's key goes only to the preset's own server --

@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("groq", "GROQ_API_KEY"),
                                                    ("vllm", "VLLM_API_KEY")])
async def test_preset_key_never_reaches_a_custom_base_url(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                          provider: str, variable: str) -> None:
    monkeypatch.setenv(variable, GROQ_KEY)
    await send(OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, provider=provider))
    await send(load_component(openai_config(server, provider=provider)))
    assert [r.headers.get("authorization") for r in server.requests] == [None, None]

    server.add(Reply.json({"error": {"message": "missing key", "type": "invalid_request_error"}}, status=401))
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, provider=provider, max_retries=0)
    with pytest.raises(mp.AuthenticationError) as info:
        await send(client)
    assert f"{variable} is set" in str(info.value) and f"api_key_env={variable!r}" in str(info.value)
    assert GROQ_KEY not in str(info.value) and "authorization" not in server.requests[-1].headers

    await send(OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, provider=provider,
                                          api_key_env=variable))
    assert server.requests[-1].headers["authorization"] == f"Bearer {GROQ_KEY}"


async def test_an_empty_api_key_sends_no_credential(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    await send(OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=""))
    await send(load_component(openai_config(server, api_key="")))
    await send(AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key=""))
    for request in server.requests:  # "" is no key (as the OpenAI SDK has it), not an empty credential
        assert "authorization" not in request.headers and "x-api-key" not in request.headers


def test_preset_key_never_reaches_a_custom_base_url_from_the_command_line(server: FakeServer) -> None:
    done = cli("chat", "--provider", "openai", "--base-url", server.base_url, "hi", env={"OPENAI_API_KEY": API_KEY})
    assert done.returncode == 0, done.stderr
    assert "authorization" not in server.requests[-1].headers

    server.add(Reply.json({"error": {"message": "missing key", "type": "invalid_request_error"}}, status=401))
    done = cli("chat", "--provider", "groq", "--base-url", server.base_url, "hi", env={"GROQ_API_KEY": GROQ_KEY})
    assert done.returncode == 1 and "authorization" not in server.requests[-1].headers
    assert "GROQ_API_KEY is set" in done.stderr and "pass --api-key-env GROQ_API_KEY" in done.stderr
    assert GROQ_KEY not in done.stderr

    done = cli("chat", "--provider", "groq", "--base-url", server.base_url, "--api-key-env", "GROQ_API_KEY", "hi",
               env={"GROQ_API_KEY": GROQ_KEY})
    assert done.returncode == 0, done.stderr
    assert server.requests[-1].headers["authorization"] == f"Bearer {GROQ_KEY}"


def test_preset_key_withheld_from_a_config_file_says_how_to_send_it_from_the_command_line(
    server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "groq.json"
    path.write_text(json.dumps(openai_config(server, provider="groq")))
    server.add(Reply.json({"error": {"message": "missing key", "type": "invalid_request_error"}}, status=401))
    done = cli("chat", "--config", str(path), "hi", env={"GROQ_API_KEY": GROQ_KEY})
    assert done.returncode == 1 and "authorization" not in server.requests[-1].headers
    advice = f'set "api_key_env": "GROQ_API_KEY" in {path} and pass --allow-env GROQ_API_KEY'
    assert advice in done.stderr and "--api-key-env" not in done.stderr  # which --config refuses

    path.write_text(json.dumps(openai_config(server, provider="groq", api_key_env="GROQ_API_KEY")))
    done = cli("chat", "--config", str(path), "--allow-env", "GROQ_API_KEY", "hi", env={"GROQ_API_KEY": GROQ_KEY})
    assert done.returncode == 0, done.stderr
    assert server.requests[-1].headers["authorization"] == f"Bearer {GROQ_KEY}"


def test_preset_key_never_reaches_its_own_host_over_another_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    anthropic = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url="http://api.anthropic.com")
    openai = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://api.openai.com/v1", provider="openai")
    for client in (anthropic, openai):
        assert client._api_key is None and client._withheld_key_env is not None
    assert AnthropicChatCompletionClient("claude-sonnet-4-5", base_url="https://api.anthropic.com/v1")._api_key


# -- 2. every text field of an error is scrubbed --

async def test_a_key_the_server_echoes_is_scrubbed_from_every_field(server: FakeServer, client: Any) -> None:
    server.add(Reply.json({"error": {"message": f"bad key {API_KEY}", "code": f"key:{API_KEY}", "type": API_KEY,
                                     "param": f"p-{API_KEY}", "details": [{API_KEY: API_KEY}]}}, status=400))
    with pytest.raises(mp.BadRequestError) as info:
        await client.create(HELLO)
    error = info.value
    assert (error.code, error.type, error.param) == ("key:**********", "**********", "p-**********")
    for name, value in vars(error).items():
        assert API_KEY not in repr(value), name
    assert API_KEY not in repr(error.args) and API_KEY not in str(error)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_key_the_server_echoes_is_scrubbed_from_every_field_however_deep(server: FakeServer, client: Any,
                                                                                  stream: bool) -> None:
    deep: Any = {"echo": API_KEY}
    for _ in range(60):
        deep = {"details": [deep]}
    error_body = {"error": {"message": "bad request", "type": "invalid_request_error", "nested": deep}}
    server.add(Reply.sse([error_body], done=False) if stream else Reply.json(error_body, status=400))
    with pytest.raises(mp.APIStatusError) as info:
        if stream:
            await collect(client)
        else:
            await client.create(HELLO)
    assert API_KEY not in json.dumps(info.value.body) and API_KEY not in repr(vars(info.value))


# -- 3. a loaded config reads only its provider's own key, for its own server, unless allowed by name --

async def test_an_untrusted_config_cannot_send_an_environment_variable_to_a_host_it_names(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    config = openai_config(server, api_key_env="AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ComponentConfigError) as info:
        load_component(config)
    text = str(info.value)
    assert "AWS_SECRET_ACCESS_KEY" in text and "allow_env=['AWS_SECRET_ACCESS_KEY']" in text and SECRET not in text
    await send(load_component(config, allow_env=["AWS_SECRET_ACCESS_KEY"]))
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {SECRET}"]


def test_an_untrusted_config_is_refused_whatever_allow_env_is_given_as(server: FakeServer,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    config = openai_config(server, api_key_env="AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ComponentConfigError, match=r"allow_env=\['AWS_SECRET_ACCESS_KEY'\]"):
        load_component(config, allow_env=None)  # type: ignore[arg-type]
    for wrong in (5, [None], [""]):
        with pytest.raises(mp.InvalidRequestError, match="allow_env"):
            load_component(config, allow_env=wrong)  # type: ignore[arg-type]
    assert server.requests == []


async def test_an_untrusted_config_cannot_send_the_azure_key_to_its_own_endpoint(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = server.base_url.removesuffix("/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    for config in (azure_config(server, azure_endpoint=endpoint),
                   azure_config(server, azure_endpoint=endpoint, api_key_env="AZURE_OPENAI_API_KEY")):
        with pytest.raises(ComponentConfigError, match=r"AZURE_OPENAI_API_KEY.*allow_env=\['AZURE_OPENAI_API_KEY'\]"):
            load_component(config)
    monkeypatch.setenv("ELSEWHERE", endpoint)
    token_env = {"azure_endpoint": endpoint, "azure_ad_token_env": "AWS_SECRET_ACCESS_KEY"}
    for name, fields in (("ELSEWHERE", {"azure_endpoint_env": "ELSEWHERE"}), ("AWS_SECRET_ACCESS_KEY", token_env)):
        with pytest.raises(ComponentConfigError, match=f"allow_env=\\['{name}'\\]"):
            load_component(azure_config(server, **fields))
    assert server.requests == []

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)  # both from the environment: the key's own endpoint
    await send(load_component(azure_config(server)))
    await send(load_component(azure_config(server, azure_endpoint_env="AZURE_OPENAI_ENDPOINT")))
    await send(load_component(azure_config(server, azure_endpoint=endpoint), allow_env=["AZURE_OPENAI_API_KEY"]))
    assert [r.headers["api-key"] for r in server.requests] == [SECRET] * 3


async def test_a_config_naming_the_environments_azure_endpoint_reads_its_key(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = server.base_url.removesuffix("/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    # the user's own client, made from the environment, saved and loaded again (AutoGen's configs, too, always
    # write the endpoint)
    dumped = mp.AzureOpenAIChatCompletionClient(azure_deployment="dep", model="gpt-4o").dump_component()
    assert dumped.config["azure_endpoint"] == endpoint
    await send(load_component(dumped))
    await send(load_component(azure_config(server, azure_endpoint=endpoint + "/")))
    assert [r.headers["api-key"] for r in server.requests] == [SECRET] * 2
    with pytest.raises(ComponentConfigError, match=r"allow_env=\['AZURE_OPENAI_API_KEY'\]"):  # another port
        load_component(azure_config(server, azure_endpoint="http://127.0.0.1:9"))


async def test_an_untrusted_config_reads_its_providers_own_key_for_its_own_server(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)  # the environment names the server, and its key
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    await send(load_component({"provider": "openai", "config": {"model": "gpt-4o"}}))
    await send(load_component({"provider": "openai", "config": {"model": "gpt-4o", "api_key_env": "OPENAI_API_KEY"}}))
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {API_KEY}"] * 2
    with pytest.raises(ComponentConfigError, match="OPENAI_API_KEY"):  # the same key, through a proxy it names
        load_component({"provider": "openai", "config": {"model": "gpt-4o", "proxy": "http://127.0.0.1:9"}})
    with pytest.raises(ComponentConfigError, match="GROQ_API_KEY"):  # another provider's key
        load_component({"provider": "openai", "config": {"model": "gpt-4o", "api_key_env": "GROQ_API_KEY"}})
    assert len(server.requests) == 2


def _router(client: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "router", "config": {"deployments": [{"client": client}]}}


def _cache(client: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "chat_completion_cache",
            "config": {"client": client, "store": {"provider": "in_memory_store", "config": {}}}}


def _context(client: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "token_limited_context", "config": {"model_client": client, "token_limit": 1000}}


@pytest.mark.parametrize("wrap", [_router, _cache, _context])
async def test_an_untrusted_config_cannot_send_an_environment_variable_from_a_nested_component(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    config = wrap(openai_config(server, api_key_env="AWS_SECRET_ACCESS_KEY"))
    with pytest.raises(ComponentConfigError, match=r"allow_env=\['AWS_SECRET_ACCESS_KEY'\]"):
        load_component(config)
    loaded = load_component(config, allow_env=["AWS_SECRET_ACCESS_KEY"])
    client = getattr(loaded, "model_client", loaded)
    try:
        await client.create(HELLO)
    finally:
        for closeable in {client, getattr(client, "client", client)}:
            await closeable.close()
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {SECRET}"]


async def test_an_untrusted_config_cannot_read_a_redis_url_variable(monkeypatch: pytest.MonkeyPatch,
                                                                    redis_url: str) -> None:
    monkeypatch.setenv("MY_REDIS_URL", redis_url)
    store_config = {"provider": "redis_store", "config": {"url_env": "MY_REDIS_URL"}}
    router_config = _router(LOCAL)
    router_config["config"]["state"] = {"url_env": "MY_REDIS_URL"}
    for config in (store_config, router_config):
        with pytest.raises(ComponentConfigError, match=r"url_env.*allow_env=\['MY_REDIS_URL'\]"):
            load_component(config)
    store = load_component(store_config, allow_env=["MY_REDIS_URL"])
    try:
        await store.set("allowed", b"1")
        assert await store.get("allowed") == b"1"
    finally:
        await store.close()


def test_an_untrusted_config_cannot_send_an_environment_variable_from_the_command_line(
    server: FakeServer, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(openai_config(server, api_key_env="AWS_SECRET_ACCESS_KEY")))
    env = {"AWS_SECRET_ACCESS_KEY": SECRET}
    for args in (("chat", "--config", str(path), "hi"), ("config", "validate", str(path))):
        done = cli(*args, env=env)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "AWS_SECRET_ACCESS_KEY" in done.stderr and "pass --allow-env AWS_SECRET_ACCESS_KEY" in done.stderr
        assert SECRET not in done.stderr
    assert server.requests == []
    validated = cli("config", "validate", str(path), "--allow-env", "AWS_SECRET_ACCESS_KEY", env=env)
    assert validated.returncode == 0, validated.stderr
    done = cli("chat", "--config", str(path), "--allow-env", "AWS_SECRET_ACCESS_KEY", "hi", env=env)
    assert done.returncode == 0, done.stderr
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {SECRET}"]


# -- 4. a config is checked whole at load, and loading it creates nothing --

@pytest.mark.parametrize(("config", "field"), [
    ({"provider": "openai", "config": {**LOCAL["config"], "http_session": {}}}, "http_session"),
    ({"provider": "openai", "config": {**LOCAL["config"], "retry_policy": {}}}, "retry_policy"),
    ({"provider": "ollama", "config": {"model": "llama3.1", "retry_policy": 2}}, "retry_policy"),
    ({"provider": "anthropic", "config": {"model": "claude-sonnet-4-5", "api_key": "k", "http_session": "s"}},
     "http_session"),
    ({"provider": "azure_openai", "config": {"model": "gpt-4o", "azure_endpoint": "https://r", "api_version": "v1",
                                             "api_key": "k", "azure_ad_token_provider": "f"}},
     "azure_ad_token_provider"),
    ({"provider": "redis_store", "config": {"url_env": "NOT_A_REDIS_URL"}}, "url_env: the value of NOT_A_REDIS_URL"),
    ({"provider": "redis_store", "config": {"url": "http://127.0.0.1:6379"}}, "url"),
    ({"provider": "chat_completion_cache", "config": {"client": LOCAL, "store": LOCAL}}, "store: the config describes"),
    ({"provider": "openai", "config": {**LOCAL["config"], "base_url": "http://127.0.0.1:99999/v1"}}, "base_url"),
    ({"provider": "openai", "config": {**LOCAL["config"], "base_url": "http://[::1/v1", "provider": "openai"}},
     "base_url"),
    ({"provider": "anthropic", "config": {"model": "claude-sonnet-4-5", "api_key": "k",
                                          "base_url": "https://127.0.0.1:70000"}}, "base_url"),
    ({"provider": "azure_openai", "config": {"model": "gpt-4o", "azure_endpoint": "https://r:70000",
                                             "api_version": "v1", "api_key": "k"}}, "azure_endpoint"),
    ({"provider": "openai", "config": {**LOCAL["config"], "prices": {"gpt-4o": {"input": "1"}}}},
     "prices['gpt-4o']"),
    ({"provider": "openai", "config": {**LOCAL["config"], "prices": {"gpt-4o": {"input": "one", "output": "1"}}}},
     "prices['gpt-4o']: Price.input must be a number"),
    ({"provider": "router", "config": {"deployments": [{"client": LOCAL, "limits": [{"rpm": 3}]}]}},
     "deployments[0].limits[0]"),
    ({"provider": "router", "config": {"deployments": [{"client": LOCAL}], "state": {"url": "redis://h", "lease": 0}}},
     "lease"),
    ({"provider": "openai", "component_version": 1, "config": {**LOCAL["config"], "model_capabilities": "all"}},
     "model_capabilities"),
    ({"provider": "redis_store", "component_version": 1, "config": {"host": "h", "password": 123}}, "password"),
    *[({"provider": "router", "config": {"deployments": [{"client": LOCAL}, {"client": LOCAL, field: value}]}},
       f"deployments.1.{field}") for field, value in (("rpm", 0), ("tpm", -1), ("max_concurrency", 0), ("weight", -1))],
])
def test_a_config_is_checked_whole_at_load(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any],
                                           field: str) -> None:
    monkeypatch.setenv("NOT_A_REDIS_URL", "postgres://user:pw-SECRET@db/0")
    allowed = {"allow_env": ["NOT_A_REDIS_URL"]} if "NOT_A_REDIS_URL" in field else {}
    with pytest.raises(ComponentConfigError) as info:
        load_component(config, **allowed)
    assert field in str(info.value) and "pw-SECRET" not in str(info.value)


async def test_loading_or_validating_a_disk_cache_config_creates_no_directories(tmp_path: Path,
                                                                                server: FakeServer) -> None:
    folder = tmp_path / "not" / "yet"
    config = {"provider": "chat_completion_cache", "config": {
        "client": openai_config(server, api_key="k"),
        "store": {"provider": "disk_cache_store", "config": {"directory": str(folder)}}}}
    path = tmp_path / "cache.json"
    path.write_text(json.dumps(config))
    for action in ("validate", "show"):
        done = cli("config", action, str(path))
        assert done.returncode == 0, done.stderr
    cache = load_component(config)
    assert not (tmp_path / "not").exists()
    try:
        assert (await cache.create(HELLO)).cached is False
        assert (await cache.create(HELLO)).cached is True
    finally:
        await cache.close()
        cache.store.close()
    assert (folder / mp.DiskCacheStore.FILENAME).is_file() and len(server.requests) == 1


@pytest.mark.parametrize("inside", [False, True])
def test_a_disk_cache_config_whose_folder_cannot_be_made_is_refused_at_load(tmp_path: Path, inside: bool) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = blocker / "cache" if inside else blocker
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"provider": "disk_cache_store", "config": {"directory": str(folder)}}))
    with pytest.raises(ComponentConfigError, match="directory") as info:
        load_component(path)
    assert str(blocker) in str(info.value)
    done = cli("config", "validate", str(path))
    assert done.returncode == 2 and "directory" in done.stderr and "Traceback" not in done.stderr
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "store.json"]


def test_a_yaml_config_whose_anchors_expand_without_bound_is_refused_at_load(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]" for i in range(1, 6)]  # 8**6 values, in 6 lines
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("provider: openai\nconfig:\n  model: gpt-4o\n  base_url: http://127.0.0.1:9/v1\n  api_key: k\n"
                    "  metadata:\n" + "".join(f"    {line}\n" for line in levels))
    with pytest.raises(ComponentConfigError, match="anchors"):
        load_component(bomb)

    honest = tmp_path / "router.yaml"  # anchors as people use them: a block written once, used a few times
    honest.write_text("provider: router\nconfig:\n  deployments:\n"
                      "    - client: &client {provider: openai, config: {model: gpt-4o, base_url: 'http://127.0.0.1:9/v1',"
                      " api_key: k, metadata: &tags {team: a, project: b}}}\n"
                      "      name: first\n"
                      "    - {client: *client, name: second}\n"
                      "    - client: {provider: openai, config: {model: gpt-4o-mini, api_key: k, metadata: *tags,"
                      " base_url: 'http://127.0.0.1:9/v1'}}\n")
    assert [d.name for d in load_component(honest).deployments] == ["first", "second", "gpt-4o-mini"]
