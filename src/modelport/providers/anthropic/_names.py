"""The names the parts of the Anthropic Messages dialect share (:mod:`._messages`, :mod:`._request`,
:mod:`._response`, :mod:`._stream`; the rules they follow are in :mod:`.dialect`)."""

from __future__ import annotations

OUTPUT_TOOL = "modelport_output"
"""The tool that carries structured output on models without Anthropic's own; reserved."""
PROVIDER_FIELD = "anthropic_content"
"""The ``FunctionCall.provider_fields`` key holding a tool turn's thinking blocks, verbatim."""
_SIGNED = ("thinking", "redacted_thinking")
