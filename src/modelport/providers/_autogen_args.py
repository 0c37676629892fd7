"""What AutoGen's OpenAI and Azure clients take and modelport's take another way: constructor arguments read here
(``model_capabilities``, ``max_consecutive_empty_chunk_tolerance``, ``http_client``), a partial ``model_info``
completed, ``default_query`` checked, and the organization and project an OpenAI client sends.

``model_capabilities`` is AutoGen's deprecated form of ``model_info``: accepted with AutoGen's own
``DeprecationWarning`` and saved in configs as ``model_info``. ``max_consecutive_empty_chunk_tolerance`` is accepted
and has no effect: modelport's streams skip empty chunks, however many come in a row. ``http_client`` (an ``httpx``
client) is refused, naming what does its work here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, cast

from .._redact import is_secret_header
from ..errors import InvalidRequestError
from ..model_info import ModelInfo, lookup_model_info

__all__ = [
    "REQUIRED_INFO",
    "autogen_model_info",
    "check_default_query",
    "check_include_name",
    "complete_model_info",
    "openai_identity_headers",
    "query_secrets",
    "saved_model_info",
    "saved_query",
]

REQUIRED_INFO = ("vision", "function_calling", "json_output", "family")
_CAPABILITIES = ("vision", "function_calling", "json_output")
_HTTP_CLIENT = (
    "http_client is an httpx client, which modelport does not use (it speaks aiohttp): pass "
    "http_session=aiohttp.ClientSession(...) for a session of your own, or proxy=, verify_ssl=, timeout=, "
    "connect_timeout=, max_connections= and default_headers= for what an httpx client is usually made for"
)


def autogen_model_info(create_args: dict[str, Any], model_info: ModelInfo | None) -> ModelInfo | None:
    """The ``model_info`` a client is given, once AutoGen's constructor-only arguments are taken out of its
    ``create_args`` (which they would otherwise reach): ``model_capabilities`` becomes ``model_info`` (with
    AutoGen's deprecation warning), ``max_consecutive_empty_chunk_tolerance`` is dropped after a check, and
    ``http_client`` is refused."""
    if "http_client" in create_args:
        raise InvalidRequestError(_HTTP_CLIENT)
    tolerance = create_args.pop("max_consecutive_empty_chunk_tolerance", 0)
    check_empty_chunk_tolerance(tolerance)
    if "model_capabilities" not in create_args:
        return model_info
    capabilities = create_args.pop("model_capabilities")
    if model_info is not None:
        raise InvalidRequestError("model_capabilities and model_info are mutually exclusive: give model_info only")
    if not isinstance(capabilities, Mapping):
        raise InvalidRequestError(
            f"model_capabilities must be a dict of capabilities, not {type(capabilities).__name__}"
        )
    warnings.warn("model_capabilities is deprecated, use model_info instead", DeprecationWarning, stacklevel=3)
    return ModelInfo(**{**capabilities, "family": "unknown"})  # type: ignore[typeddict-item]


def check_empty_chunk_tolerance(value: Any) -> None:
    """AutoGen's ``max_consecutive_empty_chunk_tolerance``: a whole number of 0 or more, with no effect here."""
    if type(value) is not int or value < 0:
        raise InvalidRequestError(
            f"max_consecutive_empty_chunk_tolerance must be a whole number of 0 or more, got {value!r} (it is not "
            "needed: empty stream chunks are always skipped)"
        )


def complete_model_info(model: str, model_info: ModelInfo) -> ModelInfo:
    """``model_info`` with the fields it lacks (``vision``, ``function_calling``, ``json_output``, ``family``) taken
    from modelport's registry for ``model``, or from the defaults for a model it does not know, with one warning
    naming them; ``model_info`` itself when it lacks none."""
    if not isinstance(model_info, Mapping):
        raise InvalidRequestError(f"model_info must be a dict, not {type(model_info).__name__}")
    missing = [key for key in REQUIRED_INFO if key not in model_info]
    if not missing:
        return model_info
    known = lookup_model_info(model, warn=False)
    merged: dict[str, Any] = {**known, **model_info}
    taken = ", ".join(f"{key}={merged[key]!r}" for key in missing)
    warnings.warn(
        f"model_info for {model!r} lacks {', '.join(missing)}: using {taken} (modelport's registry, or its "
        "defaults for a model it does not know); pass them in model_info to say otherwise",
        UserWarning,
        stacklevel=4,
    )
    return cast(ModelInfo, merged)


def saved_model_info(model_info: ModelInfo | None, info: ModelInfo) -> ModelInfo | None:
    """``model_info`` as a config saves it: a partial one as :func:`complete_model_info` completed it (``info``, the
    client's), so that the loaded client has the same model info and does not warn again."""
    if model_info is None:
        return None
    return info if any(key not in model_info for key in REQUIRED_INFO) else model_info


def check_include_name(include_name_in_message: Any) -> bool:
    """``include_name_in_message`` if it is ``True`` or ``False``, else :class:`InvalidRequestError` (a string such as
    ``"false"`` would otherwise count as true)."""
    if not isinstance(include_name_in_message, bool):
        raise InvalidRequestError(
            f"include_name_in_message must be True or False, not {type(include_name_in_message).__name__}"
        )
    return include_name_in_message


def check_default_query(query: Mapping[str, Any] | None) -> dict[str, str]:
    """``default_query`` (query parameters added to every request's URL) as a plain dict of text, else
    :class:`InvalidRequestError` naming the parameter."""
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise InvalidRequestError(
            f"default_query must be a dict of parameter names to values, not {type(query).__name__}"
        )
    checked: dict[str, str] = {}
    for name, value in query.items():
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"default_query: {name!r} is not a parameter name (a non-empty str)")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidRequestError(f"default_query[{name!r}] must be a str or a number, not {type(value).__name__}")
        checked[name] = str(value)
    return checked


def query_secrets(query: Mapping[str, str]) -> list[str]:
    """The values of ``query`` whose names say they carry a credential (``subscription-key``, ``api_key``, ...)."""
    return [value for name, value in query.items() if is_secret_header(name) and value]


def saved_query(query: Mapping[str, str] | None, *, include_secrets: bool) -> dict[str, str] | None:
    """``default_query`` as a config saves it: its credential parameters only with ``include_secrets``."""
    if not query:
        return None
    kept = {name: value for name, value in query.items() if include_secrets or not is_secret_header(name)}
    return kept or None


def openai_identity_headers(organization: str | None, project: str | None, *, from_environment: bool) -> dict[str, str]:
    """OpenAI's ``OpenAI-Organization`` and ``OpenAI-Project`` headers: the arguments, else (``from_environment``:
    for OpenAI's own server, or ``OPENAI_BASE_URL``'s, as the OpenAI SDK reads them) ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID``."""
    if organization is None and from_environment:
        organization = os.environ.get("OPENAI_ORG_ID") or None
    if project is None and from_environment:
        project = os.environ.get("OPENAI_PROJECT_ID") or None
    headers = {}
    if organization is not None:
        headers["openai-organization"] = organization
    if project is not None:
        headers["openai-project"] = project
    return headers
