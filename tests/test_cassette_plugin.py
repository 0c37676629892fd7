"""The pytest plugin, run through pytest's own ``pytester``: each record mode does what the docs say, a marked test
gets its cassette named after it, ``CI`` makes replay the default, and the plugin imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from modelport.testing import FakeServer

pytest_plugins = ["pytester"]

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens there: a request that is not replayed fails

INNER_TEST = '''
import asyncio, os

import pytest

from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage


def ask(*questions):
    async def run():
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=os.environ["MODELPORT_TEST_URL"],
                                            api_key="sk-plugin-test-0000", retry_policy=RetryPolicy(max_retries=0))
        try:
            return [(await client.create([UserMessage(content=q, source="user")])).content for q in questions]
        finally:
            await client.close()
    return asyncio.run(run())


@pytest.mark.modelport_cassette
def test_greeting():
    assert ask(*os.environ["MODELPORT_TEST_QUESTIONS"].split(",")) == [
        f"You said: {q}" for q in os.environ["MODELPORT_TEST_QUESTIONS"].split(",")
    ]


async def test_named_by_fixture(modelport_cassette):
    from modelport import OpenAIChatCompletionClient, RetryPolicy, UserMessage

    async with OpenAIChatCompletionClient(model="gpt-4o", base_url=os.environ["MODELPORT_TEST_URL"],
                                          api_key="sk-plugin-test-0000",
                                          retry_policy=RetryPolicy(max_retries=0)) as client:
        result = await client.create([UserMessage(content="async", source="user")])  # closed when this fails too
    assert result.content == "You said: async"
'''


def plugin_args() -> list[str]:
    """``-p`` the plugin unless the installed package already registers it through its entry point."""
    registered = any(point.name == "modelport" for point in entry_points(group="pytest11"))
    return [] if registered else ["-p", "modelport._pytest_plugin"]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("MODELPORT_TEST_QUESTIONS", "hello")
    pytester.makepyfile(test_inner=INNER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
                     "filterwarnings = error\n")
    return pytester


def run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    pytester._monkeypatch.setenv("MODELPORT_TEST_URL", url)
    return pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", *args)


def recordings(pytester: pytest.Pytester, name: str) -> list[dict[str, object]]:
    import yaml

    data = yaml.safe_load((pytester.path / "cassettes" / name).read_text())
    return list(data["interactions"])


def test_mode_once_records_when_the_file_is_absent_then_replays(inner: pytest.Pytester, server: FakeServer) -> None:
    run(inner, server.base_url).assert_outcomes(passed=2)
    assert len(server.requests) == 2
    assert len(recordings(inner, "test_greeting.yaml")) == 1
    assert len(recordings(inner, "test_named_by_fixture.yaml")) == 1
    run(inner, DEAD_URL).assert_outcomes(passed=2)  # the second run needs no server


def test_mode_none_fails_a_request_with_no_recording(inner: pytest.Pytester, server: FakeServer) -> None:
    result = run(inner, server.base_url, "--record-mode=none")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*CassetteMismatchError*holds no recordings*"])
    assert not server.requests
    run(inner, server.base_url, "--record-mode=once").assert_outcomes(passed=2)
    run(inner, DEAD_URL, "--record-mode=none").assert_outcomes(passed=2)


def test_mode_new_episodes_records_only_new_requests(
    inner: pytest.Pytester, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(inner, server.base_url).assert_outcomes(passed=2)
    monkeypatch.setenv("MODELPORT_TEST_QUESTIONS", "hello,again")
    run(inner, server.base_url, "--record-mode=none", "-k", "greeting").assert_outcomes(failed=1)
    run(inner, server.base_url, "--record-mode=new_episodes", "-k", "greeting").assert_outcomes(passed=1)
    assert [r.json["messages"][0]["content"] for r in server.requests] == ["hello", "async", "again"]
    assert len(recordings(inner, "test_greeting.yaml")) == 2
    run(inner, DEAD_URL, "--record-mode=none", "-k", "greeting").assert_outcomes(passed=1)


def test_mode_all_records_everything_again(inner: pytest.Pytester, server: FakeServer) -> None:
    run(inner, server.base_url).assert_outcomes(passed=2)
    first = (inner.path / "cassettes" / "test_greeting.yaml").read_text()
    run(inner, server.base_url, "--record-mode=all").assert_outcomes(passed=2)
    assert len(server.requests) == 4  # every request went to the server again
    assert len(recordings(inner, "test_greeting.yaml")) == 1
    assert (inner.path / "cassettes" / "test_greeting.yaml").read_text() != first  # the port, at least


def test_ci_makes_none_the_default_mode(
    inner: pytest.Pytester, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = run(inner, server.base_url)
    result.assert_outcomes(failed=2)
    assert not server.requests
    assert not (inner.path / "cassettes").exists()


def test_a_marker_names_the_cassette_and_passes_options(inner: pytest.Pytester, server: FakeServer) -> None:
    pytester = inner
    pytester.makepyfile(test_named='''
import asyncio, os

import pytest

from modelport import OpenAIChatCompletionClient, UserMessage


@pytest.mark.modelport_cassette("shared/greeting.json", match_volatile=["user"])
@pytest.mark.parametrize("run", ["1", "2"])
def test_named(run):
    async def go():
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=os.environ["MODELPORT_TEST_URL"],
                                            api_key="sk-plugin-test-0000")
        result = await client.create([UserMessage(content="hi", source="user")], extra_create_args={"user": run})
        await client.close()
        return result.content
    assert asyncio.run(go()) == "You said: hi"
''')
    run(pytester, server.base_url, "--record-mode=new_episodes", "test_named.py").assert_outcomes(passed=2)
    assert len(server.requests) == 1  # the second test matched the first's recording: "user" is volatile
    stored = json.loads((pytester.path / "cassettes" / "shared-greeting.json").read_text())
    assert len(stored["interactions"]) == 1


def test_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, modelport._pytest_plugin; "
        "print(sorted(m for m in ('aiohttp', 'pydantic', 'modelport.client', 'modelport.testing', 'yaml') "
        "if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_the_plugin_is_registered_as_a_pytest_entry_point() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nmodelport = "modelport._pytest_plugin"\n' in pyproject


RECORDING_STAND_IN = '''
def pytest_addoption(parser):
    group = parser.getgroup("recording")
    group.addoption("--record-mode", action="store", default=None,
                    choices=["once", "new_episodes", "none", "all", "rewrite"])
'''


def test_pytest_recording_installed_alongside_shares_record_mode(inner: pytest.Pytester, server: FakeServer) -> None:
    # pytest-recording's plugin defines --record-mode in its own group: pytest must still start, and both read it
    package = inner.mkpydir("pytest_recording")
    (package / "plugin.py").write_text(RECORDING_STAND_IN)
    inner.syspathinsert()
    run(inner, server.base_url, "-p", "pytest_recording.plugin").assert_outcomes(passed=2)
    assert len(server.requests) == 2
    run(inner, DEAD_URL, "-p", "pytest_recording.plugin", "--record-mode=rewrite").assert_outcomes(failed=2)
    run(inner, server.base_url, "-p", "pytest_recording.plugin", "--record-mode=none").assert_outcomes(passed=2)


@pytest.mark.parametrize("value", ["false", "0", "False", ""])
def test_ci_set_to_false_or_0_records_as_without_ci(
    inner: pytest.Pytester, server: FakeServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    run(inner, server.base_url).assert_outcomes(passed=2)
    assert len(server.requests) == 2
    assert (inner.path / "cassettes" / "test_greeting.yaml").exists()
