"""``run_batch``: many requests through one client, ``concurrency`` at a time, results in the order they finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..client import ChatCompletionClient
from ..errors import InvalidRequestError
from ..messages import CreateResult
from ..router._attempts import WAITING
from ._files import BatchFileError, BatchRequest, error_line, line_client, parse_request, prepared, result_line

__all__ = ["BatchResult", "BatchRun", "check_requests", "collect", "run_batch"]

DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True)
class BatchResult:
    """One request's outcome: its :class:`CreateResult` or the error it raised; ``seconds``, how long it took from
    its start (retries included, the wait for capacity not), and ``waited``, the seconds it waited for capacity
    first (a router's limits, a run's pace)."""

    request: BatchRequest
    result: CreateResult | None
    error: BaseException | None
    seconds: float
    waited: float = 0.0

    @property
    def custom_id(self) -> str:
        return self.request.custom_id

    @property
    def ok(self) -> bool:
        return self.error is None

    def output_line(self) -> dict[str, Any]:
        """The line OpenAI's batch output format gives this outcome."""
        if self.result is not None:
            return result_line(self.request.custom_id, self.result, self.request.endpoint)
        assert self.error is not None
        return error_line(self.request.custom_id, self.error)


def _as_request(item: BatchRequest | Mapping[str, Any], index: int) -> BatchRequest:
    if isinstance(item, BatchRequest):
        return item
    try:
        return parse_request(item)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"requests[{index}]: {exc}") from None


def check_requests(
    client: ChatCompletionClient, requests: Iterable[BatchRequest], *, source: str = "requests"
) -> list[BatchRequest]:
    """Build every request as ``client`` would send it, without sending: a bad argument, tool or message raises
    :class:`~modelport.batch.BatchFileError` listing each line at fault, before any call is made. Returns the
    requests with what was built, which a run then sends without building again."""
    checked: list[BatchRequest] = []
    problems: list[str] = []
    for request in requests:
        request, problem = prepared(client, request)
        checked.append(request)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise BatchFileError(source, problems[:20], max(0, len(problems) - 20))
    return checked


class _Worker:
    """One worker's state, and the hook a router calls when the worker's call starts or stops waiting for
    capacity (:data:`modelport.router.WAITING`): a stopped run ends a call that is waiting, since nothing of the
    attempt it waits to make has been sent (an earlier attempt, failed over from, may have been)."""

    __slots__ = ("busy", "run", "task", "waited", "waiting", "waiting_since")

    def __init__(self, run: BatchRun, task: asyncio.Task[Any]) -> None:
        self.run = run
        self.task = task
        self.busy = False
        self.waiting = False
        self.waited = 0.0
        """Seconds the current request has waited for capacity."""
        self.waiting_since = 0.0

    def __call__(self, waiting: bool) -> None:
        if waiting and self.run.stopped:  # ended here, before it holds a place in a queue or a reservation
            raise asyncio.CancelledError
        if waiting and not self.waiting:
            self.waiting_since = time.perf_counter()
        elif self.waiting and not waiting:
            self.waited += time.perf_counter() - self.waiting_since
        self.waiting = waiting

    def begin(self) -> None:
        """A request starts: nothing waited yet."""
        self.busy = True
        self.waited = 0.0

    def end(self) -> float:
        """The request ended: the seconds it waited in all (a wait cut short included)."""
        self(False)
        self.busy = False
        return self.waited


class BatchRun:
    """An async iterator of :class:`BatchResult` s in the order they finish. :meth:`stop` takes no new request,
    ends those still waiting for capacity (under a router's limits: nothing of them was sent) and lets those in
    flight finish; :meth:`cancel` also cancels those in flight. Requests ended either way yield nothing.

    ``start_every`` (seconds) paces the starts evenly: one request at most every ``start_every`` seconds, a smooth
    rate (the time a request waits for its turn is counted as a wait for capacity)."""

    def __init__(
        self,
        client: ChatCompletionClient,
        requests: Iterable[BatchRequest],
        concurrency: int,
        *,
        start_every: float | None = None,
    ) -> None:
        self._client = client
        self._start_every = start_every
        self._next_start = 0.0
        self._turns = asyncio.Lock()
        self._requests: Iterator[BatchRequest] = iter(requests)
        self._concurrency = concurrency
        self._results: asyncio.Queue[BatchResult | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._states: list[_Worker] = []
        self._running = 0
        self._stopped = False
        self._failure: BaseException | None = None
        self.started = 0
        """Requests taken from ``requests`` so far."""

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet (not those waiting for capacity)."""
        return sum(1 for state in self._states if state.busy and not state.waiting)

    @property
    def waiting(self) -> int:
        """Requests waiting for capacity (their turn under the pace, or a router's limits)."""
        return sum(1 for state in self._states if state.busy and state.waiting)

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> BatchResult:
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work()) for _ in range(self._concurrency)]
            self._running = len(self._workers)
        while self._running:
            item = await self._results.get()
            if item is not None:
                return item
            self._running -= 1
        if self._failure is not None:  # raised once the requests already sent have given their results
            failure, self._failure = self._failure, None
            raise failure
        raise StopAsyncIteration

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Start no new request and end those waiting for capacity; the iteration ends when those in flight have
        finished."""
        self._stopped = True
        for state in self._states:
            if state.waiting:
                state.task.cancel()

    def cancel(self) -> None:
        """Stop, and cancel the requests in flight (their results are not yielded)."""
        self._stopped = True
        for worker in self._workers:
            worker.cancel()

    async def aclose(self) -> None:
        """Cancel what is in flight and wait for it to end."""
        self.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        client, results = self._client, self._results
        task = asyncio.current_task()
        assert task is not None
        state = _Worker(self, task)
        self._states.append(state)
        WAITING.set(state)  # this worker's own context: its calls tell it when they wait for capacity
        try:
            for request in self._requests:
                if self._stopped:
                    break
                started = time.perf_counter()
                self.started += 1
                state.begin()
                result: CreateResult | None = None
                error: Exception | None = None
                try:
                    await self._take_turn(state)
                    line = line_client(client, request.endpoint)
                    result = await line.send(request.request(line))
                except Exception as exc:  # every failure becomes the line's error; the batch goes on
                    error = exc
                finally:
                    waited = state.end()
                took = time.perf_counter() - started - waited
                results.put_nowait(BatchResult(request, result, error, took, waited))
        except InvalidRequestError as exc:  # a request that could not be read (run_batch with check=False)
            self._stopped = True
            self._failure = exc
        finally:
            results.put_nowait(None)

    async def _take_turn(self, state: _Worker) -> None:
        """Wait for this request's turn under ``start_every``: turns are ``start_every`` apart, so the rate holds
        on average when a wake comes late (a busy event loop); lateness of more than half a turn is not caught up,
        so no two starts are ever closer than half of ``start_every``. A request that finds its turn free (the
        run's first, one after a pause) is not late: the next turn is a whole ``start_every`` after it."""
        every = self._start_every
        if every is None:
            return
        asked = time.monotonic()
        if self._turns.locked() or self._next_start > asked:
            state(True)
        async with self._turns:
            delay = self._next_start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_start = max(self._next_start, asked, time.monotonic() - every / 2) + every
        state(False)


def run_batch(
    client: ChatCompletionClient,
    requests: Iterable[BatchRequest | Mapping[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    check: bool = True,
    start_every: float | None = None,
) -> BatchRun:
    """Run ``requests`` through ``client``, at most ``concurrency`` at a time, and yield each
    :class:`BatchResult` as it finishes::

        async for done in run_batch(client, [{"custom_id": "a", "messages": [...]}, ...]):
            print(done.custom_id, done.result.content if done.ok else done.error)

    Requests are :class:`BatchRequest` s (as :func:`read_requests` gives) or dicts in the forms a requests file
    holds. ``start_every`` (seconds) starts the requests evenly, one at most every ``start_every`` seconds (a
    smooth rate: 60 / N for N a minute). With ``check`` (the default) every request is built first, so a bad one raises
    :class:`~modelport.batch.BatchFileError` before any is sent. For rate limits pass a
    :class:`~modelport.router.Router` as ``client``; for retries, the client's own retry policy applies. A failed
    request is a result with its ``error``, never an exception out of the loop.
    """
    if not isinstance(client, ChatCompletionClient):
        raise InvalidRequestError(f"client: a ChatCompletionClient is required, not {type(client).__name__}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(f"concurrency: a positive integer is required, got {concurrency!r}")
    if start_every is not None and (
        isinstance(start_every, bool) or not isinstance(start_every, (int, float)) or not 0 < start_every < 86400
    ):
        raise InvalidRequestError(f"start_every: a number of seconds above 0 is required, got {start_every!r}")
    items: Iterable[BatchRequest] = (_as_request(item, i) for i, item in enumerate(requests))
    if check:
        items = list(items)
        seen: set[str] = set()
        for request in items:
            if request.custom_id in seen:
                raise InvalidRequestError(f"custom_id {request.custom_id!r} appears twice")
            seen.add(request.custom_id)
        items = check_requests(client, items)
    return BatchRun(client, items, concurrency, start_every=start_every)


async def collect(run: BatchRun) -> list[BatchResult]:
    """Every result of ``run`` (a convenience for notebooks: ``results = await collect(run_batch(...))``)."""
    return [result async for result in run]
