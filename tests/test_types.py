"""Messages, images, model info and tools: JSON round-trips, schemas, lookups."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter

from modelport import (
    AssistantMessage,
    CancellationToken,
    CreateResult,
    FunctionCall,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    FunctionTool,
    Image,
    LLMMessage,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from modelport.model_info import lookup_model_info
from modelport.tools import strict_schema

from .test_validation import PNG_1x1


def test_messages_round_trip_through_json() -> None:
    adapter = TypeAdapter(list[LLMMessage])
    messages = [
        SystemMessage(content="s"),
        UserMessage(content=["look", Image.from_bytes(PNG_1x1)], source="u"),
        AssistantMessage(content=[FunctionCall(id="c", name="f", arguments="{}")], thought="t"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="r", name="f", call_id="c")]),
        AssistantMessage(content="done"),
    ]
    assert adapter.validate_json(adapter.dump_json(messages)) == messages


def test_create_result_round_trip() -> None:
    result = CreateResult(finish_reason="stop", content="x", usage=RequestUsage(prompt_tokens=1, completion_tokens=2),
                          thought="why")
    assert CreateResult.model_validate_json(result.model_dump_json()) == result


def test_usage_adds_details() -> None:
    total = RequestUsage(prompt_tokens=1, completion_tokens=1) + RequestUsage(prompt_tokens=2, completion_tokens=3,
                                                                               reasoning_tokens=4)
    assert total == RequestUsage(prompt_tokens=3, completion_tokens=4, reasoning_tokens=4)


def test_image_constructors(tmp_path: Path) -> None:
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG_1x1)
    from_file = Image.from_file(path)
    from_b64 = Image.from_base64(base64.b64encode(PNG_1x1).decode())
    from_uri = Image.from_url(from_file.data_uri)
    assert from_file.data == from_b64.data == from_uri.data
    assert (from_file.width, from_file.height) == (1, 1)
    remote = Image.from_url("https://example.com/cat.jpg", detail="low")
    assert remote.data_uri == "https://example.com/cat.jpg" and remote.width is None
    with pytest.raises(ValueError, match="base64"):
        Image.from_base64("not base64!!")


def test_jpeg_and_gif_sizes() -> None:
    gif = b"GIF89a" + (640).to_bytes(2, "little") + (480).to_bytes(2, "little") + b"\x00" * 10
    assert (Image.from_bytes(gif).width, Image.from_bytes(gif).height) == (640, 480)
    jpeg = b"\xff\xd8" + b"\xff\xe0\x00\x04ab" + b"\xff\xc0\x00\x11\x08" + (300).to_bytes(2, "big") + \
        (200).to_bytes(2, "big") + b"\x00" * 12
    image = Image.from_bytes(jpeg)
    assert (image.media_type, image.width, image.height) == ("image/jpeg", 200, 300)


@pytest.mark.parametrize(("model", "family", "window"), [
    ("gpt-4o-2024-08-06", "gpt-4o", 128_000), ("gpt-4o-mini", "gpt-4o", 128_000), ("gpt-4.1-nano", "gpt-41", 1_047_576),
    ("gpt-5-mini", "gpt-5", 400_000), ("o3-mini", "o3", 200_000), ("o1-mini", "o1", 128_000),
    ("llama3.1:8b", "llama-3", 131_072), ("qwen2.5-coder:7b", "qwen", 32_768),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3", 131_072), ("deepseek-reasoner", "r1", 128_000),
])
def test_model_registry(model: str, family: str, window: int) -> None:
    info = lookup_model_info(model, warn=False)
    assert info["family"] == family and info["context_window"] == window


def test_o1_mini_cannot_call_tools() -> None:
    assert lookup_model_info("o1-mini")["function_calling"] is False


class Address(BaseModel):
    street: str
    unit: str | None = None


def test_function_tool_schema_and_run() -> None:
    async def lookup(city: str, address: Address, limit: int = 3, token: CancellationToken | None = None) -> dict:
        """Find things."""
        return {"city": city, "street": address.street, "limit": limit}

    tool = FunctionTool(lookup, "Find things in a city")
    params = tool.schema["parameters"]  # type: ignore[typeddict-item]
    assert params["required"] == ["city", "address"] and params["properties"]["limit"]["default"] == 3
    assert "token" not in params["properties"]  # the token is injected, not asked of the model
    out = asyncio.run(tool.run_json({"city": "Paris", "address": {"street": "Rue"}}, CancellationToken()))
    assert out == {"city": "Paris", "street": "Rue", "limit": 3}
    assert tool.return_value_as_string(out) == '{"city":"Paris","street":"Rue","limit":3}'


def test_sync_tool_gets_the_cancellation_token() -> None:
    seen = []

    def work(n: int, cancellation_token: CancellationToken) -> int:
        seen.append(cancellation_token)
        return n * 2

    tool = FunctionTool(work, "double")
    assert "cancellation_token" not in tool.schema["parameters"]["properties"]  # type: ignore[typeddict-item]
    token = CancellationToken()
    assert asyncio.run(tool.run_json({"n": 4}, token)) == 8 and seen == [token]


def test_strict_schema() -> None:
    strict = strict_schema(FunctionTool(lambda street, unit=None: None, "d", name="addr").schema["parameters"])  # type: ignore[typeddict-item]
    assert strict["additionalProperties"] is False and strict["required"] == ["street", "unit"]
    assert "default" not in strict["properties"]["unit"]
    nested = strict_schema(Address.model_json_schema())
    assert nested["required"] == ["street", "unit"] and nested["additionalProperties"] is False
    strict_tool = FunctionTool(lambda x: x, "d", name="s", strict=True)
    assert strict_tool.schema["strict"] is True


def test_cancellation_token_callbacks() -> None:
    token = CancellationToken()
    calls: list[str] = []
    token.add_callback(lambda: calls.append("first"))
    token.cancel()
    token.cancel()
    token.add_callback(lambda: calls.append("late"))
    assert calls == ["first", "late"] and token.is_cancelled()
