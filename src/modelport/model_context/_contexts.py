"""The unbounded, buffered and head-and-tail contexts."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidRequestError
from ..messages import LLMMessage, UserMessage
from ._base import ChatCompletionContext, Unit
from ._configs import BufferedConfig, HeadAndTailConfig, UnboundedConfig

__all__ = ["BufferedChatCompletionContext", "HeadAndTailChatCompletionContext", "UnboundedChatCompletionContext"]


class UnboundedChatCompletionContext(ChatCompletionContext):
    """Every message, as added."""

    component_provider = "unbounded_context"
    component_config_schema = UnboundedConfig

    async def get_messages(self) -> list[LLMMessage]:
        return list(self._messages)

    def _to_config(self, *, include_secrets: bool) -> UnboundedConfig:
        return UnboundedConfig(initial_messages=list(self._messages))

    @classmethod
    def _from_config(cls, config: UnboundedConfig) -> UnboundedChatCompletionContext:
        return cls(config.initial_messages)


class BufferedChatCompletionContext(ChatCompletionContext):
    """The last ``buffer_size`` messages, never splitting a tool call from its results.

    Beyond AutoGen: system messages are pinned (always sent, not counted in the buffer) unless
    ``pin_system_messages=False``; a result whose call fell out of the buffer goes with it.
    """

    component_provider = "buffered_context"
    component_config_schema = BufferedConfig

    def __init__(
        self,
        buffer_size: int,
        initial_messages: Sequence[LLMMessage] | None = None,
        *,
        pin_system_messages: bool = True,
    ) -> None:
        if buffer_size <= 0:
            raise InvalidRequestError(f"buffer_size must be positive, got {buffer_size}")
        self.buffer_size = buffer_size
        super().__init__(initial_messages, pin_system_messages=pin_system_messages)

    async def get_messages(self) -> list[LLMMessage]:
        room = self.buffer_size

        def fits(unit: Unit) -> bool:
            nonlocal room
            room -= len(unit)
            return room >= 0

        return self._from(*self._newest(fits))

    def _to_config(self, *, include_secrets: bool) -> BufferedConfig:
        return BufferedConfig(
            buffer_size=self.buffer_size,
            initial_messages=list(self._messages),
            pin_system_messages=self.pin_system_messages,
        )

    @classmethod
    def _from_config(cls, config: BufferedConfig) -> BufferedChatCompletionContext:
        return cls(config.buffer_size, config.initial_messages, pin_system_messages=config.pin_system_messages)


class HeadAndTailChatCompletionContext(ChatCompletionContext):
    """The first ``head_size`` and the last ``tail_size`` messages, with a note of how many were skipped.

    Neither end splits a tool call from its results: a head that would end in a call stops before it, a tail that
    would start with results starts after them. The note counts what was really left out.
    """

    component_provider = "head_and_tail_context"
    component_config_schema = HeadAndTailConfig

    def __init__(self, head_size: int, tail_size: int, initial_messages: Sequence[LLMMessage] | None = None) -> None:
        if head_size < 0 or tail_size <= 0:
            raise InvalidRequestError(
                f"head_size must be 0 or more and tail_size positive, got {head_size} and {tail_size}"
            )
        self.head_size = head_size
        self.tail_size = tail_size
        super().__init__(initial_messages)

    async def get_messages(self) -> list[LLMMessage]:
        messages, total = self._messages, len(self._messages)
        if total <= self.head_size + self.tail_size:
            return list(messages)
        head_end = 0
        for unit in self._units:
            if unit.end > self.head_size:
                break
            head_end = unit.end
        tail_start = total
        for unit in reversed(self._units):
            if unit.start < total - self.tail_size or unit.start < head_end:
                break
            tail_start = unit.start
        for unit in self._units:  # results whose call is not shown go too
            if unit.start == tail_start and unit.orphan:
                tail_start = unit.end
        skipped = tail_start - head_end
        if skipped <= 0:
            return list(messages)
        note = UserMessage(content=f"Skipped {skipped} messages.", source="System")
        return [*messages[:head_end], note, *messages[tail_start:]]

    def _to_config(self, *, include_secrets: bool) -> HeadAndTailConfig:
        return HeadAndTailConfig(
            head_size=self.head_size, tail_size=self.tail_size, initial_messages=list(self._messages)
        )

    @classmethod
    def _from_config(cls, config: HeadAndTailConfig) -> HeadAndTailChatCompletionContext:
        return cls(config.head_size, config.tail_size, config.initial_messages)
