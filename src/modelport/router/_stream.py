"""A routed stream: a deployment's stream, moving on to the next deployment only before the first delta."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from ..client import ChatCompletionStream
from ..messages import CreateResult
from ._attempts import _Call, _emit, _used
from ._deployment import Deployment
from ._limits import Grant

if TYPE_CHECKING:
    from .._request import Request
    from ..cancellation import CancellationTokenLike
    from ._router import Router

__all__: list[str] = []  # the stream a Router's create_stream returns; not made directly


class _RouterStream(ChatCompletionStream):
    """A routed stream: it opens a deployment's stream on the first ``__anext__`` and moves on to the next
    deployment if that stream fails before a delta has reached the caller."""

    def __init__(self, router: Router, request: Request, token: CancellationTokenLike | None) -> None:
        self._router = router
        self._request = request
        self._token = token
        self._call = _Call(router.deployments)
        self._inner: ChatCompletionStream | None = None
        self._current: tuple[Deployment, Grant, float] | None = None
        self._delivered = False
        self._done = False

    def __aiter__(self) -> _RouterStream:
        return self

    async def _open(self) -> None:
        request = self._request
        deployment, grant = await self._router._acquire(self._call, lambda d: d.estimate(request))
        self._call.attempts += 1
        self._current = (deployment, grant, time.perf_counter())
        try:
            self._inner = deployment.client.send_stream(request, cancellation_token=self._token)
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

    def __del__(self) -> None:
        current, self._current = self._current, None
        if current is not None:  # dropped before it ended or was closed (a `break` out of `async for`)
            with contextlib.suppress(Exception):
                self._router.state.settle_soon(current[1], None)

    async def aclose(self) -> None:
        self._done = True
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()
        current, self._current = self._current, None
        if current is not None:
            await self._router.state.settle(current[1], None)
