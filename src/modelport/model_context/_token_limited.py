"""The token-limited context: as much of the history as fits a token budget, counted once per message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ..components import load_component, nested_dump
from ..errors import InvalidRequestError
from ..messages import LLMMessage
from ..tools import Tool, ToolSchema
from ._base import ChatCompletionContext, Unit
from ._configs import TokenLimitedConfig

__all__ = ["TokenLimitedChatCompletionContext"]


class TokenLimitedChatCompletionContext(ChatCompletionContext):
    """As many messages as fit ``token_limit`` tokens, counted by ``model_client``: the newest ones (by default),
    or with ``drop="middle"`` the oldest and the newest, as AutoGen's context keeps them.

    The budget is ``token_limit`` (default: the client's context window) minus the tokens of ``tool_schema``, the
    reply priming and ``reserve_completion_tokens`` (room kept for the answer).

    Which messages go: by default the oldest, one after another, until the rest fit (a conversation's latest turns
    are what the next answer needs). AutoGen's ``TokenLimitedChatCompletionContext`` drops the message in the middle
    instead, again and again, so the start of the conversation (the task as first stated) stays as well as its end;
    ``drop="middle"`` does the same, and with ``pin_system_messages=False`` and no tool calls it keeps exactly the
    messages AutoGen's keeps. Either way, beyond AutoGen: a tool call and its results are kept or dropped together;
    system messages are pinned (always sent, paid for first) unless ``pin_system_messages=False``; each message is
    counted once, when it is added (``get_messages`` walks only the messages it keeps when dropping the oldest, every
    message when dropping from the middle); and the newest message is always sent, even alone over budget: dropping
    the question would be worse than the server's ``ContextLengthExceededError``.
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
        drop: Literal["oldest", "middle"] = "oldest",
    ) -> None:
        if token_limit is not None and token_limit <= 0:
            raise InvalidRequestError(f"token_limit must be positive, got {token_limit}")
        if drop not in ("oldest", "middle"):
            raise InvalidRequestError(f"drop must be 'oldest' or 'middle', got {drop!r}")
        self.drop = drop
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
        if self.drop == "middle":
            return self._middle_out(room)

        def fits(unit: Unit) -> bool:
            nonlocal room
            room -= unit.tokens
            return room >= 0

        return self._from(*self._newest(fits))

    def _middle_out(self, room: int) -> list[Any]:
        """AutoGen's order: while the messages do not fit ``room``, drop the unit in the middle of those left (but
        never the newest); pinned messages stay, orphan results go."""
        kept = [unit for unit in self._units if not (unit.pinned or unit.orphan)]
        total = sum(unit.tokens for unit in kept)
        while total > room and len(kept) > 1:
            middle = len(kept) // 2
            if middle == len(kept) - 1:  # two left, and the middle one is the newest: AutoGen drops it, we keep it
                middle -= 1
            total -= kept.pop(middle).tokens
        keep = {id(unit) for unit in kept}
        return [
            message
            for unit in self._units
            if unit.pinned or id(unit) in keep
            for message in self._messages[unit.start : unit.end]
        ]

    def _to_config(self, *, include_secrets: bool) -> TokenLimitedConfig:
        tools = [dict(t) if isinstance(t, dict) else dict(t.schema) for t in self.tool_schema] or None
        return TokenLimitedConfig(
            model_client=nested_dump(self.model_client, include_secrets=include_secrets, field="model_client"),
            token_limit=self.token_limit,
            tool_schema=tools,
            initial_messages=list(self._messages),
            reserve_completion_tokens=self.reserve_completion_tokens,
            pin_system_messages=self.pin_system_messages,
            drop=self.drop,
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
            drop=config.drop,
        )
