"""The fake server's default Converse model: what Converse refuses, and the answer it gives otherwise (see
:mod:`modelport.testing._bedrock`)."""

from __future__ import annotations

from typing import Any

import orjson

from ..providers.bedrock._names import OUTPUT_TOOL

__all__ = ["answer", "shape_error"]


def _blocks(message: Any) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def shape_error(body: dict[str, Any], signature: str) -> str | None:
    """What the real Converse API would refuse in ``body``, in its words; None when it is well formed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "The messages field is required and must not be empty."
    if not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        return (
            "A conversation must start with a user message. Try again with a conversation that starts with a "
            "user message."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: must be user or assistant"
        if i and messages[i - 1].get("role") == message.get("role"):
            return (
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        for block in _blocks(message):
            if "text" in block and not str(block["text"]).strip():
                return (
                    "The text field in the ContentBlock object at messages."
                    + f"{i} is blank. Add text to the text field, and try again."
                )
    uses_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in _blocks(m))
    if uses_tools and not body.get("toolConfig"):
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    return _pairing_error(messages) or _thinking_error(body, messages, signature)


def _pairing_error(messages: list[dict[str, Any]]) -> str | None:
    for i, message in enumerate(messages):
        ids = [b["toolUse"].get("toolUseId") for b in _blocks(message) if isinstance(b.get("toolUse"), dict)]
        if not ids:
            continue
        following = _blocks(messages[i + 1]) if i + 1 < len(messages) else []
        answered = {b["toolResult"].get("toolUseId") for b in following if isinstance(b.get("toolResult"), dict)}
        if any(call_id not in answered for call_id in ids):
            return (
                "Expected toolResult blocks at messages."
                + f"{i + 1}.content for the following Ids: "
                + ", ".join(str(c) for c in ids if c not in answered)
            )
    return None


def _thinking_on(body: dict[str, Any]) -> bool:
    fields = body.get("additionalModelRequestFields")
    thinking = fields.get("thinking") if isinstance(fields, dict) else None
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _thinking_error(body: dict[str, Any], messages: list[dict[str, Any]], signature: str) -> str | None:
    """With thinking on, the last assistant turn that used tools must start with its signed reasoning."""
    if not _thinking_on(body):
        return None
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        blocks = _blocks(message)
        if not any("toolUse" in b for b in blocks):
            return None
        reasoning = blocks[0].get("reasoningContent") if blocks else None
        if not isinstance(reasoning, dict):
            return (
                "Expected `thinking` or `redacted_thinking`, but found another block. When `thinking` is enabled, "
                "a final `assistant` message must start with a thinking block."
            )
        if "redactedContent" in reasoning:
            return None
        text = reasoning.get("reasoningText")
        if not isinstance(text, dict) or text.get("signature") != signature:
            return "Invalid `signature` in `thinking` block"
        return None
    return None


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = [str(b["text"]) for b in _blocks(message) if "text" in b]
            if texts:
                return " ".join(texts)
    return ""


def _tool_results(messages: list[dict[str, Any]]) -> list[str] | None:
    blocks = _blocks(messages[-1]) if messages[-1].get("role") == "user" else []
    results = [b["toolResult"] for b in blocks if isinstance(b.get("toolResult"), dict)]
    if not results:
        return None
    out = []
    for result in results:
        parts = result.get("content") if isinstance(result.get("content"), list) else []
        out.append(" ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)))
    return out


def _topic(messages: list[dict[str, Any]]) -> str:
    words = [w.strip("?.!,;:'\"") for w in _last_user_text(messages).split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else "example"


def _specs(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    found = body.get("toolConfig")
    config: dict[str, Any] = found if isinstance(found, dict) else {}
    specs = [t["toolSpec"] for t in config.get("tools") or [] if isinstance(t, dict) and "toolSpec" in t]
    choice = config.get("toolChoice")
    return specs, choice if isinstance(choice, dict) else {}


def _call(spec: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    from ._instance import instance_of

    schema = (spec.get("inputSchema") or {}).get("json") or {"type": "object"}
    arguments = instance_of(schema, word=_topic(messages))
    return {"toolUse": {"toolUseId": "tooluse_fake_0", "name": spec["name"], "input": arguments}}


def _content(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    specs, choice = _specs(body)
    forced = None
    if isinstance(choice.get("tool"), dict):
        forced = next((s for s in specs if s.get("name") == choice["tool"].get("name")), None)
    elif "any" in choice and specs:
        forced = next((s for s in specs if s.get("name") == OUTPUT_TOOL), specs[0])
    results = _tool_results(messages)
    if results is not None:
        if forced is not None:
            return [_call(forced, messages)], "tool_use"
        return [{"text": "The tool said: " + "; ".join(results[-3:])}], "end_turn"
    if forced is not None or (specs and not all(s.get("name") == OUTPUT_TOOL for s in specs)):
        return [_call(forced or specs[0], messages)], "tool_use"
    return [{"text": f"You said: {_last_user_text(messages)}"}], "end_turn"


def answer(body: dict[str, Any], tokens: int, signature: str) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    """The default answer's content blocks, stop reason and usage."""
    blocks, stop_reason = _content(body)
    if _thinking_on(body):
        text = f"The user wrote: {_last_user_text(body['messages'])}"
        blocks.insert(0, {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}})
    cached = b'"cachePoint"' in orjson.dumps(body)
    output = max(1, sum(len(orjson.dumps(b)) // 8 for b in blocks))
    usage: dict[str, Any] = {"inputTokens": tokens - tokens // 2 if cached else tokens, "outputTokens": output}
    if cached:
        usage["cacheReadInputTokens"] = tokens // 2
        usage["cacheWriteInputTokens"] = 0
    usage["totalTokens"] = tokens + output
    return blocks, stop_reason, usage
