"""The environment's conventions: OPENAI_BASE_URL with its key, a withheld key that explains itself, and a timeout
error that says how many attempts it made."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

import modelport as mp
from modelport import OpenAIChatCompletionClient, RetryPolicy
from modelport.testing import FakeServer, Reply

from .conftest import API_KEY, RecordingSleep
from .helpers import HELLO


async def test_openai_base_url_is_honoured_with_its_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        assert client.base_url == server.base_url
        assert (await client.create(HELLO)).content == "You said: Hello"
    finally:
        await client.close()
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert client.dump_component().config["api_key_env"] == "OPENAI_API_KEY"


async def test_openai_base_url_without_a_key_serves_a_local_server(server: FakeServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    client = OpenAIChatCompletionClient(model="gpt-4o")
    try:
        await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers


async def test_a_base_url_in_code_gets_no_environment_key_and_a_401_says_so(server: FakeServer,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server.add(Reply.json({"error": {"message": "missing key", "type": "invalid_request_error"}}, status=401))
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, max_retries=0)
    try:
        with pytest.raises(mp.AuthenticationError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    assert "authorization" not in server.requests[0].headers
    assert "api_key_env='OPENAI_API_KEY'" in str(info.value) and API_KEY not in str(info.value)
    sender = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key_env="OPENAI_API_KEY")
    try:
        await sender.create(HELLO)
    finally:
        await sender.close()
    assert server.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_a_timeout_after_retries_says_how_many_attempts(server: FakeServer) -> None:
    server.add(Reply.hang(), Reply.hang())
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, timeout=0.2,
                                        retry_policy=RetryPolicy(max_retries=1, sleep=RecordingSleep()))
    try:
        with pytest.raises(mp.APITimeoutError) as info:
            await client.create(HELLO)
    finally:
        await client.close()
    assert info.value.attempts == 2
    assert "after 2 attempts" in str(info.value) and "deadline=" in str(info.value)




class ForwardProxy:
    """A plain HTTP forward proxy on loopback: it relays each connection to the absolute URL of its first request
    and records the targets it was asked for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.server: asyncio.base_events.Server | None = None
        self.url = ""

    async def __aenter__(self) -> ForwardProxy:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = urlsplit(head.split(b" ")[1].decode())
        self.targets.append(target.geturl())
        upstream_reader, upstream_writer = await asyncio.open_connection(target.hostname, target.port)
        upstream_writer.write(head)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.mark.parametrize("how", ["environment", "argument"])
async def test_requests_go_through_the_proxy(server: FakeServer, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    async with ForwardProxy() as proxy:
        if how == "environment":
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
        else:
            client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY,
                                                proxy=proxy.url)
        try:
            assert (await client.create(HELLO)).content == "You said: Hello"
        finally:
            await client.close()
    assert proxy.targets == [f"{server.base_url}/chat/completions"]


async def test_no_proxy_and_an_empty_proxy_go_direct(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        bypassed = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY)
        direct = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, proxy="")
        try:
            await bypassed.create(HELLO)  # the environment is read at the first request to a host
            monkeypatch.delenv("NO_PROXY")
            await direct.create(HELLO)
        finally:
            await bypassed.close()
            await direct.close()
    assert proxy.targets == [] and len(server.requests) == 2


async def test_a_proxy_password_is_a_secret(server: FakeServer) -> None:
    proxy_url = "http://user:proxy-SECRET-pw@127.0.0.1:9"
    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key=API_KEY, proxy=proxy_url,
                                        max_retries=0)
    try:
        assert "proxy-SECRET-pw" not in repr(vars(client))
        with pytest.raises(mp.InvalidRequestError, match="include_secrets"):
            client.dump_component()
        assert "proxy-SECRET-pw" in client.dump_component(include_secrets=True).model_dump_json()
        with pytest.raises(mp.APIConnectionError) as info:
            await client.create(HELLO)
        assert "proxy-SECRET-pw" not in str(info.value) and "proxy-SECRET-pw" not in repr(info.value.__cause__)
    finally:
        await client.close()


def test_a_proxy_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(mp.InvalidRequestError, match="proxy"):
        OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", proxy="socks5://x:1")


def test_the_sync_quickstart_leaves_nothing_open(server: FakeServer) -> None:
    import subprocess
    import sys

    script = f"""
from modelport import OpenAIChatCompletionClient, UserMessage
with OpenAIChatCompletionClient(model="gpt-4o-mini", base_url={server.base_url!r}) as client:
    print(client.create_sync([UserMessage(content="Why is the sky blue?")]).content)
    for chunk in client.create_stream_sync([UserMessage(content="Write a haiku about rain.")]):
        print(chunk if isinstance(chunk, str) else "", end="", flush=True)
"""
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("You said: Why is the sky blue?") and "Unclosed" not in done.stderr
    assert done.stderr == ""


_USERINFO = ["alice:pw-SECRET-42@", "alice@", ":pw-SECRET-42@"]


def _server_url_client(how: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a client whose server URL is ``url``, given as ``how`` says (an argument or an environment variable)."""
    if how == "base_url":
        OpenAIChatCompletionClient(model="gpt-4o", base_url=url, api_key=API_KEY)
    elif how == "OPENAI_BASE_URL":
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        OpenAIChatCompletionClient(model="gpt-4o", api_key=API_KEY)
    elif how == "anthropic base_url":
        mp.AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=url, api_key=API_KEY)
    elif how == "ANTHROPIC_BASE_URL":
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        mp.AnthropicChatCompletionClient("claude-sonnet-4-5", api_key=API_KEY)
    else:
        if how == "AZURE_OPENAI_ENDPOINT":
            monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", url)
        mp.AzureOpenAIChatCompletionClient(azure_endpoint=url if how == "azure_endpoint" else None,
                                           azure_deployment="gpt-4o", api_version="2024-10-21", api_key=API_KEY)


@pytest.mark.parametrize("userinfo", _USERINFO)
@pytest.mark.parametrize("how", ["base_url", "OPENAI_BASE_URL", "anthropic base_url", "ANTHROPIC_BASE_URL",
                                 "azure_endpoint", "AZURE_OPENAI_ENDPOINT"])
def test_a_server_url_with_a_user_name_or_password_is_refused_naming_the_field_not_the_secret(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, how: str, userinfo: str
) -> None:
    # Before, the client kept the URL: its password showed in the repr and the saved config, and aiohttp turned it
    # into a Basic credential beside the key's header (a raw ValueError at send).
    url = server.base_url.replace("://", "://" + userinfo, 1)
    with pytest.raises(mp.InvalidRequestError) as caught:
        _server_url_client(how, url, monkeypatch)
    message = str(caught.value)
    assert message.startswith(how.split()[-1] + " holds a user name or password")
    assert "api_key" in message and "default_headers" in message
    assert "pw-SECRET-42" not in message and "alice" not in message
    assert server.requests == []


def test_a_saved_config_whose_base_url_has_a_password_is_refused_without_showing_it() -> None:
    from modelport.components import load_component

    config = OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1").dump_component()
    dumped = config.model_dump()
    dumped["config"]["base_url"] = "http://alice:pw-SECRET-42@127.0.0.1:9/v1"
    with pytest.raises(mp.InvalidRequestError, match="base_url holds a user name or password") as caught:
        load_component(dumped)
    assert "pw-SECRET-42" not in str(caught.value)


@pytest.mark.parametrize("how", ["host", "OLLAMA_HOST"])
def test_an_ollama_host_with_a_user_name_or_password_is_refused_naming_the_field_not_the_secret(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # Before, the credentials were dropped from the request but the raw host, password included, was saved in the
    # client's config.
    url = server.base_url.removesuffix("/v1").replace("://", "://alice:pw-SECRET-42@", 1)
    if how == "OLLAMA_HOST":
        monkeypatch.setenv("OLLAMA_HOST", url)
    with pytest.raises(mp.InvalidRequestError) as caught:
        mp.OllamaChatCompletionClient("llama3.1", host=url if how == "host" else None)
    message = str(caught.value)
    assert message.startswith(f"{how} holds a user name or password") and "default_headers" in message
    assert "pw-SECRET-42" not in message and "alice" not in message
    assert server.requests == []


@pytest.mark.parametrize("how", ["base_url", "anthropic base_url", "azure_endpoint", "host"])
def test_a_server_url_of_another_scheme_is_refused_without_showing_its_password(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    url = "ftp://alice:pw-SECRET-42@example.com/v1"
    with pytest.raises(mp.InvalidRequestError) as caught:
        if how == "host":
            mp.OllamaChatCompletionClient("llama3.1", host=url)
        else:
            _server_url_client(how, url, monkeypatch)
    assert "pw-SECRET-42" not in str(caught.value) and "alice" not in str(caught.value)
    assert how.split()[-1] in str(caught.value)
