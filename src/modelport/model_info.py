"""What a model can do: ``ModelInfo``, ``ModelFamily`` and the registry of models modelport knows.

A model missing from the registry still works: it gets :data:`UNKNOWN_MODEL_INFO` and one
:class:`UnknownModelWarning` per name and process. Its capabilities are assumed present (the server is the judge of
what it accepts; modelport never refuses a call it cannot prove wrong), and its context window is a conservative
8,192 tokens, so budgets err on the safe side. Pass ``model_info=`` to a client to say otherwise.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from typing_extensions import NotRequired, Required

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "UNKNOWN_MODEL_INFO",
    "ModelFamily",
    "ModelInfo",
    "ModelListing",
    "UnknownModelWarning",
    "anthropic_model_info",
    "is_responses_only",
    "lookup_model_info",
]

DEFAULT_CONTEXT_WINDOW = 8192
"""The context window assumed for a model that neither modelport nor its server describes."""


class ModelFamily:
    """Names of model families (plain strings). Unknown families are fine: any string is accepted."""

    GPT_5: Final = "gpt-5"
    GPT_41: Final = "gpt-41"
    GPT_45: Final = "gpt-45"
    GPT_4O: Final = "gpt-4o"
    O1: Final = "o1"
    O3: Final = "o3"
    O4: Final = "o4"
    GPT_4: Final = "gpt-4"
    GPT_35: Final = "gpt-35"
    GPT_OSS: Final = "gpt-oss"
    R1: Final = "r1"
    DEEPSEEK: Final = "deepseek"
    GEMINI_2_0_FLASH: Final = "gemini-2.0-flash"
    GEMINI_2_5_PRO: Final = "gemini-2.5-pro"
    GEMINI_2_5_FLASH: Final = "gemini-2.5-flash"
    GEMINI_3_PRO: Final = "gemini-3-pro"
    GEMINI_3_FLASH: Final = "gemini-3-flash"
    CLAUDE_3_HAIKU: Final = "claude-3-haiku"
    CLAUDE_3_OPUS: Final = "claude-3-opus"
    CLAUDE_3_5_HAIKU: Final = "claude-3-5-haiku"
    CLAUDE_3_5_SONNET: Final = "claude-3-5-sonnet"
    CLAUDE_3_7_SONNET: Final = "claude-3-7-sonnet"
    CLAUDE_4_SONNET: Final = "claude-4-sonnet"
    CLAUDE_4_OPUS: Final = "claude-4-opus"
    CLAUDE_4_5_SONNET: Final = "claude-4-5-sonnet"
    CLAUDE_4_5_HAIKU: Final = "claude-4-5-haiku"
    CLAUDE_4_5_OPUS: Final = "claude-4-5-opus"
    CLAUDE_4_6_SONNET: Final = "claude-4-6-sonnet"
    CLAUDE_4_6_OPUS: Final = "claude-4-6-opus"
    CLAUDE_4_7_OPUS: Final = "claude-4-7-opus"
    CLAUDE_4_8_OPUS: Final = "claude-4-8-opus"
    NOVA: Final = "nova"
    LLAMA_3: Final = "llama-3"
    LLAMA_4: Final = "llama-4"
    QWEN: Final = "qwen"
    MISTRAL: Final = "mistral"
    GEMMA: Final = "gemma"
    PHI: Final = "phi"
    UNKNOWN: Final = "unknown"

    def __new__(cls) -> ModelFamily:  # pragma: no cover - a namespace, never instantiated
        raise TypeError("ModelFamily is a namespace of strings")

    @staticmethod
    def is_openai(family: str) -> bool:
        return family.startswith(("gpt-", "o1", "o3", "o4"))

    @staticmethod
    def is_gemini(family: str) -> bool:
        return family.startswith("gemini")

    @staticmethod
    def is_claude(family: str) -> bool:
        return family.startswith("claude")


class ModelInfo(TypedDict, total=False):
    """Capabilities of a model, in AutoGen's shape plus ``context_window`` and ``max_output_tokens``."""

    vision: Required[bool]
    function_calling: Required[bool]
    json_output: Required[bool]
    family: Required[str]
    structured_output: bool
    multiple_system_messages: bool
    context_window: int
    reasoning: NotRequired[bool]
    """The model reasons before answering (OpenAI's reasoning models; Claude's extended thinking)."""
    max_output_tokens: NotRequired[int]
    """The longest answer the model can give, in tokens (the Anthropic client's default ``max_tokens``)."""


class UnknownModelWarning(UserWarning):
    """A model is not in modelport's registry; it runs with :data:`UNKNOWN_MODEL_INFO`."""


UNKNOWN_MODEL_INFO: Final[ModelInfo] = ModelInfo(
    vision=True,
    function_calling=True,
    json_output=True,
    structured_output=True,
    family=ModelFamily.UNKNOWN,
    multiple_system_messages=True,
    context_window=DEFAULT_CONTEXT_WINDOW,
)


def _info(
    family: str,
    window: int,
    *,
    vision: bool = True,
    tools: bool = True,
    json: bool = True,
    structured: bool = True,
    multiple_system: bool = True,
    reasoning: bool = False,
) -> ModelInfo:
    return ModelInfo(
        vision=vision,
        function_calling=tools,
        json_output=json,
        structured_output=structured,
        family=family,
        multiple_system_messages=multiple_system,
        context_window=window,
        reasoning=reasoning,
    )


def _claude(family: str, window: int, max_output: int, *, thinking: bool = True) -> ModelInfo:
    """A Claude model. ``structured_output`` and ``multiple_system_messages`` describe Anthropic's OpenAI-compatible
    endpoint (it ignores ``response_format`` and hoists system messages into one);
    :func:`anthropic_model_info` gives the native Messages API's view."""
    info = _info(family, window, structured=False, multiple_system=False, reasoning=thinking)
    info["max_output_tokens"] = max_output
    return info


F = ModelFamily
# Keys are matched against the lower-cased model name (its last path segment), longest first. A key takes its exact
# name and variants of it: a date or "-latest" ("gpt-4o-2024-08-06", "mistral-large-2411"), a parameter size
# ("mistral-7b-instruct-v0.3"), a version ("-v2"), an Ollama tag ("llama3.1:8b"), a Vertex "@" version. A key in
# _FAMILIES also takes any longer name that continues it at a word boundary ("gpt-4o-mini", "qwen2.5-coder:7b").
_REGISTRY: dict[str, ModelInfo] = {
    # OpenAI
    "gpt-5": _info(F.GPT_5, 400_000, reasoning=True),
    "gpt-5-chat": _info(F.GPT_5, 128_000),
    "gpt-4.1": _info(F.GPT_41, 1_047_576),
    "gpt-4.5": _info(F.GPT_45, 128_000),
    "gpt-4o": _info(F.GPT_4O, 128_000),
    "gpt-4o-2024-05-13": _info(F.GPT_4O, 128_000, structured=False),
    "chatgpt-4o": _info(F.GPT_4O, 128_000, tools=False, structured=False),
    "gpt-4-turbo": _info(F.GPT_4, 128_000, structured=False),
    "gpt-4": _info(F.GPT_4, 8_192, vision=False, structured=False),
    "gpt-3.5-turbo": _info(F.GPT_35, 16_385, vision=False, structured=False),
    "o1": _info(F.O1, 200_000, reasoning=True),
    "o1-mini": _info(
        F.O1, 128_000, vision=False, tools=False, json=False, structured=False, multiple_system=False, reasoning=True
    ),
    "o1-preview": _info(
        F.O1, 128_000, vision=False, tools=False, json=False, structured=False, multiple_system=False, reasoning=True
    ),
    "o3": _info(F.O3, 200_000, reasoning=True),
    "o3-mini": _info(F.O3, 200_000, vision=False, reasoning=True),
    "o4-mini": _info(F.O4, 200_000, reasoning=True),
    "gpt-oss": _info(F.GPT_OSS, 131_072, vision=False, reasoning=True),
    # Gemini and Claude through their OpenAI-compatible endpoints
    "gemini-2.0-flash": _info(F.GEMINI_2_0_FLASH, 1_048_576, multiple_system=False),
    "gemini-2.5-pro": _info(F.GEMINI_2_5_PRO, 1_048_576, multiple_system=False, reasoning=True),
    "gemini-2.5-flash": _info(F.GEMINI_2_5_FLASH, 1_048_576, multiple_system=False, reasoning=True),
    "gemini-2.0-flash-lite": _info(F.GEMINI_2_0_FLASH, 1_048_576, multiple_system=False),
    "gemini-2.5-flash-lite": _info(F.GEMINI_2_5_FLASH, 1_048_576, multiple_system=False, reasoning=True),
    "gemini-3-pro": _info(F.GEMINI_3_PRO, 1_048_576, multiple_system=False, reasoning=True),
    "gemini-3-flash": _info(F.GEMINI_3_FLASH, 1_048_576, multiple_system=False, reasoning=True),
    "claude-3-haiku": _claude(F.CLAUDE_3_HAIKU, 200_000, 4_096, thinking=False),
    "claude-3-opus": _claude(F.CLAUDE_3_OPUS, 200_000, 4_096, thinking=False),
    "claude-3-5-haiku": _claude(F.CLAUDE_3_5_HAIKU, 200_000, 8_192, thinking=False),
    "claude-3-5-sonnet": _claude(F.CLAUDE_3_5_SONNET, 200_000, 8_192, thinking=False),
    "claude-3-7-sonnet": _claude(F.CLAUDE_3_7_SONNET, 200_000, 64_000),
    "claude-sonnet-4": _claude(F.CLAUDE_4_SONNET, 200_000, 64_000),
    "claude-opus-4": _claude(F.CLAUDE_4_OPUS, 200_000, 32_000),
    "claude-opus-4-1": _claude(F.CLAUDE_4_OPUS, 200_000, 32_000),
    "claude-sonnet-4-5": _claude(F.CLAUDE_4_5_SONNET, 200_000, 64_000),
    "claude-haiku-4-5": _claude(F.CLAUDE_4_5_HAIKU, 200_000, 64_000),
    "claude-opus-4-5": _claude(F.CLAUDE_4_5_OPUS, 200_000, 64_000),
    "claude-sonnet-4-6": _claude(F.CLAUDE_4_6_SONNET, 1_000_000, 64_000),
    "claude-opus-4-6": _claude(F.CLAUDE_4_6_OPUS, 1_000_000, 128_000),
    "claude-opus-4-7": _claude(F.CLAUDE_4_7_OPUS, 1_000_000, 128_000),
    "claude-opus-4-8": _claude(F.CLAUDE_4_8_OPUS, 1_000_000, 128_000),
    # Amazon Nova (on Bedrock: amazon.nova-pro-v1:0)
    "nova-micro": _info(F.NOVA, 128_000, vision=False),
    "nova-lite": _info(F.NOVA, 300_000),
    "nova-pro": _info(F.NOVA, 300_000),
    "nova-premier": _info(F.NOVA, 1_000_000),
    "nova-2-lite": _info(F.NOVA, 1_000_000, reasoning=True),
    # DeepSeek
    "deepseek-chat": _info(F.DEEPSEEK, 128_000, vision=False, structured=False),
    "deepseek-reasoner": _info(F.R1, 128_000, vision=False, structured=False, reasoning=True),
    "deepseek-r1": _info(F.R1, 131_072, vision=False, tools=False, structured=False, reasoning=True),
    # Open models as Ollama, vLLM, llama.cpp and LM Studio name them
    "llama3.1": _info(F.LLAMA_3, 131_072, vision=False),
    "llama3.2": _info(F.LLAMA_3, 131_072, vision=False),
    "llama3.2-vision": _info(F.LLAMA_3, 131_072, tools=False),
    "llama3.3": _info(F.LLAMA_3, 131_072, vision=False),
    "llama-3.1": _info(F.LLAMA_3, 131_072, vision=False),
    "llama-3.3": _info(F.LLAMA_3, 131_072, vision=False),
    # Llama as Amazon Bedrock names it (meta.llama3-1-70b-instruct-v1:0)
    "llama3-8b": _info(F.LLAMA_3, 8_192, vision=False, tools=False),
    "llama3-70b": _info(F.LLAMA_3, 8_192, vision=False, tools=False),
    "llama3-1": _info(F.LLAMA_3, 131_072, vision=False),
    "llama3-2": _info(F.LLAMA_3, 131_072, vision=False),
    "llama3-2-11b": _info(F.LLAMA_3, 131_072),
    "llama3-2-90b": _info(F.LLAMA_3, 131_072),
    "llama3-3": _info(F.LLAMA_3, 131_072, vision=False),
    "llama4": _info(F.LLAMA_4, 1_048_576),
    "llama-4": _info(F.LLAMA_4, 1_048_576),
    "qwen2.5": _info(F.QWEN, 32_768, vision=False),
    "qwen2.5-vl": _info(F.QWEN, 32_768),
    "qwen3": _info(F.QWEN, 40_960, vision=False, reasoning=True),
    "qwq": _info(F.QWEN, 40_960, vision=False, reasoning=True),
    "mixtral": _info(F.MISTRAL, 32_768, vision=False),
    # Mistral: "mistral" alone is Mistral 7B (Ollama's name); the API's families are separate entries, each as its
    # "-latest" model is, with dated entries where an older version differs.
    "mistral": _info(F.MISTRAL, 32_768, vision=False),
    "mistral-large": _info(F.MISTRAL, 262_144),
    "mistral-large-2402": _info(F.MISTRAL, 32_768, vision=False),
    "mistral-large-2407": _info(F.MISTRAL, 131_072, vision=False),
    "mistral-large-2411": _info(F.MISTRAL, 131_072, vision=False),
    "mistral-medium": _info(F.MISTRAL, 262_144),
    "mistral-medium-2505": _info(F.MISTRAL, 131_072),
    "mistral-medium-2508": _info(F.MISTRAL, 131_072),
    "mistral-small": _info(F.MISTRAL, 131_072),
    "mistral-small-2402": _info(F.MISTRAL, 32_768, vision=False),
    "magistral-medium": _info(F.MISTRAL, 131_072, reasoning=True),
    "magistral-small": _info(F.MISTRAL, 131_072, reasoning=True),
    "codestral": _info(F.MISTRAL, 262_144, vision=False),
    "devstral": _info(F.MISTRAL, 131_072, vision=False),
    "ministral": _info(F.MISTRAL, 131_072),
    "pixtral": _info(F.MISTRAL, 131_072),
    "mistral-nemo": _info(F.MISTRAL, 131_072, vision=False),
    "open-mistral-nemo": _info(F.MISTRAL, 131_072, vision=False),
    "gemma2": _info(F.GEMMA, 8_192, vision=False, tools=False),
    "gemma3": _info(F.GEMMA, 131_072, tools=False),
    "phi3": _info(F.PHI, 131_072, vision=False, tools=False),
    "phi4": _info(F.PHI, 16_384, vision=False, tools=False),
}
del F

_FAMILIES = frozenset(
    {
        *("gpt-5", "gpt-5-chat", "gpt-4.1", "gpt-4.5", "gpt-4o", "chatgpt-4o", "gpt-4-turbo", "gpt-3.5-turbo"),
        *("o1", "o3", "o3-mini", "o4-mini", "gpt-oss", "gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash"),
        *("gemini-3-pro", "gemini-3-flash"),
        *("llama3.1", "llama3.2", "llama3.2-vision", "llama3.3", "llama-3.1", "llama-3.3", "llama4", "llama-4"),
        *("llama3-8b", "llama3-70b", "llama3-2-11b", "llama3-2-90b"),
        *("qwen2.5", "qwen2.5-vl", "qwen3", "qwq", "mixtral", "gemma2", "gemma3", "phi3", "phi4"),
        *("mistral-large", "mistral-medium", "mistral-small", "magistral-medium", "magistral-small", "codestral"),
        *("devstral", "ministral", "pixtral", "mistral-nemo", "open-mistral-nemo"),
    }
)
"""Keys that name a line of models sharing the entry's capabilities ("o3-pro", "o4-mini-deep-research"). Every other
key names one model (the bare "mistral" is Mistral 7B, not "mistral-medium"; "claude-opus-4" is not
"claude-opus-4-8")."""
_VARIANT = re.compile(r"(?:[:@].*|-(?:\d{4,8}|latest|0|v\d+(?:\.\d+)*|\d+(?:\.\d+)?[bm]|\d+x\d+b)(?:[-:@.].*)?)$")
"""What may follow a model's own name and still be that model: a tag, a date, a version (Anthropic's "-0" aliases:
"claude-sonnet-4-0" is Claude Sonnet 4), a parameter size."""
_PREFIXES: tuple[str, ...] = tuple(sorted(_REGISTRY, key=len, reverse=True))
_warned: set[str] = set()
_warned_lock = threading.Lock()


# Claude models whose native Messages API constrains the answer to a JSON schema (``output_config.format``).
_ANTHROPIC_JSON_SCHEMA = frozenset(
    {
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
        "claude-opus-4-7",
        "claude-opus-4-8",
    }
)
# Claude models whose Messages API takes a system message after the first turn, where it stands (Anthropic: Claude
# Opus 4.8 and the Claude 5 models other than Sonnet 5; those are not in the registry, so they are not refused).
_ANTHROPIC_MID_CONVERSATION_SYSTEM = frozenset({"claude-opus-4-8"})


def _registry_key(model: str) -> str | None:
    name = model.lower().rsplit("/", 1)[-1]
    key = _matching_key(name)
    if key is None and "." in name:  # OpenRouter writes Claude's versions with dots: claude-sonnet-4.5
        key = _matching_key(name.replace(".", "-"))
    return key


def _matching_key(name: str) -> str | None:
    """The longest key that is ``name``, a variant of it, or a family ``name`` belongs to."""
    for key in _PREFIXES:
        if not name.startswith(key):
            continue
        rest = name[len(key) :]
        if not rest or _VARIANT.match(rest) or (key in _FAMILIES and not rest[0].isalpha()):
            return key
    return None


def anthropic_model_info(model: str, *, warn: bool = True) -> ModelInfo:
    """``model`` as Anthropic's native Messages API serves it: the registry's entry, with ``structured_output``
    true where that API constrains answers to a JSON schema (its OpenAI-compatible endpoint does not), and
    ``multiple_system_messages`` true where it takes a system message after the first turn."""
    info = lookup_model_info(model, warn=warn)
    key = _registry_key(model)
    if key in _ANTHROPIC_JSON_SCHEMA or key in _ANTHROPIC_MID_CONVERSATION_SYSTEM:
        info = info.copy()
        if key in _ANTHROPIC_JSON_SCHEMA:
            info["structured_output"] = True
        if key in _ANTHROPIC_MID_CONVERSATION_SYSTEM:
            info["multiple_system_messages"] = True
    return info


_RESPONSES_ONLY = frozenset(
    {
        *("o1-pro", "o3-pro", "o3-deep-research", "o4-mini-deep-research", "gpt-5-pro", "gpt-5-codex"),
        *("gpt-5.1-codex", "gpt-5.1-codex-mini", "gpt-5.1-codex-max", "codex-mini", "computer-use-preview"),
    }
)
"""OpenAI models served only by its Responses API (``POST /v1/responses``), not by chat completions."""


@functools.lru_cache(maxsize=256)
def is_responses_only(model: str) -> bool:
    """Whether OpenAI serves ``model`` (or a dated or ``-latest`` variant of it) only through the Responses API."""
    name = model.lower().rsplit("/", 1)[-1]
    return any(name == key or (name.startswith(key) and _VARIANT.match(name[len(key) :])) for key in _RESPONSES_ONLY)


def lookup_model_info(model: str, *, warn: bool = True) -> ModelInfo:
    """The registry's :class:`ModelInfo` for ``model``, or :data:`UNKNOWN_MODEL_INFO` (with one warning per name)."""
    key = _registry_key(model)
    if key is not None:
        return _REGISTRY[key]
    if warn:
        with _warned_lock:
            first = model not in _warned
            _warned.add(model)
        if first:
            warnings.warn(
                f"model {model!r} is not in modelport's registry: assuming it supports vision, tools and JSON output, "
                f"with a context window of {UNKNOWN_MODEL_INFO.get('context_window')} tokens. Pass model_info=... to "
                "the client to describe it.",
                UnknownModelWarning,
                stacklevel=3,
            )
    return UNKNOWN_MODEL_INFO


# Where OpenAI-compatible servers report a model's context length in their /models listing.
_LISTING_WINDOW_KEYS = (
    "max_model_len",
    "context_length",
    "context_window",
    "max_context_length",
    "max_input_tokens",
    "n_ctx",
    "input_token_limit",
)


@dataclass(frozen=True)
class ModelListing:
    """One entry of a server's ``GET /models``: the id and, where the server reports it, the context window."""

    id: str
    context_window: int | None = None
    owned_by: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> ModelListing:
        return cls(
            id=str(entry.get("id", "")),
            context_window=_listing_window(entry),
            owned_by=entry.get("owned_by"),
            raw=entry,
        )


def _listing_window(entry: dict[str, Any]) -> int | None:
    """vLLM ``max_model_len``; OpenRouter and LM Studio ``context_length``; Groq ``context_window``; LiteLLM
    ``max_input_tokens``; llama.cpp ``meta.n_ctx`` (the window each slot really serves), else ``meta.n_ctx_train``
    (what the model was trained for); OpenRouter ``top_provider.context_length``."""
    for source in (entry, entry.get("meta") or {}, entry.get("top_provider") or {}):
        if not isinstance(source, dict):
            continue
        for key in (*_LISTING_WINDOW_KEYS, "n_ctx_train"):
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None
