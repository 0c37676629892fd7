"""Where a Gemini client's calls go and how they are authorised: the Gemini API with a key, or Vertex AI with a
project and location and a bearer token (or, in Vertex's express mode, a key).

Vertex AI is chosen by ``vertexai=True`` or ``GOOGLE_GENAI_USE_VERTEXAI`` (``true`` or ``1``). Its project and
location come from the arguments or ``GOOGLE_CLOUD_PROJECT`` and ``GOOGLE_CLOUD_LOCATION`` (``global`` by
default, served by ``aiplatform.googleapis.com``; another location by ``{location}-aiplatform.googleapis.com``).
The token comes from ``access_token_provider`` (a function, sync or async, returning the token, called before each
request, and once more when the server answers 401), else from Google's application default credentials through
the optional ``google-auth`` package (``pip install modelport[vertex]``), refreshed when they expire; those go only
to Google's servers (https, ``*.googleapis.com``) and to the one ``GOOGLE_VERTEX_BASE_URL`` names. A key given with
``vertexai=True`` and no project is Vertex's express mode.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._redact import check_credential
from ..._wire_client import WireCall
from ...errors import AuthenticationError, InvalidRequestError

if TYPE_CHECKING:
    from ..._request import Request

__all__ = ["AccessTokenProvider", "RetryingCall", "TokenSource", "Vertex", "vertex_location"]

AccessTokenProvider = Callable[[], "str | Awaitable[str]"]
"""A function that returns a fresh access token (or an awaitable of one)."""
_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_TRUE = ("1", "true", "yes")


def uses_vertex(vertexai: bool | None) -> bool:
    """``vertexai``, else ``GOOGLE_GENAI_USE_VERTEXAI`` read as a flag."""
    if vertexai is not None:
        return bool(vertexai)
    return os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").strip().lower() in _TRUE


def vertex_location(location: str) -> str:
    """The Vertex AI server of ``location``: the global one, or the location's own."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class Vertex:
    """A Vertex AI endpoint: the server, the path before ``models/``, and what the config saves of it."""

    url: str
    prefix: str
    project: str | None
    location: str | None

    @classmethod
    def of(cls, project: str | None, location: str | None, *, express: bool) -> Vertex:
        """The endpoint of ``project`` and ``location`` (or of the environment's); express mode takes neither."""
        if express and project is None and not os.environ.get("GOOGLE_CLOUD_PROJECT"):
            return cls(vertex_location("global"), "v1/publishers/google", None, None)
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        if not project:
            raise InvalidRequestError(
                "project is required for Vertex AI: pass project=... or set GOOGLE_CLOUD_PROJECT (or pass api_key= "
                "for Vertex's express mode)"
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "global"
        for name, value in (("project", project), ("location", location)):
            if not value.replace("-", "").replace("_", "").replace(".", "").replace(":", "").isalnum():
                raise InvalidRequestError(f"{name} {value!r} is not a Google Cloud {name} name")
        prefix = f"v1/projects/{project}/locations/{location}/publishers/google"
        return cls(vertex_location(location), prefix, project, location)


class TokenSource:
    """Bearer tokens for Vertex AI: from the caller's ``access_token_provider`` (asked before every request), or
    from application default credentials (refreshed when no longer valid)."""

    def __init__(self, provider: AccessTokenProvider | None) -> None:
        if provider is not None and not callable(provider):
            raise InvalidRequestError("access_token_provider must be a function returning a token (or an awaitable)")
        if provider is None and importlib.util.find_spec("google.auth") is None:
            raise InvalidRequestError(
                "Vertex AI needs a token: pass access_token_provider=..., or install google-auth "
                "(pip install 'modelport[vertex]') to use application default credentials"
            )
        self._provider = provider
        self._credentials: Any = None
        self._stale = False

    async def token(self) -> str:
        if self._provider is not None:
            value = self._provider()
            if inspect.isawaitable(value):
                value = await value
            return check_credential(value, "the token access_token_provider returned")
        return await self._default_token()

    async def _default_token(self) -> str:
        auth = importlib.import_module("google.auth")  # optional, untyped: imported by name
        transport = importlib.import_module("google.auth.transport.requests")
        if self._credentials is None:
            self._credentials, _ = await asyncio.to_thread(auth.default, scopes=[_SCOPE])
        credentials = self._credentials
        if self._stale or not credentials.valid:
            await asyncio.to_thread(credentials.refresh, transport.Request())
            self._stale = False
        return check_credential(credentials.token, "the application default credentials' token")

    def invalidate(self) -> None:
        """The server refused the last token: the next one is a fresh one."""
        self._stale = True


class RetryingCall(WireCall):
    """A call whose request the server refused with 401 is sent once more, with a fresh token."""

    __slots__ = ("tokens",)

    def __init__(self, client: Any, tokens: TokenSource) -> None:
        super().__init__(client)
        self.tokens = tokens

    async def send(self, request: Request, deadline_at: float | None, retries: int = 0) -> tuple[Any, int]:
        try:
            return await super().send(request, deadline_at, retries)
        except AuthenticationError:
            self.tokens.invalidate()
            return await super().send(request, deadline_at, retries + 1)
