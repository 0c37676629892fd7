"""The fake server's Gemini dialect (``generateContent``), and helpers to script Gemini-shaped replies.

Routes: ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse`` and ``:countTokens``,
the same under Vertex AI's ``/v1/projects/{project}/locations/{location}/publishers/google/models/...`` (and its
express mode's ``/v1/publishers/google/models/...``), and ``GET /v1beta/models`` and Vertex AI's ``GET
/v1beta1/publishers/google/models`` (paged by ``pageSize`` and ``pageToken``). The default "model" answers as the
others do: ``You said: ...``, a call of the first tool (or the one ``allowedFunctionNames`` names) with arguments
made from its schema, ``The tool said: ...`` after function responses, and a JSON instance of
``responseJsonSchema``. With thinking on, a thought part comes first and the answer's text carries a
``thoughtSignature``; a function call always does (:data:`SIGNATURE`).

Field names are read as protobuf JSON reads them, in lowerCamelCase or snake_case. Like the real server, it
refuses what breaks the API's rules (400, Google's envelope): a request with no key header
(403), no contents, a role other than ``user`` and ``model``, a turn without parts, function responses that do not
answer the calls of the turn before them one for one, and, on ``gemini-3`` models, a function call of the current
turn sent back without its ``thoughtSignature``.

    server.add(gemini_stream(gemini_response([gemini_text_part("hmm", thought=True),
                                              gemini_call_part("f", {"x": 1}, signature="sig")])))
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ._reply import RecordedRequest, Reply

__all__ = [
    "gemini_blocked",
    "gemini_call_part",
    "gemini_error",
    "gemini_frames",
    "gemini_response",
    "gemini_stream",
    "gemini_text_part",
    "gemini_usage",
]

SIGNATURE = "ZmFrZS1zaWduYXR1cmUtMA=="
"""The thought signature the default model signs with (base64, as Google's are)."""
MODEL_ECHO = "gemini-fake"
REQUEST_ID_HEADER = "x-request-id"
_METHOD = re.compile(
    r"^/v1(?:beta1?)?/(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/google/)?"
    r"((?:models|tunedModels)/[^:/]+):(generateContent|streamGenerateContent|countTokens)$"
)
_VERTEX_LIST = "/v1beta1/publishers/google/models"
_LISTS = ("/v1beta/models", _VERTEX_LIST)
_MODELS = [
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536),
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview", 1_048_576, 65_536),
]


# -- bodies --


def gemini_text_part(text: str, *, thought: bool = False, signature: str | None = None) -> dict[str, Any]:
    """A text part (``thought=True``: a thought summary), with its ``thoughtSignature`` if given."""
    part: dict[str, Any] = {"text": text}
    if thought:
        part["thought"] = True
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def gemini_call_part(
    name: str, args: Any, *, signature: str | None = None, call_id: str | None = None
) -> dict[str, Any]:
    """A ``functionCall`` part, with its ``thoughtSignature`` and id if given."""
    function: dict[str, Any] = {"name": name, "args": args}
    if call_id is not None:
        function["id"] = call_id
    part: dict[str, Any] = {"functionCall": function}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def gemini_usage(
    prompt: int,
    candidates: int | None,
    *,
    thoughts: int | None = None,
    cached: int | None = None,
    tool_use: int | None = None,
) -> dict[str, Any]:
    """A ``usageMetadata`` object (a count of ``None`` is left out, as Google leaves out zeros)."""
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    for key, value in (
        ("candidatesTokenCount", candidates),
        ("thoughtsTokenCount", thoughts),
        ("cachedContentTokenCount", cached),
        ("toolUsePromptTokenCount", tool_use),
    ):
        if value is not None:
            usage[key] = value
    usage["totalTokenCount"] = sum(v for k, v in usage.items() if k != "cachedContentTokenCount")
    return usage


def gemini_response(
    content: str | list[dict[str, Any]] = "",
    *,
    finish_reason: str | None = "STOP",
    usage: dict[str, Any] | None = None,
    model_version: str = MODEL_ECHO,
    response_id: str = "resp_fake",
    **fields: Any,
) -> dict[str, Any]:
    """A ``GenerateContentResponse``; ``content`` text becomes one text part (``finish_reason=None`` leaves the
    reason out)."""
    parts = [gemini_text_part(content)] if isinstance(content, str) else list(content)
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return {
        "candidates": [candidate],
        "usageMetadata": usage if usage is not None else gemini_usage(10, 5),
        "modelVersion": model_version,
        "responseId": response_id,
        **fields,
    }


def gemini_blocked(reason: str = "SAFETY", *, prompt_tokens: int = 10) -> dict[str, Any]:
    """A response to a blocked prompt: ``promptFeedback.blockReason`` and no candidates."""
    return {
        "promptFeedback": {
            "blockReason": reason,
            "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
        },
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
        "modelVersion": MODEL_ECHO,
        "responseId": "resp_fake",
    }


def gemini_error(
    code: int, status: str, message: str, *, retry_delay: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """Google's error envelope (as a body, or as a stream frame), with ``RetryInfo`` and ``ErrorInfo`` details."""
    details: list[dict[str, Any]] = []
    if reason is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        )
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


# -- streams --


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else [""]


def gemini_frames(response: dict[str, Any]) -> list[dict[str, Any]]:
    """``response`` as the frames of its stream: text parts word by word (a part's signature on its last piece),
    every other part in a frame of its own, the finish reason with the last part; every frame carries the usage so
    far and the model version, as Google's do."""
    candidates = response.get("candidates") or []
    if not candidates:
        return [response]
    candidate = candidates[0]
    pieces: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if isinstance(part.get("text"), str):
            words = _words(part["text"])
            for i, word in enumerate(words):
                piece = {key: value for key, value in part.items() if key != "thoughtSignature"}
                piece["text"] = word
                if i == len(words) - 1 and "thoughtSignature" in part:
                    piece["thoughtSignature"] = part["thoughtSignature"]
                pieces.append(piece)
        else:
            pieces.append(part)
    usage = dict(response.get("usageMetadata") or {})
    head = {key: value for key, value in response.items() if key not in ("candidates", "usageMetadata")}
    frames = []
    slots: list[dict[str, Any] | None] = list(pieces) or [None]
    for i, slot in enumerate(slots):
        last = i == len(slots) - 1
        frame_candidate: dict[str, Any] = {"content": {"role": "model", "parts": [slot] if slot else []}}
        if last:
            frame_candidate.update({k: v for k, v in candidate.items() if k not in ("content",)})
        frame_usage = usage if last else {k: v for k, v in usage.items() if k == "promptTokenCount"}
        frames.append({"candidates": [frame_candidate], "usageMetadata": frame_usage, **head})
    return frames


def gemini_stream(response: dict[str, Any], **reply: Any) -> Reply:
    """A scripted reply streaming ``response`` as :func:`gemini_frames` cuts it (keywords go to :meth:`Reply.sse`;
    there is no ``[DONE]``: a Gemini stream just ends)."""
    return Reply.sse(gemini_frames(response), done=False, line_ending="\r\n", **reply)


# -- the default model --


def handles(request: RecordedRequest) -> bool:
    """Gemini's paths: a model method, or a models list (``GET /v1beta/models``, Vertex AI's
    ``GET /v1beta1/publishers/google/models``)."""
    return bool(_METHOD.match(request.path)) or (request.method == "GET" and request.path in _LISTS)


def _error(code: int, status: str, message: str) -> Reply:
    return Reply.json(gemini_error(code, status, message), status=code)


def reply(request: RecordedRequest) -> Reply:
    """The default model's answer to a Gemini request."""
    if not (request.headers.get("x-goog-api-key") or request.headers.get("authorization")):
        return _error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without "
            "established identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )
    if request.method == "GET" and request.path in _LISTS:
        return _models(request, vertex=request.path == _VERTEX_LIST)
    found = _METHOD.match(request.path)
    if request.method != "POST" or found is None:
        return _error(404, "NOT_FOUND", f"Not found: {request.method} {request.path}")
    model_path, method = found.groups()
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received: not an object.")
    body = _camel(body)
    if method == "countTokens":
        inner = body.get("generateContentRequest")
        body = inner if isinstance(inner, dict) else body
    problem = _shape_error(body, model_path)
    if problem:
        return _error(400, "INVALID_ARGUMENT", problem)
    tokens = max(1, len(request.body) // 4)
    if method == "countTokens":
        return Reply.json({"totalTokens": tokens})
    response = _answer(body, tokens, model_path.split("/", 1)[1])
    if method == "streamGenerateContent":
        if request.query.get("alt") != ["sse"]:
            return Reply.json(gemini_frames(response))  # without alt=sse Google answers one JSON array
        return gemini_stream(response)
    return Reply.json(response)


def _models(request: RecordedRequest, *, vertex: bool) -> Reply:
    """A page of models: the Gemini API's (``models``, with token limits), or Vertex AI's publisher models
    (``publisherModels``, named ``publishers/google/models/...``, without limits)."""
    entries: list[dict[str, Any]] = [
        {"name": f"publishers/google/models/{mid}", "versionId": "001", "launchStage": "GA"}
        if vertex
        else {
            "name": f"models/{mid}",
            "displayName": name,
            "inputTokenLimit": window,
            "outputTokenLimit": most,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for mid, name, window, most in _MODELS
    ]
    start = int(request.query.get("pageToken", ["0"])[0] or 0)
    size = int(request.query.get("pageSize", ["50"])[0])
    page: dict[str, Any] = {"publisherModels" if vertex else "models": entries[start : start + size]}
    if start + size < len(entries):
        page["nextPageToken"] = str(start + size)
    return Reply.json(page)


_OPAQUE = frozenset({"args", "parametersJsonSchema", "parameters", "responseJsonSchema", "responseSchema", "response"})
"""Fields whose values are the caller's data (arguments, schemas), whose keys are never renamed."""


def _camel(value: Any) -> Any:
    """``value`` with every field name in lowerCamelCase: Google reads protobuf JSON, which takes a field by its
    original snake_case name too (Google's SDK sends ``parameters_json_schema``, ``include_thoughts``...)."""
    if isinstance(value, list):
        return [_camel(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        head, *rest = str(key).split("_")
        name = head + "".join(word[:1].upper() + word[1:] for word in rest)
        out[name] = item if name in _OPAQUE else _camel(item)
    return out


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _shape_error(body: dict[str, Any], model_path: str) -> str | None:
    """What the real API would refuse in ``body``, in its words; None when it is well formed."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{i}])"
        if not _parts(content):
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
    return _pairing_error(contents) or _signature_error(contents, model_path)


def _pairing_error(contents: list[dict[str, Any]]) -> str | None:
    for i, content in enumerate(contents):
        calls = [p for p in _parts(content) if "functionCall" in p]
        responses = [p for p in _parts(content) if "functionResponse" in p]
        before = [p for p in _parts(contents[i - 1]) if "functionCall" in p] if i else []
        if responses and len(responses) != len(before):
            return (
                "Please ensure that the number of function response parts is equal to the number of function call "
                "parts of the function call turn."
            )
        if calls and content.get("role") != "model":
            return f"contents[{i}]: function calls must come from the model"
    return None


def _signature_error(contents: list[dict[str, Any]], model_path: str) -> str | None:
    """Gemini 3 checks the function calls of the current turn (since the last user message that is not function
    responses) for their signatures."""
    if not model_path.startswith("models/gemini-3"):
        return None
    start = 0
    for i, content in enumerate(contents):
        if content["role"] == "user" and any("functionResponse" not in p for p in _parts(content)):
            start = i
    for i in range(start, len(contents)):
        for j, part in enumerate(_parts(contents[i])):
            if "functionCall" in part and not part.get("thoughtSignature"):
                return (
                    f"Function call is missing a thought_signature in functionCall parts. This is required for tools "
                    f"to work correctly, and missing thought_signature may lead to degraded model performance. "
                    f"Additional data, function call `default_api:{part['functionCall'].get('name')}` , position "
                    f"{j + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                    "details."
                )
    return None


def _user_text(contents: list[dict[str, Any]]) -> str:
    for content in reversed(contents):
        if content.get("role") == "user":
            texts = [str(p["text"]) for p in _parts(content) if isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return ""


def _topic(contents: list[dict[str, Any]]) -> str:
    words = [w.strip("?.!,;:'\"") for w in _user_text(contents).split()[1:]]
    names = [w for w in words if w[:1].isupper() and w.isalpha()]
    return names[-1] if names else "example"


def _results(contents: list[dict[str, Any]]) -> list[str] | None:
    last = contents[-1]
    found = [p["functionResponse"] for p in _parts(last) if isinstance(p.get("functionResponse"), dict)]
    if not found:
        return None
    return [str(next(iter((r.get("response") or {"result": ""}).values()), "")) for r in found]


def _call(body: dict[str, Any], contents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The function call the turn makes, when tools are given and the config does not forbid it."""
    from ._instance import instance_of

    declarations = [
        d
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        for d in tool.get("functionDeclarations") or []
        if isinstance(d, dict)
    ]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if not declarations or config.get("mode") == "NONE":
        return None
    allowed = config.get("allowedFunctionNames") or []
    declaration = next((d for d in declarations if d.get("name") in allowed), declarations[0])
    schema = (
        declaration.get("parametersJsonSchema") or _json_schema(declaration.get("parameters")) or {"type": "object"}
    )
    return gemini_call_part(declaration["name"], instance_of(schema, word=_topic(contents)), signature=SIGNATURE)


def _json_schema(schema: Any) -> Any:
    """An OpenAPI ``Schema`` (``parameters``, ``responseSchema``: types in upper case) read as JSON schema."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: (v.lower() if k == "type" and isinstance(v, str) else _json_schema(v)) for k, v in schema.items()}


def _formatted(body: dict[str, Any], contents: list[dict[str, Any]]) -> str | None:
    from ._instance import instance_of

    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") != "application/json":
        return None
    schema = config.get("responseJsonSchema") or _json_schema(config.get("responseSchema")) or {"type": "object"}
    return orjson.dumps(instance_of(schema, word=_topic(contents))).decode()


def _answer(body: dict[str, Any], tokens: int, model: str) -> dict[str, Any]:
    contents = body["contents"]
    thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    results = _results(contents)
    call = _call(body, contents) if results is None else None
    config = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if results is not None and config == "ANY":
        call = _call(body, contents)
    parts: list[dict[str, Any]] = []
    thoughts = 0
    if thinking.get("includeThoughts"):
        thought = f"The user wrote: {_user_text(contents)}"
        parts.append(gemini_text_part(thought, thought=True))
        thoughts = len(thought.split())
    if call is not None:
        parts.append(call)
    else:
        text = _formatted(body, contents) or (
            "The tool said: " + "; ".join(results[-3:]) if results is not None else f"You said: {_user_text(contents)}"
        )
        parts.append(gemini_text_part(text, signature=SIGNATURE if thinking else None))
    words = sum(len(str(p.get("text", p.get("functionCall", ""))).split()) for p in parts if not p.get("thought"))
    usage = gemini_usage(tokens, max(1, words), thoughts=thoughts or None)
    return gemini_response(parts, usage=usage, model_version=model)
