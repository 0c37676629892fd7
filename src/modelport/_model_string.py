"""Model strings: ``"provider:model"`` names a client in one string, as LiteLLM, pydantic-ai and any-llm users write.

    get_client("openai:gpt-4o")                        # OpenAIChatCompletionClient(model="gpt-4o")
    get_client("anthropic:claude-sonnet-4-5")          # AnthropicChatCompletionClient("claude-sonnet-4-5")
    get_client("groq:meta-llama/llama-4-scout-17b-16e-instruct")   # the OpenAI client with provider="groq"
    get_client("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0")  # LiteLLM's form

The prefixes come from the provider table (each row's ``prefixes``) and, for the OpenAI client, its presets
(``groq``, ``deepseek``, ``openrouter``, ...); a row wins over a preset of the same name, so ``gemini:`` is the
native Gemini client. The rule for reading a string:

1. ``prefix:model`` when the text before the first ``:`` is a known prefix; the model is everything after it, so it
   may hold slashes and colons (``openrouter:anthropic/claude-sonnet-4.5``, ``ollama:qwen3:8b``).
2. Otherwise LiteLLM's ``prefix/model`` when the text before the first ``/`` is a known prefix; the model is
   everything after it (``openrouter/anthropic/claude-sonnet-4.5``). To send a model id that itself starts with
   a provider's name and a slash (``openai/gpt-oss-120b`` on Groq), write the ``:`` form (``groq:openai/gpt-oss-120b``).
3. Anything else is refused, with the nearest known prefix.

Prefixes are read without regard to case, and ``_`` is read as ``-`` (LiteLLM's ``vertex_ai/``, ``ollama_chat/``).
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequestError
from .providers._table import PROVIDERS, Provider

if TYPE_CHECKING:
    from .client import ChatCompletionClient

__all__ = [
    "ModelString",
    "client_with_own_keys",
    "command_line_target",
    "find_model_string",
    "get_client",
    "parse_model_string",
    "provider_names",
]


@dataclass(frozen=True)
class ModelString:
    """What a model string names: the table's ``provider`` whose client answers, the ``prefix`` as the table
    spells it, the ``model``, and the ``arguments`` the prefix adds (``provider="groq"``, ``vertexai=True``)."""

    provider: Provider
    prefix: str
    model: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    preset: str | None = None
    """The OpenAI client's preset the prefix names, if it names one rather than a row of the table."""


def _preset_names() -> list[str]:
    from .providers.openai.client import PRESETS

    return list(PRESETS)


def _prefixes() -> dict[str, tuple[Provider, Mapping[str, Any], str | None]]:
    """Every known prefix: the table's rows' (first), then the OpenAI client's presets that no row took."""
    known: dict[str, tuple[Provider, Mapping[str, Any], str | None]] = {}
    for row in PROVIDERS:
        for prefix, arguments in row.prefixes.items():
            known.setdefault(prefix, (row, arguments, None))
    openai = next(row for row in PROVIDERS if row.name == "openai")
    for preset in _preset_names():
        known.setdefault(preset, (openai, {"provider": preset}, preset))
    return known


def provider_names() -> list[str]:
    """Every name a model string or ``--provider`` takes, sorted (the table's prefixes and the OpenAI presets)."""
    return sorted(_prefixes())


def _normal(prefix: str) -> str:
    return prefix.strip().lower().replace("_", "-")


def find_model_string(text: str, *, slash: bool = True) -> ModelString | None:
    """``text`` read as a model string if it starts with a known prefix (``prefix:``, or with ``slash``,
    ``prefix/``), else None. Checks nothing further: see :func:`parse_model_string`."""
    known = _prefixes()
    for separator in (":", "/") if slash else (":",):
        prefix, found, model = text.partition(separator)
        entry = known.get(_normal(prefix)) if found else None
        if entry is not None:
            row, arguments, preset = entry
            return ModelString(row, _normal(prefix), model.strip(), arguments, preset)
    return None


def parse_model_string(text: object, *, field_name: str = "model") -> ModelString:
    """``text`` read as a model string; :class:`InvalidRequestError` naming ``field_name`` and the nearest known
    prefix when it names no known provider, or names no model."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(f"{field_name} must be a 'provider:model' string, got {text!r}")
    found = find_model_string(text)
    if found is None:
        hint = _missing_prefix_hint(text)
        raise InvalidRequestError(
            f"{field_name} {text!r} names no known provider: write 'provider:model'; {hint}"
            f"known: {', '.join(provider_names())}"
        )
    if not found.model:
        raise InvalidRequestError(f"{field_name} {text!r} names no model after {found.prefix!r}")
    return found


def _missing_prefix_hint(text: str) -> str:
    """``did you mean ...? `` for a string that names no known provider: the provider whose price table has the
    whole string as a model (``gpt-4o``: ``openai:gpt-4o``), else the known name nearest its prefix."""
    from .pricing import priced_models

    owner = next((name for name, models in priced_models().items() if text in models), None)
    if owner is not None:
        return f"did you mean '{owner}:{text}'? "
    prefix = text.partition(":")[0] if ":" in text else text.partition("/")[0]
    close = difflib.get_close_matches(_normal(prefix), provider_names(), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _typo_of(target: ModelString) -> str | None:
    """The known model of the provider's price table that ``target``'s model most likely misspells, if the model
    is neither in that table nor in the model registry."""
    from .model_info import UNKNOWN_MODEL_INFO, lookup_model_info
    from .pricing import price_for, priced_models

    if target.provider.model_argument != "model":
        return None  # the string names a deployment, whose name is its owner's choice
    provider = target.preset or target.provider.name
    model = target.model
    if price_for(model, provider) is not None or lookup_model_info(model, warn=False) is not UNKNOWN_MODEL_INFO:
        return None
    known = [name for models in priced_models(provider).values() for name in models]
    if any(_version_free(name) == _version_free(model) for name in known):
        return None  # a known model's newer version or dated snapshot (claude-sonnet-4-7), not a typo
    close = difflib.get_close_matches(model, known, n=1, cutoff=0.8)
    return close[0] if close else None


_VERSION_PARTS = re.compile(r"[0-9._:/@-]")


def _version_free(model: str) -> str:
    """``model`` without its ASCII digits and separators: a model's name, whatever its version and date."""
    return _VERSION_PARTS.sub("", model)


def _client_class(row: Provider) -> type[ChatCompletionClient]:
    module, _, name = row.client.partition(":")
    cls: type[ChatCompletionClient] = getattr(importlib.import_module(f"modelport.{module}"), name)
    return cls


def client_from_model_string(target: ModelString, **client_args: Any) -> ChatCompletionClient:
    """The client ``target`` names, made with ``client_args``; they may not set what the string sets."""
    given = {target.provider.model_argument: target.model, **target.arguments}
    clash = sorted(name for name in given if name in client_args)
    if clash:
        raise InvalidRequestError(
            f"{', '.join(clash)} cannot be passed beside the model string {target.prefix}:{target.model} (it sets "
            f"{'it' if len(clash) == 1 else 'them'})"
        )
    return _client_class(target.provider)(**given, **client_args)


def get_client(model: str, /, **client_args: Any) -> ChatCompletionClient:
    """The client a model string names: ``get_client("anthropic:claude-sonnet-4-5", max_retries=5)`` is
    ``AnthropicChatCompletionClient("claude-sonnet-4-5", max_retries=5)``.

    ``model`` is ``"provider:model"``: the model is everything after the first ``:``, so it may hold slashes
    (``"openrouter:anthropic/claude-sonnet-4.5"``). LiteLLM's ``"provider/model"`` is read too when the text before
    the first ``:`` is no provider's name (``"bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"``); a model id
    that starts with a provider's name and a slash is written with ``:`` (``"groq:openai/gpt-oss-120b"``). The
    providers are the clients' own (``openai``, ``azure``, ``openai-responses``,
    ``azure-openai-responses``, ``anthropic``, ``gemini``, ``vertex``, ``ollama``, ``bedrock``) and the OpenAI
    client's presets (``groq``, ``deepseek``, ``openrouter``, ``mistral``, ``vllm``, ...). ``azure:NAME`` names
    the deployment; ``openai:NAME`` is ``OpenAIChatCompletionClient(model=NAME)``, ``OPENAI_BASE_URL`` honoured.
    ``client_args`` are the client's own arguments (``api_key=``, ``base_url=``, ...).

    Raises :class:`~modelport.InvalidRequestError` for an unknown provider (with the nearest known one), and for a
    model that is in neither the model registry nor the provider's price table but is one letter or so from one
    that is (a likely typo, ``claude-sonet-4-5``; pass ``model_info=...`` to use it anyway). A model that differs
    from a known one only in its digits and separators is a new version or snapshot, not a typo, and is accepted
    (``claude-sonnet-4-7``, ``gpt-4o-2026-01-15``)."""
    target = parse_model_string(model)
    if "model_info" not in client_args:
        typo = _typo_of(target)
        if typo is not None:
            raise InvalidRequestError(
                f"model {target.model!r} is not a {target.prefix} model modelport knows; did you mean {typo!r}? "
                "(pass model_info=... to use it anyway)"
            )
    return client_from_model_string(target, **client_args)


# -- the command line's --provider and --model --


def command_line_target(
    provider: str | None, model: str | None, base_url: str | None
) -> tuple[Provider | None, str | None, str | None, dict[str, Any]]:
    """What ``--provider``, ``--model`` and ``--base-url`` name: (the table's provider whose own client answers,
    else None; else the OpenAI client's preset, if any; the model; the client arguments the provider's name adds).

    ``--model`` is a model string (``anthropic:claude-sonnet-4-5``) when it starts with a provider's name and ``:``,
    or, with neither ``--provider`` nor ``--base-url`` (where a model id may hold a slash), with its name and ``/``;
    otherwise it is the model's own name. Beside ``--provider`` or ``--base-url`` (which name the server), a name of
    another of the OpenAI client's presets before the ``:`` is part of the model's own name (``--base-url
    http://localhost:11434/v1 --model mistral:7b``). ``--provider``
    takes the same names; ``anthropic``, ``ollama`` and ``openai`` there name the OpenAI client's presets, as they
    always have (their model strings, the providers' own clients)."""
    name = _known_provider(provider)
    target = find_model_string(model, slash=not (name or base_url)) if model else None
    if target is not None and (name or base_url) and target.preset is not None and target.prefix != name:
        target = None  # the model's own id on the server named (Ollama's mistral:7b), not a model string
    if target is None:
        native, preset, arguments = _named_provider(name)
        return native, preset, model, arguments
    if not target.model:
        raise InvalidRequestError(f"--model {model!r} names no model after {target.prefix!r}")
    if name is not None and name != target.prefix:
        raise InvalidRequestError(f"--model {model!r} names the provider {target.prefix!r}, but --provider is {name!r}")
    if target.preset is not None or target.provider.name == "openai":
        return None, target.preset, target.model, {}
    return target.provider, None, target.model, dict(target.arguments)


def _known_provider(name: str | None) -> str | None:
    """``--provider``'s name (``_`` read as ``-``), refused with the nearest known one when nobody has it."""
    if name is None:
        return None
    wanted = _normal(name)
    known = provider_names()
    if wanted not in known:
        close = difflib.get_close_matches(wanted, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidRequestError(f"--provider {name!r} is unknown; known: {', '.join(known)}{hint}")
    return wanted


def _named_provider(name: str | None) -> tuple[Provider | None, str | None, dict[str, Any]]:
    """(the table's provider ``--provider`` reaches through its own client, else None; else the preset's name; the
    client arguments the name adds)."""
    from .providers._table import native_provider

    presets = _preset_names()
    native = native_provider(name, presets)
    if native is not None:
        return native, None, {}
    if name is None or name in presets:
        return None, name, {}
    target = find_model_string(f"{name}:")  # a model string's name for a provider ("azure", "vertex")
    assert target is not None  # every known name is a preset's or a model string's
    return target.provider, None, dict(target.arguments)


def client_with_own_keys(
    cls: type[ChatCompletionClient], arguments: dict[str, Any], api_key_env: str | None, base_url: str | None
) -> ChatCompletionClient:
    """``cls(**arguments)``, made as a loaded config's client is: a key of the environment goes only to its
    provider's own server (Azure's, to the endpoint ``AZURE_OPENAI_ENDPOINT`` names), and to ``base_url`` only
    when ``api_key_env`` names it; else :class:`InvalidRequestError` saying so."""
    from .components import _ALLOWED_ENV, ComponentConfigError

    allowed = _ALLOWED_ENV.set(frozenset([api_key_env] if api_key_env else []))
    try:
        return cls(**arguments)
    except ComponentConfigError as exc:
        named = re.search(r"environment variable (\w+)", str(exc))
        variable = named.group(1) if named else "NAME"
        raise InvalidRequestError(
            f"{variable} goes only to its provider's own server, not to base_url {base_url}: to send it there, "
            f"pass api_key_env {variable}"
        ) from None
    finally:
        _ALLOWED_ENV.reset(allowed)
