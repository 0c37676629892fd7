"""Every message, result and usage type; nothing else in modelport defines data.

All types are pydantic v2 models that round-trip through JSON. The message types are discriminated by their
``type`` field, so a list of ``LLMMessage`` can be validated back from JSON without guessing.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import struct
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._lazy import lazy_getattr

__all__ = [
    "AssistantMessage",
    "ChatCompletionTokenLogprob",
    "CreateResult",
    "FinishReasons",
    "FunctionCall",
    "FunctionExecutionResult",
    "FunctionExecutionResultMessage",
    "Image",
    "LLMMessage",
    "RequestUsage",
    "SystemMessage",
    "ThoughtChunk",
    "TopLogprob",
    "UserMessage",
    "from_openai",
    "to_openai",
]

FinishReasons = Literal["stop", "length", "function_calls", "content_filter", "unknown"]


class ThoughtChunk(str):
    """A reasoning delta from ``create_stream``: a ``str``, so ``print(chunk)`` loops keep working.

    Tell it apart from answer text with ``isinstance(chunk, ThoughtChunk)``; no ``<think>`` parsing needed.
    """

    __slots__ = ()


class Image(BaseModel):
    """An image for a vision model: inline bytes (kept as base64) or a URL that the provider fetches (a ``gs://``
    Cloud Storage URL is for Gemini only; the other providers refuse it before sending).

    Build one with :meth:`from_file`, :meth:`from_bytes`, :meth:`from_base64` or :meth:`from_url`. Width and height
    are read from the image header when the bytes are at hand (PNG, JPEG, GIF, WebP), for vision-token estimates.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["image"] = "image"
    data: str | None = None
    url: str | None = None
    media_type: str = "image/png"
    width: int | None = None
    height: int | None = None
    detail: Literal["auto", "low", "high"] = "auto"

    @model_validator(mode="after")
    def _check_source(self) -> Image:
        """Exactly one source, and one a provider can use: base64 that decodes, or an http(s), gs:// or data URL."""
        if (self.data is None) == (self.url is None):
            raise ValueError("an Image needs exactly one of data (base64 bytes) or url")
        if not self.media_type.startswith("image/"):
            raise ValueError(f"media_type must be an image/* type, got {self.media_type!r}")
        if self.data is not None:
            if not self.data or not _is_base64(self.data):
                raise ValueError("data is not valid base64 (use Image.from_bytes or Image.from_file for raw bytes)")
        elif not self.url or not self.url.lower().startswith(("http://", "https://", "gs://", "data:image/")):
            raise ValueError(
                f"url must be an http://, https:// or gs:// URL (or a data:image/ URL), got {self.url!r:.40}"
            )
        elif self.url[:5].lower() == "data:":
            header, _, payload = self.url.partition(",")
            if not header.endswith(";base64") or not payload or not _is_base64(payload):
                raise ValueError("url is a data: URL whose payload is not base64")
        return self

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None, *, detail: str = "auto") -> Image:
        sniffed, size = _sniff_image(data)
        width, height = size if size else (None, None)
        return cls(
            data=base64.b64encode(data).decode("ascii"),
            media_type=media_type or sniffed or "image/png",
            width=width,
            height=height,
            detail=detail,  # type: ignore[arg-type]
        )

    @classmethod
    def from_base64(cls, data: str, media_type: str | None = None, *, detail: str = "auto") -> Image:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"Image.from_base64: data is not valid base64 ({exc})") from None
        return cls.from_bytes(raw, media_type, detail=detail)

    @classmethod
    def from_file(cls, path: str | Path, *, detail: str = "auto") -> Image:
        path = Path(path)
        guessed = mimetypes.guess_type(path.name)[0]
        return cls.from_bytes(path.read_bytes(), guessed, detail=detail)

    @classmethod
    def from_url(cls, url: str, *, detail: str = "auto") -> Image:
        """An image the provider downloads itself (its type guessed from the URL's file name, for the providers that
        are told it); ``data:`` URLs are decoded and kept inline."""
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            media_type = header[5:].split(";")[0] or None
            return cls.from_base64(payload, media_type, detail=detail)
        guessed = mimetypes.guess_type(url.split("?", 1)[0].split("#", 1)[0])[0] if isinstance(url, str) else None
        if guessed is not None and guessed.startswith("image/"):
            return cls(url=url, media_type=guessed, detail=detail)  # type: ignore[arg-type]
        return cls(url=url, detail=detail)  # type: ignore[arg-type]

    @property
    def data_uri(self) -> str:
        """The image as a ``data:`` URI, or its URL when it has no inline bytes."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.media_type};base64,{self.data}"


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _sniff_image(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """Media type and (width, height) from the first bytes of PNG, GIF, WebP or JPEG data."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return "image/png", struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "image/gif", struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return "image/jpeg", _jpeg_size(data)
    return None, None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


class FunctionCall(BaseModel):
    """A tool call requested by the model. ``arguments`` is the JSON text exactly as the model produced it; for a
    call to an OpenAI custom tool (``provider_fields`` ``{"tool_type": "custom"}``) it is the tool's free-form input,
    as it came."""

    id: str
    arguments: str
    name: str
    provider_fields: dict[str, Any] | None = Field(
        default=None,
        description="Provider data to send back with this call next turn (Gemini's thought signature, Anthropic's "
        "thinking blocks, the mark of an OpenAI custom tool's call).",
    )

    def parse_arguments(self) -> dict[str, Any]:
        """The arguments as a dict (empty arguments mean ``{}``); ``ValueError`` naming the tool when they are not
        a JSON object, so a tool is never run with arguments that failed to parse."""
        text = self.arguments.strip()
        if not text:
            return {}
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"arguments of tool call {self.name!r} ({self.id}) are not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"arguments of tool call {self.name!r} ({self.id}) are not a JSON object")
        return value


class SystemMessage(BaseModel):
    content: str
    type: Literal["SystemMessage"] = "SystemMessage"


class UserMessage(BaseModel):
    content: str | list[str | Image]
    source: str = "user"
    type: Literal["UserMessage"] = "UserMessage"


class AssistantMessage(BaseModel):
    content: str | list[FunctionCall]
    thought: str | None = None
    source: str = "assistant"
    type: Literal["AssistantMessage"] = "AssistantMessage"


class FunctionExecutionResult(BaseModel):
    content: str
    name: str
    call_id: str
    is_error: bool | None = None


class FunctionExecutionResultMessage(BaseModel):
    content: list[FunctionExecutionResult]
    type: Literal["FunctionExecutionResultMessage"] = "FunctionExecutionResultMessage"


LLMMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | FunctionExecutionResultMessage,
    Field(discriminator="type"),
]


class RequestUsage(BaseModel):
    """Tokens one call (or a client, summed) used. The details are ``None`` when the provider did not report them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int | None = None
    """Prompt tokens read from the provider's cache (part of ``prompt_tokens``)."""
    reasoning_tokens: int | None = None
    """Completion tokens spent reasoning (part of ``completion_tokens``)."""
    cache_write_tokens: int | None = None
    """Prompt tokens written to the provider's cache (Anthropic's prompt caching; part of ``prompt_tokens``)."""

    def __add__(self, other: RequestUsage) -> RequestUsage:
        return RequestUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=_add_optional(self.cached_prompt_tokens, other.cached_prompt_tokens),
            reasoning_tokens=_add_optional(self.reasoning_tokens, other.reasoning_tokens),
            cache_write_tokens=_add_optional(self.cache_write_tokens, other.cache_write_tokens),
        )


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


class TopLogprob(BaseModel):
    token: str | None = None
    logprob: float
    bytes: list[int] | None = None


class ChatCompletionTokenLogprob(BaseModel):
    token: str
    logprob: float
    top_logprobs: list[TopLogprob] | None = None
    bytes: list[int] | None = None


class CreateResult(BaseModel):
    """The outcome of one ``create`` (or the last item of ``create_stream``).

    ``content`` is the answer text, or the tool calls when the model asked for tools; ``thought`` is its reasoning
    (and, as in AutoGen, any text it wrote beside tool calls). The fields after ``thought`` are modelport's own.
    """

    finish_reason: FinishReasons
    content: str | list[FunctionCall]
    usage: RequestUsage
    cached: bool = False
    logprobs: list[ChatCompletionTokenLogprob] | None = None
    thought: str | None = None
    model: str | None = Field(
        default=None, description="The model name the server reported (may differ from the one asked for)."
    )
    request_id: str | None = None
    raw_finish_reason: str | None = Field(
        default=None, description="The finish reason exactly as the provider sent it."
    )
    refusal: str | None = Field(default=None, description="The model's refusal text (OpenAI structured outputs).")
    parsed: Any = Field(default=None, description="The validated object when json_output was a pydantic model.")
    usage_reported: bool = Field(
        default=True, description="False when the provider sent no usage: the counts are unknown, not 0."
    )
    cost: Decimal | None = Field(
        default=None,
        description="What the call cost in US dollars, from modelport's price table or your prices; None when the "
        "model has no price (never a guess); 0 for a cache hit.",
    )
    provider_metadata: dict[str, Any] | None = Field(
        default=None,
        description="What the provider said about the call beyond the answer (Ollama's timings in nanoseconds).",
    )


# ``from_openai`` and ``to_openai`` are defined where the conversions live (the OpenAI wire format, for the second),
# and loaded from there on first use, so that this module of data imports nothing that imports it.
_DEFINED_ELSEWHERE = {"from_openai": "._convert", "to_openai": ".providers.openai._request"}
__getattr__ = lazy_getattr("modelport", _DEFINED_ELSEWHERE, globals())

if TYPE_CHECKING:
    from ._convert import from_openai as from_openai
    from .providers.openai._request import to_openai as to_openai
