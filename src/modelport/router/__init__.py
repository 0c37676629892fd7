"""Many endpoints behind one client: :class:`Router` over :class:`Deployment` s with :class:`RateLimit` s, its
state (:class:`RouterState`, :class:`LocalRouterState`, :class:`RedisRouterState`) and :class:`RouterAttemptEvent`.

Names are imported on first use, so ``import modelport.router`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from ._attempts import WAITING, RouterAttemptEvent
    from ._deployment import DEFAULT_COMPLETION_ESTIMATE, Deployment
    from ._limits import Denial, Grant, LocalRouterState, RateLimit, RouterState
    from ._redis_state import RedisRouterState
    from ._router import Router

__all__ = [
    "DEFAULT_COMPLETION_ESTIMATE",
    "WAITING",
    "Denial",
    "Deployment",
    "Grant",
    "LocalRouterState",
    "RateLimit",
    "RedisRouterState",
    "Router",
    "RouterAttemptEvent",
    "RouterState",
]

_LAZY = {
    "DEFAULT_COMPLETION_ESTIMATE": "._deployment",
    "WAITING": "._attempts",
    "Denial": "._limits",
    "Deployment": "._deployment",
    "Grant": "._limits",
    "LocalRouterState": "._limits",
    "RateLimit": "._limits",
    "RedisRouterState": "._redis_state",
    "Router": "._router",
    "RouterAttemptEvent": "._attempts",
    "RouterState": "._limits",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
