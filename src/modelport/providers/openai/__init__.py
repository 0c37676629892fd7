"""OpenAI's chat-completions API, Azure OpenAI and every OpenAI-compatible server: the clients
(:mod:`.client`, :mod:`.azure`) and the dialect they share (:mod:`.dialect`)."""

from __future__ import annotations

from .azure import AzureOpenAIChatCompletionClient
from .client import (
    ANTHROPIC_OPENAI_BASE_URL,
    GEMINI_OPENAI_BASE_URL,
    PRESETS,
    OpenAIChatCompletionClient,
    Preset,
)
from .dialect import OpenAIDialect, WireProfile

__all__ = [
    "ANTHROPIC_OPENAI_BASE_URL",
    "GEMINI_OPENAI_BASE_URL",
    "PRESETS",
    "AzureOpenAIChatCompletionClient",
    "OpenAIChatCompletionClient",
    "OpenAIDialect",
    "Preset",
    "WireProfile",
]
