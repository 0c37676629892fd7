"""The token-limited context: as much recent history as fits a token budget, counted once per message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..components import load_component, nested_dump
from ..errors import InvalidRequestError
from ..messages import LLMMessage
from ..tools import Tool, ToolSchema
from ._base import ChatCompletionContext, Unit
from ._configs import TokenLimitedConfig

__all__ = ["TokenLimitedChatCompletionContext"]


class TokenLimitedChatCompletionContext(ChatCompletionContext):
    """The newest messages that fit ``token_limit`` tokens, counted by ``model_client``.

    The budget is ``token_limit`` (default: the client's context window) minus the tokens of ``tool_schema``, the
    reply priming and ``reserve_completion_tokens`` (room kept for the answer). Beyond AutoGen: a tool call and its
    results are kept or dropped together; system messages are pinned (always sent, paid for first) unless
    ``pin_system_messages=False``; each message is counted once, when it is added, and ``get_messages`` walks only
    the messages it keeps, so adding a message costs one message's count. The newest message is always sent, even
    alone over budget: dropping the question would be worse than the server's ``ContextLengthExceededError``.
    """

    component_provider = "token_limited_context"
    component_config_schema = TokenLimitedConfig

    def __init__(
        self,
        model_client: Any,
        *,
        token_limit: int | None = None,
        tool_schema: Sequence[Tool | ToolSchema] | None = None,
        initial_messages: Sequence[LLMMessage] | None = None,
        reserve_completion_tokens: int = 0,
        pin_system_messages: bool = True,
    ) -> None:
        if token_limit is not None and token_limit <= 0:
            raise InvalidRequestError(f"token_limit must be positive, got {token_limit}")
        if reserve_completion_tokens < 0:
            raise InvalidRequestError(f"reserve_completion_tokens must be 0 or more, got {reserve_completion_tokens}")
        self.model_client = model_client
        self.token_limit = token_limit
        self.tool_schema = list(tool_schema or ())
        self.reserve_completion_tokens = reserve_completion_tokens
        self._empty = int(model_client.count_tokens([]))
        self._pinned_tokens = 0
        super().__init__(initial_messages, pin_system_messages=pin_system_messages)

    def _append(self, message: Any) -> Unit:
        unit = super()._append(message)
        tokens = int(self.model_client.count_tokens([message])) - self._empty
        unit.tokens += tokens
        if unit.pinned:
            self._pinned_tokens += tokens
        return unit

    async def clear(self) -> None:
        await super().clear()
        self._pinned_tokens = 0

    def budget(self) -> int:
        """Tokens available to the messages: the limit less tools, reply priming and the completion reserve."""
        if self.token_limit is None:
            room = int(self.model_client.remaining_tokens([], tools=self.tool_schema))
        else:
            room = self.token_limit - int(self.model_client.count_tokens([], tools=self.tool_schema))
        return room - self.reserve_completion_tokens

    async def get_messages(self) -> list[LLMMessage]:
        room = self.budget() - self._pinned_tokens

        def fits(unit: Unit) -> bool:
            nonlocal room
            room -= unit.tokens
            return room >= 0

        return self._from(*self._newest(fits))

    def _to_config(self, *, include_secrets: bool) -> TokenLimitedConfig:
        tools = [dict(t) if isinstance(t, dict) else dict(t.schema) for t in self.tool_schema] or None
        return TokenLimitedConfig(
            model_client=nested_dump(self.model_client, include_secrets=include_secrets, field="model_client"),
            token_limit=self.token_limit,
            tool_schema=tools,
            initial_messages=list(self._messages),
            reserve_completion_tokens=self.reserve_completion_tokens,
            pin_system_messages=self.pin_system_messages,
        )

    @classmethod
    def _from_config(cls, config: TokenLimitedConfig) -> TokenLimitedChatCompletionContext:
        from ..client import ChatCompletionClient

        client = load_component(config.model_client, expected=ChatCompletionClient)
        return cls(
            client,
            token_limit=config.token_limit,
            tool_schema=config.tool_schema,  # type: ignore[arg-type]
            initial_messages=config.initial_messages,
            reserve_completion_tokens=config.reserve_completion_tokens,
            pin_system_messages=config.pin_system_messages,
        )
