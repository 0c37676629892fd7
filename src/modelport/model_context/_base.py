"""The context base class and the units every context trims by.

A *unit* is what must be kept or dropped whole: an assistant message with tool calls together with the result
messages that follow it, or any other single message. A result message with no call before it (left over from an
earlier trim) is an *orphan* unit and is never sent. Units are kept up to date as messages are added, so a context
never regroups its whole history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from .._convert import as_message
from ..components import Component
from ..messages import AssistantMessage, FunctionExecutionResultMessage, LLMMessage, SystemMessage, UserMessage

__all__ = ["ChatCompletionContext", "ChatCompletionContextState", "Unit"]

_MESSAGES = TypeAdapter(list[LLMMessage])
_MESSAGE_TYPES = (SystemMessage, UserMessage, AssistantMessage, FunctionExecutionResultMessage)


class ChatCompletionContextState(BaseModel):
    """A context's saved state, as AutoGen names it: ``ChatCompletionContextState(messages=...).model_dump()`` is
    what :meth:`ChatCompletionContext.save_state` returns and ``load_state`` takes, and
    ``ChatCompletionContextState.model_validate(state)`` reads one back."""

    messages: list[LLMMessage] = Field(default_factory=list)


class Unit:
    """Messages ``start`` to ``end`` (exclusive) of a history, kept or dropped together."""

    __slots__ = ("calls", "end", "orphan", "pinned", "start", "tokens")

    def __init__(self, start: int, *, calls: bool = False, orphan: bool = False, pinned: bool = False) -> None:
        self.start = start
        self.end = start + 1
        self.calls = calls
        self.orphan = orphan
        self.pinned = pinned
        self.tokens = 0

    def __len__(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Unit({self.start}, {self.end}, calls={self.calls}, orphan={self.orphan}, pinned={self.pinned})"


class ChatCompletionContext(ABC, Component):
    """A chat history and the view of it that is sent to the model (``get_messages``)."""

    component_type = "chat_completion_context"

    def __init__(
        self, initial_messages: Sequence[LLMMessage] | None = None, *, pin_system_messages: bool = False
    ) -> None:
        self.pin_system_messages = pin_system_messages
        self._messages: list[Any] = []
        self._units: list[Unit] = []
        self._pinned: list[Unit] = []
        self._orphans = 0
        for message in initial_messages or ():
            self._append(message)

    def _append(self, message: Any) -> Unit:
        """Add a message (modelport's, an OpenAI dict or an AutoGen object) to the history and to its unit."""
        if not isinstance(message, _MESSAGE_TYPES):
            message = as_message(message, self._messages)
        if not isinstance(message, _MESSAGE_TYPES):
            raise TypeError(f"add_message takes an LLMMessage, not {type(message).__name__}")
        position = len(self._messages)
        self._messages.append(message)
        if isinstance(message, FunctionExecutionResultMessage):
            last = self._units[-1] if self._units else None
            if last is not None and last.calls:
                last.end = position + 1
                return last
            unit = Unit(position, orphan=True)
            self._orphans += 1
        elif isinstance(message, AssistantMessage) and isinstance(message.content, list):
            unit = Unit(position, calls=True)
        else:
            unit = Unit(position, pinned=self.pin_system_messages and isinstance(message, SystemMessage))
            if unit.pinned:
                self._pinned.append(unit)
        self._units.append(unit)
        return unit

    async def add_message(self, message: LLMMessage) -> None:
        self._append(message)

    @abstractmethod
    async def get_messages(self) -> list[LLMMessage]: ...

    async def clear(self) -> None:
        self._messages.clear()
        self._units.clear()
        self._pinned.clear()
        self._orphans = 0

    async def save_state(self) -> Mapping[str, Any]:
        """The history as JSON-ready data (``{"messages": [...]}``)."""
        return {"messages": _MESSAGES.dump_python(self._messages, mode="json")}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        """Replace the history with a state from :meth:`save_state`."""
        messages = _MESSAGES.validate_python(state.get("messages", []))
        await self.clear()
        for message in messages:
            self._append(message)

    def __len__(self) -> int:
        return len(self._messages)

    def _newest(self, fits: Any) -> tuple[int, list[Unit]]:
        """Where the newest units that ``fits(unit)`` accepts one by one begin, and the pinned units before that.

        Pinned and orphan units are passed over; the newest unit is always kept, so the question asked is never
        dropped. Walks only the units it keeps."""
        start = len(self._messages)
        for unit in reversed(self._units):
            if unit.pinned or unit.orphan:
                continue
            if not fits(unit) and start < len(self._messages):
                break
            start = unit.start
        return start, [u for u in self._pinned if u.start < start]

    def _from(self, start: int, pinned: list[Unit]) -> list[Any]:
        """Pinned messages, then the history from ``start`` on, without orphan results."""
        out = [self._messages[u.start] for u in pinned]
        if not self._orphans:
            out.extend(self._messages[start:])
            return out
        for unit in self._units:
            if unit.end > start and not unit.orphan:
                out.extend(self._messages[max(unit.start, start) : unit.end])
        return out
