"""Cost: figures computed by hand from the shipped table (US dollars per million tokens), and never a guess."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

import modelport as mp
from modelport import ChatCompletionCache, RequestUsage
from modelport.pricing import Price, cost_of, price_for, price_table_info, register_price
from modelport.testing import FakeServer, Reply, completion, usage

from .helpers import HELLO, collect


def test_the_table_says_where_its_prices_come_from_and_when() -> None:
    info = price_table_info()
    assert "LiteLLM" in info["source"] and info["date"] == "2026-11-21"


def test_dated_versions_take_their_model_s_price_and_the_longest_name_wins() -> None:
    assert price_for("gpt-4o-2024-08-06", "openai") == Price(input="2.5", output="10", cached_input="1.25")
    assert price_for("gpt-4o-mini-2024-07-18", "openai") == Price(input="0.15", output="0.6", cached_input="0.075")
    assert price_for("gpt-4o", "azure_openai") == price_for("gpt-4o", "openai")
    assert price_for("llama3.1", "ollama") is None and price_for("gpt-4o", "openai-compatible") is None


@pytest.fixture
def openai(make_client: Any) -> Any:
    """An OpenAI client (priced as OpenAI) whose base_url is the fake server."""
    return make_client(provider="openai")


async def test_a_plain_call(server: FakeServer, openai: Any) -> None:
    server.add(Reply.json(completion("Hi", usage=usage(1000, 500), model="gpt-4o-2024-08-06")))
    result = await openai.create(HELLO)
    # 1,000 x $2.50 + 500 x $10 per million
    assert result.cost == Decimal("0.0075")


async def test_cached_prompt_tokens_at_their_own_rate(server: FakeServer, openai: Any) -> None:
    body = completion("Hi", model="gpt-4o", usage={"prompt_tokens": 1000, "completion_tokens": 500,
                                                    "prompt_tokens_details": {"cached_tokens": 400}})
    server.add(Reply.json(body))
    result = await openai.create(HELLO)
    # 600 fresh x $2.50 + 400 cached x $1.25 + 500 x $10, per million: not the cached tokens twice
    assert result.cost == Decimal("0.007")


async def test_reasoning_tokens_are_priced_as_output(server: FakeServer, make_client: Any) -> None:
    server.add(Reply.json(completion("Hi", model="o3", usage={
        "prompt_tokens": 100, "completion_tokens": 1000, "completion_tokens_details": {"reasoning_tokens": 800}})))
    result = await make_client("o3", provider="openai").create(HELLO)
    # 100 x $2 + 1,000 x $8 (the 800 reasoning tokens are part of the completion, priced once)
    assert result.usage.reasoning_tokens == 800 and result.cost == Decimal("0.0082")


async def test_anthropic_cache_writes_and_reads(server: FakeServer) -> None:
    from modelport.providers.anthropic import AnthropicChatCompletionClient
    from modelport.testing import anthropic_message, anthropic_usage

    client = AnthropicChatCompletionClient("claude-sonnet-4-5", base_url=server.base_url, api_key="sk-ant-test-1")
    server.add(Reply.json(anthropic_message("ok", usage=anthropic_usage(20, 7, cache_read=1000, cache_creation=300))))
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    # 20 fresh x $3 + 1,000 read x $0.30 + 300 written x $3.75 + 7 x $15, per million
    assert result.usage.cache_write_tokens == 300 and result.cost == Decimal("0.00159")


async def test_an_unpriced_model_costs_none_and_a_price_of_yours_applies(server: FakeServer,
                                                                         make_client: Any) -> None:
    server.add(Reply.json(completion("Hi", usage=usage(1000, 1000), model="my-local-model")))
    result = await make_client("my-local-model", model_info={"vision": False, "function_calling": True,
                                                             "json_output": True, "family": "unknown"}).create(HELLO)
    assert result.cost is None
    priced = make_client("my-local-model", prices={"my-local-model": Price(input="1", output="2")},
                         model_info={"vision": False, "function_calling": True, "json_output": True,
                                     "family": "unknown"})
    server.add(Reply.json(completion("Hi", usage=usage(1000, 1000), model="my-local-model")),
               Reply.json(completion("Hi", usage=usage(2000, 0), model="my-local-model")))
    assert (await priced.create(HELLO)).cost == Decimal("0.003")
    assert (await priced.create(HELLO)).cost == Decimal("0.002")
    assert priced.total_cost() == Decimal("0.005")
    loaded = mp.load_component(priced.dump_component())
    assert loaded._prices == priced._prices  # saved in the config


async def test_register_price_applies_to_every_client(server: FakeServer, make_client: Any) -> None:
    register_price("registered-model", Price(input=3, output=3))
    server.add(Reply.json(completion("Hi", usage=usage(500, 500), model="registered-model-v2")))
    result = await make_client("registered-model", model_info={
        "vision": False, "function_calling": True, "json_output": True, "family": "unknown"}).create(HELLO)
    assert result.cost == Decimal("0.003")


async def test_streams_cache_hits_and_events(server: FakeServer, openai: Any,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=mp.EVENT_LOGGER_NAME)
    client = openai
    cache = ChatCompletionCache(client)
    first = await cache.create(HELLO)
    hit = await cache.create(HELLO)
    _, streamed = await collect(client, [mp.UserMessage(content="Again")])
    assert first.cost is not None and first.cost > 0 and hit.cost == 0 and hit.cached
    assert streamed.cost is not None and streamed.cost > 0
    assert client.total_cost() == first.cost + streamed.cost
    costs = [r.msg.kwargs.get("cost") for r in caplog.records if getattr(r.msg, "name", "") in ("LLMCall",
                                                                                                  "LLMStreamEnd")]
    assert str(first.cost) in costs and str(streamed.cost) in costs


def test_bad_prices_are_refused() -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"Price\.input"):
        Price(input="-1", output=1)
    with pytest.raises(mp.InvalidRequestError, match="prices"):
        mp.OpenAIChatCompletionClient(model="gpt-4o", base_url="http://127.0.0.1:9/v1", prices={"m": 5})


def test_cost_of_without_cache_rates_uses_the_input_rate() -> None:
    usage_ = RequestUsage(prompt_tokens=1000, completion_tokens=0, cached_prompt_tokens=500, cache_write_tokens=100)
    assert cost_of(usage_, Price(input=2, output=1)) == Decimal("0.002")


BAD_PRICES = {  # a prices= argument, and the start of the error that names what is wrong in it
    "not a price": ({"m": 5}, "prices['m'] must be a Price (or a dict with input and output), not int"),
    "no output rate": ({"m": {"input": "x"}}, "prices['m'] has no output rate"),
    "a misspelt rate": ({"m": {"inputs": 1}}, "prices['m']['inputs'] is not a rate"),
    "a misspelt cache rate": ({"m": {"input": 1, "output": 2, "cached_inputs": "0.1"}},
                              "prices['m']['cached_inputs'] is not a rate"),
    "a null rate": ({"m": {"input": None, "output": 1}}, "prices['m']: Price.input must be a number"),
    "a rate that is a list": ({"m": {"input": [1], "output": 1}}, "prices['m']: Price.input must be a number"),
    "a rate that is not a number": ({"m": {"input": "1", "output": "x"}}, "prices['m']: Price.output must be a number"),
    "a rate too large to price": ({"m": {"input": "1e999999999", "output": 1}},
                                  "prices['m']: Price.input must be at most 1000000"),
}


@pytest.mark.parametrize(("prices", "told"), list(BAD_PRICES.values()), ids=list(BAD_PRICES))
async def test_a_badly_shaped_prices_argument_is_an_invalid_request_naming_the_model_and_rate(
    server: FakeServer, prices: dict[str, Any], told: str
) -> None:
    with pytest.raises(mp.InvalidRequestError) as in_code:
        mp.OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test", prices=prices)
    config = {"provider": "openai", "config": {"model": "gpt-4o", "base_url": server.base_url, "api_key": "sk-test",
                                               "prices": prices}}
    with pytest.raises(mp.InvalidRequestError) as in_config:
        mp.load_component(config)
    assert str(in_code.value).startswith(told)
    assert str(in_config.value) == f"openai config: {in_code.value}"  # a config is told the same
    assert server.requests == []


def test_a_price_needs_its_input_and_output_rates() -> None:
    with pytest.raises(mp.InvalidRequestError, match=r"^Price\.input must be a number \(or a str of one\), not None"):
        Price(input=None, output=1)


async def test_a_config_may_give_its_rates_as_numbers(server: FakeServer) -> None:
    config = {"provider": "openai", "config": {"model": "my-model", "base_url": server.base_url, "api_key": "sk-test",
                                               "model_info": {"vision": False, "function_calling": True,
                                                              "json_output": True, "family": "unknown"},
                                               "prices": {"my-model": {"input": 1, "output": 2.5}}}}
    client = mp.load_component(config)
    server.add(Reply.json(completion("Hi", usage=usage(1000, 1000), model="my-model")))
    try:
        result = await client.create(HELLO)
    finally:
        await client.close()
    assert result.cost == Decimal("0.0035")  # 1,000 x $1 + 1,000 x $2.50 per million
    assert client.dump_component().config["prices"] == {"my-model": {"input": "1", "output": "2.5"}}
