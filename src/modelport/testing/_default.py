"""What the fake server answers when nothing is scripted, and helpers to build OpenAI-shaped bodies.

The default "model" is deterministic:
- with tools, and the last message not a tool result: it calls the first tool (or the one ``tool_choice`` names)
  with arguments made from the tool's schema;
- after tool results: it answers with them (``"The tool said: ..."``);
- with a ``json_schema`` response format: a JSON instance of the schema; with ``json_object``: ``{"answer": ...}``;
- otherwise: ``"You said: <the last user text>"``.
Streams send the same answer word by word, then the finish chunk, the usage chunk when asked, and ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._server import RecordedRequest, Reply

__all__ = ["chunk", "completion", "default_reply", "instance_of"]

MODEL_ECHO = "fake-model"


def completion(
    content: str | None = "",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    model: str = MODEL_ECHO,
    **message_fields: Any,
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content, **message_fields}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    index: int = 0,
    usage: dict[str, Any] | None = None,
    model: str = MODEL_ECHO,
    choices: bool = True,
    **choice_fields: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``choices=False`` makes the usage-only shape (``"choices": []``)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [],
    }
    if choices:
        body["choices"] = [
            {
                "index": index,
                "delta": delta if delta is not None else {},
                "finish_reason": finish_reason,
                **choice_fields,
            }
        ]
    if usage is not None:
        body["usage"] = usage
    return body


def usage(prompt: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def instance_of(schema: dict[str, Any], defs: dict[str, Any] | None = None, word: str = "example") -> Any:
    """A small JSON value that satisfies ``schema`` (objects, arrays, enums, scalars, ``$ref``, ``anyOf``): defaults
    where the schema has them, and ``word`` for strings."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "default" in schema:
        return schema["default"]
    if "$ref" in schema:
        return instance_of(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, word)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return instance_of(options[0], defs, word)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: instance_of(sub, defs, word) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [instance_of(schema.get("items", {}), defs, word)]
    scalars: dict[Any, Any] = {"string": word, "integer": 1, "number": 1.5, "boolean": True, "null": None}
    return scalars.get(kind, word)


def _topic(messages: list[dict[str, Any]]) -> str:
    """The last capitalised word of the last user message (a city, a name), for the fake model's arguments."""
    words = [w.strip("?.!,;:'\"") for w in _last_user_text(messages).split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else "example"


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _answer(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        results = [m.get("content", "") for m in messages if m.get("role") == "tool"]
        return "The tool said: " + "; ".join(str(r) for r in results[-3:]), None
    choice = body.get("tool_choice")
    if tools and choice != "none":
        tool = tools[0]["function"]
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            tool = next((t["function"] for t in tools if t["function"]["name"] == name), tool)
        schema = tool.get("parameters") or {"type": "object"}
        arguments = orjson.dumps(instance_of(schema, word=_topic(messages))).decode()
        return "", [
            {"id": "call_fake_0", "type": "function", "function": {"name": tool["name"], "arguments": arguments}}
        ]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        return orjson.dumps(instance_of(schema, word=_topic(messages))).decode(), None
    if response_format.get("type") == "json_object":
        return orjson.dumps({"answer": _last_user_text(messages)}).decode(), None
    return f"You said: {_last_user_text(messages)}", None


def _stream(
    text: str, calls: list[dict[str, Any]] | None, model: str, include_usage: bool, prompt_tokens: int
) -> Reply:
    events: list[Any] = [chunk({"role": "assistant", "content": ""}, model=model)]
    words = text.split(" ")
    for i, word in enumerate(words if text else []):
        events.append(chunk({"content": word if i == 0 else " " + word}, model=model))
    for i, call in enumerate(calls or []):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
                        }
                    ]
                },
                model=model,
            )
        )
        events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]}, model=model))
    events.append(chunk({}, finish_reason="tool_calls" if calls else "stop", model=model))
    if include_usage:
        events.append(chunk(usage=usage(prompt_tokens, max(1, len(words))), model=model, choices=False))
    return Reply.sse(events)


def default_reply(request: RecordedRequest) -> Reply:
    if request.method == "GET" and request.path.endswith("/models"):
        return Reply.json(
            {
                "object": "list",
                "data": [{"id": MODEL_ECHO, "object": "model", "owned_by": "modelport", "max_model_len": 32768}],
            }
        )
    if request.method != "POST" or not request.path.endswith("/chat/completions"):
        return Reply.json(
            {
                "error": {
                    "message": f"no route for {request.method} {request.path}",
                    "type": "invalid_request_error",
                    "code": "not_found",
                }
            },
            status=404,
        )
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return Reply.json({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}}, status=400)
    model = body.get("model") or MODEL_ECHO
    text, calls = _answer(body)
    prompt_tokens = max(1, len(request.body) // 4)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _stream(text, calls, model, include_usage, prompt_tokens)
    return Reply.json(
        completion(
            text or None,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            usage=usage(prompt_tokens, max(1, len(text.split()))),
            model=model,
        )
    )
