"""Google's native Gemini API: the client (:mod:`.client`) and its dialect (:mod:`.dialect`, which holds the rules)."""

from __future__ import annotations

from .client import GEMINI_BASE_URL, GeminiChatCompletionClient, GeminiClientConfig
from .dialect import GeminiDialect

__all__ = ["GEMINI_BASE_URL", "GeminiChatCompletionClient", "GeminiClientConfig", "GeminiDialect"]
