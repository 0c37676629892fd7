"""modelport's exceptions: one tree, so ``except ModelportError`` catches everything the library raises on purpose.

::

    ModelportError
    ├── APIError                          a call to a provider failed
    │   ├── APIStatusError                the server answered with an error (or sent one inside a stream)
    │   │   ├── RedirectError                 3xx that is not followed (another host, or too many)
    │   │   ├── BadRequestError               400
    │   │   │   ├── ContextLengthExceededError    the prompt does not fit the context window
    │   │   │   └── ContentFilterError            the prompt (400) or the completion (200) was filtered
    │   │   ├── AuthenticationError           401
    │   │   ├── PermissionDeniedError         403
    │   │   ├── NotFoundError                 404 (unknown model, Azure deployment)
    │   │   ├── RequestTimeoutError           408
    │   │   ├── ConflictError                 409
    │   │   ├── RequestTooLargeError          413
    │   │   ├── UnprocessableEntityError      422
    │   │   ├── RateLimitError                429
    │   │   │   └── QuotaExceededError            a 429 that waiting will not clear (quota, billing, size)
    │   │   └── ServerError                   5xx
    │   │       └── OverloadedError               529 / overloaded_error
    │   ├── APIConnectionError            no usable answer: refused, reset, TLS, DNS
    │   │   └── APITimeoutError               no progress within ``timeout``, or the ``deadline`` passed
    │   ├── StreamProtocolError           the server sent something that is not a valid stream (bad JSON, bad SSE)
    │   ├── IncompleteStreamError         the stream ended without its terminal signal
    │   ├── ResponseValidationError       a 200 whose body is not a valid completion
    │   └── ResponseTooLargeError         a body, stream event or line larger than ``max_response_bytes`` allows
    ├── OutputParseError (ValueError)     structured output did not validate against the requested model
    │   └── LengthLimitError                  ... because the completion was cut at the token limit
    └── InvalidRequestError (ValueError)  bad input from the caller, raised before any network call
        └── CapabilityError                   the model cannot do what was asked (vision, tools, JSON output)

Every ``APIError`` carries ``partial``: the :class:`~modelport.CreateResult` assembled from what arrived before the
failure (or ``None``), so nothing the server sent is lost. Status errors carry the status, the provider's ``code``,
``type`` and ``param``, the ``request_id`` and ``retry_after`` where the server gave one. Their text never holds an
API key, and an HTML error page is summarised by its title, not printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import CreateResult

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CapabilityError",
    "ConflictError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "IncompleteStreamError",
    "InvalidRequestError",
    "LengthLimitError",
    "ModelportError",
    "NotFoundError",
    "OutputParseError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RedirectError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "StreamProtocolError",
    "UnprocessableEntityError",
]


class ModelportError(Exception):
    """The root of every exception modelport raises on purpose."""


class APIError(ModelportError):
    """A call to a provider failed. ``partial`` holds what had been received before the failure, if anything."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        partial: CreateResult | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.request_id = request_id
        self.body = body
        self.partial = partial
        self.attempts = attempts


class APIStatusError(APIError):
    """The server answered with an error status, or sent an error event inside a 200 stream (``in_stream``)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        in_stream: bool = False,
        failed_generation: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.code = code
        self.type = type
        self.param = param
        self.retry_after = retry_after
        self.in_stream = in_stream
        self.failed_generation = failed_generation


class RedirectError(APIStatusError):
    """The server answered with a redirect that modelport does not follow: to another host, scheme or port (the
    request's credentials would go with it), one that would change a POST into a GET, or one too many. ``location``
    is where it pointed; if the move is real, point ``base_url`` (or ``azure_endpoint``) there."""

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class BadRequestError(APIStatusError):
    pass


class ContextLengthExceededError(BadRequestError):
    pass


class ContentFilterError(BadRequestError):
    """Filtered by the provider's content policy: ``stage`` is ``"prompt"`` or ``"completion"``."""

    def __init__(self, message: str, *, stage: str = "prompt", filter_results: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.stage = stage
        self.filter_results = filter_results


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class RequestTimeoutError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class RequestTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class QuotaExceededError(RateLimitError):
    """A 429 that waiting will not clear: out of quota or credit, or a request larger than the rate limit allows."""


class ServerError(APIStatusError):
    pass


class OverloadedError(ServerError):
    pass


class APIConnectionError(APIError):
    """No usable answer came back: the connection was refused, reset or failed its TLS handshake."""


class APITimeoutError(APIConnectionError):
    """No progress within ``timeout``, or the call's ``deadline`` passed. ``phase`` says where: ``"connect"``,
    ``"response"`` (waiting for the status line and headers), ``"stream"`` (waiting for the next event) or
    ``"deadline"``."""

    def __init__(self, message: str, *, phase: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.phase = phase


class StreamProtocolError(APIError):
    """The server sent something that is not a valid event stream; ``raw`` holds the offending text (truncated)."""

    def __init__(self, message: str, *, raw: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw = raw


class IncompleteStreamError(APIError):
    """The stream ended without its terminal signal (no ``[DONE]`` and no finish reason): the answer may be cut."""

    def __init__(self, message: str, *, raw: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw = raw


class ResponseValidationError(APIError):
    """A 200 response whose body is not a valid completion (not JSON, or missing its message)."""


class ResponseTooLargeError(APIError):
    """The server sent more than the client's ``max_response_bytes`` allows: a body larger than it, or one stream
    event (or line) larger than it or 16 MiB, whichever is smaller. ``limit`` is the bound that was exceeded, in
    bytes. The connection is dropped rather than read to its end, and the call is not retried (the server would send
    the same again); a stream's ``partial`` holds what arrived before."""

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class OutputParseError(ModelportError, ValueError):
    """Structured output did not validate against the requested model; ``result`` is the completion as received."""

    def __init__(self, message: str, *, result: CreateResult) -> None:
        super().__init__(message)
        self.result = result


class LengthLimitError(OutputParseError):
    """Structured output is invalid because the completion stopped at the token limit (``finish_reason="length"``)."""


class InvalidRequestError(ModelportError, ValueError):
    """Bad input from the caller, found before any network call. The message names the offending field."""


class CapabilityError(InvalidRequestError):
    """The model's :class:`~modelport.ModelInfo` says it cannot do what the request asks (images, tools, JSON)."""
