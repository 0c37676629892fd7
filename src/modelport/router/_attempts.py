"""One routed call's attempts: what is left to try, what a failure means, and the event each attempt logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Literal

from .. import events
from ..errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ContextLengthExceededError,
    IncompleteStreamError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseValidationError,
    ServerError,
    StreamProtocolError,
)
from ..messages import CreateResult
from ._deployment import Deployment
from ._limits import Denial

__all__ = ["WAITING", "RouterAttemptEvent"]

WAITING: ContextVar[Callable[[bool], None] | None] = ContextVar("modelport_router_waiting", default=None)
"""A caller's hook, told ``True`` when its routed call starts to wait for capacity (nothing has been sent) and
``False`` when it has its reservation: a batch that stops lets calls in flight finish but ends those still waiting."""

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


def _used(result: CreateResult | None) -> int | None:
    if result is None:
        return 0
    return result.usage.prompt_tokens + result.usage.completion_tokens


class _Call:
    """One routed call's progress: the deployments left, the smallest context window still acceptable, the last
    error, the attempt count."""

    def __init__(self, deployments: Sequence[Deployment]) -> None:
        self.left: Sequence[Deployment] = deployments  # the router's own list until a failure narrows it
        self.min_window = 0
        self.error: APIError | None = None
        self.attempts = 0

    def candidates(self) -> Sequence[Deployment]:
        if not self.min_window:
            return self.left
        return [d for d in self.left if d.context_window > self.min_window]


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
