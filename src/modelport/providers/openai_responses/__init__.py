"""OpenAI's Responses API: the client (:mod:`.client`) and its dialect (:mod:`.dialect`, which holds the rules)."""

from __future__ import annotations

from .azure import AzureOpenAIResponsesClient
from .client import OpenAIResponsesClient, ResponsesClientConfig
from .dialect import ResponsesDialect

__all__ = ["AzureOpenAIResponsesClient", "OpenAIResponsesClient", "ResponsesClientConfig", "ResponsesDialect"]
