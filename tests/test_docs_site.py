"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing page or an API reference
that does not resolve fails it), and the README stays a landing page: short, the two commands, links that lead to
pages that exist, the dependency reasons one link away."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modelport

from .docs_blocks import DOCS, ROOT, section

README = ROOT / "README.md"


def test_the_site_builds_strictly_with_the_api_reference(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra (part of dev) is not installed")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra (part of dev) is not installed")
    site = tmp_path / "site"
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = (site / "api" / "modelport" / "index.html").read_text(encoding="utf-8")
    public = [name for name in modelport.__all__ if not name.startswith("_")]
    missing = [name for name in public if f'id="modelport.{name}"' not in reference]
    assert missing == []
    assert ":class:" not in reference and "``" not in reference  # reStructuredText markup read as Markdown
    assert _public_names_missing_from_the_reference(site) == []


def _public_names_missing_from_the_reference(site: Path) -> list[str]:
    """Every name in the ``__all__`` of a public module of modelport (``modelport.pricing``'s ``register_price`` as
    much as ``modelport``'s own) that no API reference page documents. The providers' modules are left to the guide
    to adding a provider: an application reaches a provider through its client, exported by ``modelport``."""
    pages = (site / "api").rglob("*.html")
    documented = {anchor for page in pages for anchor in re.findall(r'id="([\w.]+)"', page.read_text("utf-8"))}
    missing = []
    for module in pkgutil.iter_modules(modelport.__path__, "modelport."):
        if module.name.rsplit(".", 1)[-1].startswith("_") or module.name == "modelport.providers":
            continue
        for name in getattr(importlib.import_module(module.name), "__all__", []):
            if not {f"{module.name}.{name}", f"modelport.{name}"} & documented:
                missing.append(f"{module.name}.{name}")
    return missing


def test_the_readme_is_a_landing_page_of_at_most_200_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_the_readme_says_the_two_commands() -> None:
    commands = section(README, "## Two commands")
    assert 'python -m pip install -e ".[dev]" && modelport demo' in commands
    assert "python -m pytest " in commands


def test_the_readme_says_how_to_install_and_run_every_example_offline() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    text = README.read_text(encoding="utf-8")
    assert "pip install modelport\n" in section(README, "## Install")
    assert "pip install .  " in section(README, "## Install")  # from a clone, before or without a release
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for extra in extras.keys() - {"interop"}:
        assert f"| `{extra}` |" in text, extra
    offline = section(README, "## Every example runs offline")
    for needed in ("python -m modelport.testing", "OPENAI_BASE_URL=", "modelport chat --offline"):
        assert needed in offline


def test_every_local_link_of_the_readme_leads_to_a_file() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert "docs/dependencies.md" in local
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_every_dependency_keeps_its_reason() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"]]
    for extra, packages in project["optional-dependencies"].items():
        if extra not in ("dev", "interop"):
            wanted += packages
    table = (DOCS / "dependencies.md").read_text(encoding="utf-8")
    names = {re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0] for requirement in wanted}
    assert [name for name in sorted(names) if f"`{name}`" not in table] == []


def test_a_broken_link_or_anchor_fails_the_strict_build(tmp_path: Path) -> None:
    """The project's own settings (strict, link and anchor validation) over two small pages, one linking to a
    heading the other lacks: the build fails and names the link."""
    pytest.importorskip("mkdocs", reason="the docs extra (part of dev) is not installed")
    yaml = pytest.importorskip("yaml")
    settings = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    settings.update(docs_dir=str(tmp_path / "docs"), plugins=["search"], nav=["index.md", "other.md"])
    settings.pop("exclude_docs", None)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the other page](other.md#no-such-heading).\n")
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## A heading\n")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode != 0
    assert "other.md#no-such-heading" in done.stdout + done.stderr
