"""The public namespace: every name in __all__ resolves, and importing modelport stays cheap."""

from __future__ import annotations

import subprocess
import sys

import modelport

EXPECTED = {
    "APIConnectionError", "APIError", "APIStatusError", "APITimeoutError", "AssistantMessage", "AuthenticationError",
    "AzureOpenAIChatCompletionClient", "BadRequestError", "CacheStore", "CancellationToken", "CapabilityError",
    "ChatCompletionCache", "DiskCacheStore", "InMemoryStore", "RedisStore", "Component", "ComponentModel",
    "load_component",
    "ChatCompletionClient", "ChatCompletionStream", "ChatCompletionTokenLogprob", "ConflictError",
    "ContentFilterError", "ContextLengthExceededError", "CreateResult", "DEFAULT_CONTEXT_WINDOW", "EVENT_LOGGER_NAME",
    "FinishReasons", "ModelListing", "TokenCounter",
    "FunctionCall", "FunctionExecutionResult", "FunctionExecutionResultMessage", "FunctionTool", "Image",
    "IncompleteStreamError", "InvalidRequestError", "LLMCallErrorEvent", "LLMCallEvent", "LLMMessage",
    "LLMStreamEndEvent", "LLMStreamStartEvent", "LengthLimitError", "ModelFamily", "ModelInfo", "ModelportError",
    "NotFoundError", "OllamaChatCompletionClient", "OpenAIChatCompletionClient", "AnthropicChatCompletionClient",
    "OpenAIResponsesClient", "AzureOpenAIResponsesClient",
    "OutputParseError", "OverloadedError", "PermissionDeniedError",
    "QuotaExceededError", "RateLimitError", "RedirectError", "RequestTimeoutError", "RequestTooLargeError",
    "RequestUsage",
    "ResponseTooLargeError",
    "ResponseValidationError", "RetryPolicy", "ServerError", "StreamProtocolError", "SystemMessage", "ThoughtChunk",
    "TokenCount", "TokenEstimateWarning", "Tool", "ToolSchema", "TopLogprob", "UnknownModelWarning",
    "UnprocessableEntityError", "UserMessage", "__version__", "count_text", "Price", "UsageLog",
    "Deployment", "LocalRouterState", "RateLimit", "RedisRouterState", "Router", "RouterAttemptEvent", "RouterState",
}


def test_all_is_the_curated_list() -> None:
    assert set(modelport.__all__) == EXPECTED
    assert modelport.__all__ == sorted(modelport.__all__)


def test_every_name_resolves() -> None:
    for name in modelport.__all__:
        assert getattr(modelport, name) is not None, name


def test_unknown_name_raises_attribute_error() -> None:
    try:
        modelport.DoesNotExist  # noqa: B018
    except AttributeError as exc:
        assert "DoesNotExist" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_lazy() -> None:
    code = "import sys, modelport; print(sorted(m for m in ('aiohttp', 'pydantic', 'tiktoken') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_errors_are_one_tree() -> None:
    for name in modelport.__all__:
        value = getattr(modelport, name)
        if isinstance(value, type) and issubclass(value, Exception) and not issubclass(value, Warning):
            assert issubclass(value, modelport.ModelportError), name
    assert issubclass(modelport.InvalidRequestError, ValueError)
    assert issubclass(modelport.APITimeoutError, modelport.APIConnectionError)


def test_model_context_namespace() -> None:
    import modelport.model_context as contexts

    assert sorted(contexts.__all__) == ["BufferedChatCompletionContext", "ChatCompletionContext",
                                        "HeadAndTailChatCompletionContext", "TokenLimitedChatCompletionContext",
                                        "UnboundedChatCompletionContext"]
