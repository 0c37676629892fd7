"""The fake server's Ollama routes: ``POST /api/chat`` (newline-delimited JSON streams, or one JSON answer with
``"stream": false``), ``GET /api/tags`` and ``POST /api/show`` (a model's card, with its context length), plus
helpers to script Ollama-shaped replies.

The default model answers as the OpenAI one does (see :mod:`modelport.testing._openai`): it calls the first tool,
answers tool results, fills a ``format`` schema, or echoes the last user text. With ``think`` it thinks first. A
stream sends the thinking and the answer word by word, each tool call in a line of its own, then the ``done`` line
with ``done_reason``, the counts and the timings, as Ollama does. A request without messages loads the model
(``done_reason: "load"``). Any other path gets Ollama's plain-text ``404 page not found``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ._openai import _answer, _last_user_text
from ._reply import RecordedRequest, Reply

__all__ = [
    "is_ollama_request",
    "ollama_chunk",
    "ollama_error",
    "ollama_reply",
    "ollama_response",
    "ollama_stream",
]

CREATED_AT = "2025-01-01T00:00:00.000000Z"
NDJSON = "application/x-ndjson"
CONTEXT_LENGTH = 131072
QWEN3_CONTEXT_LENGTH = 40960
TIMINGS: dict[str, Any] = {
    "total_duration": 5_000_000,
    "load_duration": 1_000_000,
    "prompt_eval_duration": 2_000_000,
    "eval_duration": 2_000_000,
}
MODELS = ("llama3.1:latest", "qwen3:8b")


REQUEST_ID_HEADER = "x-request-id"


def is_ollama_request(request: RecordedRequest) -> bool:
    """Ollama's native paths: ``/api/...``."""
    return request.path.startswith("/api/")


handles = is_ollama_request


def ollama_chunk(
    content: str = "",
    *,
    thinking: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    done: bool = False,
    done_reason: str | None = None,
    model: str = "llama3.1",
    **fields: Any,
) -> dict[str, Any]:
    """One line of an ``/api/chat`` stream (``done=True`` for the last; give counts and timings as ``fields``)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls
    line: dict[str, Any] = {"model": model, "created_at": CREATED_AT, "message": message, "done": done}
    if done_reason is not None:
        line["done_reason"] = done_reason
    line.update(fields)
    return line


def ollama_response(
    content: str = "",
    *,
    thinking: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    done_reason: str = "stop",
    prompt_eval_count: int | None = 10,
    eval_count: int | None = 5,
    model: str = "llama3.1",
    **fields: Any,
) -> dict[str, Any]:
    """A whole (non-streamed) ``/api/chat`` answer, with timings."""
    counts = {k: v for k, v in (("prompt_eval_count", prompt_eval_count), ("eval_count", eval_count)) if v is not None}
    return ollama_chunk(
        content,
        thinking=thinking,
        tool_calls=tool_calls,
        done=True,
        done_reason=done_reason,
        model=model,
        **{**TIMINGS, **counts, **fields},
    )


def ollama_stream(
    lines: Iterable[dict[str, Any] | bytes],
    *,
    delay: float = 0.0,
    split: int | None = None,
    status: int = 200,
    reset: bool = False,
    stall: bool = False,
) -> Reply:
    """An ``application/x-ndjson`` body: each line a dict (sent as one JSON line) or raw ``bytes``. ``split`` cuts
    the body into pieces of that many bytes; otherwise each line is its own piece, after ``delay``."""
    pieces = [line if isinstance(line, bytes) else orjson.dumps(line) + b"\n" for line in lines]
    if split:
        body = b"".join(pieces)
        pieces = [body[i : i + split] for i in range(0, len(body), split)]
    return Reply(
        status=status,
        headers={"content-type": NDJSON},
        segments=[(delay, piece) for piece in pieces],
        chunked=True,
        reset=reset,
        stall=stall,
    )


def ollama_error(message: str, *, status: int = 400) -> Reply:
    """Ollama's error envelope: ``{"error": "..."}``."""
    return Reply.json({"error": message}, status=status)


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer to an Ollama request."""
    return ollama_reply(request)


def ollama_reply(request: RecordedRequest) -> Reply:
    """The default model's answer to an Ollama request."""
    if request.method == "GET" and request.path == "/api/tags":
        return Reply.json({"models": [_tag(name) for name in MODELS]})
    if request.method != "POST" or request.path not in ("/api/chat", "/api/show"):
        return Reply.text("404 page not found", status=404)
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return ollama_error("invalid character in request body")
    if not isinstance(body, dict):
        return ollama_error("json: cannot unmarshal request body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return ollama_error("model is required")
    if request.path == "/api/show":
        return Reply.json(_show(model))
    return _chat(body, model)


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": CREATED_AT,
        "size": 4_920_753_328,
        "digest": "sha256:" + "0" * 64,
        "details": {
            "format": "gguf",
            "family": name.split(":")[0],
            "parameter_size": "8.0B",
            "quantization_level": "Q4_K_M",
        },
    }


def _show(model: str) -> dict[str, Any]:
    """The model's card: a ``qwen3`` model is shown as Qwen 3 (a 40,960-token window), any other as Llama 3.1
    (:data:`CONTEXT_LENGTH`)."""
    family = model.split(":")[0].rsplit("/", 1)[-1]
    arch, length = ("qwen3", QWEN3_CONTEXT_LENGTH) if family == "qwen3" else ("llama", CONTEXT_LENGTH)
    return {
        "modelfile": f"FROM {model}\n",
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": {"format": "gguf", "family": arch, "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
        "model_info": {
            "general.architecture": arch,
            "general.parameter_count": 8_030_261_248,
            f"{arch}.context_length": length,
            f"{arch}.embedding_length": 4096,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": CREATED_AT,
    }


def _as_openai(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of an ``/api/chat`` body that the default model reads, in the OpenAI shape it reads them in."""
    fmt = body.get("format")
    response_format: dict[str, Any] = {}
    if fmt == "json":
        response_format = {"type": "json_object"}
    elif isinstance(fmt, dict):
        response_format = {"type": "json_schema", "json_schema": {"schema": fmt}}
    return {"messages": body.get("messages"), "tools": body.get("tools"), "response_format": response_format}


def _chat(body: dict[str, Any], model: str) -> Reply:
    messages = body.get("messages")
    if not messages:  # Ollama loads the model and says nothing
        return Reply.json(ollama_chunk(done=True, done_reason="load", model=model))
    openai_body = _as_openai(body)
    text, calls = _answer(openai_body)
    wired = [
        {
            "id": call["id"],
            "function": {
                "index": i,
                "name": call["function"]["name"],
                "arguments": orjson.loads(call["function"]["arguments"]),
            },
        }
        for i, call in enumerate(calls or [])
    ]
    thinking = None
    if body.get("think") not in (None, False):
        raw_messages = messages if isinstance(messages, list) else []
        thinking = f"The user wrote: {_last_user_text([m for m in raw_messages if isinstance(m, dict)])}"
    counts: dict[str, Any] = {
        "prompt_eval_count": max(1, len(orjson.dumps(messages)) // 4),
        "eval_count": max(1, len(text.split()) + len(wired)),
    }
    if body.get("stream", True) is False:
        return Reply.json(ollama_response(text, thinking=thinking, tool_calls=wired, model=model, **counts))
    lines: list[dict[str, Any]] = []
    for i, word in enumerate(thinking.split(" ") if thinking else []):
        lines.append(ollama_chunk(thinking=word if i == 0 else " " + word, model=model))
    for i, word in enumerate(text.split(" ") if text else []):
        lines.append(ollama_chunk(word if i == 0 else " " + word, model=model))
    for call in wired:  # whole, each in a line of its own (B-79)
        lines.append(ollama_chunk(tool_calls=[call], model=model))
    lines.append(ollama_chunk(done=True, done_reason="stop", model=model, **TIMINGS, **counts))
    return ollama_stream(lines)
