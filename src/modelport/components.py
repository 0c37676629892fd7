"""Components: every client, context, cache and store saved to and loaded from a JSON (or YAML) config.

A config is a :class:`ComponentModel`: ``{"provider": ..., "component_type": ..., "version": 1,
"component_version": 1, "config": {...}}``. ``obj.dump_component()`` writes one; :func:`load_component` reads one
from a dict, a ``ComponentModel``, or a ``.json`` / ``.yaml`` file.

Loading never runs code from a config. A ``provider`` is looked up in a fixed table of modelport's own components
(short names such as ``openai``, qualified names such as ``modelport.OpenAIChatCompletionClient``, and AutoGen's
names, so AutoGen configs load), then among the entry points that installed packages registered in the group
``modelport.components``. Nothing else is ever imported, and every config is validated by a pydantic model that
rejects unknown fields. YAML is read with ``yaml.safe_load``.

Secrets (API keys, tokens, passwords in URLs) are left out unless ``include_secrets=True``. A config can name the
environment variable that holds a key (``"api_key_env": "MY_KEY"``); without either, a client falls back to its
standard variable. AutoGen's masked ``"**********"`` key is refused rather than sent.

A config is data that may come from someone else, and the variables of your environment are yours: a loaded config
reads, unasked, only the standard key of the provider it configures, and only for that provider's own server (see
:func:`load_component` and its ``allow_env``). Code that builds a component itself reads what it names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InvalidRequestError
from .providers._table import PROVIDERS

__all__ = [
    "Component",
    "ComponentConfigError",
    "ComponentModel",
    "component_schemas",
    "config_env",
    "known_providers",
    "load_component",
]

ENTRY_POINT_GROUP = "modelport.components"
CONFIG_FORMAT_VERSION = 1
T = TypeVar("T")


class ComponentConfigError(InvalidRequestError):
    """A config that cannot be loaded: unknown provider, invalid fields, wrong type, unreadable file."""


class ComponentModel(BaseModel):
    """The saved form of a component (AutoGen's shape)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    component_type: str | None = None
    version: int | None = CONFIG_FORMAT_VERSION
    component_version: int | None = None
    description: str | None = None
    label: str | None = None
    config: dict[str, Any]


class Component:
    """What every saveable component has: class attributes naming it, and the two conversions."""

    component_type: ClassVar[str]
    component_provider: ClassVar[str]
    component_version: ClassVar[int] = 1
    component_config_schema: ClassVar[type[BaseModel]]

    def _to_config(self, *, include_secrets: bool) -> BaseModel:
        raise NotImplementedError

    @classmethod
    def _from_config(cls: type[T], config: Any) -> T:
        raise NotImplementedError

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Bring a config written by an older ``component_version`` up to date (override where versions differ)."""
        raise ComponentConfigError(
            f"{cls.component_provider}: no migration from component_version {from_version} to {cls.component_version}"
        )

    def dump_component(self, *, include_secrets: bool = False) -> ComponentModel:
        """This component as a config. Secrets are left out unless ``include_secrets=True``."""
        config = self._to_config(include_secrets=include_secrets)
        doc = (type(self).__doc__ or "").strip().splitlines()
        return ComponentModel(
            provider=self.component_provider,
            component_type=self.component_type,
            version=CONFIG_FORMAT_VERSION,
            component_version=self.component_version,
            description=doc[0] if doc else None,
            label=type(self).__name__,
            config=config.model_dump(mode="json", exclude_none=True),
        )

    @classmethod
    def load_component(
        cls: type[T], model: ComponentModel | dict[str, Any] | str | Path, *, allow_env: Iterable[str] = ()
    ) -> T:
        """Load a config that must describe this class (or a subclass); ``allow_env`` as for
        :func:`load_component`."""
        return load_component(model, expected=cls, allow_env=allow_env)


# The only components a config can name without an installed entry point: modelport's own, by short name,
# qualified name, and AutoGen's names for the same things.
_MP = "modelport."
_BUILTIN: dict[str, str] = {
    **{row.name: row.client for row in PROVIDERS},
    "unbounded_context": "model_context:UnboundedChatCompletionContext",
    "buffered_context": "model_context:BufferedChatCompletionContext",
    "token_limited_context": "model_context:TokenLimitedChatCompletionContext",
    "head_and_tail_context": "model_context:HeadAndTailChatCompletionContext",
    "chat_completion_cache": "cache:ChatCompletionCache",
    "in_memory_store": "cache:InMemoryStore",
    "disk_cache_store": "cache:DiskCacheStore",
    "redis_store": "cache:RedisStore",
    "replay": "testing:ReplayChatCompletionClient",
    "router": "router:Router",
}
_ALIASES: dict[str, str] = {
    **{alias: row.name for row in PROVIDERS for alias in row.aliases},
    "autogen_core.model_context.UnboundedChatCompletionContext": "unbounded_context",
    "autogen_core.model_context.BufferedChatCompletionContext": "buffered_context",
    "autogen_core.model_context.TokenLimitedChatCompletionContext": "token_limited_context",
    "autogen_core.model_context.HeadAndTailChatCompletionContext": "head_and_tail_context",
    "autogen_ext.models.cache.ChatCompletionCache": "chat_completion_cache",
    "autogen_core.InMemoryStore": "in_memory_store",
    "autogen_ext.cache_store.diskcache.DiskCacheStore": "disk_cache_store",
    "autogen_ext.cache_store.redis.RedisStore": "redis_store",
    "replay_chat_completion_client": "replay",
    "autogen_ext.models.replay.ReplayChatCompletionClient": "replay",
}
for _short, _target in _BUILTIN.items():
    _module, _name = _target.split(":")
    _ALIASES[f"modelport.{_name}"] = _short
    _ALIASES[f"modelport.{_module}.{_name}"] = _short
    _ALIASES.setdefault(_name, _short)  # the bare class name, as AutoGen's short configs write it


def known_providers() -> list[str]:
    """The short names of modelport's components."""
    return sorted(_BUILTIN)


def _builtin_class(short: str) -> type[Component]:
    module, name = _BUILTIN[short].split(":")
    cls: type[Component] = getattr(importlib.import_module(_MP + module), name)
    return cls


def _resolve(provider: str) -> type[Component]:
    short = provider if provider in _BUILTIN else _ALIASES.get(provider)
    if short is not None:
        return _builtin_class(short)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == provider:
            cls = entry_point.load()
            if not (isinstance(cls, type) and issubclass(cls, Component)):
                raise ComponentConfigError(f"entry point {provider!r} in {ENTRY_POINT_GROUP} is not a Component")
            return cls
    raise ComponentConfigError(
        f"unknown provider {provider!r}: a config can name modelport's components ({', '.join(known_providers())}) "
        f"or a component that an installed package registered in the entry-point group {ENTRY_POINT_GROUP!r}; "
        "import paths are never followed"
    )


def _read_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComponentConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ComponentConfigError('YAML configs need PyYAML: pip install "modelport[yaml]"') from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ComponentConfigError(f"{str(path)!r} is not valid YAML: {exc}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ComponentConfigError(f"{str(path)!r} is not valid JSON: {exc}") from None


# The values that YAML aliases (``*anchor``) may add to a config once expanded. An anchor repeated inside anchors
# multiplies at each level: a config of a few lines could otherwise hold billions of values to check and send.
_ALIAS_BUDGET = 100_000


def _check_expansion(config: dict[str, Any]) -> None:
    """Refuse a config whose shared parts (YAML aliases) expand it by more than ``_ALIAS_BUDGET`` values; the
    walk stops there, so a refusal costs little."""
    seen: set[int] = set()
    added = 0
    stack: list[tuple[Any, bool]] = [(config, False)]
    while stack:
        value, repeated = stack.pop()
        added += repeated
        if added > _ALIAS_BUDGET:
            raise ComponentConfigError(
                f"the YAML aliases of this config add more than {_ALIAS_BUDGET} values once expanded: anchors "
                "repeated inside anchors (or an anchor inside itself)"
            )
        if isinstance(value, (dict, list)):
            repeated = repeated or id(value) in seen
            seen.add(id(value))
            stack.extend((item, repeated) for item in (value.values() if isinstance(value, dict) else value))


def _as_model(source: ComponentModel | dict[str, Any] | str | Path) -> ComponentModel:
    if isinstance(source, ComponentModel):
        return source
    if isinstance(source, (str, Path)):
        source = _read_file(Path(source))
    if not isinstance(source, dict):
        raise ComponentConfigError(f"a component config is a JSON object, not {type(source).__name__}")
    _check_expansion(source)
    try:
        return ComponentModel.model_validate(source)
    except ValidationError as exc:
        raise ComponentConfigError(f"not a component config: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "config"
    return f"{where}: {error['msg']}" + (f" ({exc.error_count()} errors)" if exc.error_count() > 1 else "")


# The environment variables that the config being loaded may read beyond its provider's own key: None while no
# config is loading (code that builds a component reads what it names), else the names the caller allowed, which
# the nested components of the config (a router's deployments, a cache's client and store, a context's client)
# are loaded under too.
_ALLOWED_ENV: ContextVar[frozenset[str] | None] = ContextVar("modelport_allowed_env", default=None)


def config_env(name: str, use: str, *, own: bool = False) -> str | None:
    """The value of the environment variable ``name`` (``None`` when it is unset or empty), read for ``use`` (what
    names it, for the error). While a config is loading, only a variable that is the component's ``own`` (its
    provider's standard key, bound for that provider's own server) or that the caller allowed by name is read; any
    other raises :class:`ComponentConfigError` naming it and ``allow_env``. Outside loading it is simply read."""
    allowed = _ALLOWED_ENV.get()
    if allowed is not None and not own and name not in allowed:
        raise ComponentConfigError(
            f"this config may not read the environment variable {name} ({use}): a loaded config reads only its "
            "provider's own key, for that provider's own server, unless the caller allows more by name; if you "
            f"trust this config, pass allow_env=[{name!r}] to load_component"
        )
    return os.environ.get(name) or None


def load_component(
    source: ComponentModel | dict[str, Any] | str | Path,
    expected: type[T] | None = None,
    *,
    allow_env: Iterable[str] = (),
) -> T:
    """A component made from its config (a dict, a ``ComponentModel``, or a JSON or YAML file path), checked whole:
    anything wrong in it is one :class:`ComponentConfigError` naming the field, before anything is sent.

    ``expected``: a class the result must be an instance of (for example ``ChatCompletionClient``).

    ``allow_env``: the names of environment variables the config may read beyond its provider's own key. The threat
    it answers: a config is data, often written by someone else, and it must not be able to send your environment's
    secrets to a host its author controls (``"api_key_env": "AWS_SECRET_ACCESS_KEY"`` beside a ``base_url`` of
    theirs, or an ``azure_endpoint`` of theirs to receive ``AZURE_OPENAI_API_KEY``). So a loaded config reads, unasked,
    only the standard key of the provider it configures, for that provider's own server: ``OPENAI_API_KEY`` for
    OpenAI's (or for ``OPENAI_BASE_URL``'s), ``GROQ_API_KEY`` for Groq's and so on for each preset,
    ``ANTHROPIC_API_KEY`` for Anthropic's (or ``ANTHROPIC_BASE_URL``'s), ``AZURE_OPENAI_API_KEY`` for the endpoint
    in ``AZURE_OPENAI_ENDPOINT``, and never through a ``proxy`` the config names that could read it. Every other
    variable a config names (an ``api_key_env`` bound elsewhere, ``azure_ad_token_env``, ``azure_endpoint_env``, a
    Redis ``url_env``) is refused, naming the variable and this argument, unless it is listed here:
    ``load_component(path, allow_env=["MY_KEY"])`` for a config you trust. A config you dumped yourself and load
    again may need it too. The nested components of a config are loaded under the same allowance; code that builds
    a component itself is not affected."""
    allowed = _allowed_names(allow_env)
    outer = _ALLOWED_ENV.get()
    token = _ALLOWED_ENV.set(allowed | outer if outer is not None else allowed)
    try:
        component = _build(_as_model(source))
    finally:
        _ALLOWED_ENV.reset(token)
    if expected is not None and not isinstance(component, expected):
        raise ComponentConfigError(f"the config describes a {type(component).__name__}, not a {expected.__name__}")
    return component  # type: ignore[return-value]


def _allowed_names(names: Iterable[str] | None) -> frozenset[str]:
    """``allow_env`` as a set of names (one name given as a str is one name, not its letters; ``None``, none)."""
    if names is None:
        return frozenset()
    try:
        allowed = frozenset((names,) if isinstance(names, str) else names)
    except TypeError:
        raise InvalidRequestError(
            f"allow_env must be a list of names of environment variables, got {names!r}"
        ) from None
    for name in allowed:
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"allow_env holds names of environment variables, not {name!r}")
    return allowed


def _build(model: ComponentModel) -> Component:
    """The component ``model`` describes; every mistake in it raised as a :class:`ComponentConfigError`."""
    cls = _resolve(model.provider)
    if model.version is not None and model.version > CONFIG_FORMAT_VERSION:
        raise ComponentConfigError(
            f"config format version {model.version} is newer than this modelport "
            f"understands ({CONFIG_FORMAT_VERSION}); upgrade modelport"
        )
    config = dict(model.config)
    written_by = model.component_version if model.component_version is not None else cls.component_version
    if written_by > cls.component_version:
        raise ComponentConfigError(
            f"{model.provider}: component_version {written_by} is newer than this modelport "
            f"understands ({cls.component_version}); upgrade modelport"
        )
    if written_by < cls.component_version:
        config = cls._migrate_config(config, written_by)
    try:
        return cls._from_config(cls.component_config_schema.model_validate(config))
    except ComponentConfigError:
        raise
    except ValidationError as exc:
        raise ComponentConfigError(f"{model.provider} config: {_first_error(exc)}") from None
    except InvalidRequestError as exc:  # what the component's constructor found wrong in the config's values
        raise ComponentConfigError(f"{model.provider} config: {exc}") from None


def component_schemas() -> dict[str, Any]:
    """The JSON Schema of each built-in component's ``config``, by short provider name (for editors)."""
    schemas: dict[str, Any] = {}
    for short in known_providers():
        cls = _builtin_class(short)
        schema = cls.component_config_schema.model_json_schema()
        schema["title"] = f"{short} ({cls.__name__}) config"
        schemas[short] = _plain_descriptions(schema)
    return schemas


_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def _plain_descriptions(schema: Any) -> Any:
    """``schema`` with its descriptions (taken from docstrings) as an editor shows them, as plain text: ``x`` and
    :class:`X` written `x` and X, and the docstring's line breaks within a paragraph as spaces."""
    if isinstance(schema, list):
        return [_plain_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {key: _plain_descriptions(value) for key, value in schema.items()}
    if isinstance(plain.get("description"), str):
        text = _LITERAL.sub(r"`\1`", _ROLE.sub(r"\1", plain["description"]))
        plain["description"] = re.sub(r"(?<!\n)\n(?!\n)", " ", text)
    return plain


def nested_dump(component: Any, *, include_secrets: bool, field: str) -> dict[str, Any]:
    """The config of a component held by another (a context's client, a cache's store)."""
    if not isinstance(component, Component):
        raise InvalidRequestError(f"{field}: a {type(component).__name__} cannot be written to a config")
    return component.dump_component(include_secrets=include_secrets).model_dump(mode="json", exclude_none=True)
