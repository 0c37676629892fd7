"""What the Bedrock tests share: an environment without the machine's AWS settings, and clients pointed at the
fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from modelport import RetryPolicy
from modelport.providers.bedrock import BedrockChatCompletionClient
from modelport.testing import FakeServer

from .conftest import RecordingSleep

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ACCESS_KEY = "AKIDEXAMPLE0123456789"
SECRET_KEY = "wJalrXUtnFEMI-SECRET-K7MDENG-bPxRfiCY"
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS variables of this machine; shared files in ``tmp_path`` (absent until a test writes them); no
    instance metadata. Returns the directory of the shared files."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


@pytest.fixture
async def make_bedrock(
    server: FakeServer, sleeps: RecordingSleep, aws_env: Path
) -> AsyncIterator[Any]:
    made: list[BedrockChatCompletionClient] = []

    def make(model: str = MODEL, **kwargs: Any) -> BedrockChatCompletionClient:
        kwargs.setdefault("base_url", server.base_url)
        kwargs.setdefault("region", "us-east-1")
        if "api_key" not in kwargs and "profile" not in kwargs:
            kwargs.setdefault("aws_access_key_id", ACCESS_KEY)
            kwargs.setdefault("aws_secret_access_key", SECRET_KEY)
        kwargs.setdefault(
            "retry_policy",
            RetryPolicy(max_retries=kwargs.pop("max_retries", 3), sleep=sleeps, random=lambda: 0.0),
        )
        client = BedrockChatCompletionClient(model, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
