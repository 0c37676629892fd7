#!/usr/bin/env python3
"""modelport's client overhead beside the floor and peer libraries, in one run, as ratios.

The peers are installed into a virtual environment of their own, once, at the versions pinned beside this file:

    python -m venv /tmp/peers && /tmp/peers/bin/pip install -r bench/requirements-peers.txt
    python bench/compare.py --peers-venv /tmp/peers                    # every peer, every mode
    python bench/compare.py --peers-venv /tmp/peers --modes stream --peers floor_raw,autogen,project
    python bench/compare.py --peers project                            # modelport alone: no venv needed
    python bench/compare.py --peers-venv /tmp/peers --json out.json    # also write the figures

modelport (``project``) runs under this interpreter, so run it from the project's environment (``import modelport``
must work); every other peer runs under the venv's Python (``--peers-venv``, default ``$MODELPORT_PEERS_VENV``).
All talk to ``fast_server.py`` (see its docstring for why not the built-in fake server) in a process of its own,
on a core of its own when ``taskset`` exists, the clients on another. Each (peer, mode) runs ``--rounds`` times,
interleaved, each in a fresh process, and the median is shown beside its ratio to the raw floor and to autogen-ext.

Modes: ``nonstream`` (client CPU per call, 300 calls one after another), ``stream`` (client CPU per chunk, 20
streams of 500 chunks), ``concurrent`` (calls per second, 2000 calls at 500 concurrent) and ``import`` (wall time
from the first import to the end of the first call). Figures are client CPU (``time.process_time``), so the
server's work is not counted; compare ratios within one run, not absolute figures across machines or loads.
The versions measured are printed under the table, with a note where one differs from the pins.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench import free_port, wait_for_port

HERE = Path(__file__).resolve().parent
PEERS = ("floor_raw", "floor_aiohttp", "floor_httpx", "openai", "autogen", "litellm", "pydantic_ai", "project")
MODES = ("nonstream", "stream", "concurrent", "import")
ARGS = {
    "nonstream": ["--n", "300"],
    "stream": ["--n", "20", "--chunks", "500"],
    "concurrent": ["--n", "2000", "--concurrency", "500"],
    "import": [],
}
METRIC = {
    "nonstream": ("cpu_per_call_us", "us CPU per call"),
    "stream": ("cpu_per_chunk_us", "us CPU per chunk"),
    "concurrent": ("calls_per_s", "calls/s"),
    "import": ("import_and_first_call_wall_s", "s wall, import and first call"),
}
NOT_MEASURED = {("floor_raw", "concurrent"): "(not measured: one connection, no pool)"}
PEERS_VENV_HELP = (
    "the peers need a virtual environment: python -m venv /tmp/peers && "
    "/tmp/peers/bin/pip install -r bench/requirements-peers.txt, then --peers-venv /tmp/peers"
)


def peers_python(venv: str | None) -> str:
    if not venv:
        raise SystemExit(PEERS_VENV_HELP)
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{venv} has no bin/python; {PEERS_VENV_HELP}")
    return str(python)


def pinned(core: int, command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core), *command]
    return command


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = pinned(1, [sys.executable, str(HERE / "fast_server.py"), "--port", str(port)])
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server, f"http://127.0.0.1:{port}/v1"


def run_once(python: str, peer: str, mode: str, base_url: str) -> dict[str, Any]:
    """One measuring process; its JSON line, or ``{"error": ...}`` with the end of what it printed."""
    command = pinned(0, [python, str(HERE / "peers.py"), peer, mode, "--base-url", base_url, *ARGS[mode]])
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONWARNINGS="ignore")
    if peer != "project":
        env.pop("PYTHONPATH", None)  # the peers' own venv only
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        return {"error": said[-1] if said else f"exit status {done.returncode}"}
    figures: dict[str, Any] = json.loads(line)
    return figures


def run_rounds(args: argparse.Namespace, pythons: dict[str, str], base_url: str) -> dict[tuple[str, str], list[Any]]:
    """Every (peer, mode) ``args.rounds`` times, interleaved; progress on stderr (a full run takes minutes)."""
    runs: dict[tuple[str, str], list[Any]] = {}
    for round_number in range(1, args.rounds + 1):
        for mode in args.modes:
            for peer in args.peers:
                if (peer, mode) in NOT_MEASURED:
                    continue
                print(f"[compare] round {round_number}/{args.rounds}: {mode} {peer}", file=sys.stderr, flush=True)
                runs.setdefault((peer, mode), []).append(run_once(pythons[peer], peer, mode, base_url))
    return runs


def summarise(mode: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the runs that worked, whether every one was right, and the versions they measured."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": "FAILED: " + runs[-1]["error"]}
    return {
        "median": statistics.median(r[METRIC[mode][0]] for r in good),
        "correct": all(r["correct"] for r in good),
        "errors": max(r.get("errors", 0) for r in good),
        "first_error": next((r["first_error"] for r in good if r.get("first_error")), None),
        "failed_runs": len(runs) - len(good),
        "rss_mb": statistics.median(r["peak_rss_mb"] for r in good),
        "versions": good[-1]["versions"],
    }


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def verdict(row: dict[str, Any]) -> str:
    problems = [] if row["correct"] else ["a wrong answer"]
    problems += [f"{row['errors']} calls failed"] if row["errors"] else []
    problems += [f"{row['failed_runs']} runs failed"] if row["failed_runs"] else []
    return "NO: " + ", ".join(problems) if problems else "yes"


def print_table(table: dict[tuple[str, str], dict[str, Any]], peers: list[str], modes: list[str]) -> None:
    print(f"{'mode':<11}{'peer':<15}{'figure':>11}{'/floor_raw':>12}{'/autogen':>10}{'RSS MB':>8}  ok")
    for mode in modes:
        floor = table.get(("floor_raw", mode), {}).get("median") if mode in ("nonstream", "stream") else None
        autogen = table.get(("autogen", mode), {}).get("median")
        for peer in peers:
            row = table.get((peer, mode), {"error": NOT_MEASURED.get((peer, mode), "not run")})
            if "error" in row:
                print(f"{mode:<11}{peer:<15}{'-':>11}  {row['error']}")
                continue
            value = row["median"]
            print(
                f"{mode:<11}{peer:<15}{value:>11.1f}{ratio(value, floor):>12}{ratio(value, autogen):>10}"
                f"{row['rss_mb']:>8.0f}  {verdict(row)}"
            )
        print(f"{'':<11}({METRIC[mode][1]})")
    for (peer, mode), row in table.items():
        if row.get("first_error"):
            print(f"note: {peer} {mode}: {row['errors']} calls failed, the first with {row['first_error']}")


def pins() -> dict[str, str]:
    """The versions pinned in requirements-peers.txt, by normalised distribution name."""
    found = {}
    for line in (HERE / "requirements-peers.txt").read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^]]*\])?==(\S+)", line)
        if match:
            found[normalised(match.group(1))] = match.group(3)
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def print_versions(table: dict[tuple[str, str], dict[str, Any]]) -> None:
    measured: dict[str, set[str]] = {}
    for row in table.values():
        for name, version in row.get("versions", {}).items():
            measured.setdefault(name, set()).add(version)
    print("versions: " + ", ".join(f"{name} {'/'.join(sorted(v))}" for name, v in sorted(measured.items())))
    pinned_versions = pins()
    for name, found in sorted(measured.items()):
        wanted = pinned_versions.get(normalised(name))
        if wanted and found != {wanted}:
            print(f"note: {name} {'/'.join(sorted(found))} measured, {wanted} pinned in bench/requirements-peers.txt")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, from: " + ", ".join(PEERS))
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, from: " + ", ".join(MODES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-venv", default=os.environ.get("MODELPORT_PEERS_VENV"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    args.peers, args.modes = args.peers.split(","), args.modes.split(",")
    for name, given, known in (("peer", args.peers, PEERS), ("mode", args.modes, MODES)):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name} {', '.join(unknown)}: choose from {', '.join(known)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if "project" in args.peers and find_spec("modelport") is None:
        raise SystemExit("modelport is not importable here: run from the project's environment (pip install -e .)")
    others = [p for p in args.peers if p != "project"]
    pythons = dict.fromkeys(others, peers_python(args.peers_venv)) if others else {}
    pythons["project"] = sys.executable
    server, base_url = start_server()
    try:
        runs = run_rounds(args, pythons, base_url)
    finally:
        server.terminate()
        server.wait()
    table = {key: summarise(key[1], results) for key, results in runs.items()}
    print_table(table, args.peers, args.modes)
    print_versions(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{peer}/{mode}": row for (peer, mode), row in table.items()}, f, indent=1)


if __name__ == "__main__":
    main()
