"""``ReplayChatCompletionClient``: a modelport client that answers from a script, for tests (AutoGen's shape).

::

    from modelport.testing import ReplayChatCompletionClient

    client = ReplayChatCompletionClient(["Hello, how can I help?", CreateResult(...)])
    result = await client.create([UserMessage(content="Hi")])      # the first answer
    async for chunk in client.create_stream(messages): ...         # the next one, word by word, then the result
    client.create_calls[0]["messages"]                              # what each call was given

Where it follows autogen-ext 0.7.5's ``ReplayChatCompletionClient``: the constructor, a ``str`` answer becoming a
``CreateResult`` with ``finish_reason="stop"`` and usage counted in words (``str.split``), streaming a ``str`` answer
word by word (``"Hello, "``, ``"how "``, ..., the last word bare) and then the result, ``create_calls``, ``reset()``
(which keeps ``create_calls``), ``set_cached_bool_value``, ``ValueError("No more mock responses available")``
once the script is spent, and the deprecated ``capabilities`` (with its ``DeprecationWarning``).

Where it differs, on purpose:

- the default ``model_info`` assumes every capability present (modelport's rule for unknown models) where AutoGen's
  says none, so an agent given tools does not refuse to run; pass ``model_info=`` to say otherwise;
- a ``str`` answer is ``cached=False`` unless ``set_cached_bool_value(True)`` (AutoGen says ``True``: nothing was
  cached, and modelport's ``cached`` means "answered from a cache");
- a scripted ``CreateResult`` is returned as a copy with its own usage, and the totals add that usage (AutoGen
  returns it as is but adds a word count of the prompt instead of its ``prompt_tokens``); streamed, its thought
  comes as :class:`~modelport.ThoughtChunk` deltas and a ``str`` content word by word, as a real stream would
  (AutoGen yields only the result);
- streaming keeps whitespace (``"a\\n\\nb"`` streams as ``"a\\n\\n"``, ``"b"``), so the chunks always join to the
  content; AutoGen splits on any whitespace and joins with single spaces;
- ``create_stream`` records its call in ``create_calls`` too (with ``"stream": True``), and every record holds
  ``tool_choice``; the answer is taken when ``create_stream`` is called, and usage is added when its result is
  yielded;
- words are counted in every text of the prompt (text parts, tool calls' arguments, tool results), where AutoGen
  counts only messages whose content is a plain ``str``; ``token_counter="tiktoken"`` counts with modelport's
  tokenizer instead, or pass any ``(messages, tools) -> int``;
- ``actual_usage()`` is the usage of answers not marked cached (modelport's meaning), not the last call's;
  ``remaining_tokens`` is the context window (``model_info["context_window"]``, else 8,192) less the prompt's
  count, not 10,000 less the usage so far.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from .._convert import as_messages
from .._request import merged_args
from ..cancellation import CancellationTokenLike
from ..client import ChatCompletionClient, ChatCompletionStream
from ..components import Component
from ..errors import InvalidRequestError
from ..messages import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResultMessage,
    RequestUsage,
    ThoughtChunk,
    UserMessage,
)
from ..model_info import DEFAULT_CONTEXT_WINDOW, UNKNOWN_MODEL_INFO, ModelInfo
from ..tokens import TokenCounter, count_message_tokens, encoding_name, tokenizer
from ..tools import Tool, ToolSchema

__all__ = ["EXHAUSTED", "ReplayChatCompletionClient"]

EXHAUSTED = "No more mock responses available"
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_WORD = re.compile(r"\s*\S+\s*")
_REQUIRED_INFO = ("vision", "function_calling", "json_output", "family")


class ReplayConfig(BaseModel):
    """The saved form of a :class:`ReplayChatCompletionClient` (a callable ``token_counter`` cannot be saved)."""

    model_config = ConfigDict(extra="forbid")

    chat_completions: list[str | CreateResult]
    model_info: dict[str, Any] | None = None
    token_counter: Literal["words", "tiktoken"] = "words"
    cached: bool = False


def split_words(text: str) -> list[str]:
    """``text`` in word-sized pieces that join back to it exactly: each word keeps the whitespace after it."""
    return _WORD.findall(text) or ([text] if text else [])


def _texts(message: Any) -> list[str]:
    """The texts of one modelport message that a word count reads."""
    content = message.content
    if isinstance(content, str):
        return [content]
    if isinstance(message, UserMessage):
        return [part for part in content if isinstance(part, str)]
    if isinstance(message, AssistantMessage):
        return [call.arguments for call in content if isinstance(call.arguments, str)]
    if isinstance(message, FunctionExecutionResultMessage):
        return [result.content for result in content]
    return []


class ReplayChatCompletionClient(ChatCompletionClient, Component):
    """A scripted :class:`~modelport.ChatCompletionClient` for tests: each call returns the next answer.

    Args:
        chat_completions: the answers, in order: a ``str`` (a complete text answer) or a ``CreateResult``.
        model_info: what the model can do (every capability, by default).
        token_counter: ``"words"`` (AutoGen's way, the default), ``"tiktoken"`` (modelport's tokenizer) or a
            ``(messages, tools) -> int``; used for the prompt, and for a ``str`` answer's completion tokens.
    """

    component_type = "replay_chat_completion_client"
    component_provider = "replay"
    component_config_schema = ReplayConfig

    def __init__(
        self,
        chat_completions: Sequence[str | CreateResult],
        model_info: ModelInfo | None = None,
        *,
        token_counter: Literal["words", "tiktoken"] | TokenCounter = "words",
    ) -> None:
        if isinstance(chat_completions, (str, bytes)):
            raise TypeError("chat_completions must be a sequence of answers (str or CreateResult), not one str")
        for i, answer in enumerate(chat_completions):
            if not isinstance(answer, (str, CreateResult)):
                raise TypeError(f"chat_completions[{i}] must be a str or a CreateResult, not {type(answer).__name__}")
        if model_info is not None:
            missing = [key for key in _REQUIRED_INFO if key not in model_info]
            if missing:
                raise InvalidRequestError(f"model_info is missing {', '.join(missing)}")
        if token_counter not in ("words", "tiktoken") and not callable(token_counter):
            raise InvalidRequestError(
                "token_counter must be 'words', 'tiktoken' or a callable (messages, tools) -> int"
            )
        self.chat_completions: list[str | CreateResult] = list(chat_completions)
        self._model_info: ModelInfo = model_info if model_info is not None else UNKNOWN_MODEL_INFO.copy()
        self._token_counter = token_counter
        self._cached = False
        self._create_calls: list[dict[str, Any]] = []
        self.reset()

    # -- the script --

    @property
    def create_calls(self) -> list[dict[str, Any]]:
        """The arguments of every ``create`` and ``create_stream`` call, in order."""
        return self._create_calls

    @property
    def provided_message_count(self) -> int:
        """How many answers the script holds."""
        return len(self.chat_completions)

    @property
    def remaining_answers(self) -> int:
        """How many answers are left."""
        return len(self.chat_completions) - self._index

    def reset(self) -> None:
        """Start the script again and zero the usage (``create_calls`` is kept, as in AutoGen)."""
        self._index = 0
        self._total_usage = RequestUsage()
        self._actual_usage = RequestUsage()

    def set_cached_bool_value(self, value: bool) -> None:
        """The ``cached`` flag of the results made from ``str`` answers (``False`` unless set)."""
        self._cached = value

    def _take(self, messages: Sequence[Any], tools: Sequence[Any], **call: Any) -> CreateResult:
        """Record the call and make the next answer's result; ``ValueError`` when the script is spent."""
        self._create_calls.append({"messages": messages, "tools": tools, **call})
        if self._index >= len(self.chat_completions):
            raise ValueError(EXHAUSTED)
        answer = self.chat_completions[self._index]
        self._index += 1
        if isinstance(answer, CreateResult):
            return answer.model_copy(deep=True)
        usage = RequestUsage(
            prompt_tokens=self.count_tokens(messages, tools=tools), completion_tokens=self._count_answer(answer)
        )
        return CreateResult(finish_reason="stop", content=answer, usage=usage, cached=self._cached)

    def _add_usage(self, result: CreateResult) -> None:
        self._total_usage = self._total_usage + result.usage
        if not result.cached:
            self._actual_usage = self._actual_usage + result.usage

    # -- the interface --

    async def create(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> CreateResult:
        """The next answer. A token already cancelled raises ``asyncio.CancelledError`` and takes no answer."""
        _check_cancelled(cancellation_token)
        result = self._take(
            messages,
            tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=_with_keywords(extra_create_args, create_args),
            cancellation_token=cancellation_token,
            stream=False,
        )
        self._add_usage(result)
        return result

    def create_stream(
        self,
        messages: Sequence[Any],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _EMPTY,
        cancellation_token: CancellationTokenLike | None = None,
        **create_args: Any,
    ) -> ChatCompletionStream:
        """The next answer as a stream: its thought as ``ThoughtChunk`` deltas, its text word by word, then the
        result. A token cancelled before or during the stream ends it with ``asyncio.CancelledError``."""
        result = self._take(
            messages,
            tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=_with_keywords(extra_create_args, create_args),
            cancellation_token=cancellation_token,
            stream=True,
        )
        return _ReplayStream(self, result, cancellation_token)

    async def close(self) -> None:
        """Nothing to release."""

    def actual_usage(self) -> RequestUsage:
        return self._actual_usage

    def total_usage(self) -> RequestUsage:
        return self._total_usage

    def count_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """The prompt's size by ``token_counter``: words (default), modelport's tokenizer, or your counter."""
        converted = as_messages(messages)
        counter = self._token_counter
        if counter == "words":
            return sum(len(text.split()) for message in converted for text in _texts(message))
        if counter == "tiktoken":
            return int(count_message_tokens(converted, self._model_info, tools=tools))
        assert callable(counter)
        return int(counter(converted, tools))

    def remaining_tokens(self, messages: Sequence[Any], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """The context window less the prompt's count (never below 0)."""
        window = self._model_info.get("context_window") or DEFAULT_CONTEXT_WINDOW
        return max(0, window - self.count_tokens(messages, tools=tools))

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info

    @property
    def capabilities(self) -> dict[str, bool]:
        """AutoGen's deprecated ``capabilities``: ``vision``, ``function_calling`` and ``json_output`` from
        :attr:`model_info`, with AutoGen's ``DeprecationWarning``."""
        warnings.warn("capabilities is deprecated, use model_info instead", DeprecationWarning, stacklevel=2)
        info = self._model_info
        return {key: bool(info[key]) for key in ("vision", "function_calling", "json_output")}

    def _count_answer(self, text: str) -> int:
        counter = self._token_counter
        if counter == "words":
            return len(text.split())
        if counter == "tiktoken":
            return tokenizer(encoding_name(self._model_info)).text(text)
        assert callable(counter)
        return int(counter([AssistantMessage(content=text)], ()))

    def __repr__(self) -> str:
        return f"ReplayChatCompletionClient({self.remaining_answers} of {len(self.chat_completions)} answers left)"

    # -- config --

    def _to_config(self, *, include_secrets: bool) -> ReplayConfig:
        counter = self._token_counter
        if not isinstance(counter, str):
            raise InvalidRequestError("a ReplayChatCompletionClient with a callable token_counter cannot be saved")
        return ReplayConfig(
            chat_completions=self.chat_completions,
            model_info=dict(self._model_info),
            token_counter=counter,  # "words" or "tiktoken": checked in __init__
            cached=self._cached,
        )

    @classmethod
    def _from_config(cls, config: ReplayConfig) -> ReplayChatCompletionClient:
        info = cast(ModelInfo, dict(config.model_info)) if config.model_info is not None else None
        client = cls(config.chat_completions, info, token_counter=config.token_counter)
        client.set_cached_bool_value(config.cached)
        return client


def _check_cancelled(token: CancellationTokenLike | None) -> None:
    if token is not None and token.is_cancelled():
        raise asyncio.CancelledError


class _ReplayStream(ChatCompletionStream):
    """One scripted answer as a stream: thought deltas, text deltas, then the result (usage added then)."""

    def __init__(
        self, client: ReplayChatCompletionClient, result: CreateResult, token: CancellationTokenLike | None
    ) -> None:
        self._client = client
        self._token = token
        items: list[str | CreateResult] = [ThoughtChunk(w) for w in split_words(result.thought or "")]
        if isinstance(result.content, str):
            items += split_words(result.content)
        items.append(result)
        items.reverse()
        self._items = items

    def __aiter__(self) -> _ReplayStream:
        return self

    async def __anext__(self) -> str | CreateResult:
        if not self._items:
            raise StopAsyncIteration
        if self._token is not None and self._token.is_cancelled():
            self._items.clear()
            raise asyncio.CancelledError
        await asyncio.sleep(0)  # a real stream yields to the loop between chunks; so does this one
        item = self._items.pop()
        if isinstance(item, CreateResult):
            self._client._add_usage(item)
        return item

    async def aclose(self) -> None:
        self._items.clear()


def _with_keywords(extra_create_args: Any, keywords: Mapping[str, Any]) -> Any:
    """The create arguments a call is recorded with: ``extra_create_args`` as given, with those given as keywords
    (``temperature=0``) joined to them (a name given both ways is refused, as every client refuses it)."""
    return merged_args(extra_create_args, keywords) if keywords else extra_create_args
