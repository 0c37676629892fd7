"""Operations: the usage log (``UsageLog``), a SQLite record of every call, made without turning any logger on; and
OpenTelemetry spans and metrics (``instrument()`` / ``uninstrument()``, with the ``otel`` extra).

Names are imported on first use, so ``import modelport.telemetry`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from ._otel import instrument, uninstrument
    from ._usage import DEFAULT_USAGE_DB_ENV, UsageLog, default_usage_path

__all__ = ["DEFAULT_USAGE_DB_ENV", "UsageLog", "default_usage_path", "instrument", "uninstrument"]

_LAZY = {
    "DEFAULT_USAGE_DB_ENV": "._usage",
    "UsageLog": "._usage",
    "default_usage_path": "._usage",
    "instrument": "._otel",
    "uninstrument": "._otel",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
