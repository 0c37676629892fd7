"""The names the parts of the Gemini dialect share (:mod:`._contents`, :mod:`._request`, :mod:`._response`,
:mod:`._stream`; the rules they follow are in :mod:`.dialect`)."""

from __future__ import annotations

SIGNATURE_FIELD = "thought_signature"
"""The ``FunctionCall.provider_fields`` key holding the ``thoughtSignature`` of the call's own part, verbatim."""
PARTS_FIELD = "gemini_parts"
"""The ``FunctionCall.provider_fields`` key (on a tool turn's first call) holding the turn's parts as Gemini sent
them (thoughts, text and calls, signatures included), when the turn had more than its calls."""
GENERATED_ID_PREFIX = "gemini_call_"
"""Call ids modelport makes for calls Gemini sent without one; such ids are never sent back."""
