"""A ``GenerateContentResponse`` fed into the assembler: a whole answer, or one frame of a stream (each frame is a
partial response, read by the same code). Parts, signatures, the finish reason and Google's usage in OpenAI's
names; the rules are in :mod:`modelport.providers.gemini.dialect`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..._assembly import Assembler
from ...errors import ContentFilterError, ResponseValidationError
from ._errors import google_error, is_google_error
from ._names import GENERATED_ID_PREFIX, PARTS_FIELD, SIGNATURE_FIELD


def map_usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Google's ``usageMetadata`` in the OpenAI names the assembler reads. The prompt is ``promptTokenCount`` plus
    ``toolUsePromptTokenCount``; the completion is ``candidatesTokenCount`` plus ``thoughtsTokenCount`` (thinking
    is billed as output), the thoughts also as reasoning; ``cachedContentTokenCount`` is the cached part of the
    prompt. A count Google leaves out is 0 (its JSON omits zeros), once it reported the prompt at all."""
    prompt = raw.get("promptTokenCount")
    if prompt is None:
        return {}
    usage: dict[str, Any] = {
        "prompt_tokens": _sum(prompt, raw.get("toolUsePromptTokenCount")),
        "completion_tokens": _sum(raw.get("candidatesTokenCount"), raw.get("thoughtsTokenCount")),
    }
    cached = raw.get("cachedContentTokenCount")
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    thoughts = raw.get("thoughtsTokenCount")
    if thoughts is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _sum(first: Any, second: Any) -> Any:
    """``first + second``, an absent count being 0; a value that is not a count is passed on (the assembler
    reports usage as unreadable rather than guess)."""
    first = 0 if first is None else first
    second = 0 if second is None else second
    if type(first) is int and type(second) is int:
        return first + second
    return first if type(second) is int else second


class _Text:
    """A run of text parts of one kind (thought or answer) as it will be sent back: its pieces (joined once, at the
    end), and the signature one of them carried."""

    __slots__ = ("pieces", "signature", "thought")

    def __init__(self, text: str, thought: bool, signature: Any) -> None:
        self.pieces = [text]
        self.thought = thought
        self.signature = signature

    def part(self) -> dict[str, Any]:
        part: dict[str, Any] = {"text": "".join(self.pieces)}
        if self.thought:
            part["thought"] = True
        if self.signature:
            part["thoughtSignature"] = self.signature
        return part


class _Turn:
    """The model turn read so far: the parts as they will be sent back (text runs merged), and the calls."""

    __slots__ = ("calls", "kept", "others", "raw_usage", "usage")

    def __init__(self) -> None:
        self.kept: list[_Text | dict[str, Any]] = []
        self.calls = 0
        self.others = False  # a part that is not a call (text, thought) came
        self.usage: dict[str, Any] = {}
        self.raw_usage: Any = None  # the last usageMetadata as it came (most frames repeat it)


def call_id(index: int, function: Mapping[str, Any], signature: Any) -> str:
    """The call's id: Gemini's, else one made from what the call is (so a call streamed and the same call read whole
    get the same id), marked so that it is never sent back."""
    given = function.get("id")
    if isinstance(given, str) and given:
        return given
    digest = hashlib.blake2s(orjson.dumps([function.get("name"), function.get("args"), signature]), digest_size=6)
    return f"{GENERATED_ID_PREFIX}{index}_{digest.hexdigest()}"


def _text(part: dict[str, Any], text: str, asm: Assembler, turn: _Turn) -> None:
    thought = part.get("thought") is True
    signature = part.get("thoughtSignature")
    if thought:
        asm.add_thought(0, text)
    else:
        asm.add_text(0, text)
    turn.others = True
    last = turn.kept[-1] if turn.kept else None
    if type(last) is _Text and last.thought == thought and not (signature and last.signature):
        last.pieces.append(text)
        if signature:
            last.signature = signature
            asm.mark_received()
        return
    if signature and not text:
        asm.mark_received()
    turn.kept.append(_Text(text, thought, signature))


def _call(part: dict[str, Any], function: dict[str, Any], asm: Assembler, turn: _Turn) -> None:
    signature = part.get("thoughtSignature")
    index = turn.calls
    turn.calls += 1
    args = function.get("args")
    fields = {SIGNATURE_FIELD: signature} if isinstance(signature, str) and signature else None
    asm.add_tool_call(
        0, index, call_id(index, function, signature), function.get("name"), args if args is not None else {}, fields
    )
    turn.kept.append(dict(part))


def read_parts(parts: Any, asm: Assembler, turn: _Turn) -> None:
    """Feed a candidate's parts: text to the answer, ``thought: true`` text to the thought, ``functionCall`` parts
    to calls; every part is kept for the turn's round trip."""
    if type(parts) is not list:
        return
    for part in parts:
        if type(part) is not dict:
            continue
        text = part.get("text")
        if type(text) is str:
            if len(part) == 1:  # the hot path: a plain piece of answer
                asm.add_text(0, text)
                turn.others = True
                last = turn.kept[-1] if turn.kept else None
                if type(last) is _Text and not last.thought:
                    last.pieces.append(text)
                else:
                    turn.kept.append(_Text(text, False, None))
            else:
                _text(part, text, asm, turn)
            continue
        function = part.get("functionCall")
        if type(function) is dict:
            _call(part, function, asm, turn)
        else:  # code execution, an inline file...: sent back as it came
            turn.others = True
            turn.kept.append(dict(part))


def finish_turn(reason: Any, asm: Assembler, turn: _Turn) -> None:
    """The candidate finished: a tool turn that had more than its calls keeps all its parts on its first call."""
    if turn.calls and turn.others:
        parts = [part.part() if isinstance(part, _Text) else dict(part) for part in turn.kept]
        asm.add_tool_call(0, 0, None, None, None, {PARTS_FIELD: parts})
    if isinstance(reason, str) and reason:
        asm.finish(0, reason)


def signed_answer(asm: Assembler) -> dict[str, Any] | None:
    """For ``CreateResult.provider_metadata``: the parts of an answer without calls whose text carried a
    ``thoughtSignature`` (Gemini 3 signs its answers; a tool turn keeps them on its first call instead)."""
    turn = asm.dialect_state.get("turn") if asm.dialect_state else None
    if not isinstance(turn, _Turn) or turn.calls:
        return None
    parts = [part.part() if isinstance(part, _Text) else dict(part) for part in turn.kept]
    return {PARTS_FIELD: parts} if any("thoughtSignature" in part for part in parts) else None


def read_frame(body: dict[str, Any], asm: Assembler, *, provider: str, whole: bool) -> None:
    """Feed one ``GenerateContentResponse`` (a whole answer, or a stream frame) into ``asm``. Runs once per
    streamed frame: the common case is kept to a few lookups."""
    if "error" in body and is_google_error(body):
        raise google_error(None, {}, provider=provider, payload=body, request_id=asm.request_id, partial=asm.result())
    state = asm.dialect_state
    turn: _Turn | None = state.get("turn")
    if turn is None:
        turn = state["turn"] = _Turn()
        _identify(body, asm)
    candidates = body.get("candidates")
    candidate = candidates[0] if type(candidates) is list and candidates else None
    if type(candidate) is dict:
        content = candidate.get("content")
        if type(content) is dict:
            read_parts(content.get("parts"), asm, turn)
        reason = candidate.get("finishReason")
        if reason is not None or whole:
            finish_turn(reason, asm, turn)
    else:
        _no_candidate(body, asm, provider=provider, whole=whole)
    usage = body.get("usageMetadata")
    if type(usage) is dict and usage != turn.raw_usage:
        turn.raw_usage = usage
        turn.usage.update((key, value) for key, value in usage.items() if value is not None)
        asm.set_usage(map_usage(turn.usage))


def _identify(body: dict[str, Any], asm: Assembler) -> None:
    """The model version and response id, from the first frame (every frame repeats them)."""
    model = body.get("modelVersion")
    if isinstance(model, str) and model:
        asm.model = model
    response_id = body.get("responseId")
    if asm.request_id is None and isinstance(response_id, str) and response_id:
        asm.request_id = response_id


def _no_candidate(body: dict[str, Any], asm: Assembler, *, provider: str, whole: bool) -> None:
    """A response without a candidate: a blocked prompt (``promptFeedback.blockReason``) is a
    :class:`~modelport.ContentFilterError`; a stream frame may carry only usage; a whole answer must have one."""
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if isinstance(reason, str) and reason:
        message = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
        why = f": {message}" if isinstance(message, str) and message else ""
        raise ContentFilterError(
            f"{provider} blocked the prompt (blockReason={reason}){why}",
            stage="prompt",
            filter_results=feedback.get("safetyRatings") if isinstance(feedback, dict) else None,
            status_code=200,
            code=reason,
            provider=provider,
            request_id=asm.request_id,
            body=body,
            partial=asm.result(),
        )
    if whole:
        raise ResponseValidationError(
            f"{provider} returned a response without candidates",
            provider=provider,
            request_id=asm.request_id,
            body=body,
        )


def parse_response(body: Any, asm: Assembler, *, provider: str, request_id: str | None) -> None:
    """Feed a whole (non-streamed) ``GenerateContentResponse`` into ``asm``; also the JSON array of frames Google
    answers a stream request with when ``alt=sse`` did not reach it (a proxy that drops the query)."""
    if type(body) is not dict:
        if is_google_error(body):
            raise google_error(None, {}, provider=provider, payload=body, request_id=request_id)
        if type(body) is list and body and all(type(frame) is dict for frame in body):
            for frame in body:
                read_frame(frame, asm, provider=provider, whole=False)
            if not asm.finished:
                finish_turn(None, asm, asm.dialect_state["turn"])
            return
        raise ResponseValidationError(
            f"{provider} returned a response that is not a JSON object",
            provider=provider,
            request_id=request_id,
            body=body,
        )
    read_frame(body, asm, provider=provider, whole=True)
