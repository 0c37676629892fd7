"""The provider-neutral assembler: deltas in, one ``CreateResult`` out.

A wire module (``providers/openai_wire.py``) turns each stream chunk, or a whole non-streamed response, into calls
on :class:`Assembler`: ``add_text``, ``add_thought``, ``add_tool_call``, ``add_logprobs``, ``finish``,
``set_usage``. Both ``create`` and ``create_stream`` finish through :meth:`Assembler.result`, so the two can only
agree. What a stream should yield to the caller is appended to :attr:`Assembler.out` in order.

Rules it enforces (wire-behaviour B5 to B8):
- tool calls are keyed by index; a repeated id or name is not appended again; a new id on a used index starts a
  new call; a delta with no index continues the last call unless it brings a new id; arguments that arrive as a
  JSON object are serialised; empty arguments mean ``{}`` (free-form ones, a custom tool's input, stay
  empty);
- the turn is a tool turn when complete tool calls exist, whatever the finish reason says;
- ``<think>...</think>`` at the start of the content is reasoning, split identically however the tags are chunked;
  white space before it is held back for at most 32 characters or 0.1 s;
- usage reported twice counts once, usage split across reports is merged; no usage means ``usage_reported=False``,
  not zero, and so does a prompt or completion count that is not a number of tokens (a str, a fraction, a negative
  number: logged, never an error that would lose the answer); a detail count that is not one is left out;
- logprobs are appended across chunks, in order;
- :attr:`Assembler.received` counts what was added to the answer, so the stream loop can tell an event that moved
  the answer on (progress for ``timeout``) from one that carried nothing, whatever its dialect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .messages import ChatCompletionTokenLogprob, CreateResult, FinishReasons, FunctionCall, RequestUsage, ThoughtChunk

__all__ = ["Assembler"]

logger = logging.getLogger("modelport")

_FINISH: dict[str, FinishReasons] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_calls": "function_calls",
    "function_call": "function_calls",
    "tool_use": "function_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    # Gemini's (upper case); its other reasons (MALFORMED_FUNCTION_CALL, OTHER...) are "unknown", kept raw
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

_OPEN, _CLOSE = "<think>", "</think>"
_MAX_LEADING_SPACE = 32
_MAX_LEADING_WAIT = 0.1
"""White space at the start is held back while waiting to see whether ``<think>`` follows, for at most this many
characters or seconds (checked as each piece arrives); past either, it is shown, and later white space with it."""
_START, _THINK, _AFTER = 0, 1, 2
_ANSWER, _THOUGHT, _SHOWN, _KEPT = 0, 1, 2, 3
"""What a piece of content is: answer or thought (kept and shown), leading white space shown before it is known
to be answer, and that white space kept once it is."""

_Pieces = list[tuple[int, str]]


class _ThinkSplitter:
    """Splits ``<think>...</think>`` at the start of the content from the answer, across any chunking.

    Leading white space shown early (:data:`_MAX_LEADING_WAIT`) is answer only if the answer follows: before a
    ``<think>`` it is dropped from the result, as it is from a whole response, so the two still agree."""

    __slots__ = ("buf", "shown", "since", "state")

    def __init__(self) -> None:
        self.state = _START
        self.buf = ""
        self.shown = ""
        self.since = 0.0

    def feed(self, text: str, clock: Callable[[], float]) -> tuple[_Pieces, bool]:
        """Returns ([(kind, text)], done); ``done`` means all later text is plain answer."""
        if self.state == _START:
            return self._start(text, clock)
        if self.state == _THINK:
            return self._think(text, clock)
        rest = text.lstrip()
        return ([(_ANSWER, rest)], True) if rest else ([], False)

    def _start(self, text: str, clock: Callable[[], float]) -> tuple[_Pieces, bool]:
        if not self.buf:
            self.since = clock()
        self.buf += text
        stripped = self.buf.lstrip()
        if not stripped:
            if self.shown or len(self.buf) > _MAX_LEADING_SPACE or clock() - self.since >= _MAX_LEADING_WAIT:
                buf, self.buf = self.buf, ""
                self.shown += buf
                return [(_SHOWN, buf)], False
            return [], False
        if _OPEN.startswith(stripped) and stripped != _OPEN:
            return [], False
        shown, self.shown = self.shown, ""
        if not stripped.startswith(_OPEN):
            buf, self.buf = self.buf, ""
            return ([(_KEPT, shown)] if shown else []) + [(_ANSWER, buf)], True
        self.state, self.buf = _THINK, ""
        return self._think(stripped[len(_OPEN) :], clock)

    def _think(self, text: str, clock: Callable[[], float]) -> tuple[_Pieces, bool]:
        text = self.buf + text
        end = text.find(_CLOSE)
        if end >= 0:
            out: _Pieces = [(_THOUGHT, text[:end])] if end else []
            self.state, self.buf = _AFTER, ""
            more, done = self.feed(text[end + len(_CLOSE) :], clock)
            return out + more, done
        hold = _held_back(text)
        self.buf = text[len(text) - hold :] if hold else ""
        emit = text[: len(text) - hold]
        return ([(_THOUGHT, emit)] if emit else []), False

    def flush(self) -> _Pieces:
        pieces: _Pieces = [(_KEPT, self.shown)] if self.shown else []
        buf, self.buf, self.shown = self.buf, "", ""
        if buf:
            pieces.append((_THOUGHT if self.state == _THINK else _ANSWER, buf))
        return pieces


def _held_back(text: str) -> int:
    """Length of the longest suffix of ``text`` that could be the start of ``</think>``."""
    for size in range(min(len(_CLOSE) - 1, len(text)), 0, -1):
        if _CLOSE.startswith(text[-size:]):
            return size
    return 0


class _ToolCall:
    __slots__ = ("arguments", "free_form", "id", "index", "name", "provider_fields")

    def __init__(self, index: int, call_id: str) -> None:
        self.index = index
        self.id = call_id
        self.name = ""
        self.arguments: list[str] = []
        self.provider_fields: dict[str, Any] | None = None
        self.free_form = False


class _Choice:
    """What one choice has received. Only ``text`` is made up front: the rest is made when first needed, because
    every container an open stream holds is one more object for the garbage collector to walk."""

    __slots__ = ("by_index", "calls", "finish_raw", "logprobs", "refusal", "splitter", "text", "thought")

    def __init__(self, split_think_tags: bool) -> None:
        self.text: list[str] = []
        self.thought: list[str] | None = None
        self.refusal: list[str] | None = None
        self.splitter: _ThinkSplitter | None = _ThinkSplitter() if split_think_tags else None
        self.calls: list[_ToolCall] | None = None
        self.by_index: dict[int, _ToolCall] | None = None
        self.finish_raw: str | None = None
        self.logprobs: list[dict[str, Any]] | None = None

    def add_thought(self, text: str) -> None:
        if self.thought is None:
            self.thought = [text]
        else:
            self.thought.append(text)


class Assembler:
    """Collects the deltas of one response (all its choices) and builds the ``CreateResult`` of choice 0."""

    __slots__ = ("_choices", "_clock", "_dialect_state", "_split", "model", "out", "received", "request_id", "usage")

    def __init__(self, *, split_think_tags: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` (seconds) bounds how long leading white space is held back (see :class:`_ThinkSplitter`)."""
        self._split = split_think_tags
        self._clock = clock
        self._choices: dict[int, _Choice] = {}
        self.out: list[str] = []
        self.received = 0
        """How many additions to the answer so far: text, thought, refusal, a tool call's new id, name, arguments or
        fields, logprobs, a finish reason or usage report that differs from the last. A stream event after which it
        has not moved added nothing, and is not progress for ``timeout``."""
        self.model: str | None = None
        self.request_id: str | None = None
        self.usage: dict[str, Any] | None = None
        self._dialect_state: dict[str, Any] | None = None

    @property
    def dialect_state(self) -> dict[str, Any]:
        """Working space of the dialect that feeds this assembler, for this one response (Anthropic keeps its open
        content blocks and cumulative usage here), made on first use. The assembler itself never reads it."""
        state = self._dialect_state
        if state is None:
            state = self._dialect_state = {}
        return state

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice(self._split)
        return choice

    def mark_received(self) -> None:
        """A dialect kept a piece of the answer to itself, to hand it over whole later (Anthropic's structured
        output, a thinking block's signature): it counts in :attr:`received` all the same."""
        self.received += 1

    def add_text(self, index: int, text: str) -> None:
        if not text:  # nothing to add (and no progress)
            return
        self.received += 1
        choice = self._choice(index)
        splitter = choice.splitter
        if splitter is None:
            choice.text.append(text)
            if index == 0:
                self.out.append(text)
            return
        pieces, done = splitter.feed(text, self._clock)
        if done:
            choice.splitter = None
        self._route(index, choice, pieces)

    def _route(self, index: int, choice: _Choice, pieces: _Pieces) -> None:
        for kind, piece in pieces:
            if kind == _THOUGHT:
                choice.add_thought(piece)
                if index == 0:
                    self.out.append(ThoughtChunk(piece))
                continue
            if kind != _SHOWN:
                choice.text.append(piece)
            if index == 0 and kind != _KEPT:
                self.out.append(piece)

    def add_thought(self, index: int, text: str) -> None:
        if not text:  # nothing to add (and no progress)
            return
        self.received += 1
        self._choice(index).add_thought(text)
        if index == 0:
            self.out.append(ThoughtChunk(text))

    def add_refusal(self, index: int, text: str) -> None:
        if not text:
            return
        self.received += 1
        choice = self._choice(index)
        if choice.refusal is None:
            choice.refusal = [text]
        else:
            choice.refusal.append(text)

    def add_tool_call(
        self,
        index: int,
        call_index: int | None,
        call_id: str | None,
        name: str | None,
        arguments: Any,
        provider_fields: Mapping[str, Any] | None = None,
        *,
        free_form: bool = False,
    ) -> None:
        """Part of a tool call. ``free_form`` arguments are the tool's raw input, not JSON (OpenAI's custom
        tools): empty ones stay empty rather than meaning ``{}``. Arguments given as an object are encoded first, so
        an object too deep to encode adds nothing, not a call with the wrong arguments."""
        encoded = None if arguments is None or isinstance(arguments, str) else orjson.dumps(arguments).decode()
        choice = self._choice(index)
        known = len(choice.calls or ())
        call = self._call_for(choice, call_index, call_id or "")
        added = bool(call.id) and len(choice.calls or ()) != known  # a new call, with its id
        if call_id and not call.id:
            call.id = call_id
            added = True
        if isinstance(name, str) and name and name != call.name:  # a name that is not text is no name
            call.name += name
            added = True
        if isinstance(arguments, str):
            if arguments:
                call.arguments.append(arguments)
                added = True
        elif encoded is not None:
            call.arguments = [encoded]
            added = True
        if provider_fields:
            call.provider_fields = {**(call.provider_fields or {}), **provider_fields}
            added = True
        if free_form:
            call.free_form = True
        if added:  # a repeated id or name adds nothing
            self.received += 1

    @staticmethod
    def _call_for(choice: _Choice, call_index: int | None, call_id: str) -> _ToolCall:
        calls, by_index = choice.calls, choice.by_index
        if calls is None or by_index is None:
            calls, by_index = choice.calls, choice.by_index = [], {}
        if call_index is None:
            last = calls[-1] if calls else None
            if last is not None and (not call_id or call_id == last.id or not last.id):
                return last
            call_index = (max(by_index) + 1) if by_index else 0
        call = by_index.get(call_index)
        if call is not None and not (call_id and call.id and call_id != call.id):
            return call
        call = _ToolCall(call_index, call_id)
        by_index[call_index] = call
        calls.append(call)
        return call

    def add_logprobs(self, index: int, content: list[dict[str, Any]] | None) -> None:
        if content:
            self.received += 1
            choice = self._choice(index)
            if choice.logprobs is None:
                choice.logprobs = []
            choice.logprobs.extend(content)

    def finish(self, index: int, raw_reason: str) -> None:
        choice = self._choice(index)
        if raw_reason != choice.finish_raw:  # a repeated finish reason adds nothing
            self.received += 1
            choice.finish_raw = raw_reason

    def set_usage(self, usage: dict[str, Any]) -> None:
        """Usage reports are merged field by field: a later value replaces an earlier one (a repeated report counts
        once), and a field a later report lacks, or sends as null, keeps its earlier value (LiteLLM's proxy
        splits usage across chunks). A report that changes nothing is no progress."""
        if type(usage) is not dict:
            return
        try:
            merged = usage if self.usage is None else _merged(self.usage, usage)
            changed = merged != self.usage
        except RecursionError:  # a report nested too deeply to merge: unread, as any unreadable usage (logged)
            logger.warning("usage report left out: it is nested too deeply to read")
            return
        if changed:
            self.received += 1
        self.usage = merged

    @property
    def finished(self) -> bool:
        """True once the first choice has a finish reason."""
        choice = self._choices.get(0)
        return choice is not None and choice.finish_raw is not None

    @property
    def has_output(self) -> bool:
        """Whether any text, refusal or tool call has arrived."""
        return bool(self.out) or any(c.calls or c.text or c.refusal for c in self._choices.values())

    def flush(self) -> None:
        """End of the response: text held back while looking for a ``</think>`` tag is released (to :attr:`out`)."""
        for index, choice in self._choices.items():
            if choice.splitter is not None:
                self._route(index, choice, choice.splitter.flush())
                choice.splitter = None

    def result(self) -> CreateResult:
        """The ``CreateResult`` of the first choice (held-back text is flushed first)."""
        self.flush()
        choice = self._choices.get(0) or (self._choices[min(self._choices)] if self._choices else _Choice(False))
        text = "".join(choice.text)
        thought = ("".join(choice.thought).strip() or None) if choice.thought else None
        calls = _function_calls(choice.calls) if choice.calls else []
        raw = choice.finish_raw
        finish: FinishReasons = _FINISH.get(raw, "unknown") if raw else "unknown"
        if calls:
            # A call cut off at the token limit is not a call to run: the result says "length", as the provider did.
            finish = "length" if finish == "length" else "function_calls"
            if text.strip():
                thought = f"{thought}\n{text}" if thought else text
        elif finish == "function_calls":
            finish = "stop"
        usage, reported = _usage(self.usage)
        return CreateResult(
            finish_reason=finish,
            content=calls or text,
            usage=usage,
            usage_reported=reported,
            logprobs=[ChatCompletionTokenLogprob.model_validate(lp) for lp in choice.logprobs]
            if choice.logprobs is not None
            else None,
            thought=thought,
            model=self.model,
            request_id=self.request_id,
            raw_finish_reason=raw,
            refusal=("".join(choice.refusal) or None) if choice.refusal else None,
        )


def _function_calls(calls: list[_ToolCall]) -> list[FunctionCall]:
    result = []
    for position, call in enumerate(sorted(calls, key=lambda c: c.index)):
        if not call.name:
            logger.warning(
                "dropped a streamed tool call with no function name (arguments: %.200s)", "".join(call.arguments)
            )
            continue
        result.append(
            FunctionCall(
                id=call.id or f"call_{position}",
                name=call.name,
                arguments="".join(call.arguments) or ("" if call.free_form else "{}"),
                provider_fields=call.provider_fields,
            )
        )
    return result


def _merged(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """``later`` over ``earlier``, nested objects (``prompt_tokens_details``) merged the same way; nulls skipped."""
    merged = dict(earlier)
    for key, value in later.items():
        if value is None:
            continue
        before = merged.get(key)
        merged[key] = _merged(before, value) if type(value) is dict and type(before) is dict else value
    return merged


_MAX_COUNT = 2**53
"""The largest count read (a float is exact up to it); beyond it a number is no count of tokens."""
_DETAILS = {
    "prompt_tokens_details": (("cached_tokens", "cached_prompt_tokens"), ("cache_write_tokens", "cache_write_tokens")),
    "completion_tokens_details": (("reasoning_tokens", "reasoning_tokens"),),
}
"""Where :class:`RequestUsage`'s detail counts are in a usage report: the object, and its fields with their names."""


def _count(value: Any) -> int | None:
    """``value`` as a token count: an int of 0 or more, or a whole float (``12.0``); None if it is not one (a bool,
    a str, a fraction, a negative number, a list...)."""
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    if type(value) is float and value.is_integer() and 0 <= value <= _MAX_COUNT:
        return int(value)
    return None


def _unreadable(value: Any) -> str:
    """What a usage field held, for a warning: a number as it came (a number cannot carry a secret), else its type."""
    return repr(value) if type(value) in (int, float) else f"a {type(value).__name__}"


def _usage(raw: dict[str, Any] | None) -> tuple[RequestUsage, bool]:
    """The usage report as :class:`RequestUsage`, and whether it was reported (both counts present).

    A report the client cannot read never costs the answer: a prompt or completion count that is not a count (a
    str, a fraction, a negative number, a list...) makes the usage not reported (zeros, ``usage_reported=False``),
    and a detail that is not one (``cached_tokens``, or a details field that is not an object) is left out (None);
    each with a warning on the ``modelport`` logger."""
    if not raw:
        return RequestUsage(), False
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    for key, value in (("prompt_tokens", prompt), ("completion_tokens", completion)):
        if value is not None and _count(value) is None:
            logger.warning(
                "usage not reported: the %s token count the server sent is %s, not a number of tokens",
                key.removesuffix("_tokens"),
                _unreadable(value),
            )
            return RequestUsage(), False
    usage = RequestUsage(prompt_tokens=_count(prompt) or 0, completion_tokens=_count(completion) or 0, **_details(raw))
    return usage, prompt is not None and completion is not None


def _details(raw: dict[str, Any]) -> dict[str, int | None]:
    """The detail counts of a usage report (cache reads and writes, reasoning); one the client cannot read is left
    out (None: not reported), with a warning."""
    details: dict[str, int | None] = {}
    for group, fields in _DETAILS.items():
        within = raw.get(group)
        if not within:  # absent, null, or empty
            continue
        if type(within) is not dict:
            logger.warning("usage details left out: the server's %s is %s, not an object", group, _unreadable(within))
            continue
        for key, name in fields:
            value = within.get(key)
            count = _count(value)
            if count is None and value is not None:
                logger.warning(
                    "usage detail left out: the server's %s.%s is %s, not a number of tokens",
                    group,
                    key,
                    _unreadable(value),
                )
            details[name] = count
    return details
