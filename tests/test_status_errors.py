"""HTTP status codes, error envelopes and the retry policy, over real HTTP (wire-behaviour B1)."""

from __future__ import annotations

from typing import Any

import pytest

import modelport as mp
from modelport.testing import FakeServer, Reply, completion

from .conftest import API_KEY
from .helpers import HELLO, collect

OK = completion("fine", usage={"prompt_tokens": 1, "completion_tokens": 1})


def openai_error(message: str, type_: str = "invalid_request_error", code: Any = None, **extra: Any) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code, **extra}}


async def test_B01_context_length_exceeded_by_code(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(openai_error("This model's maximum context length is 8192 tokens. However, your messages "
                                       "resulted in 8227 tokens.", code="context_length_exceeded"), status=400))
    with pytest.raises(mp.ContextLengthExceededError) as info:
        await client.create(HELLO)
    assert isinstance(info.value, mp.BadRequestError) and info.value.code == "context_length_exceeded"
    assert len(server.requests) == 1


async def test_B01_context_length_exceeded_vllm_top_level_envelope(server: FakeServer, client: Any) -> None:
    server.add(Reply.json({"object": "error", "message": "This model's maximum context length is 4096 tokens.",
                           "type": "BadRequestError", "param": None, "code": 400}, status=400))
    with pytest.raises(mp.ContextLengthExceededError) as info:
        await client.create(HELLO)
    assert info.value.code == "400" and info.value.type == "BadRequestError"


async def test_B02_strict_schema_error_not_retried(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(openai_error("Invalid schema for function 'json_edit_tool': ...",
                                       code="invalid_function_parameters") | {}, status=400))
    server.requests.clear()
    with pytest.raises(mp.BadRequestError):
        await client.create(HELLO)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "cls", "body"), [
    (401, mp.AuthenticationError, openai_error("Incorrect API key provided: sk-...cdef", code="invalid_api_key")),
    (403, mp.PermissionDeniedError, {"error": {"code": "AuthorizationFailed", "message": "network access denied"}}),
    (404, mp.NotFoundError, openai_error("The model `invalid-model-name` does not exist", code="model_not_found")),
    (413, mp.RequestTooLargeError, {"type": "error", "error": {"type": "request_too_large",
                                                               "message": "Request exceeds the maximum size"}}),
    (422, mp.UnprocessableEntityError, {"detail": [{"loc": ["body", "messages", 3, "role"], "msg": "bad role"}]}),
])
async def test_B03_B04_B05_B08_B09_not_retried(server: FakeServer, client: Any, sleeps: Any, status: int,
                                                cls: type, body: Any) -> None:
    server.add(Reply.json(body, status=status))
    with pytest.raises(cls) as info:
        await client.create(HELLO)
    assert info.value.status_code == status and info.value.attempts == 1
    assert len(server.requests) == 1 and sleeps.waits == []


async def test_B03_key_never_in_error_text(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(openai_error("Incorrect API key provided.", code="invalid_api_key"), status=401))
    with pytest.raises(mp.AuthenticationError) as info:
        await client.create(HELLO)
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert API_KEY not in repr(info.value.__dict__)


async def test_B05_azure_deployment_not_found_says_deployment(server: FakeServer, client: Any) -> None:
    server.add(Reply.json({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource "
                                     "does not exist."}}, status=404))
    with pytest.raises(mp.NotFoundError) as info:
        await client.create(HELLO)
    assert "deployment name" in str(info.value) and info.value.code == "DeploymentNotFound"


@pytest.mark.parametrize(("status", "cls"), [(408, mp.RequestTimeoutError), (409, mp.ConflictError),
                                             (500, mp.ServerError), (502, mp.ServerError),
                                             (503, mp.ServerError), (529, mp.OverloadedError)])
async def test_B06_B07_B15_B16_retried_then_raised(server: FakeServer, client: Any, sleeps: Any, status: int,
                                                   cls: type) -> None:
    for _ in range(4):
        server.add(Reply.json(openai_error("busy", "server_error"), status=status))
    with pytest.raises(cls) as info:
        await client.create(HELLO)
    assert len(server.requests) == 4 and info.value.attempts == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]


async def test_B06_retry_then_success(server: FakeServer, client: Any, sleeps: Any) -> None:
    server.add(Reply.json(openai_error("timeout"), status=408), Reply.json(OK))
    result = await client.create(HELLO)
    assert result.content == "fine" and len(server.requests) == 2 and len(sleeps.waits) == 1


async def test_B10_rate_limit_with_retry_after(server: FakeServer, client: Any, sleeps: Any) -> None:
    body = openai_error("Rate limit reached for gpt-4o on tokens per min (TPM)", "tokens", "rate_limit_exceeded")
    server.add(Reply.json(body, status=429, headers={"retry-after": "3"}),
               Reply.json(body, status=429, headers={"retry-after-ms": "1500", "retry-after": "9"}),
               Reply.json(body, status=429, headers={"x-ratelimit-reset-requests": "6s",
                                                      "x-ratelimit-reset-tokens": "1.57s"}),
               Reply.json(OK))
    result = await client.create(HELLO)
    assert result.content == "fine"
    assert sleeps.waits == [3.0, 1.5, 6.0]


async def test_B10_final_rate_limit_error_carries_retry_after(server: FakeServer, make_client: Any) -> None:
    client = make_client(max_retries=0)
    server.add(Reply.json(openai_error("slow down", code="rate_limit_exceeded"), status=429,
                          headers={"retry-after": "7"}))
    with pytest.raises(mp.RateLimitError) as info:
        await client.create(HELLO)
    assert info.value.retry_after == 7.0


async def test_B10_retry_after_beyond_cap_raises_at_once(server: FakeServer, client: Any, sleeps: Any) -> None:
    server.add(Reply.json(openai_error("slow down", code="rate_limit_exceeded"), status=429,
                          headers={"retry-after": "86400"}))
    with pytest.raises(mp.RateLimitError) as info:
        await client.create(HELLO)
    assert info.value.retry_after == 86400.0 and sleeps.waits == [] and len(server.requests) == 1


@pytest.mark.parametrize("body", [
    openai_error("You exceeded your current quota, please check your plan and billing details.",
                 "insufficient_quota", "insufficient_quota"),
    openai_error("Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 30601.",
                 "tokens", "rate_limit_exceeded"),
])
async def test_B11_quota_429_is_never_retried(server: FakeServer, client: Any, sleeps: Any, body: dict) -> None:
    server.add(Reply.json(body, status=429, headers={"retry-after": "1"}))
    with pytest.raises(mp.QuotaExceededError):
        await client.create(HELLO)
    assert len(server.requests) == 1 and sleeps.waits == []


async def test_x_should_retry_overrides_status(server: FakeServer, client: Any, sleeps: Any) -> None:
    server.add(Reply.json(openai_error("no"), status=500, headers={"x-should-retry": "false"}))
    with pytest.raises(mp.ServerError):
        await client.create(HELLO)
    assert len(server.requests) == 1
    server.requests.clear()
    server.add(Reply.json(openai_error("yes"), status=400, headers={"x-should-retry": "true"}), Reply.json(OK))
    assert (await client.create(HELLO)).content == "fine"
    assert len(server.requests) == 2


async def test_max_retries_zero_means_one_attempt(server: FakeServer, make_client: Any) -> None:
    client = make_client(max_retries=0)
    server.add(Reply.json(openai_error("x", "server_error"), status=500))
    with pytest.raises(mp.ServerError):
        await client.create(HELLO)
    assert len(server.requests) == 1


async def test_B15_html_gateway_page_is_summarised(server: FakeServer, make_client: Any) -> None:
    page = ("<html><head><title>502 Bad Gateway</title></head><body>cloudflare<br>Your IP address: 203.0.113.9"
            "</body></html>")
    client = make_client(max_retries=0)
    server.add(Reply.text(page, status=502, content_type="text/html"))
    with pytest.raises(mp.ServerError) as info:
        await client.create(HELLO)
    assert "502 Bad Gateway" in str(info.value) and "203.0.113.9" not in str(info.value)
    assert "203.0.113.9" in info.value.body  # kept on the exception, not printed


ZOO = [
    ({"error": {"message": "m1", "type": "t1", "param": "p1", "code": "c1"}}, "m1", "t1", "c1"),
    ({"object": "error", "message": "m2", "type": "BadRequestError", "param": None, "code": 400}, "m2",
     "BadRequestError", "400"),
    ({"error": {"message": "m3", "type": "BadRequestError", "param": None, "code": 400}}, "m3", "BadRequestError",
     "400"),
    ({"object": "error", "message": "m4", "type": "invalid_request_error", "code": None}, "m4",
     "invalid_request_error", None),
    ([{"error": {"code": 400, "message": "m5", "status": "INVALID_ARGUMENT", "details": []}}], "m5", None, "400"),
    ({"error": {"code": "429", "message": "m6"}}, "m6", None, "429"),
    ({"type": "error", "error": {"type": "invalid_request_error", "message": "m7"}, "request_id": "req_x"}, "m7",
     "invalid_request_error", None),
    ({"error": "model 'qwen2.5-coder' not found"}, "model 'qwen2.5-coder' not found", None, None),
    ({"error": {"message": 'model "x" not found, try pulling it first', "type": "api_error"}},
     'model "x" not found, try pulling it first', "api_error", None),
]


@pytest.mark.parametrize(("body", "message", "type_", "code"), ZOO)
async def test_B17_error_envelope_zoo(server: FakeServer, client: Any, body: Any, message: str, type_: Any,
                                      code: Any) -> None:
    server.add(Reply.json(body, status=400, headers={"x-request-id": "req_abc"}))
    with pytest.raises(mp.BadRequestError) as info:
        await client.create(HELLO)
    err = info.value
    assert message in str(err) and err.type == type_ and err.code == code
    assert err.request_id == "req_abc" and err.body == body


async def test_B17_empty_error_body(server: FakeServer, client: Any) -> None:
    server.add(Reply.text(b"", status=400, content_type="application/json"))
    with pytest.raises(mp.BadRequestError) as info:
        await client.create(HELLO)
    assert "400" in str(info.value)


async def test_B18_groq_tool_use_failed(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(openai_error("Failed to call a function. Please adjust your prompt.", code="tool_use_failed",
                                       failed_generation="<function=read={\"file_path\": \"a.txt\"}</function>"),
                          status=400))
    with pytest.raises(mp.BadRequestError) as info:
        await client.create(HELLO)
    assert info.value.code == "tool_use_failed" and "function=read" in (info.value.failed_generation or "")
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [
    {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0,
                                                                                     "finish_reason": "stop"}]},
    {"choices": None},
])
async def test_B20_schema_violating_200(server: FakeServer, client: Any, body: Any) -> None:
    server.add(Reply.json(body))
    with pytest.raises(mp.ResponseValidationError):
        await client.create(HELLO)


async def test_B20_200_that_is_not_json(server: FakeServer, client: Any) -> None:
    server.add(Reply.text("<html>hello</html>", content_type="text/html"))
    with pytest.raises(mp.ResponseValidationError):
        await client.create(HELLO)


async def test_B20_usage_without_completion_tokens_is_unknown(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion("x", usage={"prompt_tokens": 3})))
    result = await client.create(HELLO)
    assert result.usage_reported is False and result.usage.prompt_tokens == 3


async def test_B88_azure_prompt_filter(server: FakeServer, client: Any) -> None:
    server.add(Reply.json({"error": {"message": "The response was filtered due to the prompt triggering Azure "
                                     "OpenAI's content management policy.", "code": "content_filter",
                                     "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                                         "jailbreak": {"detected": True, "filtered": True}}}}}, status=400))
    with pytest.raises(mp.ContentFilterError) as info:
        await client.create(HELLO)
    assert info.value.stage == "prompt" and info.value.filter_results["jailbreak"]["filtered"] is True
    assert len(server.requests) == 1


async def test_B87_non_stream_content_filter_without_content(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(completion(None, finish_reason="content_filter")))
    with pytest.raises(mp.ContentFilterError) as info:
        await client.create(HELLO)
    assert info.value.stage == "completion"


async def test_B28_stream_retried_when_error_status_before_body(server: FakeServer, client: Any) -> None:
    server.add(Reply.json(openai_error("overloaded", "server_error"), status=503))
    _deltas, result = await collect(client)
    assert result.content == "You said: Hello" and len(server.requests) == 2
