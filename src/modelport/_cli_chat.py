"""``modelport chat``: one prompt, or a conversation, streamed to the terminal; and the event loop the command
line's steps run on."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Coroutine
from types import FrameType, TracebackType
from typing import Any, TextIO, TypeVar

from ._terminal import Style

__all__ = ["Session", "chat"]

T = TypeVar("T")


# -- running async steps --


class Session:
    """One event loop that the command's steps run on in turn, so the client's connections outlive each step;
    the client is closed, and the loop with it, on leaving.

    Between steps no loop runs, so reading the next line of input can block the main thread, and Ctrl-C there
    raises ``KeyboardInterrupt`` at once. During a step, Ctrl-C cancels the step: ``run`` then raises
    ``KeyboardInterrupt``, and the session can run the next step (a second Ctrl-C interrupts at once)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        loop = self.loop
        try:
            self.run(self.client.close())
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        task = self.loop.create_task(step)
        interrupted = False

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            nonlocal interrupted
            if interrupted or task.done():
                raise KeyboardInterrupt
            interrupted = True
            task.cancel()
            self.loop.call_soon_threadsafe(lambda: None)  # wake the loop if it waits in select()

        handled = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not when Ctrl-C is ignored
        )
        if handled:
            signal.signal(signal.SIGINT, on_sigint)
        try:
            return self.loop.run_until_complete(task)
        except BaseException:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            if handled:
                signal.signal(signal.SIGINT, signal.default_int_handler)


# -- chat --


class _Answer:
    """What has arrived of an answer so far (all of it once the call is done)."""

    def __init__(self) -> None:
        self.text = ""


async def _chat_once(client: Any, messages: list[Any], out: TextIO, stream: bool, answer: _Answer) -> None:
    from .messages import CreateResult, ThoughtChunk

    style = Style(out)
    if not stream:
        result = await client.create(messages)
        answer.text = result.content if isinstance(result.content, str) else str(result.content)
        if result.thought:
            out.write(style.dim(result.thought) + "\n")
        out.write(answer.text + "\n")
        return
    async with client.create_stream(messages) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, CreateResult):
                answer.text = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
            elif isinstance(chunk, ThoughtChunk):
                out.write(style.dim(chunk))
            else:
                answer.text += chunk
                out.write(chunk)
            out.flush()
    out.write("\n")


def chat(args: argparse.Namespace, client: Any) -> int:
    """Run ``modelport chat`` with ``client``: the prompt given, or a conversation read from stdin."""
    from .messages import AssistantMessage, SystemMessage, UserMessage

    out = sys.stdout
    stream = not args.no_stream
    with Session(client) as session:
        history: list[Any] = [SystemMessage(content=args.system)] if args.system else []
        if args.prompt:
            session.run(
                _chat_once(client, [*history, UserMessage(content=" ".join(args.prompt))], out, stream, _Answer())
            )
            return 0
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                out.write("> ")
                out.flush()
            line = sys.stdin.readline()  # no loop runs here: Ctrl-C leaves at once (KeyboardInterrupt, 130)
            if not line.strip():
                if interactive and not line:
                    out.write("\n")  # Ctrl-D: end the prompt's line
                return 0
            history.append(UserMessage(content=line.rstrip("\n")))
            answer = _Answer()
            try:
                session.run(_chat_once(client, history, out, stream, answer))
            except KeyboardInterrupt:
                if not interactive:
                    raise
                # Ctrl-C during the answer: stop it and keep the conversation, with the part that arrived
                out.write("\n" + Style(out).dim("(interrupted)") + "\n")
                out.flush()
                if not answer.text:
                    history.pop()  # nothing came back: forget the question rather than send it twice in a row
                    continue
            history.append(AssistantMessage(content=answer.text))
