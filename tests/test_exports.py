"""The public namespace: every name in __all__ resolves, and importing modelport stays cheap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelport
from modelport.providers._table import PROVIDERS

EXPECTED = {
    "APIConnectionError", "APIError", "APIStatusError", "APITimeoutError", "AssistantMessage", "AuthenticationError",
    "AzureOpenAIChatCompletionClient", "BadRequestError", "CacheStore", "CancellationToken", "CapabilityError",
    "ChatCompletionCache", "CHAT_CACHE_VALUE_TYPE", "DiskCacheStore", "InMemoryStore", "RedisStore", "Component",
    "ComponentModel", "load_component",
    "ChatCompletionClient", "ChatCompletionStream", "ChatCompletionTokenLogprob", "ConflictError",
    "ContentFilterError", "ContextLengthExceededError", "CreateResult", "DEFAULT_CONTEXT_WINDOW", "EVENT_LOGGER_NAME",
    "FinishReasons", "ModelListing", "TokenCounter",
    "FunctionCall", "FunctionExecutionResult", "FunctionExecutionResultMessage", "FunctionTool", "Image",
    "IncompleteStreamError", "InvalidRequestError", "LLMCallErrorEvent", "LLMCallEvent", "LLMMessage",
    "LLMStreamEndEvent", "LLMStreamStartEvent", "LengthLimitError", "ModelFamily", "ModelInfo", "ModelportError",
    "NotFoundError", "OllamaChatCompletionClient", "OpenAIChatCompletionClient", "AnthropicChatCompletionClient",
    "GeminiChatCompletionClient",
    "BedrockChatCompletionClient",
    "OpenAIResponsesClient", "AzureOpenAIResponsesClient",
    "OutputParseError", "OverloadedError", "PermissionDeniedError",
    "QuotaExceededError", "RateLimitError", "RedirectError", "RequestTimeoutError", "RequestTooLargeError",
    "RequestUsage",
    "ResponseTooLargeError",
    "ResponseValidationError", "RetryPolicy", "ServerError", "StreamProtocolError", "SystemMessage", "ThoughtChunk",
    "TokenCount", "TokenEstimateWarning", "Tool", "ToolSchema", "TopLogprob", "UnknownModelWarning",
    "UnprocessableEntityError", "UserMessage", "__version__", "count_text", "Price", "UsageLog", "get_client",
    "Deployment", "LocalRouterState", "RateLimit", "RedisRouterState", "Router", "RouterAttemptEvent", "RouterState",
}


def test_all_is_the_curated_list() -> None:
    assert set(modelport.__all__) == EXPECTED
    assert len(modelport.__all__) == len(set(modelport.__all__))


def test_literal_all_agrees_with_the_provider_table() -> None:
    """``__all__`` is written out for type checkers; the lazy exports (the provider table's clients among them) and
    the list name the same things, so a row added to the table without its name in ``__all__`` fails here."""
    table_exports = {name for row in PROVIDERS for name in row.exports}
    assert table_exports <= set(modelport.__all__)
    assert set(modelport.__all__) == {*modelport._EXPORTS, "__version__"}
    for row in PROVIDERS:
        for name in row.exports:
            assert modelport._EXPORTS[name] == row.client.split(":")[0], name


MYPY_CONFIG = """\
[mypy]
strict = True
# the package's own strict run (the project's mypy settings) checks its modules; here only what a user's code sees
# of the top-level namespace matters, so its submodules are not analysed again
[mypy-modelport.*]
follow_imports = skip
[mypy-modelport]
follow_imports = normal
"""


def test_mypy_strict_accepts_importing_every_public_name(tmp_path: Path) -> None:
    """A user's ``from modelport import X`` passes ``mypy --strict`` for every public X (no "does not explicitly
    export attribute")."""
    pytest.importorskip("mypy")
    names = [name for name in modelport.__all__ if name != "__version__"]
    user = tmp_path / "user_code.py"
    user.write_text(
        "from modelport import (\n" + "".join(f"    {name},\n" for name in names) + ")\n"
        f"from modelport import __version__\n\nPUBLIC = [{', '.join(names)}]\nVERSION: str = __version__\n"
    )
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG)
    package_root = str(Path(modelport.__file__).parent.parent)
    env = {**os.environ, "MYPYPATH": package_root}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", ".mypy_cache", "user_code.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def test_import_cost_unchanged_by_the_written_out_names() -> None:
    """Importing the package loads only itself, its lazy loader and the provider table (no submodule it exports)."""
    code = "import sys; import modelport; print(' '.join(sorted(m for m in sys.modules if m.startswith('modelport'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = out.split()
    assert loaded == ["modelport", "modelport._lazy", "modelport.providers", "modelport.providers._table"]


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
                                        "ChatCompletionContextState", "HeadAndTailChatCompletionContext",
                                        "TokenLimitedChatCompletionContext", "UnboundedChatCompletionContext"]
