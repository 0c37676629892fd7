"""``modelport chat``: one prompt, or a conversation, streamed to the terminal; and the event loop the command
line's steps run on.

On a terminal the conversation has line editing and a history of earlier prompts (the standard ``readline``; the
history is kept in the user's state folder, never written when the input or output is not a terminal), a banner,
and commands: ``/model NAME``, ``/clear``, ``/save FILE``, ``/help``, ``/exit``. What is read and what is written
to the terminal is kept free of control bytes, so escape sequences neither reach the model nor come from it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO, TypeVar

from . import __version__
from ._cli_errors import CommandError
from ._terminal import Style
from .batch._cli import base_client

__all__ = ["Session", "chat", "clean_input", "clean_output", "history_path"]

T = TypeVar("T")

HISTORY_LENGTH = 1000  # prompts kept in the history file
COMMANDS = {
    "/model NAME": "talk to another model from the next prompt on (/model alone: the current one)",
    "/clear": "forget the conversation (the --system message stays)",
    "/save FILE": "save the conversation as JSON messages (asks before replacing a file)",
    "/help": "this list",
    "/exit": "leave (or Ctrl-D); Ctrl-C stops an answer, or leaves at the prompt",
}

# Escape sequences (CSI, OSC, DCS and the like, and two-byte escapes) and the other control characters but tab and
# newline: what arrow keys send without line editing, and what could move the cursor, retitle the window or set
# the clipboard if a model's answer carried it to the terminal.
_CONTROL = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])?"
    r"|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\x80-\x9f]"
)


def clean_input(text: str) -> str:
    """``text`` without escape sequences and control characters (tab and newline stay), as the model should see a
    typed line."""
    return _CONTROL.sub("", text)


def clean_output(text: str) -> str:
    """``text`` safe to write to a terminal: no escape sequences, no control characters but tab and newline."""
    return _CONTROL.sub("", text)


# The start of an escape sequence at the end of a piece of text, which the next piece may finish.
_UNFINISHED = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)\Z")


class _StreamCleaner:
    """``clean_output`` for a text that arrives in pieces: an escape sequence split between two pieces is held
    back until it is whole, so no part of it shows."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, piece: str) -> str:
        text = self.held + piece
        unfinished = _UNFINISHED.search(text)
        cut = unfinished.start() if unfinished else len(text)
        self.held = text[cut:]
        return clean_output(text[:cut])

    def end(self) -> str:
        """What is left of the text once it has all arrived."""
        rest, self.held = self.held, ""
        return clean_output(rest)


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
    shown = clean_output if out.isatty() else str
    if not stream:
        result = await client.create(messages)
        if result.thought:
            out.write(style.dim(shown(result.thought)) + "\n")
        if isinstance(result.content, str):
            answer.text = result.content
            out.write(shown(answer.text) + "\n")
        else:  # tool calls: the text that came with them is the answer
            answer.text = result.thought or ""
            out.write(style.dim(shown(_tool_calls_note(result.content))) + "\n")
        return
    thought, text = (_StreamCleaner(), _StreamCleaner()) if out.isatty() else (None, None)
    async with client.create_stream(messages) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, CreateResult):
                if isinstance(chunk.content, str):
                    answer.text = chunk.content
                else:  # tool calls: the text streamed before them is the answer
                    out.write(("\n" if answer.text else "") + style.dim(_tool_calls_note(chunk.content)))
            elif isinstance(chunk, ThoughtChunk):
                out.write(style.dim(thought.feed(chunk) if thought else chunk))
            else:
                answer.text += chunk
                out.write(text.feed(chunk) if text else chunk)
            out.flush()
    if thought and text:
        rest = thought.end()
        out.write((style.dim(rest) if rest else "") + text.end())
    out.write("\n")


def _tool_calls_note(calls: list[Any]) -> str:
    """What is said of an answer that asks for tool calls: the chat offers no tools and runs none."""
    names = ", ".join(str(getattr(call, "name", "?")) for call in calls)
    return f"(the model asked to call {names}; the chat runs no tools)"


def chat(
    args: argparse.Namespace,
    make_client: Callable[[str | None], Any],
    describe_error: Callable[[BaseException], str],
) -> int:
    """Run ``modelport chat``: the prompt given, or a conversation read from stdin. ``make_client(model)`` builds
    the client the flags describe, with ``model`` in place of ``--model`` when it is given (for ``/model``);
    ``describe_error(exc)`` is the line that tells a failed turn or a refused ``/model`` in a conversation."""
    from .messages import SystemMessage, UserMessage

    out = sys.stdout
    client = make_client(None)
    with Session(client) as session:
        system = [SystemMessage(content=args.system)] if args.system else []
        if args.prompt:
            prompt = UserMessage(content=clean_input(" ".join(args.prompt)))
            session.run(_chat_once(client, [*system, prompt], out, not args.no_stream, _Answer()))
            return 0
        return _Conversation(session, make_client, describe_error, system, args).run()


def history_path() -> Path | None:
    """Where the prompts typed on a terminal are kept: ``$MODELPORT_CHAT_HISTORY`` (empty: nowhere), else
    ``chat_history`` in modelport's folder of the user's state directory (``$XDG_STATE_HOME``, ``~/.local/state``;
    ``%LOCALAPPDATA%`` on Windows)."""
    given = os.environ.get("MODELPORT_CHAT_HISTORY")
    if given is not None:
        return Path(given).expanduser() if given else None
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "modelport" / "chat_history"
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "modelport" / "chat_history"


class _LineEditing:
    """``readline`` with the history file, for a conversation on a terminal; ``None`` of it elsewhere. A history
    file that is a symbolic link is neither read nor written (it could lead anywhere)."""

    def __init__(self) -> None:
        self.path = history_path()
        self.typed: list[str] = []  # the prompts of this session, for the history file
        try:
            import readline
        except ImportError:  # Python built without it (Windows): plain lines, no history
            self.readline: Any = None
            return
        self.readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if self.path is not None and self.path.is_symlink():
            _warn(f"the chat history {self.path} is a symbolic link: not read, nor written")
            self.path = None
        if self.path is not None and self.path.is_file():
            with contextlib.suppress(OSError):  # an unreadable history is no reason not to chat
                readline.read_history_file(str(self.path))

    def add(self, line: str) -> None:
        """Keep ``line``, a prompt typed, for the history file (as readline keeps it: not blank, nor twice in a
        row)."""
        if line.strip() and self.typed[-1:] != [line]:
            self.typed.append(line)

    def save(self) -> None:
        """Add this session's prompts to the history file, after those other sessions kept meanwhile, to the last
        ``HISTORY_LENGTH``; the file readable by the user alone (prompts can be private)."""
        if self.readline is None or self.path is None or not self.typed:
            return
        history = self.readline
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.path.is_symlink():
                raise OSError(f"{self.path} is a symbolic link")
            self.path.touch(mode=0o600)
            history.clear_history()
            with contextlib.suppress(OSError):
                history.read_history_file(str(self.path))
            for line in self.typed:
                history.add_history(line)
            history.write_history_file(str(self.path))
        except OSError as exc:
            _warn(f"the chat history was not saved: {exc}")


def _warn(text: str) -> None:
    print(f"modelport: warning: {text}", file=sys.stderr)


class _Conversation:
    """The interactive chat: prompts read from stdin, answers streamed, commands handled, until the input ends."""

    def __init__(
        self,
        session: Session,
        make_client: Callable[[str | None], Any],
        describe_error: Callable[[BaseException], str],
        system: list[Any],
        args: argparse.Namespace,
    ) -> None:
        self.session, self.make_client, self.describe_error = session, make_client, describe_error
        self.system, self.args = system, args
        self.out = sys.stdout
        self.messages: list[Any] = list(system)
        self.interactive = sys.stdin.isatty()  # a person types: prompts shown, Ctrl-C stops only the answer
        self.terminal = self.interactive and self.out.isatty()  # and sees the output: line editing, a banner
        self.editing = _LineEditing() if self.terminal else None

    def run(self) -> int:
        if self.terminal:
            print(self._banner(), file=sys.stderr, flush=True)
        try:
            while True:
                line = self._read()  # no loop runs here: Ctrl-C leaves at once (KeyboardInterrupt, 130)
                if line is None:
                    return 0
                line = clean_input(line).strip()
                if not line:
                    continue
                if line.startswith("/") and not line.startswith("//"):
                    if self._command(line) == "exit":
                        return 0
                    continue
                self._ask(line[1:] if line.startswith("//") else line)
        finally:
            if self.editing is not None:
                self.editing.save()

    def _read(self) -> str | None:
        """The next line typed or piped in, ``None`` at its end (Ctrl-D)."""
        if self.terminal:
            try:
                line = input("> ")  # with line editing and history, as readline was imported
            except EOFError:
                self.out.write("\n")  # Ctrl-D: end the prompt's line
                return None
            if self.editing is not None:
                self.editing.add(line)
            return line
        if self.interactive:
            self.out.write("> ")
            self.out.flush()
        line = sys.stdin.readline()
        if not line and self.interactive:
            self.out.write("\n")
        return line or None

    def _ask(self, text: str) -> None:
        from .errors import ModelportError
        from .messages import AssistantMessage, UserMessage

        self.messages.append(UserMessage(content=text))
        answer = _Answer()
        try:
            self.session.run(_chat_once(self.session.client, self.messages, self.out, not self.args.no_stream, answer))
        except KeyboardInterrupt:
            if not self.interactive:
                raise
            # Ctrl-C during the answer: stop it and keep the conversation, with the part that arrived
            self.out.write("\n" + Style(self.out).dim("(interrupted)") + "\n")
            self.out.flush()
        except ModelportError as exc:
            if not self.interactive:
                raise
            self._say_error(exc)  # a wrong /model, a server down: said, and the conversation goes on
            answer.text = ""
        if answer.text:
            self.messages.append(AssistantMessage(content=answer.text))
        else:
            self.messages.pop()  # nothing came back: forget the question rather than send it twice in a row

    def _say_error(self, exc: BaseException) -> None:
        self.out.flush()
        print(self.describe_error(exc), file=sys.stderr, flush=True)

    def _command(self, line: str) -> str | None:
        """Carry out a ``/command``; ``"exit"`` to leave."""
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        if name in ("/exit", "/quit"):
            return "exit"
        if name == "/help":
            width = max(len(usage) for usage in COMMANDS)
            self.out.write("".join(f"  {usage:<{width}}  {text}\n" for usage, text in COMMANDS.items()))
            self.out.write("  A line that starts with // is sent with one / less.\n")
        elif name == "/clear":
            self.messages = list(self.system)
            self._note("the conversation is cleared")
        elif name == "/model":
            self._switch_model(rest)
        elif name == "/save":
            self._save(rest)
        else:
            self._note(f"no command {name}: /help lists them; a line starting with // is sent with one / less")
        return None

    def _note(self, text: str) -> None:
        self.out.write(Style(self.out).dim(f"({text})") + "\n")
        self.out.flush()

    def _switch_model(self, model: str) -> None:
        old = self.session.client
        if not model:
            self._note(f"model: {_model_of(old)}")
            return
        try:
            new = self.make_client(model)
        except (ValueError, CommandError) as exc:  # a bad name, or a model a --config cannot change: the old stays
            self._say_error(exc)
            return
        self.session.client = new
        self.session.run(old.close())
        self._note(f"model: {_model_of(new)}")

    def _save(self, name: str) -> None:
        if not name:
            self._note("/save needs a file name: /save FILE")
            return
        path = Path(name).expanduser()
        if path.exists() and not self._may_replace(path):
            self._note(f"{path} exists and was not replaced: give another name")
            return
        try:
            _write_messages(path, self.messages)
        except OSError as exc:
            self._note(f"not saved: {exc.strerror or exc}: {path}")
            return
        self._note(f"saved {len(self.messages)} messages to {path}")

    def _may_replace(self, path: Path) -> bool:
        """Whether the user, asked, lets ``path`` be replaced (never without a person to ask, nor a folder)."""
        if not self.interactive or path.is_dir():
            return False
        self.out.write(f"{path} exists: replace it? [y/N] ")
        self.out.flush()
        try:
            reply = input() if self.terminal else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            self.out.write("\n")
            return False
        if self.editing is not None and self.editing.readline is not None and reply.strip():
            history = self.editing.readline
            history.remove_history_item(history.get_current_history_length() - 1)  # an answer is no prompt to recall
        return reply.strip().lower() in ("y", "yes")

    def _banner(self) -> str:
        client = self.session.client
        where = "the built-in fake server" if self.args.offline else _host_of(client)
        provider = getattr(base_client(client), "provider_name", None)
        lines = [
            f"modelport {__version__} chat · {_model_of(client)} · "
            + (f"{provider} at {where}" if provider and not self.args.offline else where),
            "Ctrl-D or /exit to leave · Ctrl-C stops an answer · /model NAME · /clear · /save FILE · /help",
        ]
        return Style(sys.stderr).dim("\n".join(lines))


def _model_of(client: Any) -> str:
    return str(getattr(base_client(client), "_model", None) or "the config's model")


def _host_of(client: Any) -> str:
    from yarl import URL

    url = getattr(base_client(client), "base_url", None)
    return (URL(url).host or str(url)) if url else "the config's server"


def _write_messages(path: Path, messages: list[Any]) -> None:
    """``messages`` as a JSON list of ``{"role", "content"}`` objects (the OpenAI form), replacing ``path`` whole
    with a file only the user can read."""
    import orjson

    from .messages import AssistantMessage, SystemMessage

    rows = [
        {
            "role": "system"
            if isinstance(m, SystemMessage)
            else "assistant"
            if isinstance(m, AssistantMessage)
            else "user",
            "content": m.content,
        }
        for m in messages
    ]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # readable by the user alone (a conversation is private), and a new file: never one planted under that name
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with open(descriptor, "wb") as file:
            file.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
