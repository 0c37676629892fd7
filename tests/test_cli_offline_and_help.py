"""The command line's smaller promises, run as a user runs them (a separate process): every command that calls a
model runs offline, each subcommand's help is its own, flags are used or refused, a config is checked without a
key, texts show no docstring markup, and shell completion works in a real bash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = ("_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK")


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith(KEYS)}
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=cwd,
    )


def _requests(path: Path, count: int) -> Path:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]},
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# -- point 1: offline everywhere --


def test_point1_batch_runs_offline_without_a_key(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run("batch", str(_requests(tmp_path / "in.jsonl", 3)), "-o", str(out), "--offline")
    assert done.returncode == 0, done.stderr
    answers = {
        line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
        for line in map(json.loads, out.read_text().splitlines())
    }
    assert answers == {f"r{i}": f"You said: question {i}" for i in range(3)}


def test_point1_offline_is_refused_with_a_real_server_or_key() -> None:
    for command in (["chat", "hi"], ["batch", "in.jsonl", "-o", "out.jsonl"]):
        done = run(*command, "--offline", "--base-url", "http://localhost:1/v1")
        assert done.returncode == 2
        assert "--base-url cannot be combined with --offline" in done.stderr, done.stderr


def test_point1_help_shows_the_offline_ways() -> None:
    top = run("--help").stdout
    assert "modelport chat --offline" in top and "--offline against the built-in fake server" in top
    for command in ("chat", "batch"):
        assert "--offline" in run(command, "--help").stdout


# -- point 10 --


def test_point10_batch_merge_help_is_its_own() -> None:
    done = run("batch", "merge", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: modelport batch merge")
    assert "PART.jsonl" in done.stdout and "--concurrency" not in done.stdout
    assert "batch merge --help" in run("batch", "--help").stdout  # batch's help points to it


def test_point10_batch_merge_still_merges(tmp_path: Path) -> None:
    requests = _requests(tmp_path / "in.jsonl", 10)
    parts = []
    for shard in (1, 2):
        part = tmp_path / f"part{shard}.jsonl"
        done = run("batch", str(requests), "-o", str(part), "--offline", "--shard", f"{shard}/2")
        assert done.returncode == 0, done.stderr
        parts.append(str(part))
    merged = tmp_path / "merged.jsonl"
    done = run("batch", "merge", str(requests), *parts, "-o", str(merged))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["custom_id"] for line in merged.read_text().splitlines()] == [f"r{i}" for i in range(10)]
    missing = run("batch", "merge", str(requests), parts[0])
    assert missing.returncode == 2 and "-o" in missing.stderr


def test_point10_demo_refuses_a_base_url_it_would_not_use() -> None:
    done = run("demo", "--base-url", "http://localhost:1/v1")
    assert done.returncode == 2
    assert "--base-url is for a real server: add --live" in done.stderr
    assert done.stdout == ""  # refused before the demo ran offline


def test_point10_config_validate_needs_no_key(tmp_path: Path) -> None:
    for provider, model in (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash")):
        config = tmp_path / f"{provider}.json"
        config.write_text(json.dumps({"provider": provider, "config": {"model": model}}))
        done = run("config", "validate", str(config))
        assert done.returncode == 0, done.stderr
        assert f"a valid {provider} config" in done.stdout
        shown = run("config", "show", str(config))
        assert shown.returncode == 0 and "stand-in" not in shown.stdout
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"provider": "openai", "config": {"model": "gpt-4o", "temprature": 0}}))
    done = run("config", "validate", str(wrong))
    assert done.returncode == 2 and "temprature" in done.stderr  # still checked: only the key is not needed


def test_point10_config_show_shows_no_docstring_markup(tmp_path: Path) -> None:
    config = tmp_path / "cache.json"
    client = {"provider": "openai", "config": {"model": "gpt-4o"}}
    config.write_text(json.dumps({"provider": "chat_completion_cache", "config": {"client": client}}))
    shown = run("config", "show", str(config))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["config"]["client"]["config"]["model"] == "gpt-4o"
    assert "``" not in shown.stdout and ":class:`" not in shown.stdout, shown.stdout


def test_point10_help_and_schema_show_no_docstring_markup() -> None:
    texts = [run("--help").stdout, run("batch", "merge", "--help").stdout]
    texts += [run(command, "--help").stdout for command in ("demo", "chat", "config", "usage", "batch", "completion")]
    server_help = subprocess.run(
        [sys.executable, "-m", "modelport.testing", "--help"], capture_output=True, text=True, timeout=60
    )
    assert server_help.returncode == 0 and "--port" in server_help.stdout
    texts.append(server_help.stdout)
    schema = run("config", "schema")
    assert schema.returncode == 0
    descriptions: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                descriptions.append(node["description"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(schema.stdout))
    assert len(descriptions) > 50
    for text in [*texts, *descriptions]:
        assert "``" not in text and ":class:`" not in text, text


# -- point 10: shell completion --


def _complete(script: Path, *words: str, cwd: Path) -> list[str]:
    """What a real bash, having sourced ``script``, offers for the command line ``words`` (the last one being
    typed)."""
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f"set -u\nsource {script}\n"  # as strict as a user's shell may be
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMPREPLY=()\n"
        f"$(complete -p modelport | sed -E 's/.*-F ([^ ]+) .*/\\1/')\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=30, cwd=cwd)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [word for word in done.stdout.splitlines() if word]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_point10_bash_completion_completes_subcommands_flags_and_choices(tmp_path: Path) -> None:
    done = run("completion", "bash")
    assert done.returncode == 0, done.stderr
    script = tmp_path / "modelport.bash"
    script.write_text(done.stdout)
    (tmp_path / "requests.jsonl").write_text("")
    assert _complete(script, "modelport", "", cwd=tmp_path)[:7] == [
        "demo",
        "chat",
        "config",
        "usage",
        "models",
        "batch",
        "completion",
    ]
    assert _complete(script, "modelport", "ch", cwd=tmp_path) == ["chat"]
    assert _complete(script, "modelport", "config", "v", cwd=tmp_path) == ["validate"]
    assert sorted(_complete(script, "modelport", "batch", "--con", cwd=tmp_path)) == ["--concurrency", "--config"]
    assert _complete(script, "modelport", "usage", "--by", "", cwd=tmp_path) == ["model", "day", "provider"]
    assert _complete(script, "modelport", "batch", "req", cwd=tmp_path) == ["requests.jsonl"]
    assert _complete(script, "modelport", "chat", "--off", cwd=tmp_path) == ["--offline"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_point10_bash_completion_offers_odd_file_names_whole(tmp_path: Path) -> None:
    script = tmp_path / "modelport.bash"
    script.write_text(run("completion", "bash").stdout)
    files = tmp_path / "files"
    files.mkdir()
    for name in ("my requests.jsonl", "*", "a$(touch pwned).jsonl"):
        (files / name).write_text("")
    assert sorted(_complete(script, "modelport", "batch", "my", cwd=files)) == ["my requests.jsonl"]
    assert sorted(_complete(script, "modelport", "chat", "--config", "", cwd=files)) == [
        "*",
        "a$(touch pwned).jsonl",
        "my requests.jsonl",
    ]
    assert not (files / "pwned").exists()


def test_point10_completion_scripts_for_zsh_and_fish_name_every_subcommand() -> None:
    for shell in ("zsh", "fish"):
        done = run("completion", shell)
        assert done.returncode == 0, done.stderr
        for command in ("demo", "chat", "config", "usage", "batch", "completion"):
            assert command in done.stdout
    assert "bashcompinit" in run("completion", "zsh").stdout
    assert "__fish_seen_subcommand_from" in run("completion", "fish").stdout
    assert run("completion", "tcsh").returncode == 2
