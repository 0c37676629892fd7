"""``modelport batch``: run a requests file into a results file, resumable, within limits, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

import orjson

from .._money import format_usd
from ._files import BatchRequest, line_failed, not_a_file, read_finished, read_requests, replace_whole
from ._run import BatchResult, BatchRun

__all__ = ["add_arguments", "cmd_batch"]


def add_arguments(batch: argparse.ArgumentParser) -> None:
    batch.add_argument("files", nargs="+", metavar="IN.jsonl", help="the requests file (or: merge IN PART...)")
    batch.add_argument("-o", "--output", metavar="OUT.jsonl", help="the results file (appended to; resumed from)")
    batch.add_argument("--config", help="a client or router saved as a component config (JSON or YAML)")
    batch.add_argument("--concurrency", type=int, default=64, help="requests in flight at once (default 64)")
    batch.add_argument(
        "--rpm",
        type=int,
        help="requests per minute: started evenly, one every 60/N seconds, and never more than N in any minute",
    )
    batch.add_argument("--tpm", type=int, help="tokens per minute (prompt plus max_tokens reserved per call)")
    batch.add_argument("--cache", metavar="DIR", help="answer repeated requests from a disk cache in DIR")
    batch.add_argument("--max-retries", type=int, help="retries per request (default: the client's, 3)")
    batch.add_argument("--shard", metavar="I/N", help="run only shard I of N (1-based), by a hash of custom_id")
    batch.add_argument("--dry-run", action="store_true", help="count prompt tokens and cost; send nothing")
    batch.add_argument("--retry-failed", action="store_true", help="run the lines that failed again")
    batch.add_argument(
        "--progress-every", type=float, default=10.0, metavar="S", help="seconds between progress lines off a terminal"
    )


class BatchCommandError(Exception):
    """A mistake on the batch command line, told in one line."""


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BatchCommandError(f"--shard takes I/N, like 1/3; got {text!r}") from None
    if count < 1 or not 1 <= index <= count:
        raise BatchCommandError(f"--shard {text}: I must be between 1 and N")
    return index, count


def _limited(client: Any, args: argparse.Namespace) -> Any:
    """``client`` behind the --rpm/--tpm limits and the --cache, as the flags ask."""
    from ..router import Deployment, Router

    if args.rpm is not None or args.tpm is not None:
        if isinstance(client, Router):
            raise BatchCommandError(
                "--rpm and --tpm cannot be combined with a router config: set its deployments' limits"
            )
        client = Router([Deployment(client, "batch", rpm=args.rpm, tpm=args.tpm)])
    if args.cache:
        from ..cache import ChatCompletionCache, DiskCacheStore

        client = ChatCompletionCache(client, DiskCacheStore(args.cache))
    return client


def base_client(client: Any) -> Any:
    """The HTTP client under a cache or router (its first deployment): whose model and price a dry run quotes,
    and whose model and host the chat's banner shows."""
    while True:
        inner = getattr(client, "client", None)
        if inner is None and getattr(client, "deployments", None):
            inner = client.deployments[0].client
        if inner is None:
            return client
        client = inner


# -- the progress line --


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _fit(parts: list[tuple[int, str]], room: int) -> str:
    """``parts`` (each with its rank: the lowest goes first) joined with `` · ``, dropping the lowest ranked until
    the line fits in ``room`` columns; the last one left is cut with ``…`` if it still does not fit."""
    parts = list(parts)
    while len(parts) > 1 and len(" · ".join(text for _, text in parts)) > room:
        parts.remove(min(parts, key=lambda part: part[0]))
    text = " · ".join(text for _, text in parts)
    return text if len(text) <= room else text[: max(0, room - 1)] + "…"


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to (not stdout's, which may be a file or a pipe)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size((100, 20)).columns


class Progress:
    """Done / total, rate, tokens, cost, cache hits, errors, waits for capacity and time left: one line redrawn on
    a terminal (never wider than it: the least useful figures make way), a plain line every ``every`` seconds
    otherwise. Tokens and cost count the calls a provider answered, not the cache's answers. ``per_second``, a
    pace the run keeps (``--rpm``), bounds the rate the time left is reckoned from."""

    def __init__(
        self, total: int, already: int, stream: TextIO, every: float, *, per_second: float | None = None
    ) -> None:
        self.total, self.already, self.stream = total, already, stream
        self.tty = stream.isatty()
        self.every = 0.2 if self.tty else every
        self.per_second = per_second
        self.started = time.monotonic()
        self.last = 0.0
        self.done = 0
        self.errors = 0
        self.cached = 0
        self.tokens = 0
        self.cost: Decimal | None = None
        self.waiting = 0
        """Requests waiting for capacity now (set by the run's owner)."""
        self.note = ""

    def add(self, outcome: BatchResult) -> None:
        self.done += 1
        if outcome.result is None:
            self.errors += 1
        elif outcome.result.cached:
            self.cached += 1  # nothing spent: its tokens and cost were the first call's
            if outcome.result.cost is not None:
                self.cost = self.cost or Decimal(0)
        else:
            usage = outcome.result.usage
            self.tokens += usage.prompt_tokens + usage.completion_tokens
            if outcome.result.cost is not None:
                self.cost = (self.cost or Decimal(0)) + outcome.result.cost
        self.maybe_show()

    def maybe_show(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.show()

    def _time_left(self, elapsed: float, finished: int) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.per_second is not None:
            rate = min(rate, self.per_second) if rate > 0 else self.per_second
        if finished >= self.total or rate <= 0:
            return f"{_duration(elapsed)} elapsed"
        return f"{_duration((self.total - finished) / rate)} left"

    def parts(self) -> list[tuple[int, str]]:
        """The line's figures in order, each with its rank (the lowest is left out first when space is short)."""
        elapsed = time.monotonic() - self.started
        finished = self.already + self.done
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [(9, f"{finished:,}/{self.total:,}"), (3, f"{rate:,.1f}/s"), (2, f"{self.tokens:,} tok")]
        if self.cost is not None:
            parts.append((4, format_usd(self.cost)))
        if self.cached:
            parts.append((1, f"{self.cached:,} cached"))
        parts.append((6, f"{self.errors:,} error{'s' if self.errors != 1 else ''}"))
        if self.waiting:
            parts.append((5, f"{self.waiting:,} waiting for capacity"))
        parts.append((7, self._time_left(elapsed, finished)))
        if self.note:
            parts.append((10, self.note))  # what happens now (stopping) outranks even the count
        return parts

    def line(self) -> str:
        if not self.tty:
            return "batch: " + " · ".join(text for _, text in self.parts())
        room = _columns(self.stream) - 1  # the last column would wrap on some terminals
        text = _fit(self.parts(), room)
        bar_width = min(30, room - len(text) - 6)  # the bar, a space, "100%" and a space
        if bar_width < 10:
            return text
        finished = self.already + self.done
        share = finished / self.total if self.total else 1.0
        filled = int(share * bar_width)
        return f"{'█' * filled}{'░' * (bar_width - filled)} {share:4.0%} {text}"

    def show(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def _tick(progress: Progress, run: BatchRun) -> None:
    """Redraw now and then when no result arrives (a wait for a rate limit, a slow model)."""
    while True:
        await asyncio.sleep(progress.every)
        progress.waiting = run.waiting
        progress.maybe_show()


# -- the summary --


def _percentile(sorted_values: Sequence[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(share * (len(sorted_values) - 1))))
    return sorted_values[index]


def _failure_class(line: dict[str, Any]) -> str:
    error = line.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or "error")
    response = line.get("response") or {}
    return f"HTTP {response.get('status_code')}"


def _summary(
    outcomes: list[BatchResult], skipped: int, elapsed: float, out: str, stopped: int, cost: Decimal | None
) -> str:
    """What the run did: calls, cache hits and failures; the tokens and cost spent (cache hits spent none); the
    latency from each request's start; the waits for capacity, apart."""
    ok = [o for o in outcomes if o.ok]
    spent = [o.result for o in ok if o.result is not None and not o.result.cached]
    hits = len(ok) - len(spent)
    failures = Counter(_failure_class(o.output_line()) if o.error is not None else "" for o in outcomes if not o.ok)
    prompt = sum(r.usage.prompt_tokens for r in spent)
    completion = sum(r.usage.completion_tokens for r in spent)
    rate = len(outcomes) / elapsed if elapsed > 0 else 0.0
    failed = ", ".join(f"{name} {count}" for name, count in failures.most_common())
    lines = [
        f"{len(outcomes):,} calls in {elapsed:.1f} s ({rate:,.1f}/s): {len(ok):,} ok"
        + (f" ({hits:,} from the cache)" if hits else "")
        + f", {len(outcomes) - len(ok):,} failed{f' ({failed})' if failed else ''}"
        + (f"; {skipped:,} already in {out}" if skipped else ""),
        f"tokens: {prompt:,} prompt + {completion:,} completion = {prompt + completion:,}"
        + (f" · cost {format_usd(cost)}" if cost is not None else "")
        + (f" (the {hits:,} cache hits spent none)" if hits else ""),
    ]
    lines += _timings(outcomes)
    if stopped:
        lines.append(f"stopped: {stopped:,} lines not run; run the same command again to finish them")
    lines.append(f"results in {out}")
    return "\n".join(lines)


def _timings(outcomes: list[BatchResult]) -> list[str]:
    """The latency percentiles (from each request's start), and the waits for capacity when there were any."""
    if not outcomes:
        return []

    def percentiles(values: list[float], shares: Sequence[float]) -> str:
        ordered = sorted(values)
        return " · ".join(f"p{int(p * 100)} {_percentile(ordered, p):.3f} s" for p in shares)

    lines = ["latency: " + percentiles([o.seconds for o in outcomes], (0.5, 0.95, 0.99))]
    waits = [o.waited for o in outcomes]
    waited = sum(1 for w in waits if w > 0.0005)
    if waited:  # one line that fits 80 columns
        lines.append(
            f"waited for capacity: {waited:,} calls, {percentiles(waits, (0.5, 0.95))} · max {max(waits):.3f} s"
        )
    return lines


# -- the command --


def cmd_batch(args: argparse.Namespace, make_client: Any) -> int:
    """Run ``modelport batch``; ``make_client(args, fake)`` builds the client the flags describe."""
    try:
        return _batch(args, make_client)
    except BatchCommandError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that cannot be read or written: said in one line, before anything is sent
        where = f": {exc.filename}" if exc.filename else ""
        print(f"modelport: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


def _refuse_if_not_a_file(what: str, path: str) -> None:
    """A results file must be a regular file (or not exist yet): a named pipe would block the run, a device or a
    directory cannot hold results."""
    kind = not_a_file(path)
    if kind is not None:
        raise BatchCommandError(f"{what} {path} is {kind}, not a results file: name a regular file")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _batch(args: argparse.Namespace, make_client: Any) -> int:
    if args.files[0] == "merge":
        return _merge(args)
    if len(args.files) != 1:
        raise BatchCommandError("give one requests file (or: modelport batch merge IN PART... -o OUT)")
    if args.concurrency < 1:
        raise BatchCommandError(f"--concurrency must be at least 1, got {args.concurrency}")
    for flag, value in (("--rpm", args.rpm), ("--tpm", args.tpm)):
        if value is not None and value < 1:
            raise BatchCommandError(f"{flag} must be at least 1, got {value}")
    shard = _shard(args.shard)
    if args.max_retries is not None and (args.config or args.max_retries < 0):
        raise BatchCommandError(
            "--max-retries cannot be combined with --config: set max_retries in the config"
            if args.config
            else f"--max-retries must not be negative, got {args.max_retries}"
        )
    path = args.files[0]
    if not args.dry_run:
        if not args.output:
            raise BatchCommandError("-o OUT.jsonl is required: the results file (or --dry-run)")
        if _same_file(path, args.output):
            raise BatchCommandError(f"-o {args.output} is the requests file itself: name another results file")
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            raise BatchCommandError(f"-o {args.output}: the folder {folder} does not exist")
        _refuse_if_not_a_file("-o", args.output)
    os.stat(path)  # a requests file that is not there is said before the flags that build the client are checked
    client = make_client(args, args.dry_run and not args.config)
    requests = read_requests(path, client=client)  # every line read and built before anything is sent
    if not requests:
        raise BatchCommandError(f"{path} holds no requests")
    every = requests
    if shard is not None:
        requests = [r for r in requests if r.in_shard(*shard)]
    if args.dry_run:
        return _dry_run(client, requests, path)
    return asyncio.run(_run(_limited(client, args), requests, every, path, args))


def _dry_run(client: Any, requests: list[BatchRequest], path: str) -> int:
    from ..messages import RequestUsage
    from ..pricing import cost_of, price_for

    prompt = sum(int(client.count_tokens(r.messages, tools=r.tools)) for r in requests)
    limits = [
        r.create_args.get("max_completion_tokens") or r.create_args.get("max_tokens")
        if r.endpoint == "chat"
        else r.create_args.get("max_output_tokens")
        for r in requests
    ]
    ceiling = [c for c in limits if isinstance(c, int)]
    bounded = len(ceiling) == len(limits)
    base = base_client(client)
    model = getattr(base, "_model", None)
    price = price_for(model, getattr(base, "provider_name", ""), getattr(base, "_prices", None))
    print(f"{len(requests):,} requests in {path}, checked; nothing sent")
    print(f"prompt tokens: {prompt:,}" + (f" (replies at most {sum(ceiling):,} by max_tokens)" if bounded else ""))
    if price is None:
        print(f"cost: {model} has no known price")
    else:
        prompt_cost = cost_of(RequestUsage(prompt_tokens=prompt, completion_tokens=0), price)
        text = f"cost of the prompts: {format_usd(prompt_cost)} ({model})"
        if bounded:
            most = cost_of(RequestUsage(prompt_tokens=prompt, completion_tokens=sum(ceiling)), price)
            text += f"; at most {format_usd(most)} with the replies"
        print(text)
    return 0


async def _run(client: Any, requests: list[BatchRequest], every: list[BatchRequest], path: str, args: Any) -> int:
    out = args.output
    try:
        finished = read_finished(out, known={r.custom_id for r in every}, retry_failed=args.retry_failed)
    except BaseException:
        await client.close()
        raise
    todo = _left_to_run(finished, requests, out)
    skipped = len(requests) - len(todo)
    if not todo:
        await client.close()
        return _nothing_to_run(finished, requests, out)
    per_second = args.rpm / 60 if args.rpm is not None else None
    progress = Progress(len(requests), skipped, sys.stderr, args.progress_every, per_second=per_second)
    run = BatchRun(client, todo, args.concurrency, start_every=None if per_second is None else 1 / per_second)
    outcomes: list[BatchResult] = []
    loop = asyncio.get_running_loop()
    interrupts = 0
    stopped_by = "Ctrl-C"

    def interrupted(name: str) -> None:
        nonlocal interrupts, stopped_by
        interrupts += 1
        if interrupts == 1:
            stopped_by = name
            run.stop()
            progress.note = f"stopping: waiting for {run.in_flight} in flight ({name} again: stop at once)"
            progress.show()
        else:
            run.cancel()

    handled = _on_signals(loop, interrupted)
    ticker = loop.create_task(_tick(progress, run))
    started = time.monotonic()
    try:
        with open(out, "ab") as sink:
            async for outcome in run:
                sink.write(orjson.dumps(outcome.output_line(), default=str) + b"\n")
                sink.flush()  # a crash after this loses no finished line
                outcomes.append(outcome)
                progress.add(outcome)
    finally:
        ticker.cancel()
        for number in handled:
            loop.remove_signal_handler(number)
        await run.aclose()
        await client.close()
    progress.note = ""
    progress.waiting = 0
    progress.close()
    elapsed = time.monotonic() - started
    stopped = len(todo) - len(outcomes)
    print(_summary(outcomes, skipped, elapsed, out, stopped, progress.cost))
    if interrupts and stopped:  # stopped before the end (a signal after the last line changes nothing)
        return 143 if stopped_by == "SIGTERM" else 130
    earlier_failures = sum(1 for line in finished.lines.values() if line_failed(line))
    return 1 if earlier_failures or any(not o.ok for o in outcomes) else 0


def _left_to_run(finished: Any, requests: list[BatchRequest], out: str) -> list[BatchRequest]:
    """The requests whose results are not in the results file yet (saying what a resume redoes)."""
    if finished.cut:
        print(f"{out}: its last line was cut short by an earlier stop: running it again", file=sys.stderr)
    if finished.retried:
        print(f"{out}: running the {finished.retried} failed line(s) again", file=sys.stderr)
    return [r for r in requests if r.custom_id not in finished.lines]


def _nothing_to_run(finished: Any, requests: list[BatchRequest], out: str) -> int:
    failed = sum(1 for r in requests if line_failed(finished.lines[r.custom_id]))
    hint = " (--retry-failed runs them again)" if failed else ""
    print(f"nothing to run: all {len(requests):,} results are in {out}, {failed:,} failed{hint}")
    return 1 if failed else 0


def _on_signals(loop: asyncio.AbstractEventLoop, callback: Any) -> list[signal.Signals]:
    """Ctrl-C (SIGINT) and SIGTERM (what a container or service manager sends to stop) both stop the run gently,
    the second one at once. Returns the signals handled (none off the main thread or without signal support)."""
    handled = []
    for number, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        try:
            loop.add_signal_handler(number, callback, name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        handled.append(number)
    return handled


# -- merge --


def _merge(args: argparse.Namespace) -> int:
    """``modelport batch merge IN PART... -o OUT``: the parts' results in IN's order, each id once."""
    if len(args.files) < 3 or not args.output:
        print("modelport: usage: modelport batch merge IN.jsonl PART.jsonl... -o OUT.jsonl", file=sys.stderr)
        return 2
    requests = read_requests(args.files[1])
    if any(_same_file(args.output, name) for name in args.files[1:]):
        raise BatchCommandError(f"-o {args.output} is one of the files being merged: name another file")
    _refuse_if_not_a_file("-o", args.output)
    known = {r.custom_id for r in requests}
    best: dict[str, dict[str, Any]] = {}
    for part in args.files[2:]:
        if not os.path.exists(part):
            print(f"modelport: {part}: no such file", file=sys.stderr)
            return 2
        _refuse_if_not_a_file("part", part)
        for custom_id, line in read_finished(part, known=known, rewrite=False).lines.items():
            if custom_id not in best or (line_failed(best[custom_id]) and not line_failed(line)):
                best[custom_id] = line
    missing = [r.custom_id for r in requests if r.custom_id not in best]
    replace_whole(args.output, (orjson.dumps(best[r.custom_id]) + b"\n" for r in requests if r.custom_id in best))
    failed = sum(1 for line in best.values() if line_failed(line))
    print(f"{len(requests) - len(missing):,} of {len(requests):,} results in {args.output} ({failed:,} failed)")
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        print(f"modelport: {len(missing):,} request(s) have no result in the parts (first: {shown})", file=sys.stderr)
        return 1
    return 0
