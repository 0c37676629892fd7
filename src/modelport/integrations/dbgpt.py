"""``DBGPTClient``: any modelport client as a DB-GPT ``LLMClient``, for DB-GPT's AWEL LLM operators and agents.

::

    from dbgpt.model.operators import LLMOperator
    from modelport import OpenAIChatCompletionClient
    from modelport.integrations.dbgpt import DBGPTClient

    llm = LLMOperator(llm_client=DBGPTClient(OpenAIChatCompletionClient(model="gpt-4o")))

The wrapped client may be any modelport client: an HTTP client of any provider, a :class:`~modelport.Router`, a
:class:`~modelport.ChatCompletionCache`. What crosses the boundary (read from dbgpt 0.8.2's ``LLMClient`` and its
own OpenAI proxy client, ``OpenAILLMClient``):

- **In**: a ``ModelRequest``: its messages (``ModelMessage`` objects or dicts; a ``message_converter`` applies
  first, as DB-GPT's clients apply it), ``temperature``, ``top_p``, ``max_new_tokens`` (sent as ``max_tokens``) and
  ``stop``. The wrapped client decides the model: ``request.model`` names it to DB-GPT only. ``stop_token_ids`` and
  ``echo``, which a chat-completion request has no place for, raise :class:`~modelport.InvalidRequestError`.
- **Out**: a ``ModelOutput`` built as DB-GPT's own client builds it: the answer as text, the reasoning as DB-GPT's
  thinking content (``has_thinking``, ``thinking_text``), ``usage`` as an OpenAI usage dict, ``finish_reason``.
  ``generate_stream`` yields the text so far (not deltas) and the thinking so far, as DB-GPT's proxy clients do,
  then one last output with the usage and the finish reason.
- **Errors**: as DB-GPT's OpenAI client does, ``generate`` turns a failed call (a modelport
  :class:`~modelport.APIError`, already scrubbed of secrets) into an output with ``error_code=1`` and the error's
  text, which AWEL's output operators show; ``generate_stream`` raises it. Bad input raises at once either way.
- **Cancellation**: cancelling the task that awaits ``generate`` cancels the request (its socket is closed), and so
  does leaving a ``generate_stream`` loop early or closing it (``aclose``), at any point of the stream.
- ``models()`` describes the wrapped model (context window and tool use from modelport's registry), and
  ``count_token`` counts with the model's tokenizer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

try:
    from dbgpt.core import LLMClient, MessageConverter, ModelMetadata, ModelOutput, ModelRequest
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("modelport.integrations.dbgpt needs DB-GPT: pip install 'modelport[dbgpt]'") from exc

from .._convert import as_messages
from ..client import ChatCompletionClient
from ..errors import APIError, InvalidRequestError
from ..messages import CreateResult, ThoughtChunk
from ..tokens import encoding_name, tokenizer

__all__ = ["DBGPTClient", "to_model_output"]

_ARGS = (("temperature", "temperature"), ("top_p", "top_p"), ("max_new_tokens", "max_tokens"), ("stop", "stop"))
"""A ``ModelRequest``'s sampling fields, and the create argument each becomes."""


def to_model_output(result: CreateResult) -> ModelOutput:
    """modelport's ``CreateResult`` as DB-GPT's ``ModelOutput`` (text, thinking, usage, finish reason)."""
    text = result.content if isinstance(result.content, str) else ""
    return ModelOutput.build(text, result.thought or None, usage=_usage(result), finish_reason=result.finish_reason)


def _usage(result: CreateResult) -> dict[str, int]:
    prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class DBGPTClient(LLMClient):  # type: ignore[misc]
    """A DB-GPT ``LLMClient`` over ``client``, any modelport client.

    Args:
        client: the modelport client that answers (it is not closed by this one; close it yourself).
        model_name: the name ``models()`` gives DB-GPT, and its ``default_model``; any name DB-GPT asks about is
            answered by the wrapped client.
    """

    def __init__(self, client: ChatCompletionClient, *, model_name: str = "modelport") -> None:
        self._client = client
        self._model_name = model_name
        self._metadata_cache: dict[str, Any] = {}

    @property
    def client(self) -> ChatCompletionClient:
        """The wrapped modelport client."""
        return self._client

    @property
    def default_model(self) -> str:
        """The model name DB-GPT's ``__call__`` helpers put on a request they build."""
        return self._model_name

    async def generate(self, request: ModelRequest, message_converter: MessageConverter | None = None) -> ModelOutput:
        messages, args = await self._prepare(request, message_converter)
        try:
            result = await self._client.create(messages, extra_create_args=args)
        except APIError as exc:
            return ModelOutput(error_code=1, text=f"**LLMServer Generate Error, Please CheckErrorInfo.**: {exc}")
        return to_model_output(result)

    async def generate_stream(
        self, request: ModelRequest, message_converter: MessageConverter | None = None
    ) -> AsyncIterator[ModelOutput]:
        messages, args = await self._prepare(request, message_converter)
        stream = self._client.create_stream(messages, extra_create_args=args)
        text: list[str] = []
        thinking: list[str] = []
        try:
            async for item in stream:
                if isinstance(item, CreateResult):
                    yield to_model_output(item)
                elif isinstance(item, ThoughtChunk):
                    thinking.append(item)
                    yield ModelOutput.build("".join(text), "".join(thinking))
                else:
                    text.append(item)
                    yield ModelOutput.build("".join(text), "".join(thinking) or None)
        finally:
            await _close(stream)

    async def models(self) -> list[ModelMetadata]:
        info: Mapping[str, Any] = self._client.model_info
        return [
            ModelMetadata(
                model=self._model_name,
                context_length=info.get("context_window"),
                max_output_length=info.get("max_output_tokens"),
                function_calling=bool(info.get("function_calling")),
            )
        ]

    async def get_model_metadata(self, model: str) -> ModelMetadata:
        """The wrapped model's metadata, whatever name ``model`` DB-GPT asks about."""
        return (await self.cached_models())[0]

    @property
    def cache(self) -> dict[str, Any]:
        """Per client, not DB-GPT's class-wide cache: two wrappers of different models never share metadata."""
        return self._metadata_cache

    async def count_token(self, model: str, prompt: str) -> int:
        """Tokens in ``prompt`` by the wrapped model's tokenizer (its family's tiktoken encoding)."""
        return tokenizer(encoding_name(self._client.model_info), stacklevel=2).text(prompt)

    async def _prepare(
        self, request: ModelRequest, message_converter: MessageConverter | None
    ) -> tuple[Sequence[Any], dict[str, Any]]:
        _refuse_unsendable(request)
        if message_converter is not None:
            request = await self.covert_message(request, message_converter)
        messages = as_messages(request.to_common_messages())
        args = {name: getattr(request, field) for field, name in _ARGS if getattr(request, field) is not None}
        return messages, args

    def __repr__(self) -> str:
        return f"DBGPTClient({self._client!r})"


def _refuse_unsendable(request: ModelRequest) -> None:
    """A request field the chat-completion wire has no place for raises, naming it, rather than being dropped."""
    if request.stop_token_ids:
        raise InvalidRequestError(
            "ModelRequest.stop_token_ids has no place in a chat-completion request; pass stop (strings) instead"
        )
    if request.echo:
        raise InvalidRequestError("ModelRequest.echo (the prompt repeated in the answer) is not supported")


async def _close(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
