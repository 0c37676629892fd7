"""The interactive ``modelport chat`` and Ctrl-C, run as a user runs them: a separate process whose stdin is a
terminal (a pseudo-terminal), interrupted with a real SIGINT. Every wait is bounded, so a hang fails the test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelport.testing import FakeServer, RecordedRequest, Reply, chunk, default_reply

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals and SIGINT are POSIX")

WAIT = 20.0  # seconds: far more than any step needs; only reached when something hangs


class Output:
    """A stream of the child's, read on a thread, so waiting for text can time out."""

    def __init__(self, stream: Any) -> None:
        self.text = ""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for piece in iter(lambda: os.read(stream.fileno(), 4096), b""):
            with self._changed:
                self.text += piece.decode(errors="replace")
                self._changed.notify_all()

    def expect(self, text: str, after: int = 0) -> int:
        """Wait until ``text`` appears at or after index ``after``; returns the index just past it."""
        with self._changed:
            found = self._changed.wait_for(lambda: text in self.text[after:], timeout=WAIT)
            assert found, f"{text!r} did not appear after {self.text[:after]!r}; got {self.text[after:]!r}"
            return self.text.index(text, after) + len(text)

    def finish(self) -> str:
        self._thread.join(timeout=WAIT)
        return self.text


class Chat:
    """``modelport chat ARGS`` with a pseudo-terminal as its stdin (so it is interactive) and piped output."""

    def __init__(self, *args: str, tty: bool = True) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        environment.pop("NO_COLOR", None)
        environment["PYTHONFAULTHANDLER"] = "1"  # a hung child, aborted, shows where it hung
        if tty:
            self.terminal, stdin = os.openpty()
        else:
            self.terminal, stdin = os.pipe()[::-1]  # we write to the pipe's end, the child reads the other
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelport.cli", "chat", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        os.close(stdin)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.out = Output(self.process.stdout)
        self.err = Output(self.process.stderr)

    def type(self, line: str) -> None:
        os.write(self.terminal, line.encode() + b"\n")

    def end(self) -> None:
        """Ctrl-D: the end of the input."""
        os.write(self.terminal, b"\x04")

    def expect(self, text: str, after: int = 0) -> int:
        """Wait until ``text`` appears on stdout at or after index ``after``; returns the index just past it."""
        try:
            return self.out.expect(text, after)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self._abort()}") from None

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the command did not end\n{self._abort()}") from None

    def _abort(self) -> str:
        """Stop a hung child with SIGABRT (its faulthandler prints every thread's stack); its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(timeout=WAIT)
        return f"stdout: {self.out.finish()!r}\nstderr:\n{self.err.finish()}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        os.close(self.terminal)
        self.out.finish()
        self.err.finish()
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


@contextlib.contextmanager
def chat(*args: str, tty: bool = True) -> Iterator[Chat]:
    # A child inherits an ignored SIGINT (a test run started in the background by a shell without job control);
    # handled here, it is back to the default in the child, as in a terminal.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        session = Chat(*args, tty=tty)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield session
    finally:
        session.close()


def _last_user_text(request: RecordedRequest) -> str:
    text: str = request.json["messages"][-1]["content"]
    return text


def slow_model(request: RecordedRequest) -> Reply:
    """The default model, except: "story" starts a streamed answer and then stalls; "wait" never answers."""
    if request.path.endswith("/chat/completions") and request.method == "POST":
        question = _last_user_text(request)
        if question == "story":
            return Reply.sse(
                [chunk({"role": "assistant", "content": ""}), chunk({"content": "Once upon"})], done=False, stall=True
            )
        if question == "wait":
            return Reply.hang()
    return default_reply(request)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(default=slow_model) as fake:
        yield fake


def test_ctrl_c_at_the_idle_prompt_leaves_at_once() -> None:
    with chat("--offline") as session:
        session.expect("> ")
        session.interrupt()
        assert session.wait() == 130
        assert "Traceback" not in session.err.finish()


def test_ctrl_c_at_the_prompt_after_a_turn_leaves_at_once() -> None:
    with chat("--offline") as session:
        at = session.expect("> ")
        session.type("hello")
        at = session.expect("You said: hello", at)
        session.expect("> ", at)
        session.interrupt()
        assert session.wait() == 130
        assert "Traceback" not in session.err.finish()


def test_ctrl_c_during_a_streamed_answer_returns_to_the_prompt_with_the_history(server: FakeServer) -> None:
    with chat("--base-url", server.base_url) as session:
        at = session.expect("> ")
        session.type("first")
        at = session.expect("You said: first", at)
        at = session.expect("> ", at)
        session.type("story")
        at = session.expect("Once upon", at)
        session.interrupt()
        at = session.expect("(interrupted)", at)
        at = session.expect("> ", at)
        session.type("next")
        at = session.expect("You said: next", at)
        session.expect("> ", at)
        session.end()  # Ctrl-D
        assert session.wait() == 0
        assert "Traceback" not in session.err.finish()
    messages = server.requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "story"),
        ("assistant", "Once upon"),  # the part of the answer that arrived
        ("user", "next"),
    ]


def test_ctrl_c_before_any_answer_forgets_the_question_but_not_the_history(server: FakeServer) -> None:
    with chat("--base-url", server.base_url, "--no-stream") as session:
        at = session.expect("> ")
        session.type("first")
        at = session.expect("You said: first", at)
        at = session.expect("> ", at)
        session.type("wait")
        _wait_for_request(server, "wait")
        session.interrupt()
        at = session.expect("(interrupted)", at)
        at = session.expect("> ", at)
        session.type("next")
        at = session.expect("You said: next", at)
        session.expect("> ", at)
        session.interrupt()  # at the prompt again: leave
        assert session.wait() == 130
    messages = server.requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "next"),
    ]


def test_ctrl_c_during_a_one_prompt_answer_exits_130(server: FakeServer) -> None:
    with chat("--base-url", server.base_url, "wait", tty=False) as session:
        _wait_for_request(server, "wait")
        session.interrupt()
        assert session.wait() == 130
        assert "Traceback" not in session.err.finish()


def test_ctrl_c_with_piped_input_exits_rather_than_reading_on(server: FakeServer) -> None:
    with chat("--base-url", server.base_url, tty=False) as session:
        session.type("wait")
        session.type("not asked")
        _wait_for_request(server, "wait")
        session.interrupt()
        assert session.wait() == 130
        assert "Traceback" not in session.err.finish()
    assert [_last_user_text(r) for r in server.requests] == ["wait"]


def _wait_for_request(server: FakeServer, question: str) -> None:
    """Wait (bounded) until the server has received a request whose last message is ``question``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(r.method == "POST" and _last_user_text(r) == question for r in list(server.requests)):
            return
        time.sleep(0.01)
    raise AssertionError(f"the server never received {question!r}")
