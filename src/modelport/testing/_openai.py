"""The fake server's OpenAI chat-completions dialect (what it answers when nothing is scripted), and helpers to
build OpenAI-shaped bodies.

The default "model" is deterministic:
- with tools, and the last message not a tool result: it calls the first tool (or the one ``tool_choice`` names)
  with arguments made from the tool's schema;
- after tool results: it answers with them (``"The tool said: ..."``);
- with a ``json_schema`` response format (also after tool results): a JSON instance of the schema; with
  ``json_object``: ``{"answer": ...}``;
- otherwise: ``"You said: <the last user text>"``.
Streams send the same answer word by word, then the finish chunk, the usage chunk when asked, and ``[DONE]``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ._instance import MAX_DEPTH, instance_of
from ._reply import RecordedRequest, Reply

__all__ = ["MAX_DEPTH", "REQUEST_ID_HEADER", "chunk", "completion", "handles", "instance_of", "reply"]

MODEL_ECHO = "fake-model"
REQUEST_ID_HEADER = "x-request-id"


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
            parts = content if isinstance(content, list) else []
            return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one: the default model reads any body without raising."""
    return value if isinstance(value, dict) else {}


def _functions(tools: Any) -> list[dict[str, Any]]:
    """The ``function`` part of each well-formed tool definition in ``tools``."""
    if not isinstance(tools, list):
        return []
    return [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]


def _tool_call(functions: list[dict[str, Any]], choice: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A call of the first function (or the one ``tool_choice`` names) with arguments made from its schema; a
    ``parameters`` that is not a dict is read as an empty object schema."""
    tool = functions[0]
    if isinstance(choice, dict):
        name = _dict(choice.get("function")).get("name")
        tool = next((f for f in functions if f.get("name") == name), tool)
    parameters = tool.get("parameters")
    schema = parameters if isinstance(parameters, dict) and parameters else {"type": "object"}
    arguments = orjson.dumps(instance_of(schema, word=_topic(messages))).decode()
    name = tool.get("name") if isinstance(tool.get("name"), str) else "tool"
    return {"id": "call_fake_0", "type": "function", "function": {"name": name, "arguments": arguments}}


def _answer(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    raw_messages = body.get("messages")
    messages = [m for m in raw_messages if isinstance(m, dict)] if isinstance(raw_messages, list) else []
    functions = _functions(body.get("tools"))
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":  # the answer, shaped by the response format as any answer is
        results = [m.get("content", "") for m in messages if m.get("role") == "tool"]
        text = "The tool said: " + "; ".join(str(r) for r in results[-3:])
        return _formatted(body, messages, text) or text, None
    choice = body.get("tool_choice")
    if functions and choice != "none":
        return "", [_tool_call(functions, choice, messages)]
    text = f"You said: {_last_user_text(messages)}"
    return _formatted(body, messages, _last_user_text(messages)) or text, None


def _formatted(body: dict[str, Any], messages: list[dict[str, Any]], answer: str) -> str | None:
    """The answer as the ``response_format`` asks: an instance of its ``json_schema``, or ``{"answer": ...}`` for
    ``json_object``; None when it asks for neither."""
    response_format = _dict(body.get("response_format"))
    if response_format.get("type") == "json_schema":
        schema = _dict(response_format.get("json_schema")).get("schema", {})
        return orjson.dumps(instance_of(schema, word=_topic(messages))).decode()
    if response_format.get("type") == "json_object":
        return orjson.dumps({"answer": answer}).decode()
    return None


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


_CHAT_PATHS = re.compile(r"/v1/chat/completions|/openai/v1/chat/completions|/openai/deployments/[^/]+/chat/completions")
_MODELS_PATHS = frozenset({"/v1/models", "/openai/v1/models"})


def _not_found(method: str, path: str) -> Reply:
    """OpenAI's answer to a URL it does not serve: a 404 with its ``invalid_request_error`` shape."""
    return Reply.json(
        {
            "error": {
                "message": f"Invalid URL ({method} {path})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        status=404,
    )


def handles(request: RecordedRequest) -> bool:
    """Every request no other dialect's module claims: OpenAI's is the fake server's own."""
    return True


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer. Only the paths a real server serves answer: ``POST /v1/chat/completions``,
    ``GET /v1/models``, Azure's ``POST /openai/deployments/<name>/chat/completions``, and Azure's v1
    ``POST /openai/v1/chat/completions`` and ``GET /openai/v1/models``. Any other path (a ``base_url`` without
    ``/v1``, say) gets OpenAI's 404, so the fake server does not hide a mistake a real one would catch."""
    if request.method == "GET" and request.path in _MODELS_PATHS:
        return Reply.json(
            {
                "object": "list",
                "data": [{"id": MODEL_ECHO, "object": "model", "owned_by": "modelport", "max_model_len": 32768}],
            }
        )
    if request.method != "POST" or not _CHAT_PATHS.fullmatch(request.path):
        return _not_found(request.method, request.path)
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return Reply.json({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}}, status=400)
    if not isinstance(body, dict):
        return Reply.json(
            {"error": {"message": "the body is not a JSON object", "type": "invalid_request_error"}}, status=400
        )
    model = body.get("model")
    model = model if isinstance(model, str) and model else MODEL_ECHO
    text, calls = _answer(body)
    prompt_tokens = max(1, len(request.body) // 4)
    if body.get("stream"):
        include_usage = bool(_dict(body.get("stream_options")).get("include_usage"))
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
