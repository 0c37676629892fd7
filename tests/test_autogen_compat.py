"""What AutoGen's model-client guide and autogen-ext's clients take, taken by modelport: each name or argument its
examples use runs here, over real HTTP against the built-in server (and a real Redis, real folders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import modelport as mp
from modelport import (
    AzureOpenAIChatCompletionClient,
    ChatCompletionCache,
    DiskCacheStore,
    FunctionTool,
    InMemoryStore,
    OpenAIChatCompletionClient,
    RedisStore,
    UserMessage,
)
from modelport.testing import FakeServer, Reply, chunk

from .helpers import HELLO, collect

API_KEY = "sk-compat-test-key-1"
AZURE_KEY = "azure-compat-key-1"


def azure(server: FakeServer, **kwargs: Any) -> AzureOpenAIChatCompletionClient:
    return AzureOpenAIChatCompletionClient(
        azure_endpoint=server.base_url.removesuffix("/v1"), azure_deployment="my-gpt4o", model="gpt-4o",
        api_version="2024-10-21", api_key=AZURE_KEY, **kwargs,
    )


# -- the cache stores, as AutoGen's guide makes them --


async def test_redis_store_takes_a_redis_instance_positionally(redis_url: str, make_client: Any,
                                                               server: FakeServer) -> None:
    redis = pytest.importorskip("redis")
    redis_instance = redis.Redis.from_url(redis_url)
    store = RedisStore[mp.CHAT_CACHE_VALUE_TYPE](redis_instance)
    cache = ChatCompletionCache(make_client(), store, namespace="positional")
    try:
        first = await cache.create(HELLO)
        second = await cache.create(HELLO)
        stored = redis_instance.keys("positional:*")
    finally:
        redis_instance.close()
    assert len(stored) == 1 and second.cached and second.content == first.content
    assert len(server.requests) == 1


def test_redis_store_refuses_a_client_given_twice(redis_url: str) -> None:
    redis = pytest.importorskip("redis")
    redis_instance = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(mp.InvalidRequestError, match="not both"):
            RedisStore(redis_instance, client=redis_instance)
    finally:
        redis_instance.close()


async def test_stores_subscripted_as_autogen_writes_them(tmp_path: Path, make_client: Any,
                                                         server: FakeServer) -> None:
    from modelport.cache import CHAT_CACHE_VALUE_TYPE

    disk = DiskCacheStore[CHAT_CACHE_VALUE_TYPE](tmp_path / "cache")
    memory = InMemoryStore[CHAT_CACHE_VALUE_TYPE]()
    try:
        for store in (disk, memory):
            cache = ChatCompletionCache(make_client(), store)
            await cache.create(HELLO)
            assert (await cache.create(HELLO)).cached
    finally:
        disk.close()
    assert isinstance(disk, DiskCacheStore) and isinstance(memory, InMemoryStore)
    assert len(server.requests) == 2


async def test_disk_cache_store_takes_a_diskcache_cache_for_its_folder(tmp_path: Path, make_client: Any,
                                                                       server: FakeServer) -> None:
    diskcache = pytest.importorskip("diskcache")
    folder = tmp_path / "guide"
    with diskcache.Cache(str(folder)) as guide_cache:
        store = DiskCacheStore[mp.CHAT_CACHE_VALUE_TYPE](guide_cache)
        cache = ChatCompletionCache(make_client(), store)
        await cache.create(HELLO)
        assert (await cache.create(HELLO)).cached
        store.close()
    assert store.directory == folder and (folder / DiskCacheStore.FILENAME).exists()
    assert len(server.requests) == 1


class FolderOnly:
    """An object with a ``directory``, as a ``diskcache.Cache`` has (the guide's form without the package)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory


def test_disk_cache_store_takes_any_object_with_a_directory(tmp_path: Path) -> None:
    store = DiskCacheStore(FolderOnly(str(tmp_path / "c")))
    store.close()
    assert store.directory == tmp_path / "c" and store.path.exists()
    with pytest.raises(mp.InvalidRequestError, match=r"DiskCacheStore\(directory\)"):
        DiskCacheStore(object())


# -- the names AutoGen users import --


def test_chat_cache_value_type_imports_where_autogen_users_find_it() -> None:
    from modelport import CHAT_CACHE_VALUE_TYPE as top
    from modelport.cache import CHAT_CACHE_VALUE_TYPE

    assert top is CHAT_CACHE_VALUE_TYPE
    assert set(CHAT_CACHE_VALUE_TYPE.__args__) >= {mp.CreateResult}


async def test_chat_completion_context_state_reads_and_writes_a_context_state() -> None:
    from modelport.model_context import BufferedChatCompletionContext, ChatCompletionContextState

    context = BufferedChatCompletionContext(buffer_size=4)
    await context.add_message(UserMessage(content="Hi", source="user"))
    state = ChatCompletionContextState.model_validate(await context.save_state())
    assert [m.content for m in state.messages] == ["Hi"]
    restored = BufferedChatCompletionContext(buffer_size=4)
    await restored.load_state(ChatCompletionContextState(messages=state.messages).model_dump())
    assert await restored.get_messages() == await context.get_messages()


# -- constructor arguments --


async def test_model_capabilities_is_taken_as_model_info_with_autogen_warning(make_client: Any,
                                                                              server: FakeServer) -> None:
    capabilities = {"vision": False, "function_calling": True, "json_output": True}
    with pytest.warns(DeprecationWarning, match="model_capabilities is deprecated, use model_info instead"):
        client = make_client("my-local-model", model_capabilities=capabilities)
    assert client.model_info["vision"] is False and client.model_info["family"] == "unknown"
    assert (await client.create(HELLO)).content == "You said: Hello"
    config = client.dump_component().config
    assert config["model_info"]["vision"] is False and "model_capabilities" not in config
    assert "model_capabilities" not in server.requests[0].json


def test_model_capabilities_beside_model_info_is_refused(make_client: Any) -> None:
    info = {"vision": False, "function_calling": True, "json_output": True, "family": "unknown"}
    with pytest.raises(mp.InvalidRequestError, match="mutually exclusive"):
        make_client("my-local-model", model_info=info, model_capabilities=info)


async def test_partial_model_info_is_completed_with_a_warning(make_client: Any) -> None:
    with pytest.warns(UserWarning, match="lacks vision, function_calling, json_output, family"):
        unknown = make_client("my-local-model", model_info={"context_window": 16000})
    assert unknown.model_info["function_calling"] is True and unknown.model_info["context_window"] == 16000
    assert unknown.remaining_tokens(HELLO) > 15000
    with pytest.warns(UserWarning, match="lacks"):
        known = make_client("gpt-4o", model_info={"context_window": 16000, "vision": False})
    assert known.model_info["family"] != "unknown"
    assert known.model_info["vision"] is False and known.model_info["context_window"] == 16000
    assert (await unknown.create(HELLO)).content == "You said: Hello"


def test_http_client_is_refused_naming_http_session(make_client: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"http_client is an httpx client.*http_session="):
        make_client(http_client=object())
    with pytest.raises(mp.InvalidRequestError, match="http_session="):
        AzureOpenAIChatCompletionClient(azure_endpoint="https://example.openai.azure.com", azure_deployment="d",
                                        api_version="2024-10-21", api_key=AZURE_KEY, http_client=object())


async def test_project_and_organization_are_sent_as_openai_headers(make_client: Any, server: FakeServer) -> None:
    client = make_client(organization="org-1", project="proj-1")
    await client.create(HELLO)
    headers = server.requests[0].headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj-1"
    loaded = OpenAIChatCompletionClient.load_component(client.dump_component(include_secrets=True))
    try:
        await loaded.create(HELLO)
    finally:
        await loaded.close()
    assert server.requests[1].headers["openai-project"] == "proj-1"


async def test_openai_org_and_project_environment_go_to_openai_base_url_only(
    monkeypatch: pytest.MonkeyPatch, make_client: Any, server: FakeServer
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    from_environment = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        await from_environment.create(HELLO)
    finally:
        await from_environment.close()
    await make_client().create(HELLO)  # a base_url given in code: another server, not the environment's
    first, second = server.requests
    assert first.headers["openai-organization"] == "org-env" and first.headers["openai-project"] == "proj-env"
    assert "openai-organization" not in second.headers and "openai-project" not in second.headers
    assert "project" not in from_environment.dump_component().config


async def test_default_query_is_on_every_request(make_client: Any, server: FakeServer) -> None:
    client = make_client(default_query={"tenant": "acme", "v": 2})
    await client.create(HELLO)
    await collect(client)
    await client.list_models()
    assert [r.query for r in server.requests] == [{"tenant": ["acme"], "v": ["2"]}] * 3
    az = azure(server, default_query={"tenant": "acme"})
    try:
        await az.create(HELLO)
    finally:
        await az.close()
    assert server.requests[-1].query == {"api-version": ["2024-10-21"], "tenant": ["acme"]}


async def test_default_query_round_trips_without_its_credentials(make_client: Any, server: FakeServer) -> None:
    client = make_client(default_query={"tenant": "acme", "subscription-key": "sub-secret-value-1"})
    config = client.dump_component()
    assert config.config["default_query"] == {"tenant": "acme"}
    assert "sub-secret-value-1" not in json.dumps(config.model_dump())
    full = client.dump_component(include_secrets=True).config["default_query"]
    assert full == {"tenant": "acme", "subscription-key": "sub-secret-value-1"}
    loaded = OpenAIChatCompletionClient.load_component(client.dump_component(include_secrets=True))
    try:
        await loaded.create(HELLO)
    finally:
        await loaded.close()
    assert server.requests[0].query == {"tenant": ["acme"], "subscription-key": ["sub-secret-value-1"]}


async def test_default_query_credentials_are_scrubbed_from_errors(make_client: Any, server: FakeServer) -> None:
    server.add(Reply.json({"error": {"message": "bad subscription-key sub-secret-value-1"}}, status=401))
    client = make_client(default_query={"subscription-key": "sub-secret-value-1"})
    with pytest.raises(mp.AuthenticationError) as info:
        await client.create(HELLO)
    assert "sub-secret-value-1" not in str(info.value) and "sub-secret-value-1" not in repr(info.value.body)


def test_default_query_refuses_what_a_url_cannot_carry(make_client: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"default_query\['a'\] must be a str or a number"):
        make_client(default_query={"a": ["x"]})


async def test_include_name_in_message_false_sends_no_name(make_client: Any, server: FakeServer) -> None:
    alice = [UserMessage(content="Hello", source="alice")]
    await make_client().create(alice)
    without = make_client(include_name_in_message=False)
    await without.create(alice)
    az = azure(server, include_name_in_message=False)
    try:
        await az.create(alice)
    finally:
        await az.close()
    named, unnamed, azure_unnamed = (r.json["messages"][0] for r in server.requests)
    assert named["name"] == "alice" and "name" not in unnamed and "name" not in azure_unnamed
    loaded = OpenAIChatCompletionClient.load_component(without.dump_component(include_secrets=True))
    try:
        await loaded.create(alice)
    finally:
        await loaded.close()
    assert without.dump_component().config["include_name_in_message"] is False
    assert "name" not in server.requests[-1].json["messages"][0]


async def test_max_consecutive_empty_chunk_tolerance_is_accepted_and_unneeded(make_client: Any,
                                                                              server: FakeServer) -> None:
    client = make_client(max_consecutive_empty_chunk_tolerance=10)
    deltas, result = await collect(client, max_consecutive_empty_chunk_tolerance=10)
    assert result.content == "You said: Hello" and "".join(deltas) == result.content
    assert "max_consecutive_empty_chunk_tolerance" not in server.requests[0].json
    assert "max_consecutive_empty_chunk_tolerance" not in client.dump_component().config
    with pytest.raises(mp.InvalidRequestError, match="max_consecutive_empty_chunk_tolerance must be"):
        await collect(client, max_consecutive_empty_chunk_tolerance=-1)


# -- create arguments AutoGen passes in extra_create_args --


def get_weather(city: str) -> str:
    return f"sunny in {city}"


async def test_tool_choice_in_extra_create_args_is_the_calls_tool_choice(make_client: Any,
                                                                          server: FakeServer) -> None:
    client = make_client()
    tool = FunctionTool(get_weather, "Get the weather")
    await client.create(HELLO, tools=[tool], extra_create_args={"tool_choice": "required"})
    forced = {"type": "function", "function": {"name": "get_weather"}}
    await client.create(HELLO, tools=[tool], extra_create_args={"tool_choice": forced})
    assert [r.json["tool_choice"] for r in server.requests] == ["required", forced]
    with pytest.raises(mp.InvalidRequestError, match="tool_choice is given both"):
        await client.create(HELLO, tools=[tool], tool_choice="none", extra_create_args={"tool_choice": "required"})


async def test_timeout_in_extra_create_args_is_the_calls_timeout(make_client: Any, server: FakeServer) -> None:
    client = make_client(timeout=60, max_retries=0)
    server.add(Reply.hang())
    with pytest.raises(mp.APITimeoutError, match=r"no response within 0.2 s") as info:
        await client.create(HELLO, extra_create_args={"timeout": 0.2})
    assert info.value.phase == "response"
    server.add(Reply.sse([chunk({"content": "first"})], done=False, stall=True))
    with pytest.raises(mp.APITimeoutError, match=r"no stream event within 0.2 s"):
        await collect(client, extra_create_args={"timeout": 0.2})
    result = await client.create(HELLO, extra_create_args={"timeout": 5, "temperature": 0})
    assert result.content == "You said: Hello"
    assert "timeout" not in server.requests[-1].json and server.requests[-1].json["temperature"] == 0
    assert client._transport.timeout == 60  # the client's own timeout is unchanged for later calls
    with pytest.raises(mp.InvalidRequestError, match="'timeout' must be a positive number"):
        await client.create(HELLO, extra_create_args={"timeout": -1})


async def test_timeout_in_extra_create_args_keeps_the_cache_key(make_client: Any, server: FakeServer) -> None:
    cache = ChatCompletionCache(make_client())
    await cache.create(HELLO, extra_create_args={"timeout": 30})
    assert (await cache.create(HELLO)).cached
    assert len(server.requests) == 1


async def test_autogen_config_with_include_name_in_message_false_loads(server: FakeServer) -> None:
    config = {"provider": "autogen_ext.models.openai.OpenAIChatCompletionClient", "component_type": "model",
              "version": 1, "component_version": 1,
              "config": {"model": "gpt-4o", "base_url": server.base_url, "api_key": API_KEY,
                         "include_name_in_message": False}}
    client = OpenAIChatCompletionClient.load_component(config)
    try:
        await client.create([UserMessage(content="Hello", source="alice")])
    finally:
        await client.close()
    assert "name" not in server.requests[0].json["messages"][0]


async def test_azure_config_keeps_project_query_and_names(server: FakeServer) -> None:
    client = azure(server, project="proj-1", default_query={"tenant": "acme"}, include_name_in_message=False)
    loaded = AzureOpenAIChatCompletionClient.load_component(client.dump_component(include_secrets=True))
    try:
        await loaded.create([UserMessage(content="Hello", source="alice")])
    finally:
        await client.close()
        await loaded.close()
    request = server.requests[0]
    assert request.headers["openai-project"] == "proj-1" and request.query["tenant"] == ["acme"]
    assert "name" not in request.json["messages"][0]


async def test_autogen_guide_cache_example_runs(redis_url: str, make_client: Any, server: FakeServer) -> None:
    """AutoGen's ChatCompletionCache example with Redis, streamed, with only its imports changed."""
    redis = pytest.importorskip("redis")
    from modelport import CreateResult
    from modelport.cache import CHAT_CACHE_VALUE_TYPE, ChatCompletionCache, RedisStore

    openai_model_client = make_client()
    redis_instance = redis.Redis.from_url(redis_url)
    cache_store = RedisStore[CHAT_CACHE_VALUE_TYPE](redis_instance)
    cache_client = ChatCompletionCache(openai_model_client, cache_store)
    cached = []
    try:
        for _ in range(2):
            async for chunk_ in cache_client.create_stream([UserMessage(content="List all countries in Africa",
                                                                        source="user")]):
                if isinstance(chunk_, CreateResult):
                    cached.append(chunk_.cached)
    finally:
        redis_instance.close()
    assert cached == [False, True] and len(server.requests) == 1


# -- found in review --


async def test_default_query_is_part_of_the_cache_key_without_its_credentials(make_client: Any,
                                                                               server: FakeServer) -> None:
    store = InMemoryStore()
    tenant_a = ChatCompletionCache(make_client(default_query={"tenant": "a"}), store)
    tenant_b = ChatCompletionCache(make_client(default_query={"tenant": "b"}), store)
    await tenant_a.create(HELLO)
    assert not (await tenant_b.create(HELLO)).cached  # another tenant's answer is not served from the cache
    assert len(server.requests) == 2
    keyed = make_client(default_query={"tenant": "a", "subscription-key": "sub-secret-value-1"})
    endpoint = keyed.request_fingerprint(HELLO)["endpoint"]
    assert "tenant=a" in endpoint and "sub-secret-value-1" not in endpoint
    other_key = make_client(default_query={"tenant": "a", "subscription-key": "sub-secret-value-2"})
    assert (await ChatCompletionCache(other_key, store).create(HELLO)).cached  # a credential does not split keys


async def test_partial_model_info_config_loads_without_warning_again(make_client: Any) -> None:
    with pytest.warns(UserWarning, match="lacks"):
        client = make_client("my-local-model", model_info={"context_window": 16000})
    config = client.dump_component()
    saved = config.config["model_info"]
    assert saved["context_window"] == 16000 and saved["function_calling"] is True and saved["family"] == "unknown"
    loaded = OpenAIChatCompletionClient.load_component(config)  # filterwarnings=error: a warning fails here
    try:
        assert loaded.model_info == client.model_info
    finally:
        await loaded.close()


def test_include_name_in_message_must_be_a_bool(make_client: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match="include_name_in_message must be True or False"):
        make_client(include_name_in_message="no")
    with pytest.raises(mp.InvalidRequestError, match="include_name_in_message must be True or False"):
        AzureOpenAIChatCompletionClient(azure_endpoint="https://example.openai.azure.com", azure_deployment="d",
                                        api_version="2024-10-21", api_key=AZURE_KEY, include_name_in_message=None)


@pytest.mark.parametrize("given", [b"redis://localhost:6379/0", 6379, Path("redis.sock")])
def test_redis_store_refuses_a_positional_that_is_neither_url_nor_client(given: Any) -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"RedisStore takes a redis:// URL \(a str\) or a Redis client"):
        RedisStore(given)


async def test_timeout_in_extra_create_args_on_a_client_with_its_own_call_args(server: FakeServer) -> None:
    """Ollama merges a call's create arguments its own way; a call's timeout is still that call's, not refused."""
    client = mp.OllamaChatCompletionClient(
        "llama3", host=server.base_url.removesuffix("/v1"), timeout=60, retry_policy=mp.RetryPolicy(max_retries=0),
        model_info={"vision": False, "function_calling": True, "json_output": True, "family": "llama"},
    )
    try:
        server.add(Reply.hang())
        with pytest.raises(mp.APITimeoutError, match=r"no response within 0.2 s"):
            await client.create(HELLO, extra_create_args={"timeout": 0.2})
        server.add(Reply.hang())
        with pytest.raises(mp.APITimeoutError, match=r"no response within 0.2 s"):
            await collect(client, extra_create_args={"timeout": 0.2})
        result = await client.create(HELLO, extra_create_args={"timeout": 5, "temperature": 0})
    finally:
        await client.close()
    assert result.content and "timeout" not in server.requests[-1].json
    assert server.requests[-1].json["options"] == {"temperature": 0}


@pytest.mark.parametrize("provider", ["autogen_ext.models.anthropic.AnthropicChatCompletionClient",
                                      "autogen_ext.models.ollama.OllamaChatCompletionClient"])
async def test_v1_config_of_a_client_without_message_names_loads_with_include_name_in_message_false(
        provider: str, server: FakeServer) -> None:
    """These wires have no message name field, so include_name_in_message=False asks for what they already do."""
    config = {"model": "llama3.1", "host": server.base_url.removesuffix("/v1")} if "ollama" in provider else {
        "model": "claude-3-5-sonnet-latest", "base_url": server.base_url, "api_key": "sk-ant-compat-1"}
    client = mp.load_component({"provider": provider, "component_type": "model", "version": 1,
                                "component_version": 1, "config": {**config, "include_name_in_message": False}})
    try:
        await client.create([UserMessage(content="Hello", source="alice")])
    finally:
        await client.close()
    assert "name" not in json.dumps(server.requests[0].json["messages"])
