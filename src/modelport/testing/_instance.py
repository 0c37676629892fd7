"""``instance_of``: a small JSON value that satisfies a JSON schema, for the fake server's default model (tool
arguments, structured output)."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "instance_of"]

MAX_DEPTH = 8
"""Nesting depth (objects, arrays, ``$ref`` hops) past which :func:`instance_of` builds the smallest value."""
_HARD_DEPTH = 64
_MOST_ITEMS = 64
"""The most items an array gets (its ``minItems``, when larger, is not met)."""
_NEVER = 1 << 30
"""The cost of a schema that has no finite instance (a required field that refers back to itself)."""
_WEIGHING_BUDGET = 5000
"""How many schema nodes one :func:`instance_of` call weighs at most before assuming the rest end soon."""
_SCALARS: dict[Any, Any] = {"integer": 1, "number": 1.5, "boolean": True, "null": None}


def instance_of(schema: Any, defs: dict[str, Any] | None = None, word: str = "example") -> Any:
    """A small JSON value that satisfies ``schema`` (objects, arrays, enums, scalars, ``$ref``, ``anyOf``/``oneOf``/
    ``allOf``): defaults where the schema has them, ``word`` for strings, ``minItems`` items in arrays.

    It always terminates: past :data:`MAX_DEPTH` levels (a recursive ``$ref``, as a pydantic model that contains a
    list of itself) it builds the smallest value instead: ``null`` where allowed, the option of a union whose
    smallest instance is shallowest (the leaf of a tree, not another branch), an object with only its required
    properties and those with a ``default`` or ``const`` (a discriminator), the fewest items an array allows. A
    schema that is not a dict is tolerated: a type name (``"string"``) gives a value of that type, ``True`` gives
    ``word``, anything else ``None``."""
    root = schema if isinstance(schema, dict) else {}
    if defs is None:
        defs = root.get("$defs") or root.get("definitions") or {}
    return _Builder(_Refs(root, defs), word).build(schema, 0)


class _Refs:
    """Resolves ``$ref``: a JSON pointer into the root schema (``#``, ``#/$defs/Node``), else a name in ``defs``."""

    def __init__(self, root: dict[str, Any], defs: Any) -> None:
        self.root = root
        self.defs = defs if isinstance(defs, dict) else {}

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str):
            return {}
        if ref.startswith("#"):
            target: Any = self.root
            for part in ref[1:].split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    target = None
                    break
                target = target[part]
            if target is not None:
                return target
        return self.defs.get(ref.rsplit("/", 1)[-1], {})


class _Builder:
    """One :func:`instance_of` call: the builder, and the weighing of schemas (memoised) that small values need."""

    def __init__(self, refs: _Refs, word: str) -> None:
        self.refs = refs
        self.word = word
        self._costs: dict[tuple[int, frozenset[str]], int] = {}
        self._budget = _WEIGHING_BUDGET

    def build(self, schema: Any, depth: int) -> Any:
        """A value of ``schema`` at nesting ``depth``; past ``MAX_DEPTH`` it prefers the smallest value."""
        if not isinstance(schema, dict):
            return _non_dict(schema, self.word)
        if depth > _HARD_DEPTH:
            return None
        small = depth >= MAX_DEPTH
        if "default" in schema:
            return schema["default"]
        if "$ref" in schema:
            return self.build(self.refs.resolve(schema["$ref"]), depth + 1)
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        options = _options(schema)
        if options:
            return self.build(self._pick(options, small), depth + 1)
        kind = _kind(schema.get("type"), small)
        if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
            return {name: self.build(sub, depth + 1) for name, sub in _properties(schema, small).items()}
        if kind == "array":
            return self._array(schema, depth, small)
        if kind == "string":
            return self.word
        return _SCALARS.get(kind, self.word) if isinstance(kind, str) else self.word

    def _pick(self, options: list[dict[str, Any]], small: bool) -> dict[str, Any]:
        """The option to build: when small, the one whose smallest value is shallowest (a ``const`` or ``enum``
        first among equals, as a discriminator made nullable wants, then ``null``); otherwise the first that is not
        ``null``."""
        if small:
            return min(options, key=lambda option: (self.cost(option), _rank(option)))
        return next((s for s in options if s.get("type") != "null"), options[0])

    def _array(self, schema: dict[str, Any], depth: int, small: bool) -> list[Any]:
        items = schema.get("items", {})
        count = _item_count(schema, small)
        if count == 0 or (small and self.cost(items) >= _NEVER):
            return []
        # more than one item: each is built small, so the size cannot multiply level after level
        value = self.build(items, depth + 1 if count == 1 else max(depth + 1, MAX_DEPTH))
        return [value] * count

    def cost(self, schema: Any, path: frozenset[str] = frozenset()) -> int:
        """The nesting depth of the smallest value of ``schema`` (0 for a scalar), or ``_NEVER`` when it has no
        finite value; ``path`` holds the ``$ref``s being expanded, so a cycle weighs ``_NEVER``."""
        if not isinstance(schema, dict) or not schema or "default" in schema or "const" in schema or schema.get("enum"):
            return 0
        key = (id(schema), path)
        known = self._costs.get(key)
        if known is not None:
            return known
        self._budget -= 1
        if self._budget < 0:
            return 1  # too large to weigh in full: assume it ends soon (the hard depth still bounds it)
        self._costs[key] = cost = self._weigh(schema, path)
        return cost

    def _weigh(self, schema: dict[str, Any], path: frozenset[str]) -> int:
        if "$ref" in schema:
            ref = schema["$ref"]
            name = ref if isinstance(ref, str) else ""
            if name in path:
                return _NEVER
            return _deeper(self.cost(self.refs.resolve(ref), path | {name}))
        options = _options(schema)
        if options:
            return _deeper(min(self.cost(option, path) for option in options))
        kind = _kind(schema.get("type"), True)
        if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
            needed = _properties(schema, True).values()
            return _deeper(max((self.cost(sub, path) for sub in needed), default=0))
        if kind == "array" and _item_count(schema, True):
            return _deeper(self.cost(schema.get("items", {}), path))
        return 0


def _rank(option: dict[str, Any]) -> int:
    if "const" in option or option.get("enum"):
        return 0
    return 1 if option.get("type") == "null" else 2


def _deeper(cost: int) -> int:
    return cost if cost >= _NEVER else cost + 1


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The first non-empty of ``anyOf``, ``oneOf``, ``allOf`` (its dict options), else none."""
    for key in ("anyOf", "oneOf", "allOf"):
        listed = schema.get(key)
        options = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
        if options:
            return options
    return []


def _properties(schema: dict[str, Any], small: bool) -> dict[Any, Any]:
    """The properties to fill: all of them, or when small the required ones and those that cost nothing (a
    ``default`` or a ``const``, such as a union's discriminator)."""
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    if not small:
        return properties
    required = schema.get("required")
    needed: list[Any] = required if isinstance(required, list) else []
    return {
        name: sub
        for name, sub in properties.items()
        if name in needed or (isinstance(sub, dict) and ("default" in sub or "const" in sub))
    }


def _item_count(schema: dict[str, Any], small: bool) -> int:
    """How many items to build: ``minItems`` (one at least, unless small), never more than ``maxItems``."""
    least, most = schema.get("minItems"), schema.get("maxItems")
    count = least if type(least) is int and least > 0 else 0
    if not small:
        count = max(count, 1)
    if type(most) is int and most >= 0:
        count = min(count, most)
    return min(count, _MOST_ITEMS)


def _non_dict(schema: Any, word: str) -> Any:
    if schema is True:
        return word
    if isinstance(schema, str):
        return {"string": word, "object": {}, "array": []}.get(schema, _SCALARS.get(schema, word))
    return None


def _kind(kind: Any, small: bool) -> Any:
    if isinstance(kind, list):
        if small and "null" in kind:
            return "null"
        return next((k for k in kind if k != "null"), "null")
    return kind
