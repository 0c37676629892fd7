"""Token counting that never touches the network, and never recounts a message it has seen.

Counts follow OpenAI's published recipe (the cookbook's *How to count tokens with tiktoken*): every message costs 3
tokens plus its role and content, a ``name`` costs its tokens plus 1, every reply is primed with 3, and tool
definitions cost what the cookbook's ``num_tokens_for_tools`` gives. Images cost what OpenAI's vision pricing says
(85 tokens, plus 170 per 512-pixel tile at high detail). ``o200k_base`` is used for gpt-4o, gpt-4.1, gpt-5, the
o-series and gpt-oss; ``cl100k_base`` for everything else.

Counts are exact offline out of the box: modelport ships both encoding files (``modelport/data/tiktoken``) and builds
the ``tiktoken.Encoding`` from them itself, so tiktoken never starts a download and a count never hangs. A copy in
tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, else ``DATA_GYM_CACHE_DIR``, else ``<tmp>/data-gym-cache``, as tiktoken
chooses) is preferred when it is there. Every file is checked against the sha256 tiktoken expects (a file that does
not match is skipped, never deleted), and where the file is found is decided again at each count, so a count after
``TIKTOKEN_CACHE_DIR`` changes uses the new folder; each file is read once per process, each encoding parsed once.
Only when no file can be found (an encoding modelport does not ship, or the package's copy removed) is a count a fast
estimate (a token per four bytes of UTF-8), and the returned :class:`TokenCount` says so with ``estimated=True``; one
:class:`TokenEstimateWarning` is given per encoding.

Per-message counts are cached (keyed by the message's content, so an edited message is counted afresh): counting a
growing history costs only its new messages.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .messages import (
    AssistantMessage,
    FunctionExecutionResultMessage,
    Image,
    SystemMessage,
    UserMessage,
)
from .model_info import ModelFamily, lookup_model_info

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "TokenCount",
    "TokenCounter",
    "TokenEstimateWarning",
    "count_message_tokens",
    "count_openai_messages",
    "count_text",
    "encoding_name",
    "image_tokens",
]

TokenCounter = Callable[[Sequence[Any], Sequence[Any]], int]
"""A custom counter for a client: ``counter(messages, tools) -> int``."""


@dataclass(frozen=True)
class _EncodingSpec:
    """What tiktoken's ``tiktoken_ext/openai_public.py`` says about an encoding, so modelport can build it itself."""

    url: str  # where tiktoken downloads it from; tiktoken's cache names the file by this URL's SHA-1
    sha256: str  # tiktoken's expected_hash
    pat_str: str
    special_tokens: Mapping[str, int]
    cache_name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache_name", hashlib.sha1(self.url.encode()).hexdigest())


_ENCODINGS = {
    "o200k_base": _EncodingSpec(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": _EncodingSpec(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}
PACKAGE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tiktoken")
"""The folder of the encoding files shipped with modelport (``<name>.tiktoken``)."""
_PACKAGED = {name: os.path.join(PACKAGE_DATA, f"{name}.tiktoken") for name in _ENCODINGS}

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
    """No usable encoding file was found (in tiktoken's cache or modelport's package), so token counts are
    estimates."""


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


def _cache_file(spec: _EncodingSpec) -> str | None:
    """Where tiktoken would cache the encoding's file now (read from the environment at every call, as tiktoken
    does), or None when ``TIKTOKEN_CACHE_DIR`` is empty (tiktoken's way of turning its cache off)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return os.path.join(cache_dir, spec.cache_name) if cache_dir else None


class _Tokenizer:
    """One encoding, or the estimate standing in for it, with a cache of per-message counts."""

    def __init__(self, name: str, encoding: tiktoken.Encoding | None, source: str | None = None) -> None:
        self.name = name
        self.encoding = encoding
        self.source = source  # the file the encoding was read from; None for the estimate
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


# Keyed by (encoding name, the file it was read from, or None for the estimate).
_tokenizers: dict[tuple[str, str | None], _Tokenizer] = {}
# Files that failed the sha256 check, with their (inode, size, mtime): skipped until they change.
_rejected: dict[tuple[str, str], tuple[int, int, int]] = {}
# One parsed Encoding per encoding name: every file accepted for it has the same sha256, so the same content.
_encodings: dict[str, tiktoken.Encoding] = {}
_tokenizers_lock = threading.Lock()


def tokenizer(name: str, *, stacklevel: int = 2) -> _Tokenizer:
    """The tokenizer for an encoding name: exact from the file in tiktoken's cache, else from modelport's copy, else
    the estimate (with one :class:`TokenEstimateWarning` per encoding).

    Decided at every call, cheaply: the cache folder is read from the environment each time, and a file not read yet
    is looked for (a ``stat``). A file once read and verified stays in memory, keyed by its path, so reading and
    parsing happen once per process and file; every verified file of an encoding has the same content (one sha256),
    so all of them share one parsed ``Encoding``. ``stacklevel`` counts from the caller of ``tokenizer``."""
    spec = _ENCODINGS.get(name)
    if spec is not None:
        for path in (_cache_file(spec), _PACKAGED[name]):
            if path is not None:
                found = _tokenizers.get((name, path)) or _exact(name, spec, path)
                if found is not None:
                    return found
    found = _tokenizers.get((name, None))
    if found is not None:
        return found
    with _tokenizers_lock:
        found = _tokenizers.get((name, None))
        if found is None:
            found = _tokenizers[(name, None)] = _Tokenizer(name, None)
            warnings.warn(
                f"no usable {name} encoding file (not in tiktoken's cache, nor in modelport's package): token "
                "counts are estimates. Point TIKTOKEN_CACHE_DIR at a folder that holds it for exact counts.",
                TokenEstimateWarning,
                stacklevel=stacklevel + 1,
            )
        return found


def _exact(name: str, spec: _EncodingSpec, path: str) -> _Tokenizer | None:
    """The tokenizer read from ``path``, if that file is there and is the encoding tiktoken expects."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (name, path)
    signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if _rejected.get(key) == signature:
        return None
    with _tokenizers_lock:
        found = _tokenizers.get(key)
        if found is None:
            encoding = _load(name, spec, path)
            if encoding is None:
                _rejected[key] = signature
                return None
            found = _tokenizers[key] = _Tokenizer(name, encoding, path)
        return found


def _load(name: str, spec: _EncodingSpec, path: str) -> tiktoken.Encoding | None:
    """Build the encoding from a local file, the way tiktoken's ``openai_public`` does, but without its
    ``load_tiktoken_bpe``: that one copies the file into tiktoken's cache, and replaces a cached file whose hash
    does not match by a download."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        return None
    encoding = _encodings.get(name)
    if encoding is None:
        try:
            import tiktoken

            # Each line is "<base64 token> <rank>"; the sha256 above has vouched for the format.
            fields = data.split()
            ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
            encoding = tiktoken.Encoding(
                name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=dict(spec.special_tokens)
            )
        except Exception:  # a tiktoken that cannot build it: the estimate, never a crash or the network
            return None
        _encodings[name] = encoding
    return encoding


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
    tok = tokenizer(encoding, stacklevel=2)
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
        fields = message.__dict__  # a plain lookup: getattr of a field a message type lacks is slow on pydantic
        return type(message).__name__, fields.get("source"), content, fields.get("thought")
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
    tok = tokenizer(encoding_name(model_info), stacklevel=3)  # called by a client's count_tokens
    total = REPLY_PRIMING + sum(message_tokens(m, tok) for m in messages)
    if tools:
        total += _tools_tokens([t if isinstance(t, Mapping) else t.schema for t in tools], tok)
    return TokenCount(total, tok.estimated)


def count_text(text: str, model: str = "gpt-4o") -> TokenCount:
    """Tokens of a raw string in ``model``'s encoding, without any message overhead (DB-GPT's ``count_token``).
    Special tokens such as ``<|endoftext|>`` are counted as plain text. Models outside the o200k families,
    including ones modelport does not know, are counted with ``cl100k_base``."""
    tok = tokenizer(encoding_name(lookup_model_info(model, warn=False)), stacklevel=2)
    return TokenCount(tok.text(text), tok.estimated)
