"""Call observers: how instrumentation (OpenTelemetry, or your own) sees every call, with nothing to pay when none
is installed.

The pipeline asks :func:`start` for a :class:`CallObservation` at the start of each call (``create``, a stream, a
cache hit) only while :func:`observing` says someone listens: an observer in :data:`OBSERVERS`, or the call events'
logger (:mod:`modelport.events`), which is one more observer, so a call reports once, through this one path. An
unobserved call costs one check. The observation hears of the first chunk of a stream and ends exactly once, however
the call ends: with a result, with an error, or cut short (a ``break``, a cancel, a dropped stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import events

if TYPE_CHECKING:
    from ..messages import CreateResult

__all__ = ["OBSERVERS", "CallInfo", "CallObservation", "CallObserver", "observing", "start"]


@dataclass
class CallInfo:
    """What is known when a call starts."""

    provider: str
    """The client's provider name: ``openai``, ``azure_openai``, ``anthropic``, ``ollama``..."""
    model: str
    """The model (or Azure deployment) asked for."""
    stream: bool
    server_address: str | None = None
    server_port: int | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    """The request body as sent (messages, tools and every create argument); secrets are never in it."""
    messages: Any = None
    """modelport's messages, for observers that record content when asked to."""
    tools: Any = ()
    """The tools offered (tool schemas or tools), for observers that name them."""
    cache_hit: bool = False
    """A :class:`~modelport.ChatCompletionCache` answered from its store; nothing was sent."""


class CallObservation(Protocol):
    """One call being observed."""

    def first_chunk(self) -> None:
        """The first delta of a stream reached the caller."""
        ...

    def end(self, result: CreateResult | None, error: BaseException | None, *, retries: int = 0) -> None:
        """The call ended: with ``result``, or with ``error``, or (both ``None``) cut short by the caller.
        Called once."""
        ...


class CallObserver(Protocol):
    def start(self, info: CallInfo) -> CallObservation | None: ...


OBSERVERS: list[CallObserver] = []
"""The installed observers; the pipeline asks them only while this list is not empty."""


class _Many:
    __slots__ = ("_observations",)

    def __init__(self, observations: list[CallObservation]) -> None:
        self._observations = observations

    def first_chunk(self) -> None:
        for observation in self._observations:
            observation.first_chunk()

    def end(self, result: CreateResult | None, error: BaseException | None, *, retries: int = 0) -> None:
        for observation in self._observations:
            observation.end(result, error, retries=retries)


def observing() -> bool:
    """Whether anyone observes calls: an installed observer, or the call events' logger at INFO."""
    return bool(OBSERVERS) or events.events_enabled()


def start(info: CallInfo) -> CallObservation | None:
    """The observation of a starting call (``None`` when no observer wants it). An observer that raises is
    skipped: instrumentation never fails a call."""
    observations = []
    observers: list[Any] = list(OBSERVERS)
    if events.events_enabled():
        observers.append(events.EVENTS)
    for observer in observers:
        try:
            observation = observer.start(info)
        except Exception:
            continue
        if observation is not None:
            observations.append(observation)
    if not observations:
        return None
    return observations[0] if len(observations) == 1 else _Many(observations)
