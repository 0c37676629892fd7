"""The fake server's Anthropic Messages dialect, and helpers to script Anthropic-shaped replies.

Routes: ``POST /v1/messages`` (streamed when the body asks),
``POST /v1/messages/count_tokens``, and ``GET /v1/models`` when the request carries ``anthropic-version``. The
default "model" answers as the OpenAI one does: ``You said: ...``, a call of the first tool (or the one
``tool_choice`` names) with input made from its schema, ``The tool said: ...`` after tool results, and a JSON
instance for ``output_config.format`` (also after tool results, as a forced tool is still called then). With
thinking on, a thinking block with a signature comes first.

Like the real server, it refuses (400, Anthropic's envelope) what breaks the Messages rules: no ``max_tokens``, no
messages, blank text blocks, a final assistant text ending in white space, ``tool_use`` without its
``tool_result`` right after, a ``system`` turn other than right after a user turn or on a model that does not take
one, and, with thinking on, a last tool-use turn that does not start with a signed thinking block (wire-behaviour
B-85, B-98).

    server.add(anthropic_stream(anthropic_message([thinking_block("hmm", "sig"), tool_use_block("t1", "f", {})],
                                                  stop_reason="tool_use")))
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from ..model_info import anthropic_model_info
from ..providers.anthropic._names import OUTPUT_TOOL
from ._reply import RecordedRequest, Reply

__all__ = [
    "anthropic_error",
    "anthropic_event",
    "anthropic_events",
    "anthropic_message",
    "anthropic_reply",
    "anthropic_stream",
    "anthropic_usage",
    "is_anthropic_request",
    "redacted_thinking_block",
    "text_block",
    "thinking_block",
    "tool_use_block",
]

MODEL_ECHO = "fake-model"
SIGNATURE = "fake-signature-0"
"""The signature the default model signs its thinking with; a thinking block sent back must carry it."""
_MODELS = [
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 200_000, 64_000),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", 200_000, 32_000),
]


# -- bodies --


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def thinking_block(thinking: str, signature: str = SIGNATURE) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def redacted_thinking_block(data: str) -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": data}


def anthropic_usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read: int | None = 0,
    cache_creation: int | None = 0,
    **more: Any,
) -> dict[str, Any]:
    """A Messages ``usage`` object (cache fields ``None`` to leave them out)."""
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_creation is not None:
        usage["cache_creation_input_tokens"] = cache_creation
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    return {**usage, **more}


def anthropic_message(
    content: str | list[dict[str, Any]] = "",
    *,
    stop_reason: str | None = "end_turn",
    usage: dict[str, Any] | None = None,
    model: str = MODEL_ECHO,
    message_id: str = "msg_fake",
    **fields: Any,
) -> dict[str, Any]:
    """A non-streamed Messages response; ``content`` text becomes one text block."""
    blocks = [text_block(content)] if isinstance(content, str) else list(content)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage if usage is not None else anthropic_usage(10, 5),
        **fields,
    }


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    """Anthropic's error envelope (as a body, or as the data of an ``error`` event)."""
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


# -- streams --


def anthropic_event(data: dict[str, Any]) -> str:
    """One server-sent event, named after its ``type`` as Anthropic names them."""
    return f"event: {data['type']}\ndata: {orjson.dumps(data).decode()}\n\n"


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else []


def _json_pieces(value: Any) -> list[str]:
    """Tool input as the API streams it: an empty first fragment, then the JSON text (with spaces) in pieces."""
    text = json.dumps(value)
    third = max(1, len(text) // 3)
    return ["", *(text[i : i + third] for i in range(0, len(text), third))]


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    delta = {"type": "content_block_delta", "index": index}
    if kind == "text":
        start = text_block("")
        deltas = [{**delta, "delta": {"type": "text_delta", "text": w}} for w in _words(block["text"])]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{**delta, "delta": {"type": "thinking_delta", "thinking": w}} for w in _words(block["thinking"])]
        deltas.append({**delta, "delta": {"type": "signature_delta", "signature": block["signature"]}})
    elif kind == "tool_use":
        start = {**block, "input": {}}
        pieces = _json_pieces(block["input"]) if block["input"] else []
        deltas = [{**delta, "delta": {"type": "input_json_delta", "partial_json": p}} for p in pieces]
    else:
        start, deltas = block, []
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *deltas,
        {"type": "content_block_stop", "index": index},
    ]


def anthropic_events(message: dict[str, Any], *, ping: bool = True) -> list[str]:
    """``message`` (see :func:`anthropic_message`) as the Messages stream that sends it: ``message_start`` (usage so
    far), a ``ping``, each block's start, deltas (word by word; tool input in JSON fragments; the signature last) and
    stop, ``message_delta`` (stop reason, cumulative usage) and ``message_stop``."""
    usage = dict(message.get("usage") or {})
    head = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": head}]
    if ping:
        events.append({"type": "ping"})
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    if message.get("stop_details"):
        delta["stop_details"] = message["stop_details"]
    events.append({"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage.get("output_tokens", 0)}})
    events.append({"type": "message_stop"})
    return [anthropic_event(event) for event in events]


def anthropic_stream(message: dict[str, Any], *, ping: bool = True, **reply: Any) -> Reply:
    """A scripted reply streaming ``message`` (extra keywords go to :meth:`Reply.sse`)."""
    return Reply.sse(anthropic_events(message, ping=ping), done=False, **reply)


# -- the default model --


REQUEST_ID_HEADER = "request-id"


def handles(request: RecordedRequest) -> bool:
    """Whether ``request`` is Anthropic's: see :func:`is_anthropic_request`."""
    return is_anthropic_request(request)


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer to an Anthropic request."""
    return anthropic_reply(request)


def is_anthropic_request(request: RecordedRequest) -> bool:
    """Messages paths, and ``GET /v1/models`` from an Anthropic client (it sends ``anthropic-version``)."""
    return request.path.startswith("/v1/messages") or (
        request.path == "/v1/models" and "anthropic-version" in request.headers
    )


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply.json(anthropic_error(kind, message), status=status)


def anthropic_reply(request: RecordedRequest) -> Reply:
    """The default model's answer to an Anthropic request."""
    if request.method == "GET" and request.path == "/v1/models":
        return _models(request)
    if request.method != "POST" or request.path not in ("/v1/messages", "/v1/messages/count_tokens"):
        return _error(404, "not_found_error", f"Not found: {request.method} {request.path}")
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _error(400, "invalid_request_error", "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid_request_error", "the body is not a JSON object")
    problem = _shape_error(body, counting=request.path.endswith("count_tokens"))
    if problem:
        return _error(400, "invalid_request_error", problem)
    tokens = max(1, len(request.body) // 4)
    if request.path.endswith("count_tokens"):
        return Reply.json({"input_tokens": tokens})
    message = _answer(body, tokens)
    return anthropic_stream(message) if body.get("stream") else Reply.json(message)


def _models(request: RecordedRequest) -> Reply:
    entries = [
        {
            "type": "model",
            "id": mid,
            "display_name": name,
            "created_at": "2025-01-01T00:00:00Z",
            "max_input_tokens": window,
            "max_tokens": most,
        }
        for mid, name, window, most in _MODELS
    ]
    after = request.query.get("after_id", [None])[0]
    limit = int(request.query.get("limit", ["20"])[0])
    start = next((i + 1 for i, e in enumerate(entries) if e["id"] == after), 0)
    page = entries[start : start + limit]
    return Reply.json(
        {
            "data": page,
            "has_more": start + limit < len(entries),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def _blocks(message: Any) -> list[Any]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [text_block(content)]
    return content if isinstance(content, list) else []


def _shape_error(body: dict[str, Any], *, counting: bool) -> str | None:
    """What the real Messages API would refuse in ``body``, in its words; None when it is well formed."""
    messages = body.get("messages")
    if not counting and type(body.get("max_tokens")) is not int:
        return "max_tokens: Field required"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", *_system_role(body)):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if message.get("role") == "system" and (i == 0 or messages[i - 1].get("role") != "user"):
            return f"messages.{i}: a system message must immediately follow a user message"
        for block in _blocks(message):
            if isinstance(block, dict) and block.get("type") == "text" and not str(block.get("text", "")).strip():
                return "messages: text content blocks must contain non-whitespace text"
    last = messages[-1]
    final = _blocks(last)
    if (
        last.get("role") == "assistant"
        and final
        and final[-1].get("type") == "text"
        and final[-1]["text"] != final[-1]["text"].rstrip()
    ):
        return "messages: final assistant content cannot end with trailing whitespace"
    return _tool_pairing_error(messages) or _thinking_error(body, messages)


def _system_role(body: dict[str, Any]) -> tuple[str, ...]:
    """``("system",)`` for a model that takes a system message after the first turn (Claude Opus 4.8, models not
    known), else nothing."""
    model = body.get("model")
    takes = isinstance(model, str) and anthropic_model_info(model, warn=False).get("multiple_system_messages")
    return ("system",) if takes else ()


def _tool_pairing_error(messages: list[dict[str, Any]]) -> str | None:
    for i, message in enumerate(messages):
        ids = [b.get("id") for b in _blocks(message) if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not ids:
            continue
        following = _blocks(messages[i + 1]) if i + 1 < len(messages) else []
        answered = {b.get("tool_use_id") for b in following if isinstance(b, dict) and b.get("type") == "tool_result"}
        missing = [call_id for call_id in ids if call_id not in answered]
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(str(m) for m in missing)}"
            )
    return None


def _thinking_on(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _thinking_error(body: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """With thinking on, the last assistant turn that used tools must start with the thinking it came with."""
    if not _thinking_on(body):
        return None
    for i in range(len(messages) - 1, -1, -1):
        blocks = _blocks(messages[i])
        if messages[i].get("role") != "assistant":
            continue
        if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks):
            return None
        first = blocks[0]
        if first.get("type") == "redacted_thinking":
            return None
        if first.get("type") != "thinking":
            return (
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first.get('type')}`. When `thinking` is enabled, a final `assistant` message must start "
                "with a thinking block"
            )
        if first.get("signature") != SIGNATURE:
            return f"messages.{i}.content.0: Invalid `signature` in `thinking` block"
        return None
    return None


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            texts = [b.get("text", "") for b in _blocks(message) if isinstance(b, dict) and b.get("type") == "text"]
            if texts:
                return " ".join(str(t) for t in texts)
    return ""


def _tool_results(messages: list[Any]) -> list[str] | None:
    """The results in the last user turn (a system turn after it aside), when it holds tool results."""
    if messages and messages[-1].get("role") == "system":
        messages = messages[:-1]
    blocks = _blocks(messages[-1]) if messages and messages[-1].get("role") == "user" else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return None
    out = []
    for result in results:
        content = result.get("content", "")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        out.append(str(content))
    return out


def _topic(messages: list[Any]) -> str:
    words = [w.strip("?.!,;:'\"") for w in _last_user_text(messages).split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else "example"


def _content(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The answer's blocks and stop reason. After tool results it answers them, in the shape asked for: through
    the tool that ``tool_choice`` forces (modelport's structured-output tool), as ``output_config.format``'s JSON,
    or in words."""
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
    raw_choice = body.get("tool_choice")
    choice: dict[str, Any] = raw_choice if isinstance(raw_choice, dict) else {}
    results = _tool_results(messages)
    if results is not None:
        forced = _forced_tool(tools, choice)
        if forced is not None:
            return [_call(forced, messages)], "tool_use"
        text = "The tool said: " + "; ".join(results[-3:])
        return [text_block(_formatted(body, messages) or text)], "end_turn"
    if tools and choice.get("type") != "none":
        tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
        return [_call(tool, messages)], "tool_use"
    return [text_block(_formatted(body, messages) or f"You said: {_last_user_text(messages)}")], "end_turn"


def _call(tool: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``tool_use`` block calling ``tool`` with input made from its schema."""
    from ._instance import instance_of

    schema = tool.get("input_schema") if isinstance(tool.get("input_schema"), dict) else {"type": "object"}
    return tool_use_block("toolu_fake_0", tool["name"], instance_of(schema, word=_topic(messages)))


def _forced_tool(tools: list[dict[str, Any]], choice: dict[str, Any]) -> dict[str, Any] | None:
    """The tool a turn must call: the one ``tool_choice`` names, or with ``any`` the structured-output tool
    (modelport adds it last), else the first."""
    if choice.get("type") == "tool":
        return next((t for t in tools if t["name"] == choice.get("name")), None)
    if choice.get("type") == "any" and tools:
        return next((t for t in tools if t["name"] == OUTPUT_TOOL), tools[0])
    return None


def _formatted(body: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """A JSON instance of ``output_config.format``'s schema, when the request asks for one."""
    from ._instance import instance_of

    config = body.get("output_config")
    output = config.get("format") if isinstance(config, dict) else None
    if isinstance(output, dict) and output.get("type") == "json_schema":
        return orjson.dumps(instance_of(output.get("schema", {}), word=_topic(messages))).decode()
    return None


def _answer(body: dict[str, Any], tokens: int) -> dict[str, Any]:
    blocks, stop_reason = _content(body)
    if _thinking_on(body):
        blocks.insert(0, thinking_block(f"The user wrote: {_last_user_text(body['messages'])}"))
    cached = _has_cache_breakpoint(body)
    usage = anthropic_usage(
        tokens - tokens // 2 if cached else tokens,
        max(1, sum(len(str(b.get("text", b.get("input", ""))).split()) for b in blocks)),
        cache_read=tokens // 2 if cached else 0,
    )
    model = body.get("model")
    model = model if isinstance(model, str) and model else MODEL_ECHO
    return anthropic_message(blocks, stop_reason=stop_reason, usage=usage, model=model)


_CACHE_CONTROL = re.compile(rb'"cache_control"')


def _has_cache_breakpoint(body: dict[str, Any]) -> bool:
    return bool(_CACHE_CONTROL.search(orjson.dumps(body)))
