"""``modelport chat`` as a person uses it: in a real terminal (tmux) with line editing, history, a banner and the
slash commands; and with piped input, where none of the terminal's parts may show or write anything. Every wait is
bounded, so a hang fails the test."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelport.testing import FakeServer, RecordedRequest, Reply, chunk, default_reply

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None or sys.platform == "win32", reason="needs tmux")
WAIT = 20.0  # seconds: far more than any step needs; only reached when something hangs


def _asked(server: FakeServer) -> list[str]:
    """The last user message of each chat request the server received."""
    return [r.json["messages"][-1]["content"] for r in list(server.requests) if r.method == "POST"]


def _model(request: RecordedRequest) -> Reply:
    """The default model, except: "story" starts a streamed answer and then stalls; "title" answers with escape
    sequences that would retitle the terminal and clear its screen; "split" with such sequences cut between
    chunks; "weather?" with text and a tool call."""
    if request.method == "POST" and request.path.endswith("/chat/completions"):
        question = request.json["messages"][-1]["content"]
        if question == "story":
            return Reply.sse([chunk({"role": "assistant", "content": "Once upon"})], done=False, stall=True)
        if question == "split":  # escape sequences cut in two between chunks, among multi-byte characters
            pieces = ["Ünï \x1b[3", "1m漢字\x1b]2;PW", "NED\x1b", "\\ ok\x1b", "[2J done"]
            return Reply.sse([chunk({"role": "assistant", "content": piece}) for piece in pieces])
        if question == "weather?":  # text, and a tool call the chat never offered
            function = {"name": "get_weather", "arguments": "{}"}
            call = {"index": 0, "id": "call_1", "type": "function", "function": function}
            if not request.json.get("stream"):
                message = {"role": "assistant", "content": "Let me look.", "tool_calls": [call]}
                return Reply.json({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
            pieces = [{"role": "assistant", "content": "Let me look."}, {"tool_calls": [call]}]
            return Reply.sse([*(chunk(piece) for piece in pieces), chunk(finish_reason="tool_calls")])
        if question == "title":
            return Reply.sse(
                [chunk({"role": "assistant", "content": "\x1b]2;PWNED\x07\x1b[2Jsafe"}), chunk(finish_reason="stop")]
            )
    return default_reply(request)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(default=_model) as fake:
        yield fake


class Terminal:
    """``modelport chat ARGS`` in a tmux window of its own (a private tmux server, so no other session's settings or
    environment leak in); the exit status is printed when the command ends."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.socket = f"modelport-chat-{os.getpid()}-{time.monotonic_ns()}"
        self.state = tmp_path / "state"
        environment = {
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "XDG_STATE_HOME": str(self.state),
            "HOME": str(tmp_path),
            "TERM": "xterm-256color",
        }
        command = " ".join(
            ["env", "-u", "OPENAI_API_KEY", "-u", "MODELPORT_CHAT_HISTORY", "-u", "NO_COLOR"]
            + [shlex.quote(f"{k}={v}") for k, v in environment.items()]
            + [shlex.quote(sys.executable), "-m", "modelport.cli", "chat", *map(shlex.quote, args)]
        )
        self._tmux("new-session", "-d", "-s", "chat", "-x", "100", "-y", "30", f"{command}; echo EXIT=$?; sleep 60")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def keys(self, *keys: str) -> None:
        """Press keys (tmux names: Enter, Left, Up, C-c, C-d) or type text (``-l``: literally)."""
        for key in keys:
            if key in ("Enter", "Left", "Right", "Up", "Down", "C-c", "C-d"):
                self._tmux("send-keys", "-t", "chat", key)
            else:
                self._tmux("send-keys", "-t", "chat", "-l", key)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "chat")

    def title(self) -> str:
        return self._tmux("display-message", "-p", "-t", "chat", "#{pane_title}").strip()

    def expect(self, text: str, count: int = 1) -> str:
        """Wait until ``text`` shows ``count`` times on the screen; the screen."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.screen()
            if screen.count(text) >= count:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} did not show {count} time(s); the screen:\n{self.screen()}")

    def prompt(self) -> str:
        """Wait until the prompt shows, alone on the last line written; the screen."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.screen()
            if screen.rstrip().splitlines()[-1:] == [">"]:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"no prompt; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=WAIT)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for each in opened:
        each.close()


def _open(opened: list[Terminal], tmp_path: Path, *args: str) -> Terminal:
    opened.append(Terminal(tmp_path, *args))
    return opened[-1]


@needs_tmux
def test_point4_banner_line_editing_and_no_escape_bytes_sent(
    server: FakeServer, terminal: list[Terminal], tmp_path: Path
) -> None:
    chat = _open(terminal, tmp_path, "--base-url", server.base_url, "--model", "llama3.1")
    screen = chat.prompt()
    host = server.base_url.split("//")[1].split("/")[0].rsplit(":", 1)[0]
    assert "llama3.1" in screen and host in screen  # the banner: the model and where it runs
    assert "Ctrl-D" in screen and "/exit" in screen and "/help" in screen and "/save" in screen
    chat.keys("helo", "Left", "Left", "l", "Enter")  # a typo mended with the arrow keys
    chat.expect("You said: hello")
    chat.keys("C-d")
    chat.expect("EXIT=0")
    assert _asked(server) == ["hello"]


@needs_tmux
def test_point4_history_is_recalled_and_kept_between_sessions(
    server: FakeServer, terminal: list[Terminal], tmp_path: Path
) -> None:
    chat = _open(terminal, tmp_path, "--base-url", server.base_url)
    chat.prompt()
    chat.keys("first question", "Enter")
    chat.expect("You said: first question")
    chat.keys("Up", "Enter")  # the last prompt again, from the history
    chat.expect("You said: first question", 2)
    chat.keys("C-d")
    chat.expect("EXIT=0")
    history = chat.state / "modelport" / "chat_history"
    assert "first question" in history.read_text()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600  # prompts can be private
    chat.close()

    again = _open(terminal, tmp_path, "--base-url", server.base_url)
    again.prompt()
    again.keys("Up", "Enter")  # a new session recalls the last one's prompt
    again.expect("You said: first question")
    again.keys("C-d")
    again.expect("EXIT=0")
    assert _asked(server) == ["first question"] * 3


@needs_tmux
def test_point4_ctrl_c_stops_the_answer_and_keeps_the_session(
    server: FakeServer, terminal: list[Terminal], tmp_path: Path
) -> None:
    chat = _open(terminal, tmp_path, "--base-url", server.base_url)
    chat.prompt()
    chat.keys("story", "Enter")
    chat.expect("Once upon")
    chat.keys("C-c")
    chat.expect("(interrupted)")
    chat.keys("next", "Enter")
    chat.expect("You said: next")
    chat.keys("C-d")
    screen = chat.expect("EXIT=0")
    assert "Traceback" not in screen and "^C" not in screen.split("(interrupted)")[1]
    messages = server.requests[-1].json["messages"]
    assert [m["content"] for m in messages] == ["story", "Once upon", "next"]


@needs_tmux
def test_point4_an_answer_cannot_retitle_or_clear_the_terminal(
    server: FakeServer, terminal: list[Terminal], tmp_path: Path
) -> None:
    chat = _open(terminal, tmp_path, "--base-url", server.base_url)
    chat.prompt()
    chat.keys("title", "Enter")
    screen = chat.expect("safe")
    assert chat.title() != "PWNED"
    assert "/help" in screen  # the banner is still on the screen: nothing cleared it


@needs_tmux
def test_point4_commands_model_clear_save_in_a_terminal(
    server: FakeServer, terminal: list[Terminal], tmp_path: Path
) -> None:
    saved = tmp_path / "talk.json"
    chat = _open(terminal, tmp_path, "--base-url", server.base_url, "--model", "llama3.1", "--system", "Be brief.")
    chat.prompt()
    chat.keys("/help", "Enter")
    chat.expect("/save FILE")
    chat.keys("one", "Enter")
    chat.expect("You said: one")
    chat.keys("/model qwen3", "Enter")
    chat.expect("model: qwen3")
    chat.keys("two", "Enter")
    chat.expect("You said: two")
    chat.keys(f"/save {saved}", "Enter")
    chat.expect("saved 5 messages")
    saved.write_text("keep me")
    chat.keys(f"/save {saved}", "Enter")
    chat.expect("replace it? [y/N]")
    chat.keys("Enter")  # no: the file stays as it was
    chat.expect("was not replaced")
    assert saved.read_text() == "keep me"
    chat.keys(f"/save {saved}", "Enter")
    chat.expect("replace it? [y/N]", 2)
    chat.keys("y", "Enter")
    chat.expect("saved 5 messages", 2)
    chat.keys("/clear", "Enter")
    chat.expect("conversation is cleared")
    chat.keys("three", "Enter")
    chat.expect("You said: three")
    chat.keys("C-d")
    chat.expect("EXIT=0")
    assert [(m["role"], m["content"]) for m in json.loads(saved.read_text())] == [
        ("system", "Be brief."),
        ("user", "one"),
        ("assistant", "You said: one"),
        ("user", "two"),
        ("assistant", "You said: two"),
    ]
    posts = [r.json for r in server.requests if r.method == "POST"]
    assert [p["model"] for p in posts] == ["llama3.1", "qwen3", "qwen3"]
    assert [m["content"] for m in posts[-1]["messages"]] == ["Be brief.", "three"]  # cleared, the system kept


def _piped(*args: str, stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "MODELPORT_CHAT_HISTORY"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def test_point4_piped_input_gets_no_banner_no_history_and_no_escape_bytes(server: FakeServer, tmp_path: Path) -> None:
    saved = tmp_path / "out.json"
    saved.write_text("earlier")
    done = _piped(
        "--base-url",
        server.base_url,
        stdin=f"hel\x1b[Dlo\n\n/model qwen3\nagain\n/save {saved}\n/nonsense\n//etc\n",
        env={"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no banner
    assert not (tmp_path / "state").exists()  # no history written off a terminal
    assert _asked(server) == ["hello", "again", "/etc"]  # escape bytes left out, a blank line skipped, // sent as /
    assert [r.json["model"] for r in server.requests if r.method == "POST"] == ["gpt-4o-mini", "qwen3", "qwen3"]
    assert "not replaced" in done.stdout and saved.read_text() == "earlier"  # no one to ask: never replaced
    assert "no command /nonsense" in done.stdout


def test_point4_a_wrong_model_is_said_and_the_conversation_goes_on(tmp_path: Path) -> None:
    def model(request: RecordedRequest) -> Reply:
        if request.method == "POST" and request.json.get("model") == "missing":
            return Reply.json({"error": {"message": "no such model", "code": "model_not_found"}}, status=404)
        return default_reply(request)

    with FakeServer(default=model) as fake:
        leader, follower = os.openpty()  # a terminal as stdin: a person types, so a failed turn ends no chat
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        environment["MODELPORT_CHAT_HISTORY"] = ""
        process = subprocess.Popen(
            [sys.executable, "-m", "modelport.cli", "chat", "--base-url", fake.base_url, "--no-stream"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        os.close(follower)
        os.write(leader, b"one\n/model missing\ntwo\n/model gpt-4o\nthree\n\x04")
        out, err = process.communicate(timeout=60)
        os.close(leader)
    assert process.returncode == 0, err
    assert b"NotFoundError" in err and b"You said: one" in out and b"You said: three" in out
    messages = [r.json["messages"] for r in fake.requests if r.method == "POST"][-1]
    assert [m["content"] for m in messages] == ["one", "You said: one", "three"]  # the failed question forgotten


def test_point4_save_writes_a_file_only_the_user_can_read(server: FakeServer, tmp_path: Path) -> None:
    saved = tmp_path / "talk.json"
    previous = os.umask(0o022)  # the usual umask: files the world may read unless told otherwise
    try:
        done = _piped(
            "--base-url",
            server.base_url,
            stdin=f"my secret plan\n/save {saved}\n",
            env={"MODELPORT_CHAT_HISTORY": ""},
        )
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr
    assert "saved 2 messages" in done.stdout
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # a conversation is private


class PseudoTerminal:
    """``modelport chat ARGS`` with a pseudo-terminal as its input and output, read byte for byte."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        environment.update({"TERM": "dumb", **env})
        self.leader, follower = os.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelport.cli", "chat", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=environment,
        )
        os.close(follower)
        self.output = b""

    def expect(self, text: bytes, count: int = 1) -> bytes:
        """Read until ``text`` has shown ``count`` times; all the output so far."""
        deadline = time.monotonic() + WAIT
        while self.output.count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} did not show; the output: {self.output!r}"
            if select.select([self.leader], [], [], 0.1)[0]:
                self.output += os.read(self.leader, 4096)
        return self.output

    def type(self, line: bytes) -> None:
        os.write(self.leader, line)

    def close(self) -> int:
        """Ctrl-D (at a prompt), and the exit status."""
        self.type(b"\x04")
        with contextlib.suppress(OSError):  # the terminal is gone once the command has ended
            while select.select([self.leader], [], [], WAIT)[0]:
                self.output += os.read(self.leader, 4096)
        status = self.process.wait(timeout=WAIT)
        os.close(self.leader)
        return status


def test_point4_an_escape_sequence_split_between_chunks_is_still_filtered(server: FakeServer, tmp_path: Path) -> None:
    chat = PseudoTerminal("--base-url", server.base_url, env={"MODELPORT_CHAT_HISTORY": ""})
    chat.expect(b"> ")
    chat.type(b"split\n")
    chat.expect(b"> ", 2)  # the next prompt: readline reads the terminal again
    assert chat.close() == 0
    answer = chat.output.split(b"split\r\n", 1)[1].split(b"done", 1)[0]
    assert answer == "Ünï 漢字 ok ".encode()  # nothing of the sequences shows; wide characters and UTF-8 survive


def test_point4_history_that_is_a_symbolic_link_is_neither_read_nor_written(
    server: FakeServer, tmp_path: Path
) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("a file of the user's\n")
    history = tmp_path / "chat_history"
    history.symlink_to(precious)  # planted where the history goes
    chat = PseudoTerminal("--base-url", server.base_url, env={"MODELPORT_CHAT_HISTORY": str(history)})
    chat.expect(b"> ")
    chat.type(b"my secret\n")
    chat.expect(b"> ", 2)
    assert chat.close() == 0
    assert b"symbolic link" in chat.output
    assert precious.read_text() == "a file of the user's\n" and history.is_symlink()


def test_point4_history_keeps_the_prompts_of_sessions_that_ran_at_once(server: FakeServer, tmp_path: Path) -> None:
    history = tmp_path / "state" / "chat_history"
    env = {"MODELPORT_CHAT_HISTORY": str(history)}
    first = PseudoTerminal("--base-url", server.base_url, env=env)
    second = PseudoTerminal("--base-url", server.base_url, env=env)
    for chat, prompt in ((first, b"from the first\n"), (second, b"from the second\n")):
        chat.expect(b"> ")
        chat.type(prompt)
        chat.expect(b"> ", 2)
    assert first.close() == 0 and second.close() == 0
    assert history.read_text().splitlines() == ["from the first", "from the second"]
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


@pytest.mark.parametrize("stream", [True, False])
def test_point4_an_answer_with_tool_calls_keeps_its_text(server: FakeServer, stream: bool) -> None:
    done = _piped(
        "--base-url",
        server.base_url,
        *([] if stream else ["--no-stream"]),
        stdin="weather?\nnext\n",
        env={"MODELPORT_CHAT_HISTORY": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "Let me look." in done.stdout and "get_weather" in done.stdout and "FunctionCall" not in done.stdout
    messages = [r.json["messages"] for r in server.requests if r.method == "POST"][-1]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "weather?"),
        ("assistant", "Let me look."),  # the text, not a Python repr of the calls
        ("user", "next"),
    ]
