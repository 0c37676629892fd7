"""Point 5: a hypothesis property per wire dialect (OpenAI chat, Azure, Anthropic, Gemini, Ollama) over messages in
every accepted form (modelport's, OpenAI dicts, AutoGen's objects), tools (``FunctionTool``, ``ToolSchema``, OpenAI's
``{"type": "function", ...}``), tool choices, ``json_output`` and create arguments (per call and on the client),
wrong types included: every call either raises ``InvalidRequestError`` with nothing in the fake server's request log,
or sends exactly one valid request and ends with a result or an error from the server's answer. Nothing else.

Deterministic (``derandomize=True``, no example database) and bounded: ``EXAMPLES`` calls per dialect (60, about
2 s each alone; ``MODELPORT_PROPERTY_EXAMPLES=2000`` searches harder), after the calls it once found failing
(``FOUND``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import modelport as mp
from modelport import (
    AnthropicChatCompletionClient,
    AssistantMessage,
    AzureOpenAIChatCompletionClient,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    GeminiChatCompletionClient,
    OllamaChatCompletionClient,
    OpenAIChatCompletionClient,
    RetryPolicy,
)
from modelport.providers.anthropic import _request as anthropic_request
from modelport.providers.gemini import _request as gemini_request
from modelport.providers.ollama import _request as ollama_wire
from modelport.providers.openai import _request as openai_wire
from modelport.testing import FakeServer

from .test_bad_input import (
    INF,
    NAN,
    PNG_B64,
    TIME,
    WEATHER,
    Make,
    Outcome,
    _consume,
    _fingerprint,
    _settle,
    any_json_outputs,
    any_messages,
    any_schemas,
    any_tool_choices,
    argument_values,
    check_property,
    exchanges,
    names,
    plain_texts,
    realize,
    single_messages,
    texts,
    valid_create_args,
    valid_images,
    valid_json_outputs,
    valid_names,
    valid_schemas,
    values,
)

EXAMPLES = int(os.environ.get("MODELPORT_PROPERTY_EXAMPLES", "60"))
KEY = "sk-test-dialects-0123456789abcdef"
DATA_URL = f"data:image/png;base64,{PNG_B64}"

# -- messages in every form --

_call_ids = st.sampled_from(["call_1", "call_2"])


@st.composite
def openai_exchange(draw: st.DrawFn, valid: bool) -> list[Any]:
    """An OpenAI ``assistant`` dict with ``tool_calls`` and the ``tool`` dicts answering them."""
    ids = draw(st.lists(_call_ids, min_size=1, max_size=2, unique=True))
    arguments = st.sampled_from(['{"city": "Paris"}', "{}"]) if valid else st.one_of(texts, values)
    calls = [{"id": i, "type": "function", "function": {"name": draw(valid_names if valid else names),
                                                          "arguments": draw(arguments)}} for i in ids]
    assistant: dict[str, Any] = {"role": "assistant", "content": draw(st.one_of(st.none(), plain_texts)),
                                 "tool_calls": calls}
    answers = [{"role": "tool", "tool_call_id": i, "content": draw(plain_texts if valid else st.one_of(texts, values))}
               for i in ids]
    return [assistant, *answers]


anthropic_blocks = st.lists(st.one_of(
    st.sampled_from([{"type": "thinking", "thinking": "hmm", "signature": "fake-signature-0"},
                     {"type": "redacted_thinking", "data": "abc"}, {"type": "text", "text": "Let me look."}]),
    st.dictionaries(st.one_of(st.just("type"), texts), values, max_size=3),
), max_size=2)
provider_fields = st.one_of(
    st.none(),
    st.fixed_dictionaries({"anthropic_content": st.one_of(anthropic_blocks, values)}),
    st.fixed_dictionaries({"extra_content": st.one_of(st.just({"google": {"thought_signature": "c2ln"}}), values)}),
)


@st.composite
def carried_exchange(draw: st.DrawFn, valid: bool) -> list[Any]:
    """modelport's tool turn carrying a provider's data back (Anthropic's thinking blocks, Gemini's signature), and
    its results (some marked as errors)."""
    call = FunctionCall(id="call_9", name="get_weather", arguments='{"city": "Paris"}',
                        provider_fields=draw(provider_fields if not valid else st.sampled_from([
                            None, {"anthropic_content": [{"type": "thinking", "thinking": "hmm",
                                                          "signature": "fake-signature-0"}]}])))
    result = FunctionExecutionResult(content=draw(plain_texts), name="get_weather", call_id="call_9",
                                     is_error=draw(st.sampled_from([None, True, False])))
    return [AssistantMessage(content=[call], thought=draw(st.one_of(st.none(), plain_texts))),
            FunctionExecutionResultMessage(content=[result])]


openai_parts = st.one_of(
    plain_texts.map(lambda t: {"type": "text", "text": t}),
    st.sampled_from([{"type": "image_url", "image_url": {"url": DATA_URL}},
                     {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]),
)
valid_openai_dicts = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": plain_texts}),
    st.fixed_dictionaries({"role": st.just("user"),
                           "content": st.one_of(plain_texts, st.lists(openai_parts, min_size=1, max_size=2))},
                          optional={"name": st.sampled_from(["alice", "bob"])}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": plain_texts},
                          optional={"reasoning_content": plain_texts}),
)
any_openai_dicts = st.one_of(
    valid_openai_dicts,
    st.fixed_dictionaries(
        {"role": st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]), texts,
                           values)},
        optional={"content": st.one_of(texts, values, st.lists(st.one_of(openai_parts, values), max_size=2)),
                  "name": st.one_of(texts, values), "tool_calls": st.one_of(values, st.lists(values, max_size=2)),
                  "tool_call_id": st.one_of(texts, values), "reasoning_content": values},
    ),
)


def autogen_messages() -> st.SearchStrategy[Any]:
    """AutoGen's message objects, built inside the test (their own validation counts as a refusal)."""
    try:
        from autogen_core import models as agm
    except ImportError:  # pragma: no cover - autogen-core is a dev dependency
        return st.nothing()
    return st.one_of(
        st.builds(lambda t: Make("agm.SystemMessage", agm.SystemMessage, {"content": t}), plain_texts),
        st.builds(lambda t: Make("agm.UserMessage", agm.UserMessage, {"content": t, "source": "user"}), plain_texts),
        st.builds(lambda t: Make("agm.AssistantMessage", agm.AssistantMessage, {"content": t, "source": "a"}),
                  plain_texts),
    )


valid_groups = st.one_of(
    single_messages(plain_texts, valid_images).map(lambda m: [m]),
    exchanges(valid=True),
    valid_openai_dicts.map(lambda m: [m]),
    openai_exchange(valid=True),
    carried_exchange(valid=True),
    autogen_messages().map(lambda m: [m]),
)
any_groups = st.one_of(valid_groups, any_openai_dicts.map(lambda m: [m]), openai_exchange(valid=False),
                       exchanges(valid=False), carried_exchange(valid=False))


def flat(groups: list[list[Any]]) -> list[Any]:
    return [message for group in groups for message in group]


valid_message_lists = st.lists(valid_groups, min_size=1, max_size=4).map(flat)
any_message_lists = st.one_of(st.lists(any_groups, min_size=1, max_size=4).map(flat), any_messages)

# -- tools and tool choices in every form --

valid_tool_lists = st.one_of(
    st.just(()),
    st.lists(st.one_of(valid_schemas, valid_schemas.map(lambda s: {"type": "function", "function": s}),
                       st.sampled_from([WEATHER, TIME])),
             min_size=1, max_size=2,
             unique_by=lambda t: (t.get("function", t)["name"] if isinstance(t, dict) else t.name)),
)
any_tool_lists = st.one_of(
    valid_tool_lists,
    st.lists(st.one_of(any_schemas, st.fixed_dictionaries({"type": st.one_of(st.just("function"), texts)},
                                                          optional={"function": st.one_of(any_schemas, values)}),
                       st.just(WEATHER), values), min_size=1, max_size=2),
    st.one_of(st.none(), any_schemas, texts),
)
valid_choices = st.sampled_from(["auto", None, "none"])
any_choices = st.one_of(
    any_tool_choices,
    st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries({"name": names})}),
    st.fixed_dictionaries({"type": st.sampled_from(["tool", "any", "auto", "none"])},
                          optional={"name": names}),
)

# -- create arguments, per dialect --


def wrong_args(known: frozenset[str], *, client: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments the dialect knows with values of any type, and a few it does not know or refuses (not ``model``
    for a client: Python itself refuses it twice)."""
    others = ["n", "stream", "messages", "bogus"] if client else ["n", "model", "stream", "messages", "bogus"]
    keys = st.one_of(st.sampled_from(sorted(known)), st.sampled_from(others))
    return st.dictionaries(keys, argument_values, min_size=1, max_size=3)


valid_anthropic_args = st.fixed_dictionaries({}, optional={
    "max_tokens": st.integers(1, 4096),
    "temperature": st.floats(0, 1),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(0, 50),
    "stop_sequences": st.lists(st.sampled_from(["END", "\n\n"]), max_size=2),
    "metadata": st.fixed_dictionaries({"user_id": st.sampled_from(["u1", "u2"])}),
    "thinking": st.sampled_from([{"type": "enabled", "budget_tokens": 1024}, {"type": "disabled"}]),
    "prompt_caching": st.sampled_from([True, False, "5m", "1h"]),
    "parallel_tool_calls": st.booleans(),
    "service_tier": st.sampled_from(["auto", "standard_only"]),
})
valid_gemini_args = st.fixed_dictionaries({}, optional={
    "max_tokens": st.integers(1, 4096),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(1, 50),
    "stop": st.one_of(plain_texts, st.lists(st.sampled_from(["END", "\n\n"]), max_size=2)),
    "seed": st.integers(0, 2**31 - 1),
    "thinking": st.sampled_from([{"thinking_budget": 512, "include_thoughts": True}, {"thinking_level": "low"}]),
    "safety_settings": st.just([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
    "schema_format": st.sampled_from(["json_schema", "openapi"]),
})
valid_ollama_args = st.fixed_dictionaries({}, optional={
    "options": st.fixed_dictionaries({}, optional={"num_ctx": st.integers(256, 8192), "temperature": st.floats(0, 2),
                                                   "stop": st.lists(plain_texts, max_size=2)}),
    "keep_alive": st.sampled_from(["5m", 0, -1, 30.5]),
    "think": st.sampled_from([True, False, "low", "high"]),
    "max_tokens": st.integers(1, 4096),
    "temperature": st.floats(0, 2),
    "seed": st.integers(0, 2**31),
    "stop": st.one_of(plain_texts, st.lists(plain_texts, max_size=2)),
    "format": st.sampled_from(["json", {"type": "object", "properties": {"a": {"type": "string"}}}]),
    "top_k": st.integers(0, 100),
    "extra_body": st.fixed_dictionaries({}, optional={"truncate": st.booleans()}),
})


# -- the clients --


def _policy() -> RetryPolicy:
    return RetryPolicy(max_retries=0)


def make_openai(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return OpenAIChatCompletionClient(model=model, base_url=server.base_url, api_key=KEY, timeout=30.0,
                                      retry_policy=_policy(), **args)


def make_azure(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return AzureOpenAIChatCompletionClient(azure_endpoint=f"http://{server.host}:{server.port}",
                                           azure_deployment="my-deployment", model=model, api_version="2024-10-21",
                                           api_key=KEY, timeout=30.0, retry_policy=_policy(), **args)


def make_anthropic(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return AnthropicChatCompletionClient(model, base_url=server.base_url, api_key=KEY, timeout=30.0,
                                         retry_policy=_policy(), **args)


def make_gemini(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return GeminiChatCompletionClient(model, base_url=server.base_url, api_key=KEY, timeout=30.0,
                                      retry_policy=_policy(), **args)


def make_ollama(server: FakeServer, model: str, args: dict[str, Any]) -> Any:
    return OllamaChatCompletionClient(model, host=f"http://{server.host}:{server.port}", timeout=30.0,
                                      retry_policy=_policy(), **args)


@dataclass(frozen=True)
class Dialect:
    make: Callable[[FakeServer, str, dict[str, Any]], Any]
    models: tuple[str, ...]
    known: frozenset[str]
    """The dialect's create arguments."""
    valid_args: st.SearchStrategy[dict[str, Any]]

    def any_args(self, *, client: bool = False) -> st.SearchStrategy[dict[str, Any]]:
        return st.one_of(self.valid_args, wrong_args(self.known, client=client))


DIALECTS = {
    "openai": Dialect(make_openai, ("gpt-4o", "gpt-4o-mini"), openai_wire.CREATE_ARGUMENTS, valid_create_args),
    "azure": Dialect(make_azure, ("gpt-4o",), openai_wire.CREATE_ARGUMENTS, valid_create_args),
    "anthropic": Dialect(make_anthropic, ("claude-sonnet-4-5", "claude-sonnet-4-20250514"),
                         anthropic_request.CREATE_ARGUMENTS, valid_anthropic_args),
    "gemini": Dialect(make_gemini, ("gemini-2.5-flash", "gemini-3-pro-preview"), gemini_request.CREATE_ARGUMENTS,
                      valid_gemini_args),
    "ollama": Dialect(make_ollama, ("llama3.1", "qwen3:8b"), ollama_wire.CREATE_ARGUMENTS, valid_ollama_args),
}


# -- one call --


@dataclass
class DialectCall:
    model: str | None
    """The model; None for the dialect's first."""
    messages: Any
    tools: Any
    tool_choice: Any
    json_output: Any
    extra_create_args: Any
    client_args: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


def inputs(dialect: Dialect) -> st.SearchStrategy[DialectCall]:
    sides = {
        "messages": (valid_message_lists, any_message_lists),
        "tools": (valid_tool_lists, any_tool_lists),
        "tool_choice": (valid_choices, any_choices),
        "json_output": (valid_json_outputs, st.one_of(any_json_outputs, st.sampled_from([NAN, INF, 1]))),
        "extra_create_args": (dialect.valid_args, dialect.any_args()),
        "client_args": (dialect.valid_args, dialect.any_args(client=True)),
    }

    @st.composite
    def draw_call(draw: st.DrawFn) -> DialectCall:
        mixed = draw(st.sets(st.sampled_from(sorted(sides)), max_size=2))  # at most two inputs may be wrong
        drawn = {name: draw(bad if name in mixed else good) for name, (good, bad) in sides.items()}
        return DialectCall(model=draw(st.sampled_from(dialect.models)), stream=draw(st.booleans()), **drawn)

    return draw_call()


async def run_dialect_call(server: FakeServer, dialect: Dialect, call: DialectCall) -> Outcome:
    before = asyncio.all_tasks()
    client = None
    outcome = Outcome("build")
    messages: Any = None
    spec: dict[str, Any] = {}
    try:
        messages = realize(call.messages)
        outcome.stage = "client"
        client = dialect.make(server, call.model or dialect.models[0], dict(call.client_args))
        outcome.stage = "call"
        spec = {"tools": call.tools, "tool_choice": call.tool_choice, "json_output": call.json_output,
                "extra_create_args": call.extra_create_args}
        if call.stream:
            outcome.result = await _consume(client.create_stream(messages, **spec))
        else:
            outcome.result = await client.create(messages, **spec)
        outcome.stage = "done"
    except Exception as exc:
        outcome.error = exc
    finally:
        await _settle(before)
        if client is not None:
            if outcome.stage in ("call", "done") and (
                outcome.error is None or isinstance(outcome.error, (mp.APIError, mp.OutputParseError))
            ):
                outcome.fingerprint = _fingerprint(client, messages, spec)
            await client.close()
    return outcome


def found(messages: Any) -> DialectCall:
    """A call the property found to fail, kept as an example that runs first for every dialect."""
    return DialectCall(model=None, messages=messages, tools=(), tool_choice="auto", json_output=None,
                       extra_create_args={})


def tool_call_with_arguments(arguments: Any) -> list[Any]:
    return [{"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"}]


FOUND = [
    # a tool turn built with model_construct holding no calls, converted beside a message of another form: it was an
    # AttributeError out of the conversion
    found([AssistantMessage.model_construct(content=[None]), None]),
    # an OpenAI tool call whose arguments are an object JSON cannot hold: a TypeError, or NaN sent as null
    found(tool_call_with_arguments({1: False})),
    found(tool_call_with_arguments({"a": NAN})),
    found(tool_call_with_arguments({"a": "\ud800"})),
]


@pytest.fixture(scope="module")
def dialect_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# On a failure, hypothesis's pytest plugin imports libcst, which warns; filterwarnings=error (see test_bad_input).
@pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_point5_property_each_dialect_sends_or_refuses_before_the_network(
    fake_server: FakeServer, dialect_loop: asyncio.AbstractEventLoop, name: str
) -> None:
    dialect = DIALECTS[name]

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(call=inputs(dialect))
    @example(call=FOUND[0])
    @example(call=FOUND[1])
    @example(call=FOUND[2])
    @example(call=FOUND[3])
    def one_call(call: DialectCall) -> None:
        fake_server.reset()
        outcome = dialect_loop.run_until_complete(run_dialect_call(fake_server, dialect, call))
        requests = list(fake_server.requests)
        fake_server.reset()
        event(f"{name} {outcome.stage}: {type(outcome.error).__name__ if outcome.error else 'CreateResult'}, "
              f"{len(requests)} request(s)")
        check_property(outcome, requests)

    one_call()
