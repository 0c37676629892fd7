"""Token counting that never touches the network.

tiktoken is used when its encoding file is already on disk (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or
tiktoken's default cache); modelport checks for the file itself, so tiktoken never starts a download. When the file
is missing, counts are a fast estimate (about four characters a token) and :class:`TokenCount` says so with
``estimated=True``; one :class:`TokenEstimateWarning` is given per encoding and process.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import orjson

from .messages import (
    AssistantMessage,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from .model_info import ModelFamily, ModelInfo

__all__ = ["TokenCount", "TokenEstimateWarning", "count_message_tokens", "encoding_for"]

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
_O200K_FAMILIES = (
    ModelFamily.GPT_5,
    ModelFamily.GPT_41,
    ModelFamily.GPT_45,
    ModelFamily.GPT_4O,
    ModelFamily.O1,
    ModelFamily.O3,
    ModelFamily.O4,
    ModelFamily.GPT_OSS,
)
_lock = threading.Lock()
_encodings: dict[str, Any] = {}
_warned: set[str] = set()


class TokenEstimateWarning(UserWarning):
    """tiktoken's encoding file is not on disk, so token counts are estimates."""


class TokenCount(int):
    """An ``int`` that knows whether it is exact (tiktoken) or an estimate."""

    estimated: bool

    def __new__(cls, value: int, estimated: bool) -> TokenCount:
        obj = super().__new__(cls, value)
        obj.estimated = estimated
        return obj


def encoding_name(model_info: ModelInfo) -> str:
    return "o200k_base" if model_info.get("family") in _O200K_FAMILIES else "cl100k_base"


def _cache_file(name: str) -> str:
    cache_dir = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    return os.path.join(cache_dir, hashlib.sha1(_ENCODING_URLS[name].encode()).hexdigest())


def encoding_for(name: str) -> Any | None:
    """tiktoken's encoding if its file is on disk, else ``None`` (and one warning)."""
    with _lock:
        if name in _encodings:
            return _encodings[name]
        encoding = None
        if os.path.exists(_cache_file(name)):
            try:
                import tiktoken

                encoding = tiktoken.get_encoding(name)
            except Exception:
                encoding = None
        _encodings[name] = encoding
        if encoding is None and name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"tiktoken's {name} file is not on disk; token counts are estimates. Set "
                "TIKTOKEN_CACHE_DIR to a folder that holds it for exact counts.",
                TokenEstimateWarning,
                stacklevel=4,
            )
        return encoding


def _text_tokens(text: str, encoding: Any | None) -> int:
    if encoding is None:
        return math.ceil(len(text.encode("utf-8")) / 4)
    return len(encoding.encode(text, disallowed_special=()))


def image_tokens(image: Image) -> int:
    """OpenAI's vision cost: 85 for low detail, else 85 + 170 per 512-pixel tile after scaling."""
    if image.detail == "low" or not image.width or not image.height:
        return 85
    width, height = float(image.width), float(image.height)
    if max(width, height) > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    return 85 + 170 * tiles


def count_message_tokens(messages: Sequence[Any], model_info: ModelInfo, *, tools: Sequence[Any] = ()) -> TokenCount:
    """Tokens ``messages`` (and ``tools``) take in a chat-completions prompt, counted as OpenAI counts them."""
    encoding = encoding_for(encoding_name(model_info))
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3
        if isinstance(message, SystemMessage):
            total += _text_tokens(message.content, encoding)
        elif isinstance(message, UserMessage):
            total += 1 + _text_tokens(message.source, encoding)
            parts = [message.content] if isinstance(message.content, str) else message.content
            for part in parts:
                total += image_tokens(part) if isinstance(part, Image) else _text_tokens(part, encoding)
        elif isinstance(message, AssistantMessage):
            if isinstance(message.content, str):
                total += _text_tokens(message.content, encoding)
            else:
                for call in message.content:
                    total += 3 + _text_tokens(call.name, encoding) + _text_tokens(call.arguments, encoding)
        elif isinstance(message, FunctionExecutionResultMessage):
            for result in message.content:
                total += 3 + _text_tokens(result.content, encoding)
    for tool in tools:
        schema = tool if isinstance(tool, dict) else tool.schema
        total += 7 + _text_tokens(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode(), encoding)
    return TokenCount(total, estimated=encoding is None)
