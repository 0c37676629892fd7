"""Anthropic's Messages API: the client (:mod:`.client`) and its dialect (:mod:`.dialect`, which holds the rules)."""

from __future__ import annotations

from .client import ANTHROPIC_BASE_URL, AnthropicChatCompletionClient, AnthropicClientConfig
from .dialect import AnthropicDialect

__all__ = ["ANTHROPIC_BASE_URL", "AnthropicChatCompletionClient", "AnthropicClientConfig", "AnthropicDialect"]
