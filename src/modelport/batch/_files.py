"""Batch files: the requests file (OpenAI's Batch API lines, or the plain ``{"custom_id", "messages"}`` form) and
the results file (OpenAI's batch output lines), read and checked with line numbers before anything is sent."""

from __future__ import annotations

import contextlib
import copy
import os
import stat
import time
import uuid
import weakref
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from .._convert import as_tools, from_openai, is_custom_call
from .._request import Request
from ..errors import APIStatusError, InvalidRequestError
from ..messages import CreateResult, FunctionCall

__all__ = ["BatchFileError", "BatchRequest", "Finished", "error_line", "read_finished", "read_requests", "result_line"]

MAX_REPORTED = 20
"""Problems listed in one :class:`BatchFileError` (the count says how many more)."""
_CHAT_URLS = ("/v1/chat/completions", "/chat/completions")
_RESPONSES_URLS = ("/v1/responses", "/responses")
_ENDPOINT_URLS = {"chat": _CHAT_URLS[0], "responses": _RESPONSES_URLS[0]}
_BATCH_KEYS = {"custom_id", "method", "url", "body"}
_CALL_KEYS = ("messages", "tools", "tool_choice")
_TOO_DEEP = "a value is nested too deeply to check"


class BatchFileError(InvalidRequestError):
    """A requests or results file that cannot be used as it is: each problem with its line number."""

    def __init__(self, path: str, problems: Sequence[str], more: int = 0, *, hint: str | None = None) -> None:
        listed = "\n".join(f"  {p}" for p in problems)
        tail = f"\n  ... and {more} more" if more else ""
        ask = f"\n({hint})" if hint else ""
        super().__init__(f"{path}: {len(problems) + more} problem(s), nothing was sent:\n{listed}{tail}{ask}")
        self.problems = list(problems)


@dataclass(frozen=True)
class BatchRequest:
    """One line of a requests file: its ``custom_id``, its 1-based ``line``, and the call it describes."""

    custom_id: str
    messages: list[Any]
    tools: list[Any] = field(default_factory=list)
    tool_choice: Any = "auto"
    create_args: dict[str, Any] = field(default_factory=dict)
    """The body's other fields (``temperature``, ``max_tokens``, ``response_format``, ...), sent as they are."""
    model: str | None = None
    """The body's ``model``: informational, since every line goes to the one client (or router) given."""
    line: int = 0
    prepared: Request | None = field(default=None, compare=False, repr=False)
    """The request as the client that checked it built it (:func:`prepared`): what is sent, not built again."""
    endpoint: str = "chat"
    """The API its line named: ``"chat"`` (``/v1/chat/completions``) or ``"responses"`` (``/v1/responses``), which
    its output line answers in."""

    def request(self, client: Any) -> Request:
        """The request ``client`` sends for this line: the one built when the line was checked, else built now."""
        if self.prepared is not None:
            return self.prepared
        return client.prepare(  # type: ignore[no-any-return]
            self.messages, tools=self.tools, tool_choice=self.tool_choice, extra_create_args=self.create_args
        )

    def in_shard(self, shard: int, shards: int) -> bool:
        """Whether this request belongs to shard ``shard`` (1-based) of ``shards``: a stable hash of its id, so
        every machine splits a file the same way."""
        return zlib.crc32(self.custom_id.encode()) % shards == shard - 1


def parse_request(record: Any, line: int = 0) -> BatchRequest:
    """One request from a decoded line; :class:`InvalidRequestError` names the field that is wrong."""
    if not isinstance(record, Mapping):
        raise InvalidRequestError(f"expected a JSON object, got {type(record).__name__}")
    custom_id = record.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise InvalidRequestError("custom_id: a non-empty string is required")
    if "body" in record:
        unknown = sorted(set(record) - _BATCH_KEYS)
        if unknown:
            raise InvalidRequestError(f"{', '.join(unknown)}: not a field of a Batch API line ({custom_id})")
        method, url = record.get("method", "POST"), record.get("url", _CHAT_URLS[0])
        if method != "POST":
            raise InvalidRequestError(f"method: only POST is run, got {method!r}")
        if url not in _CHAT_URLS + _RESPONSES_URLS:
            raise InvalidRequestError(f"url: only {_CHAT_URLS[0]} and {_RESPONSES_URLS[0]} are run, got {url!r}")
        body = record["body"]
        if not isinstance(body, Mapping):
            raise InvalidRequestError(f"body: expected a JSON object, got {type(body).__name__}")
        where = "body."
        if url in _RESPONSES_URLS:
            return _responses_request(custom_id, body, line)
    else:
        body = {k: v for k, v in record.items() if k != "custom_id"}
        where = ""
    if "messages" not in body:
        raise InvalidRequestError(f"{where}messages: required")
    if body.get("stream"):
        raise InvalidRequestError(f"{where}stream: a batch line is answered whole; leave stream out")
    try:
        messages = from_openai(body["messages"])
        tools = as_tools(body.get("tools") or [])
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{where}{exc}") from None
    model = body.get("model")
    args = {k: v for k, v in body.items() if k not in _CALL_KEYS and k not in ("model", "stream")}
    return BatchRequest(
        custom_id=custom_id,
        messages=messages,
        tools=list(tools),
        tool_choice=body.get("tool_choice", "auto"),
        create_args=args,
        model=model if isinstance(model, str) else None,
        line=line,
    )


def _responses_request(custom_id: str, body: Mapping[str, Any], line: int) -> BatchRequest:
    """A ``/v1/responses`` line: its ``instructions``, ``input`` items and flat tools read into a request."""
    from ..providers.openai_responses._batch import read_body

    if body.get("stream"):
        raise InvalidRequestError("body.stream: a batch line is answered whole; leave stream out")
    messages, tools, tool_choice, args = read_body(body, "body.")
    model = body.get("model")
    return BatchRequest(
        custom_id=custom_id,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        create_args=args,
        model=model if isinstance(model, str) else None,
        line=line,
        endpoint="responses",
    )


def served_endpoints(client: Any) -> set[str]:
    """The APIs whose lines ``client`` runs: its own (``batch_endpoint``, chat completions unless it says), those of
    the client under a cache, or those of every deployment of a router."""
    inner = getattr(client, "client", None)
    if inner is not None:
        return served_endpoints(inner)
    deployments = getattr(client, "deployments", None)
    if deployments:
        return set().union(*(served_endpoints(d.client) for d in deployments))
    return {getattr(client, "batch_endpoint", "chat")}


_LINE_CLIENTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def line_client(client: Any, endpoint: str) -> Any:
    """The client that builds and sends a line of ``endpoint``: ``client``, or for a router whose deployments serve
    different APIs, that router over only the deployments serving the line's (its state and limits shared), so
    that a ``/v1/responses`` line never goes to a chat-completions deployment, nor the reverse."""
    deployments = getattr(client, "deployments", None)
    if not deployments:
        return client
    serving = [d for d in deployments if endpoint in served_endpoints(d.client)]
    if not serving or len(serving) == len(deployments):
        return client
    made = _LINE_CLIENTS.setdefault(client, {})
    if endpoint not in made:
        narrowed = copy.copy(client)
        narrowed.deployments = serving
        made[endpoint] = narrowed
    return made[endpoint]


def _endpoint_problem(requests: list[BatchRequest], client: Any) -> str | None:
    """Why ``client`` cannot run these lines, in one line: a line of an API it does not serve (a file mixing chat
    completions and Responses lines needs a router config that serves both)."""
    first: dict[str, BatchRequest] = {}
    for request in requests:
        first.setdefault(request.endpoint, request)
    served = served_endpoints(client)
    missing = [request for endpoint, request in first.items() if endpoint not in served]
    if not missing:
        return None
    request = missing[0]
    url = _ENDPOINT_URLS[request.endpoint]
    if len(first) > 1:
        return (
            f"line {request.line}: the file mixes {_CHAT_URLS[0]} and {_RESPONSES_URLS[0]} lines, which only a "
            "router config whose deployments serve both can run"
        )
    hint = (
        "--provider openai-responses, or a config of a Responses client"
        if url == _RESPONSES_URLS[0]
        else "a chat-completions client"
    )
    return f"line {request.line}: url {url} is not served by this client ({hint})"


def prepared(client: Any, request: BatchRequest) -> tuple[BatchRequest, str | None]:
    """``request`` with the request ``client`` builds for it (built once, here, and sent as it is), or what is wrong
    with it, told with its line."""
    if request.prepared is not None:
        return request, None
    try:
        built = request.request(line_client(client, request.endpoint))
    except (InvalidRequestError, RecursionError) as exc:  # a client whose checks recurse is still told by line
        where = f"line {request.line} ({request.custom_id})" if request.line else repr(request.custom_id)
        return request, f"{where}: {_TOO_DEEP if isinstance(exc, RecursionError) else exc}"
    return replace(request, prepared=built), None


def read_requests(path: str | os.PathLike[str], *, client: Any = None) -> list[BatchRequest]:
    """Every request in a JSONL file, checked whole before anything is sent: a line that is not JSON, lacks a
    ``custom_id`` or ``messages``, or repeats a ``custom_id`` raises :class:`BatchFileError` listing each problem
    with its line number. With a ``client``, the lines must be of APIs it serves (see :func:`served_endpoints`: one
    line says which does not), and each request is also built as that client would send it, so a bad argument or
    tool is reported the same way. Blank lines are skipped."""
    requests, problems = _parsed(path)
    if client is not None:
        _checked_endpoints(path, requests, client)
        built = []
        for request in requests:
            request, problem = prepared(client, request)
            if problem is None:
                built.append(request)
            else:
                problems.append((request.line, problem))
        requests = built
    if problems:
        told = [text for _, text in sorted(problems, key=lambda problem: problem[0])]
        raise BatchFileError(os.fspath(path), told[:MAX_REPORTED], max(0, len(told) - MAX_REPORTED))
    return requests


def _parsed(path: str | os.PathLike[str]) -> tuple[list[BatchRequest], list[tuple[int, str]]]:
    """The requests of a JSONL file, and each line's problem with its number."""
    requests: list[BatchRequest] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte order mark some editors write
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                request = parse_request(orjson.loads(raw), number)
            except orjson.JSONDecodeError as exc:
                problems.append((number, f"line {number}: not JSON ({exc.msg} at column {exc.colno})"))
                continue
            except (InvalidRequestError, UnicodeDecodeError) as exc:
                problems.append((number, f"line {number}: {exc}"))
                continue
            except RecursionError:
                problems.append((number, f"line {number}: {_TOO_DEEP}"))
                continue
            first = seen.setdefault(request.custom_id, number)
            if first != number:
                problems.append((number, f"line {number}: custom_id {request.custom_id!r} repeats line {first}"))
                continue
            requests.append(request)
    return requests, problems


def _checked_endpoints(path: str | os.PathLike[str], requests: list[BatchRequest], client: Any) -> None:
    problem = _endpoint_problem(requests, client) if client is not None else None
    if problem is not None:
        raise BatchFileError(os.fspath(path), [problem])


# -- results --


def _finish_reason(result: CreateResult) -> str:
    raw = result.raw_finish_reason
    if raw in ("stop", "length", "tool_calls", "content_filter", "function_call"):
        return raw
    return {"function_calls": "tool_calls", "unknown": "stop"}.get(result.finish_reason, result.finish_reason)


def completion_body(result: CreateResult, request_id: str) -> dict[str, Any]:
    """``result`` as the ``chat.completion`` object OpenAI's API returns."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(result.content, str):
        message["content"] = result.content
    else:
        message["tool_calls"] = [_tool_call(call) for call in result.content]
    if result.thought:
        message["reasoning_content"] = result.thought
    if result.refusal:
        message["refusal"] = result.refusal
    usage = result.usage
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(result)}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }
    if result.cost is not None:
        body["usage"]["cost"] = float(result.cost)
    return body


def _tool_call(call: FunctionCall) -> dict[str, Any]:
    if is_custom_call(call.provider_fields):  # an OpenAI custom tool's call, in the form OpenAI returns it
        return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def result_line(custom_id: str, result: CreateResult, endpoint: str = "chat") -> dict[str, Any]:
    """The output line of a request that was answered (OpenAI's batch output format): a ``chat.completion`` body,
    or for a ``/v1/responses`` line a ``response`` one."""
    if endpoint == "responses":
        from ..providers.openai_responses._batch import response_body

        request_id = result.request_id or f"resp_{uuid.uuid4().hex}"
        body = response_body(result, request_id)
    else:
        request_id = result.request_id or f"chatcmpl-{uuid.uuid4().hex}"
        body = completion_body(result, request_id)
    return {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }


def error_line(custom_id: str, exc: BaseException) -> dict[str, Any]:
    """The output line of a request that failed: an HTTP error as the response the server gave (as OpenAI's batch
    output does), anything else (a connection failure, a timeout, a refused argument) as ``error``."""
    line: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id}
    if isinstance(exc, APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) and "error" in exc.body else None
        if body is None:
            body = {"error": {"message": str(exc), "type": type(exc).__name__, "code": exc.code}}
        line["response"] = {"status_code": exc.status_code, "request_id": exc.request_id, "body": body}
        line["error"] = None
    else:
        line["response"] = None
        line["error"] = {"code": type(exc).__name__, "message": str(exc)}
    return line


def line_failed(line: Mapping[str, Any]) -> bool:
    """Whether an output line records a failure."""
    response = line.get("response")
    return line.get("error") is not None or not isinstance(response, Mapping) or response.get("status_code") != 200


@dataclass
class Finished:
    """What a results file already holds: each ``custom_id`` with its line, and the lines it had to drop."""

    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    cut: int = 0
    """The last line, cut short by a crash while it was written: dropped, so its request runs again."""
    retried: int = 0
    """Failed lines dropped for ``retry_failed``."""

    @property
    def failed(self) -> list[str]:
        return [custom_id for custom_id, line in self.lines.items() if line_failed(line)]


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


_RESULT_KEYS = frozenset({"id", "custom_id", "response", "error"})
_NOT_OURS = "not a result line (OpenAI's batch output form: id batch_req_..., custom_id, response or error)"


def _result_line(raw: bytes) -> dict[str, Any] | None:
    """``raw`` as a batch result line: OpenAI's batch output form, as this program writes it (an ``id`` that starts
    ``batch_req_``, a string ``custom_id``, a ``response`` with its status and/or an ``error``, and nothing else)."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(line, dict) or line.keys() != _RESULT_KEYS or not isinstance(line["custom_id"], str):
        return None
    if not isinstance(line["id"], str) or not line["id"].startswith("batch_req_"):
        return None
    response, error = line["response"], line["error"]
    status = response.get("status_code") if isinstance(response, dict) else None
    if response is not None and (not isinstance(status, int) or isinstance(status, bool)):
        return None
    if (error is not None and not isinstance(error, dict)) or (response is None and error is None):
        return None
    return line


def read_finished(
    path: str | os.PathLike[str],
    *,
    known: Collection[str] | None = None,
    retry_failed: bool = False,
    rewrite: bool = True,
) -> Finished:
    """The results already in ``path`` (none if it does not exist).

    Only the last line can have been cut by a crash (lines are written whole, one at a time): a last line without its
    newline that begins as this program's lines do and is not whole JSON is dropped, and a whole result there gets
    its newline. Any other line that is not a result line in this program's form (another program's line is not
    taken for a result, whatever its ``custom_id``), or (with ``known``) a result for an id the requests file lacks,
    means ``path`` is not this job's results file: :class:`BatchFileError` lists them, and the file is left as it
    is; so is a ``path`` that is not a regular file (a named pipe, a directory). Of two lines for one id, a success
    is kept over a failure, else the later. With ``retry_failed`` failed lines are dropped. With ``rewrite``, when
    anything was dropped or mended the file is rewritten (see :func:`replace_whole`)."""
    finished = Finished()
    data = _read_regular(path)
    if data is None:
        return finished
    *whole, tail = data.split(b"\n")
    problems: list[str] = []
    kept: dict[str, bytes] = {}
    mended = repeated = False
    for number, raw in enumerate(whole, start=1):
        if raw.strip():
            line = _result_line(raw)
            problem = _problem(line, number, known)
            if problem is not None:
                problems.append(problem)
            elif line is not None:
                repeated |= _keep(finished, kept, line, raw + b"\n")
    if tail.strip():
        line = _result_line(tail)
        if line is None and tail.startswith(b'{"id":"batch_req_') and not _is_json(tail):
            finished.cut = 1  # a line of ours, cut short while it was written
        elif (problem := _problem(line, len(whole) + 1, known)) is not None:
            problems.append(problem)
        elif line is not None:
            mended = True
            repeated |= _keep(finished, kept, line, tail + b"\n")
    if problems:
        raise BatchFileError(
            os.fspath(path),
            problems[:MAX_REPORTED],
            max(0, len(problems) - MAX_REPORTED),
            hint="is it another file, or the results of another requests file? It was left as it is",
        )
    if retry_failed:
        for custom_id in finished.failed:
            del finished.lines[custom_id], kept[custom_id]
            finished.retried += 1
    if rewrite and (finished.cut or finished.retried or repeated or mended):
        replace_whole(path, kept.values())
    return finished


def _problem(line: dict[str, Any] | None, number: int, known: Collection[str] | None) -> str | None:
    """What keeps line ``number`` from being a result of this job, if anything."""
    if line is None:
        return f"line {number}: {_NOT_OURS}"
    if known is not None and line["custom_id"] not in known:
        return f"line {number}: custom_id {line['custom_id']!r} is not in the requests file"
    return None


def _keep(finished: Finished, kept: dict[str, bytes], line: dict[str, Any], raw: bytes) -> bool:
    """Keep ``line`` for its id unless a success is already kept over this failure; whether the id repeated."""
    custom_id = line["custom_id"]
    earlier = finished.lines.get(custom_id)
    if earlier is None or line_failed(earlier) or not line_failed(line):
        kept.pop(custom_id, None)  # the kept line moves to where the later one stands
        finished.lines[custom_id], kept[custom_id] = line, raw
    return earlier is not None


# -- the files themselves --

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What a file of ``mode`` is, when it is not a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def not_a_file(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is (``"a named pipe"``, ``"a directory"``, ...) when it exists and is not a regular file, a
    symlink being followed; ``None`` for a regular file or nothing at all."""
    try:
        return _kind(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _read_regular(path: str | os.PathLike[str]) -> bytes | None:
    """The whole of the regular file ``path`` (``None`` when there is none). Opened without waiting, so a named pipe
    is refused rather than waited on: :class:`BatchFileError` for anything that is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    with open(fd, "rb") as f:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise BatchFileError(os.fspath(path), [f"it is {kind}, not a results file"], hint="It was left as it is")
        return f.read()


def replace_whole(path: str | os.PathLike[str], lines: Iterable[bytes]) -> None:
    """Write ``lines`` as the whole of ``path``: into a temporary file beside it, then put in its place in one step,
    so a crash leaves the old file or the new one, never a part. A symlink is written through (its target is
    replaced, keeping its permissions; the link stays), and the temporary file is removed whatever fails (a full
    disk, say: the error then names ``path``)."""
    target = os.path.realpath(path)
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as f:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None
        raise
