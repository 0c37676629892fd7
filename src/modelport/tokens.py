"""Token counting that never touches the network, and never recounts a message it has seen.

Counts follow OpenAI's published recipe (the cookbook's *How to count tokens with tiktoken*): every message costs 3
tokens plus its role and content, a ``name`` costs its tokens plus 1, every reply is primed with 3, and tool
definitions cost what the cookbook's ``num_tokens_for_tools`` gives. Images cost what OpenAI's vision pricing says
(85 tokens, plus 170 per 512-pixel tile at high detail). ``o200k_base`` is used for gpt-4o, gpt-4.1, gpt-5, the
o-series and gpt-oss; ``cl100k_base`` for everything else.

tiktoken is used only when its encoding file is already on disk (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or
tiktoken's default cache). modelport looks for the file itself, so tiktoken never starts a download and a count
never hangs. Without the file, counts are a fast estimate (a token per four bytes of UTF-8) and the returned
:class:`TokenCount` says so with ``estimated=True``; one :class:`TokenEstimateWarning` is given per encoding.

Per-message counts are cached (keyed by the message's content, so an edited message is counted afresh): counting a
growing history costs only its new messages.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from .messages import (
    AssistantMessage,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from .model_info import ModelFamily

__all__ = [
    "TokenCount",
    "TokenCounter",
    "TokenEstimateWarning",
    "count_message_tokens",
    "count_openai_messages",
    "encoding_name",
    "image_tokens",
]

TokenCounter = Callable[[Sequence[Any], Sequence[Any]], int]
"""A custom counter for a client: ``counter(messages, tools) -> int``."""

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
_O200K_FAMILIES = frozenset(
    {
        ModelFamily.GPT_5,
        ModelFamily.GPT_41,
        ModelFamily.GPT_45,
        ModelFamily.GPT_4O,
        ModelFamily.O1,
        ModelFamily.O3,
        ModelFamily.O4,
        ModelFamily.GPT_OSS,
    }
)
# The cookbook's per-function constants: (function start, properties start, per property, enum start, per enum
# item, end of all functions).
_TOOL_COSTS = {"o200k_base": (7, 3, 3, -3, 3, 12), "cl100k_base": (10, 3, 3, -3, 3, 12)}
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
CACHE_SIZE = 16_384


class TokenEstimateWarning(UserWarning):
    """tiktoken's encoding file is not on disk, so token counts are estimates."""


class TokenCount(int):
    """An ``int`` that knows whether it is exact (tiktoken) or an estimate."""

    estimated: bool

    def __new__(cls, value: int, estimated: bool = False) -> TokenCount:
        obj = super().__new__(cls, value)
        obj.estimated = estimated
        return obj

    def __repr__(self) -> str:
        return f"TokenCount({int(self)}, estimated={self.estimated})"


def encoding_name(model_info: Mapping[str, Any]) -> str:
    return "o200k_base" if model_info.get("family") in _O200K_FAMILIES else "cl100k_base"


def _cache_file(name: str) -> str:
    cache_dir = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    return os.path.join(cache_dir, hashlib.sha1(_ENCODING_URLS[name].encode()).hexdigest())


class _Tokenizer:
    """One encoding, or the estimate standing in for it, with a cache of per-message counts."""

    def __init__(self, name: str, encoding: Any | None) -> None:
        self.name = name
        self.encoding = encoding
        self.estimated = encoding is None
        self._cache: OrderedDict[Any, int] = OrderedDict()
        self._lock = threading.Lock()

    def text(self, text: str) -> int:
        if self.encoding is None:
            return math.ceil(len(text.encode("utf-8")) / 4)
        return len(self.encoding.encode(text, disallowed_special=()))

    def cached(self, key: Any, compute: Callable[[], int]) -> int:
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
                return value
        value = compute()
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return value


_tokenizers: dict[str, _Tokenizer] = {}
_tokenizers_lock = threading.Lock()


def tokenizer(name: str) -> _Tokenizer:
    """The tokenizer for an encoding name, loaded once per process (exact if its file is on disk)."""
    with _tokenizers_lock:
        found = _tokenizers.get(name)
        if found is not None:
            return found
        encoding = None
        if name in _ENCODING_URLS and os.path.exists(_cache_file(name)):
            try:
                import tiktoken

                encoding = tiktoken.get_encoding(name)
            except Exception:  # a damaged file: fall back to the estimate, never to the network
                encoding = None
        if encoding is None:
            warnings.warn(
                f"tiktoken's {name} file is not on disk; token counts are estimates. Point "
                "TIKTOKEN_CACHE_DIR at a folder that holds it for exact counts.",
                TokenEstimateWarning,
                stacklevel=4,
            )
        found = _tokenizers[name] = _Tokenizer(name, encoding)
        return found


def image_tokens(image: Image) -> int:
    """OpenAI's vision cost: 85 at low detail (or unknown size), else 85 + 170 per 512-pixel tile after scaling
    to fit 2048 x 2048 and then 768 on the short side."""
    if image.detail == "low" or not image.width or not image.height:
        return 85
    width, height = float(image.width), float(image.height)
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


# -- OpenAI-shaped messages (dicts), as the cookbook counts them --


def count_openai_messages(
    messages: Sequence[Mapping[str, Any]], *, encoding: str = "o200k_base", tools: Sequence[Mapping[str, Any]] = ()
) -> TokenCount:
    """Tokens of chat-completions ``messages`` and ``tools`` given as the JSON dicts sent on the wire."""
    tok = tokenizer(encoding)
    total = REPLY_PRIMING + sum(_wire_message(message, tok) for message in messages)
    total += _tools_tokens([t.get("function", t) for t in tools], tok)
    return TokenCount(total, tok.estimated)


def _wire_message(message: Mapping[str, Any], tok: _Tokenizer) -> int:
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if isinstance(value, str):
            total += tok.text(value)
            if key == "name":
                total += TOKENS_PER_NAME
        elif key == "content" and isinstance(value, list):
            for part in value:
                if part.get("type") == "text":
                    total += tok.text(part.get("text", ""))
                elif part.get("type") == "image_url":
                    total += 85
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                function = call.get("function", {})
                total += (
                    TOKENS_PER_MESSAGE + tok.text(function.get("name", "")) + tok.text(function.get("arguments", ""))
                )
    return total


def _tools_tokens(functions: Sequence[Mapping[str, Any]], tok: _Tokenizer) -> int:
    if not functions:
        return 0
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = _TOOL_COSTS.get(
        tok.name, _TOOL_COSTS["cl100k_base"]
    )
    total = 0
    for function in functions:
        total += func_init + tok.text(f"{function.get('name', '')}:{_strip_period(function.get('description', ''))}")
        properties = (function.get("parameters") or {}).get("properties") or {}
        if properties:
            total += prop_init
            for key, prop in properties.items():
                total += prop_key
                enum = prop.get("enum")
                if enum:
                    total += enum_init + sum(enum_item + tok.text(str(item)) for item in enum)
                kind = prop.get("type")
                if not isinstance(kind, str):
                    kind = orjson.dumps({k: v for k, v in prop.items() if k not in ("description", "enum")}).decode()
                total += tok.text(f"{key}:{kind}:{_strip_period(prop.get('description', ''))}")
    return total + func_end


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


# -- modelport's messages --


def _message_key(message: Any) -> Any:
    """A hashable key for a message's countable content (a stable string hash for the common cases)."""
    content = message.content
    if isinstance(content, str):
        source = getattr(message, "source", None)
        return type(message).__name__, source, content, getattr(message, "thought", None)
    return type(message).__name__, message.model_dump_json()


def message_tokens(message: Any, tok: _Tokenizer) -> int:
    """Tokens one message costs in a prompt (without the reply priming); cached."""
    return tok.cached(_message_key(message), lambda: _count_message(message, tok))


def _count_message(message: Any, tok: _Tokenizer) -> int:
    if isinstance(message, SystemMessage):
        return TOKENS_PER_MESSAGE + tok.text("system") + tok.text(message.content)
    if isinstance(message, UserMessage):
        total = TOKENS_PER_MESSAGE + tok.text("user")
        if message.source:
            total += tok.text(message.source) + TOKENS_PER_NAME
        parts = [message.content] if isinstance(message.content, str) else message.content
        return total + sum(image_tokens(p) if isinstance(p, Image) else tok.text(p) for p in parts)
    if isinstance(message, AssistantMessage):
        total = TOKENS_PER_MESSAGE + tok.text("assistant")
        if isinstance(message.content, str):
            return total + tok.text(message.content)
        if message.thought:
            total += tok.text(message.thought)
        return total + sum(TOKENS_PER_MESSAGE + tok.text(c.name) + tok.text(c.arguments) for c in message.content)
    if isinstance(message, FunctionExecutionResultMessage):
        return sum(
            TOKENS_PER_MESSAGE + tok.text("tool") + tok.text(r.call_id) + tok.text(r.content) for r in message.content
        )
    raise TypeError(f"cannot count tokens of {type(message).__name__}")


def count_message_tokens(
    messages: Sequence[Any], model_info: Mapping[str, Any], *, tools: Sequence[Any] = ()
) -> TokenCount:
    """Tokens ``messages`` and ``tools`` take in a chat-completions prompt for a model described by ``model_info``."""
    tok = tokenizer(encoding_name(model_info))
    total = REPLY_PRIMING + sum(message_tokens(m, tok) for m in messages)
    if tools:
        total += _tools_tokens([t if isinstance(t, Mapping) else t.schema for t in tools], tok)
    return TokenCount(total, tok.estimated)
