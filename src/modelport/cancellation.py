"""``CancellationToken``: cancel a call from anywhere; the call's socket is closed, not left to time out.

Every call also takes AutoGen's ``autogen_core.CancellationToken`` (or any object with its three methods: see
:class:`CancellationTokenLike`), so code written for AutoGen's clients passes its agents' tokens unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future as ConcurrentFuture
from typing import Any, Protocol, TypeVar

__all__ = ["CancellationToken", "CancellationTokenLike", "is_cancellation_token"]

F = TypeVar("F")
_TOKEN_METHODS = ("add_callback", "is_cancelled", "link_future")


class CancellationTokenLike(Protocol):
    """What a call needs of a token: modelport's :class:`CancellationToken` and AutoGen's both have it. A call
    registers its callback with ``add_callback`` (which runs it at once when the token is already cancelled); the
    callback may run on any thread."""

    def add_callback(self, callback: Callable[[], None]) -> None: ...

    def is_cancelled(self) -> bool: ...

    def link_future(self, future: Any) -> Any: ...


def is_cancellation_token(value: Any) -> bool:
    """Whether ``value`` is a token a call can take: an instance (not a class) with ``add_callback``,
    ``is_cancelled`` and ``link_future``."""
    if isinstance(value, CancellationToken):
        return True
    return not isinstance(value, type) and all(callable(getattr(value, name, None)) for name in _TOKEN_METHODS)


class CancellationToken:
    """A one-shot switch. Callbacks run once, at :meth:`cancel`, or at once if added after it."""

    def __init__(self) -> None:
        self._cancelled = False
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], Any]] = []

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def is_cancelled(self) -> bool:
        return self._cancelled

    def add_callback(self, callback: Callable[[], Any]) -> None:
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return
        callback()

    def remove_callback(self, callback: Callable[[], Any]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def link_future(self, future: F) -> F:
        """Cancel ``future`` (an asyncio or concurrent future) when this token is cancelled; returns it."""

        def cancel_future() -> None:
            loop = getattr(future, "get_loop", None)
            if loop is not None:
                loop().call_soon_threadsafe(future.cancel)  # type: ignore[attr-defined]
            elif isinstance(future, ConcurrentFuture):
                future.cancel()

        self.add_callback(cancel_future)
        return future

    def __repr__(self) -> str:
        return f"CancellationToken(cancelled={self._cancelled})"
