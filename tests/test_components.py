"""Component configs: every component round-trips and behaves the same; secrets stay out; nothing runs on load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import modelport as mp
from modelport import (
    AzureOpenAIChatCompletionClient,
    ChatCompletionCache,
    ComponentModel,
    DiskCacheStore,
    InMemoryStore,
    OpenAIChatCompletionClient,
    RedisStore,
    SystemMessage,
    UserMessage,
    load_component,
)
from modelport.components import ComponentConfigError, component_schemas, known_providers
from modelport.model_context import (
    BufferedChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
    UnboundedChatCompletionContext,
)
from modelport.testing import FakeServer

from .conftest import API_KEY
from .helpers import HELLO, collect
from .test_model_context import HISTORY

AZURE_KEY = "azure-SECRET-77"


def through_json(component: Any, **kwargs: Any) -> Any:
    """dump, JSON text, load: what a user does with a config file."""
    text = component.dump_component(**kwargs).model_dump_json()
    return load_component(json.loads(text))


def openai_client(server: FakeServer, **kwargs: Any) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, **kwargs)


def azure_client(server: FakeServer, **kwargs: Any) -> AzureOpenAIChatCompletionClient:
    kwargs.setdefault("api_key", AZURE_KEY)
    return AzureOpenAIChatCompletionClient(azure_endpoint=server.base_url.removesuffix("/v1"),
                                           azure_deployment="dep", model="gpt-4o", api_version="2024-10-21",
                                           **kwargs)


async def same_requests(server: FakeServer, original: Any, loaded: Any) -> None:
    """Both clients send the same request, to the same place, with the same headers, and get the same answer."""
    first = await original.create(HELLO)
    second = await loaded.create(HELLO)
    a, b = server.requests[-2], server.requests[-1]
    assert (a.path, a.query, a.json) == (b.path, b.query, b.json)
    def headers(request: Any) -> dict[str, str]:
        return {k: v for k, v in request.headers.items() if k != "content-length"}

    assert headers(a) == headers(b)
    assert first.content == second.content
    await original.close()
    await loaded.close()


# -- round trips --

async def test_openai_client_round_trip(server: FakeServer) -> None:
    original = openai_client(server, temperature=0.3, max_tokens=50, extra_body={"top_k": 4}, organization="org",
                             default_headers={"x-team": "blue"}, timeout=30, deadline=90, max_retries=1,
                             model_info={"vision": False, "function_calling": True, "json_output": True,
                                         "family": "gpt-4o", "context_window": 1000}, add_name_prefixes=True)
    loaded = through_json(original, include_secrets=True)
    assert isinstance(loaded, OpenAIChatCompletionClient) and loaded.context_window == 1000
    assert loaded._transport.timeout == 30 and loaded._transport.deadline == 90
    assert loaded._transport.retry.max_retries == 1
    await same_requests(server, original, loaded)


async def test_azure_client_round_trip(server: FakeServer) -> None:
    original = azure_client(server, temperature=0)
    loaded = through_json(original, include_secrets=True)
    assert isinstance(loaded, AzureOpenAIChatCompletionClient)
    await same_requests(server, original, loaded)
    assert server.requests[-1].path == "/openai/deployments/dep/chat/completions"


@pytest.mark.parametrize("make", [
    lambda c: UnboundedChatCompletionContext(HISTORY),
    lambda c: BufferedChatCompletionContext(4, HISTORY, pin_system_messages=False),
    lambda c: HeadAndTailChatCompletionContext(2, 3, HISTORY),
    lambda c: TokenLimitedChatCompletionContext(c, token_limit=60, initial_messages=HISTORY,
                                                reserve_completion_tokens=5, tool_schema=[{"name": "f"}]),
], ids=["unbounded", "buffered", "head_and_tail", "token_limited"])
async def test_context_round_trip(server: FakeServer, make: Any) -> None:
    original = make(openai_client(server))
    loaded = through_json(original, include_secrets=True)
    assert type(loaded) is type(original)
    assert await loaded.get_messages() == await original.get_messages()
    await loaded.add_message(UserMessage(content="one more"))
    await original.add_message(UserMessage(content="one more"))
    assert await loaded.get_messages() == await original.get_messages()


async def test_token_limited_context_nests_its_client(server: FakeServer) -> None:
    context = TokenLimitedChatCompletionContext(openai_client(server), token_limit=500)
    config = context.dump_component().config
    assert config["model_client"]["provider"] == "openai" and config["model_client"]["config"]["model"] == "gpt-4o"


@pytest.mark.parametrize("store_kind", ["memory", "disk", "redis"])
async def test_cache_round_trip_with_each_store(server: FakeServer, tmp_path: Path, request: Any,
                                                store_kind: str) -> None:
    store: Any
    if store_kind == "memory":
        store = InMemoryStore(max_entries=10)
    elif store_kind == "disk":
        store = DiskCacheStore(tmp_path)
    else:
        store = RedisStore(request.getfixturevalue("redis_url"))
    original = ChatCompletionCache(openai_client(server), store, ttl=300, namespace="round-trip")
    await original.create(HELLO)
    loaded = through_json(original, include_secrets=True)
    assert isinstance(loaded, ChatCompletionCache) and loaded.ttl == 300 and loaded.namespace == "round-trip"
    assert type(loaded.store) is type(store)
    again = await loaded.create(HELLO)
    assert again.cached is (store_kind != "memory")  # a persistent store answers the loaded cache
    assert loaded.cache_key(HELLO) == original.cache_key(HELLO)
    for cache in (original, loaded):
        await cache.close()
        if store_kind == "disk":
            cache.store.close()  # type: ignore[attr-defined]
        if store_kind == "redis":
            await cache.store.close()  # type: ignore[attr-defined]


# -- secrets --

async def test_no_secret_in_any_dump_by_default(server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                redis_url: str) -> None:
    monkeypatch.setenv("MY_REDIS_URL", redis_url.replace("redis://", "redis://:pw-SECRET@"))
    components = [
        openai_client(server, default_headers={"Authorization": f"Bearer {API_KEY}", "x-ok": "1"}),
        azure_client(server), azure_client(server, api_key=None, azure_ad_token=AZURE_KEY),
        TokenLimitedChatCompletionContext(openai_client(server)),
        ChatCompletionCache(azure_client(server), RedisStore(url_env="MY_REDIS_URL")),
    ]
    for component in components:
        text = component.dump_component().model_dump_json()
        assert API_KEY not in text and AZURE_KEY not in text and "pw-SECRET" not in text
    assert '"url_env":"MY_REDIS_URL"' in components[-1].dump_component().model_dump_json()
    assert API_KEY in components[0].dump_component(include_secrets=True).model_dump_json()


async def test_api_key_env_reference(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    client = load_component({"provider": "openai", "config": {"model": "gpt-4o", "base_url": server.base_url,
                                                              "api_key_env": "MY_KEY"}}, allow_env=["MY_KEY"])
    await client.create(HELLO)
    await client.close()
    assert server.requests[-1].headers["authorization"] == "Bearer sk-from-env"
    assert client.dump_component().config["api_key_env"] == "MY_KEY"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ValueError, match="'MY_KEY', which is not set"):
        load_component({"provider": "openai", "config": {"model": "gpt-4o", "api_key_env": "MY_KEY"}},
                       allow_env=["MY_KEY"])


async def test_a_config_without_a_key_uses_the_standard_variable(server: FakeServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-standard")
    client = load_component({"provider": "openai", "config": {"model": "gpt-4o"}})
    assert client.base_url == "https://api.openai.com/v1" and client._api_key.get() == "sk-standard"
    assert client.dump_component().config["api_key_env"] == "OPENAI_API_KEY"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")
    azure = load_component({"provider": "azure_openai", "config": {
        "azure_deployment": "d", "model": "gpt-4o", "api_version": "v1"}})
    assert azure._api_key.get() == AZURE_KEY


@pytest.mark.parametrize(("qualified", "config"), [
    ("modelport.providers.openai.OpenAIChatCompletionClient", {"model": "gpt-4o"}),
    ("modelport.providers.azure.AzureOpenAIChatCompletionClient",
     {"azure_deployment": "dep", "model": "gpt-4o", "api_version": "2024-10-21"}),
    ("modelport.providers.anthropic.AnthropicChatCompletionClient", {"model": "claude-sonnet-4-5"}),
    ("modelport.providers.ollama.OllamaChatCompletionClient", {"model": "llama3.1"}),
])
async def test_qualified_names_of_the_client_modules_still_load(server: FakeServer, qualified: str,
                                                               config: dict[str, Any]) -> None:
    """Configs written with a client's qualified name (its module's path) keep loading after the module moved."""
    root = server.base_url.removesuffix("/v1")
    where = {"azure_endpoint": root} if "Azure" in qualified else {"host": root} if "Ollama" in qualified else {
        "base_url": server.base_url if "OpenAI" in qualified else root}
    secret = {} if "Ollama" in qualified else {"api_key": API_KEY}
    client = load_component({"provider": qualified, "config": {**config, **where, **secret}})
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    assert type(client).__name__ == qualified.rsplit(".", 1)[1] and isinstance(result.content, str)


def test_autogen_masked_key_is_refused() -> None:
    with pytest.raises(ValueError, match="masked"):
        load_component({"provider": "openai", "config": {"model": "gpt-4o", "api_key": "**********"}})


def test_redis_password_needs_url_env_or_include_secrets() -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="password"):
        store.dump_component()
    assert "hunter2" in store.dump_component(include_secrets=True).config["url"]


# -- nothing runs on load --

@pytest.mark.parametrize("provider", ["this", "os.system", "os:system", "builtins.eval", "subprocess.Popen",
                                      "modelport.testing.FakeServer", "autogen_core.tools.FunctionTool",
                                      "__import__('this')"])
def test_unknown_or_dangerous_providers_are_rejected_without_importing(provider: str) -> None:
    sys.modules.pop("this", None)
    with pytest.raises(ComponentConfigError, match="unknown provider"):
        load_component({"provider": provider, "config": {"source_code": "import os; os.system('echo pwned')"}})
    assert "this" not in sys.modules, "a config made Python import a module"


@pytest.mark.parametrize(("config", "match"), [
    ({"provider": "openai", "config": {"model": "gpt-4o", "api_key": "k", "source_code": "import os"}},
     "unknown client create argument 'source_code'"),
    ({"provider": "buffered_context", "config": {"buffer_size": 3, "source_code": "print(1)"}}, "source_code"),
    ({"provider": "disk_cache_store", "config": {"directory": "/tmp/x", "pickle": True}}, "pickle"),
    ({"provider": "buffered_context", "config": {"buffer_size": 0}}, "buffer_size"),
    ({"provider": "openai"}, "config"),
    ({"provider": "openai", "config": {}, "exec": "x"}, "exec"),
    (["not", "an", "object"], "JSON object"),
])
def test_invalid_configs_are_rejected_clearly(config: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_component(config)


def test_a_string_holding_code_stays_a_string(server: FakeServer) -> None:
    code = "__import__('os').system('echo pwned')"
    with pytest.warns(mp.UnknownModelWarning):  # just an odd model name: data, never evaluated
        client = load_component({"provider": "openai", "config": {"model": code, "base_url": server.base_url,
                                                                  "api_key": "k"}})
    assert client._model == code


def test_expected_type() -> None:
    with pytest.raises(ValueError, match="not a ChatCompletionClient"):
        load_component({"provider": "in_memory_store", "config": {}}, expected=mp.ChatCompletionClient)
    assert isinstance(InMemoryStore.load_component({"provider": "in_memory_store", "config": {}}), InMemoryStore)


# -- versions --

def test_autogen_client_config_is_migrated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    autogen = {"provider": "autogen_ext.models.openai.OpenAIChatCompletionClient", "component_type": "model",
               "version": 1, "component_version": 1, "config": {
                   "model": "my-model", "base_url": "http://localhost:8000/v1", "temperature": 0.1,
                   "model_capabilities": {"vision": False, "function_calling": True, "json_output": True}}}
    client = load_component(autogen)
    assert client.model_info["function_calling"] is True and client.model_info["vision"] is False
    assert client._create_args == {"temperature": 0.1}
    assert client.dump_component().component_version == 2


def test_autogen_redis_store_config_is_migrated() -> None:
    store = load_component({"provider": "autogen_ext.cache_store.redis.RedisStore", "component_version": 1,
                            "config": {"host": "cache.local", "port": 6380, "db": 2, "password": "p@ss",
                                       "ssl": True, "socket_timeout": 0.5}})
    assert store._url == "rediss://:p%40ss@cache.local:6380/2" and store.timeout == 0.5


def test_newer_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="upgrade modelport"):
        load_component({"provider": "openai", "component_version": 99, "config": {"model": "x"}})
    with pytest.raises(ValueError, match="upgrade modelport"):
        load_component({"provider": "openai", "version": 2, "config": {"model": "x"}})


# -- what cannot be saved is said, not dropped --

async def test_live_objects_are_refused_by_name(server: FakeServer) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="http_session"):
            openai_client(server, http_session=session).dump_component()
    with pytest.raises(ValueError, match="token_counter"):
        openai_client(server, token_counter=lambda m, t: 1).dump_component()
    with pytest.raises(ValueError, match="azure_ad_token_provider"):
        azure_client(server, api_key=None, azure_ad_token_provider=lambda: "t").dump_component()
    with pytest.raises(ValueError, match="client object"):
        RedisStore(client=object()).dump_component()


# -- files, schemas, entry points --

def test_json_and_yaml_files(tmp_path: Path, server: FakeServer) -> None:
    config = openai_client(server).dump_component(include_secrets=True).model_dump(mode="json")
    (tmp_path / "model.json").write_text(json.dumps(config))
    import yaml

    (tmp_path / "model.yaml").write_text(yaml.safe_dump(config))
    for name in ("model.json", "model.yaml"):
        assert isinstance(load_component(tmp_path / name), OpenAIChatCompletionClient)
    (tmp_path / "evil.yaml").write_text("provider: !!python/object/apply:os.system ['echo pwned']\nconfig: {}\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_component(tmp_path / "evil.yaml")
    with pytest.raises(ValueError, match="cannot read"):
        load_component(tmp_path / "missing.json")


def test_json_schema_for_every_component() -> None:
    schemas = component_schemas()
    assert sorted(schemas) == known_providers()
    assert "model" in schemas["openai"]["properties"] and schemas["openai"]["properties"]["api_key"]["writeOnly"]
    assert schemas["buffered_context"]["additionalProperties"] is False


def test_third_party_components_load_through_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "thirdparty_store.py").write_text(
        "from pydantic import BaseModel\n"
        "from modelport.cache import InMemoryStore\n"
        "class Config(BaseModel):\n    size: int\n"
        "class SmallStore(InMemoryStore):\n"
        "    component_provider = 'small_store'\n    component_config_schema = Config\n"
        "    def _to_config(self, *, include_secrets):\n        return Config(size=self.max_entries)\n"
        "    @classmethod\n    def _from_config(cls, config):\n        return cls(config.size)\n")
    dist = tmp_path / "thirdparty_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modelport.components]\nsmall_store = thirdparty_store:SmallStore\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    store = load_component({"provider": "small_store", "config": {"size": 7}})
    assert type(store).__name__ == "SmallStore" and store.max_entries == 7
    assert load_component(store.dump_component().model_dump()).max_entries == 7


def test_component_model_shape() -> None:
    model = InMemoryStore(5).dump_component()
    assert isinstance(model, ComponentModel)
    assert model.model_dump(exclude_none=True) == {
        "provider": "in_memory_store", "component_type": "cache_store", "version": 1, "component_version": 1,
        "description": model.description, "label": "InMemoryStore", "config": {"max_entries": 5}}


# -- the command line --

def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelport.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_cli_config_validate_show_schema(tmp_path: Path, server: FakeServer) -> None:
    path = tmp_path / "model.json"
    path.write_text(openai_client(server).dump_component(include_secrets=True).model_dump_json())
    done = cli("config", "validate", str(path))
    assert done.returncode == 0 and "valid openai config" in done.stdout
    shown = cli("config", "show", str(path))
    assert shown.returncode == 0 and API_KEY not in shown.stdout and '"provider": "openai"' in shown.stdout
    schema = cli("config", "schema", "redis_store")
    assert schema.returncode == 0 and "url_env" in json.loads(schema.stdout)["properties"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"provider": "os.system", "config": {}}')
    refused = cli("config", "validate", str(bad))
    assert refused.returncode == 2 and "unknown provider 'os.system'" in refused.stderr


def test_cli_chat_with_a_config(tmp_path: Path, server: FakeServer) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"provider": "openai", "config": {"model": "llama3.1", "base_url": server.base_url,
                                                                 "api_key_env": "LOCAL_KEY"}}))
    done = cli("chat", "--config", str(path), "--allow-env", "LOCAL_KEY", "hello", env={"LOCAL_KEY": "local-secret"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello"
    assert server.requests[-1].headers["authorization"] == "Bearer local-secret"


async def test_loaded_client_streams_the_same(server: FakeServer) -> None:
    original = openai_client(server)
    loaded = through_json(original, include_secrets=True)
    assert (await collect(original))[0] == (await collect(loaded))[0]
    await original.close()
    await loaded.close()
    assert SystemMessage  # imported for the shared HISTORY
