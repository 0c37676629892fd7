"""Which dialect's fake answers a request the script does not: each provider in the provider table names the fake
module that speaks its wire, and the first module that claims a request answers it (the OpenAI module, which claims
everything, is asked last)."""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from ..providers._table import fake_modules
from ._reply import RecordedRequest, Reply

__all__ = ["default_reply", "request_id_header"]


@cache
def _fakes() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"modelport.{name}") for name in fake_modules())


def _fake_for(request: RecordedRequest) -> ModuleType:
    return next(fake for fake in _fakes() if fake.handles(request))


def default_reply(request: RecordedRequest) -> Reply:
    """The built-in model's answer to ``request``, in the dialect of its path and headers."""
    answer: Reply = _fake_for(request).reply(request)
    return answer


def request_id_header(request: RecordedRequest) -> str:
    """The header that carries the request id in the dialect of ``request`` (Anthropic's ``request-id``, ...)."""
    header: str = _fake_for(request).REQUEST_ID_HEADER
    return header
