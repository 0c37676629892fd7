# ruff: noqa: F811  (the fixtures imported are parameters of the test)
"""The point-5 property for the Bedrock Converse dialect: over messages in every accepted form, tools, tool choices,
``json_output`` and create arguments (wrong types included), every call either raises ``InvalidRequestError`` with
nothing sent, or sends exactly one valid request and ends with a result or an error from the server's answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from modelport import RetryPolicy
from modelport.providers.bedrock import BedrockChatCompletionClient
from modelport.providers.bedrock import _request as bedrock_request
from modelport.testing import FakeServer

from .bedrock_helpers import ACCESS_KEY, SECRET_KEY, aws_env  # noqa: F401  (fixtures)
from .test_bad_input import check_property
from .test_dialect_properties import EXAMPLES, FOUND, Dialect, dialect_loop, inputs, run_dialect_call  # noqa: F401

valid_bedrock_args = st.fixed_dictionaries({}, optional={
    "max_tokens": st.integers(1, 4096),
    "temperature": st.floats(0, 1),
    "top_p": st.floats(0, 1),
    "stop": st.lists(st.sampled_from(["END", "\n\n"]), max_size=2),
    "thinking": st.sampled_from([{"type": "enabled", "budget_tokens": 1024}, {"type": "disabled"}]),
    "prompt_caching": st.booleans(),
    "additional_model_request_fields": st.fixed_dictionaries({}, optional={"top_k": st.integers(0, 50)}),
})


def make_bedrock_client(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return BedrockChatCompletionClient(model, base_url=server.base_url, region="us-east-1",
                                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, timeout=30.0,
                                       retry_policy=RetryPolicy(max_retries=0), **args)


BEDROCK = Dialect(make_bedrock_client, ("us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                        "anthropic.claude-haiku-4-5-20251001-v1:0"),
                  bedrock_request.CREATE_ARGUMENTS, valid_bedrock_args)


@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
def test_point5_property_bedrock_sends_or_refuses_before_the_network(
    fake_server: FakeServer, dialect_loop: asyncio.AbstractEventLoop, aws_env: Path
) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(call=inputs(BEDROCK))
    @example(call=FOUND[0])
    @example(call=FOUND[1])
    @example(call=FOUND[2])
    @example(call=FOUND[3])
    def one_call(call: Any) -> None:
        fake_server.reset()
        outcome = dialect_loop.run_until_complete(run_dialect_call(fake_server, BEDROCK, call))
        requests = list(fake_server.requests)
        fake_server.reset()
        event(f"bedrock {outcome.stage}: {type(outcome.error).__name__ if outcome.error else 'CreateResult'}, "
              f"{len(requests)} request(s)")
        check_property(outcome, requests)

    one_call()
