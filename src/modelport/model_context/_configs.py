"""The saved configs of the four contexts. A context saves its current history as ``initial_messages``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..messages import LLMMessage

__all__ = ["BufferedConfig", "HeadAndTailConfig", "TokenLimitedConfig", "UnboundedConfig"]


class UnboundedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_messages: list[LLMMessage] = Field(default_factory=list)


class BufferedConfig(UnboundedConfig):
    buffer_size: int = Field(gt=0)
    pin_system_messages: bool = True


class HeadAndTailConfig(UnboundedConfig):
    head_size: int = Field(ge=0)
    tail_size: int = Field(gt=0)


class TokenLimitedConfig(UnboundedConfig):
    model_client: dict[str, Any] = Field(description="The client's own component config.")
    token_limit: int | None = Field(default=None, gt=0)
    tool_schema: list[dict[str, Any]] | None = None
    reserve_completion_tokens: int = Field(default=0, ge=0)
    pin_system_messages: bool = True
    drop: Literal["oldest", "middle"] = "oldest"
