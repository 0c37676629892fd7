"""modelport: one fast async interface to chat-completion models from many providers.

Every public name is importable from here and loaded on first use, so ``import modelport`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr
from .providers._table import PROVIDERS

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
    # components
    "Component": "components",
    "ComponentModel": "components",
    "load_component": "components",
    # model strings
    "get_client": "_model_string",
    # caching
    "ChatCompletionCache": "cache",
    "CHAT_CACHE_VALUE_TYPE": "cache",
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

# each provider's client, from the provider table
_EXPORTS.update({name: row.client.split(":")[0] for row in PROVIDERS for name in row.exports})

# Written out (not computed) so type checkers see every public name; a test keeps it equal to _EXPORTS.
__all__ = [
    "CHAT_CACHE_VALUE_TYPE",
    "DEFAULT_CONTEXT_WINDOW",
    "EVENT_LOGGER_NAME",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AnthropicChatCompletionClient",
    "AssistantMessage",
    "AuthenticationError",
    "AzureOpenAIChatCompletionClient",
    "AzureOpenAIResponsesClient",
    "BadRequestError",
    "BedrockChatCompletionClient",
    "CacheStore",
    "CancellationToken",
    "CapabilityError",
    "ChatCompletionCache",
    "ChatCompletionClient",
    "ChatCompletionStream",
    "ChatCompletionTokenLogprob",
    "Component",
    "ComponentModel",
    "ConflictError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "CreateResult",
    "Deployment",
    "DiskCacheStore",
    "FinishReasons",
    "FunctionCall",
    "FunctionExecutionResult",
    "FunctionExecutionResultMessage",
    "FunctionTool",
    "GeminiChatCompletionClient",
    "Image",
    "InMemoryStore",
    "IncompleteStreamError",
    "InvalidRequestError",
    "LLMCallErrorEvent",
    "LLMCallEvent",
    "LLMMessage",
    "LLMStreamEndEvent",
    "LLMStreamStartEvent",
    "LengthLimitError",
    "LocalRouterState",
    "ModelFamily",
    "ModelInfo",
    "ModelListing",
    "ModelportError",
    "NotFoundError",
    "OllamaChatCompletionClient",
    "OpenAIChatCompletionClient",
    "OpenAIResponsesClient",
    "OutputParseError",
    "OverloadedError",
    "PermissionDeniedError",
    "Price",
    "QuotaExceededError",
    "RateLimit",
    "RateLimitError",
    "RedirectError",
    "RedisRouterState",
    "RedisStore",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "RequestUsage",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "Router",
    "RouterAttemptEvent",
    "RouterState",
    "ServerError",
    "StreamProtocolError",
    "SystemMessage",
    "ThoughtChunk",
    "TokenCount",
    "TokenCounter",
    "TokenEstimateWarning",
    "Tool",
    "ToolSchema",
    "TopLogprob",
    "UnknownModelWarning",
    "UnprocessableEntityError",
    "UsageLog",
    "UserMessage",
    "__version__",
    "count_text",
    "get_client",
    "load_component",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only; `X as X` marks X a re-export
    from ._model_string import get_client as get_client
    from ._retry import RetryPolicy as RetryPolicy
    from .cache import CHAT_CACHE_VALUE_TYPE as CHAT_CACHE_VALUE_TYPE
    from .cache import CacheStore as CacheStore
    from .cache import ChatCompletionCache as ChatCompletionCache
    from .cache import DiskCacheStore as DiskCacheStore
    from .cache import InMemoryStore as InMemoryStore
    from .cache import RedisStore as RedisStore
    from .cancellation import CancellationToken as CancellationToken
    from .client import ChatCompletionClient as ChatCompletionClient
    from .client import ChatCompletionStream as ChatCompletionStream
    from .components import Component as Component
    from .components import ComponentModel as ComponentModel
    from .components import load_component as load_component
    from .errors import APIConnectionError as APIConnectionError
    from .errors import APIError as APIError
    from .errors import APIStatusError as APIStatusError
    from .errors import APITimeoutError as APITimeoutError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import CapabilityError as CapabilityError
    from .errors import ConflictError as ConflictError
    from .errors import ContentFilterError as ContentFilterError
    from .errors import ContextLengthExceededError as ContextLengthExceededError
    from .errors import IncompleteStreamError as IncompleteStreamError
    from .errors import InvalidRequestError as InvalidRequestError
    from .errors import LengthLimitError as LengthLimitError
    from .errors import ModelportError as ModelportError
    from .errors import NotFoundError as NotFoundError
    from .errors import OutputParseError as OutputParseError
    from .errors import OverloadedError as OverloadedError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import QuotaExceededError as QuotaExceededError
    from .errors import RateLimitError as RateLimitError
    from .errors import RedirectError as RedirectError
    from .errors import RequestTimeoutError as RequestTimeoutError
    from .errors import RequestTooLargeError as RequestTooLargeError
    from .errors import ResponseTooLargeError as ResponseTooLargeError
    from .errors import ResponseValidationError as ResponseValidationError
    from .errors import ServerError as ServerError
    from .errors import StreamProtocolError as StreamProtocolError
    from .errors import UnprocessableEntityError as UnprocessableEntityError
    from .events import EVENT_LOGGER_NAME as EVENT_LOGGER_NAME
    from .events import LLMCallErrorEvent as LLMCallErrorEvent
    from .events import LLMCallEvent as LLMCallEvent
    from .events import LLMStreamEndEvent as LLMStreamEndEvent
    from .events import LLMStreamStartEvent as LLMStreamStartEvent
    from .messages import AssistantMessage as AssistantMessage
    from .messages import ChatCompletionTokenLogprob as ChatCompletionTokenLogprob
    from .messages import CreateResult as CreateResult
    from .messages import FinishReasons as FinishReasons
    from .messages import FunctionCall as FunctionCall
    from .messages import FunctionExecutionResult as FunctionExecutionResult
    from .messages import FunctionExecutionResultMessage as FunctionExecutionResultMessage
    from .messages import Image as Image
    from .messages import LLMMessage as LLMMessage
    from .messages import RequestUsage as RequestUsage
    from .messages import SystemMessage as SystemMessage
    from .messages import ThoughtChunk as ThoughtChunk
    from .messages import TopLogprob as TopLogprob
    from .messages import UserMessage as UserMessage
    from .model_info import DEFAULT_CONTEXT_WINDOW as DEFAULT_CONTEXT_WINDOW
    from .model_info import ModelFamily as ModelFamily
    from .model_info import ModelInfo as ModelInfo
    from .model_info import ModelListing as ModelListing
    from .model_info import UnknownModelWarning as UnknownModelWarning
    from .pricing import Price as Price
    from .providers.anthropic.client import AnthropicChatCompletionClient as AnthropicChatCompletionClient
    from .providers.bedrock.client import BedrockChatCompletionClient as BedrockChatCompletionClient
    from .providers.gemini.client import GeminiChatCompletionClient as GeminiChatCompletionClient
    from .providers.ollama.client import OllamaChatCompletionClient as OllamaChatCompletionClient
    from .providers.openai.azure import AzureOpenAIChatCompletionClient as AzureOpenAIChatCompletionClient
    from .providers.openai.client import OpenAIChatCompletionClient as OpenAIChatCompletionClient
    from .providers.openai_responses.azure import AzureOpenAIResponsesClient as AzureOpenAIResponsesClient
    from .providers.openai_responses.client import OpenAIResponsesClient as OpenAIResponsesClient
    from .router import Deployment as Deployment
    from .router import LocalRouterState as LocalRouterState
    from .router import RateLimit as RateLimit
    from .router import RedisRouterState as RedisRouterState
    from .router import Router as Router
    from .router import RouterAttemptEvent as RouterAttemptEvent
    from .router import RouterState as RouterState
    from .telemetry import UsageLog as UsageLog
    from .tokens import TokenCount as TokenCount
    from .tokens import TokenCounter as TokenCounter
    from .tokens import TokenEstimateWarning as TokenEstimateWarning
    from .tokens import count_text as count_text
    from .tools import FunctionTool as FunctionTool
    from .tools import Tool as Tool
    from .tools import ToolSchema as ToolSchema
