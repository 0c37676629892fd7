"""modelport's pytest plugin (registered as the ``modelport`` entry point of ``pytest11``): record and replay in
any test.

    @pytest.mark.modelport_cassette                  # cassettes/<test name>.yaml next to the test file
    async def test_greeting(modelport_cassette): ...

    @pytest.mark.modelport_cassette("shared-greeting")   # cassettes/shared-greeting.yaml
    @pytest.mark.modelport_cassette("greeting", match_volatile=["user"])

A test marked with ``modelport_cassette``, or asking for the ``modelport_cassette`` fixture, runs inside a
:class:`modelport.testing.Cassette`. ``--record-mode`` (``none``, ``once``, ``new_episodes``, ``all``) sets the mode;
without it, ``none`` when the ``CI`` environment variable is set (a CI run never reaches a provider; ``CI=false``,
``CI=0`` and an empty value do not count), else ``once``.

It loads in every pytest session where modelport is installed, so it imports nothing heavy until a test uses it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MODES = ("none", "once", "new_episodes", "all")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if _recording_plugin_present(pluginmanager):
        return  # pytest-recording defines --record-mode with the same modes (and "rewrite"): its option is read
    group = parser.getgroup("modelport", "modelport cassettes (record and replay)")
    group.addoption(
        "--record-mode",
        choices=MODES,
        default=None,
        help="how modelport cassettes record: none, once, new_episodes or all (default: none when CI is set, "
        "else once)",
    )


def _recording_plugin_present(pluginmanager: pytest.PytestPluginManager) -> bool:
    """True when pytest-recording is (or will be) loaded: two plugins defining one option name stop pytest before
    any test runs, whichever of them registers first."""
    if pluginmanager.is_blocked("recording"):
        return False
    return pluginmanager.has_plugin("recording") or importlib.util.find_spec("pytest_recording") is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "modelport_cassette(name=None, **options): record and replay the test's modelport requests in "
        "cassettes/<name>.yaml next to the test file (name: the test's name by default)",
    )


def record_mode(config: pytest.Config) -> str:
    """The mode of this session: ``--record-mode``, else ``none`` under CI, else ``once``."""
    chosen = config.getoption("--record-mode", default=None)
    if chosen:
        return "all" if chosen == "rewrite" else str(chosen)  # pytest-recording's name for rewriting a file
    return "none" if _on_ci() else "once"


def _on_ci() -> bool:
    """True when ``CI`` says so: set, and not to an empty value, ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def cassette_path(item: pytest.Item, name: str | None) -> Path:
    """``cassettes/<name>`` next to the test file; the name defaults to the test's (parameters included), and
    ``.yaml`` is added when it has no suffix."""
    if name is None:
        cls = getattr(item, "cls", None)
        name = item.name if cls is None else f"{cls.__name__}.{item.name}"
    name = _UNSAFE.sub("-", name).strip("-")
    if not Path(name).suffix:
        name += ".yaml"
    return Path(item.path).parent / "cassettes" / name


@pytest.fixture
def modelport_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's :class:`modelport.testing.Cassette`, active for the whole test (see the module's docs)."""
    from .testing._cassette import Cassette

    marker = request.node.get_closest_marker("modelport_cassette")
    args = marker.args if marker is not None else ()
    options = dict(marker.kwargs) if marker is not None else {}
    name = options.pop("name", args[0] if args else None)
    mode = options.pop("mode", None) or record_mode(request.config)
    with Cassette(cassette_path(request.node, name), mode, **options) as cassette:
        yield cassette


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A marked test uses the fixture without asking for it."""
    for item in items:
        if item.get_closest_marker("modelport_cassette") is None:
            continue
        fixturenames = getattr(item, "fixturenames", None)
        if fixturenames is not None and "modelport_cassette" not in fixturenames:
            fixturenames.insert(0, "modelport_cassette")
