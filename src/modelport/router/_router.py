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
import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import events
from ..cancellation import CancellationToken
from ..client import ChatCompletionClient, ChatCompletionStream
from ..components import Component, load_component, nested_dump
from ..errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ContextLengthExceededError,
    IncompleteStreamError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseValidationError,
    ServerError,
    StreamProtocolError,
)
from ..messages import CreateResult, RequestUsage
from ..model_info import DEFAULT_CONTEXT_WINDOW, ModelInfo
from ..tools import Tool, ToolSchema
from ._limits import Denial, Grant, LocalRouterState, RateLimit, RouterState

__all__ = ["DEFAULT_COMPLETION_ESTIMATE", "Deployment", "Router", "RouterAttemptEvent"]

Strategy = Literal["ordered", "weighted", "least-busy", "latency"]
STRATEGIES: tuple[str, ...] = ("ordered", "weighted", "least-busy", "latency")
DEFAULT_COMPLETION_ESTIMATE = 256
"""Completion tokens reserved for a call that sets no ``max_tokens``."""
_EMPTY: Mapping[str, Any] = {}
_FALLBACK_ERRORS: tuple[type[APIError], ...] = (
    APIConnectionError,  # includes APITimeoutError
    RateLimitError,
    ServerError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    RequestTimeoutError,
    ResponseValidationError,
    IncompleteStreamError,
    StreamProtocolError,
)


class RouterAttemptEvent(events.LLMEvent):
    """One attempt on one deployment: ``deployment``, ``attempt`` (1-based), ``outcome`` (``"ok"``,
    ``"fallback"`` or ``"raised"``), ``reason`` (the error class, or ``None``), ``status_code``, ``stream``."""

    name = "RouterAttempt"


class Deployment:
    """A client the router may send to, with its limits.

    Args:
        client: any :class:`~modelport.ChatCompletionClient`.
        name: unique among the router's deployments (default: the client's model, numbered when repeated).
        rpm: requests per minute (``RateLimit(requests=rpm, per=60)``).
        tpm: tokens per minute (``RateLimit(tokens=tpm, per=60)``).
        limits: further :class:`RateLimit` s.
        max_concurrency: calls in flight at once.
        weight: its share under the ``weighted`` strategy.
    """

    def __init__(
        self,
        client: ChatCompletionClient,
        name: str | None = None,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        limits: Sequence[RateLimit] = (),
        max_concurrency: int | None = None,
        weight: float = 1.0,
    ) -> None:
        if not isinstance(client, ChatCompletionClient):
            raise InvalidRequestError(f"a Deployment needs a ChatCompletionClient, not {type(client).__name__}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be 1 or more, got {max_concurrency}")
        if weight < 0:
            raise ValueError(f"weight must not be negative, got {weight}")
        self.client = client
        self.name = name
        self.rpm = rpm
        self.tpm = tpm
        self.limits = tuple(limits)
        self.max_concurrency = max_concurrency
        self.weight = weight
        shorthand = [RateLimit(requests=rpm, per=60.0)] if rpm is not None else []
        shorthand += [RateLimit(tokens=tpm, per=60.0)] if tpm is not None else []
        self.all_limits: tuple[RateLimit, ...] = (*shorthand, *self.limits)
        self._counts_tokens = any(limit.tokens for limit in self.all_limits)

    @property
    def context_window(self) -> int:
        """The deployment's context window: its client's, else its model info's, else the default."""
        window = getattr(self.client, "context_window", None)
        if isinstance(window, int) and window > 0:
            return window
        return int(self.client.model_info.get("context_window") or DEFAULT_CONTEXT_WINDOW)

    def estimate(self, messages: Sequence[Any], tools: Sequence[Any], create_args: Mapping[str, Any]) -> int:
        """Tokens to reserve: the prompt's count plus ``max_tokens`` (or :data:`DEFAULT_COMPLETION_ESTIMATE`)."""
        if not self._counts_tokens:
            return 0
        defaults = getattr(self.client, "_create_args", None) or {}
        completion = _max_tokens(create_args) or _max_tokens(defaults) or DEFAULT_COMPLETION_ESTIMATE
        return int(self.client.count_tokens(messages, tools=tools)) + completion

    def __repr__(self) -> str:
        return f"Deployment({self.client!r}, name={self.name!r})"


def _max_tokens(args: Mapping[str, Any]) -> int | None:
    value = args.get("max_completion_tokens") or args.get("max_tokens")
    return value if isinstance(value, int) and value > 0 else None


def _used(result: CreateResult | None) -> int | None:
    if result is None:
        return 0
    return result.usage.prompt_tokens + result.usage.completion_tokens


class _Call:
    """One routed call's progress: the deployments left, the smallest context window still acceptable, the last
    error, the attempt count."""

    def __init__(self, deployments: Sequence[Deployment]) -> None:
        self.left = list(deployments)
        self.min_window = 0
        self.error: APIError | None = None
        self.attempts = 0

    def candidates(self) -> list[Deployment]:
        if not self.min_window:
            return self.left
        return [d for d in self.left if d.context_window > self.min_window]


class DeploymentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client: dict[str, Any] = Field(description="The deployment client's own component config.")
    name: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    limits: list[dict[str, Any]] = Field(default_factory=list, description="RateLimit fields: requests/tokens, per.")
    max_concurrency: int | None = None
    weight: float = 1.0


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployments: list[DeploymentConfig]
    strategy: Strategy = "ordered"
    cooldown: float = Field(default=30.0, ge=0)
    allowed_failures: int = Field(default=3, ge=1)
    max_wait: float | None = Field(default=None, ge=0)
    state: dict[str, Any] | None = Field(
        default=None, description="A RedisRouterState's fields (url_env or url, namespace, timeout, lease)."
    )


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

    # -- choosing and reserving --

    async def _order(self, ready: list[Deployment]) -> list[Deployment]:
        """``ready`` in the order the strategy tries them."""
        if self.strategy == "weighted":
            return self._weighted(ready)
        if self.strategy == "least-busy":
            busy = {d.name: await self.state.in_flight(str(d.name)) for d in ready}
            return sorted(ready, key=lambda d: busy[d.name])
        if self.strategy == "latency":
            return self._fastest(ready)
        return ready

    def _weighted(self, ready: list[Deployment]) -> list[Deployment]:
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

    def _fastest(self, ready: list[Deployment]) -> list[Deployment]:
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
        """A deployment with capacity and its reservation, waiting for the earliest capacity within ``max_wait``."""
        loop = asyncio.get_running_loop()
        deadline = None if self.max_wait is None else loop.time() + self.max_wait
        while True:
            candidates = call.candidates()
            if not candidates:
                raise call.error or InvalidRequestError("no deployment can take this call")
            denials: list[Denial] = []
            for deployment in await self._order(await self._healthy(candidates, denials)):
                name = str(deployment.name)
                answer = await self.state.reserve(
                    name, deployment.all_limits, estimate(deployment), deployment.max_concurrency
                )
                if isinstance(answer, Grant):
                    return deployment, answer
                denials.append(answer)
            await self._wait(denials, deadline, loop)

    async def _healthy(self, candidates: list[Deployment], denials: list[Denial]) -> list[Deployment]:
        """The candidates not cooling down; a denial for each one that is. A state whose ``reserve`` denies a
        deployment that is cooling down (``reserve_checks_cooling``) is not asked first."""
        if self.state.reserve_checks_cooling:
            return candidates
        ready = []
        for deployment in candidates:
            left = await self.state.cooling(str(deployment.name))
            if left > 0:
                denials.append(Denial(str(deployment.name), left, "cooling down"))
            else:
                ready.append(deployment)
        return ready

    async def _wait(self, denials: list[Denial], deadline: float | None, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep until capacity may free, or raise :class:`RateLimitError` when it cannot within ``max_wait``."""
        finite = [d.wait for d in denials if d.wait is not None and d.wait != float("inf")]
        pending = any(d.wait is None for d in denials)  # a call in flight may end at any moment
        wait = min(finite) if finite else None
        remaining = None if deadline is None else deadline - loop.time()
        hopeless = not finite and not pending
        too_late = remaining is not None and (remaining <= 0 or (wait is not None and wait > remaining and not pending))
        if hopeless or too_late:
            raise _no_capacity(denials, self.max_wait)
        bounds = [x for x in (wait, remaining) if x is not None]
        await self.state.wait_for_change(min(bounds) if bounds else None)

    # -- outcomes --

    async def _succeeded(self, deployment: Deployment, grant: Grant, result: CreateResult, started: float) -> None:
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
        call.left.remove(deployment)
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
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        call = _Call(self.deployments)
        while True:
            deployment, grant = await self._acquire(call, lambda d: d.estimate(messages, tools, extra_create_args))
            call.attempts += 1
            started = time.perf_counter()
            try:
                result = await deployment.client.create(
                    messages,
                    tools=tools,
                    tool_choice=tool_choice,
                    json_output=json_output,
                    extra_create_args=extra_create_args,
                    cancellation_token=cancellation_token,
                )
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
        cancellation_token: CancellationToken | None = None,
    ) -> ChatCompletionStream:
        """Yields the chosen deployment's deltas, then its ``CreateResult``. Before the first delta a failure moves
        on to the next deployment; after it, the error is raised with what arrived (``partial``)."""
        kwargs: dict[str, Any] = {
            "tools": tools,
            "tool_choice": tool_choice,
            "json_output": json_output,
            "extra_create_args": extra_create_args,
            "cancellation_token": cancellation_token,
        }
        return _RouterStream(self, messages, kwargs)

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
                load_component(d.client, expected=ChatCompletionClient),
                d.name,
                rpm=d.rpm,
                tpm=d.tpm,
                limits=[RateLimit(**limit) for limit in d.limits],
                max_concurrency=d.max_concurrency,
                weight=d.weight,
            )
            for d in config.deployments
        ]
        return cls(
            deployments,
            strategy=config.strategy,
            cooldown=config.cooldown,
            allowed_failures=config.allowed_failures,
            max_wait=config.max_wait,
            state=_load_state(config.state),
        )


def _dump_state(state: RouterState, include_secrets: bool) -> dict[str, Any] | None:
    """A :class:`RedisRouterState` as a config holds it; ``None`` for the default in-memory state."""
    if isinstance(state, LocalRouterState):
        return None
    from ._redis_state import RedisRouterState

    if not isinstance(state, RedisRouterState):
        raise InvalidRequestError(f"state: a {type(state).__name__} cannot be written to a config")
    return state.to_config(include_secrets=include_secrets).model_dump(mode="json", exclude_none=True)


def _load_state(config: dict[str, Any] | None) -> RouterState | None:
    if config is None:
        return None
    from ._redis_state import RedisRouterState, RedisRouterStateConfig

    return RedisRouterState.from_config(RedisRouterStateConfig.model_validate(config))


def _dump_deployment(deployment: Deployment, include_secrets: bool, index: int) -> DeploymentConfig:
    limits = [
        {"requests": x.requests, "per": x.per} if x.requests else {"tokens": x.tokens, "per": x.per}
        for x in deployment.limits
    ]
    return DeploymentConfig(
        client=nested_dump(deployment.client, include_secrets=include_secrets, field=f"deployments[{index}].client"),
        name=deployment.name,
        rpm=deployment.rpm,
        tpm=deployment.tpm,
        limits=limits,
        max_concurrency=deployment.max_concurrency,
        weight=deployment.weight,
    )


def _named(deployments: list[Deployment]) -> list[Deployment]:
    """Give each unnamed deployment its client's model (numbered when repeated); refuse duplicate names."""
    seen: set[str] = set()
    for index, deployment in enumerate(deployments):
        if deployment.name is None:
            base = str(getattr(deployment.client, "_model", None) or type(deployment.client).__name__)
            deployment.name = base if base not in seen else f"{base}#{index}"
        if deployment.name in seen:
            raise InvalidRequestError(f"two deployments are named {deployment.name!r}: names must be unique")
        seen.add(deployment.name)
    return deployments


def _sum_usage(usages: Any) -> RequestUsage:
    total = RequestUsage()
    for usage in usages:
        total = total + usage
    return total


def _verdict(exc: BaseException) -> Literal["fallback", "context", "raise"]:
    """What a failed attempt means for the call."""
    if isinstance(exc, ContextLengthExceededError):
        return "context"
    if isinstance(exc, _FALLBACK_ERRORS):
        return "fallback"
    return "raise"


def _no_capacity(denials: list[Denial], max_wait: float | None) -> RateLimitError:
    full = "; ".join(f"{d.deployment}: {d.reason}" for d in denials) or "no deployment"
    waits = [d.wait for d in denials if d.wait is not None and d.wait != float("inf")]
    bound = f"within max_wait={max_wait:g}s" if max_wait is not None else "ever (a limit is smaller than the call)"
    return RateLimitError(
        f"no deployment has capacity {bound} ({full})",
        status_code=429,
        provider="router",
        retry_after=min(waits) if waits else None,
    )


def _emit(deployment: Deployment, attempt: int, outcome: str, exc: BaseException | None, stream: bool) -> None:
    if events.events_enabled():
        events.emit(
            RouterAttemptEvent(
                deployment=deployment.name,
                attempt=attempt,
                outcome=outcome,
                reason=type(exc).__name__ if exc is not None else None,
                status_code=getattr(exc, "status_code", None),
                stream=stream,
            )
        )


class _RouterStream(ChatCompletionStream):
    """A routed stream: it opens a deployment's stream on the first ``__anext__`` and moves on to the next
    deployment if that stream fails before a delta has reached the caller."""

    def __init__(self, router: Router, messages: Sequence[Any], kwargs: dict[str, Any]) -> None:
        self._router = router
        self._messages = messages
        self._kwargs = kwargs
        self._call = _Call(router.deployments)
        self._inner: ChatCompletionStream | None = None
        self._current: tuple[Deployment, Grant, float] | None = None
        self._delivered = False
        self._done = False

    def __aiter__(self) -> _RouterStream:
        return self

    async def _open(self) -> None:
        args = self._kwargs["extra_create_args"]
        tools = self._kwargs["tools"]
        deployment, grant = await self._router._acquire(self._call, lambda d: d.estimate(self._messages, tools, args))
        self._call.attempts += 1
        self._current = (deployment, grant, time.perf_counter())
        try:
            self._inner = deployment.client.create_stream(self._messages, **self._kwargs)
        except BaseException:
            self._current = None
            await self._router.state.settle(grant, 0)
            raise

    async def __anext__(self) -> str | CreateResult:
        while not self._done:
            if self._inner is None:
                await self._open()
            assert self._inner is not None and self._current is not None
            try:
                item = await self._inner.__anext__()
            except StopAsyncIteration:
                await self._release(None)
                raise
            except BaseException as exc:
                await self._fail(exc)
                continue
            if isinstance(item, CreateResult):
                await self._release(item)
            else:
                self._delivered = True
            return item
        raise StopAsyncIteration

    async def _fail(self, exc: BaseException) -> None:
        """Close the failed stream; raise ``exc`` once a delta was delivered, else let the router decide."""
        assert self._inner is not None and self._current is not None
        deployment, grant, _ = self._current
        inner, self._inner, self._current = self._inner, None, None
        await inner.aclose()
        if self._delivered or not isinstance(exc, Exception):
            self._done = True
            await self._router.state.settle(grant, _used(getattr(exc, "partial", None)))
            _emit(deployment, self._call.attempts, "raised", exc, True)
            raise exc
        try:
            await self._router._failed(self._call, deployment, grant, exc, stream=True)
        except BaseException:
            self._done = True
            raise

    async def _release(self, result: CreateResult | None) -> None:
        self._done = True
        current, self._current = self._current, None
        if current is None:
            return
        deployment, grant, started = current
        if result is None:
            await self._router.state.settle(grant, None)
            return
        await self._router._succeeded(deployment, grant, result, started)
        _emit(deployment, self._call.attempts, "ok", None, True)

    async def aclose(self) -> None:
        self._done = True
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()
        current, self._current = self._current, None
        if current is not None:
            await self._router.state.settle(current[1], None)
