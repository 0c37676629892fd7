"""The fake server's OpenAI Responses dialect (``POST /v1/responses``, and Azure's ``/openai/v1/responses``), and
helpers to script Responses-shaped replies.

The default "model" answers as the chat one does: ``You said: ...``, a ``function_call`` of the first tool (or the
one ``tool_choice`` names) with arguments made from its schema, ``The tool said: ...`` after
``function_call_output`` items, and a JSON instance for ``text.format``. With ``reasoning`` asked for, a reasoning
item comes first (a summary when ``reasoning.summary`` is set; ``encrypted_content`` when ``include`` asks for it).
``max_output_tokens`` below the answer's words cuts it: ``status: incomplete``. Streams send the same response as
the API does: ``response.created``, each item's ``output_item.added``, its deltas (text word by word, arguments in
pieces, summaries word by word) and ``output_item.done``, then ``response.completed`` (or ``.incomplete``,
``.failed``), every event numbered by ``sequence_number``.

Like the real server, it refuses (400) a ``function_call_output`` without its ``function_call`` before it, and a
reasoning item whose encrypted content is not the server's or that is not followed by the item it came before.

    server.add(responses_stream(responses_response([reasoning_item("hmm", encrypted_content="gAAA..."),
                                                    function_call_item("call_1", "f", {})])))
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ..model_info import lookup_model_info
from ._instance import instance_of
from ._reply import RecordedRequest, Reply

__all__ = [
    "function_call_item",
    "message_item",
    "reasoning_item",
    "refusal_item",
    "responses_events",
    "responses_response",
    "responses_sse",
    "responses_stream",
    "responses_usage",
]

MODEL_ECHO = "fake-model"
REQUEST_ID_HEADER = "x-request-id"
ENCRYPTED_PREFIX = "gAAAAfake."
"""The default model's encrypted reasoning: this prefix and the id of the item the reasoning came before."""
_PATHS = frozenset({"/v1/responses", "/openai/v1/responses"})


# -- bodies --


def responses_usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cached: int | None = 0,
    reasoning: int | None = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """A Responses ``usage`` object (``cached`` or ``reasoning`` ``None`` to leave its details out)."""
    usage: dict[str, Any] = {"input_tokens": input_tokens}
    if cached is not None:
        usage["input_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": cache_write}
    usage["output_tokens"] = output_tokens
    if reasoning is not None:
        usage["output_tokens_details"] = {"reasoning_tokens": reasoning}
    usage["total_tokens"] = input_tokens + output_tokens
    return usage


def message_item(text: str, *, item_id: str = "msg_fake_0") -> dict[str, Any]:
    """An assistant ``message`` item with one ``output_text`` part."""
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}


def refusal_item(refusal: str, *, item_id: str = "msg_fake_0") -> dict[str, Any]:
    """An assistant ``message`` item whose one part is a ``refusal``."""
    part = {"type": "refusal", "refusal": refusal}
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}


def function_call_item(call_id: str, name: str, arguments: Any, *, item_id: str = "fc_fake_0") -> dict[str, Any]:
    """A ``function_call`` item (``arguments`` not a str is written as JSON)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": text,
        "status": "completed",
    }


def reasoning_item(
    summary: str | list[str] | None = None,
    *,
    encrypted_content: str | None = None,
    content: list[str] | None = None,
    item_id: str = "rs_fake_0",
) -> dict[str, Any]:
    """A ``reasoning`` item: summary parts, ``encrypted_content`` and ``reasoning_text`` parts (vLLM's)."""
    parts = [summary] if isinstance(summary, str) else list(summary or [])
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text} for text in parts],
    }
    if content is not None:
        item["content"] = [{"type": "reasoning_text", "text": text} for text in content]
    if encrypted_content is not None:
        item["encrypted_content"] = encrypted_content
    return item


def responses_response(
    output: str | list[dict[str, Any]] = "",
    *,
    status: str = "completed",
    usage: dict[str, Any] | None = None,
    model: str = MODEL_ECHO,
    response_id: str = "resp_fake",
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A non-streamed ``response`` object; ``output`` text becomes one message item."""
    items = [message_item(output)] if isinstance(output, str) else list(output)
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": items,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage if usage is not None else responses_usage(10, 5),
        "metadata": {},
        **fields,
    }


# -- streams --


def responses_sse(events: list[Any], *, start: int = 0) -> list[Any]:
    """Events as the API frames them: ``event: <type>`` and the data, each dict numbered by ``sequence_number``
    from ``start`` (one already numbered keeps its number; a str or bytes is sent as it is)."""
    out: list[Any] = []
    number = start
    for event in events:
        if not isinstance(event, dict):
            out.append(event)
            continue
        event = {**event, "sequence_number": event.get("sequence_number", number)}
        number = event["sequence_number"] + 1
        out.append(f"event: {event['type']}\ndata: {orjson.dumps(event).decode()}\n\n")
    return out


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else []


def _message_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    events: list[dict[str, Any]] = []
    for position, part in enumerate(item.get("content") or []):
        at = {**where, "content_index": position}
        if part.get("type") == "refusal":
            events.append({"type": "response.content_part.added", **at, "part": {**part, "refusal": ""}})
            events += [{"type": "response.refusal.delta", **at, "delta": w} for w in _words(part["refusal"])]
            events.append({"type": "response.refusal.done", **at, "refusal": part["refusal"]})
        else:
            events.append({"type": "response.content_part.added", **at, "part": {**part, "text": ""}})
            events += [
                {"type": "response.output_text.delta", **at, "delta": w, "logprobs": []} for w in _words(part["text"])
            ]
            events.append({"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []})
        events.append({"type": "response.content_part.done", **at, "part": part})
    return events


def _reasoning_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    events: list[dict[str, Any]] = []
    for position, part in enumerate(item.get("summary") or []):
        at = {**where, "summary_index": position}
        events.append({"type": "response.reasoning_summary_part.added", **at, "part": {**part, "text": ""}})
        events += [{"type": "response.reasoning_summary_text.delta", **at, "delta": w} for w in _words(part["text"])]
        events.append({"type": "response.reasoning_summary_text.done", **at, "text": part["text"]})
        events.append({"type": "response.reasoning_summary_part.done", **at, "part": part})
    for position, part in enumerate(item.get("content") or []):
        at = {**where, "content_index": position}
        events += [{"type": "response.reasoning_text.delta", **at, "delta": w} for w in _words(part["text"])]
        events.append({"type": "response.reasoning_text.done", **at, "text": part["text"]})
    return events


def _call_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    text = item["arguments"]
    third = max(1, len(text) // 3)
    pieces = [text[i : i + third] for i in range(0, len(text), third)]
    events = [{"type": "response.function_call_arguments.delta", **where, "delta": p} for p in pieces]
    events.append({"type": "response.function_call_arguments.done", **where, "arguments": text})
    return events


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``output_item.added`` shows it: in progress, nothing in it yet."""
    kind = item.get("type")
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    if kind == "reasoning":
        return {"type": "reasoning", "id": item.get("id"), "summary": []}
    return item


def responses_events(response: dict[str, Any]) -> list[str]:
    """``response`` (see :func:`responses_response`) as the stream that sends it, framed and numbered."""
    head = {**response, "status": "in_progress", "output": [], "usage": None, "error": None, "incomplete_details": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": head},
        {"type": "response.in_progress", "response": head},
    ]
    for index, item in enumerate(response.get("output") or []):
        events.append({"type": "response.output_item.added", "output_index": index, "item": _opened(item)})
        kind = item.get("type")
        if kind == "message":
            events += _message_events(index, item)
        elif kind == "reasoning":
            events += _reasoning_events(index, item)
        elif kind == "function_call":
            events += _call_events(index, item)
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    status = response.get("status")
    terminal = {"incomplete": "response.incomplete", "failed": "response.failed"}.get(str(status))
    events.append({"type": terminal or "response.completed", "response": response})
    return responses_sse(events)


def responses_stream(response: dict[str, Any], **reply: Any) -> Reply:
    """A scripted reply streaming ``response`` (extra keywords go to :meth:`Reply.sse`)."""
    return Reply.sse(responses_events(response), done=False, **reply)


# -- the default model --


def handles(request: RecordedRequest) -> bool:
    """Whether ``request`` is a Responses one: its path."""
    return request.path in _PATHS or request.path.startswith("/v1/responses/")


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Reply.json({"error": error}, status=status)


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer to a Responses request."""
    if request.method != "POST" or request.path not in _PATHS:
        return _error(404, f"Invalid URL ({request.method} {request.path})")
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body is not a JSON object")
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return _error(400, "Missing required parameter: 'input'.", param="input")
    problem = _input_error(items)
    if problem:
        return _error(400, problem, param="input")
    response = _answer(body, items, max(1, len(request.body) // 4))
    return responses_stream(response) if body.get("stream") else Reply.json(response)


def _input_error(items: list[dict[str, Any]]) -> str | None:
    """What the real API refuses in the input items, in its words; None when they are well formed."""
    calls: set[Any] = set()
    for position, item in enumerate(items):
        kind = item.get("type")
        if kind == "function_call":
            calls.add(item.get("call_id"))
        elif kind == "function_call_output" and item.get("call_id") not in calls:
            return f"No tool call found for function call output with call_id {item.get('call_id')}."
        elif kind == "reasoning":
            encrypted = item.get("encrypted_content")
            following = items[position + 1] if position + 1 < len(items) else {}
            if not isinstance(encrypted, str) or not encrypted.startswith(ENCRYPTED_PREFIX):
                return f"The encrypted content for item {item.get('id')} could not be verified."
            if following.get("id") != encrypted[len(ENCRYPTED_PREFIX) :]:
                return f"Item '{item.get('id')}' of type 'reasoning' was provided without its required following item."
    return None


def _last_user_text(items: list[dict[str, Any]]) -> str:
    for item in reversed(items):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            parts = content if isinstance(content, list) else []
            return " ".join(
                str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "input_text"
            )
    return ""


def _topic(items: list[dict[str, Any]]) -> str:
    words = [w.strip("?.!,;:'\"") for w in _last_user_text(items).split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else "example"


def _formatted(body: dict[str, Any], items: list[dict[str, Any]], answer: str) -> str | None:
    text = body.get("text")
    output = text.get("format") if isinstance(text, dict) else None
    kind = output.get("type") if isinstance(output, dict) else None
    if kind == "json_schema":
        return orjson.dumps(instance_of(output.get("schema") or {}, word=_topic(items))).decode()  # type: ignore[union-attr]
    if kind == "json_object":
        return orjson.dumps({"answer": answer}).decode()
    return None


def _content(body: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer's item: text, shaped by ``text.format``, or a call of a tool."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
    choice = body.get("tool_choice")
    if items and items[-1].get("type") == "function_call_output":
        results = [str(i.get("output", "")) for i in items if i.get("type") == "function_call_output"]
        text = "The tool said: " + "; ".join(results[-3:])
        return message_item(_formatted(body, items, text) or text)
    if tools and choice != "none":
        named = choice.get("name") if isinstance(choice, dict) else None
        tool = next((t for t in tools if t["name"] == named), tools[0])
        schema = tool.get("parameters") if isinstance(tool.get("parameters"), dict) else {"type": "object"}
        return function_call_item("call_fake_0", tool["name"], instance_of(schema, word=_topic(items)))
    said = _last_user_text(items)
    return message_item(_formatted(body, items, said) or f"You said: {said}")


def _reasoning(body: dict[str, Any], items: list[dict[str, Any]], following: str) -> dict[str, Any] | None:
    reasoning = body.get("reasoning")
    model = body.get("model")
    registered = isinstance(model, str) and lookup_model_info(model, warn=False).get("reasoning")
    if not isinstance(reasoning, dict) and not registered:
        return None
    summary: list[str] = []
    if isinstance(reasoning, dict) and reasoning.get("summary"):
        summary = [f"The user wrote: {_last_user_text(items)}"]
    include = body.get("include")
    asked = isinstance(include, list) and "reasoning.encrypted_content" in include
    return reasoning_item(summary, encrypted_content=ENCRYPTED_PREFIX + following if asked else None)


def _cut(item: dict[str, Any], limit: Any) -> bool:
    """Cut a message item's text to ``max_output_tokens`` words; True if it was cut."""
    if type(limit) is not int or item["type"] != "message":
        return False
    words = item["content"][0]["text"].split(" ")
    if len(words) <= limit:
        return False
    item["content"][0]["text"] = " ".join(words[:limit])
    return True


def _answer(body: dict[str, Any], items: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    item = _content(body, items)
    output = [item]
    reasoning = _reasoning(body, items, item["id"])
    if reasoning is not None:
        output.insert(0, reasoning)
    cut = _cut(item, body.get("max_output_tokens"))
    thought_tokens = 8 if reasoning is not None else 0
    words = len(json.dumps(item).split())
    cached = tokens // 2 if body.get("prompt_cache_key") else 0
    model = body.get("model")
    return responses_response(
        output,
        status="incomplete" if cut else "completed",
        incomplete_reason="max_output_tokens" if cut else None,
        usage=responses_usage(tokens, words + thought_tokens, cached=cached, reasoning=thought_tokens),
        model=model if isinstance(model, str) and model else MODEL_ECHO,
        store=bool(body.get("store", True)),
    )
