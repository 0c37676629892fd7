"""JSON schema as the OpenAPI 3.0 subset Gemini's ``Schema`` takes (``parameters``, ``responseSchema``), for models
and endpoints that do not take ``parametersJsonSchema`` and ``responseJsonSchema`` (create argument
``schema_format="openapi"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import InvalidRequestError

__all__ = ["openapi_schema"]

_KEPT = frozenset(
    {
        "format",
        "title",
        "description",
        "enum",
        "maxItems",
        "minItems",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "default",
        "minimum",
        "maximum",
        "propertyOrdering",
    }
)
"""The keywords of Gemini's ``Schema`` besides the ones translated (others are dropped: the answer is validated
against the full schema afterwards, where there is a model)."""


def openapi_schema(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``schema`` with its ``$ref`` s inlined, ``anyOf`` with ``null`` as ``nullable``, ``const`` as a one-value
    ``enum``, a list of types as one type (``nullable`` for ``null``), types in upper case; a recursive schema cannot
    be written this way and is an :class:`~modelport.InvalidRequestError` naming ``where``."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _node(schema, defs, (), where)


def _node(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            why = "refers to itself" if name in seen else f"refers to {ref!r}, which it does not define"
            raise InvalidRequestError(
                f"{where}: the schema {why}, which Gemini's OpenAPI schemas cannot say; use the default "
                "schema_format (JSON schema)"
            )
        return _node({**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}, defs, (*seen, name), where)
    out: dict[str, Any] = {key: value for key, value in node.items() if key in _KEPT}
    if "const" in node:
        out["enum"] = [node["const"]]
    kind = node.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            out["nullable"] = True
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(kind, str):
        out["type"] = kind.upper()
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        kept = [option for option in options if not (isinstance(option, Mapping) and option.get("type") == "null")]
        if len(kept) < len(options):
            out["nullable"] = True
        translated = [_node(option, defs, seen, where) for option in kept]
        if len(translated) == 1:
            out.update({key: value for key, value in translated[0].items() if key not in out})
        elif translated:
            out["anyOf"] = translated
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        out["properties"] = {name: _node(sub, defs, seen, where) for name, sub in properties.items()}
    if "items" in node:
        out["items"] = _node(node["items"], defs, seen, where)
    return out
