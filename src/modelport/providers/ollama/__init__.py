"""Ollama's native API (``/api/chat``): the client (:mod:`.client`) and its dialect (:mod:`.dialect`)."""

from __future__ import annotations

from .client import DEFAULT_HOST, OllamaChatCompletionClient, OllamaClientConfig, parse_host
from .dialect import OllamaDialect

__all__ = ["DEFAULT_HOST", "OllamaChatCompletionClient", "OllamaClientConfig", "OllamaDialect", "parse_host"]
