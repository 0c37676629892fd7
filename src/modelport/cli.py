"""The ``modelport`` command.

    modelport demo                      walk through a call, a stream, a tool call and structured output,
                                        offline against the built-in fake server (--live for a real provider)
    modelport chat "What is 2+2?"       one prompt, streamed to the terminal
    modelport chat                      an interactive chat (empty line or Ctrl-D to leave)
    modelport chat --config model.json  a client saved as a component config (JSON or YAML)
    modelport config show FILE          the config as modelport reads it (secrets left out)
    modelport config validate FILE      check a config without calling anything
    modelport config schema [PROVIDER]  JSON Schema of component configs, for editors

Keys come from the environment (OPENAI_API_KEY, or the variable of the --provider preset).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import BaseModel

from . import __version__
from .errors import ModelportError

DEFAULT_MODEL = "gpt-4o-mini"


class _Style:
    def __init__(self, stream: TextIO) -> None:
        self.color = stream.isatty() and os.environ.get("NO_COLOR") is None

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.color else text


def _client(args: argparse.Namespace, base_url: str | None) -> Any:
    from .providers.openai import OpenAIChatCompletionClient

    if getattr(args, "config", None):
        from .client import ChatCompletionClient
        from .components import load_component

        return load_component(args.config, expected=ChatCompletionClient)

    kwargs: dict[str, Any] = {"model": args.model}
    if base_url:
        kwargs["base_url"] = base_url
    if getattr(args, "provider", None):
        kwargs["provider"] = args.provider
    if getattr(args, "offline", False) or getattr(args, "_fake", False):
        kwargs["api_key"] = "offline-demo"
    return OpenAIChatCompletionClient(**kwargs)


# -- demo --


class City(BaseModel):
    name: str
    country: str
    population: int


def get_weather(city: str, unit: str = "celsius") -> str:
    """A stand-in tool: the demo's model calls it and gets this answer back."""
    return f"It is 21 degrees {unit} and sunny in {city}."


async def _demo(client: Any, out: TextIO) -> None:
    from .cancellation import CancellationToken
    from .messages import (
        AssistantMessage,
        FunctionExecutionResult,
        FunctionExecutionResultMessage,
        ThoughtChunk,
        UserMessage,
    )
    from .tools import FunctionTool

    style = _Style(out)
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


def cmd_demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.live:
        client = _client(args, args.base_url)
        out.write(f"modelport {__version__} demo against {client.base_url} ({args.model})\n\n")
        return _run(_demo_and_close(client, out))
    from .testing import FakeServer

    with FakeServer() as server:
        args._fake = True
        client = _client(args, server.base_url)
        out.write(
            f"modelport {__version__} demo, offline: the built-in fake server at {server.base_url} plays the "
            "model.\nRun `modelport demo --live` with OPENAI_API_KEY set to talk to a real one.\n\n"
        )
        return _run(_demo_and_close(client, out))


async def _demo_and_close(client: Any, out: TextIO) -> None:
    async with client:
        await _demo(client, out)


# -- chat --


async def _chat_once(client: Any, messages: list[Any], out: TextIO, stream: bool) -> str:
    from .messages import CreateResult, ThoughtChunk

    style = _Style(out)
    if not stream:
        result = await client.create(messages)
        text = result.content if isinstance(result.content, str) else str(result.content)
        if result.thought:
            out.write(style.dim(result.thought) + "\n")
        out.write(text + "\n")
        return text
    text = ""
    async with client.create_stream(messages) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, CreateResult):
                text = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
            elif isinstance(chunk, ThoughtChunk):
                out.write(style.dim(chunk))
            else:
                out.write(chunk)
            out.flush()
    out.write("\n")
    return text


async def _chat(args: argparse.Namespace, base_url: str | None, out: TextIO) -> None:
    from .messages import AssistantMessage, SystemMessage, UserMessage

    client = _client(args, base_url)
    async with client:
        history: list[Any] = [SystemMessage(content=args.system)] if args.system else []
        if args.prompt:
            await _chat_once(client, [*history, UserMessage(content=" ".join(args.prompt))], out, not args.no_stream)
            return
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                out.write("> ")
                out.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line.strip():
                return
            history.append(UserMessage(content=line.rstrip("\n")))
            answer = await _chat_once(client, history, out, not args.no_stream)
            history.append(AssistantMessage(content=answer))


def cmd_chat(args: argparse.Namespace) -> int:
    if args.offline:
        from .testing import FakeServer

        with FakeServer() as server:
            return _run(_chat(args, server.base_url, sys.stdout))
    return _run(_chat(args, args.base_url, sys.stdout))


def cmd_config(args: argparse.Namespace) -> int:
    import orjson

    from .components import component_schemas, load_component

    try:
        if args.action == "schema":
            schemas = component_schemas()
            if args.target:
                if args.target not in schemas:
                    raise ValueError(f"no component named {args.target!r}; known: {', '.join(sorted(schemas))}")
                schemas = schemas[args.target]
            print(orjson.dumps(schemas, option=orjson.OPT_INDENT_2).decode())
            return 0
        if not args.target:
            raise ValueError(f"config {args.action} needs a config file")
        component: Any = load_component(args.target)
        model = component.dump_component()
        if args.action == "validate":
            print(f"{args.target}: a valid {model.provider} config ({type(component).__name__})")
        else:
            print(model.model_dump_json(indent=2, exclude_none=True))
        return 0
    except ValueError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 2


def _run(coro: Any) -> int:
    try:
        asyncio.run(coro)
    except ValueError as exc:  # bad configuration or input (InvalidRequestError is a ValueError)
        print(
            f"modelport: {exc}\n(try `modelport demo`, or `modelport chat --offline`, to run without a key)",
            file=sys.stderr,
        )
        return 2
    except ModelportError as exc:
        print(f"modelport: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelport", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
        p.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://localhost:11434/v1")
        p.add_argument(
            "--provider",
            help="a preset: openai, ollama, vllm, llamacpp, lmstudio, deepseek, groq, "
            "openrouter, mistral, gemini, anthropic",
        )

    demo = sub.add_parser("demo", help="walk through the main features (offline unless --live)")
    common(demo)
    demo.add_argument("--live", action="store_true", help="use a real provider (keys from the environment)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser("chat", help="send one prompt, or chat interactively")
    common(chat)
    chat.add_argument("prompt", nargs="*", help="the prompt; without one, an interactive chat")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument("--offline", action="store_true", help="talk to the built-in fake server")
    chat.add_argument("--config", help="a client saved as a component config (JSON or YAML file)")
    chat.set_defaults(func=cmd_chat)

    config = sub.add_parser("config", help="show, validate, or print the JSON Schema of component configs")
    config.add_argument("action", choices=["show", "validate", "schema"])
    config.add_argument("target", nargs="?", help="the config file (show, validate) or a provider name (schema)")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # the reader went away (`modelport demo | head`): stop quietly, as `yes | head` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit cannot fail again
        return 141
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
