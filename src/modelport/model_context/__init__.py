"""Chat histories that keep what is sent to a model within a budget.

- :class:`UnboundedChatCompletionContext`: everything.
- :class:`BufferedChatCompletionContext`: the last ``buffer_size`` messages.
- :class:`TokenLimitedChatCompletionContext`: the newest messages that fit a token budget (or, with
  ``drop="middle"``, the oldest and the newest, as AutoGen's keeps them).
- :class:`HeadAndTailChatCompletionContext`: the first and the last messages, with a note of what was skipped.

Every context keeps a tool call and its results together (a provider rejects one without the other), and
``save_state`` / ``load_state`` round-trip the history through JSON.
"""

from ._base import ChatCompletionContext, ChatCompletionContextState
from ._contexts import BufferedChatCompletionContext, HeadAndTailChatCompletionContext, UnboundedChatCompletionContext
from ._token_limited import TokenLimitedChatCompletionContext

__all__ = [
    "BufferedChatCompletionContext",
    "ChatCompletionContext",
    "ChatCompletionContextState",
    "HeadAndTailChatCompletionContext",
    "TokenLimitedChatCompletionContext",
    "UnboundedChatCompletionContext",
]
