"""What ``modelport demo`` walks through: a call, a stream, a tool call and structured output."""

from __future__ import annotations

from typing import Any, TextIO

from pydantic import BaseModel

from ._terminal import Style


class City(BaseModel):
    name: str
    country: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    """A stand-in tool: the demo's model calls it and gets this answer back."""
    return f"It is 21 degrees {unit} and sunny in {city}."


async def walk_through(client: Any, out: TextIO) -> None:
    """A call, a stream, a tool call and structured output, each told on ``out``."""
    from .cancellation import CancellationToken
    from .messages import (
        AssistantMessage,
        FunctionExecutionResult,
        FunctionExecutionResultMessage,
        ThoughtChunk,
        UserMessage,
    )
    from .tools import FunctionTool

    style = Style(out)
    question = [UserMessage(content="What is the capital of France?")]

    out.write(style.bold("1. A plain call") + "\n")
    result = await client.create(question)
    out.write(
        f"   answer: {result.content}\n   usage: {result.usage.prompt_tokens} prompt + "
        f"{result.usage.completion_tokens} completion tokens, finish_reason={result.finish_reason}\n\n"
    )

    out.write(style.bold("2. A stream") + "\n   ")
    async with client.create_stream([UserMessage(content="Tell me a short story about a lighthouse.")]) as stream:
        async for chunk in stream:
            if isinstance(chunk, str):
                out.write(style.dim(chunk) if isinstance(chunk, ThoughtChunk) else chunk)
                out.flush()
            else:
                out.write(f"\n   ({chunk.finish_reason}, {chunk.usage.completion_tokens} completion tokens)\n\n")

    out.write(style.bold("3. A tool call") + "\n")
    tool = FunctionTool(get_weather, "Get the current weather in a city")
    messages: list[Any] = [UserMessage(content="What's the weather in Paris?")]
    first = await client.create(messages, tools=[tool])
    for call in first.content if isinstance(first.content, list) else []:
        value = await tool.run_json(call.parse_arguments(), CancellationToken(), call_id=call.id)
        out.write(f"   the model called {call.name}({call.arguments}) -> {value}\n")
        messages += [
            AssistantMessage(content=first.content),
            FunctionExecutionResultMessage(
                content=[
                    FunctionExecutionResult(content=tool.return_value_as_string(value), name=call.name, call_id=call.id)
                ]
            ),
        ]
    final = await client.create(messages, tools=[tool])
    out.write(f"   final answer: {final.content}\n\n")

    out.write(style.bold("4. Structured output") + "\n")
    structured = await client.create([UserMessage(content="Describe Paris as data.")], json_output=City)
    out.write(f"   parsed: {structured.parsed!r}\n\n")
    total = client.total_usage()
    out.write(f"Total usage: {total.prompt_tokens} prompt + {total.completion_tokens} completion tokens.\n")
