"""The floor tier: modelport on the oldest aiohttp it supports (3.8.4, which dbgpt 0.8.2 pins), with the ``dbgpt``
extra, in an environment of its own.

The project's own environment stays on the newest aiohttp, so this tier makes a virtual environment with Python 3.10
or 3.11 (aiohttp 3.8.4 has wheels up to 3.11 only; the interpreter running the tests when it is one of them),
installs ``-e .[dbgpt]``, aiohttp 3.8.4 and pytest in it, and runs there, in a subprocess: the DB-GPT integration
tests (and the docs page's blocks), and the transport tests whose behaviour depends on aiohttp's version (compressed
bodies and their bound, TLS verification, redirects, the resend on a closed keep-alive connection, timeouts, stream
reading and size bounds). The environment is cached under the temp folder, keyed by a hash of what it installs, so
later runs only run the tests. Without a network (no package index), it skips saying so; under CI it must run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.floor

REPO = Path(__file__).resolve().parents[1]
FLOOR_REQUIREMENTS = ("aiohttp==3.8.4", "pytest>=8", "pytest-asyncio>=0.24")
FLOOR_TESTS = (
    "tests/test_integration_dbgpt.py",
    "tests/test_compressed_bodies.py",
    "tests/test_compressed_edges.py",
    "tests/test_transport.py",
    "tests/test_bounds.py",
    "tests/test_stream_cases.py",
    "tests/test_connection_limits.py",
    "tests/test_real_server_bugs.py",
    "tests/test_hardening.py",
)
INNER = "MODELPORT_FLOOR_TIER"
"""Set in the tier's own run, so it never starts itself again."""


def floor_python() -> str | None:
    """A Python 3.10 or 3.11: the one running the tests if it is, else one on the PATH."""
    if sys.version_info[:2] in ((3, 10), (3, 11)):
        return sys.executable
    for name in ("python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    return None


def environment_key(python: str) -> str:
    """What the environment is made of: the interpreter, the project's dependencies and the tier's pins."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
    digest = hashlib.sha256()
    for part in (python, version, (REPO / "pyproject.toml").read_text(), *FLOOR_REQUIREMENTS):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def make_environment(python: str, folder: Path) -> str | None:
    """Create the environment in ``folder`` (once: a finished one holds a ``ready`` file); None, or pip's last
    words when it could not be made."""
    if (folder / "ready").exists():
        return None
    shutil.rmtree(folder, ignore_errors=True)
    made = subprocess.run([python, "-m", "venv", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        return made.stderr[-2000:]
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    installed = subprocess.run(
        [*pip, "-e", f"{REPO}[dbgpt]", *FLOOR_REQUIREMENTS], capture_output=True, text=True, timeout=1800
    )
    if installed.returncode != 0:
        return installed.stderr[-2000:]
    (folder / "ready").write_text("ok\n")
    return None


@pytest.fixture(scope="session")
def floor_environment() -> Path:
    if os.environ.get(INNER):
        pytest.skip("already inside the floor tier's run")
    python = floor_python()
    if python is None:
        return _unavailable("no Python 3.10 or 3.11 found (aiohttp 3.8.4 has wheels up to 3.11 only)")
    folder = Path(tempfile.gettempdir()) / f"modelport-floor-{environment_key(python)}"
    failure = make_environment(python, folder)
    if failure is not None:
        return _unavailable(f"the floor environment could not be made (no package index?): {failure}")
    return folder


def _unavailable(why: str) -> Path:
    if os.environ.get("CI"):
        pytest.fail(f"the floor tier must run under CI: {why}")
    pytest.skip(why)


def test_floor_environment_has_aiohttp_3_8_4_and_dbgpt(floor_environment: Path) -> None:
    versions = subprocess.run(
        [str(floor_environment / "bin" / "python"), "-c",
         "import aiohttp, importlib.metadata as m; print(aiohttp.__version__, m.version('dbgpt'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert versions[0] == "3.8.4"
    assert versions[1] >= "0.8.2"


def tier_environment() -> dict[str, str]:
    """The environment of the tier's run: this tree's ``src`` first on the path, so the code under test is this
    tree's, whichever tree's editable install the cached environment holds."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO / "src")
    env[INNER] = "1"
    return env


def test_floor_tier_imports_this_trees_modelport(floor_environment: Path) -> None:
    found = subprocess.run(
        [str(floor_environment / "bin" / "python"), "-c", "import modelport; print(modelport.__file__)"],
        cwd=REPO, env=tier_environment(), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(found).resolve().is_relative_to((REPO / "src").resolve()), found


def test_dbgpt_integration_and_transport_on_aiohttp_3_8_4(floor_environment: Path) -> None:
    env = tier_environment()
    run = subprocess.run(
        [str(floor_environment / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "-W", "error", *FLOOR_TESTS],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    tail = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    assert " skipped" not in run.stdout.splitlines()[-1], tail  # dbgpt's tests ran, not skipped
