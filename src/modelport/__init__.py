"""modelport: one fast async interface to chat-completion models from many providers.

Every public name is importable from here and loaded on first use, so ``import modelport`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # messages
    "AssistantMessage": "messages",
    "ChatCompletionTokenLogprob": "messages",
    "CreateResult": "messages",
    "FinishReasons": "messages",
    "FunctionCall": "messages",
    "FunctionExecutionResult": "messages",
    "FunctionExecutionResultMessage": "messages",
    "Image": "messages",
    "LLMMessage": "messages",
    "RequestUsage": "messages",
    "SystemMessage": "messages",
    "ThoughtChunk": "messages",
    "TopLogprob": "messages",
    "UserMessage": "messages",
    # model info
    "ModelFamily": "model_info",
    "ModelInfo": "model_info",
    "ModelListing": "model_info",
    "DEFAULT_CONTEXT_WINDOW": "model_info",
    "UnknownModelWarning": "model_info",
    # tools
    "FunctionTool": "tools",
    "Tool": "tools",
    "ToolSchema": "tools",
    # cancellation and events
    "CancellationToken": "cancellation",
    "EVENT_LOGGER_NAME": "events",
    "LLMCallErrorEvent": "events",
    "LLMCallEvent": "events",
    "LLMStreamEndEvent": "events",
    "LLMStreamStartEvent": "events",
    # tokens
    "TokenCount": "tokens",
    "TokenCounter": "tokens",
    "TokenEstimateWarning": "tokens",
    "count_text": "tokens",
    # routing
    "Deployment": "router",
    "LocalRouterState": "router",
    "RateLimit": "router",
    "RedisRouterState": "router",
    "Router": "router",
    "RouterAttemptEvent": "router",
    "RouterState": "router",
    # operations
    "Price": "pricing",
    "UsageLog": "telemetry",
    # clients
    "ChatCompletionClient": "client",
    "ChatCompletionStream": "client",
    "RetryPolicy": "_retry",
    "OpenAIChatCompletionClient": "providers.openai",
    "AzureOpenAIChatCompletionClient": "providers.openai",
    "OpenAIResponsesClient": "providers.openai_responses",
    "AzureOpenAIResponsesClient": "providers.openai_responses",
    "AnthropicChatCompletionClient": "providers.anthropic",
    "OllamaChatCompletionClient": "providers.ollama",
    # components
    "Component": "components",
    "ComponentModel": "components",
    "load_component": "components",
    # caching
    "ChatCompletionCache": "cache",
    "CacheStore": "cache",
    "InMemoryStore": "cache",
    "DiskCacheStore": "cache",
    "RedisStore": "cache",
    # errors
    "APIConnectionError": "errors",
    "APIError": "errors",
    "APIStatusError": "errors",
    "APITimeoutError": "errors",
    "AuthenticationError": "errors",
    "BadRequestError": "errors",
    "CapabilityError": "errors",
    "ConflictError": "errors",
    "ContentFilterError": "errors",
    "ContextLengthExceededError": "errors",
    "IncompleteStreamError": "errors",
    "InvalidRequestError": "errors",
    "LengthLimitError": "errors",
    "ModelportError": "errors",
    "NotFoundError": "errors",
    "OutputParseError": "errors",
    "OverloadedError": "errors",
    "PermissionDeniedError": "errors",
    "QuotaExceededError": "errors",
    "RateLimitError": "errors",
    "RedirectError": "errors",
    "RequestTimeoutError": "errors",
    "RequestTooLargeError": "errors",
    "ResponseTooLargeError": "errors",
    "ResponseValidationError": "errors",
    "ServerError": "errors",
    "StreamProtocolError": "errors",
    "UnprocessableEntityError": "errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._retry import RetryPolicy
    from .cache import CacheStore, ChatCompletionCache, DiskCacheStore, InMemoryStore, RedisStore
    from .cancellation import CancellationToken
    from .client import ChatCompletionClient, ChatCompletionStream
    from .components import Component, ComponentModel, load_component
    from .errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        CapabilityError,
        ConflictError,
        ContentFilterError,
        ContextLengthExceededError,
        IncompleteStreamError,
        InvalidRequestError,
        LengthLimitError,
        ModelportError,
        NotFoundError,
        OutputParseError,
        OverloadedError,
        PermissionDeniedError,
        QuotaExceededError,
        RateLimitError,
        RedirectError,
        RequestTimeoutError,
        RequestTooLargeError,
        ResponseTooLargeError,
        ResponseValidationError,
        ServerError,
        StreamProtocolError,
        UnprocessableEntityError,
    )
    from .events import (
        EVENT_LOGGER_NAME,
        LLMCallErrorEvent,
        LLMCallEvent,
        LLMStreamEndEvent,
        LLMStreamStartEvent,
    )
    from .messages import (
        AssistantMessage,
        ChatCompletionTokenLogprob,
        CreateResult,
        FinishReasons,
        FunctionCall,
        FunctionExecutionResult,
        FunctionExecutionResultMessage,
        Image,
        LLMMessage,
        RequestUsage,
        SystemMessage,
        ThoughtChunk,
        TopLogprob,
        UserMessage,
    )
    from .model_info import DEFAULT_CONTEXT_WINDOW, ModelFamily, ModelInfo, ModelListing, UnknownModelWarning
    from .pricing import Price
    from .providers.anthropic import AnthropicChatCompletionClient
    from .providers.ollama import OllamaChatCompletionClient
    from .providers.openai import AzureOpenAIChatCompletionClient, OpenAIChatCompletionClient
    from .providers.openai_responses import AzureOpenAIResponsesClient, OpenAIResponsesClient
    from .router import (
        Deployment,
        LocalRouterState,
        RateLimit,
        RedisRouterState,
        Router,
        RouterAttemptEvent,
        RouterState,
    )
    from .telemetry import UsageLog
    from .tokens import TokenCount, TokenCounter, TokenEstimateWarning, count_text
    from .tools import FunctionTool, Tool, ToolSchema
