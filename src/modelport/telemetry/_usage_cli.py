"""The command line's side of the usage log: ``chat`` and ``batch`` record their calls to it unless told not to."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

__all__ = ["add_usage_log_flag", "usage_recorded"]


def add_usage_log_flag(parser: argparse.ArgumentParser) -> None:
    """``--no-usage-log``, for a command that records its calls by default."""
    parser.add_argument(
        "--no-usage-log",
        dest="usage_log",
        action="store_false",
        help="do not record the calls to the usage log ($MODELPORT_USAGE_DB or ~/.modelport/usage.sqlite3, a row "
        "of about 160 bytes per call, read by `modelport usage`)",
    )


@contextlib.contextmanager
def usage_recorded(args: argparse.Namespace) -> Iterator[None]:
    """Record the command's calls to the usage log, unless ``--no-usage-log``, or the fake server answers
    (``--offline``), or nothing is sent (``--dry-run``, ``batch merge``)."""
    merge = getattr(args, "command", None) == "batch" and getattr(args, "files", [])[:1] == ["merge"]
    skip = getattr(args, "offline", False) or getattr(args, "dry_run", False) or merge
    if not getattr(args, "usage_log", False) or skip:
        yield
        return
    from ._usage import UsageLog

    with UsageLog():
        yield
