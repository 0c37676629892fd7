"""``Router``: one :class:`~modelport.ChatCompletionClient` over many deployments.

Each call picks a deployment by ``strategy`` among those not cooling down, reserves a request and its estimated
tokens under the deployment's limits (waiting for the earliest capacity, at most ``max_wait`` seconds), sends, and
settles with the real usage. A failure worth another try (connection, timeout, 429, 5xx, 401/403/404) moves on to
the next deployment; a context-length error moves on only to a deployment with a larger context window; any other
error (a 400) is raised at once. A stream moves on only before its first delta reaches the caller. Every attempt is
logged as a :class:`RouterAttemptEvent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._request import Request, merged_args
from ..cancellation import CancellationTokenLike
from ..client import ChatCompletionClient, ChatCompletionStream
from ..components import Component, ComponentConfigError, load_component
from ..errors import APIError, InvalidRequestError, RateLimitError
from ..messages import CreateResult, RequestUsage
from ..model_info import ModelInfo
from ..tools import Tool, ToolSchema
from ._attempts import WAITING, RouterAttemptEvent, _Call, _emit, _no_capacity, _used, _verdict
from ._deployment import DEFAULT_COMPLETION_ESTIMATE, Deployment, DeploymentConfig, _dump_deployment, _named
from ._limits import Denial, Grant, LocalRouterState, RateLimit, RouterState
from ._stream import _RouterStream

__all__ = ["DEFAULT_COMPLETION_ESTIMATE", "Deployment", "Router", "RouterAttemptEvent"]

Strategy = Literal["ordered", "weighted", "least-busy", "latency"]
STRATEGIES: tuple[str, ...] = ("ordered", "weighted", "least-busy", "latency")
_EMPTY: Mapping[str, Any] = {}


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployments: list[DeploymentConfig]
    strategy: Strategy = "ordered"
    cooldown: float = Field(default=30.0, ge=0)
    allowed_failures: int = Field(default=3, ge=1)
    max_wait: float | None = Field(default=None, ge=0)
    state: dict[str, Any] | None = Field(
        default=None,
        description="A RedisRouterState's fields (url_env or url, namespace, timeout, lease, retry, flush_after).",
    )


class _Queue:
    """Calls waiting for the same deployments: a first-come lock and how many wait (the one holding it included)."""

    __slots__ = ("count", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.count = 0


class Router(ChatCompletionClient, Component):
    """A :class:`~modelport.ChatCompletionClient` that spreads calls over several deployments.

    Args:
        deployments: :class:`Deployment` s (or bare clients) in order of preference.
        strategy: ``"ordered"`` (first with capacity), ``"weighted"`` (random by weight), ``"least-busy"`` (fewest
            in flight) or ``"latency"`` (lowest recent latency, exploring now and then).
        state: where limits, cooldowns and in-flight counts live (a :class:`LocalRouterState` by default).
        cooldown: seconds a deployment is skipped after ``allowed_failures`` consecutive failures.
        max_wait: longest wait for capacity before :class:`~modelport.RateLimitError` (``None``: no bound).
        random: a ``() -> float`` in [0, 1) for the weighted and latency strategies (tests inject one).
        explore: the latency strategy's chance of trying a random deployment first.
    """

    component_type = "model"
    component_provider = "router"
    component_config_schema = RouterConfig

    def __init__(
        self,
        deployments: Sequence[Deployment | ChatCompletionClient],
        *,
        strategy: Strategy = "ordered",
        state: RouterState | None = None,
        cooldown: float = 30.0,
        allowed_failures: int = 3,
        max_wait: float | None = None,
        random: Callable[[], float] | None = None,
        explore: float = 0.1,
    ) -> None:
        if not deployments:
            raise InvalidRequestError("a Router needs at least one deployment")
        if strategy not in STRATEGIES:
            raise InvalidRequestError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        if allowed_failures < 1 or cooldown < 0 or (max_wait is not None and max_wait < 0):
            raise ValueError("allowed_failures must be 1 or more; cooldown and max_wait must not be negative")
        self.deployments = _named([d if isinstance(d, Deployment) else Deployment(d) for d in deployments])
        self.strategy: Strategy = strategy
        self.state: RouterState = state if state is not None else LocalRouterState()
        self.cooldown = cooldown
        self.allowed_failures = allowed_failures
        self.max_wait = max_wait
        self.explore = explore
        self._random = random or _random.random
        self._latency: dict[str, float] = {}
        self._waiting: tuple[asyncio.AbstractEventLoop, dict[tuple[str, ...], _Queue]] | None = None
        self._queued = 0  # calls waiting in any queue

    # -- choosing and reserving --

    async def _order(self, ready: Sequence[Deployment]) -> list[Deployment]:
        """``ready`` in the order the strategy tries them."""
        if self.strategy == "weighted":
            return self._weighted(ready)
        if self.strategy == "least-busy":
            busy = {d.name: await self.state.in_flight(str(d.name)) for d in ready}
            return sorted(ready, key=lambda d: busy[d.name])
        if self.strategy == "latency":
            return self._fastest(ready)
        return list(ready)

    def _weighted(self, ready: Sequence[Deployment]) -> list[Deployment]:
        """A weighted draw without replacement: the first by weight, then the next among the rest, ..."""
        pool, order = list(ready), []
        while pool:
            total = sum(d.weight for d in pool)
            point, pick = self._random() * total, pool[-1]
            for d in pool:
                point -= d.weight
                if point < 0:
                    pick = d
                    break
            order.append(pick)
            pool.remove(pick)
        return order

    def _fastest(self, ready: Sequence[Deployment]) -> list[Deployment]:
        """Unmeasured deployments first, then by recent latency; with chance ``explore``, a random one first."""
        order = sorted(ready, key=lambda d: self._latency.get(str(d.name), -1.0))
        if len(order) > 1 and self._random() < self.explore:
            pick = order[min(int(self._random() * len(order)), len(order) - 1)]
            order.remove(pick)
            order.insert(0, pick)
        return order

    def _observe_latency(self, deployment: Deployment, seconds: float) -> None:
        old = self._latency.get(str(deployment.name))
        self._latency[str(deployment.name)] = seconds if old is None else 0.7 * old + 0.3 * seconds

    async def _acquire(self, call: _Call, estimate: Callable[[Deployment], int]) -> tuple[Deployment, Grant]:
        """A deployment with capacity and its reservation, waiting for the earliest capacity within ``max_wait``.

        Calls that must wait queue in arrival order, one queue per set of deployments they may use (in each event
        loop): only the first of a queue asks the state again when capacity may have freed, so a process sends one
        question per freed slot rather than one per waiting call; a call that arrives while its queue is not empty
        joins the end of it, and a call that could use other deployments is never held behind it."""
        _load_sending()
        denials: list[Denial] = []
        if not self._queued or not self._queue_of(call).count:  # nobody waits for what this call may use
            granted = await self._try(call, estimate, denials)
            if granted is not None:
                return granted
        loop = asyncio.get_running_loop()
        deadline = None if self.max_wait is None else loop.time() + self.max_wait
        if denials:
            await self._wait(denials, deadline, loop, sleep=False)  # raises now if waiting cannot help
        queue = self._queue_of(call, loop)
        watcher = WAITING.get()
        if watcher is not None:
            watcher(True)  # may end the call here, before it holds anything
        queue.count += 1
        self._queued += 1
        try:
            return await self._wait_in(queue, call, estimate, deadline, loop)
        finally:
            queue.count -= 1
            self._queued -= 1
            if watcher is not None:
                watcher(False)

    async def _wait_in(
        self,
        queue: _Queue,
        call: _Call,
        estimate: Callable[[Deployment], int],
        deadline: float | None,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[Deployment, Grant]:
        """Wait for ``call``'s turn in ``queue``, then for capacity."""
        try:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait_for(queue.lock.acquire(), remaining)
        except asyncio.TimeoutError:
            denials: list[Denial] = []
            granted = await self._try(call, estimate, denials)  # a last look, which also says what is full
            if granted is not None:
                return granted
            raise _no_capacity(denials, self.max_wait) from None
        try:
            while True:
                denials = []
                granted = await self._try(call, estimate, denials)
                if granted is not None:
                    return granted
                await self._wait(denials, deadline, loop)
        finally:
            queue.lock.release()

    def _queue_of(self, call: _Call, loop: asyncio.AbstractEventLoop | None = None) -> _Queue:
        """The queue of the calls that may use the same deployments as ``call``, in this event loop (a router may
        serve more than one loop in its life)."""
        if self._waiting is None or (loop is not None and self._waiting[0] is not loop):
            self._waiting = (loop or asyncio.get_running_loop(), {})
        queues = self._waiting[1]
        key = tuple(str(d.name) for d in call.candidates())
        queue = queues.get(key)
        if queue is None:
            if len(queues) >= 64:  # forget the idle queues of sets no longer seen
                for idle in [k for k, q in queues.items() if not q.count]:
                    del queues[idle]
            queue = queues[key] = _Queue()
        return queue

    async def _try(
        self, call: _Call, estimate: Callable[[Deployment], int], denials: list[Denial]
    ) -> tuple[Deployment, Grant] | None:
        """Reserve on the first deployment with capacity, in the strategy's order; a denial for each one without."""
        candidates = call.candidates()
        if not candidates:
            raise call.error or InvalidRequestError("no deployment can take this call")
        if not self.state.reserve_checks_cooling:
            candidates = await self._healthy(candidates, denials)
        if self.strategy != "ordered":
            candidates = await self._order(candidates)
        for deployment in candidates:
            answer = await self.state.reserve(
                str(deployment.name), deployment.all_limits, estimate(deployment), deployment.max_concurrency
            )
            if isinstance(answer, Grant):
                return deployment, answer
            denials.append(answer)
        return None

    async def _healthy(self, candidates: Sequence[Deployment], denials: list[Denial]) -> list[Deployment]:
        """The candidates not cooling down; a denial for each one that is (asked only of a state whose ``reserve``
        does not deny a deployment that is cooling down itself: ``reserve_checks_cooling``)."""
        ready = []
        for deployment in candidates:
            left = await self.state.cooling(str(deployment.name))
            if left > 0:
                denials.append(Denial(str(deployment.name), left, "cooling down", exact=True))
            else:
                ready.append(deployment)
        return ready

    async def _wait(
        self, denials: list[Denial], deadline: float | None, loop: asyncio.AbstractEventLoop, *, sleep: bool = True
    ) -> None:
        """Sleep until capacity may free (without ``sleep``, only check), or raise :class:`RateLimitError` when it
        cannot within ``max_wait``."""
        finite = [d.wait for d in denials if d.wait is not None and d.wait != float("inf")]
        pending = any(d.wait is None for d in denials)  # a call in flight may end at any moment
        wait = min(finite) if finite else None
        remaining = None if deadline is None else deadline - loop.time()
        hopeless = not finite and not pending
        too_late = remaining is not None and (remaining <= 0 or (wait is not None and wait > remaining and not pending))
        if hopeless or too_late:
            raise _no_capacity(denials, self.max_wait)
        if not sleep:
            return
        bounds = [x for x in (wait, remaining) if x is not None]
        if bounds and all(d.exact for d in denials if d.wait != float("inf")):
            await asyncio.sleep(min(bounds))  # only time frees these: nothing to watch for meanwhile
        else:
            await self.state.wait_for_change(min(bounds) if bounds else None)

    # -- outcomes --

    async def _succeeded(self, deployment: Deployment, grant: Grant, result: CreateResult, started: float) -> None:
        if self.strategy == "latency":
            self._observe_latency(deployment, time.perf_counter() - started)
        await self.state.settle_succeeded(grant, _used(result))

    async def _failed(
        self, call: _Call, deployment: Deployment, grant: Grant, exc: BaseException, stream: bool
    ) -> None:
        """Settle a failed attempt, update health, and either narrow ``call`` for the next try or raise ``exc``."""
        await self.state.settle(grant, _used(getattr(exc, "partial", None)))
        verdict = _verdict(exc)
        _emit(deployment, call.attempts, "raised" if verdict == "raise" else "fallback", exc, stream)
        if verdict == "raise":
            raise exc
        assert isinstance(exc, APIError)
        call.left = [d for d in call.left if d is not deployment]
        call.error = exc
        if verdict == "context":
            call.min_window = max(call.min_window, deployment.context_window)
            return
        name = str(deployment.name)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, RateLimitError) and retry_after:
            await self.state.cool(name, float(retry_after))
        if await self.state.failed(name) >= self.allowed_failures:
            await self.state.cool(name, self.cooldown)
            await self.state.succeeded(name)

    # -- the interface --

    async def create(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> CreateResult:
        request = self._prepare_for_any(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
        )
        return await self.send(request, cancellation_token=cancellation_token)

    async def send(self, request: Request, *, cancellation_token: CancellationTokenLike | None = None) -> CreateResult:
        """Send a prepared request through the deployments (each builds it for itself, once, if it must)."""
        request = request.for_stream(False)
        call = _Call(self.deployments)
        while True:
            deployment, grant = await self._acquire(call, lambda d: d.estimate(request))
            call.attempts += 1
            started = time.perf_counter() if self.strategy == "latency" else 0.0
            try:
                result = await deployment.client.send(request, cancellation_token=cancellation_token)
            except BaseException as exc:
                await self._failed(call, deployment, grant, exc, stream=False)
                continue
            await self._succeeded(deployment, grant, result, started)
            _emit(deployment, call.attempts, "ok", None, False)
            return result

    def create_stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> ChatCompletionStream:
        """Yields the chosen deployment's deltas, then its ``CreateResult``. Before the first delta a failure moves
        on to the next deployment; after it, the error is raised with what arrived (``partial``)."""
        request = self._prepare_for_any(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=merged_args(extra_create_args, create_args),
            stream=True,
        )
        return self.send_stream(request, cancellation_token=cancellation_token)

    def send_stream(
        self, request: Request, *, cancellation_token: CancellationTokenLike | None = None
    ) -> ChatCompletionStream:
        """Stream a prepared request through the deployments (see :meth:`create_stream`)."""
        return _RouterStream(self, request.for_stream(True), cancellation_token)

    def prepare(self, messages: Sequence[Any], **kwargs: Any) -> Request:
        """The request, built by the first deployment's client (another deployment builds it again only if the
        call goes there)."""
        return self.deployments[0].client.prepare(messages, **kwargs)

    def _prepare_for_any(self, messages: Sequence[Any], **kwargs: Any) -> Request:
        """The request, built by the first deployment whose client takes the input (another provider's create
        argument may suit only some); input that no deployment takes is refused now, as the first refused it."""
        try:
            return self.prepare(messages, **kwargs)
        except InvalidRequestError as refused:
            for deployment in self.deployments[1:]:
                with contextlib.suppress(InvalidRequestError):
                    return deployment.client.prepare(messages, **kwargs)
            raise refused from None

    def fingerprint(self, request: Request) -> dict[str, Any]:
        """The first deployment's fingerprint: every deployment is meant to give the same answer."""
        client = self.deployments[0].client
        fingerprint = getattr(client, "fingerprint", None)
        if callable(fingerprint):
            return dict(fingerprint(request))
        return client.request_fingerprint(request.messages, **request.call_arguments())

    async def close(self) -> None:
        """Send what the state holds back, and close every deployment's client."""
        await self.state.flush()
        for deployment in self.deployments:
            await deployment.client.close()

    def total_usage(self) -> RequestUsage:
        return _sum_usage(d.client.total_usage() for d in self.deployments)

    def actual_usage(self) -> RequestUsage:
        return _sum_usage(d.client.actual_usage() for d in self.deployments)

    def total_cost(self) -> Decimal:
        """What the deployments' calls have cost, summed over the clients that keep a cost."""
        costs = (getattr(d.client, "total_cost", None) for d in self.deployments)
        return sum((cost() for cost in costs if callable(cost)), Decimal(0))

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return self.deployments[0].client.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return self.deployments[0].client.remaining_tokens(messages, tools=tools)

    @property
    def model_info(self) -> ModelInfo:
        return self.deployments[0].client.model_info

    def request_fingerprint(self, messages: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
        """The first deployment's fingerprint: every deployment is meant to give the same answer."""
        return self.deployments[0].client.request_fingerprint(messages, **kwargs)

    def __repr__(self) -> str:
        return f"Router({[d.name for d in self.deployments]!r}, strategy={self.strategy!r})"

    # -- components --

    def _to_config(self, *, include_secrets: bool) -> RouterConfig:
        return RouterConfig(
            deployments=[_dump_deployment(d, include_secrets, i) for i, d in enumerate(self.deployments)],
            strategy=self.strategy,
            cooldown=self.cooldown,
            allowed_failures=self.allowed_failures,
            max_wait=self.max_wait,
            state=_dump_state(self.state, include_secrets),
        )

    @classmethod
    def _from_config(cls, config: RouterConfig) -> Router:
        deployments = [
            Deployment(
                _deployment_client(d.client, f"deployments[{i}].client"),
                d.name,
                rpm=d.rpm,
                tpm=d.tpm,
                limits=[_limit_of(limit, f"deployments[{i}].limits[{j}]") for j, limit in enumerate(d.limits)],
                max_concurrency=d.max_concurrency,
                weight=d.weight,
            )
            for i, d in enumerate(config.deployments)
        ]
        return cls(
            deployments,
            strategy=config.strategy,
            cooldown=config.cooldown,
            allowed_failures=config.allowed_failures,
            max_wait=config.max_wait,
            state=_load_state(config.state),
        )


def _load_sending() -> None:
    """Import the HTTP library the clients send with, if this process has not yet, before a call reserves.

    A process imports it on its first request (a few tenths of a second, more where its bytecode is not cached),
    and the event loop does nothing else meanwhile. Done after a reservation, the request would leave that long
    after it, when the reservation may have left its window and let other calls through, so the server would see
    them together; done before, what is left between a reservation and its request (the session, the connection)
    takes milliseconds. ``import modelport`` stays as cheap: this runs on the first routed call, and costs a lookup
    on every later one."""
    import aiohttp  # noqa: F401


def _dump_state(state: RouterState, include_secrets: bool) -> dict[str, Any] | None:
    """A :class:`RedisRouterState` as a config holds it; ``None`` for the default in-memory state."""
    if isinstance(state, LocalRouterState):
        return None
    from ._redis_state import RedisRouterState

    if not isinstance(state, RedisRouterState):
        raise InvalidRequestError(f"state: a {type(state).__name__} cannot be written to a config")
    return state.to_config(include_secrets=include_secrets).model_dump(mode="json", exclude_none=True)


def _deployment_client(client: dict[str, Any] | str, where: str) -> ChatCompletionClient:
    """The client a deployment's config gives: a component config, or a model string (``"openai:gpt-4o"``), whose
    client reads only its provider's own key, for its provider's own server, as a config does."""
    if isinstance(client, dict):
        return load_component(client, expected=ChatCompletionClient)
    from .._model_string import get_client

    try:
        return get_client(client)
    except InvalidRequestError as exc:
        raise ComponentConfigError(f"router config: {where}: {exc}") from None


def _limit_of(fields: dict[str, Any], where: str) -> RateLimit:
    """The :class:`RateLimit` a config's fields describe; a wrong one is an error naming ``where`` it is."""
    unknown = sorted(set(fields) - {"requests", "tokens", "per"})
    if unknown:
        raise ComponentConfigError(f"router config: {where}: unknown field {unknown[0]!r} (requests or tokens, per)")
    try:
        return RateLimit(**fields)
    except ValueError as exc:
        raise ComponentConfigError(f"router config: {where}: {exc}") from None


def _load_state(config: dict[str, Any] | None) -> RouterState | None:
    if config is None:
        return None
    from ._redis_state import RedisRouterState, RedisRouterStateConfig

    return RedisRouterState.from_config(RedisRouterStateConfig.model_validate(config))


def _sum_usage(usages: Any) -> RequestUsage:
    total = RequestUsage()
    for usage in usages:
        total = total + usage
    return total
