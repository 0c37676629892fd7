"""Amazon Bedrock's Converse API: the client (:mod:`.client`) and its dialect (:mod:`.dialect`, which holds the
rules)."""

from __future__ import annotations

from .client import BedrockChatCompletionClient, BedrockClientConfig
from .dialect import BedrockDialect

__all__ = ["BedrockChatCompletionClient", "BedrockClientConfig", "BedrockDialect"]
