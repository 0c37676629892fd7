"""A cassette's file: how requests and responses are written (scrubbed of secrets) and read back.

One file per cassette: YAML when the name ends in ``.yaml`` or ``.yml`` (pyyaml, the ``yaml`` extra), JSON
otherwise. Keys are sorted and each interaction is one entry, so a recording reviews well in a pull request. A body
is stored as ``json`` (structured data) when it is JSON, as ``text`` when it is text (server-sent events,
newline-delimited JSON), and as ``base64`` otherwise (binary framings such as Bedrock's event stream); with the
recorded timing kept, as ``chunks``, each with the seconds that passed before it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from yarl import URL

from .._redact import is_secret_header
from ._cassette_errors import CassetteError

__all__ = [
    "FORMAT_VERSION",
    "SCRUBBED",
    "body_bytes",
    "encode_body",
    "load_interactions",
    "request_secrets",
    "save_interactions",
    "scrub",
    "scrub_headers",
    "scrub_url",
]

FORMAT_VERSION = 1
SCRUBBED = "<scrubbed>"
"""What a secret is replaced by in a cassette."""
_MIN_SECRET = 12
"""Shorter values are not looked for in the rest of a recording (a credential header or key parameter is replaced
whole whatever its length): no provider's credential is that short, and a placeholder key such as ``"test"`` or
``"ollama"`` would otherwise be cut out of every word that spells it, and replay would differ from the recording."""
_SCHEMES = ("bearer ", "basic ", "token ")
_SIGV4_PARTS = re.compile(r"(?:Credential=([^/,\s]+))|(?:Signature=([0-9A-Fa-f]+))")
_DROPPED_REQUEST_HEADERS = frozenset({"content-length", "host", "x-amz-date", "x-amz-content-sha256"})
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date", "server"}
)
"""Dropped from a response: the body is stored as it was decoded, so its length and encoding are replay's own."""


def request_secrets(url: URL, headers: Mapping[str, str]) -> set[str]:
    """The secret values one request carries: each credential header's value (and the token after its scheme),
    a SigV4 signature's access key id and signature, and each key query parameter's value."""
    found: set[str] = set()
    for name, value in headers.items():
        if not is_secret_header(name) or not value:
            continue
        found.add(value)
        if value.lower().startswith(_SCHEMES):
            found.add(value.split(" ", 1)[1].strip())
        for key_id, signature in _SIGV4_PARTS.findall(value):
            found.add(key_id or signature)
    for name, value in url.query.items():
        if is_secret_header(name) and value:
            found.add(value)
    return {secret for secret in found if len(secret) >= _MIN_SECRET}


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (text, bytes, or JSON data) with every secret (of :data:`_MIN_SECRET` characters or more)
    replaced by :data:`SCRUBBED`."""
    kept = (secret for secret in secrets if len(secret) >= _MIN_SECRET)
    ordered = sorted(kept, key=len, reverse=True)  # a longer secret first: it may contain a shorter one
    return _scrub(value, ordered) if ordered else value


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, SCRUBBED)
        return value
    if isinstance(value, bytes):
        for secret in secrets:
            value = value.replace(secret.encode("utf-8", "replace"), SCRUBBED.encode())
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def scrub_headers(headers: Mapping[str, str], secrets: Iterable[str], *, response: bool = False) -> dict[str, str]:
    """The headers worth keeping, lower-cased: credentials and cookies replaced by :data:`SCRUBBED`, and the
    headers that change on every request (or that describe the encoding on the wire) left out."""
    dropped = _DROPPED_RESPONSE_HEADERS if response else _DROPPED_REQUEST_HEADERS
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in dropped:
            continue
        kept[lowered] = SCRUBBED if is_secret_header(lowered) else scrub(value, secrets)
    return kept


def scrub_url(url: URL, secrets: Iterable[str]) -> str:
    """``url`` with each key query parameter's value (and any other secret) replaced by :data:`SCRUBBED`."""
    query = [(name, SCRUBBED if is_secret_header(name) else value) for name, value in url.query.items()]
    text = str(url.with_query(query)) if query else str(url)
    return str(scrub(text.replace("%3Cscrubbed%3E", SCRUBBED), secrets))


def encode_body(data: bytes | None, content_type: str, secrets: Iterable[str]) -> dict[str, Any] | None:
    """A body as it is stored: ``{"json": ...}``, ``{"text": ...}`` or ``{"base64": ...}``, scrubbed."""
    if data is None:
        return None
    data = scrub(data, secrets)
    if _is_json(content_type):
        try:
            return {"json": orjson.loads(data)}
        except orjson.JSONDecodeError:
            pass
    if _is_text(content_type):
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"base64": base64.b64encode(data).decode("ascii")}


def encode_chunks(chunks: list[tuple[float, bytes]], content_type: str, secrets: Iterable[str]) -> dict[str, Any]:
    """A body with its timing: each piece as it arrived, after the seconds that passed before it."""
    text = _is_text(content_type) or _is_json(content_type)
    stored = []
    for after, piece in chunks:
        piece = scrub(piece, secrets)
        entry: dict[str, Any] = {"after": round(after, 4)}
        try:
            if not text:
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "binary framing")
            entry["text"] = piece.decode("utf-8")
        except UnicodeDecodeError:
            entry["base64"] = base64.b64encode(piece).decode("ascii")
        stored.append(entry)
    return {"chunks": stored}


def body_bytes(stored: Mapping[str, Any] | None) -> bytes | None:
    """The bytes of a stored body (``chunks`` joined); ``None`` for no body."""
    if stored is None:
        return None
    if "chunks" in stored:
        return b"".join(piece for _, piece in body_pieces(stored))
    if "json" in stored:
        return orjson.dumps(stored["json"])
    if "text" in stored:
        return str(stored["text"]).encode("utf-8")
    return base64.b64decode(stored.get("base64", ""))


def body_pieces(stored: Mapping[str, Any]) -> list[tuple[float, bytes]]:
    """A stored body as the pieces to hand out, each after its recorded wait (one piece, no wait, without timing)."""
    if "chunks" not in stored:
        return [(0.0, body_bytes(stored) or b"")]
    pieces = []
    for entry in stored["chunks"]:
        data = entry["text"].encode("utf-8") if "text" in entry else base64.b64decode(entry.get("base64", ""))
        pieces.append((float(entry.get("after", 0.0)), data))
    return pieces


def _is_json(content_type: str) -> bool:
    lowered = content_type.lower()
    return "json" in lowered and "ndjson" not in lowered and "jsonl" not in lowered


def _is_text(content_type: str) -> bool:
    lowered = content_type.lower()
    return lowered.startswith("text/") or any(kind in lowered for kind in ("json", "xml", "javascript"))


def uses_yaml(path: Path) -> bool:
    """True when ``path`` names a YAML cassette (and pyyaml is installed to write it)."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def load_interactions(path: Path) -> list[dict[str, Any]]:
    """The interactions a cassette file holds (a missing file holds none); :class:`CassetteError` when it is not
    a cassette. A ``.yaml`` file written without pyyaml holds JSON, which is read as such."""
    if not path.exists():
        return []
    text = path.read_text("utf-8")
    try:
        if uses_yaml(path):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = orjson.loads(text) if text.strip() else {}
    except Exception as exc:  # a YAML or JSON syntax error
        if path.suffix.lower() in (".yaml", ".yml") and not uses_yaml(path):
            raise CassetteError(
                f"{path} is YAML, and reading a YAML cassette needs pyyaml: pip install 'modelport[yaml]'"
            ) from None
        raise CassetteError(f"{path} is not a cassette: {type(exc).__name__}: {exc}") from None
    interactions = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(interactions, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("request"), dict) for entry in interactions
    ):
        raise CassetteError(f"{path} is not a cassette: it needs a list of interactions, each with a request")
    return [dict(entry) for entry in interactions]


def save_interactions(path: Path, interactions: list[dict[str, Any]], secrets: Iterable[str]) -> None:
    """Write ``interactions`` (scrubbed once more of every secret seen) to ``path``, atomically."""
    data = {"modelport_cassette": FORMAT_VERSION, "interactions": scrub(interactions, secrets)}
    if uses_yaml(path):
        text = _yaml_text(data)
    else:
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # a partial file of its own: two writers of one cassette (pytest-xdist workers) never share one
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise


def _yaml_text(data: Any) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None  # streams read as the lines they are
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=120))
