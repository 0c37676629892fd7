# ruff: noqa: F811  (the fixtures imported from bedrock_helpers are parameters of the tests)
"""Bedrock's credentials over real HTTP: SigV4 equal to botocore's for the same request, credentials and time,
signed afresh on every attempt; the order credentials are looked for in; regions; nothing secret in a repr, an
error or a saved config."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from modelport import AuthenticationError, InvalidRequestError, RetryPolicy, UserMessage
from modelport.components import ComponentConfigError, load_component
from modelport.providers.bedrock import BedrockChatCompletionClient
from modelport.testing import FakeServer, RecordedRequest, Reply
from modelport.testing._bedrock import bedrock_error

from .bedrock_helpers import ACCESS_KEY, MODEL, SECRET_KEY, aws_env, make_bedrock  # noqa: F401  (fixtures)
from .conftest import RecordingSleep
from .test_environment import ForwardProxy

HELLO = [UserMessage(content="Hello", source="user")]
TOKEN = "FwoGZXIvYXdzEXAMPLE-SESSION-TOKEN-0123456789"


def botocore_authorization(
    request: RecordedRequest, server: FakeServer, *, access: str, secret: str, token: str | None, region: str
) -> str:
    """The Authorization header botocore's SigV4Auth computes for the recorded request, at the time it was signed."""
    headers = {name: value for name, value in request.headers.items() if name not in ("authorization", "x-amz-date",
                                                                                        "x-amz-security-token")}
    for name in ("content-length", "accept-encoding"):  # added by the HTTP client after signing, not signed
        headers.pop(name, None)
    url = f"http://{server.host}:{server.port}{request.path}"
    aws = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    auth = SigV4Auth(Credentials(access, secret, token), "bedrock", region)
    aws.context["timestamp"] = request.headers["x-amz-date"]
    auth._modify_request_before_signing(aws)
    canonical = auth.canonical_request(aws)
    signature = auth.signature(auth.string_to_sign(aws, canonical), aws)
    auth._inject_signature_to_request(aws, signature)
    return str(aws.headers["Authorization"])


async def test_the_signature_equals_botocores_for_the_same_request_credentials_and_time(
    server: FakeServer, make_bedrock: Any
) -> None:
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu." + MODEL.removeprefix("us.")
    client = make_bedrock(arn, region="eu-west-1", aws_session_token=TOKEN)
    await client.create(HELLO)
    async with client.create_stream(HELLO) as stream:
        async for _ in stream:
            pass
    for request in server.requests:
        assert request.headers["x-amz-security-token"] == TOKEN
        expected = botocore_authorization(
            request, server, access=ACCESS_KEY, secret=SECRET_KEY, token=TOKEN, region="eu-west-1"
        )
        assert request.headers["authorization"] == expected
        assert "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token," in expected


async def test_a_retry_is_signed_afresh(server: FakeServer, sleeps: RecordingSleep, aws_env: Path) -> None:
    moments = iter([1_767_225_600.0 + 61 * step for step in range(10)])  # each attempt a minute later
    policy = RetryPolicy(max_retries=2, sleep=sleeps, random=lambda: 0.0, clock=lambda: next(moments))
    client = BedrockChatCompletionClient(
        MODEL, region="us-east-1", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        base_url=server.base_url, retry_policy=policy,
    )
    server.add(bedrock_error(503, "ServiceUnavailableException", "try again"))
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    assert result.content == "You said: Hello"
    first, second = server.requests
    assert first.body == second.body
    assert first.headers["x-amz-date"] != second.headers["x-amz-date"]
    assert first.headers["authorization"] != second.headers["authorization"]
    for request in (first, second):
        expected = botocore_authorization(
            request, server, access=ACCESS_KEY, secret=SECRET_KEY, token=None, region="us-east-1"
        )
        assert request.headers["authorization"] == expected


async def test_a_bedrock_api_key_is_sent_as_a_bearer_token_and_nothing_is_signed(
    server: FakeServer, make_bedrock: Any
) -> None:
    await make_bedrock(api_key="bedrock-api-key-ABCDEF0123456789").create(HELLO)
    headers = server.requests[-1].headers
    assert headers["authorization"] == "Bearer bedrock-api-key-ABCDEF0123456789"
    assert "x-amz-date" not in headers


def _client(server: FakeServer, **kwargs: Any) -> BedrockChatCompletionClient:
    return BedrockChatCompletionClient(MODEL, **kwargs)


async def test_environment_credentials_in_order_go_to_the_environments_endpoint(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"http://{server.host}:{server.port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", root)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    (aws_env / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
    )
    sources = []
    for step in ("files", "keys", "bearer"):
        if step == "keys":
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret-0123456789")
        if step == "bearer":
            monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
        client = BedrockChatCompletionClient(MODEL)
        await client.create(HELLO)
        await client.close()
        sources.append(client.credential_source)
        authorization = server.requests[-1].headers["authorization"]
        assert server.requests[-1].path.startswith("/model/")
        assert ("AKIDFILE" in authorization, "AKIDENV" in authorization, "Bearer" in authorization) == (
            step == "files", step == "keys", step == "bearer"
        )
        assert "/us-west-2/bedrock/" in authorization or step == "bearer"
    assert sources == ["profile default", "environment", "AWS_BEARER_TOKEN_BEDROCK"]


async def test_a_named_profile_gives_credentials_and_region(server: FakeServer, aws_env: Path) -> None:
    (aws_env / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = x0123456789\n"
        "[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = worksecret0123\naws_session_token = wtok\n"
    )
    (aws_env / "config").write_text("[default]\nregion = us-east-1\n[profile work]\nregion = ap-south-1\n")
    client = BedrockChatCompletionClient(MODEL, profile="work", base_url=server.base_url)
    await client.create(HELLO)
    await client.close()
    headers = server.requests[-1].headers
    assert client.region == "ap-south-1" and client.credential_source == "profile work"
    assert "Credential=AKIDWORK/" in headers["authorization"] and "/ap-south-1/bedrock/" in headers["authorization"]
    assert headers["x-amz-security-token"] == "wtok"


def test_the_region_comes_from_the_argument_then_the_environment_then_the_profile(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (aws_env / "config").write_text("[default]\nregion = eu-north-1\n")
    keys = {"aws_access_key_id": "AKIDX", "aws_secret_access_key": "secret0123456789"}
    assert BedrockChatCompletionClient(MODEL, **keys).base_url == "https://bedrock-runtime.eu-north-1.amazonaws.com"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert BedrockChatCompletionClient(MODEL, **keys).region == "eu-west-3"
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    assert BedrockChatCompletionClient(MODEL, **keys).region == "us-east-2"
    client = BedrockChatCompletionClient(MODEL, region="cn-north-1", **keys)
    assert client.base_url == "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"


def test_without_a_region_or_credentials_the_client_says_so(aws_env: Path) -> None:
    with pytest.raises(InvalidRequestError, match="region"):
        BedrockChatCompletionClient(MODEL, aws_access_key_id="AKIDX", aws_secret_access_key="s0123456789")
    with pytest.raises(InvalidRequestError, match="no AWS credentials"):
        BedrockChatCompletionClient(MODEL, region="us-east-1")
    with pytest.raises(InvalidRequestError, match="secret access key is missing"):
        BedrockChatCompletionClient(MODEL, region="us-east-1", aws_access_key_id="AKIDX")


async def test_environment_credentials_do_not_go_to_a_base_url_given_in_code(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret-0123456789")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
    server.add(bedrock_error(403, "UnrecognizedClientException", "The security token included is invalid."))
    client = BedrockChatCompletionClient(MODEL, region="us-east-1", base_url=server.base_url, max_retries=0)
    with pytest.raises(AuthenticationError, match="AWS_BEARER_TOKEN_BEDROCK is set"):
        await client.create(HELLO)
    await client.close()
    assert "authorization" not in server.requests[-1].headers


async def test_no_secret_in_a_repr_an_error_or_a_saved_config(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock(aws_session_token=TOKEN, max_retries=0)
    server.add(Reply.json({"message": f"echo {SECRET_KEY} {TOKEN}"}, status=400,
                          headers={"x-amzn-ErrorType": "ValidationException"}))
    with pytest.raises(Exception) as caught:
        await client.create(HELLO)
    shown = f"{caught.value} {caught.value!r} {getattr(caught.value, 'body', '')} {client!r}"
    assert SECRET_KEY not in shown and TOKEN not in shown and "Signature=" not in shown
    saved = client.dump_component()
    text = json.dumps(saved.model_dump(mode="json"))
    assert SECRET_KEY not in text and TOKEN not in text and ACCESS_KEY not in text
    full = json.dumps(client.dump_component(include_secrets=True).model_dump(mode="json"))
    assert SECRET_KEY in full and TOKEN in full


async def test_a_saved_config_loads_into_the_same_client(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret-0123456789")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://{server.host}:{server.port}")
    client = BedrockChatCompletionClient(MODEL, region="us-west-2", temperature=0.3, max_tokens=100)
    config = client.dump_component()
    assert config.provider == "bedrock"
    assert config.config["region"] == "us-west-2" and config.config["temperature"] == 0.3
    loaded = load_component(config.model_dump(mode="json"))
    assert isinstance(loaded, BedrockChatCompletionClient)
    await loaded.create(HELLO)
    await client.close()
    await loaded.close()
    assert server.requests[-1].json["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.3}
    assert "Credential=AKIDENV/" in server.requests[-1].headers["authorization"]


async def test_list_models_reads_list_foundation_models_signed(server: FakeServer, make_bedrock: Any) -> None:
    client = make_bedrock()
    listings = await client.list_models()
    assert [(m.id, m.owned_by) for m in listings][:2] == [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "Anthropic"),
        ("amazon.nova-pro-v1:0", "Amazon"),
    ]
    request = server.requests[-1]
    assert (request.method, request.path) == ("GET", "/foundation-models")
    expected = botocore_authorization(request, server, access=ACCESS_KEY, secret=SECRET_KEY, token=None,
                                      region="us-east-1")
    assert request.headers["authorization"] == expected


async def test_botocores_chain_gives_credentials_and_refreshes_them_before_expiry(
    server: FakeServer, aws_env: Path
) -> None:
    """A profile whose credentials come from a ``credential_process`` (as SSO and role tools give them) is read
    through botocore's chain; credentials about to expire are fetched again before the next request is signed."""
    pytest.importorskip("botocore")
    counter = aws_env / "count"
    script = aws_env / "creds.py"
    script.write_text(
        "import json, pathlib, datetime\n"
        f"path = pathlib.Path({str(counter)!r})\n"
        "n = int(path.read_text()) + 1 if path.exists() else 1\n"
        "path.write_text(str(n))\n"
        "soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'AKIDPROC{n}', 'SecretAccessKey': f'procsecret{n}',\n"
        "                  'SessionToken': f'proctoken{n}', 'Expiration': soon.isoformat()}))\n"
    )
    (aws_env / "config").write_text(
        f"[profile tool]\nregion = us-east-2\ncredential_process = {sys.executable} {script}\n"
    )
    client = BedrockChatCompletionClient(MODEL, profile="tool", base_url=server.base_url)
    try:
        await client.create(HELLO)
        await client.create(HELLO)
    finally:
        await client.close()
    assert client.credential_source == "botocore (tool)"
    signed = []
    for request in server.requests:
        number = request.headers["x-amz-security-token"].removeprefix("proctoken")
        assert f"Credential=AKIDPROC{number}/" in request.headers["authorization"]
        assert "/us-east-2/bedrock/" in request.headers["authorization"]
        expected = botocore_authorization(request, server, access=f"AKIDPROC{number}", secret=f"procsecret{number}",
                                          token=f"proctoken{number}", region="us-east-2")
        assert request.headers["authorization"] == expected
        signed.append(number)
    assert signed[0] != signed[1]  # five minutes from expiry is within botocore's refresh window: fetched again


def test_a_loaded_config_cannot_send_the_environments_keys_to_its_own_host(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config is data: ``api_key_env`` naming another variable, or a ``profile`` beside a ``base_url`` of its
    author's, is refused when it is loaded."""
    monkeypatch.setenv("MY_SECRET", "not-for-strangers-0123456789")
    (aws_env / "credentials").write_text("[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s0123456789\n")
    base = {"model": MODEL, "region": "us-east-1", "base_url": "https://attacker.example/"}
    with pytest.raises(ComponentConfigError, match="MY_SECRET"):
        load_component({"provider": "bedrock", "config": {**base, "api_key_env": "MY_SECRET"}})
    with pytest.raises(ComponentConfigError, match="profile"):
        load_component({"provider": "bedrock", "config": {**base, "profile": "work"}})
    allowed = load_component({"provider": "bedrock", "config": {**base, "api_key_env": "MY_SECRET"}},
                             allow_env=["MY_SECRET"])
    assert isinstance(allowed, BedrockChatCompletionClient) and allowed.credential_source == "api_key"


@pytest.mark.parametrize("source", ["keys", "bearer", "files"])
async def test_a_loaded_config_sends_no_environment_credentials_through_a_proxy_that_could_read_them(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """The endpoint is the environment's own (plain HTTP), but the proxy is the config's: it would read the signed
    request's session token, or the bearer key itself. Loading refuses unless the caller allows the variable; a
    client made in code with that proxy still sends them (the caller chose the proxy)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://{server.host}:{server.port}")
    if source == "keys":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret-0123456789")
        monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
        variable = "AWS_ACCESS_KEY_ID"
    elif source == "bearer":
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
        variable = "AWS_BEARER_TOKEN_BEDROCK"
    else:
        (aws_env / "credentials").write_text("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s0123\n")
        variable = "AWS_SHARED_CREDENTIALS_FILE"
    async with ForwardProxy() as proxy:
        config = {"provider": "bedrock", "config": {"model": MODEL, "region": "us-east-1", "proxy": proxy.url}}
        with pytest.raises(ComponentConfigError, match=variable):
            load_component(config)
        assert proxy.targets == [] and server.requests == []
        allowed = load_component(config, allow_env=[variable])
        in_code = BedrockChatCompletionClient(MODEL, region="us-east-1", proxy=proxy.url)
        for client in (allowed, in_code):
            await client.create(HELLO)
            await client.close()
    assert len(proxy.targets) == 2 and len(server.requests) == 2
    assert all(request.headers["authorization"] for request in server.requests)


async def test_a_loaded_config_does_not_sign_with_the_default_shared_files_through_a_proxy_that_could_read_it(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared files where they are by default (``~/.aws``, no AWS_SHARED_CREDENTIALS_FILE set) are the
    environment's credentials too: a loaded config's readable proxy does not see the signed request and its session
    token unless the caller allows them by that variable's name."""
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE")
    monkeypatch.delenv("AWS_CONFIG_FILE")
    monkeypatch.setenv("HOME", str(aws_env))
    (aws_env / ".aws").mkdir()
    (aws_env / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = s0123\naws_session_token = {TOKEN}\n"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://{server.host}:{server.port}")
    async with ForwardProxy() as proxy:
        config = {"provider": "bedrock", "config": {"model": MODEL, "region": "us-east-1", "proxy": proxy.url}}
        with pytest.raises(ComponentConfigError, match="AWS_SHARED_CREDENTIALS_FILE"):
            client = load_component(config)
            await client.create(HELLO)
            await client.close()
        assert proxy.targets == [] and server.requests == []
        allowed = load_component(config, allow_env=["AWS_SHARED_CREDENTIALS_FILE"])
        await allowed.create(HELLO)
        await allowed.close()
    assert "Credential=AKIDHOME/" in server.requests[-1].headers["authorization"]


async def test_a_loaded_configs_profile_does_not_sign_through_its_proxy_that_could_read_it(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://{server.host}:{server.port}")
    (aws_env / "credentials").write_text("[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s0123456789\n")
    async with ForwardProxy() as proxy:
        config = {"model": MODEL, "region": "us-east-1", "profile": "work"}
        with pytest.raises(ComponentConfigError, match="profile"):
            load_component({"provider": "bedrock", "config": {**config, "proxy": proxy.url}})
        direct = load_component({"provider": "bedrock", "config": config})
        await direct.create(HELLO)
        await direct.close()
    assert proxy.targets == [] and "Credential=AKIDWORK/" in server.requests[-1].headers["authorization"]


@pytest.mark.parametrize("host", [
    "abc123defg.execute-api.us-east-1.amazonaws.com",  # anyone's API Gateway
    "bedrock-runtime.s3.amazonaws.com",  # anyone's S3 bucket named bedrock-runtime
    "bedrock-runtime.s3-us-west-2.amazonaws.com",
    "my-alb-123.us-east-1.elb.amazonaws.com",
])
async def test_environment_credentials_go_to_bedrocks_hosts_not_any_host_under_amazonaws_com(
    server: FakeServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """Anyone can serve https under amazonaws.com (API Gateway, S3 buckets, load balancers): the environment's API
    key, sent as a bearer token, would be theirs to keep. Only Bedrock's own hosts receive what the environment
    holds; a client for Bedrock's host still does."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
    stranger = BedrockChatCompletionClient(MODEL, region="us-east-1", base_url=f"https://{host}")
    loaded = load_component({"provider": "bedrock", "config": {"model": MODEL, "region": "us-east-1",
                                                               "base_url": f"https://{host}/"}})
    assert (stranger.credential_source, loaded.credential_source) == ("none", "none")
    for name in ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
                 "vpce-0a1b2c-3d4e.bedrock-runtime.eu-west-1.vpce.amazonaws.com",
                 "bedrock-runtime.cn-north-1.amazonaws.com.cn"):
        own = BedrockChatCompletionClient(MODEL, region="us-east-1", base_url=f"https://{name}")
        assert own.credential_source == "AWS_BEARER_TOKEN_BEDROCK", name
        await own.close()
    await stranger.close()
    await loaded.close()


@pytest.mark.parametrize("region", ["s3", "s3-us-west-2", "execute-api"])
async def test_a_region_naming_another_service_s_host_gets_no_environment_credentials(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    """A region is one DNS label, so ``region: s3`` in a config makes the default endpoint
    ``bedrock-runtime.s3.amazonaws.com``: the S3 bucket named bedrock-runtime, anyone's. The default endpoint is
    trusted with the environment's credentials only when it is one of Bedrock's own hosts."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
    async with ForwardProxy() as proxy:
        try:
            client = load_component({"provider": "bedrock", "config": {"model": MODEL, "region": region,
                                                                       "proxy": proxy.url, "max_retries": 0}})
        except ComponentConfigError as refused:
            assert "region" in str(refused) and "bearer-from-env" not in str(refused)
        else:
            async with client:
                assert client.credential_source == "none"
                with pytest.raises(AuthenticationError):
                    await client.create(HELLO)
        assert proxy.targets == []


async def test_a_loaded_configs_profile_does_not_sign_for_a_region_naming_another_service_s_host(
    aws_env: Path
) -> None:
    (aws_env / "credentials").write_text(
        f"[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s0123456789\naws_session_token = {TOKEN}\n"
    )
    async with ForwardProxy() as proxy:
        config = {"model": MODEL, "region": "s3", "profile": "work", "proxy": proxy.url, "max_retries": 0}
        with pytest.raises(ComponentConfigError, match="profile"):
            client = load_component({"provider": "bedrock", "config": config})
            async with client:
                await client.create(HELLO)
        assert proxy.targets == []


@pytest.mark.parametrize("region", ["attacker.example#", "x@attacker.example/", "us-east-1.attacker.example?", " "])
def test_a_region_that_is_not_a_region_name_is_refused_before_it_becomes_a_host(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    """The region is written into Bedrock's host name, which receives the environment's credentials: a config's
    ``region`` of ``x@attacker.example/`` made the host ``attacker.example``."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-from-env-0123456789")
    with pytest.raises(InvalidRequestError, match="region"):
        BedrockChatCompletionClient(MODEL, region=region)
    with pytest.raises(ComponentConfigError, match="region"):
        load_component({"provider": "bedrock", "config": {"model": MODEL, "region": region}})
    monkeypatch.setenv("AWS_REGION", region)
    with pytest.raises(InvalidRequestError, match="AWS_REGION"):
        BedrockChatCompletionClient(MODEL)
